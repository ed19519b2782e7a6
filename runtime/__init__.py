"""The StreamDiT runtime: model, sampling, training, distillation, serving (see DESIGN.md section 2)."""

import sdk  # noqa: F401  (sets gRPC's fork support off before anything in the runtime imports grpc; see sdk/__init__)

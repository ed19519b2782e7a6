"""Generated protobuf and gRPC code (do not edit; regenerate with `python -m sdk.protocol.generate`)."""

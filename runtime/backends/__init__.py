"""Backends: what runs the DiT step and the autoencoder of a served checkpoint (DESIGN.md section 12).

One interface (`base.Backend`), three implementations:

- torch eager and torch compiled (`torch_backend.TorchBackend`; compiled = torch.compile with frozen weights,
  runtime.model.compiled), bf16 autocast on CPUs with bf16 and on GPUs;
- ONNX Runtime (`onnx_runtime.OnnxBackend`) over the graphs `streamdit export onnx` writes (`onnx_export`):
  the CPU execution provider, or CUDA / TensorRT with `onnxruntime-gpu` on an NVIDIA GPU (IO binding on CUDA).

`select.choose_backend` turns `--backend auto|torch|onnxruntime` into one of them and says why; docs/backends.md
has the measured table behind `auto`.
"""

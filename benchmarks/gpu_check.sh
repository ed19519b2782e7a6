#!/usr/bin/env bash
# The CUDA paths, on a machine with an NVIDIA GPU (issue 21; docs/backends.md, "GPU check"):
#   1. torch on CUDA: the default model streams on the GPU, finite frames;
#   2. onnxruntime with the CUDA (or TensorRT) execution provider: `streamdit export onnx`, then the served
#      backend's provider is CUDA/TensorRT (not a silent CPU fallback), with IO binding, and its velocity on real
#      buffers matches torch float32 on the GPU (largest absolute difference printed; fails above 1e-2, since
#      both sides may use TF32 there), and its decoder's PSNR against torch's is >= 50 dB;
#   3. benchmarks/backends.py (torch against onnxruntime on this GPU, interleaved) and benchmarks/realtime.py.
# Without a GPU it says so and exits 0. Usage: benchmarks/gpu_check.sh   (PY=path/to/python to choose the venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-out/gpu_check}

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False), so there is nothing to check; run it on a" \
         "machine with an NVIDIA GPU, torch's CUDA build and onnxruntime-gpu in place of onnxruntime (docs/backends.md)"
    exit 0
fi
mkdir -p "$OUT"
"$PY" - <<'EOF'
import sys
import onnxruntime as ort
have = ort.get_available_providers()
if "CUDAExecutionProvider" not in have:
    sys.exit(f"gpu_check: onnxruntime has no CUDA provider ({have}): the CPU package `onnxruntime` shadows "
             f"onnxruntime-gpu (both install the module onnxruntime); fix: pip uninstall -y onnxruntime "
             f"onnxruntime-gpu && pip install onnxruntime-gpu")
print("gpu_check: onnxruntime", ort.__version__, "providers", have)
EOF
echo "gpu_check: exporting the default model to $OUT/onnx (parity with torch on the CPU provider)"
"$(dirname "$PY")/streamdit" export onnx --checkpoint default --out "$OUT/onnx"

"$PY" - "$OUT/onnx" <<'EOF'
import sys, time
import torch
from runtime.backends import onnx_parity
from runtime.backends.select import load_pipeline
from runtime.checkpoints import resolve

ckpt = resolve("default")
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
# 1. torch on CUDA
pipe = load_pipeline(ckpt, backend="torch", compile_mode="off", device="cuda")
smp = pipe.sampler(compile="off")
smp.add_stream(*pipe.text_encoder.encode_one(onnx_parity.base_prompt(ckpt)), seed=0)
frames = [pipe.decode(c.latent) for _ in range(16) for c in smp.step()]
assert frames and all(f.shape[-1] == 3 for f in frames), "torch on CUDA emitted no frames"
print(f"gpu_check: torch on {torch.cuda.get_device_name()}: {len(frames)} chunks streamed")
# 2. onnxruntime on CUDA: the provider that really runs, and parity with torch float32 on the GPU
ox = load_pipeline(ckpt, backend="onnxruntime", onnx_dir=sys.argv[1], device="cuda")
assert ox.backend.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"), \
    f"onnxruntime fell back to {ox.backend.provider} (tried {ox.backend.providers})"
calls, chunks = onnx_parity.real_buffers(pipe, onnx_parity.base_prompt(ckpt))
vel = ox.backend.velocity(ox.model)
diff = max(float((vel(x, t, tx, m) - v).abs().max()) for x, t, tx, m, v in calls)
latent = torch.stack(chunks)
psnr = onnx_parity.psnr_db(ox.backend.decode(latent), pipe.autoencoder.decode(latent).float(), 2.0)
print(f"gpu_check: onnxruntime on {ox.backend.provider}: velocity max abs diff {diff:.3g} vs torch float32 "
      f"(CUDA), decoder PSNR {'identical' if psnr is None else f'{psnr:.1f} dB'}")
assert diff <= 1e-2, f"onnxruntime on CUDA differs from torch by {diff:.3g}"
assert psnr is None or psnr >= 50.0, f"decoder PSNR {psnr:.1f} dB < 50"
t0 = time.perf_counter()
osmp = ox.sampler()
osmp.add_stream(*ox.text_encoder.encode_one(onnx_parity.base_prompt(ckpt)), seed=0)
n = sum(len(osmp.step()) for _ in range(32))
torch.cuda.synchronize()
print(f"gpu_check: onnxruntime streamed {n} chunks in {time.perf_counter() - t0:.2f} s (IO binding on CUDA)")
EOF
echo "gpu_check: benchmarks/backends.py"
"$PY" benchmarks/backends.py --reps 3 --seconds 3 --onnx "$OUT/onnx" | tee "$OUT/backends.json"
echo "gpu_check: benchmarks/realtime.py"
"$PY" benchmarks/realtime.py --seconds 20 --teacher-seconds 10 | tee "$OUT/realtime.json"
echo "gpu_check: all CUDA paths passed; figures in $OUT"

"""`--backend auto|torch|onnxruntime`: which backend serves a checkpoint, why, and the pipeline that runs it.

`auto` follows what benchmarks/backends.py measured (docs/backends.md has the table and the command):
- a CUDA GPU: torch on CUDA. The onnxruntime CUDA / TensorRT providers are implemented (IO binding) but were
  not measured against torch on a GPU here; benchmarks/gpu_check.sh measures them where a GPU is;
- a CPU where torch.compile can build kernels: torch compiled, the fastest measured on this CPU;
- a CPU where it cannot (no C++ compiler): onnxruntime when it is installed (faster than eager torch as
  measured), else eager torch;
- `--compile off` (or STREAMDIT_COMPILE=off) asks for no compile step at start: auto keeps eager torch, which
  starts at once, and says that --backend onnxruntime streams faster.
Every decision is returned with its reason, which the serve log and GetInfo's ModelInfo.backend show.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from runtime.backends.base import BACKEND_CHOICES, BACKEND_ENV
from runtime.backends.onnx_runtime import onnxruntime_available, require
from runtime.model.compiled import COMPILE_ENV, compile_support
from sdk.errors import ConfigError

log = logging.getLogger("streamdit.backends")
# benchmarks/backends.py on the 2-core AVX-512 CPU here, default checkpoint (docs/backends.md, "Speed"): step ms.
MEASURED_CPU = "torch compiled 65 ms, onnxruntime fp32 93 ms, torch eager 112 ms per step (default model, 2026-12-04)"


@dataclass
class Choice:
    """A backend decision: name ("torch" | "onnxruntime") and the reason in words."""

    name: str
    reason: str


def _compile_off(compile_mode: str) -> bool:
    return compile_mode == "off" or (compile_mode == "auto" and
                                     os.environ.get(COMPILE_ENV, "").strip().lower() in ("0", "off", "false", "no"))


def choose_backend(requested: str | None, device: torch.device, compile_mode: str = "auto") -> Choice:
    """Turn a --backend value into a Choice (module docstring). None reads $STREAMDIT_BACKEND (default auto).

    Raises ConfigError for an unknown value, and for onnxruntime when the package cannot be imported (the
    message names it)."""
    requested = (requested or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if requested not in BACKEND_CHOICES:
        raise ConfigError(f"backend must be one of {', '.join(BACKEND_CHOICES)}, got {requested!r}")
    if requested == "onnxruntime":
        require("onnxruntime", "--backend onnxruntime")
        return Choice("onnxruntime", "requested (--backend onnxruntime)")
    if requested == "torch":
        return Choice("torch", "requested (--backend torch)")
    if device.type == "cuda":
        return Choice("torch", "auto: a CUDA GPU, torch on CUDA (onnxruntime's CUDA/TensorRT providers were not "
                               "measured against it here: benchmarks/gpu_check.sh; --backend onnxruntime uses them)")
    if _compile_off(compile_mode):
        return Choice("torch", f"auto: compiling is turned off, so eager torch, which starts at once "
                               f"(--backend onnxruntime streams faster on this CPU: {MEASURED_CPU})")
    missing = compile_support(device)
    if missing is None:
        return Choice("torch", f"auto: torch compiled is the fastest measured on CPU ({MEASURED_CPU})")
    if onnxruntime_available():
        return Choice("onnxruntime", f"auto: torch cannot compile here ({missing}), and onnxruntime is faster than "
                                     f"eager torch on CPU ({MEASURED_CPU})")
    return Choice("torch", f"auto: torch cannot compile here ({missing}) and onnxruntime is not installed: eager "
                           f"torch (pip install onnxruntime streams faster: {MEASURED_CPU})")


def onnx_device() -> torch.device:
    """cuda when torch sees a GPU and onnxruntime has its CUDA provider (onnxruntime-gpu), else cpu."""
    from runtime.backends.onnx_runtime import wants_cuda

    ort = require("onnxruntime", "--backend onnxruntime")
    return torch.device("cuda") if wants_cuda(ort.get_available_providers()) else torch.device("cpu")


def ensure_export(checkpoint: Path, onnx_dir: str | Path | None, int8: bool = False) -> Path:
    """The export directory to serve: `onnx_dir` when given (it must hold an export), else the cache directory
    of this checkpoint (onnx_manifest.default_export_dir), exported there first when it holds none."""
    from runtime.backends import onnx_manifest as mf

    if onnx_dir is not None:
        d = Path(onnx_dir)
        if not (d / mf.MANIFEST).exists():
            raise ConfigError(f"--onnx {d} holds no ONNX export ({mf.MANIFEST} is missing): make one with "
                              f"`streamdit export onnx --checkpoint {checkpoint} --out {d}`" + (" --int8" if int8 else ""))
        return d
    d = mf.default_export_dir(checkpoint)
    have = (d / mf.MANIFEST).exists()
    if have and int8:
        have = "dit_int8" in mf.read_manifest(d).get("graphs", {})
    if not have:
        from runtime.backends.onnx_export import export_onnx

        log.info("exporting %s to ONNX in %s (once; later starts reuse it)", checkpoint, d)
        export_onnx(checkpoint, d, int8=int8)
    return d


def load_pipeline(checkpoint: str | Path, *, backend: str | None = "auto", compile_mode: str = "auto",
                  onnx_dir: str | Path | None = None, int8: bool = False,
                  device: str | torch.device | None = None) -> Any:
    """A StreamDiTPipeline of `checkpoint` on the chosen backend (choose_backend), its reason in
    pipeline.backend.reason. Raises ConfigError / CheckpointError before anything is served: an unknown
    backend, onnxruntime missing, a missing, corrupted or mismatched export, `int8` without onnxruntime."""
    from runtime.pipeline import StreamDiTPipeline, default_device

    checkpoint = Path(checkpoint)
    dev = torch.device(device) if device is not None else default_device()
    choice = choose_backend(backend, dev, compile_mode)
    if int8 and choice.name != "onnxruntime":
        raise ConfigError("--int8 runs the onnxruntime graph with int8 MatMuls: pass --backend onnxruntime too")
    if choice.name == "onnxruntime":
        from runtime.backends.onnx_runtime import OnnxBackend

        if compile_mode == "on":
            raise ConfigError("--compile on applies to --backend torch; onnxruntime runs its exported graph "
                              "(use --compile auto or off with it)")
        dev = torch.device(device) if device is not None else onnx_device()
        export = ensure_export(checkpoint, onnx_dir, int8)
        pipe = StreamDiTPipeline.from_checkpoint(checkpoint, dev)
        pipe.backend = OnnxBackend(export, checkpoint, pipe.model.null_text, int8=int8, device=dev,
                                   reason=choice.reason, text_tokens=getattr(pipe.text_encoder, "max_tokens", None))
        return pipe
    if onnx_dir is not None:
        raise ConfigError(f"--onnx {onnx_dir} is served by --backend onnxruntime, but the backend is torch "
                          f"({choice.reason}); pass --backend onnxruntime")
    pipe = StreamDiTPipeline.from_checkpoint(checkpoint, dev)
    pipe.backend.reason = choice.reason
    return pipe


def describe(pipeline: Any, sampler: Any) -> tuple[str, str]:
    """(backend, provider) as ModelInfo and the serve log name them: backend "torch-compiled", "torch-eager",
    "onnxruntime" or "onnxruntime-int8"; provider "cpu", "cuda" or an onnxruntime execution provider."""
    b = getattr(pipeline, "backend", None)
    if b is None or b.name == "torch":
        dev = getattr(b, "provider", None) or getattr(getattr(pipeline, "device", None), "type", "cpu")
        return ("torch-compiled" if getattr(sampler, "compiled", False) else "torch-eager"), dev
    return ("onnxruntime-int8" if getattr(b, "int8", False) else b.name), b.provider

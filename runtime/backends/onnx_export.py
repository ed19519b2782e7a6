"""`streamdit export onnx`: the DiT velocity model and the autoencoder as ONNX graphs, checked against torch.

Steps (`export_onnx`), all inside a temporary sibling of the output directory that replaces it only when every
check passed (runtime.model.checkpoint.atomic_directory), so a failed export leaves the previous one intact:

1. trace the float32 modules with torch.onnx's TorchScript exporter (opset 17): the DiT with dynamic batch and
   prompt-token dimensions (sessions join and leave; CFG doubles the batch), the decoder and encoder with
   dynamic batch and frame dimensions. RMSNorm is written out as x * rsqrt(mean(x^2) + eps) * w for the trace
   (opset 17 has no RMSNorm; same arithmetic in float32);
2. `onnx.checker.check_model` on every graph;
3. parity against torch on real buffers (runtime.backends.onnx_parity): the velocity's largest absolute
   difference must be at most 1e-3 and the decoder's PSNR at least 50 dB, else CheckpointError;
4. optionally (`int8=True`) dit_int8.onnx: onnxruntime.quantization.quantize_dynamic of the DiT's MatMuls
   (int8 weights, activations quantized per call); its errors are measured and recorded, never gated, and it
   is served only when asked for (`--int8`);
5. config.json (and prompt_map.toml) copied beside the graphs, and manifest.json (runtime.backends.onnx_manifest)
   with the SHA-256 of each graph and the parity figures.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from runtime.backends import onnx_manifest as mf
from runtime.backends.onnx_runtime import require
from runtime.model.attention import RMSNorm
from runtime.model.checkpoint import atomic_directory, file_sha256, write_json_atomic
from sdk.errors import CheckpointError, ConfigError

OPSET = 17


@dataclass
class ExportReport:
    """What an export wrote: the directory, each file's size (bytes), the parity figures, the seconds it took."""

    directory: Path
    files: dict[str, int]
    parity: dict[str, Any]
    seconds: float


def _rms_norm_traceable(self: RMSNorm, x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(x.dtype)


def traceable(module: nn.Module) -> nn.Module:
    """A float32 CPU copy of `module` in eval mode whose RMSNorms use ops that opset 17 has."""
    m = copy.deepcopy(module).float().cpu().eval()
    for sub in m.modules():
        if isinstance(sub, RMSNorm):
            sub.forward = types.MethodType(_rms_norm_traceable, sub)  # type: ignore[method-assign]
    return m


class _Decode(nn.Module):
    def __init__(self, ae: nn.Module) -> None:
        super().__init__()
        self.ae = ae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.ae.decode(latent).float()


class _Encode(nn.Module):
    def __init__(self, ae: nn.Module) -> None:
        super().__init__()
        self.ae = ae

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.ae.encode(video).float()


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str], output: str,
            dynamic: dict[str, dict[int, str]]) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the shape checks, and the exporter's deprecation
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=[output], dynamic_axes=dynamic, do_constant_folding=True)


def export_graphs(pipe: Any, out: Path) -> dict[str, Path]:
    """Trace the pipeline's DiT, decoder and encoder into out/dit.onnx, decoder.onnx, encoder.onnx."""
    C, h, w = pipe.latent_shape
    B, cfg = pipe.buffer_frames, pipe.model.cfg
    L = int(getattr(pipe.text_encoder, "max_tokens", 32))
    tf, f = pipe.temporal_factor, _spatial_factor(pipe.autoencoder)
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(2, L, dtype=torch.bool)
    mask[1, L // 2:] = False  # trace with a padded row, as batches of prompts of different lengths are
    dit_args = (torch.randn(2, C, B, h, w, generator=gen), torch.rand(2, B, generator=gen),
                torch.randn(2, L, cfg.text_dim, generator=gen), mask)
    paths = {g: out / mf.GRAPHS[g] for g in mf.REQUIRED}
    _export(traceable(pipe.model), dit_args, paths["dit"], ["x", "t", "text", "text_mask"], "velocity",
            {"x": {0: "batch"}, "t": {0: "batch"}, "text": {0: "batch", 1: "tokens"},
             "text_mask": {0: "batch", 1: "tokens"}, "velocity": {0: "batch"}})
    ae = traceable(pipe.autoencoder)
    _export(_Decode(ae), (torch.randn(2, C, 2, h, w, generator=gen),), paths["decoder"], ["latent"], "video",
            {"latent": {0: "batch", 2: "frames"}, "video": {0: "batch", 2: "video_frames"}})
    _export(_Encode(ae), (torch.rand(2, 3, 2 * tf, h * f, w * f, generator=gen) * 2 - 1,), paths["encoder"],
            ["video"], "latent", {"video": {0: "batch", 2: "frames"}, "latent": {0: "batch", 2: "latent_frames"}})
    return paths


def quantize_int8(src: Path, dst: Path) -> None:
    """dst = src with dynamically quantized int8 MatMuls (onnxruntime.quantization.quantize_dynamic)."""
    require("onnxruntime", "streamdit export onnx --int8")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its "run pre-processing first" hint is for static quantization
    try:
        quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().setLevel(quiet)


def _spatial_factor(ae: nn.Module) -> int:
    return int(getattr(ae, "spatial_factor", getattr(ae, "factor", 1)))


def _refuse_foreign(out: Path) -> None:
    """An existing --out that is not an export is never replaced (it would be deleted)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / mf.MANIFEST).exists())):
        raise ConfigError(f"--out {out} exists and is not an ONNX export (no {mf.MANIFEST}): it would be replaced; "
                          f"choose a new or empty directory")


def export_onnx(checkpoint: str | Path, out: str | Path, *, int8: bool = False,
                on_stage: Callable[[str], None] | None = None) -> ExportReport:
    """Export a checkpoint directory's DiT, decoder and encoder to ONNX in `out`, check and compare them.

    Raises ConfigError when onnx or onnxruntime is missing or `out` is a directory of something else, and
    CheckpointError when the checkpoint cannot be loaded or a graph fails onnx.checker or parity (nothing is
    written then). on_stage(name) is called as each stage starts (progress display)."""
    onnx = require("onnx", "streamdit export onnx")
    require("onnxruntime", "streamdit export onnx (its parity check)")
    from runtime.backends import onnx_parity
    from runtime.pipeline import StreamDiTPipeline

    stage = on_stage or (lambda _name: None)
    checkpoint, out = Path(checkpoint), Path(out)
    _refuse_foreign(out)
    t0 = time.monotonic()
    stage("load")
    pipe = StreamDiTPipeline.from_checkpoint(checkpoint, device="cpu")
    identity = mf.checkpoint_identity(checkpoint)
    with atomic_directory(out) as tmp:
        stage("trace")
        paths = export_graphs(pipe, tmp)
        stage("check")
        for name, path in paths.items():
            try:
                onnx.checker.check_model(str(path), full_check=True)
            except Exception as e:  # noqa: BLE001 - onnx raises its own ValidationError and others
                raise CheckpointError(f"onnx.checker refused the exported {name} graph ({e}); nothing was "
                                      f"written") from None
        stage("parity")
        prompt = onnx_parity.base_prompt(checkpoint)
        parity = onnx_parity.measure(pipe, paths, prompt)
        onnx_parity.check(parity)
        if int8:
            stage("int8")
            paths["dit_int8"] = tmp / mf.GRAPHS["dit_int8"]
            quantize_int8(paths["dit"], paths["dit_int8"])
            parity["int8"] = onnx_parity.int8_quality(pipe, paths, prompt)
        for name in (mf.CONFIG, "prompt_map.toml"):
            if (checkpoint / name).exists():
                shutil.copy2(checkpoint / name, tmp / name)
        write_json_atomic(tmp / mf.MANIFEST, _manifest(pipe, identity, paths, parity))
        files = {p.name: p.stat().st_size for p in tmp.iterdir()}
    return ExportReport(out, files, parity, time.monotonic() - t0)


def _manifest(pipe: Any, identity: dict[str, Any], paths: dict[str, Path], parity: dict[str, Any]) -> dict[str, Any]:
    import onnx
    import onnxruntime

    C, h, w = pipe.latent_shape
    return {
        "format": mf.FORMAT, "version": mf.VERSION, "checkpoint": identity, "opset": OPSET,
        "exporter": f"torch.onnx (TorchScript) {torch.__version__}", "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "graphs": {g: {"file": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size,
                       "dtype": "int8 MatMuls" if g == "dit_int8" else "float32"} for g, p in paths.items()},
        "latent_shape": [C, h, w], "buffer_frames": pipe.buffer_frames, "text_dim": pipe.model.cfg.text_dim,
        "text_tokens": int(getattr(pipe.text_encoder, "max_tokens", 32)),
        "autoencoder_shape": {"spatial_factor": _spatial_factor(pipe.autoencoder),
                              "temporal_factor": pipe.temporal_factor, "latent_channels": C},
        "parity": json.loads(json.dumps(parity)),
    }

"""Parity of exported graphs with torch, on real buffers (issue 21's thresholds; docs/backends.md).

"Real buffers" are the inputs the DiT sees while streaming: a float32 torch StreamingSampler runs two streams
of the checkpoint's own base prompt (with CFG when the checkpoint uses it, so the batch is 2 or 4) through the
start-up pass and into streaming, and every model call's (x, t, text, text_mask) and velocity is recorded.
The chunks it emits are what the decoder is compared on, and their decoded frames what the encoder is
compared on.

- velocity: largest absolute difference between onnxruntime (CPU provider) and torch float32, over up to 12
  recorded calls; must be <= VELOCITY_MAX_ABS_DIFF (1e-3);
- decoder: PSNR of onnxruntime's decode against torch's float32 decode of the same chunks (peak-to-peak 2, the
  [-1, 1] video range); must be >= DECODER_MIN_PSNR_DB (50 dB). For reference the PSNR of torch's served bf16
  decode against the same float32 decode is reported beside it;
- encoder: largest absolute latent difference (reported; must be <= ENCODER_MAX_ABS_DIFF);
- int8 (`int8_quality`): the same velocity error for dit_int8.onnx and, beside it, for torch's served bf16,
  and the PSNR of whole streamed clips (int8, bf16, onnxruntime float32) against the torch float32 stream of the
  same seed: how far each precision drifts from float32 over a stream. Recorded, not gated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from runtime.backends.onnx_runtime import _Graph, make_session
from runtime.sampling.streaming import StreamingSampler
from sdk.errors import CheckpointError

VELOCITY_MAX_ABS_DIFF = 1e-3
DECODER_MIN_PSNR_DB = 50.0
ENCODER_MAX_ABS_DIFF = 1e-3
CPU = ["CPUExecutionProvider"]


class _Recorder:
    """The torch model as a VelocityModel that records each call's inputs and velocity."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        v = self.model(x, t, text, mask)
        self.calls.append((x.clone(), t.clone(), text.clone(), mask.clone(), v.clone()))
        return v

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.null_prompt(batch)


def base_prompt(checkpoint: str | Path) -> str:
    """The base prompt of a checkpoint's prompt_map.toml (its own words), else a neutral one."""
    import tomllib

    path = Path(checkpoint) / "prompt_map.toml"
    try:
        if path.exists():
            base = tomllib.loads(path.read_text()).get("base")
            if isinstance(base, str) and base.strip():
                return base
    except (OSError, ValueError):
        pass
    return "a video of the game"


def real_buffers(pipe: Any, prompt_text: str, streams: int = 2, max_calls: int = 12) -> tuple[list[tuple[torch.Tensor, ...]], list[torch.Tensor]]:
    """Record the DiT calls of a float32 torch stream of `pipe` (see the module docstring).

    Returns (calls: up to max_calls (x, t, text, text_mask, velocity) tuples, evenly spaced over the run and
    including its last, emitted latent chunks [C, c, h, w])."""
    model = pipe.model.float().eval()
    rec = _Recorder(model)
    sch = pipe.scheme()
    g = float(pipe.config.get("sampling", {}).get("guidance_scale", 1.0))
    smp = StreamingSampler(model, sch, pipe.latent_shape, guidance_scale=g, autocast_dtype=None,
                           forward=rec, text_tokens=getattr(pipe.text_encoder, "max_tokens", None))
    prompt = pipe.text_encoder.encode_one(prompt_text)
    for i in range(streams):
        smp.add_stream(*prompt, seed=i)
    chunks: list[torch.Tensor] = []
    with torch.no_grad():
        for _ in range(sch.steps_to_fill + 2 * sch.s):
            chunks += [c.latent for c in smp.step()]
    n = len(rec.calls)
    picks = sorted({round(i * (n - 1) / max(1, max_calls - 1)) for i in range(min(n, max_calls))})
    return [rec.calls[i] for i in picks], chunks


def psnr_db(a: torch.Tensor, b: torch.Tensor, peak: float) -> float | None:
    """PSNR in dB of a against b (same shape), or None when they are identical (an infinite PSNR)."""
    mse = float(((a.double() - b.double()) ** 2).mean())
    return None if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def _ort(path: Path) -> _Graph:
    out = {"dit": "velocity", "dit_int8": "velocity", "decoder": "video", "encoder": "latent"}[path.stem]
    return _Graph(make_session(path, CPU), out)


def velocity_error(graph: _Graph, calls: list[tuple[torch.Tensor, ...]]) -> dict[str, float]:
    """Largest and mean absolute velocity difference of `graph` against the recorded torch velocities."""
    diffs = [(graph.run(tuple(x.shape), x, t, tx, m) - v).abs() for x, t, tx, m, v in calls]
    return {"max_abs_diff": max(float(d.max()) for d in diffs),
            "mean_abs_diff": float(torch.stack([d.mean() for d in diffs]).mean()),
            "max_abs_velocity": max(float(c[4].abs().max()) for c in calls)}


def measure(pipe: Any, paths: dict[str, Path], prompt: str) -> dict[str, Any]:
    """Parity figures of dit.onnx, decoder.onnx and encoder.onnx against torch float32 (module docstring), on
    streams of `prompt`."""
    calls, chunks = real_buffers(pipe, prompt)
    vel = velocity_error(_ort(paths["dit"]), calls)
    latent = torch.stack(chunks)  # (n, C, c, h, w)
    ae = pipe.autoencoder.float().eval()
    with torch.no_grad():
        ref = ae.decode(latent).float()  # (n, 3, c * tf, H, W)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = ae.decode(latent).float()
        dec = _ort(paths["decoder"])
        got = dec.run(tuple(ref.shape), latent)
        enc_ref = ae.encode(ref.clamp(-1, 1)).float()
        enc = _ort(paths["encoder"]).run(tuple(enc_ref.shape), ref.clamp(-1, 1))
    return {
        "buffers": {"calls": len(calls), "batch": int(calls[0][0].shape[0]), "chunks": len(chunks)},
        "velocity_max_abs_diff": vel["max_abs_diff"], "velocity_mean_abs_diff": vel["mean_abs_diff"],
        "velocity_max_abs": vel["max_abs_velocity"],
        "decoder_psnr_db": psnr_db(got, ref, 2.0), "decoder_max_abs_diff": float((got - ref).abs().max()),
        "torch_bf16_decoder_psnr_db": psnr_db(bf16, ref, 2.0),
        "encoder_max_abs_diff": float((enc - enc_ref).abs().max()),
        "thresholds": {"velocity_max_abs_diff": VELOCITY_MAX_ABS_DIFF, "decoder_min_psnr_db": DECODER_MIN_PSNR_DB,
                       "encoder_max_abs_diff": ENCODER_MAX_ABS_DIFF},
    }


def check(parity: dict[str, Any]) -> None:
    """Raise CheckpointError when a parity figure misses its threshold (nothing is written then)."""
    bad = []
    if not parity["velocity_max_abs_diff"] <= VELOCITY_MAX_ABS_DIFF:
        bad.append(f"velocity max abs diff {parity['velocity_max_abs_diff']:.3g} > {VELOCITY_MAX_ABS_DIFF:g}")
    psnr = parity["decoder_psnr_db"]
    if psnr is not None and not psnr >= DECODER_MIN_PSNR_DB:
        bad.append(f"decoder PSNR {psnr:.1f} dB < {DECODER_MIN_PSNR_DB:g} dB")
    if not parity["encoder_max_abs_diff"] <= ENCODER_MAX_ABS_DIFF:
        bad.append(f"encoder max abs diff {parity['encoder_max_abs_diff']:.3g} > {ENCODER_MAX_ABS_DIFF:g}")
    if bad:
        raise CheckpointError("the exported graphs do not match torch: " + "; ".join(bad) + ". Nothing was "
                              "written; report this with the checkpoint's config.json (torch and onnxruntime "
                              "versions in the manifest of a previous export)")


def stream_clip(pipe: Any, prompt: str, forward: Any, autocast: torch.dtype | None, frames: int, decode: Any,
                seed: int = 0) -> torch.Tensor:
    """A streamed clip of `frames` video frames, float [frames, 3, H, W], from one stream of the base prompt;
    forward: the VelocityModel (or the torch model), decode: latent [1, C, c, h, w] -> video [1, 3, F, H, W]."""
    sch = pipe.scheme()
    g = float(pipe.config.get("sampling", {}).get("guidance_scale", 1.0))
    smp = StreamingSampler(pipe.model.float().eval(), sch, pipe.latent_shape, guidance_scale=g, autocast_dtype=autocast,
                           forward=forward, text_tokens=getattr(pipe.text_encoder, "max_tokens", None))
    smp.add_stream(*pipe.text_encoder.encode_one(prompt), seed=seed)
    out: list[torch.Tensor] = []
    with torch.no_grad():
        while sum(v.shape[0] for v in out) < frames:
            for ch in smp.step():
                out.append(decode(ch.latent[None])[0].transpose(0, 1))  # (F, 3, H, W)
    return torch.cat(out)[:frames]


def int8_quality(pipe: Any, paths: dict[str, Path], prompt: str, frames: int = 32) -> dict[str, Any]:
    """Errors of dit_int8.onnx and, beside them, of torch's served bf16, against torch float32 (docstring)."""
    calls, _ = real_buffers(pipe, prompt)
    int8 = _ort(paths["dit_int8"])
    fp32 = _ort(paths["dit"])
    model = pipe.model.float().eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = [(model(x, t, tx, m).float() - v).abs() for x, t, tx, m, v in calls]
    ae = pipe.autoencoder.float().eval()

    class _V:  # an onnxruntime graph as a VelocityModel over the torch model's null prompt
        def __init__(self, graph: _Graph) -> None:
            self.graph = graph

        def __call__(self, x, t, tx, m):  # noqa: ANN001, ANN204
            return self.graph.run(tuple(x.shape), x, t, tx, m)

        def null_prompt(self, batch: int):  # noqa: ANN201
            return model.null_prompt(batch)

    ref = stream_clip(pipe, prompt, None, None, frames, ae.decode)
    clips = {"onnxruntime_int8": stream_clip(pipe, prompt, _V(int8), None, frames, ae.decode),
             "torch_bf16": stream_clip(pipe, prompt, None, torch.bfloat16, frames, ae.decode),
             "onnxruntime_fp32": stream_clip(pipe, prompt, _V(fp32), None, frames, ae.decode)}
    e8 = velocity_error(int8, calls)
    return {"velocity_max_abs_diff": e8["max_abs_diff"], "velocity_mean_abs_diff": e8["mean_abs_diff"],
            "torch_bf16_velocity_max_abs_diff": max(float(d.max()) for d in bf16),
            "torch_bf16_velocity_mean_abs_diff": float(torch.stack([d.mean() for d in bf16]).mean()),
            "stream_frames": frames,
            "stream_psnr_db_vs_torch_fp32": {k: psnr_db(v.clamp(-1, 1), ref.clamp(-1, 1), 2.0) for k, v in clips.items()}}

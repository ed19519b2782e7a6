"""Video-to-video measured on held-out real play (issue 20): is the structure kept, is the prompt applied?

`restyle` runs the method of runtime/sampling/v2v.py offline, the way the engine does live (runtime/serving/
engine.py), but in lockstep and with fixed seeds, so a table is reproducible: the first source chunk anchors the
stream, and at every chunk boundary the next source chunk of the clip is written into the buffer. Each output frame
names the source frame it restyles.

`v2v_table` measures, per strength and prompt, over held-out clips:

- structure: PSNR (dB) and SSIM of each output frame against its own source frame, beside the same measures
  against an unrelated real frame (the frame at the same index of another held-out episode): a restyle that keeps
  the structure is much closer to its source than to another real frame;
- motion: the whole-frame shift between consecutive output frames (`pair_shifts`, the scroll measure of
  `streamdit eval`) against the shift between their source frames, px/frame (mean |d out - d source| over the
  frame pairs whose sources are consecutive);
- prompt: the output's mean brightness (8-bit grey levels) minus its sources'. The shipped clip classifier has no
  night class, so brightness is the night signal.

    streamdit eval-v2v --data data/crafter72 --out out/v2v
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from runtime.evaluation.response import pair_shifts
from runtime.sampling.v2v import V2VStream, entry
from sdk.errors import ConfigError, ShapeError

NIGHT = "it is night"


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images [H, W, 3] (peak 255); 100 for identical images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def ssim_u8(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 RGB images [H, W, 3] on their grey levels (Wang et al. 2004, IEEE TIP 13(4), eq. 13:
    an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255), the mean over the image."""
    x = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    y = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


@torch.no_grad()
def restyle(pipe: Any, frames: np.ndarray, prompt: str, strength: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Restyle a clip under `prompt` at `strength` (offline, in lockstep; module docstring).

    pipe: a StreamDiTPipeline. frames: uint8 [F, H, W, 3] at the model's size, F a multiple of the video frames per
    chunk (c x temporal factor). Returns (output uint8 [F_out, H, W, 3], the source index of each output frame
    int64 [F_out], -1 = none): up to the first output of the last source frame (at strength 1, F frames).
    Raises ShapeError for frames of another size or count, ConfigError for a strength outside [0, 1].
    """
    smp = pipe.sampler()
    sch = smp.scheme
    fpc = sch.c * int(pipe.temporal_factor)
    if frames.ndim != 4 or frames.dtype != np.uint8 or len(frames) < fpc or len(frames) % fpc:
        raise ShapeError(f"frames must be uint8 [F, H, W, 3] with F a positive multiple of {fpc}, got "
                         f"{frames.dtype} {list(frames.shape)}")
    chunks = len(frames) // fpc
    latents = [pipe.encode(frames[j * fpc:(j + 1) * fpc]).float() for j in range(chunks)]
    sigma_min = float(pipe.config.get("flow", {}).get("sigma_min", 1e-5))
    text, mask = pipe.text_encoder.encode_one(prompt)
    v = V2VStream(sch, fpc, strength, seed=seed, sigma_min=sigma_min, device=smp.device)
    sid = smp.add_stream(text, mask, seed=seed, **v.start_args(latents[0], list(range(fpc))))
    out, idx, written = [], [], 1
    text_only = entry(strength, sch).steps == sch.N  # nothing is written: F frames of the text-only stream
    limit = (chunks + sch.N + sch.steps_to_fill) * fpc  # a bound: the last source chunk leaves within N chunks
    while len(idx) < limit and not (idx[-1:] == [len(frames) - 1] or (text_only and len(idx) >= len(frames))):
        for ch in smp.step():
            latent, ix = v.emitted(ch.latent)
            out.append(pipe.decode(latent))
            idx.extend(ix)
            if written < chunks:
                j = written
                v.boundary(smp, sid, latents[j], list(range(j * fpc, (j + 1) * fpc)))
                written += 1
            else:
                v.boundary(smp, sid)
    return np.concatenate(out), np.asarray(idx, np.int64)


@dataclass
class Measures:
    """One clip's measures (module docstring); None where no output frame named a source frame."""

    frames: int  # output frames that name a source frame
    psnr_source: float | None
    ssim_source: float | None
    psnr_unrelated: float | None
    ssim_unrelated: float | None
    shift_error: float | None  # px/frame, mean |d out - d source| over consecutive pairs (Euclidean)
    source_shift: float | None  # px/frame, mean |d source| over the same pairs (how much the source moved)
    brightness_change: float | None  # mean grey level of the outputs minus their sources', 8-bit levels


def measure(out: np.ndarray, idx: np.ndarray, source: np.ndarray, unrelated: np.ndarray) -> Measures:
    """Measures of one restyled clip: out uint8 [F_out, H, W, 3] with source indices idx int [F_out] into source
    uint8 [F, H, W, 3]; unrelated uint8 [F, H, W, 3] (another real clip, frame by frame). Raises ShapeError for an
    unrelated clip shorter than the source."""
    if len(unrelated) < len(source):
        raise ShapeError(f"the unrelated clip has {len(unrelated)} frames, the source {len(source)}")
    named = [k for k in range(len(out)) if idx[k] >= 0]
    if not named:
        return Measures(0, None, None, None, None, None, None, None)
    ps = [psnr_u8(out[k], source[idx[k]]) for k in named]
    ss = [ssim_u8(out[k], source[idx[k]]) for k in named]
    pu = [psnr_u8(out[k], unrelated[idx[k]]) for k in named]
    su = [ssim_u8(out[k], unrelated[idx[k]]) for k in named]
    d_out, d_src = pair_shifts(out), pair_shifts(source)
    pairs = [k for k in named if k > 0 and idx[k - 1] >= 0 and idx[k] == idx[k - 1] + 1]
    err = [float(np.linalg.norm(d_out[k] - d_src[idx[k]])) for k in pairs]
    mag = [float(np.linalg.norm(d_src[idx[k]])) for k in pairs]
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).mean() for f in out[named]]
    grey_src = [cv2.cvtColor(source[idx[k]], cv2.COLOR_RGB2GRAY).mean() for k in named]
    return Measures(len(named), float(np.mean(ps)), float(np.mean(ss)), float(np.mean(pu)), float(np.mean(su)),
                    float(np.mean(err)) if err else None, float(np.mean(mag)) if mag else None,
                    float(np.mean(grey) - np.mean(grey_src)))


def clips_from(episodes: Sequence[np.ndarray], frames: int, start: int = 8) -> list[np.ndarray]:
    """One clip of `frames` frames from each episode uint8 [F, H, W, 3], from frame `start` (the first steps of a
    Crafter episode stand still). Raises ConfigError when an episode is too short."""
    out = []
    for ep in episodes:
        if len(ep) < start + frames:
            raise ConfigError(f"an episode of {len(ep)} frames is shorter than start {start} + {frames} frames")
        out.append(np.ascontiguousarray(ep[start:start + frames]))
    return out


def v2v_table(pipe: Any, clips: Sequence[np.ndarray], *, strengths: Sequence[float] = (0.25, 0.5, 0.75),
              prompts: Sequence[str], seed: int = 0) -> list[dict[str, Any]]:
    """Rows {strength, effective (the strength applied: round(s N) / N), prompt, clips, frames, and the Measures
    averaged over clips}. clips: held-out real clips uint8 [F, H, W, 3] (at least two: clip i's unrelated frames
    come from clip i + 1). prompts: the prompts to restyle with (`streamdit eval-v2v`: the checkpoint's base
    prompt and NIGHT)."""
    if len(clips) < 2:
        raise ConfigError("v2v_table needs at least two held-out clips (the unrelated frames come from another one)")
    if not prompts:
        raise ConfigError("v2v_table needs at least one prompt (e.g. the checkpoint's base prompt and NIGHT)")
    sch = pipe.scheme()
    rows = []
    for prompt in prompts:
        for s in strengths:
            per = []
            for i, clip in enumerate(clips):
                out, idx = restyle(pipe, clip, prompt, s, seed=seed + i)
                per.append(measure(out, idx, clip, clips[(i + 1) % len(clips)]))
            row: dict[str, Any] = {"strength": s, "effective": entry(s, sch).effective, "prompt": prompt,
                                   "clips": len(per), "frames": sum(m.frames for m in per)}
            for key in ("psnr_source", "ssim_source", "psnr_unrelated", "ssim_unrelated", "shift_error",
                        "source_shift", "brightness_change"):
                vals = [getattr(m, key) for m in per if getattr(m, key) is not None]
                row[key] = round(float(np.mean(vals)), 3) if vals else None
            rows.append(row)
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table of `v2v_table` rows as GitHub markdown."""
    def f(v: Any, nd: int = 2) -> str:
        return "-" if v is None else f"{v:.{nd}f}"

    lines = ["| prompt | strength (applied) | PSNR to source (dB) | SSIM to source | PSNR to unrelated (dB) | "
             "SSIM to unrelated | shift error (px/frame) | source shift (px/frame) | brightness change |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['prompt']} | {r['strength']:g} ({r['effective']:g}) | {f(r['psnr_source'])} | "
                     f"{f(r['ssim_source'], 3)} | {f(r['psnr_unrelated'])} | {f(r['ssim_unrelated'], 3)} | "
                     f"{f(r['shift_error'])} | {f(r['source_shift'])} | {f(r['brightness_change'], 1)} |")
    return "\n".join(lines)


def contact_sheet(pipe: Any, clip: np.ndarray, prompt: str, strengths: Sequence[float], *, columns: int = 8,
                  scale: int = 2, seed: int = 0) -> np.ndarray:
    """A picture: the source frames of `clip` in the first row, then the frames restyling them at each strength
    (same columns: an output frame named after that source frame). uint8 [rows * (H*scale + 16), columns * W*scale, 3]."""
    H, W = clip.shape[1:3]
    picks = np.linspace(len(clip) // 4, len(clip) - 1, columns).astype(int)
    rows = [("source", [clip[i] for i in picks])]
    for s in strengths:
        out, idx = restyle(pipe, clip, prompt, s, seed=seed)
        by_src = {int(i): k for k, i in enumerate(idx) if i >= 0}
        rows.append((f"strength {s:g}: {prompt}", [out[by_src[i]] if i in by_src else np.zeros_like(clip[0])
                                                    for i in picks]))
    band = []
    for label, imgs in rows:
        strip = np.zeros((16, columns * W * scale, 3), np.uint8)
        cv2.putText(strip, label, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        band += [strip, np.concatenate([cv2.resize(im, (W * scale, H * scale), interpolation=cv2.INTER_NEAREST)
                                        for im in imgs], axis=1)]
    return np.concatenate(band)

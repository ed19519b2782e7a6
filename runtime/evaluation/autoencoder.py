"""The autoencoder's measures (`streamdit eval-ae`, and the held-out scores `streamdit train-ae` logs).

- `evaluate`: held-out PSNR (dB) of the round trip encode -> decode on uint8 frames, per frame and pooled;
- `shift_residual`: how much of a one-tile scroll of real play the latent carries as a one-cell shift;
- `decode_ms_per_frame`: median decode wall time per video frame (ms), fp32 and bf16 autocast.
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import numpy as np
import torch

from runtime.data.frames import _resize
from runtime.model.autoencoder import video_to_unit
from runtime.model.conv_autoencoder import ConvAutoencoder
from runtime.training.data.dataset import CrafterClips
from sdk.errors import ConfigError, DataError


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two uint8 tensors of one shape (peak 255)."""
    mse = (a.float() - b.float()).pow(2).mean().item()
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


@torch.no_grad()
def reconstruct(ae: ConvAutoencoder, clips: np.ndarray, bf16: bool, batch: int = 64) -> np.ndarray:
    """uint8 clips [n, F, S, S, 3] -> their uint8 round trips through encode and decode."""
    from runtime.model.autoencoder import unit_to_video

    out = []
    per = max(1, batch // clips.shape[1])
    for i in range(0, len(clips), per):
        x = video_to_unit(torch.from_numpy(clips[i: i + per]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = ae.decode(ae.encode(x))
        out.append(unit_to_video(y).numpy())
    return np.concatenate(out)


def evaluate(ae: ConvAutoencoder, clips: np.ndarray, bf16: bool) -> dict[str, float]:
    """Held-out scores: mean per-frame PSNR and PSNR of the pooled MSE (dB), on uint8 frames."""
    rec = torch.from_numpy(reconstruct(ae, clips, bf16)).flatten(0, 1)
    ref = torch.from_numpy(clips).flatten(0, 1)
    per_frame = [psnr(r, o) for r, o in zip(rec, ref)]
    return {"psnr_db": round(float(np.mean(per_frame)), 3), "psnr_pooled_db": round(psnr(rec, ref), 3),
            "frames": len(per_frame)}


def _one_tile_scrolls(clips: CrafterClips, size: int):
    """Held-out steps whose walk scrolled the view by one whole tile, in episode order: yields (shard name,
    frames uint8 [T, size, size, 3], step i (frames[i - 1] -> frames[i]), the walk (dx, dy) in tiles, and the
    world-row pixels to compare, bool [world rows, size]: not the edge tiles, not the player sprite before or
    after a one-tile shift). Blocked walks (the player turned but the view stayed) and plain ground (where
    a shift and no shift fit alike) are left out."""
    from runtime.training.data.captioner import MOVES
    from runtime.training.data.capture import crafter_view

    step_of = {name: (dx, dy) for (dx, dy), name in MOVES.items()}
    rows, (y0, y1, x0, x1) = crafter_view(size)
    y0, y1, x0, x1 = y0 + 1, y1 - 1, x0 + 1, x1 - 1  # the player tile itself
    tile = size // 9
    for k in range(len(clips.episodes)):
        name, frames, events = clips.episode(k)
        frames = _resize(frames, size, name)
        for i in range(1, len(frames)):
            walked = [step_of[e.type] for e in events[i] if e.type in step_of]
            if not walked:
                continue
            dx, dy = walked[0]  # the view follows the player: the content moves by (-dx, -dy) tiles
            keep = np.ones((rows, size), bool)
            for oy, ox in ((0, 0), (-dy * tile, -dx * tile)):  # the sprite, and where the shift puts it
                keep[max(y0 + oy, 0): y1 + oy, max(x0 + ox, 0): x1 + ox] = False
            keep[:tile], keep[-tile:], keep[:, :tile], keep[:, -tile:] = False, False, False, False
            a, b = frames[i - 1, :rows].astype(np.float32), frames[i, :rows].astype(np.float32)
            moved = np.abs(np.roll(a, (-dy * tile, -dx * tile), (0, 1)) - b)[keep].mean()
            if moved < 0.25 * np.abs(a - b)[keep].mean():
                yield name, frames, i, (dx, dy), keep


@torch.no_grad()
def shift_residual(ae: torch.nn.Module, root: str | Path, size: int, heldout_fraction: float = 0.1,
                   max_moves: int = 400) -> dict[str, float]:
    """How much of a one-tile scroll of real play the latent carries as a one-cell shift (issue 3).

    Over held-out steps where the player walked and the world rows of the frame moved by one whole tile
    (Crafter draws tiles of `unit = size // 9` px: 7 px at 64x64, 8 px at 72x72), the latent change of that
    step is compared with the change left after shifting the previous latent by one cell against the walk:
    ratio = mean squared residual after the shift / without it. 0: the scroll is an exact one-cell latent
    shift (a DiT can copy tokens); 1: shifting does not help. Compared: latent cells of the world rows, not
    on the latent's edge, and not under the player sprite (which stays on screen) before or after the shift.
    Latents are the checkpoint's normalised ones ([1, C, F, h, w] from `ae.encode`, about unit variance).

    ae: any autoencoder with `encode(video [1, 3, F, H, W] in [-1, 1]) -> [1, C, F, h, w]` and temporal
    factor 1; root: a capture of `size` px frames or an integer multiple (area-downsampled). Returns
    {"moves", "tile_px", "cell_px", "residual_still", "residual_shifted", "ratio"}. Raises DataError when
    no held-out move scrolls the view, ConfigError for a temporal factor other than 1.
    """
    from runtime.training.data.capture import crafter_view
    from runtime.data.latents import encode_frames

    if getattr(ae, "temporal_factor", 1) != 1:
        raise ConfigError("shift_residual compares single frames: it needs an autoencoder with temporal factor 1")
    clips = CrafterClips(root, 2, split="heldout", heldout_fraction=heldout_fraction)
    rows = crafter_view(size)[0]
    still = shifted = 0.0
    moves = cell = 0
    encoded, z = None, torch.empty(0)  # the latents [F, C, h, w] of one episode, encoded at its first scroll
    for name, frames, i, (dx, dy), keep in itertools.islice(_one_tile_scrolls(clips, size), max_moves):
        if name != encoded:
            encoded, z = name, encode_frames(ae, frames, bf16=False)
            cell = size // z.shape[-1]
        # a latent cell is compared when every pixel it covers is
        cells = torch.from_numpy(keep[: rows // cell * cell].reshape(rows // cell, cell, -1, cell).all(axis=(1, 3)))
        za, zb = z[i - 1, :, : cells.shape[0]], z[i, :, : cells.shape[0]]
        still += float((zb - za)[:, cells].pow(2).mean())
        shifted += float((zb - torch.roll(za, shifts=(-dy, -dx), dims=(1, 2)))[:, cells].pow(2).mean())
        moves += 1
    if not moves:
        raise DataError(f"no held-out step of {root} scrolls the view by a whole tile; capture more episodes")
    return {"moves": moves, "tile_px": size // 9, "cell_px": cell, "residual_still": round(still / moves, 4),
            "residual_shifted": round(shifted / moves, 4), "ratio": round(shifted / max(still, 1e-12), 4)}


@torch.no_grad()
def decode_ms_per_frame(ae: ConvAutoencoder, size: int, video_frames: int = 8, reps: int = 15) -> dict[str, float]:
    """Median wall time of `decode` per video frame (ms) for one chunk of `video_frames` frames, fp32 and
    bf16 autocast, at the current torch thread count; "best" is the faster of the two."""
    h = size // ae.spatial_factor
    z = torch.randn(1, ae.latent_channels, max(1, video_frames // ae.temporal_factor), h, h)
    n = z.shape[2] * ae.temporal_factor
    res: dict[str, float] = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        times = []
        for i in range(reps + 2):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                ae.decode(z)
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t)
        res[name] = round(1000 * float(np.median(times)) / n, 3)
    res["best"] = min(res["fp32"], res["bf16"])
    res["threads"] = torch.get_num_threads()
    return res

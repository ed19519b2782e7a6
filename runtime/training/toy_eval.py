"""Motion adherence of a toy checkpoint: does each prompted shape move the prompted way?

For every caption of the toy config ("a red square moves left", ...) it streams a clip with the checkpoint's
default scheme and measures the net shift per frame from the pixels (best cyclic shift between consecutive
frames, the toy frames wrap around). A clip adheres when its mean shift points the prompted way by at
least a quarter of a pixel per frame.

    python -m runtime.commands.toy_eval --checkpoint runtime/checkpoints/toy [--seeds 2] [--frames 64]

This module computes and returns; only the command (runtime/commands/toy_eval.py) prints.
"""

from __future__ import annotations

import numpy as np

from runtime.checkpoints import resolve
from runtime.pipeline import StreamDiTPipeline
from runtime.training.toy_data import DIRECTIONS, ToyShapesConfig


def frame_shift(prev: np.ndarray, nxt: np.ndarray, max_shift: int = 4) -> tuple[int, int]:
    """Integer (dx, dy) in pixels that best maps prev onto nxt (uint8 [H, W, 3]) under a cyclic shift."""
    a, b = prev.astype(np.float32), nxt.astype(np.float32)
    errs = {(dx, dy): float(np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean())
            for dy in range(-max_shift, max_shift + 1) for dx in range(-max_shift, max_shift + 1)}
    return min(errs, key=lambda k: (errs[k], abs(k[0]) + abs(k[1])))


def shifts(video: np.ndarray) -> np.ndarray:
    """int [F-1, 2]: (dx, dy) in pixels between consecutive frames of uint8 [F, H, W, 3]."""
    return np.array([frame_shift(video[i], video[i + 1]) for i in range(len(video) - 1)])


def motion_adherence(pipe: StreamDiTPipeline, captions: list[str], seeds: int = 2, frames: int = 64) -> dict:
    """Fraction of clips whose mean per-frame shift (pixels) points in the caption's direction."""
    rows, hits = [], 0
    for caption in captions:
        direction = caption.rsplit(" ", 1)[-1]
        ux, uy = DIRECTIONS[direction]
        for seed in range(seeds):
            video = pipe.generate(caption, frames, seed=seed)
            d = shifts(video[pipe.buffer_frames:])
            along = float((d[:, 0] * ux + d[:, 1] * uy).mean())  # pixels per frame along the prompted way
            ok = along > 0.25
            hits += ok
            rows.append({"caption": caption, "seed": seed, "shift_px_per_frame": round(along, 3), "ok": bool(ok)})
    return {"adherence": hits / len(rows), "clips": len(rows), "rows": rows}


def toy_captions(pipe: StreamDiTPipeline) -> list[str]:
    """The captions of the toy data the checkpoint was trained on ("a red square moves left", ...), from the
    `training.data` table of its config."""
    data = dict(pipe.config["training"]["data"])
    data.pop("kind", None)
    return ToyShapesConfig(**data).captions()

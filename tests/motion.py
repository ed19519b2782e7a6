"""Motion measurement from generated pixels, shared by tests: the per-frame shift of the scene."""

from __future__ import annotations

import numpy as np


def frame_shift(prev: np.ndarray, nxt: np.ndarray, max_shift: int = 4) -> tuple[int, int]:
    """Integer (dx, dy) that best maps prev onto nxt under a cyclic shift (toy frames wrap around).

    prev, nxt: uint8 [H, W, 3]. Positive dx = content moved right; positive dy = content moved down.
    """
    a, b = prev.astype(np.float32), nxt.astype(np.float32)
    best, arg = np.inf, (0, 0)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            err = np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean()
            if err < best - 1e-6:
                best, arg = err, (dx, dy)
    return arg


def shifts(video: np.ndarray) -> np.ndarray:
    """int [F-1, 2] of (dx, dy) between consecutive frames of uint8 [F, H, W, 3]."""
    return np.array([frame_shift(video[i], video[i + 1]) for i in range(len(video) - 1)])

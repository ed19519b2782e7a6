"""Plain signal measures of generated video (DESIGN.md section 9), shared by evaluation and tests.

- `mean_flow`: mean optical flow (OpenCV Farneback) over a clip, in pixels per frame: the direction the
  scene moves, and the dynamic degree (mean flow magnitude).
- `flicker`: mean absolute difference of consecutive frames, in 8-bit levels.
- `seam_ratio`: mean frame difference across chunk boundaries divided by that within chunks (1.0 = seamless).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sdk.errors import ShapeError


@dataclass
class Flow:
    """Mean optical flow of a clip. dx > 0: content moves right; dy > 0: content moves down (pixels/frame)."""

    dx: float
    dy: float
    magnitude: float  # mean per-pixel flow magnitude, pixels per frame (the dynamic degree)


def _check(video: np.ndarray) -> None:
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) < 2:
        raise ShapeError(f"video must be uint8 [frames >= 2, H, W, 3], got {video.dtype} {list(video.shape)}")


def mean_flow(video: np.ndarray) -> Flow:
    """Farneback optical flow between consecutive frames of uint8 [F, H, W, 3], averaged over the clip."""
    _check(video)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
    flows = [cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=2, winsize=9, iterations=3,
                                          poly_n=5, poly_sigma=1.1, flags=0) for a, b in zip(gray, gray[1:])]
    f = np.stack(flows)  # (F-1, H, W, 2)
    return Flow(float(f[..., 0].mean()), float(f[..., 1].mean()), float(np.linalg.norm(f, axis=-1).mean()))


def flicker(video: np.ndarray) -> float:
    """Mean absolute difference of consecutive frames, 8-bit levels."""
    _check(video)
    v = video.astype(np.float32)
    return float(np.abs(v[1:] - v[:-1]).mean())


def seam_ratio(video: np.ndarray, frames_per_chunk: int) -> float:
    """Mean |frame difference| across chunk boundaries / the same within chunks (needs frames_per_chunk >= 2)."""
    _check(video)
    if frames_per_chunk < 2:
        raise ShapeError(f"seam_ratio needs chunks of at least 2 frames, got {frames_per_chunk}")
    v = video.astype(np.float32)
    d = np.abs(v[1:] - v[:-1]).mean(axis=(1, 2, 3))  # d[i]: frame i -> i+1
    boundary = np.array([(i + 1) % frames_per_chunk == 0 for i in range(len(d))])
    if not boundary.any() or boundary.all():
        raise ShapeError("the clip must span at least one chunk boundary and one within-chunk pair")
    return float(d[boundary].mean() / max(d[~boundary].mean(), 1e-6))

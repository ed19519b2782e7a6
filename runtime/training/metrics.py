"""Plain signal measures of generated video (DESIGN.md section 9), shared by evaluation and tests.

- `mean_flow`: mean optical flow (OpenCV Farneback) over a clip, in pixels per frame: the direction the
  scene moves, and the dynamic degree (mean flow magnitude).
- `flicker`: mean absolute difference of consecutive frames, in 8-bit levels.
- `seam_ratio`: mean frame difference across chunk boundaries divided by that within chunks (1.0 = seamless).
- `global_shift` / `mean_shift`: the whole-frame translation between consecutive frames, found by exhaustive
  search over integer shifts. Crafter's view scrolls by whole 7-pixel tiles (at 64x64) over periodic tile
  textures, which dense Farneback flow mostly misses (it reports ~0.1-0.4 px for a 7 px step); the global
  shift recovers the step exactly wherever the view has any non-periodic structure.
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


def global_shift(video: np.ndarray, *, max_shift: int = 9, blur_sigma: float = 1.0,
                 ignore: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Whole-frame translation between consecutive frames of uint8 [F, H, W, 3], pixels.

    For each pair (a, b) it returns the integer (dx, dy) in [-max_shift, max_shift]^2 minimising the mean
    |b(x + dx, y + dy) - a(x, y)| over the overlap of the two (grey, Gaussian-blurred) frames; dx > 0: the
    content moved right; dy > 0: it moved down. Ties, e.g. a view of uniform periodic texture where every
    tile-sized shift fits equally well, go to the smallest shift, so invisible motion counts as none.

    Args:
        ignore: (y0, y1, x0, x1), a box of frame `a` left out of the error, e.g. a sprite fixed on screen
            (the Crafter player) that would otherwise pin the estimate to zero.

    Returns: float32 [F - 1, 2] of (dx, dy).
    Raises: ShapeError for a video that is not uint8 [F >= 2, H, W, 3] or frames not larger than 2 * max_shift.
    """
    _check(video)
    F, H, W, _ = video.shape
    if min(H, W) <= 2 * max_shift:
        raise ShapeError(f"frames of {H}x{W} are too small for max_shift = {max_shift}")
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]).astype(np.float32)
    if blur_sigma > 0:
        gray = np.stack([cv2.GaussianBlur(g, (0, 0), blur_sigma) for g in gray])
    weight = np.ones((H, W), np.float32)
    if ignore is not None:
        y0, y1, x0, x1 = ignore
        weight[y0:y1, x0:x1] = 0.0
    r = max_shift
    cands = sorted(((dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)),
                   key=lambda d: (abs(d[0]) + abs(d[1]), d))
    a, b = gray[:-1], gray[1:]
    errors = np.empty((len(cands), F - 1), np.float64)
    for k, (dx, dy) in enumerate(cands):
        ya, yb = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
        xa, xb = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
        w = weight[ya, xa]
        diff = np.abs(b[:, yb, xb] - a[:, ya, xa]) * w
        errors[k] = diff.sum(axis=(1, 2)) / max(float(w.sum()), 1.0)
    # the first candidate (smallest shift) within a hair of the best wins the tie
    best = errors.min(axis=0)
    pick = np.argmax(errors <= best[None] + 1e-3, axis=0)
    return np.asarray([cands[k] for k in pick], np.float32).reshape(F - 1, 2)


def mean_shift(video: np.ndarray, **kwargs) -> tuple[float, float]:
    """Mean `global_shift` over a clip, (dx, dy) in pixels per frame (same sign convention as `Flow`)."""
    s = global_shift(video, **kwargs)
    return float(s[:, 0].mean()), float(s[:, 1].mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets float [Na, D] and [Nb, D].

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), the FID formula (Heusel et al. 2017) in whatever
    feature space the caller uses. The matrix square root's trace is computed as the sum of square roots of
    the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which is symmetric, so no complex arithmetic is needed.

    Raises ShapeError when the sets differ in width or either has fewer than 2 rows.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ShapeError(f"need two feature sets [N >= 2, D] of equal D, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root_a @ sb @ root_a
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt)

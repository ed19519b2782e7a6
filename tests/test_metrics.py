"""Video measures: optical-flow direction, flicker, seam ratio."""

import numpy as np
import pytest

from runtime.training.metrics import flicker, mean_flow, seam_ratio
from sdk.errors import ShapeError


def _scrolling(dx: int, frames: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    base = np.repeat(np.repeat(base[::4, ::4], 4, 0), 4, 1)  # blocky texture: trackable
    return np.stack([np.roll(base, dx * i, axis=1)[:, 16:80] for i in range(frames)])


@pytest.mark.parametrize("dx", [-2, 2])
def test_flow_follows_the_scroll_direction(dx):
    f = mean_flow(_scrolling(dx))
    assert np.sign(f.dx) == np.sign(dx) and abs(f.dx) > 1.0 and abs(f.dy) < 0.5 and f.magnitude > 1.0


def test_static_clip_has_no_flow_or_flicker():
    still = np.repeat(_scrolling(0, 1), 6, axis=0)
    assert mean_flow(still).magnitude < 0.01 and flicker(still) == 0.0  # Farneback leaves ~0.002 px of numerical flow


def test_seam_ratio_sees_jumps_at_chunk_boundaries():
    smooth = _scrolling(1, 12)
    jumpy = smooth.copy()
    jumpy[4:] = np.roll(jumpy[4:], 9, axis=2)  # a jump between frames 3 and 4
    jumpy[8:] = np.roll(jumpy[8:], 9, axis=2)
    assert seam_ratio(jumpy, 4) > 1.3 * seam_ratio(smooth, 4)
    with pytest.raises(ShapeError):
        seam_ratio(smooth, 1)
    with pytest.raises(ShapeError):
        mean_flow(smooth[:1])


@pytest.mark.parametrize("dx,dy", [(7, 0), (-7, 0), (0, 3), (-2, -5)])
def test_global_shift_recovers_whole_frame_steps(dx, dy):
    rng = np.random.default_rng(1)
    base = (rng.random((80, 80, 3)) * 255).astype(np.uint8)
    frames = np.stack([np.roll(base, (dy * i, dx * i), axis=(0, 1))[8:72, 8:72] for i in range(4)])
    # a fixed "sprite" in the middle that does not move with the view
    frames[:, 28:36, 28:36] = 255
    from runtime.training.metrics import global_shift, mean_shift
    s = global_shift(frames, ignore=(28, 36, 28, 36))
    assert s.shape == (3, 2) and (s == np.array([dx, dy], np.float32)).all()
    assert mean_shift(frames, ignore=(28, 36, 28, 36)) == (float(dx), float(dy))


def test_global_shift_calls_a_periodic_view_still():
    from runtime.training.metrics import global_shift
    tile = (np.random.default_rng(2).random((7, 7, 3)) * 255).astype(np.uint8)
    grass = np.tile(tile, (12, 12, 1))
    frames = np.stack([np.roll(grass, 7 * i, axis=1)[:64, :64] for i in range(3)])  # identical frames
    assert (global_shift(frames) == 0).all()
    with pytest.raises(ShapeError):
        global_shift(frames[:, :16, :16])

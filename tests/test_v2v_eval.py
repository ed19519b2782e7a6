"""The video-to-video measures (runtime/evaluation/v2v.py, `streamdit eval-v2v`): PSNR and SSIM, the offline
restyle naming its sources, and the structure/motion/brightness measures on clips with known answers."""

import numpy as np
import pytest

from runtime.evaluation.v2v import measure, psnr_u8, restyle, ssim_u8, v2v_table
from runtime.testing import tiny_pipeline
from sdk.errors import ConfigError, ShapeError


def scrolling_clip(frames=16, size=32, seed=0, step=2):
    """A random tile texture scrolling right by `step` px per frame, uint8 [frames, size, size, 3]."""
    rng = np.random.default_rng(seed)
    tiles = rng.integers(0, 256, (size // 4, 3 * size // 4 + 1, 3)).astype(np.uint8)
    world = tiles.repeat(4, 0).repeat(4, 1)  # (size, 3 size + 4, 3)
    return np.stack([np.ascontiguousarray(world[:, 2 * size - k * step: 3 * size - k * step]) for k in range(frames)])


def test_psnr_and_ssim_know_identical_and_different_images():
    a = scrolling_clip(1)[0]
    assert psnr_u8(a, a) == 100.0 and ssim_u8(a, a) == pytest.approx(1.0)
    b = a.copy()
    b[0, 0, 0] ^= 0xFF
    assert 40 < psnr_u8(a, b) < 100
    noise = np.random.default_rng(1).integers(0, 256, a.shape).astype(np.uint8)
    assert ssim_u8(a, noise) < 0.2 < 0.9 < ssim_u8(a, b)


def test_strength_zero_restyles_to_the_source_itself_and_names_every_frame():
    pipe = tiny_pipeline(size=32)  # space-to-depth autoencoder: lossless
    clip = scrolling_clip(16)
    out, idx = restyle(pipe, clip, "a red square", 0.0)
    named = idx >= 0
    assert named.sum() == len(clip) and sorted(set(idx[named].tolist())) == list(range(len(clip)))
    assert all(np.array_equal(out[k], clip[idx[k]]) for k in np.flatnonzero(named))
    m = measure(out, idx, clip, scrolling_clip(16, seed=5))
    assert m.psnr_source == 100.0 and m.ssim_source == pytest.approx(1.0)
    assert m.psnr_unrelated < 15 and m.ssim_unrelated < 0.5
    assert m.shift_error == 0.0 and m.source_shift == pytest.approx(2.0)  # the scroll is followed exactly
    assert m.brightness_change == pytest.approx(0.0)


def test_a_frozen_output_misses_the_scroll_and_a_dark_one_shows_its_brightness():
    clip = scrolling_clip(16)
    idx = np.arange(16)
    frozen = np.repeat(clip[:1], 16, axis=0)  # names each source but never moves
    m = measure(frozen, idx, clip, scrolling_clip(16, seed=5))
    assert m.shift_error == pytest.approx(2.0) and m.source_shift == pytest.approx(2.0)
    dark = (clip // 2).astype(np.uint8)
    assert measure(dark, idx, clip, clip).brightness_change < -20
    none = measure(clip, np.full(16, -1), clip, clip)
    assert none.frames == 0 and none.psnr_source is None


def test_strength_one_names_nothing_and_bad_input_is_refused():
    pipe = tiny_pipeline(size=32)
    clip = scrolling_clip(16)
    out, idx = restyle(pipe, clip, "a red square", 1.0)
    assert (idx == -1).all() and len(out) >= len(clip)  # text-only: no source frame is restyled
    with pytest.raises(ShapeError, match="multiple of"):
        restyle(pipe, clip[:3], "a red square", 0.5)
    with pytest.raises(ConfigError, match="strength"):
        restyle(pipe, clip, "a red square", 1.5)
    with pytest.raises(ConfigError, match="two held-out clips"):
        v2v_table(pipe, [clip], prompts=("a red square",))


def test_the_table_has_a_row_per_prompt_and_strength():
    pipe = tiny_pipeline(size=32)
    rows = v2v_table(pipe, [scrolling_clip(8, seed=1), scrolling_clip(8, seed=2)], strengths=(0.0, 0.5),
                     prompts=("a red square", "a blue square"))
    assert [(r["prompt"], r["strength"]) for r in rows] == [("a red square", 0.0), ("a red square", 0.5),
                                                            ("a blue square", 0.0), ("a blue square", 0.5)]
    assert rows[0]["psnr_source"] == 100.0 and rows[0]["frames"] == 16
    assert rows[1]["effective"] == 0.5 and rows[1]["psnr_source"] < 100.0


def test_the_command_refuses_bad_strengths_with_the_fix():
    from typer.testing import CliRunner

    from runtime.cli import app

    res = CliRunner().invoke(app, ["eval-v2v", "--strengths", "0.5,2"])
    assert res.exit_code != 0 and "each strength is in [0, 1]" in res.output
    res = CliRunner().invoke(app, ["eval-v2v", "--strengths", "half"])
    assert res.exit_code != 0 and "comma separated" in res.output

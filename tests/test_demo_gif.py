"""samples/demo_gif.py (the README's clip from a `streamdit demo` MP4) on a tiny synthetic MP4."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdk.errors import ConfigError
from sdk.video_io import write_mp4

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("demo_gif", ROOT / "samples" / "demo_gif.py")
demo_gif = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_gif)


def _video(tmp_path: Path, n: int = 20, fps: float = 10.0) -> Path:
    frames = np.zeros((n, 16, 32, 3), np.uint8)
    for i in range(n):
        frames[i, :, : i + 1] = (255, 0, 0)  # a red bar one column wider per frame: the frame's index
    return write_mp4(tmp_path / "demo.mp4", frames, fps)


def test_gif_keeps_the_window_at_its_rate_and_scale(tmp_path: Path) -> None:
    mp4 = _video(tmp_path)
    gif = tmp_path / "out" / "clip.gif"
    assert demo_gif.main([str(mp4), str(gif), "--start", "0.5", "--seconds", "1", "--fps", "5",
                          "--scale", "2", "--colors", "16"]) == 0
    im = Image.open(gif)
    assert im.n_frames == 5 and im.size == (64, 32)
    assert im.info["duration"] == 200 and im.info["loop"] == 0
    widths = []
    for k in range(im.n_frames):
        im.seek(k)
        rgb = np.asarray(im.convert("RGB"))
        widths.append(int((rgb[16, :, 0] > 128).sum()) // 2)  # red columns, at scale 2
    assert widths == [6, 8, 10, 12, 14]  # source frames 5, 7, 9, 11, 13: every other frame from 0.5 s


def test_select_past_the_end_and_bad_options_say_what_to_do(tmp_path: Path) -> None:
    frames = np.zeros((10, 4, 4, 3), np.uint8)
    with pytest.raises(ConfigError, match="past its end"):
        demo_gif.select(frames, 10.0, start=2.0, seconds=1.0, fps=5.0)
    with pytest.raises(ConfigError, match="fps"):
        demo_gif.select(frames, 10.0, start=0.0, seconds=1.0, fps=0.0)
    with pytest.raises(ConfigError, match="colors"):
        demo_gif.write_gif(tmp_path / "x.gif", frames, 5.0, colors=1)
    with pytest.raises(ConfigError, match="streamdit demo"):
        demo_gif.main([str(tmp_path / "missing.mp4"), str(tmp_path / "x.gif")])
    assert not (tmp_path / "x.gif").exists()


def test_scale_nearest_repeats_pixels() -> None:
    frames = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    out = demo_gif.scale_nearest(frames, 3)
    assert out.shape == (2, 6, 6, 3)
    assert (out[:, ::3, ::3] == frames).all() and (out[:, 2::3, 2::3] == frames).all()

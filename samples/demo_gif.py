"""Cut a GIF out of a `streamdit demo` MP4: the game left, the stream right, the prompt in effect under each.

The README's clip (docs/images/demo.gif) is made with it; docs/results.md gives the exact commands:

    streamdit demo --seconds 14 --out out/demo.mp4
    python samples/demo_gif.py out/demo.mp4 docs/images/demo.gif --start 4 --seconds 8

The demo's panels are already nearest-neighbour upscaled (runtime/crafter_demo.py, PANEL pixels a side), so the
72x72 pixels stay visible; `--scale` shrinks or enlarges the whole frame further, again nearest-neighbour.
Frames are sampled at `--fps` and share one palette of `--colors` colours (no dithering), which keeps the file to
a few hundred KB. The GIF is written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, str(ROOT))

from sdk.errors import ConfigError  # noqa: E402
from sdk.video_io import read_mp4  # noqa: E402


def select(frames: np.ndarray, src_fps: float, *, start: float, seconds: float, fps: float) -> np.ndarray:
    """Frames uint8 [F, H, W, 3] at `src_fps` -> those from `start` s for `seconds` s, sampled at `fps` (Hz).

    Raises ConfigError when the window holds no frame or a rate or duration is not positive.
    """
    if src_fps <= 0 or fps <= 0 or seconds <= 0 or start < 0:
        raise ConfigError(f"need src_fps, fps, seconds > 0 and start >= 0; got src_fps={src_fps}, fps={fps}, "
                          f"seconds={seconds}, start={start}")
    times = start + np.arange(int(round(seconds * fps))) / fps  # seconds
    idx = np.floor(times * src_fps + 1e-6).astype(int)
    idx = idx[idx < len(frames)]
    if len(idx) == 0:
        raise ConfigError(f"the video holds {len(frames) / src_fps:.1f} s; --start {start:g} is past its end "
                          f"(use a smaller --start, or a longer `streamdit demo --seconds`)")
    return frames[idx]


def scale_nearest(frames: np.ndarray, scale: float) -> np.ndarray:
    """uint8 [F, H, W, 3] -> [F, round(H*scale), round(W*scale), 3] by nearest-neighbour sampling."""
    if scale <= 0:
        raise ConfigError(f"--scale must be > 0, got {scale}")
    if scale == 1:
        return frames
    _, h, w, _ = frames.shape
    rows = np.minimum((np.arange(round(h * scale)) / scale).astype(int), h - 1)
    cols = np.minimum((np.arange(round(w * scale)) / scale).astype(int), w - 1)
    return frames[:, rows][:, :, cols]


def write_gif(path: str | Path, frames: np.ndarray, fps: float, *, colors: int = 64) -> Path:
    """Write uint8 [F, H, W, 3] frames as a looping GIF at `fps` (Hz) with one shared palette. Returns the path.

    Raises ConfigError for `colors` outside [2, 256] or no frames.
    """
    from PIL import Image

    if not 2 <= colors <= 256:
        raise ConfigError(f"--colors must be in [2, 256], got {colors}")
    if len(frames) == 0:
        raise ConfigError("no frames to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One palette from a strip of sampled frames, so colours do not flicker from frame to frame.
    sample = np.concatenate(list(frames[:: max(1, len(frames) // 8)]), axis=0)
    palette = Image.fromarray(sample).quantize(colors, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gif", dir=path.parent)
    os.fchmod(fd, 0o644)
    os.close(fd)
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=round(1000 / fps), optimize=True, disposal=1)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def video_fps(path: str | Path) -> float:
    """The frame rate (Hz) an MP4's header gives."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    return float(meta["fps"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mp4", type=Path, help="the MP4 `streamdit demo --out` wrote")
    p.add_argument("gif", type=Path, help="the GIF to write")
    p.add_argument("--start", type=float, default=4.0, help="seconds into the video to begin")
    p.add_argument("--seconds", type=float, default=8.0, help="seconds of video to keep")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of the GIF")
    p.add_argument("--scale", type=float, default=1.0, help="nearest-neighbour scale of the whole frame")
    p.add_argument("--colors", type=int, default=64, help="palette size, 2 to 256")
    a = p.parse_args(argv)
    if not a.mp4.is_file():
        raise ConfigError(f"{a.mp4} is not a file; make it with `streamdit demo --out {a.mp4}`")
    frames = select(read_mp4(a.mp4), video_fps(a.mp4), start=a.start, seconds=a.seconds, fps=a.fps)
    frames = scale_nearest(frames, a.scale)
    out = write_gif(a.gif, frames, a.fps, colors=a.colors)
    print(f"wrote {out}: {len(frames)} frames, {frames.shape[2]}x{frames.shape[1]} px, {a.fps:g} FPS, "
          f"{out.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

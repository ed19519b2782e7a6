"""Video files: MP4 writing and reading through imageio-ffmpeg, atomically (a temporary file, then os.replace).

Part of the client (numpy and imageio-ffmpeg only, no torch): `sdk.Session.record` and the runtime's commands both
write MP4s with it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from sdk.errors import ShapeError


def upscale_nearest(frame: np.ndarray, scale: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [H*scale, W*scale, 3] by pixel repetition (keeps small frames crisp)."""
    return frame if scale == 1 else frame.repeat(scale, axis=0).repeat(scale, axis=1)


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, *, scale: int = 1,
              quality: int = 8) -> Path:
    """Write uint8 RGB frames [H, W, 3] to an H.264 MP4. Returns the path.

    scale: integer nearest-neighbour upscaling. The file appears only when complete, mode 0644. Raises ShapeError on a
    frame that is not uint8 [H, W, 3] or whose size differs from the first frame.
    """
    import imageio_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.fchmod(fd, 0o644)  # not mkstemp's private 0600
    os.close(fd)
    writer = None
    size = None
    try:
        for frame in frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ShapeError(f"frames must be uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
            frame = upscale_nearest(frame, scale)
            if writer is None:
                size = frame.shape[:2]
                writer = imageio_ffmpeg.write_frames(tmp, (size[1], size[0]), fps=fps, quality=quality,
                                                     macro_block_size=1, pix_fmt_out="yuv420p",
                                                     ffmpeg_log_level="error")
                writer.send(None)
            elif frame.shape[:2] != size:
                raise ShapeError(f"frame size changed from {size} to {frame.shape[:2]}")
            writer.send(np.ascontiguousarray(frame))
        if writer is None:
            raise ShapeError("no frames to write")
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        Path(tmp).unlink(missing_ok=True)
    return path


def read_mp4(path: str | Path) -> np.ndarray:
    """Read an MP4 as uint8 [F, H, W, 3]."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader])

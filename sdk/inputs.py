"""Checks on what a game hands a Session, before anything goes on the wire: the prompt map argument, and the
video-to-video source frames and strengths (docs/protocol.md, `source_frame`).

Each check raises a clear error naming the problem and the fix (ConfigError, ShapeError), so that a game
learns of a bad argument at the call, not later from an asynchronous runtime error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from sdk.errors import ConfigError, ShapeError
from sdk.protocol import messages as m


def read_prompt_map(prompt_map: str | os.PathLike | None) -> str:
    """Session's prompt_map argument -> TOML text. TOML text is returned as it is; an os.PathLike, or a str of
    one line that ends in ".toml", names a file, which is read (UTF-8). Raises ConfigError naming the path when
    that file does not exist or cannot be read."""
    if prompt_map is None:
        return ""
    is_path = isinstance(prompt_map, os.PathLike) or (
        isinstance(prompt_map, str) and "\n" not in prompt_map and prompt_map.strip().lower().endswith(".toml"))
    if not is_path:
        return str(prompt_map)
    path = Path(os.fspath(prompt_map).strip()).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"prompt map file {path} does not exist: pass the path of an existing .toml file, or the "
                          f"TOML text itself") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the prompt map file {path} ({type(e).__name__}: {e}); pass a readable "
                          f"UTF-8 .toml file, or the TOML text itself") from None


def check_strength(strength: Any, name: str = "strength") -> float:
    """A video-to-video strength -> float in [0, 1] (0 = the source back through the autoencoder, 1 = text-only
    generation). Raises ConfigError naming `name` for a non-number, NaN, or a value outside [0, 1]."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.floating, np.integer)):
        raise ConfigError(f"{name} must be a number in [0, 1], got {type(strength).__name__} {strength!r}")
    value = float(strength)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ConfigError(f"{name} must be in [0, 1] (0 = keep the source, 1 = text-only), got {value!r}")
    return value


def source_frame(pixels: Any, width: int, height: int, *, frame_index: int, strength: float | None = None,
                 anchor: bool = False) -> m.SourceFrame:
    """A game frame -> the SourceFrame message that carries it (its pixels copied, so the caller may reuse
    its array at once).

    pixels: numpy uint8 array of shape (height, width, 3), RGB, rows top to bottom (any strides; it is made
    contiguous). width, height: the session's frame size in pixels (HandshakeReply.width / height).
    strength: None keeps the session's strength; else in [0, 1]. anchor: restart the stream from this frame.
    Raises ShapeError for another type, dtype, channel count or size (the message names the conversion to
    make), ConfigError for a bad strength.
    """
    if not isinstance(pixels, np.ndarray):
        raise ShapeError(f"pixels must be a numpy uint8 array of shape ({height}, {width}, 3), got "
                         f"{type(pixels).__name__}: convert it with np.asarray(image, dtype=np.uint8)")
    if pixels.dtype != np.uint8:
        fix = ("scale floats in [0, 1] with (pixels * 255).clip(0, 255).astype(np.uint8)"
               if np.issubdtype(pixels.dtype, np.floating) else "convert it with pixels.astype(np.uint8)")
        raise ShapeError(f"pixels must be uint8 (0-255 per channel), got dtype {pixels.dtype}: {fix}")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        fix = ("drop the alpha channel with pixels[..., :3]" if pixels.ndim == 3 and pixels.shape[2] == 4
               else "give one RGB frame, 3 channels last")
        raise ShapeError(f"pixels must have shape (height, width, 3) = ({height}, {width}, 3), got "
                         f"{pixels.shape}: {fix}")
    if pixels.shape[:2] != (height, width):
        raise ShapeError(f"pixels are {pixels.shape[1]}x{pixels.shape[0]} (width x height); this session takes "
                         f"{width}x{height} (session.info.width / height): resize the frame to that size first")
    if strength is not None:
        strength = check_strength(strength)
    return m.SourceFrame(frame_index=int(frame_index), width=width, height=height, pixel_format=m.PIXEL_FORMAT,
                         pixels=np.ascontiguousarray(pixels).tobytes(), strength=strength, anchor=bool(anchor))

"""`sdk.Recorder`: record a game's own footage and events in the recording format (docs/recording.md).

    import sdk
    with sdk.Recorder("recordings/run1", game="my game", fps=16) as rec:
        for step in range(1000):
            rec.event("player_turns_left", {"degrees": 30})   # shows from the next recorded frame on
            rec.frame(pixels)                                 # uint8 (H, W, 3)
            if episode_over:
                rec.new_shard()                               # one shard per episode

Each shard is written into `NAME.partial/` and renamed to `NAME/` when it is closed, so an interrupted
recording keeps every shard it closed. NumPy only: no torch, no runtime.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from sdk._version import __version__
from sdk.errors import ConfigError, ShapeError

FORMAT = "streamdit-recording"
VERSION = 1
MAX_EVENT_TYPE = 64
EVENT_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHARD = re.compile(r"^shard-(\d+)(\.partial)?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a shard folder or an attached file name (no dots)
_RESERVED = {"frames.rgb", "events.jsonl", "manifest.json"}


def check_event(event_type: Any, payload: Any) -> dict[str, Any]:
    """Validate one event as docs/recording.md defines it; returns the payload as a new dict.

    Raises:
        ConfigError: `event_type` is not a snake_case name of at most 64 characters, or `payload` is not a
            map of str -> str | int | float | bool.
    """
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type) or len(event_type) > MAX_EVENT_TYPE:
        raise ConfigError(f"event type {str(event_type)[:80]!r} is not a name: use letters, digits and '_', "
                          f"starting with a letter or '_', at most {MAX_EVENT_TYPE} characters")
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise ConfigError(f"the payload of {event_type!r} must be a dict, got {type(payload).__name__}")
    for k, v in payload.items():
        if not isinstance(k, str) or not isinstance(v, (str, int, float, bool)):
            raise ConfigError(f"payload of {event_type!r}: key {str(k)[:40]!r} must be a str with a str, int, "
                              f"float or bool value, got {type(v).__name__}")
    return dict(payload)


class Recorder:
    """Writes a recording: a folder of shards of raw RGB frames plus an events log (docs/recording.md).

    Args:
        path: the recording's folder; created if missing. Shards already in it are kept; new ones take the
            next free number.
        game: the game's name (free text, stored in each manifest).
        fps: frames per second of game time between recorded frames (> 0).
        vocabulary: the vocabulary file (path or name) the game's event types come from, or None.

    The frame size is fixed by the first frame of the recording. Use as a context manager, or call
    `close()`: an unclosed shard stays `.partial` and readers skip it.

    Raises:
        ConfigError: fps <= 0, or a bad event type or payload (see `check_event`).
        ShapeError: a frame that is not uint8 (H, W, 3), or not the recording's size.
    """

    def __init__(self, path: str | os.PathLike[str], *, game: str, fps: float,
                 vocabulary: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(fps, (int, float)) or not fps > 0 or fps != fps or fps == float("inf"):
            raise ConfigError(f"fps must be a finite number > 0 (frames per second of game time), got {fps!r}")
        self.path = Path(path)
        self.game = str(game)
        self.fps = float(fps)
        self.vocabulary = None if vocabulary is None else str(vocabulary)
        self.size: tuple[int, int] | None = None  # (height, width) in pixels, set by the first frame
        self.shards: list[Path] = []  # closed shards, in order
        self._dir: Path | None = None  # the open shard's .partial folder
        self._frames_file: BinaryIO | None = None
        self._events_file: TextIO | None = None
        self._frames = 0
        self._events = 0
        self._pending: list[tuple[str, dict[str, Any]]] = []  # events waiting for the next frame
        self._next_name: str | None = None  # the folder name the next shard takes (name_shard), else shard-NNNNN
        self._closed = False

    # -- writing ------------------------------------------------------------------------------------
    def frame(self, pixels: np.ndarray) -> int:
        """Append one frame (uint8 (H, W, 3), RGB) to the open shard; returns its index in the shard."""
        self._check_open()
        a = np.asarray(pixels)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ShapeError(f"a frame must be uint8 (H, W, 3) RGB, got {a.dtype} {a.shape}; convert with "
                             f"np.asarray(image, dtype=np.uint8)[..., :3]")
        if self.size is None:
            self.size = (int(a.shape[0]), int(a.shape[1]))
        elif a.shape[:2] != self.size:
            raise ShapeError(f"frame {self._frames} is {a.shape[1]}x{a.shape[0]} px; this recording is "
                             f"{self.size[1]}x{self.size[0]}: resize it, or start another Recorder")
        self._ensure_shard()
        assert self._frames_file is not None and self._events_file is not None
        for event_type, payload in self._pending:  # events pushed since the last frame show from this one
            self._events_file.write(json.dumps({"frame": self._frames, "type": event_type, "payload": payload},
                                               separators=(",", ":")) + "\n")
            self._events += 1
        self._pending.clear()
        self._frames_file.write(np.ascontiguousarray(a).tobytes())
        self._frames += 1
        return self._frames - 1

    def event(self, event_type: str, payload: dict[str, Any] | None = None) -> None:
        """Record an event; it is stamped with the index of the next frame recorded (docs/recording.md)."""
        self._check_open()
        self._pending.append((event_type, check_event(event_type, payload)))

    def name_shard(self, name: str) -> None:
        """Name the shard that the next frame opens `name/` instead of the next free `shard-NNNNN/` (a capture
        that numbers its shards by episode, so that a rerun can record a missing one in its place).

        Raises ConfigError: a name that is not letters, digits, '_' and '-' (at most 64, no dots), a shard is
        already open (call `new_shard()` first), or `name/` or `name.partial/` already exists."""
        self._check_open()
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"shard name {str(name)[:80]!r}: use letters, digits, '_' and '-' (at most 64, "
                              f"starting with a letter or digit)")
        if self._dir is not None:
            raise ConfigError(f"shard {self._dir.name} is open: call new_shard() before naming the next one")
        for taken in (self.path / name, self.path / f"{name}.partial"):
            if taken.exists():
                raise ConfigError(f"{taken} already exists: delete it to record that shard again, or pick "
                                  f"another name")
        self._next_name = name

    def attach(self, filename: str, data: bytes) -> None:
        """Add a file of the recorder's own (e.g. a game's state per frame) to the open shard. It is written
        before the manifest, so it appears with the shard, whole, or not at all; readers of the format ignore
        it (docs/recording.md, "Other files").

        Raises ConfigError: no shard is open (record a frame first), a name the format uses or that is not
        NAME.EXT of letters, digits, '_' and '-', or a file of that name already attached."""
        self._check_open()
        stem, dot, ext = filename.partition(".") if isinstance(filename, str) else ("", "", "")
        if filename in _RESERVED or not (_NAME.match(stem) and dot and _NAME.match(ext)):
            raise ConfigError(f"attached file name {str(filename)[:80]!r}: use NAME.EXT (letters, digits, '_', "
                              f"'-'), not one of {sorted(_RESERVED)}")
        if self._dir is None:
            raise ConfigError(f"no shard is open to attach {filename} to: record a frame first")
        target = self._dir / filename
        if target.exists():
            raise ConfigError(f"{filename} is already attached to shard {self._dir.name}")
        with open(target, "wb") as f:
            f.write(bytes(data))
            f.flush()
            os.fsync(f.fileno())

    def new_shard(self) -> Path | None:
        """Close the open shard (an episode ended); the next frame starts a new one. Returns the closed shard."""
        self._check_open()
        return self._close_shard()

    def close(self) -> list[Path]:
        """Close the open shard; returns every shard this recorder closed. Closing twice is harmless."""
        if not self._closed:
            self._close_shard()
            self._closed = True
        return list(self.shards)

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shards -------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("this Recorder is closed: start a new one to record more")

    def _ensure_shard(self) -> None:
        if self._dir is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if self._next_name is not None:
            self._dir, self._next_name = self.path / f"{self._next_name}.partial", None
        else:
            taken = [int(m.group(1)) for p in self.path.iterdir() if (m := _SHARD.match(p.name))]
            self._dir = self.path / f"shard-{max(taken, default=-1) + 1:05d}.partial"
        self._dir.mkdir()
        self._frames_file = open(self._dir / "frames.rgb", "wb")
        self._events_file = open(self._dir / "events.jsonl", "w", encoding="utf-8")
        self._frames = self._events = 0

    def _close_shard(self) -> Path | None:
        if self._dir is None:
            self._pending.clear()  # no frame in this shard: nothing could show these events
            return None
        assert self._frames_file is not None and self._events_file is not None and self.size is not None
        after_last = len(self._pending)
        self._pending.clear()
        for f in (self._frames_file, self._events_file):
            f.flush()
            os.fsync(f.fileno())
            f.close()
        manifest = {
            "format": FORMAT, "version": VERSION, "game": self.game, "fps": self.fps,
            "width": self.size[1], "height": self.size[0], "frames": self._frames, "events": self._events,
            "events_after_last_frame": after_last, "vocabulary": self.vocabulary,
            "recorder": f"sdk.Recorder {__version__}",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(self._dir / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        final = self._dir.with_name(self._dir.name[: -len(".partial")])
        os.replace(self._dir, final)  # the shard appears whole or not at all
        self.shards.append(final)
        self._dir, self._frames_file, self._events_file = None, None, None
        return final

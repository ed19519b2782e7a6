"""Read and validate recordings (docs/recording.md): good shards are returned, bad ones skipped by name.

    report = read_recording("recordings/run1", multiple_of=8)
    for shard in report.shards:
        frames = shard.frames()            # uint8 (N, H, W, 3), memory-mapped
        for e in shard.events: ...         # RecordedEvent(frame, type, payload)
    for name, why in report.skipped: log.warning("skipped %s: %s", name, why)

NumPy only. The writer is `sdk.Recorder`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdk.errors import ConfigError, DataError
from sdk.recorder import FORMAT, VERSION, check_event

_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,), "version": (int,), "game": (str,), "fps": (int, float), "width": (int,), "height": (int,),
    "frames": (int,), "events": (int,),
}


@dataclass(frozen=True)
class RecordedEvent:
    """One line of events.jsonl: the event shows from frame `frame` (0-based, within its shard) on."""

    frame: int
    type: str
    payload: dict[str, Any]


@dataclass
class Shard:
    """A validated shard: its manifest, events, and a memory map of its frames."""

    path: Path
    manifest: dict[str, Any]
    events: list[RecordedEvent]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def num_frames(self) -> int:
        return int(self.manifest["frames"])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.manifest["height"]), int(self.manifest["width"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    def frames(self) -> np.ndarray:
        """The frames, uint8 (N, H, W, 3), memory-mapped read-only (N = 0 gives an empty array)."""
        h, w = self.size
        if self.num_frames == 0:
            return np.zeros((0, h, w, 3), np.uint8)
        return np.memmap(self.path / "frames.rgb", dtype=np.uint8, mode="r", shape=(self.num_frames, h, w, 3))


@dataclass
class RecordingReport:
    """What `read_recording` found: the good shards in name order, and (name, reason) for each bad one."""

    path: Path
    shards: list[Shard] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return sum(s.num_frames for s in self.shards)


def read_shard(path: str | Path, *, multiple_of: int = 1) -> Shard:
    """Validate one shard folder and return it.

    Args:
        path: the shard's folder (`shard-00000/`).
        multiple_of: the frame width and height must be multiples of this (the autoencoder's spatial
            factor, pixels); 1 accepts any size.

    Raises:
        DataError: naming the shard, what is wrong, and the fix (docs/recording.md, "Reading and validating").
    """
    path = Path(path)
    name = path.name

    def bad(why: str) -> DataError:
        return DataError(f"shard {name}: {why}")

    if name.endswith(".partial"):
        raise bad("it is incomplete (the recording was interrupted before this shard was closed): delete "
                  "the folder, or record that part again")
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise bad("no manifest.json (written last, when a shard is closed): the shard was not closed by its "
                  "writer; record it again")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"manifest.json is not readable JSON ({e}); record the shard again") from None
    if not isinstance(manifest, dict):
        raise bad("manifest.json must hold a JSON object (docs/recording.md, 'Manifest')")
    for key, types in _MANIFEST_TYPES.items():
        v = manifest.get(key)
        if v is None or isinstance(v, bool) or not isinstance(v, types):
            raise bad(f"manifest.json key {key!r} must be {' or '.join(t.__name__ for t in types)}, got {v!r} "
                      f"(docs/recording.md, 'Manifest')")
    if manifest["format"] != FORMAT:
        raise bad(f"manifest.json format is {manifest['format']!r}, not {FORMAT!r}: this is not a recording shard")
    if manifest["version"] != VERSION:
        raise bad(f"format version {manifest['version']} is not one this reader knows ({VERSION}): update "
                  f"streamdit, or re-record with this version")
    if not (math.isfinite(manifest["fps"]) and manifest["fps"] > 0):
        raise bad(f"manifest.json fps must be > 0, got {manifest['fps']}")
    w, h, n = manifest["width"], manifest["height"], manifest["frames"]
    if w < 1 or h < 1 or n < 0:
        raise bad(f"manifest.json says {w}x{h} px and {n} frames: width and height must be >= 1, frames >= 0")
    if multiple_of > 1 and (w % multiple_of or h % multiple_of):
        raise bad(f"frames are {w}x{h} px; the autoencoder takes sides that are multiples of {multiple_of} px: "
                  f"record at a size such as {max(multiple_of, w // multiple_of * multiple_of)}x"
                  f"{max(multiple_of, h // multiple_of * multiple_of)}, or resize the frames")
    fpath = path / "frames.rgb"
    want = n * w * h * 3
    try:
        have = fpath.stat().st_size
    except OSError as e:
        raise bad(f"frames.rgb cannot be read ({e.strerror}); record the shard again") from None
    if have != want:
        raise bad(f"frames.rgb holds {have:,} bytes ({have / (w * h * 3):.2f} frames of {w}x{h} px) where the "
                  f"manifest says {n} frames ({want:,} bytes): the file is truncated or damaged; record the "
                  f"shard again")
    events: list[RecordedEvent] = []
    epath = path / "events.jsonl"
    try:
        lines = epath.read_text(encoding="utf-8").splitlines() if epath.exists() else []
    except (OSError, UnicodeDecodeError) as e:
        raise bad(f"events.jsonl cannot be read ({e}); record the shard again") from None
    last = 0
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError as err:
            raise bad(f"events.jsonl line {i} is not JSON ({err.msg})") from None
        if not isinstance(e, dict) or not isinstance(e.get("frame"), int) or isinstance(e.get("frame"), bool):
            raise bad(f"events.jsonl line {i} must be an object with an integer 'frame', 'type' and 'payload'")
        try:
            payload = check_event(e.get("type"), e.get("payload"))
        except ConfigError as err:
            raise bad(f"events.jsonl line {i}: {err}") from None
        f = e["frame"]
        if not 0 <= f < n:
            raise bad(f"events.jsonl line {i} points at frame {f}, but the shard has {n} frames (0..{n - 1}): "
                      f"an event index past the last frame (or negative); fix the writer's frame count")
        if f < last:
            raise bad(f"events.jsonl line {i} is at frame {f} after an event at frame {last}: events must be "
                      f"in frame order")
        last = f
        events.append(RecordedEvent(f, e["type"], payload))
    if len(events) != manifest["events"]:
        raise bad(f"events.jsonl has {len(events)} events where the manifest says {manifest['events']}: the "
                  f"events log is truncated or damaged; record the shard again")
    return Shard(path, manifest, events)


def read_recording(path: str | Path, *, multiple_of: int = 1) -> RecordingReport:
    """Validate every shard of a recording; bad shards are skipped and reported, the rest returned.

    Args:
        path: the recording's folder, or a folder of recordings (shards are found one level down, too).
        multiple_of: see `read_shard`.

    Returns:
        RecordingReport with the good shards in name order and (name, reason) for each skipped one.

    Raises:
        DataError: the folder does not exist, holds no shard, or holds no good shard (every reason listed).
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"recording {root} does not exist: record one with sdk.Recorder (docs/recording.md)")
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and (p / "frames.rgb").exists()
                        or p.is_dir() and p.name.endswith(".partial"))
    if not candidates:  # a folder of recordings
        candidates = sorted(q for p in root.iterdir() if p.is_dir() for q in p.iterdir()
                            if q.is_dir() and ((q / "frames.rgb").exists() or q.name.endswith(".partial")))
    report = RecordingReport(root)
    for p in candidates:
        try:
            report.shards.append(read_shard(p, multiple_of=multiple_of))
        except DataError as e:
            report.skipped.append((str(p.relative_to(root)), str(e)))
    if not report.shards:
        why = "; ".join(r for _, r in report.skipped) or "it holds no shard folders"
        raise DataError(f"recording {root} has no usable shard: {why}")
    return report


FINGERPRINTED = ("frames.rgb", "events.jsonl")
"""The files of each shard whose bytes `content_fingerprint` hashes: the content, not the manifest (which holds
the time it was written and the vocabulary's path on the recording machine)."""


def content_fingerprint(path: str | Path) -> str:
    """A short identity of a recording's content, to tell whether two measurements used the same data.

    path: a recording or capture folder (shards are its subfolders holding frames.rgb, e.g. `episode_00000/`).
    Returns "sha256:" and the first 16 hex digits of SHA-256 over each shard's relative name and the bytes of
    its FINGERPRINTED files, shards in name order; the same data gives the same fingerprint on any machine and
    at any path (a Crafter capture is byte-identical from its seed: runtime/training/data/crafter_env.py).
    About 2 s per GB. Raises DataError when the folder holds no shard.
    """
    root = Path(path)
    shards = sorted(p.parent for p in root.glob("*/frames.rgb")) if root.is_dir() else []
    if not shards:
        raise DataError(f"{root} holds no shard (no */frames.rgb): pass a recording or capture folder")
    h = hashlib.sha256()
    for shard in shards:
        for name in FINGERPRINTED:
            f = shard / name
            h.update(f"{shard.name}/{name}:{f.stat().st_size if f.exists() else -1}\n".encode())
            if f.exists():
                with open(f, "rb") as fh:
                    while block := fh.read(1 << 24):
                        h.update(block)
    return "sha256:" + h.hexdigest()[:16]

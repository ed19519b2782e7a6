"""Read captioned Crafter clips from a capture (a recording, see `capture.py`), through the one recording reader."""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from runtime.data.recording import read_shard
from runtime.data.split import split_episodes  # noqa: F401  (re-exported: the capture's readers use it from here)
from runtime.training.data.capture import check_not_v1, episode_shards, read_episode
from runtime.training.data.captioner import Event, dominant_events
from sdk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CAPTURE_COMMAND = "streamdit data crafter --episodes 100 --size 72 --out DIR"
Clip = tuple[np.ndarray, str, list[str]]


class CrafterClips:
    """Clips of consecutive frames with their captions, from the complete shards of one split.

    Item i is `(frames, caption, event_types)`: frames uint8 [clip_frames, H, W, 3] (RGB, H = W = the
    capture size), the caption of the clip (`caption_window` over the clip's per-step events), and the event
    types behind that caption, in caption order (actor, scene, time), e.g. ["player_moves_left", "night"].

    Args:
        root: a capture directory (a recording of `episode_NNNNN/` shards, `streamdit data crafter`).
        clip_frames: frames per clip.
        split: "train" or "heldout"; episodes are split deterministically (`split_episodes`).
        heldout_fraction: share of episodes held out, in [0, 1].
        stride: frames between clip starts within an episode; default clip_frames // 2.
        cache_episodes: decoded episodes kept in memory (each is T * H * W * 3 bytes).

    A missing or corrupted shard is skipped with a warning naming it; the others are kept.

    Raises:
        ConfigError: bad arguments.
        DataError: no shard of the split is readable (the message says how to capture data), or a shard
            that indexed fine fails when its frames are read.
    """

    def __init__(self, root: str | Path, clip_frames: int, split: Literal["train", "heldout"] = "train",
                 heldout_fraction: float = 0.1, stride: int | None = None, cache_episodes: int = 4) -> None:
        if split not in ("train", "heldout"):
            raise ConfigError(f"split must be 'train' or 'heldout', got {split!r}")
        if clip_frames < 1 or not 0.0 <= heldout_fraction <= 1.0:
            raise ConfigError(f"need clip_frames >= 1 and heldout_fraction in [0, 1]; got clip_frames="
                              f"{clip_frames}, heldout_fraction={heldout_fraction}")
        self.root = Path(root)
        self.clip_frames = clip_frames
        self.stride = stride if stride is not None else max(clip_frames // 2, 1)
        if self.stride < 1:
            raise ConfigError(f"stride must be >= 1, got {self.stride}")
        self.split = split
        self.skipped: list[str] = []  # shard names left out, with the reason logged
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._shards: dict[str, Path] = {}
        self._cache_size = max(cache_episodes, 1)
        self._episodes: list[tuple[str, list[list[Event]]]] = []
        self._index: list[tuple[int, int]] = []  # (episode number in self._episodes, start frame)

        check_not_v1(self.root)
        names = [p.name for p in episode_shards(self.root)] if self.root.is_dir() else []
        for partial in sorted(self.root.glob("episode_*.partial")) if self.root.is_dir() else []:
            self._skip(partial.name, "an interrupted capture: rerun it, or delete the folder")
        train, heldout = split_episodes(names, heldout_fraction)
        for name in train if split == "train" else heldout:
            self._add_episode(name)
        if not self._index:
            raise DataError(
                f"no readable {split} clips of {clip_frames} frames in {self.root} ({len(names)} shards, "
                f"{len(self.skipped)} skipped: {', '.join(self.skipped) or 'none'}); make the data with "
                f"`{CAPTURE_COMMAND}`")

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(name)
        message = f"skipping Crafter shard {name}: {reason}"
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _add_episode(self, name: str) -> None:
        try:
            shard, meta, events = read_episode(self.root / name)
            steps = shard.num_frames
        except (DataError, OSError, ValueError, KeyError, TypeError) as e:
            self._skip(name, str(e))
            return
        self._shards[name] = shard.path
        number = len(self._episodes)
        self._episodes.append((name, events))
        self._index.extend((number, s) for s in range(0, steps - self.clip_frames + 1, self.stride))

    @property
    def episodes(self) -> list[str]:
        """Shard names in this split that were indexed."""
        return [name for name, _ in self._episodes]

    def episode(self, number: int) -> tuple[str, np.ndarray, list[list[Event]]]:
        """Episode `number` of this split whole: (shard name, frames uint8 [steps, H, W, 3], events per step).

        frames[i] is the observation after step i + 1, so events[i] describe frames[i - 1] -> frames[i].
        Raises DataError when the shard's frames cannot be read.
        """
        name, events = self._episodes[number]
        return name, self._frames(name), events

    def __len__(self) -> int:
        return len(self._index)

    def _frames(self, name: str) -> np.ndarray:
        if name in self._cache:
            self._cache.move_to_end(name)
            return self._cache[name]
        try:
            frames = np.array(read_shard(self._shards[name]).frames())  # checked again: it may have changed
        except (DataError, OSError, ValueError) as e:
            raise DataError(f"Crafter shard {name} in {self.root} is damaged ({e}); delete it and rerun the "
                            f"capture to record it again") from e
        self._cache[name] = frames
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frames

    def _locate(self, i: int) -> tuple[int, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        return self._index[i]

    def location(self, i: int) -> tuple[str, int]:
        """(episode shard name, first frame) of clip i. Raises IndexError out of range."""
        number, start = self._locate(i)
        return self._episodes[number][0], start

    def caption(self, i: int) -> tuple[str, list[str]]:
        """(caption, event types) of clip i, as `self[i]` gives them, without reading any frames."""
        number, start = self._locate(i)
        dominant = dominant_events(self._episodes[number][1][start: start + self.clip_frames])  # what caption_window joins
        return ", ".join(e.caption for e in dominant), [e.type for e in dominant]

    def __getitem__(self, i: int) -> Clip:
        name, start = self.location(i)
        return (self._frames(name)[start: start + self.clip_frames].copy(), *self.caption(i))

    def __iter__(self) -> Iterator[Clip]:
        for i in range(len(self)):
            yield self[i]

    def describe(self) -> dict[str, Any]:
        """Episodes, clips and skipped shards of this split, for logs."""
        return {"root": str(self.root), "split": self.split, "episodes": len(self._episodes),
                "clips": len(self), "skipped": list(self.skipped)}

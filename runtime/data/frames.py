"""Frames in memory for autoencoder training: one split of a recording (docs/recording.md; a Crafter
capture is one).

    bank = FrameBank("data/vizdoom_rec", size=72, clip_frames=1, split="train")
    clips = bank.sample(32, torch.Generator().manual_seed(0))   # uint8 [32, 1, 72, 72, 3]

The split into training and held-out shards is `split_episodes` over the shard names, the same split that
`streamdit data import` (runtime/data/importer.py) and the latent data (runtime/training/latents.py) use, so the
autoencoder, the DiT and the evaluation hold out the same footage.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from runtime.data.split import split_episodes
from sdk.errors import ConfigError, DataError

log = logging.getLogger(__name__)


class FrameBank:
    """Every frame of one split, in memory: uint8 arrays [T_e, S, S, 3], one per shard (`episodes`, `names`).

    Args:
        root: a recording folder (`sdk.Recorder` or `streamdit data crafter`; bad shards are skipped by name,
            with a warning).
        size: frame size in pixels; frames larger by an integer factor are area-downsampled.
        clip_frames: frames per sampled clip (the autoencoder's temporal factor); shorter shards are left out.
        split: "train" or "heldout". heldout_fraction: the share of shards held out (`split_episodes`).

    Raises: DataError when the split has no readable shard long enough (or the recording none at all),
    ConfigError for frames that are not `size` or a multiple of it.
    """

    def __init__(self, root: str | Path, size: int, clip_frames: int, split: str,
                 heldout_fraction: float = 0.1) -> None:
        root = Path(root)
        self.names: list[str] = []
        self.episodes: list[np.ndarray] = []
        self.clip_frames = clip_frames
        for name, frames in _split_frames(root, clip_frames, split, heldout_fraction):
            self.names.append(name)
            self.episodes.append(_resize(frames, size, name))
        if not self.episodes:
            raise DataError(f"{root} has no {split} shard of {clip_frames} frames or more: record more footage, or "
                            f"lower the held-out fraction")
        self.lengths = np.array([len(e) - clip_frames + 1 for e in self.episodes])
        self.frames = int(sum(len(e) for e in self.episodes))

    def sample(self, n: int, g: torch.Generator) -> np.ndarray:
        """n random clips: uint8 [n, clip_frames, S, S, 3] (shards weighted by their clip count)."""
        starts = torch.randint(0, int(self.lengths.sum()), (n,), generator=g).numpy()
        return np.stack([self._clip(int(s)) for s in starts])

    def evenly(self, n_frames: int) -> np.ndarray:
        """About n_frames frames as evenly spaced clips over all shards: uint8 [k, clip_frames, S, S, 3]."""
        k = max(1, n_frames // self.clip_frames)
        total = int(self.lengths.sum())
        return np.stack([self._clip(int(s)) for s in np.linspace(0, total - 1, k).astype(int)])

    def _clip(self, s: int) -> np.ndarray:
        edges = np.cumsum(self.lengths)
        e = int(np.searchsorted(edges, s, side="right"))
        t = int(s - (edges[e - 1] if e else 0))
        return self.episodes[e][t: t + self.clip_frames]


def _split_frames(root: Path, clip_frames: int, split: str, heldout_fraction: float):
    """(name, uint8 [T, H, W, 3]) for each shard of the split that has at least clip_frames frames."""
    if split not in ("train", "heldout"):
        raise ConfigError(f"split must be 'train' or 'heldout', got {split!r}")
    from runtime.data.recording import read_recording

    report = read_recording(root)
    for name, why in report.skipped:
        log.warning("recording %s: shard %s skipped: %s", root, name, why)
    train, held = split_episodes([s.name for s in report.shards], heldout_fraction)
    keep = set(train if split == "train" else held)
    for shard in report.shards:
        if shard.name in keep and shard.num_frames >= clip_frames:
            yield shard.name, np.asarray(shard.frames())


def _resize(frames: np.ndarray, size: int, name: str) -> np.ndarray:
    S = frames.shape[1]
    if S == size and frames.shape[2] == size:
        return frames
    if S % size or frames.shape[2] != S:
        raise ConfigError(f"shard {name} has {frames.shape[2]}x{S} px frames, which is not a square multiple of "
                          f"--size {size}: record (or capture) at {size}x{size}")
    k = S // size
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return F.avg_pool2d(x, k).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()

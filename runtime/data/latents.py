"""Latent training data of any game: frames encoded once by the autoencoder, with a caption per latent frame.

Written by `streamdit data import` (runtime/data/importer.py, from a recording) and, for the Crafter capture,
by `streamdit encode-latents` (runtime/training/latents.py). One shard per recorded episode:

    shard-00007.npy     float16 [T', C, h, w]: normalised latents (what `autoencoder.encode` returns),
                        T' = T // temporal_factor (a tail of fewer than temporal_factor frames is dropped)
    shard-00007.json    {"format", "episode", "latent_frames", "npy_bytes", "captions": [T' strings],
                        "event_types": [T' lists]}
    manifest.json       {"format", "autoencoder": spec, "ae_dir", "ae_sha256", "capture_episodes",
                        "clip_frames", "temporal_factor", "latent_channels", "latent_size", "size", ...}

Each file is written to a temporary name and renamed, the JSON last. `LatentClips` is the training source
(data kind "latents"); it holds out the shards that `split_episodes` holds out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from runtime.data.split import split_episodes
from runtime.model.autoencoder import video_to_unit
from sdk.errors import ConfigError, DataError

FORMAT = "streamdit.latents.v1"
FORMATS = (FORMAT, "streamdit.crafter_latents.v1")  # the second: directories written before the rename
MANIFEST = "manifest.json"
ENCODE_COMMAND = "streamdit data import RECORDING --vocab VOCAB.toml --out DIR --ae AE"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@torch.no_grad()
def encode_frames(ae: torch.nn.Module, frames: np.ndarray, *, bf16: bool = True, batch_frames: int = 64) -> torch.Tensor:
    """Encode one episode: uint8 frames [T, S, S, 3] (T a multiple of the temporal factor tf) -> float32
    latents [T / tf, C, h, w], `batch_frames` video frames (a multiple of tf) per encoder call, under bf16
    autocast when `bf16`. ae: any autoencoder with `encode(video [1, 3, F, S, S] in [-1, 1])`."""
    video = torch.from_numpy(frames)
    chunks = []
    for i in range(0, len(frames), batch_frames):
        x = video_to_unit(video[i: i + batch_frames][None])  # (1, 3, f, S, S)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            chunks.append(ae.encode(x)[0].transpose(0, 1).float())  # (f / tf, C, h, w)
    return torch.cat(chunks)


def _read_latent_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"latent shard {path.name} is unreadable: {e}") from e
    npy = path.with_suffix(".npy")
    if not isinstance(meta, dict) or meta.get("format") not in FORMATS:
        raise DataError(f"{path.name} is not a {FORMAT} shard")
    if not npy.exists() or npy.stat().st_size != meta.get("npy_bytes"):
        raise DataError(f"latent shard {npy.name} is missing or truncated")
    return meta


class LatentClips:
    """Training source of pre-encoded latents (data kind "latents"), of any game.

    `batch(n, generator)` returns (float32 [n, C, frames, h, w] normalised latents, n captions): clips of
    `frames` consecutive latent frames from random positions of the split's episodes, each captioned with
    the caption of its middle latent frame (index frames // 2). `latent = True` tells the trainer to use
    the batch as x1 directly, without `autoencoder.encode`.

    Attributes: latent (True), frames (latent frames per clip = buffer_frames), size (video pixels),
    latent_channels, latent_size (h, w), temporal_factor, autoencoder_spec (the spec with its stats that
    made the latents; its weights are at manifest["ae_dir"]), episodes (shard names in this split).

    Args:
        root: latent directory from `streamdit data import` (or, for Crafter, `streamdit encode-latents`).
        frames: latent frames per clip.
        split: "train" or "heldout"; `split_episodes` of the source's shard names (stored in the manifest)
            with the same heldout_fraction, the split the recording's readers use.
        caption_weights: {text: weight > 0}: a clip whose caption contains `text` is drawn `weight` times as
            often (the weights of several matching texts multiply), e.g. {"walks right": 3.0} for more
            walking-right clips per batch; None = uniform over clips (the draws of earlier runs).

    Raises: DataError (no manifest, no readable shard of the split), ConfigError (bad arguments).
    """

    latent = True

    def __init__(self, root: str | Path, frames: int, split: Literal["train", "heldout"] = "train",
                 heldout_fraction: float = 0.1, caption_weights: dict[str, float] | None = None) -> None:
        if split not in ("train", "heldout") or frames < 1:
            raise ConfigError(f"need split 'train' or 'heldout' and frames >= 1; got {split!r}, {frames}")
        self.root = Path(root)
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"{self.root / MANIFEST} is missing or unreadable ({e}); make the latents with "
                            f"`{ENCODE_COMMAND}`") from None
        if manifest.get("format") not in FORMATS:
            raise DataError(f"{self.root} is not a {FORMAT} directory; make it with `{ENCODE_COMMAND}`")
        self.frames, self.split = frames, split
        self.size = int(manifest["size"])
        self.latent_channels = int(manifest["latent_channels"])
        self.latent_size = tuple(manifest["latent_size"])
        self.temporal_factor = int(manifest["temporal_factor"])
        self.autoencoder_spec = manifest["autoencoder"]
        self.manifest = manifest
        train, heldout = split_episodes(list(manifest["capture_episodes"]), heldout_fraction)
        self.latents: list[np.ndarray] = []
        self.captions: list[list[str]] = []
        self.episodes: list[str] = []
        index: list[tuple[int, int]] = []
        for name in train if split == "train" else heldout:
            try:
                meta = _read_latent_meta(self.root / f"{name}.json")
            except DataError:
                continue  # not encoded (skipped capture shard) or damaged
            z = np.load(self.root / f"{name}.npy")
            starts = [s for s in range(0, len(z) - frames + 1) if meta["captions"][s + frames // 2]]
            if not starts:
                continue
            e = len(self.latents)
            self.latents.append(z)
            self.captions.append(meta["captions"])
            self.episodes.append(name)
            index.extend((e, s) for s in starts)
        if not index:
            raise DataError(f"no {split} clips of {frames} latent frames in {self.root}; make the latents "
                            f"with `{ENCODE_COMMAND}` (episodes must be at least {frames} latent frames long)")
        self.index = np.array(index, dtype=np.int64)  # (clips, 2): episode, start latent frame
        self.caption_weights = dict(caption_weights or {})
        self.weights = self._weights(self.caption_weights) if self.caption_weights else None

    def clip_captions(self) -> list[str]:
        """The caption of every clip, in index order (what `clip(i)` returns as its caption)."""
        return [self.captions[e][s + self.frames // 2] for e, s in self.index.tolist()]

    def _weights(self, caption_weights: dict[str, float]) -> torch.Tensor:
        """float64 [clips]: each clip's draw weight. Raises ConfigError for a weight <= 0, an empty text, or a
        text that no clip's caption contains (a typo would otherwise weigh nothing, silently)."""
        captions = self.clip_captions()
        w = np.ones(len(captions), np.float64)
        for text, weight in caption_weights.items():
            if not isinstance(text, str) or not text.strip() or not float(weight) > 0:
                raise ConfigError(f"caption_weights {text!r} = {weight!r}: give a non-empty caption text and a "
                                  f"weight > 0, e.g. {{\"walks right\" = 3.0}}")
            hit = np.array([text in c for c in captions])
            if not hit.any():
                raise ConfigError(f"caption_weights: no {self.split} clip's caption contains {text!r} (captions "
                                  f"look like {sorted(set(captions))[:3]}); fix the text or drop it")
            w[hit] *= float(weight)
        return torch.from_numpy(w)

    def share(self, text: str) -> float:
        """The expected share of drawn clips whose caption contains `text` (with the caption weights)."""
        captions = self.clip_captions()
        w = self.weights.numpy() if self.weights is not None else np.ones(len(captions))
        return float(w[[text in c for c in captions]].sum() / w.sum())

    def __len__(self) -> int:
        return len(self.index)

    def clip(self, i: int) -> tuple[torch.Tensor, str]:
        """Clip i: (float32 [C, frames, h, w], caption)."""
        e, s = (int(v) for v in self.index[i])
        z = torch.from_numpy(self.latents[e][s: s + self.frames].astype(np.float32))  # (frames, C, h, w)
        return z.transpose(0, 1), self.captions[e][s + self.frames // 2]

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
        """n random clips: (float32 [n, C, frames, h, w], list of n captions), drawn with the caption weights."""
        if self.weights is None:
            picks = torch.randint(0, len(self.index), (n,), generator=generator).tolist()
        else:
            picks = torch.multinomial(self.weights, n, replacement=True, generator=generator).tolist()
        clips = [self.clip(i) for i in picks]
        return torch.stack([c[0] for c in clips]), [c[1] for c in clips]

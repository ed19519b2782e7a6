"""Latent data for DiT training: captured Crafter episodes encoded once by the autoencoder.

`encode_latents` (`streamdit encode-latents`) writes one shard per episode of a capture:

    episode_00007.npy    float16 [T', C, h, w]: normalised latents (what `autoencoder.encode` returns),
                         T' = T // temporal_factor (a tail of fewer than temporal_factor frames is dropped)
    episode_00007.json   {"format", "episode", "latent_frames", "npy_bytes", "captions": [T' strings],
                         "event_types": [T' lists]}: caption j is `caption_window` over the `clip_frames`
                         video frames centred on latent frame j (clamped to the episode)
    manifest.json        {"format", "autoencoder": spec, "ae_dir", "ae_sha256", "data", "capture_episodes",
                         "clip_frames", "temporal_factor", "latent_channels", "latent_size", "size", ...}

Each file is written to a temporary name and renamed, the JSON last; a rerun skips complete shards and
refuses a directory made with another autoencoder or caption window. `CrafterLatents` is the training
source (kind "crafter_latents"): it keeps the same held-out episodes out as `CrafterClips` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from runtime.model.autoencoder import video_to_unit
from runtime.model.checkpoint import file_sha256
from runtime.model.conv_autoencoder import AE_WEIGHTS, load_autoencoder
from runtime.training.data.captioner import Event, caption_window, dominant_events
from runtime.training.data.capture import read_shard_meta
from runtime.training.data.dataset import split_episodes
from sdk.errors import ConfigError, DataError

FORMAT = "streamdit.crafter_latents.v1"
MANIFEST = "manifest.json"
ENCODE_COMMAND = "streamdit encode-latents --ae runtime/checkpoints/crafter_ae --data DIR --out DIR"


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


def latent_captions(events: list[list[Event]], latent_frames: int, temporal_factor: int,
                    clip_frames: int) -> tuple[list[str], list[list[str]]]:
    """Caption and event types of each latent frame: the dominant events of the `clip_frames` video frames
    centred on the latent frame's own frames, the window shifted to stay inside the episode."""
    T = len(events)
    captions, types = [], []
    for j in range(latent_frames):
        centre = j * temporal_factor + temporal_factor // 2
        a = min(max(0, centre - clip_frames // 2), max(0, T - clip_frames))
        window = events[a: a + clip_frames]
        captions.append(caption_window(window))
        types.append([e.type for e in dominant_events(window)])
    return captions, types


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


@torch.no_grad()
def encode_latents(ae_dir: str | Path, data: str | Path, out: str | Path, *, clip_frames: int = 16,
                   bf16: bool = True, batch_frames: int = 64, progress: bool = True) -> dict[str, Any]:
    """Encode every complete episode of a capture into latent shards in `out` (see the module docstring).

    Args:
        ae_dir: autoencoder checkpoint directory (`save_autoencoder` layout).
        data: capture directory (`streamdit data crafter`); its frame size must be the autoencoder's.
        out: latent directory, created if missing; complete shards are kept (resumable).
        clip_frames: caption window in video frames, centred on each latent frame.
        bf16: encode under bf16 autocast (about 2x faster on CPU; latents are stored in float16 anyway).
        batch_frames: video frames per encoder call.

    Returns: the manifest dict, plus "encoded_now" (episodes encoded by this call).

    Raises:
        CheckpointError: the autoencoder directory is missing or damaged.
        DataError: the capture has no readable episode.
        ConfigError: `out` holds latents of another autoencoder or caption window, or sizes differ.
    """
    from tqdm import tqdm

    if clip_frames < 1:
        raise ConfigError(f"clip_frames must be >= 1, got {clip_frames}")
    ae_dir, data, out = Path(ae_dir), Path(data), Path(out)
    ae = load_autoencoder(ae_dir)
    tf, size = ae.temporal_factor, ae.cfg.image_size
    names = sorted(p.stem for p in data.glob("episode_*.json")) if data.is_dir() else []
    if not names:
        raise DataError(f"no Crafter shards in {data}; capture with `streamdit data crafter --episodes 200 "
                        f"--size {size} --out {data}`")
    manifest = {"format": FORMAT, "autoencoder": ae.spec(), "ae_dir": str(ae_dir),
                "ae_sha256": file_sha256(ae_dir / AE_WEIGHTS), "data": str(data), "capture_episodes": names,
                "clip_frames": clip_frames, "temporal_factor": tf, "latent_channels": ae.latent_channels,
                "latent_size": [size // ae.spatial_factor] * 2, "size": size, "dtype": "float16"}
    out.mkdir(parents=True, exist_ok=True)
    old_path = out / MANIFEST
    if old_path.exists():
        old = json.loads(old_path.read_text())
        for key in ("ae_sha256", "clip_frames", "temporal_factor", "size"):
            if old.get(key) != manifest[key]:
                raise ConfigError(f"{out} holds latents made with another {key} ({old.get(key)!r}, now "
                                  f"{manifest[key]!r}); use another --out or delete it")
    for stale in out.glob("*.tmp"):
        stale.unlink()
    done_now, episodes, latent_frames, skipped = 0, 0, 0, []
    for name in tqdm(names, desc="encode-latents", unit="ep", disable=not progress):
        shard = out / f"{name}.json"
        if shard.exists():
            try:
                meta = _read_latent_meta(shard)
                episodes, latent_frames = episodes + 1, latent_frames + meta["latent_frames"]
                continue
            except DataError:
                pass  # damaged: encode it again
        try:
            meta = read_shard_meta(data / f"{name}.json")
            with np.load(data / f"{name}.npz") as npz:
                frames = npz["frames"]
        except (DataError, OSError, ValueError, KeyError) as e:
            skipped.append(f"{name} ({e})")
            continue
        if frames.shape[1:] != (size, size, 3):
            raise ConfigError(f"{name} has frames {list(frames.shape[1:])}, the autoencoder takes "
                              f"[{size}, {size}, 3]; capture with --size {size}")
        n = len(frames) // tf
        if n == 0:
            skipped.append(f"{name} (fewer than {tf} frames)")
            continue
        latents = encode_frames(ae, frames[: n * tf], bf16=bf16, batch_frames=batch_frames)
        latents = latents.numpy().astype(np.float16)  # (T', C, h, w)
        events = [[Event.from_json(e) for e in step] for step in meta["events"]]
        captions, types = latent_captions(events, n, tf, clip_frames)
        blob = _npy_bytes(latents)
        _atomic_write(out / f"{name}.npy", blob)
        _atomic_write(shard, json.dumps({"format": FORMAT, "episode": name, "latent_frames": n,
                                         "npy_bytes": len(blob), "captions": captions,
                                         "event_types": types}).encode())
        done_now, episodes, latent_frames = done_now + 1, episodes + 1, latent_frames + n
    manifest.update(episodes=episodes, latent_frames=latent_frames, skipped=skipped)
    _atomic_write(old_path, json.dumps(manifest, indent=1).encode())
    return {**manifest, "encoded_now": done_now}


def _read_latent_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"latent shard {path.name} is unreadable: {e}") from e
    npy = path.with_suffix(".npy")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path.name} is not a {FORMAT} shard")
    if not npy.exists() or npy.stat().st_size != meta.get("npy_bytes"):
        raise DataError(f"latent shard {npy.name} is missing or truncated")
    return meta


class CrafterLatents:
    """Training source of pre-encoded Crafter latents (data kind "crafter_latents").

    `batch(n, generator)` returns (float32 [n, C, frames, h, w] normalised latents, n captions): clips of
    `frames` consecutive latent frames from random positions of the split's episodes, each captioned with
    the caption of its middle latent frame (index frames // 2). `latent = True` tells the trainer to use
    the batch as x1 directly, without `autoencoder.encode`.

    Attributes: latent (True), frames (latent frames per clip = buffer_frames), size (video pixels),
    latent_channels, latent_size (h, w), temporal_factor, autoencoder_spec (the spec with its stats that
    made the latents; its weights are at manifest["ae_dir"]), episodes (shard names in this split).

    Args:
        root: latent directory from `encode_latents`.
        frames: latent frames per clip.
        split: "train" or "heldout"; the same split of the capture's episodes as `CrafterClips` with the
            same heldout_fraction (computed on the capture's episode names, stored in the manifest).

    Raises: DataError (no manifest, no readable shard of the split), ConfigError (bad arguments).
    """

    latent = True

    def __init__(self, root: str | Path, frames: int, split: Literal["train", "heldout"] = "train",
                 heldout_fraction: float = 0.1) -> None:
        if split not in ("train", "heldout") or frames < 1:
            raise ConfigError(f"need split 'train' or 'heldout' and frames >= 1; got {split!r}, {frames}")
        self.root = Path(root)
        try:
            manifest = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"{self.root / MANIFEST} is missing or unreadable ({e}); make the latents with "
                            f"`{ENCODE_COMMAND}`") from None
        if manifest.get("format") != FORMAT:
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

    def __len__(self) -> int:
        return len(self.index)

    def clip(self, i: int) -> tuple[torch.Tensor, str]:
        """Clip i: (float32 [C, frames, h, w], caption)."""
        e, s = (int(v) for v in self.index[i])
        z = torch.from_numpy(self.latents[e][s: s + self.frames].astype(np.float32))  # (frames, C, h, w)
        return z.transpose(0, 1), self.captions[e][s + self.frames // 2]

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
        """n random clips: (float32 [n, C, frames, h, w], list of n captions)."""
        picks = torch.randint(0, len(self.index), (n,), generator=generator).tolist()
        clips = [self.clip(i) for i in picks]
        return torch.stack([c[0] for c in clips]), [c[1] for c in clips]

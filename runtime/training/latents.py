"""The Crafter capture's latents: captured Crafter episodes encoded once by the autoencoder, in the latent
data layout of runtime/data/latents.py (`LatentClips` trains on them).

`encode_latents` (`streamdit encode-latents`) writes one shard per episode of a capture:

    episode_00007.npy    float16 [T', C, h, w]: normalised latents (what `autoencoder.encode` returns),
                         T' = T // temporal_factor (a tail of fewer than temporal_factor frames is dropped)
    episode_00007.json   {"format", "episode", "latent_frames", "npy_bytes", "captions": [T' strings],
                         "event_types": [T' lists]}: caption j is `caption_window` over the `clip_frames`
                         video frames centred on latent frame j (clamped to the episode)
    manifest.json        {"format", "autoencoder": spec, "ae_dir", "ae_sha256", "data", "capture_episodes",
                         "clip_frames", "temporal_factor", "latent_channels", "latent_size", "size", ...}

Each file is written to a temporary name and renamed, the JSON last; a rerun skips complete shards and
refuses a directory made with another autoencoder or caption window. The held-out episodes are those that
`CrafterClips` holds out (`split_episodes`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.model.checkpoint import file_sha256
from runtime.model.ae_checkpoint import load_autoencoder
from runtime.model.conv_autoencoder import AE_WEIGHTS
from runtime.training.data.captioner import Event, caption_window, dominant_events
from runtime.training.data.capture import check_not_v1, episode_shards, read_episode
from runtime.data.latents import FORMAT, MANIFEST, _atomic_write, _npy_bytes, _read_latent_meta, encode_frames
from sdk.errors import ConfigError, DataError

CRAFTER_ENCODE_COMMAND = "streamdit encode-latents --ae runtime/checkpoints/crafter_ae --data DIR --out DIR"


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
    check_not_v1(data)
    names = [p.name for p in episode_shards(data)] if data.is_dir() else []
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
            recorded, _, events = read_episode(data / name)
            frames = np.array(recorded.frames())
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

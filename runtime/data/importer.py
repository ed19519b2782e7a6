"""`streamdit data import`: a recording + its vocabulary -> captioned latent windows for training.

    import_recording("recordings/run1", "vocab.toml", "data/run1", ae_dir="runtime/checkpoints/crafter_ae72")

Every shard of the recording is validated (`read_recording`, with the autoencoder's spatial factor) and
checked against the vocabulary (`Vocabulary.check_shard`); a bad shard is skipped, by name and with the fix,
and recorded in the output's manifest. Each good shard becomes one latent shard in the latent-data layout of
runtime/data/latents.py (so `LatentClips` / data kind "latents" trains on it, and the split into training
and held-out shards is the same `split_episodes` one):

    shard-00003.npy     float16 [T', C, h, w]: normalised latents, T' = frames // temporal_factor
    shard-00003.json    {"format", "episode", "latent_frames", "npy_bytes", "captions": [T' strings],
                         "event_types": [T' lists]}: the caption of latent frame j is the vocabulary's caption
                         (`Vocabulary.window_captions`) of the `window` video frames centred on it
    manifest.json       the latents' manifest, plus "recording", "vocabulary", "fps", "skipped"
    vocabulary.toml     a copy of the vocabulary: the fitted checkpoint's default prompt map

Each file is written to a temporary name and renamed, the JSON last, so an interrupted import resumes where it
stopped (complete shards are kept); an output made with another autoencoder, window or vocabulary is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary
from sdk.errors import ConfigError, DataError

VOCAB_FILE = "vocabulary.toml"


def import_recording(recording: str | Path, vocab: str | Path, out: str | Path, *, ae_dir: str | Path,
                     window: int = 16, bf16: bool = True, batch_frames: int = 64,
                     progress: bool = True) -> dict[str, Any]:
    """Import a recording into latent training data (see the module docstring).

    Args:
        recording: the recording's folder (docs/recording.md).
        vocab: the vocabulary TOML (runtime/data/vocabulary.py).
        out: the output folder; created if missing, resumed if it holds a compatible import.
        ae_dir: the autoencoder checkpoint that encodes the frames (its frame size must be the recording's).
        window: caption window in video frames, centred on each latent frame.
        bf16: encode under bf16 autocast. batch_frames: video frames per encoder call.
        progress: show a tqdm bar over shards.

    Returns: the manifest written, plus "imported_now" (shards encoded by this call).

    Raises:
        ConfigError: a bad vocabulary (empty, invalid), a frame size the autoencoder does not take, or `out`
            made with another autoencoder, window or vocabulary.
        DataError: the recording has no usable shard (every shard's problem is listed).
        CheckpointError: the autoencoder directory is missing or damaged.
    """
    from tqdm import tqdm

    from runtime.model.checkpoint import file_sha256
    from runtime.model.ae_checkpoint import load_autoencoder
    from runtime.model.conv_autoencoder import AE_WEIGHTS
    from runtime.data.latents import FORMAT, MANIFEST, _atomic_write, _npy_bytes, _read_latent_meta, encode_frames

    if window < 1:
        raise ConfigError(f"window must be >= 1 video frame, got {window}")
    # absolute: the manifest's paths are read by later stages (fit, evaluation) from any working directory
    recording, out, ae_dir = Path(recording).resolve(), Path(out), Path(ae_dir).resolve()
    ae = load_autoencoder(ae_dir)
    tf, size, sf = ae.temporal_factor, ae.cfg.image_size, ae.spatial_factor
    report = read_recording(recording, multiple_of=sf)
    skipped = [f"{name}: {why}" for name, why in report.skipped]
    fps = report.shards[0].fps
    vocabulary = Vocabulary.load(vocab, fps=fps, frames_per_chunk=tf)
    good = []
    for shard in report.shards:
        try:
            if shard.size != (size, size):
                raise DataError(f"shard {shard.name}: frames are {shard.size[1]}x{shard.size[0]} px; the "
                                f"autoencoder {ae_dir} takes {size}x{size}: record at {size}x{size}, or fit an "
                                f"autoencoder of this size")
            if shard.fps != fps:
                raise DataError(f"shard {shard.name}: recorded at {shard.fps} FPS, the recording's first shard at "
                                f"{fps}: import shards of one frame rate together")
            if shard.num_frames < tf:
                raise DataError(f"shard {shard.name}: {shard.num_frames} frames, fewer than the autoencoder's "
                                f"temporal factor {tf}: record a longer shard")
            vocabulary.check_shard(shard)
            good.append(shard)
        except DataError as e:
            skipped.append(str(e))
    if not good:
        raise DataError(f"recording {recording} has no shard to import: " + "; ".join(skipped))
    manifest = {"format": FORMAT, "autoencoder": ae.spec(), "ae_dir": str(ae_dir),
                "ae_sha256": file_sha256(ae_dir / AE_WEIGHTS), "data": str(recording),
                "capture_episodes": [s.name for s in good], "clip_frames": window, "temporal_factor": tf,
                "latent_channels": ae.latent_channels, "latent_size": [size // sf] * 2, "size": size,
                "dtype": "float16", "recording": str(recording), "vocabulary": str(vocab), "fps": fps,
                "vocabulary_sha256": _sha(vocabulary.text)}
    out.mkdir(parents=True, exist_ok=True)
    old_path = out / MANIFEST
    if old_path.exists():
        try:
            old = json.loads(old_path.read_text())
        except (OSError, ValueError):
            old = {}
        for key in ("ae_sha256", "clip_frames", "temporal_factor", "size", "vocabulary_sha256"):
            if old.get(key) != manifest[key]:
                raise ConfigError(f"{out} holds an import made with another {key} ({old.get(key)!r}, now "
                                  f"{manifest[key]!r}): use another --out, or delete it")
    for stale in out.glob("*.tmp"):
        stale.unlink()
    _atomic_write(out / VOCAB_FILE, vocabulary.text.encode())
    now = latent_frames = 0
    for shard in tqdm(good, desc="import", unit="shard", disable=not progress):
        meta_path = out / f"{shard.name}.json"
        if meta_path.exists():
            try:
                latent_frames += _read_latent_meta(meta_path)["latent_frames"]
                continue
            except DataError:
                pass  # damaged: import it again
        n = shard.num_frames // tf
        frames = np.array(shard.frames()[: n * tf])  # a writable copy for torch
        latents = encode_frames(ae, frames, bf16=bf16, batch_frames=batch_frames).numpy().astype(np.float16)
        starts = [min(max(0, j * tf + tf // 2 - window // 2), max(0, shard.num_frames - window)) for j in range(n)]
        caps = vocabulary.window_captions(shard.events, shard.num_frames, window, starts)
        blob = _npy_bytes(latents)
        _atomic_write(out / f"{shard.name}.npy", blob)
        _atomic_write(meta_path, json.dumps({"format": FORMAT, "episode": shard.name, "latent_frames": n,
                                             "npy_bytes": len(blob), "captions": [c for c, _ in caps],
                                             "event_types": [t for _, t in caps]}).encode())
        now, latent_frames = now + 1, latent_frames + n
    manifest.update(episodes=len(good), latent_frames=latent_frames, skipped=skipped)
    _atomic_write(old_path, json.dumps(manifest, indent=1).encode())
    return {**manifest, "imported_now": now}


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()

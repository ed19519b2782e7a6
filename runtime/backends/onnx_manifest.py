"""The ONNX export directory: its files, its manifest, and the checks that refuse a bad one before serving.

Layout (written atomically by `streamdit export onnx`, runtime.backends.onnx_export):

    dit.onnx          the DiT velocity model, float32: x [batch, C, B, h, w], t [batch, B], text [batch, tokens,
                      D_text], text_mask [batch, tokens] (bool) -> velocity [batch, C, B, h, w]; batch and tokens
                      are dynamic (sessions join and leave; CFG doubles the batch)
    decoder.onnx      the autoencoder's decoder: latent [batch, C, frames, h, w] -> video [batch, 3, frames * tf,
                      H, W] float32 in about [-1, 1]; batch and frames dynamic
    encoder.onnx      its encoder (video-to-video): video [batch, 3, frames, H, W] -> latent; batch, frames dynamic
    dit_int8.onnx     optional (`--int8`): dit.onnx with dynamically quantized int8 MatMuls
    config.json       the checkpoint's config, as it was exported
    manifest.json     {"format": "streamdit.onnx", "version": 1, "checkpoint": {...}, "graphs": {name: {"file",
                      "sha256", "bytes"}}, "parity": {...}, ...}

`verify_export` checks, before any graph is parsed: the manifest's format and version, every graph's SHA-256
(a damaged or replaced file is "corrupted"), and that the export was made from the weights being served (a
graph from another checkpoint is "mismatched"). Every failure is a CheckpointError naming the file and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runtime.model.checkpoint import file_sha256
from sdk.errors import CheckpointError

FORMAT = "streamdit.onnx"
VERSION = 1
MANIFEST = "manifest.json"
CONFIG = "config.json"
GRAPHS = {"dit": "dit.onnx", "decoder": "decoder.onnx", "encoder": "encoder.onnx", "dit_int8": "dit_int8.onnx"}
REQUIRED = ("dit", "decoder", "encoder")
CACHE_ENV = "STREAMDIT_CACHE"  # where serve keeps the exports it makes itself (default ~/.cache/streamdit)


def checkpoint_identity(directory: str | Path) -> dict[str, Any]:
    """What ties an export to its checkpoint: the SHA-256 of every weights file of `directory` (computed now,
    not read from the config) and the shapes its config gives. Raises CheckpointError when none is found."""
    directory = Path(directory)
    weights = sorted(p for p in directory.glob("*.safetensors"))
    if not weights:
        raise CheckpointError(f"{directory} holds no *.safetensors weights: not a StreamDiT checkpoint")
    config = json.loads((directory / CONFIG).read_text())
    return {"name": directory.name, "weights_sha256": {p.name: file_sha256(p) for p in weights},
            "model": config.get("model"), "latent_size": config.get("latent_size"),
            "buffer_frames": config.get("buffer_frames"), "autoencoder": config.get("autoencoder")}


def default_export_dir(checkpoint: str | Path, identity: dict[str, Any] | None = None) -> Path:
    """Where `streamdit serve --backend onnxruntime` keeps the export it makes of `checkpoint` when no --onnx
    DIR is given: $STREAMDIT_CACHE/onnx/NAME-SHA12 (default ~/.cache/streamdit), SHA12 the first 12 hex
    digits of the model weights' SHA-256, so a retrained checkpoint gets a new export."""
    ident = identity or checkpoint_identity(checkpoint)
    sha = ident["weights_sha256"].get("model.safetensors") or next(iter(ident["weights_sha256"].values()))
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "streamdit")
    return root / "onnx" / f"{ident['name']}-{sha[:12]}"


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """manifest.json of an export directory, its format and version checked. Raises CheckpointError."""
    path = Path(directory) / MANIFEST
    fix = f"export it again: streamdit export onnx --checkpoint CHECKPOINT --out {directory}"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: {directory} is not an ONNX export of a StreamDiT checkpoint; "
                              f"{fix}") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable or corrupted ({e}); {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a StreamDiT ONNX manifest (format must be {FORMAT!r}); {fix}")
    if manifest.get("version") != VERSION:
        raise CheckpointError(f"{path} has version {manifest.get('version')!r}; this runtime reads {VERSION}; {fix}")
    graphs = manifest.get("graphs")
    missing = [g for g in REQUIRED if not isinstance(graphs, dict) or not isinstance(graphs.get(g), dict)]
    if missing:
        raise CheckpointError(f"{path} lists no {', '.join(missing)} graph; {fix}")
    return manifest


def verify_export(directory: str | Path, checkpoint: str | Path, graphs: tuple[str, ...] = REQUIRED) -> dict[str, Any]:
    """Check an export directory against the checkpoint it is to serve, before any graph is parsed.

    Returns the manifest. Raises CheckpointError when the manifest is missing or damaged, when a graph named
    in `graphs` is missing or its SHA-256 differs from the manifest's (corrupted), or when the export was made
    from other weights or shapes than `checkpoint`'s (mismatched).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    fix = f"export it again: streamdit export onnx --checkpoint {checkpoint} --out {directory}"
    for name in graphs:
        entry = manifest["graphs"].get(name)
        if not isinstance(entry, dict):
            raise CheckpointError(f"{directory / MANIFEST} lists no {name} graph; {fix}"
                                  + (" --int8" if name == "dit_int8" else ""))
        path = directory / str(entry.get("file", GRAPHS[name]))
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; {fix}")
        got = file_sha256(path)
        if got != entry.get("sha256"):
            raise CheckpointError(f"{path} is corrupted: its SHA-256 is {got[:16]}..., but {MANIFEST} records "
                                  f"{str(entry.get('sha256'))[:16]}... for it; {fix}. Nothing was served")
    want, have = checkpoint_identity(checkpoint), manifest.get("checkpoint") or {}
    for key in ("weights_sha256", "model", "latent_size", "buffer_frames", "autoencoder"):
        if have.get(key) != want[key]:
            raise CheckpointError(f"{directory} is mismatched: it was exported from checkpoint "
                                  f"{have.get('name', '?')!r}, whose {key} differs from {checkpoint}'s "
                                  f"({_short(have.get(key))} vs {_short(want[key])}); {fix}")
    return manifest


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."

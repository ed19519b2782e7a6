"""An autoencoder's checkpoint directory: save, read and load (the model itself is conv_autoencoder.py).

    autoencoder.safetensors   weights (bf16 by default)
    config.json               {"format": "streamdit.autoencoder", "version": 1, "autoencoder": spec, ...}
    train_state.pt            optional: optimiser state to resume training
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from runtime.model.checkpoint import atomic_directory, file_sha256, read_weights, write_json_atomic
from runtime.model.conv_autoencoder import AE_WEIGHTS, ConvAutoencoder
from sdk.errors import CheckpointError, ConfigError

AE_FORMAT = "streamdit.autoencoder"
AE_VERSION = 1
AE_CONFIG = "config.json"
AE_TRAIN_STATE = "train_state.pt"


def save_autoencoder(directory: str | Path, ae: ConvAutoencoder, extra: dict[str, Any] | None = None, *,
                     train_state: dict[str, Any] | None = None, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Atomically write an autoencoder checkpoint directory (AE_WEIGHTS + AE_CONFIG [+ AE_TRAIN_STATE]).

    A complete sibling directory is written first and then swapped in, so readers never see a half-written
    checkpoint. Other files already in `directory` (a log, TRAINING.md) are carried over as hard links, so
    a log file held open by the trainer keeps growing in the new directory. extra: more JSON for
    config.json (e.g. {"training": {...}}). Floating weights are stored in `dtype`.
    """
    directory = Path(directory)
    with atomic_directory(directory, carry_over=True) as tmp:
        tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
                   for k, v in ae.state_dict().items()}
        save_file(tensors, str(tmp / AE_WEIGHTS), metadata={"format": AE_FORMAT})
        if train_state is not None:
            torch.save(train_state, tmp / AE_TRAIN_STATE)
        write_json_atomic(tmp / AE_CONFIG, {"format": AE_FORMAT, "version": AE_VERSION,
                                            "autoencoder": ae.spec(), **(extra or {}),
                                            "weights_sha256": {AE_WEIGHTS: file_sha256(tmp / AE_WEIGHTS)}})
    return directory


def read_autoencoder_config(directory: str | Path) -> dict[str, Any]:
    """config.json of an autoencoder checkpoint directory, checked; CheckpointError says what is wrong."""
    path = Path(directory) / AE_CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: {directory} is not an autoencoder checkpoint (train one "
                              "with `streamdit train-ae`, or pass runtime/checkpoints/crafter_ae)") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable or corrupted ({e}); restore it or retrain") from None
    if not isinstance(config, dict) or config.get("format") != AE_FORMAT or "autoencoder" not in config:
        raise CheckpointError(f"{path} is not an autoencoder config (format must be {AE_FORMAT!r})")
    if config.get("version") != AE_VERSION:
        raise CheckpointError(f"{path} has version {config.get('version')!r}; this runtime reads {AE_VERSION}")
    from runtime.model.checkpoint_config import validate_autoencoder

    validate_autoencoder(config["autoencoder"], path)
    return config


def load_conv_weights(spec: dict[str, Any], directory: str | Path) -> ConvAutoencoder:
    """Build a ConvAutoencoder from `spec` and load directory/AE_WEIGHTS, refusing a name/shape mismatch
    or a damaged file with CheckpointError before anything is loaded."""
    try:
        ae = ConvAutoencoder.from_spec(spec)
    except ConfigError as e:
        raise CheckpointError(f"the autoencoder spec for {directory} is invalid: {e}") from None
    shapes = {k: v.shape for k, v in ae.state_dict().items()}
    ae.load_state_dict(read_weights(Path(directory) / AE_WEIGHTS, shapes))
    return ae.eval()


def load_autoencoder(directory: str | Path, device: str | torch.device = "cpu") -> ConvAutoencoder:
    """Load an autoencoder checkpoint directory (as written by `save_autoencoder`) in eval mode."""
    config = read_autoencoder_config(directory)
    return load_conv_weights(config["autoencoder"], directory).to(device)

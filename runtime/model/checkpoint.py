"""Checkpoint I/O: safetensors weights with a JSON config beside them, written atomically, checked on load.

Layout of a checkpoint directory:

    config.json            {"format": "streamdit", "version": 1, "model": DiTConfig, "autoencoder": spec,
                            "text_encoder": spec, "sampling": {...}, "flow": {...}, "video": {...}, ...}
    model.safetensors      DiT weights (the EMA weights of training), stored in bf16 by default
    autoencoder.safetensors  weights of a learned autoencoder, when the config's autoencoder has any
    train_state.pt         optional: optimizer, raw weights, step and RNG state, for resuming training

Saving writes a complete sibling directory first and then swaps it in with renames, so a reader never sees
a half-written checkpoint and an interrupted save leaves the previous checkpoint intact. Loading checks the
config's types and ranges (runtime/model/checkpoint_config.py) and then the config against the weights' names
and shapes before any tensor is loaded into a model, and refuses a mismatch with a CheckpointError that lists
the differences. config.json records the SHA-256 of every weights file (`weights_sha256`); a file whose bytes
no longer match (a damaged copy, flipped bits) is refused by name before it is parsed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from sdk.errors import CheckpointError, ConfigError, StreamDiTError

FORMAT = "streamdit"
VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
TRAIN_STATE_FILE = "train_state.pt"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON (indented, sorted keys, trailing newline) to `path` atomically (`write_bytes_atomic`)."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes to `path` through a temporary file in the same directory and os.replace.

    The file gets mode 0644 (mkstemp's private 0600 would otherwise stay on it), like the directories of
    `atomic_directory` get 0755.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (identifies a weights file across moves)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(directory: str | Path, config: dict[str, Any], weights: dict[str, dict[str, torch.Tensor]],
                    *, train_state: dict[str, Any] | None = None,
                    dtype: torch.dtype | dict[str, torch.dtype] = torch.bfloat16) -> Path:
    """Atomically write a checkpoint directory.

    config: the JSON config (must hold "model", a DiTConfig dict). weights: file stem -> state dict, e.g.
    {"model": model.state_dict()}; floating tensors are stored in `dtype` (one dtype, or one per file stem;
    stems not named keep float32). train_state: saved with
    torch.save when given. Returns the directory. Nothing at `directory` changes until the new one is
    complete.
    """
    directory = Path(directory)
    if "model" not in config:
        raise ConfigError("checkpoint config needs a 'model' section (a DiTConfig dict)")
    with atomic_directory(directory) as tmp:
        full = {"format": FORMAT, "version": VERSION, **config}
        hashes = {}
        for stem, sd in weights.items():
            dt = dtype.get(stem, torch.float32) if isinstance(dtype, dict) else dtype
            tensors = {k: (v.detach().to(dt) if v.is_floating_point() else v.detach()).contiguous().cpu()
                       for k, v in sd.items()}
            save_file(tensors, str(tmp / f"{stem}.safetensors"), metadata={"format": FORMAT})
            hashes[f"{stem}.safetensors"] = file_sha256(tmp / f"{stem}.safetensors")
        full["weights_sha256"] = hashes  # checked by read_weights (a copied teacher config's record is replaced)
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE_FILE)
        write_json_atomic(tmp / CONFIG_FILE, full)
    return directory


@contextlib.contextmanager
def atomic_directory(directory: str | Path, *, carry_over: bool = False) -> Iterator[Path]:
    """Write a directory atomically: yields a temporary sibling to fill, then swaps it in with renames.

    Readers never see a half-written directory, and when the body raises, the previous directory is left
    as it was and the temporary one is removed. carry_over: files of the previous directory that the body
    did not write (a log, a TRAINING.md) move into the new one, as hard links where possible.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        _fsync_dir(tmp)
        old = None
        if directory.exists():
            if carry_over:
                for p in directory.iterdir():
                    if p.is_file() and not (tmp / p.name).exists():
                        try:
                            os.link(p, tmp / p.name)
                        except OSError:
                            shutil.copy2(p, tmp / p.name)
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            if old.exists():
                shutil.rmtree(old)
            os.replace(directory, old)
        os.replace(tmp, directory)
        _fsync_dir(directory.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and check config.json of a checkpoint; CheckpointError names the file and the problem."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist; pass --checkpoint DIR of a "
                              f"directory that holds {CONFIG_FILE} and {MODEL_FILE}")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: {directory} is not a StreamDiT checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupted ({e}); restore it or retrain") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a StreamDiT config (format must be {FORMAT!r})")
    if config.get("version") != VERSION:
        raise CheckpointError(f"{path} has version {config.get('version')!r}; this runtime reads version {VERSION}")
    from runtime.model.checkpoint_config import validate_config

    validate_config(config, path)  # every field's type and range, before anything is built from it
    return config


def is_distilled(config: dict[str, Any]) -> bool:
    """True for the config of a distilled student (`streamdit distill` writes sampling.distilled_from)."""
    return "distilled_from" in config.get("sampling", {})


# DiTConfig fields that hold no weights: the attention layout. A warm start may change them.
_LAYOUT_FREE = {"window": (1, 1, 1), "window_shift": None, "extra": {}}


def check_warm_start(source: DiTConfig, target: DiTConfig, what: str) -> None:
    """Refuse to load weights of a model built with `source` into one built with `target` unless they fit.

    Every DiTConfig field must match except the attention layout (window, window_shift), which holds no
    weights, so that e.g. a teacher can be fine-tuned, or a student warm-started, under a new window shift.
    what: how the caller names the source in the message (e.g. "--init-from teacher").
    Raises CheckpointError naming both configs.
    """
    if dataclasses.replace(source, **_LAYOUT_FREE) != dataclasses.replace(target, **_LAYOUT_FREE):
        raise CheckpointError(f"{what}: its model config {source} differs from the configured one {target} in "
                              f"more than the attention windows (window, window_shift); its weights would not fit")


def recorded_sha256(path: Path) -> str | None:
    """The SHA-256 that the config.json beside a weights file records for it (`weights_sha256`), or None when
    it records none (checkpoints written before the record existed)."""
    try:
        record = json.loads((Path(path).parent / CONFIG_FILE).read_text()).get("weights_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    value = record.get(Path(path).name) if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def check_sha256(path: Path) -> None:
    """Refuse a weights file whose bytes differ from the SHA-256 its config.json records (CheckpointError)."""
    want = recorded_sha256(path)
    if want is None or not Path(path).is_file():
        return
    got = file_sha256(path)
    if got != want:
        raise CheckpointError(f"{path} is corrupted: its SHA-256 is {got[:16]}..., but {CONFIG_FILE} records "
                              f"{want[:16]}... for it (weights_sha256). Restore the file from a good copy, or "
                              f"retrain; nothing was loaded")


def read_weights(path: Path, expected: dict[str, torch.Size] | None = None) -> dict[str, torch.Tensor]:
    """Load a safetensors file as float32/int tensors, checking its SHA-256 against the record in config.json
    (check_sha256) and its names and shapes against `expected` first. Raises CheckpointError."""
    check_sha256(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
            if expected is not None:
                _compare(path, expected, shapes)
            return {k: (t.float() if t.is_floating_point() else t)
                    for k, t in ((k, f.get_tensor(k)) for k in keys)}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except Exception as e:  # safetensors raises several types for a damaged file
        raise CheckpointError(f"{path} is corrupted or not a safetensors file ({type(e).__name__}: {e})") from None


def _compare(path: Path, expected: dict[str, torch.Size], found: dict[str, tuple[int, ...]]) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if tuple(expected[k]) != tuple(found[k]))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensors (e.g. {unexpected[:3]})")
        if wrong:
            parts.append("shape mismatch: " + ", ".join(
                f"{k} config {list(expected[k])} vs file {list(found[k])}" for k in wrong[:3]))
        raise CheckpointError(f"the config in {path.parent} does not match the weights in {path.name}: "
                              + "; ".join(parts) + ". Was config.json edited or copied from another checkpoint?")


@dataclass
class LoadedModel:
    """A DiT loaded from a checkpoint, with the checkpoint's full config."""

    model: StreamDiT
    config: dict[str, Any]
    directory: Path


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load the DiT of a checkpoint directory, refusing a config/weights mismatch before loading anything."""
    directory = Path(directory)
    config = read_config(directory)
    try:
        dit_cfg = DiTConfig.from_dict(dict(config["model"]))
    except (KeyError, TypeError, StreamDiTError) as e:
        raise CheckpointError(f"{directory / CONFIG_FILE} has an invalid 'model' section: {e}") from None
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in StreamDiT(dit_cfg).state_dict().items()}
    state = read_weights(directory / MODEL_FILE, shapes)
    model = StreamDiT(dit_cfg)
    model.load_state_dict(state)
    return LoadedModel(model.to(device).eval(), config, directory)


def load_train_state(directory: str | Path) -> dict[str, Any] | None:
    """The training state saved beside a checkpoint, or None when the checkpoint has none."""
    path = Path(directory) / TRAIN_STATE_FILE
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is corrupted ({type(e).__name__}: {e}); delete it to restart training "
                              "from the weights, or restore it") from None

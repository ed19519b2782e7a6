"""Training configuration, read from TOML (e.g. configs/toy.toml). Every section is a typed dataclass."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.model.config import PRESETS, DiTConfig
from sdk.errors import ConfigError


@dataclass
class OptimConfig:
    """Optimisation. steps: optimizer steps; max_minutes: stop earlier when this wall time is spent."""

    steps: int = 2000
    max_minutes: float | None = None
    batch_size: int = 16  # per process
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at the last step
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    prompt_dropout: float = 0.1  # probability of training a sample on the null prompt (for CFG)
    bf16: bool = True  # autocast the forward pass to bfloat16 (CPU and CUDA)
    seed: int = 0
    log_every: int = 10
    checkpoint_every_steps: int = 500
    checkpoint_every_minutes: float = 5.0


@dataclass
class PartitionConfig:
    """Mixed partitioning (section 3.2): buffer length B, the chunk-size menu and reference frames."""

    buffer_frames: int = 16
    chunk_sizes: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    chunk_probs: list[float] | None = None
    reference_prob: float = 0.0
    reference_frames: int = 0
    sigma_min: float = 1e-5


@dataclass
class SamplingDefaults:
    """Streaming defaults stored in the checkpoint and used by `streamdit generate`."""

    c: int = 2
    s: int = 4
    K: int = 0
    guidance_scale: float = 2.0
    fps: float = 8.0


@dataclass
class TrainConfig:
    """Everything a training run needs. out: run directory (checkpoint/, log.jsonl)."""

    model: DiTConfig
    data: dict[str, Any]
    autoencoder: dict[str, Any]
    text_encoder: dict[str, Any]
    optim: OptimConfig = field(default_factory=OptimConfig)
    partition: PartitionConfig = field(default_factory=PartitionConfig)
    sampling: SamplingDefaults = field(default_factory=SamplingDefaults)
    out: str = "runs/toy"
    source: str = ""  # the TOML text, kept for provenance

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.to_dict()
        for k in ("optim", "partition", "sampling"):
            d[k] = dataclasses.asdict(d[k])
        return d


def _section(cls: type, raw: dict[str, Any], name: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown keys {unknown} in [{name}]; known keys: {sorted(known)}")
    return cls(**raw)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a TOML training config. overrides: dotted keys, e.g. {"optim.steps": 10, "out": "runs/x"}."""
    path = Path(path)
    try:
        text = path.read_text()
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"training config {path} not found; see configs/ for examples") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"training config {path} is not valid TOML: {e}") from None
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    model_raw = dict(raw.get("model", {}))
    preset = model_raw.pop("preset", None)
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown model preset {preset!r}; presets: {sorted(PRESETS)}")
        model_raw = {**PRESETS[preset].to_dict(), **model_raw}
    for key in ("data", "autoencoder", "text_encoder"):
        if key not in raw:
            raise ConfigError(f"training config {path} needs a [{key}] section")
    known = {"model", "data", "autoencoder", "text_encoder", "optim", "partition", "sampling", "out"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown sections {unknown} in {path}; known: {sorted(known)}")
    return TrainConfig(
        model=DiTConfig.from_dict(model_raw),
        data=dict(raw["data"]),
        autoencoder=dict(raw["autoencoder"]),
        text_encoder=dict(raw["text_encoder"]),
        optim=_section(OptimConfig, raw.get("optim", {}), "optim"),
        partition=_section(PartitionConfig, raw.get("partition", {}), "partition"),
        sampling=_section(SamplingDefaults, raw.get("sampling", {}), "sampling"),
        out=str(raw.get("out", "runs/toy")),
        source=text,
    )

"""Typed validation of a checkpoint's config.json (pydantic), before anything is built from it.

`validate_config(config, path)` checks the type and range of every field the runtime reads (the DiT sizes, the
moving buffer, the sampling defaults, the frame rate, the text encoder and the autoencoder) and the fields that
must agree with each other (the chunk size divides the buffer, the autoencoder's latent channels are the DiT's
input channels). A bad value is a CheckpointError naming the file, the field, the value and what is allowed,
e.g. `video.fps = 0: Input should be greater than 0`. `check_servable(config, path)` also requires the sections
that streaming needs (a model-only checkpoint, as tests write, loads with `load_model` but cannot stream).

Sections other than these (training, distillation, notes) are free-form and not checked here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sdk.errors import CheckpointError, ConfigError
from sdk.protocol.limits import shown

Side = Annotated[int, Field(ge=1, le=4096)]
Window = Annotated[int, Field(ge=1, le=1024)]


class _Section(BaseModel):
    """Strict types (no "128" for 128), no unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ModelSection(_Section):
    """The DiTConfig of runtime/model/config.py; defaults are its defaults."""

    in_channels: int = Field(48, ge=1, le=4096)
    patch_size: int = Field(2, ge=1, le=64)
    hidden_size: int = Field(128, ge=8, le=16384)
    depth: int = Field(4, ge=1, le=256)
    num_heads: int = Field(4, ge=1, le=256)
    mlp_ratio: float = Field(4.0, gt=0, le=64, allow_inf_nan=False)
    text_dim: int = Field(384, ge=1, le=16384)
    window: list[Window] = Field(default_factory=lambda: [4, 4, 4], min_length=3, max_length=3)
    window_shift: Optional[list[Annotated[int, Field(ge=0, le=1024)]]] = Field(None, min_length=3, max_length=3)
    rope_theta: float = Field(10000.0, gt=0, allow_inf_nan=False)
    qk_norm: bool = True
    pooled_text: bool = True
    extra: dict[str, Any] = Field(default_factory=dict)


class SamplingSection(_Section):
    K: int = Field(0, ge=0, le=1024)  # reference frames
    c: int = Field(2, ge=1, le=1024)  # latent frames per chunk
    s: int = Field(4, ge=1, le=1024)  # micro-steps per chunk position
    guidance_scale: float = Field(1.0, ge=0, le=100, allow_inf_nan=False)
    distilled_from: Optional[dict[str, Any]] = None  # the multistep teacher (`streamdit distill`)
    guidance_folded: Optional[dict[str, Any]] = None  # the student whose CFG was folded in (--fold-guidance)


class VideoSection(_Section):
    fps: float = Field(8.0, gt=0, le=1000, allow_inf_nan=False)  # video frames per second


class FlowSection(_Section):
    sigma_min: float = Field(1e-5, ge=0, lt=1, allow_inf_nan=False)


class TextEncoderSection(_Section):
    kind: Literal["hash", "minilm-l6-v2"]
    dim: int = Field(384, ge=1, le=16384)  # the hash encoder's width (MiniLM's is 384)
    max_tokens: int = Field(32, ge=1, le=512)  # MiniLM's position table has 512 entries


class LatentStats(_Section):
    mean: list[Annotated[float, Field(allow_inf_nan=False)]]
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]]


class AutoencoderSection(_Section):
    kind: Literal["space_to_depth", "conv"]
    factor: int = Field(4, ge=1, le=64)  # space_to_depth
    shift: float = Field(0.0, allow_inf_nan=False)
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    config: Optional[dict[str, Any]] = None  # conv: an AutoencoderConfig dict
    stats: Optional[LatentStats] = None  # conv: per-channel latent normalisation
    weights: Optional[str] = None

    def latent_channels(self) -> int:
        if self.kind == "space_to_depth":
            return 3 * self.factor * self.factor
        from runtime.model.conv_autoencoder import AutoencoderConfig

        try:
            return AutoencoderConfig.from_dict(dict(self.config or {})).latent_channels
        except (ConfigError, TypeError) as e:
            raise ValueError(f"autoencoder.config is invalid: {e}") from None

    @model_validator(mode="after")
    def _stats_fit(self) -> "AutoencoderSection":
        if self.kind == "conv":
            C = self.latent_channels()
            if self.stats is not None and not len(self.stats.mean) == len(self.stats.std) == C:
                raise ValueError(f"autoencoder.stats needs {C} means and {C} stds (one per latent channel), got "
                                 f"{len(self.stats.mean)} and {len(self.stats.std)}")
        return self


class CheckpointConfig(BaseModel):
    """The fields of config.json the runtime reads; other top-level keys are allowed and not checked."""

    model_config = ConfigDict(strict=True, extra="allow")

    model: ModelSection
    buffer_frames: Optional[int] = Field(None, ge=1, le=1024)  # B, latent frames in the moving buffer
    latent_size: Optional[list[Side]] = Field(None, min_length=2, max_length=2)  # [h, w] latent pixels
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    video: VideoSection = Field(default_factory=VideoSection)
    flow: FlowSection = Field(default_factory=FlowSection)
    text_encoder: Optional[TextEncoderSection] = None
    autoencoder: Optional[AutoencoderSection] = None
    weights_sha256: Optional[dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]] = None

    @model_validator(mode="after")
    def _agree(self) -> "CheckpointConfig":
        from runtime.model.config import DiTConfig

        d = self.model.model_dump()
        if d["window_shift"] is None:
            del d["window_shift"]
        try:
            DiTConfig.from_dict(d)  # head_dim, window_shift < window, ...
        except ConfigError as e:
            raise ValueError(f"model: {e}") from None
        smp, B = self.sampling, self.buffer_frames
        if B is not None and (B - smp.K < 1 or (B - smp.K) % smp.c):
            raise ValueError(f"sampling.c = {smp.c} must divide buffer_frames - sampling.K = {B} - {smp.K} (the "
                             f"buffer is cut into chunks of c latent frames)")
        if self.autoencoder is not None and self.autoencoder.latent_channels() != self.model.in_channels:
            raise ValueError(f"model.in_channels = {self.model.in_channels} must equal the autoencoder's latent "
                             f"channels ({self.autoencoder.latent_channels()})")
        return self


def _explain(e: ValidationError, path: Path) -> CheckpointError:
    parts = []
    for err in e.errors()[:6]:
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"{loc}: missing (a required field)")
        elif loc:
            parts.append(f"{loc} = {shown(err.get('input'))}: {msg}")
        else:
            parts.append(msg)
    more = f" (and {e.error_count() - 6} more)" if e.error_count() > 6 else ""
    return CheckpointError(f"{path} is not a valid checkpoint config: " + "; ".join(parts) + more +
                           ". Fix those values (or retrain); nothing was loaded")


def validate_config(config: dict[str, Any], path: str | Path) -> CheckpointConfig:
    """Check a checkpoint config dict (config.json at `path`). Returns the typed config; raises
    CheckpointError naming every field at fault, its value and what is allowed."""
    try:
        return CheckpointConfig.model_validate(config)
    except ValidationError as e:
        raise _explain(e, Path(path)) from None


def check_servable(config: dict[str, Any], path: str | Path) -> CheckpointConfig:
    """validate_config, and the sections streaming needs must be there (buffer_frames, latent_size,
    text_encoder, autoencoder). Raises CheckpointError."""
    typed = validate_config(config, path)
    missing = [k for k in ("buffer_frames", "latent_size", "text_encoder", "autoencoder") if getattr(typed, k) is None]
    if missing:
        raise CheckpointError(f"{path} cannot stream: it has no {', '.join(missing)} (a model-only checkpoint); "
                              f"train one with `streamdit train`, which writes them")
    return typed


def validate_autoencoder(spec: Any, path: str | Path) -> AutoencoderSection:
    """Check the `autoencoder` spec of an autoencoder checkpoint's config.json; CheckpointError names the field."""
    try:
        return AutoencoderSection.model_validate(spec)
    except ValidationError as e:
        err = _explain(e, Path(path))
        raise CheckpointError(str(err).replace(": ", ": autoencoder.", 1)) from None

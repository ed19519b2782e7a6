"""Autoencoders between RGB video and the DiT's latent video.

Interface (every autoencoder): `encode(video)` takes float [B, 3, F, H, W] in [-1, 1] and returns the
latent [B, C, F', H/f, W/f]; `decode(latent)` is its inverse. `spec()` gives the JSON that rebuilds it.
This file holds the identity (space-to-depth) autoencoder the toy model trains through; the learned
convolutional autoencoder of the default model is in conv_autoencoder.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sdk.errors import ConfigError, ShapeError


class SpaceToDepthAutoencoder(nn.Module):
    """Lossless 'identity' autoencoder: folds f x f pixel blocks into channels (3 -> 3*f*f).

    encode: float [B, 3, F, H, W] -> [B, 3*f*f, F, H/f, W/f], then (z - shift) * scale; decode is the
    exact inverse. No weights, no temporal compression. shift and scale normalise the latents to about
    zero mean and unit variance (mostly-dark toy frames have a pixel std near 0.3, and a diffusion model
    spends most of its noise levels on pure guessing when the data's variance is far below the noise's).
    Raises ShapeError when H or W is not a multiple of f.
    """

    kind = "space_to_depth"
    temporal_factor = 1

    def __init__(self, factor: int = 4, shift: float = 0.0, scale: float = 1.0) -> None:
        super().__init__()
        if factor < 1:
            raise ConfigError(f"space-to-depth factor must be >= 1, got {factor}")
        if not scale > 0:
            raise ConfigError(f"latent scale must be > 0, got {scale}")
        self.factor, self.shift, self.scale = factor, float(shift), float(scale)
        self.latent_channels = 3 * factor * factor
        self.spatial_factor = factor

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "factor": self.factor, "shift": self.shift, "scale": self.scale}

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ShapeError(f"video must be [batch, 3, frames, height, width], got {list(video.shape)}")
        B, C, F, H, W = video.shape
        f = self.factor
        if H % f or W % f:
            raise ShapeError(f"frame size {H}x{W} must be a multiple of the autoencoder factor {f}")
        x = video.view(B, C, F, H // f, f, W // f, f).permute(0, 1, 4, 6, 2, 3, 5)  # (B, C, f, f, F, h, w)
        return (x.reshape(B, C * f * f, F, H // f, W // f) - self.shift) * self.scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        B, Cl, F, h, w = latent.shape
        f = self.factor
        if Cl != self.latent_channels:
            raise ShapeError(f"latent must have {self.latent_channels} channels, got {Cl}")
        x = (latent / self.scale + self.shift).reshape(B, 3, f, f, F, h, w).permute(0, 1, 4, 5, 2, 6, 3)  # (B, 3, F, h, f, w, f)
        return x.reshape(B, 3, F, h * f, w * f)


def build_autoencoder(spec: dict[str, Any], directory: str | Path | None = None) -> nn.Module:
    """Rebuild an autoencoder from its spec.

    A learned one (kind "conv", runtime.model.conv_autoencoder) loads its weights from
    `directory / "autoencoder.safetensors"`; a missing, damaged or mismatched file is a CheckpointError.
    """
    kind = spec.get("kind")
    if kind == SpaceToDepthAutoencoder.kind:
        return SpaceToDepthAutoencoder(int(spec.get("factor", 4)), float(spec.get("shift", 0.0)),
                                       float(spec.get("scale", 1.0)))
    if kind == "conv":
        from runtime.model.ae_checkpoint import load_conv_weights

        if directory is None:
            raise ConfigError("a 'conv' autoencoder needs the checkpoint directory that holds its "
                              "autoencoder.safetensors: call build_autoencoder(spec, directory)")
        return load_conv_weights(spec, directory)
    raise _unknown_kind(kind)


def _unknown_kind(kind: Any) -> ConfigError:
    return ConfigError(f"unknown autoencoder kind {kind!r}; known kinds: {SpaceToDepthAutoencoder.kind!r}, 'conv'")


def frame_size(config: dict[str, Any]) -> tuple[int, int]:
    """Frame (height, width) in pixels that a checkpoint's config streams, read without loading weights.

    It is the config's latent_size [h, w] times its autoencoder's spatial factor ("factor" of a
    space-to-depth autoencoder, "config.spatial_factor" of a conv one; 8 when not given).
    Raises ConfigError for an unknown autoencoder kind.
    """
    spec = config.get("autoencoder", {})
    kind = spec.get("kind")
    if kind == SpaceToDepthAutoencoder.kind:
        f = int(spec.get("factor", 4))
    elif kind == "conv":
        f = int(spec.get("config", {}).get("spatial_factor", 8))
    else:
        raise _unknown_kind(kind)
    h, w = config["latent_size"]
    return int(h) * f, int(w) * f


def video_to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames [B, F, H, W, 3] -> float32 [B, 3, F, H, W] in [-1, 1]."""
    return frames.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


def unit_to_video(video: torch.Tensor) -> torch.Tensor:
    """float [B, 3, F, H, W] in [-1, 1] -> uint8 frames [B, F, H, W, 3] (clamped, rounded)."""
    return video.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1)

"""The learned convolutional autoencoder of the default model (DESIGN.md sections 4 and 5).

8x8 spatial compression to `latent_channels` (default 8) channels, and optionally 4x temporal compression
(the paper's choice: 2 latent frames decode to 8 video frames). It is a deterministic autoencoder, not a
VAE: the DiT is trained on latents encoded once (`streamdit encode-latents`), which needs a deterministic
encoder, and the VAE's two jobs are done more simply here:
- scale: latents are normalised per channel with mean/std measured on training data (stored in the spec,
  applied inside encode/decode), so the DiT sees ~unit-variance latents without a KL weight to tune;
- smoothness: during training Gaussian noise (`latent_noise` x the batch's per-channel std) is added to
  the latent before decoding, so the decoder tolerates the DiT's imperfect latents and nearby latents
  decode to nearby frames.

Architecture: 2D convolutions with the frames folded into the batch. With temporal factor tf > 1 the
encoder merges each group of tf frames into channels at resolution level `temporal_stage` (a 1x1 conv) and
the decoder splits them back after that level, so the low-resolution trunk is shared by tf frames and each
latent frame decodes on its own (chunks decode independently: no temporal context, no seam handling).

An autoencoder's checkpoint directory (save, read, load) is runtime/model/ae_checkpoint.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sdk.errors import ConfigError, ShapeError

AE_WEIGHTS = "autoencoder.safetensors"  # the weights file a spec names (runtime/model/ae_checkpoint.py writes it)


@dataclass
class AutoencoderConfig:
    """Shape of a ConvAutoencoder. Stored in the spec of every checkpoint that uses it."""

    latent_channels: int = 8  # the paper's 8 channels
    spatial_factor: int = 8  # must be 2 ** (len(widths) - 1): one stride-2 stage per level
    temporal_factor: int = 1  # 1, or 4 as in the paper (F video frames -> F / 4 latent frames)
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 128])  # channels at H, H/2, H/4, H/8
    temporal_stage: int = 2  # level (0 = full resolution) where tf frames merge/split; 2 = H/4
    latent_noise: float = 0.1  # training only: decoder input noise, relative to the latent's std
    image_size: int = 64  # resolution trained at (the convolutions run at any multiple of spatial_factor)

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        if self.latent_channels < 1 or any(w < 1 for w in self.widths) or len(self.widths) < 2:
            raise ConfigError(f"need latent_channels >= 1 and >= 2 positive widths; got latent_channels="
                              f"{self.latent_channels}, widths={self.widths}")
        if self.spatial_factor != 2 ** (len(self.widths) - 1):
            raise ConfigError(f"spatial_factor {self.spatial_factor} needs {self.spatial_factor.bit_length()} "
                              f"widths (one per resolution level), got {len(self.widths)}: {self.widths}")
        if self.temporal_factor not in (1, 2, 4):
            raise ConfigError(f"temporal_factor must be 1, 2 or 4, got {self.temporal_factor}")
        if not 0 <= self.temporal_stage < len(self.widths):
            raise ConfigError(f"temporal_stage must be in [0, {len(self.widths) - 1}], got {self.temporal_stage}")
        if self.image_size % self.spatial_factor:
            raise ConfigError(f"image_size {self.image_size} must be a multiple of {self.spatial_factor}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AutoencoderConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown autoencoder config keys {unknown}; known: {sorted(known)}")
        return cls(**d)


class ResBlock(nn.Module):
    """x + conv(silu(conv(silu(x)))), no normalisation (cheap on CPU); the second conv starts at zero."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Encoder(nn.Module):
    """[N * tf, 3, H, W] -> [N, C, H/f, W/f] (raw, unnormalised latent)."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        w, tf = cfg.widths, cfg.temporal_factor
        self.cfg = cfg
        self.stem = nn.Conv2d(3, w[0], 3, padding=1)
        self.merge = nn.Conv2d(tf * w[cfg.temporal_stage], w[cfg.temporal_stage], 1) if tf > 1 else None
        self.blocks = nn.ModuleList(ResBlock(c) for c in w)
        self.down = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 3, stride=2, padding=1) for i in range(len(w) - 1))
        self.out = nn.Conv2d(w[-1], cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tf = self.cfg.temporal_factor
        x = self.stem(x)  # (N*tf, w0, H, W)
        for i, block in enumerate(self.blocks):
            if i == self.cfg.temporal_stage and self.merge is not None:
                n, c, h, w = x.shape
                x = self.merge(x.reshape(n // tf, tf * c, h, w))  # (N, c, h, w): tf frames -> channels
            x = block(x)
            if i < len(self.down):
                x = self.down[i](x)  # (., w[i+1], h/2, w/2)
        return self.out(F.silu(x))  # (N, C, H/f, W/f)


class Decoder(nn.Module):
    """[N, C, h, w] raw latent -> [N * tf, 3, h * f, w * f] in about [-1, 1]."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        w, tf = cfg.widths, cfg.temporal_factor
        self.cfg = cfg
        self.inp = nn.Conv2d(cfg.latent_channels, w[-1], 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(c) for c in w)  # index = resolution level, run high to low
        self.split = nn.Conv2d(w[cfg.temporal_stage], tf * w[cfg.temporal_stage], 1) if tf > 1 else None
        self.up = nn.ModuleList(nn.Conv2d(w[i + 1], w[i], 3, padding=1) for i in range(len(w) - 1))
        self.out = nn.Conv2d(w[0], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tf = self.cfg.temporal_factor
        x = self.inp(z)  # (N, w[-1], h, w)
        for i in reversed(range(len(self.blocks))):
            x = self.blocks[i](x)
            if i == self.cfg.temporal_stage and self.split is not None:
                n, c, h, w = x.shape
                x = self.split(x).reshape(n * tf, c, h, w)  # (N*tf, c, h, w): channels -> tf frames
            if i > 0:
                x = self.up[i - 1](F.interpolate(x, scale_factor=2.0, mode="nearest"))  # (., w[i-1], 2h, 2w)
        return self.out(F.silu(x))  # (N*tf, 3, H, W)


class ConvAutoencoder(nn.Module):
    """Learned video autoencoder: float [B, 3, F, H, W] in [-1, 1] <-> latent [B, C, F/tf, H/8, W/8].

    `encode` returns normalised latents ((raw - mean) / std per channel, ~unit variance on the training
    data); `decode` undoes the normalisation first. `encode_raw` / `decode_raw` skip it (training).
    Stats start at mean 0, std 1 until `set_latent_stats` is called with measured ones.

    Raises ShapeError for a video that is not [B, 3, F, H, W] with F a multiple of the temporal factor and
    H, W multiples of the spatial factor, or a latent with the wrong channel count.
    """

    kind = "conv"

    def __init__(self, cfg: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or AutoencoderConfig()
        self.latent_channels = self.cfg.latent_channels
        self.spatial_factor = self.cfg.spatial_factor
        self.temporal_factor = self.cfg.temporal_factor
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        C = self.cfg.latent_channels
        # not persistent: the stats live in the spec (config.json), the single source of truth
        self.register_buffer("latent_mean", torch.zeros(C), persistent=False)
        self.register_buffer("latent_std", torch.ones(C), persistent=False)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Kaiming-uniform convs (PyTorch default) with zero biases; each ResBlock starts as the identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, ResBlock):
                nn.init.zeros_(m.conv2.weight)

    # ---- spec -------------------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON that rebuilds this autoencoder (weights come from autoencoder.safetensors beside it)."""
        return {"kind": self.kind, "config": dataclasses.asdict(self.cfg), "weights": AE_WEIGHTS,
                "stats": {"mean": [round(float(v), 6) for v in self.latent_mean],
                          "std": [round(float(v), 6) for v in self.latent_std]}}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "ConvAutoencoder":
        """A ConvAutoencoder with the spec's config and stats and freshly initialised weights."""
        if spec.get("kind") != cls.kind:
            raise ConfigError(f"not a conv autoencoder spec: kind is {spec.get('kind')!r}")
        try:
            ae = cls(AutoencoderConfig.from_dict(dict(spec.get("config", {}))))
            stats = spec.get("stats") or {}
            if stats:
                ae.set_latent_stats(torch.tensor(stats["mean"]), torch.tensor(stats["std"]))
        except (TypeError, KeyError, ValueError) as e:
            raise ConfigError(f"invalid conv autoencoder spec ({type(e).__name__}: {e}); rebuild it with "
                              "ConvAutoencoder.spec()") from None
        return ae

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-channel normalisation: mean, std float [C] of raw latents (std > 0)."""
        C = self.latent_channels
        if mean.shape != (C,) or std.shape != (C,) or not bool((std > 0).all()):
            raise ConfigError(f"latent stats must be [{C}] with std > 0; got mean {list(mean.shape)}, "
                              f"std {list(std.shape)} (min std {float(std.min()) if std.numel() else 'n/a'})")
        self.latent_mean.copy_(mean.float())
        self.latent_std.copy_(std.float())

    # ---- encode / decode -------------------------------------------------------------------------------
    def _check_video(self, video: torch.Tensor) -> None:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ShapeError(f"video must be [batch, 3, frames, height, width], got {list(video.shape)}")
        _, _, Fr, H, W = video.shape
        tf, f = self.temporal_factor, self.spatial_factor
        if Fr % tf:
            raise ShapeError(f"{Fr} frames is not a multiple of the temporal factor {tf}; pass clips of "
                             f"{tf * max(1, Fr // tf)} or {tf * (Fr // tf + 1)} frames")
        if H % f or W % f:
            raise ShapeError(f"frame size {H}x{W} must be a multiple of the autoencoder factor {f}")

    def encode_raw(self, video: torch.Tensor) -> torch.Tensor:
        """float [B, 3, F, H, W] in [-1, 1] -> unnormalised latent [B, C, F/tf, H/f, W/f]."""
        self._check_video(video)
        B, _, Fr, H, W = video.shape
        x = video.permute(0, 2, 1, 3, 4).reshape(B * Fr, 3, H, W)  # (B*F, 3, H, W), frames contiguous
        z = self.encoder(x)  # (B*F/tf, C, h, w)
        return z.reshape(B, Fr // self.temporal_factor, *z.shape[1:]).permute(0, 2, 1, 3, 4)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised latent [B, C, F', h, w] -> float [B, 3, F' * tf, h * f, w * f] (not clamped)."""
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ShapeError(f"latent must be [batch, {self.latent_channels} channels, frames, height, width], "
                             f"got {list(z.shape)}")
        B, C, Fl, h, w = z.shape
        x = self.decoder(z.permute(0, 2, 1, 3, 4).reshape(B * Fl, C, h, w))  # (B*F'*tf, 3, H, W)
        return x.reshape(B, Fl * self.temporal_factor, *x.shape[1:]).permute(0, 2, 1, 3, 4)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """float [B, 3, F, H, W] in [-1, 1] -> normalised latent [B, C, F/tf, H/f, W/f] (float32)."""
        z = self.encode_raw(video).float()
        return (z - self.latent_mean.view(1, -1, 1, 1, 1)) / self.latent_std.view(1, -1, 1, 1, 1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent [B, C, F', h, w] -> float32 [B, 3, F' * tf, h * f, w * f] in about [-1, 1]."""
        if latent.ndim != 5 or latent.shape[1] != self.latent_channels:
            raise ShapeError(f"latent must be [batch, {self.latent_channels} channels, frames, height, width], "
                             f"got {list(latent.shape)}")
        z = latent.float() * self.latent_std.view(1, -1, 1, 1, 1) + self.latent_mean.view(1, -1, 1, 1, 1)
        return self.decode_raw(z).float()

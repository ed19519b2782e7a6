"""Typed configuration of the StreamDiT transformer, saved as JSON in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sdk.errors import ConfigError


@dataclass
class DiTConfig:
    """Sizes of the StreamDiT DiT (arXiv 2507.03745, section 3; DESIGN.md section 4).

    The paper does not publish depth, width or window sizes; these are our choices and every checkpoint
    records them. Token grid: a latent of [C, F, H, W] becomes [F, H/p, W/p] tokens (no temporal patching,
    so every token belongs to exactly one latent frame and gets that frame's own flow time tau).
    """

    in_channels: int = 48  # latent channels C (48 = 3 x 4 x 4 for the toy's space-to-depth autoencoder)
    patch_size: int = 2  # spatial patch p, in latent pixels; temporal patch is always 1 (per-frame levels)
    hidden_size: int = 128  # transformer width D
    depth: int = 4  # number of DiT blocks; odd-indexed blocks use shifted windows (Swin-style)
    num_heads: int = 4  # attention heads; head_dim = D / heads must be a multiple of 8 (3D RoPE split)
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * D
    text_dim: int = 384  # width of the prompt token embeddings (384 = all-MiniLM-L6-v2)
    window: tuple[int, int, int] = (4, 4, 4)  # [Fw, Hw, Ww] self-attention window, in tokens
    # Cyclic shift of the odd blocks' windows per axis, in tokens; None = half a window (Swin). With chunks of
    # c = 2 frames and Fw = 4, the half-window shift puts every chunk boundary on a window edge in half the
    # blocks while a chunk's own frames always share a window; a temporal shift of 1 does not (docs/results.md).
    window_shift: tuple[int, int, int] | None = None
    rope_theta: float = 10000.0  # base of the 3D rotary position embedding (extends to any frame count)
    qk_norm: bool = True  # RMS-normalise queries and keys per head: keeps bf16 attention logits tame
    pooled_text: bool = True  # add the masked-mean prompt embedding to every frame's adaLN conditioning
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes carried in the checkpoint

    def __post_init__(self) -> None:
        self.window = tuple(int(w) for w in self.window)  # JSON gives lists
        if len(self.window) != 3 or min(self.window) < 1:
            raise ConfigError(f"window must be three positive token counts [Fw, Hw, Ww], got {self.window}")
        if self.window_shift is not None:
            self.window_shift = tuple(int(v) for v in self.window_shift)
            if len(self.window_shift) != 3 or any(not 0 <= v < w for v, w in zip(self.window_shift, self.window)):
                raise ConfigError(f"window_shift must be three shifts [sF, sH, sW] with 0 <= s < the window side "
                                  f"{list(self.window)}, got {list(self.window_shift)}; or leave it out (half a window)")
        for name in ("in_channels", "patch_size", "hidden_size", "depth", "num_heads", "text_dim"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.head_dim % 8:
            raise ConfigError(
                f"head_dim = hidden_size / num_heads = {self.head_dim} must be a multiple of 8 "
                "so that 3D RoPE can split it over (frame, row, column); change hidden_size or num_heads"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["window"] = list(self.window)
        if self.window_shift is None:
            del d["window_shift"]  # checkpoints without it read the same in older versions
        else:
            d["window_shift"] = list(self.window_shift)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiTConfig":
        """Build from a JSON dict; unknown keys are a ConfigError that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown DiT config keys {unknown}; known keys are {sorted(known)}")
        return cls(**d)


# Named presets, offered by the CLI (STYLE.md, rule 2).
PRESETS: dict[str, DiTConfig] = {
    "toy": DiTConfig(patch_size=1, window=(4, 8, 8)),  # 32x32 toy frames -> 8x8x48 latents -> 64 tokens per frame
    "tiny": DiTConfig(hidden_size=64, depth=2, num_heads=2, window=(4, 4, 4)),
    "crafter-s": DiTConfig(in_channels=8, patch_size=1, hidden_size=256, depth=8, num_heads=4,
                           window=(4, 8, 8)),
}

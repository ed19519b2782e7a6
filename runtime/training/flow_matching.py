"""Buffered flow matching with mixed partitioning (StreamDiT, arXiv 2507.03745, sections 3.1-3.2).

A training window of B clean latent frames x1 gets one x0 ~ N(0, I). Each frame has its own level tau,
drawn per chunk from U[(i-1)/N, i/N] for the sample's partitioning, and

    x_tau = tau * x1 + (1 - (1 - sigma_min) * tau) * x0,      v_target = x1 - (1 - sigma_min) * x0

(Lipman et al.; DESIGN.md section 4). The loss is the MSE between the model's velocity and v_target over
every frame that is not a clean reference frame. Mixed partitioning draws the chunk size c per sample
from {1, 2, 4, 8, 16} (capped at B) with configurable probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from runtime.model.dit import StreamDiT
from runtime.sampling.partition import CHUNK_SIZES, PartitionScheme
from sdk.errors import ConfigError

if TYPE_CHECKING:
    from runtime.training.config import PartitionConfig


@dataclass
class MixedPartitioning:
    """Draws a partitioning per training sample.

    buffer_frames: B. chunk_sizes / chunk_probs: the menu of c and its probabilities (normalised; sizes
    above B - K are dropped). reference_prob: probability that a sample keeps K = reference_frames clean
    reference frames at the start (for chunked extension and v2v).
    """

    buffer_frames: int
    chunk_sizes: tuple[int, ...] = CHUNK_SIZES
    chunk_probs: tuple[float, ...] | None = None
    reference_prob: float = 0.0
    reference_frames: int = 0

    def __post_init__(self) -> None:
        self.chunk_sizes = tuple(int(c) for c in self.chunk_sizes)
        probs = self.chunk_probs or tuple(1.0 for _ in self.chunk_sizes)
        if len(probs) != len(self.chunk_sizes) or min(probs) < 0 or sum(probs) <= 0:
            raise ConfigError(f"chunk_probs {probs} must be non-negative, one per chunk size {self.chunk_sizes}")
        self.chunk_probs = tuple(float(p) for p in probs)
        if not 0.0 <= self.reference_prob <= 1.0:
            raise ConfigError(f"reference_prob must be in [0, 1], got {self.reference_prob}")
        if self.reference_prob > 0 and not 0 < self.reference_frames < self.buffer_frames:
            raise ConfigError(f"reference_frames must be in [1, {self.buffer_frames - 1}] when reference_prob > 0, "
                              f"got {self.reference_frames}")
        for K in {0, self.reference_frames if self.reference_prob > 0 else 0}:
            if not self._menu(K)[0]:
                raise ConfigError(f"no chunk size in {self.chunk_sizes} divides B - K = {self.buffer_frames - K}")

    @classmethod
    def from_config(cls, part: PartitionConfig) -> MixedPartitioning:
        """The partitioning a `[partition]` config trains with (the trainer's, and the recorded one of a
        checkpoint's `training.partition`). Raises ConfigError as the constructor does."""
        return cls(part.buffer_frames, tuple(part.chunk_sizes),
                   tuple(part.chunk_probs) if part.chunk_probs else None, part.reference_prob, part.reference_frames)

    def drawn_sizes(self, K: int = 0) -> list[int]:
        """The chunk sizes c a sample with K reference frames can draw: the menu's sizes of non-zero
        probability that divide B - K (larger ones are dropped, not capped)."""
        return self._menu(K)[0]

    def _menu(self, K: int) -> tuple[list[int], torch.Tensor]:
        ok = [(c, p) for c, p in zip(self.chunk_sizes, self.chunk_probs)
              if c <= self.buffer_frames - K and (self.buffer_frames - K) % c == 0 and p > 0]
        return [c for c, _ in ok], torch.tensor([p for _, p in ok], dtype=torch.float64)

    def draw(self, generator: torch.Generator | None = None) -> PartitionScheme:
        """One scheme (s = 1; micro-steps do not matter in training)."""
        K = 0
        if self.reference_prob > 0 and float(torch.rand(1, generator=generator)) < self.reference_prob:
            K = self.reference_frames
        sizes, probs = self._menu(K)
        c = sizes[int(torch.multinomial(probs, 1, generator=generator))]
        return PartitionScheme.for_buffer(self.buffer_frames, c, s=1, K=K)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Levels float32 [batch, B], loss mask float32 [batch, B] (0 on reference frames), chunk sizes."""
        levels, masks, sizes = [], [], []
        for _ in range(batch):
            sch = self.draw(generator)
            levels.append(sch.sample_train_levels(1, generator)[0])
            m = torch.ones(self.buffer_frames)
            m[: sch.K] = 0
            masks.append(m)
            sizes.append(sch.c)
        return torch.stack(levels), torch.stack(masks), sizes


def interpolate(x1: torch.Tensor, x0: torch.Tensor, levels: torch.Tensor, sigma_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x_tau and v_target for latents [B, C, F, H, W] and per-frame levels [B, F]."""
    t = levels[:, None, :, None, None].to(x1.dtype)
    x_t = t * x1 + (1 - (1 - sigma_min) * t) * x0
    return x_t, x1 - (1 - sigma_min) * x0


def flow_matching_loss(model: StreamDiT | torch.nn.Module, x1: torch.Tensor, text: torch.Tensor,
                       text_mask: torch.Tensor, levels: torch.Tensor, loss_mask: torch.Tensor,
                       sigma_min: float = 1e-5, generator: torch.Generator | None = None,
                       drop: torch.Tensor | None = None) -> torch.Tensor:
    """Buffered flow-matching loss (scalar float32).

    x1: clean latents [B, C, F, H, W]; text [B, L, D_text], text_mask [B, L]; levels [B, F] in [0, 1];
    loss_mask [B, F] (1 = frame counts, 0 = clean reference frame); drop: optional [B] bool prompt dropout.
    """
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    x_t, target = interpolate(x1, x0, levels, sigma_min)
    v = model(x_t, levels, text, text_mask) if drop is None else model(x_t, levels, text, text_mask, drop)
    err = (v.float() - target.float()).pow(2).mean(dim=(1, 3, 4))  # (B, F)
    return (err * loss_mask).sum() / loss_mask.sum().clamp(min=1.0)

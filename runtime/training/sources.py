"""Training data sources: each yields batches of clean RGB clips and their captions.

A source has `frames` (clip length in video frames), `size` (pixels) and
`batch(n, generator) -> (float32 [n, 3, frames, size, size] in [-1, 1], list of n captions)`.
A latent source (`latent = True`, e.g. "latents") instead returns already-encoded, normalised
latents float32 [n, C, frames, h, w] (frames = latent frames), which the trainer uses without encoding.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from runtime.training.toy_data import ToyShapes, ToyShapesConfig
from sdk.errors import ConfigError


class ClipSource(Protocol):
    frames: int
    size: int

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]: ...


class ToySource:
    """The procedural toy shapes (runtime.training.toy_data)."""

    def __init__(self, cfg: ToyShapesConfig) -> None:
        self.data = ToyShapes(cfg)
        self.frames, self.size = cfg.frames, cfg.size

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
        return self.data.batch(n, generator)


def build_source(data: dict[str, Any]) -> ClipSource:
    """Build the source a config's [data] section describes (kind = "toy", ...)."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind == "toy":
        try:
            return ToySource(ToyShapesConfig(**data))
        except TypeError as e:
            raise ConfigError(f"bad [data] keys for the toy source: {e}") from None
    if kind in ("latents", "crafter_latents"):  # pre-encoded latents (runtime/data/latents.py); any game
        from runtime.data.latents import LatentClips

        try:
            return LatentClips(**data)  # root, frames, split, heldout_fraction
        except TypeError as e:
            raise ConfigError(f"bad [data] keys for the {kind} source (root, frames, split, "
                              f"heldout_fraction): {e}") from None
    raise ConfigError(f"unknown data kind {kind!r}; known kinds: 'toy', 'latents' ('crafter_latents' is the same)")

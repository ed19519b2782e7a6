"""The torch backend: the checkpoint's own modules, eager or compiled (runtime.model.compiled).

Eager and compiled share this class: whether the DiT step compiles is the sampler's `compile` setting
(`streamdit serve --compile`), resolved by runtime.model.compiled.resolve_compile; the decoder always runs
eagerly. Both run under bf16 autocast where the pipeline asks for it (CPUs with AVX-512 bf16, GPUs).
"""

from __future__ import annotations

import torch

from runtime.backends.base import VelocityModel


class TorchBackend:
    """The torch modules of a pipeline as a Backend (runtime.backends.base.Backend).

    Args:
        autoencoder: the checkpoint's autoencoder (encode / decode, runtime.model.autoencoder).
        device: where the modules live; `provider` is its type ("cpu", "cuda").
        reason: why torch runs (the `auto` decision, or "requested").
    """

    name = "torch"
    compiles = True
    autocast_dtype: torch.dtype | None = torch.bfloat16
    text_tokens: int | None = None

    def __init__(self, autoencoder: torch.nn.Module, device: torch.device, reason: str = "requested") -> None:
        self.autoencoder = autoencoder
        self.provider = torch.device(device).type
        self.reason = reason

    def velocity(self, model: torch.nn.Module) -> VelocityModel | None:
        """None: the sampler calls the torch model itself (compiling it when asked)."""
        return None

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent [B, C, F', h, w] -> float32 video [B, 3, F' * tf, H, W] (runs under the caller's autocast)."""
        return self.autoencoder.decode(latent).float()

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Video float [B, 3, F, H, W] in [-1, 1] -> float32 latent [B, C, F / tf, h, w]."""
        return self.autoencoder.encode(video).float()

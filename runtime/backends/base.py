"""The one backend interface: the DiT's velocity call and the autoencoder's decode and encode (DESIGN.md 12).

A StreamDiTPipeline holds one Backend. Its StreamingSampler calls `backend.velocity(model)` in place of the
model (the DiT step), its decoder thread calls `backend.decode(latent)`, video-to-video calls
`backend.encode(video)`. Everything around them (the buffer, the Euler update, prompts, sessions) is the same
for every backend, so a backend changes how fast a step runs, never what the runtime does.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

BACKEND_CHOICES = ("auto", "torch", "onnxruntime")  # what `--backend` and the in-process runtimes accept
BACKEND_ENV = "STREAMDIT_BACKEND"  # the in-process runtimes' (local://) default when a URL names none


@runtime_checkable
class VelocityModel(Protocol):
    """What a StreamingSampler calls for the DiT: StreamDiT.forward's arguments and result.

    __call__(x float32 [B, C, F, H, W], t float32 [B, F], text float32 [B, L, D_text], text_mask bool [B, L])
    returns the velocity [B, C, F, H, W] (float32 torch tensor on the sampler's device); null_prompt(batch)
    gives the learned empty prompt ([batch, 1, D_text] float, [batch, 1] bool) for classifier-free guidance.
    """

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor,
                 text_mask: torch.Tensor) -> torch.Tensor: ...

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Backend(Protocol):
    """Runs the DiT step and the autoencoder of one pipeline.

    Attributes:
        name: "torch" or "onnxruntime" (the `--backend` value that selects it).
        provider: what executes it, for logs and ModelInfo.provider: "cpu" / "cuda" for torch, the
            onnxruntime execution provider ("CPUExecutionProvider", "CUDAExecutionProvider",
            "TensorrtExecutionProvider") for onnxruntime.
        reason: why this backend runs (the `auto` decision in words, or "requested").
        autocast_dtype: the torch autocast dtype of the sampler (torch.bfloat16), or None when the backend runs
            its own precision (onnxruntime: the graph's float32, or int8 MatMuls).
        text_tokens: pad every prompt batch to this many tokens (None = to the longest prompt).
    """

    name: str
    provider: str
    reason: str
    autocast_dtype: torch.dtype | None
    text_tokens: int | None
    compiles: bool  # True when torch.compile applies (torch); `--compile on` is refused otherwise

    def velocity(self, model: torch.nn.Module) -> VelocityModel | None:
        """What the sampler calls in place of `model` (the DiT), or None for the torch model itself (which the
        sampler compiles when asked, runtime.model.compiled)."""
        ...

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent float [B, C, F', h, w] -> video float32 [B, 3, F' * tf, h * f, w * f] in about
        [-1, 1] (runtime.model.autoencoder.unit_to_video makes uint8 frames of it)."""
        ...

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """Video float [B, 3, F, H, W] in [-1, 1] -> normalised latent float32 [B, C, F / tf, H / f, W / f]."""
        ...

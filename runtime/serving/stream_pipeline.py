"""What the serving runtime needs from a pipeline: a small Protocol, not `Any`.

`runtime.pipeline.StreamDiTPipeline` satisfies it (a checkpoint on the torch or onnxruntime backend, and the
random-weight `runtime.testing.tiny_pipeline()`). `Engine` (runtime/serving/engine.py) and `ServingRuntime`
(runtime/serving/server.py) use nothing else of it, so a test or a new backend can serve anything with these
members. Shapes follow DESIGN.md: C latent channels, c latent frames per chunk, h x w latent pixels, tf the
autoencoder's temporal factor, f its spatial factor, H = h * f and W = w * f video pixels.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from runtime.backends.base import Backend
from runtime.model.text_encoder import TextEncoder
from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler


@runtime_checkable
class StreamPipeline(Protocol):
    """A model, its autoencoder and text encoder, ready to serve streams (DESIGN.md sections 3 and 12).

    Attributes:
        config: the checkpoint's config dict; the engine reads config["flow"]["sigma_min"] (video-to-video's
            noise floor, 1e-5 when absent).
        device: where latents live (torch.device); source frames are encoded there.
        latent_shape: (C, h, w) of one latent frame.
        fps: video frames per second stamped on frames (float, > 0).
        temporal_factor: tf, video frames per latent frame (int >= 1).
        autoencoder: the autoencoder module; its `spatial_factor` (or `factor`) f gives ModelInfo's width and
            height (1 when it has neither).
        text_encoder: turns prompt text into embeddings (`encode_one`) and names its `kind` for ModelInfo.
        backend: runs the DiT step and the autoencoder (runtime.backends.base.Backend); video-to-video is
            served when it has `encode`.
        decode_autocast: the torch autocast dtype of decode and encode (torch.bfloat16), or None for float32.
    """

    config: dict[str, Any]
    device: torch.device
    latent_shape: tuple[int, int, int]
    fps: float
    temporal_factor: int
    autoencoder: torch.nn.Module
    text_encoder: TextEncoder
    backend: Backend
    decode_autocast: torch.dtype | None

    def scheme(self, c: int | None = None, s: int | None = None, K: int | None = None) -> PartitionScheme:
        """The checkpoint's partitioning (buffer B latent frames, chunk c, micro-steps s, clean frames K), with
        the non-None arguments overriding it. Raises ConfigError for a scheme the buffer cannot hold."""
        ...

    def sampler(self, scheme: PartitionScheme | None = None, guidance_scale: float | None = None,
                autocast_dtype: torch.dtype | None = torch.bfloat16, max_streams: int | None = None,
                compile: str | bool = "off") -> StreamingSampler:
        """A StreamingSampler over the model for `scheme` (the default scheme when None), refusing streams
        beyond `max_streams`; compile "auto" | "on" | "off". Raises ConfigError for "on" where compiling is
        impossible."""
        ...

    def decode(self, latent: torch.Tensor) -> np.ndarray:
        """A latent chunk float32 [C, c, h, w] (any device) -> uint8 RGB frames [c * tf, H, W, 3] (numpy)."""
        ...

"""From a checkpoint to frames: the model, its autoencoder and text encoder, and the streaming sampler.

`StreamDiTPipeline.from_checkpoint(dir)` loads everything a checkpoint's config names; `generate()` streams
a clip of any length with an optional prompt switch; `sampler()` gives a StreamingSampler for serving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from runtime.backends.base import Backend
from runtime.backends.torch_backend import TorchBackend
from runtime.model.autoencoder import build_autoencoder, unit_to_video
from runtime.model.checkpoint import load_model
from runtime.model.compiled import resolve_compile
from runtime.model.text_encoder import TextEncoder, build_text_encoder
from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler
from sdk.errors import ConfigError


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class StreamDiTPipeline:
    """A loaded StreamDiT checkpoint, ready to stream.

    Attributes: model (StreamDiT), autoencoder (encode/decode), text_encoder, config (the checkpoint JSON),
    buffer_frames (B, latent frames), latent_shape (C, h, w), fps (video frames per second), backend (what runs
    the DiT step and the autoencoder, runtime.backends: torch unless runtime.backends.select.load_pipeline
    chose onnxruntime).
    """

    def __init__(self, model: torch.nn.Module, autoencoder: torch.nn.Module, text_encoder: TextEncoder,
                 config: dict[str, Any], device: torch.device) -> None:
        self.model, self.autoencoder, self.text_encoder = model, autoencoder, text_encoder
        self.config, self.device = config, device
        self.buffer_frames = int(config["buffer_frames"])
        h, w = config["latent_size"]
        self.latent_shape = (model.cfg.in_channels, int(h), int(w))
        self.fps = float(config.get("video", {}).get("fps", 8.0))
        self.temporal_factor = int(getattr(autoencoder, "temporal_factor", 1))
        self.decode_autocast: torch.dtype | None = torch.bfloat16  # torch backend only
        self.backend: Backend = TorchBackend(autoencoder, device)

    @classmethod
    def from_checkpoint(cls, directory: str | Path, device: str | torch.device | None = None) -> "StreamDiTPipeline":
        device = torch.device(device) if device is not None else default_device()
        from runtime.model.checkpoint import read_config
        from runtime.model.checkpoint_config import check_servable

        check_servable(read_config(directory), Path(directory) / "config.json")  # before any weights load
        loaded = load_model(directory, device)
        ae = build_autoencoder(loaded.config["autoencoder"], loaded.directory).to(device).eval()
        te = build_text_encoder(loaded.config["text_encoder"], device=device)
        return cls(loaded.model, ae, te, loaded.config, device)

    def scheme(self, c: int | None = None, s: int | None = None, K: int | None = None) -> PartitionScheme:
        """The checkpoint's default partitioning, with optional overrides."""
        d = self.config.get("sampling", {})
        return PartitionScheme.for_buffer(self.buffer_frames, int(c or d.get("c", 2)), int(s or d.get("s", 4)),
                                          int(K if K is not None else d.get("K", 0)))

    def sampler(self, scheme: PartitionScheme | None = None, guidance_scale: float | None = None,
                autocast_dtype: torch.dtype | None = torch.bfloat16, max_streams: int | None = None,
                compile: str | bool = "off") -> StreamingSampler:
        """A StreamingSampler over this model. compile: "auto" | "on" | "off" (or a bool), see
        runtime.model.compiled.resolve_compile; raises ConfigError for "on" where compiling is impossible."""
        g = self.config.get("sampling", {}).get("guidance_scale", 1.0) if guidance_scale is None else guidance_scale
        be = self.backend
        if not be.compiles:  # a backend that runs its own graph: compile does not apply
            if compile is True or compile == "on":
                raise ConfigError(f"--compile on applies to the torch backend; {be.name} runs its exported graph "
                                  f"(use --compile auto or off with it)")
            return StreamingSampler(self.model, scheme or self.scheme(), self.latent_shape, guidance_scale=float(g),
                                    autocast_dtype=None, max_streams=max_streams, forward=be.velocity(self.model),
                                    text_tokens=be.text_tokens)
        compiled = resolve_compile(compile, self.device)
        return StreamingSampler(self.model, scheme or self.scheme(), self.latent_shape, guidance_scale=float(g),
                                autocast_dtype=autocast_dtype, max_streams=max_streams, compile=compiled,
                                text_tokens=getattr(self.text_encoder, "max_tokens", None) if compiled else None,
                                forward=be.velocity(self.model))

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> np.ndarray:
        """A latent chunk [C, c, h, w] -> uint8 frames [c * temporal_factor, H, W, 3].

        The torch backend runs under bf16 autocast (set `decode_autocast = None` for float32), as the
        autoencoder was trained and evaluated (`streamdit eval-ae` reports its PSNR), and faster than float32 on
        CPUs with bf16; onnxruntime runs its exported float32 decoder.
        """
        on = self.decode_autocast is not None and self.backend.autocast_dtype is not None
        with torch.autocast(self.device.type, dtype=self.decode_autocast or torch.bfloat16, enabled=on):
            video = self.backend.decode(latent[None].to(self.device))  # (1, 3, F, H, W) float32
        return unit_to_video(video)[0].cpu().numpy()

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 frames [F, H, W, 3] (F a multiple of the temporal factor) -> latent float32 [C, F / tf, h, w]
        through the backend's encoder (video-to-video). Raises ShapeError for a wrong frame count or size."""
        from runtime.model.autoencoder import video_to_unit

        video = video_to_unit(torch.from_numpy(np.ascontiguousarray(frames))[None]).to(self.device)
        return self.backend.encode(video)[0]

    def generate(self, prompt: str, frames: int, *, seed: int = 0, scheme: PartitionScheme | None = None,
                 guidance_scale: float | None = None, switch_at: int | None = None, prompt2: str | None = None,
                 on_chunk: Callable[[int], None] | None = None) -> np.ndarray:
        """Stream `frames` video frames for a prompt. Returns uint8 [frames, H, W, 3].

        switch_at / prompt2: from the first chunk boundary at or after video frame `switch_at`, the prompt
        becomes prompt2 (it takes effect from the next step). on_chunk(frames_so_far) reports progress.
        """
        if frames < 1:
            raise ConfigError(f"frames must be >= 1, got {frames}")
        if (switch_at is None) != (prompt2 is None):
            raise ConfigError("--switch-prompt-at and --prompt2 go together: give both or neither")
        smp = self.sampler(scheme, guidance_scale)
        text, mask = self.text_encoder.encode_one(prompt)
        sid = smp.add_stream(text, mask, seed=seed)
        switched = prompt2 is None
        out: list[np.ndarray] = []
        while sum(len(f) for f in out) < frames:
            for chunk in smp.step():
                out.append(self.decode(chunk.latent))
                n = sum(len(f) for f in out)
                if on_chunk:
                    on_chunk(min(n, frames))
                if not switched and n >= switch_at:  # type: ignore[operator]
                    smp.set_prompt(sid, *self.text_encoder.encode_one(prompt2))  # type: ignore[arg-type]
                    switched = True
        return np.concatenate(out)[:frames]

"""A tiny random-weight pipeline for tests, benchmarks and `local://` demos: no checkpoint, no training.

`tiny_pipeline()` builds a small StreamDiT (random weights, gates perturbed so prompts matter), the lossless
space-to-depth autoencoder and the weight-free hash text encoder, wired exactly as a checkpoint would be.
"""

from __future__ import annotations

import torch

from runtime.model.autoencoder import SpaceToDepthAutoencoder
from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from runtime.model.text_encoder import HashTextEncoder
from runtime.pipeline import StreamDiTPipeline


def tiny_model(cfg: DiTConfig, seed: int = 0) -> StreamDiT:
    """A random-weight StreamDiT in eval mode (seeded with `seed`) whose adaLN-Zero gates and output layer are
    perturbed away from zero, so that the prompt and the flow time tau change its output (a fresh adaLN-Zero
    model is the identity)."""
    torch.manual_seed(seed)
    model = StreamDiT(cfg).eval()
    for blk in model.blocks:
        torch.nn.init.normal_(blk.adaLN_modulation[-1].weight, std=0.05)
    torch.nn.init.normal_(model.final.linear.weight, std=0.05)
    return model


def tiny_pipeline(*, size: int = 32, factor: int = 4, buffer_frames: int = 8, chunk: int = 2, micro_steps: int = 2,
                  fps: float = 16.0, hidden: int = 32, seed: int = 0, bf16: bool = False) -> StreamDiTPipeline:
    """A random-weight pipeline streaming size x size RGB frames.

    Args:
        size: frame width and height, pixels (a multiple of factor; size / factor latent pixels per side).
        factor: space-to-depth factor f (latent channels 3 f^2).
        buffer_frames, chunk, micro_steps: B, c, s of the moving buffer (B a multiple of c).
        fps: video frames per second stamped on frames.
        hidden: DiT width D.
        bf16: run the DiT under bf16 autocast (the serving default); False keeps float32 (deterministic tests).
    """
    cfg = DiTConfig(in_channels=3 * factor * factor, patch_size=1, hidden_size=hidden, depth=2, num_heads=2,
                    window=(2, 4, 4))
    model = tiny_model(cfg, seed)
    lat = size // factor
    config = {"buffer_frames": buffer_frames, "latent_size": [lat, lat],
              "sampling": {"c": chunk, "s": micro_steps, "guidance_scale": 1.0}, "video": {"fps": fps},
              "autoencoder": {"kind": "space_to_depth", "factor": factor},
              "text_encoder": {"kind": "hash", "dim": 384, "max_tokens": 32}}
    pipe = StreamDiTPipeline(model, SpaceToDepthAutoencoder(factor), HashTextEncoder(), config, torch.device("cpu"))
    if not bf16:
        _sampler = pipe.sampler
        pipe.sampler = lambda scheme=None, guidance_scale=None, autocast_dtype=None, max_streams=None, compile="off": _sampler(  # type: ignore[method-assign]
            scheme, guidance_scale, autocast_dtype=None, max_streams=max_streams, compile=compile)
        pipe.decode_autocast = None
    return pipe


def save_tiny_checkpoint(directory, **kwargs) -> "Path":  # noqa: ANN001
    """Write tiny_pipeline(**kwargs) as a checkpoint directory (for `streamdit serve --checkpoint` in tests)."""
    from pathlib import Path

    from runtime.model.checkpoint import save_checkpoint

    pipe = tiny_pipeline(**kwargs)
    return Path(save_checkpoint(directory, {**pipe.config, "model": pipe.model.cfg.to_dict()},
                                {"model": pipe.model.state_dict()}))

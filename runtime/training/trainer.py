"""The teacher trainer: buffered flow matching with mixed partitioning, EMA, AdamW, bf16 autocast, DDP.

Run it with `streamdit train --config configs/toy.toml`, or under `torchrun --nproc_per_node=P` for data
parallelism (gloo on CPU, nccl on CUDA). The loop is the shared one (runtime/training/loop.py); this file
keeps the loss and the batches. Checkpoints (EMA weights + the state to resume) are written atomically every
few minutes or steps into OUT/checkpoint; a rerun resumes from there. Every log_every steps one JSON line
(step, loss, lr, grad_norm, elapsed_s, steps_per_s) is appended to OUT/log.jsonl.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from runtime.model.autoencoder import build_autoencoder
from runtime.model.checkpoint import load_train_state, read_weights, save_checkpoint
from runtime.model.dit import StreamDiT
from runtime.model.text_encoder import build_text_encoder
from runtime.training.config import TrainConfig
from runtime.training.flow_matching import MixedPartitioning, flow_matching_loss
from runtime.training.loop import (LoopTask, Schedule, dist_info, ema_update, init_distributed, run_loop,
                                   warmup_cosine_lr, wrap_ddp)
from runtime.training.sources import build_source
from sdk.errors import CheckpointError


@dataclass
class TrainResult:
    """What a run did: final step, last logged loss, wall time (s), checkpoint directory."""

    step: int
    loss: float
    seconds: float
    checkpoint: Path


def checkpoint_config(cfg: TrainConfig, step: int, latent_hw: tuple[int, int]) -> dict[str, Any]:
    """The JSON config stored with the weights: everything `generate` and the runtime need."""
    return {
        "model": cfg.model.to_dict(),
        "autoencoder": cfg.autoencoder,
        "text_encoder": cfg.text_encoder,
        "flow": {"sigma_min": cfg.partition.sigma_min},
        "buffer_frames": cfg.partition.buffer_frames,
        "latent_size": list(latent_hw),
        "sampling": {"K": cfg.sampling.K, "c": cfg.sampling.c, "s": cfg.sampling.s,
                     "guidance_scale": cfg.sampling.guidance_scale},
        "video": {"fps": cfg.sampling.fps},
        "training": {"step": step, "data": cfg.data, "optim": cfg.to_dict()["optim"],
                     "partition": cfg.to_dict()["partition"]},
    }


class Trainer(LoopTask):
    """Owns the model, EMA, optimizer and data; runs the shared loop (runtime.training.loop). Construct, then
    `run()`."""

    def __init__(self, cfg: TrainConfig, device: str | None = None, init_from: str | Path | None = None) -> None:
        self.cfg = cfg
        self.rank, self.world, local_rank = dist_info()
        init_distributed(self.world)
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoint"
        self.source = build_source(cfg.data)
        self.ae_spec, ae_dir = self._autoencoder_spec(cfg.autoencoder)
        self.autoencoder = build_autoencoder(self.ae_spec, ae_dir).to(self.device).eval()
        self.text_encoder = build_text_encoder(cfg.text_encoder)
        self.partitioning = MixedPartitioning.from_config(cfg.partition)
        torch.manual_seed(cfg.optim.seed)
        self.model = StreamDiT(cfg.model).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.optim.lr, betas=(0.9, 0.99),
                                     weight_decay=cfg.optim.weight_decay)
        self.step = 0
        self.latent_hw = self._latent_hw()
        self._resume(init_from)
        self.ddp = wrap_ddp(self.model, self.device, self.world)

    @staticmethod
    def _autoencoder_spec(section: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """[autoencoder] is either a spec (kind = ...) or `from = "DIR"`, a trained autoencoder checkpoint."""
        if "from" not in section:
            return dict(section), None
        from runtime.model.ae_checkpoint import read_autoencoder_config

        return dict(read_autoencoder_config(section["from"])["autoencoder"]), str(section["from"])

    def _latent_hw(self) -> tuple[int, int]:
        if getattr(self.source, "latent", False):  # pre-encoded latents (data kind "latents")
            h, w = self.source.latent_size
            return int(h), int(w)
        probe = torch.zeros(1, 3, 1, self.source.size, self.source.size, device=self.device)
        with torch.no_grad():
            z = self.autoencoder.encode(probe)
        return int(z.shape[-2]), int(z.shape[-1])

    def _resume(self, init_from: str | Path | None = None) -> None:
        """Resume from OUT/checkpoint when it exists; otherwise, with init_from, start from the weights of
        another checkpoint (warm start: fresh optimizer, step 0). A damaged or mismatched checkpoint is
        refused before anything is written."""
        if not (self.ckpt_dir / "config.json").exists():
            if init_from is not None:
                from runtime.model.checkpoint import check_warm_start, load_model

                loaded = load_model(init_from)
                check_warm_start(loaded.model.cfg, self.cfg.model, f"--init-from {init_from}")
                self.model.load_state_dict(loaded.model.state_dict())
                self.ema.load_state_dict(loaded.model.state_dict())
            return
        state = load_train_state(self.ckpt_dir)
        if state is None:
            raise CheckpointError(f"{self.ckpt_dir} has no train_state.pt, so training cannot resume from it; "
                                  "choose another --out or delete it")
        shapes = {k: v.shape for k, v in self.model.state_dict().items()}
        for key in ("model", "ema"):
            got = {k: v.shape for k, v in state[key].items()}
            if got != shapes:
                raise CheckpointError(f"{self.ckpt_dir}: the saved {key} weights do not match the configured model "
                                      "(was the [model] section changed?); choose another --out")
        read_weights(self.ckpt_dir / "model.safetensors", shapes)  # also refuses a corrupted weights file
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])

    def lr_at(self, step: int, elapsed_s: float = 0.0) -> float:
        """Learning rate at `step` after `elapsed_s` seconds: `warmup_cosine_lr` over [optim]."""
        o = self.cfg.optim
        return warmup_cosine_lr(step, elapsed_s, lr=o.lr, warmup_steps=o.warmup_steps, steps=o.steps,
                                max_minutes=o.max_minutes, min_lr_ratio=o.min_lr_ratio)

    def save(self) -> Path:
        if self.rank != 0:
            return self.ckpt_dir
        state = {"step": self.step, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                 "optimizer": self.opt.state_dict()}
        config = checkpoint_config(self.cfg, self.step, self.latent_hw)
        config["autoencoder"] = self.ae_spec
        weights = {"model": self.ema.state_dict()}
        ae_state = self.autoencoder.state_dict()
        if ae_state:  # a learned autoencoder travels inside the checkpoint (autoencoder.safetensors)
            weights["autoencoder"] = ae_state
        # the DiT in bf16 (half the size); a learned autoencoder keeps float32 (its PSNR was measured so)
        return save_checkpoint(self.ckpt_dir, config, weights, train_state=state,
                               dtype={"model": torch.bfloat16, "autoencoder": torch.float32})

    def _batch(self, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        o = self.cfg.optim
        video, captions = self.source.batch(o.batch_size, g)
        if getattr(self.source, "latent", False):
            x1 = video.to(self.device)  # already encoded and normalised: (B, C, F, h, w)
        else:
            with torch.no_grad():
                x1 = self.autoencoder.encode(video.to(self.device))  # (B, C, F, h, w)
        text, mask = self.text_encoder.encode(captions)
        text, mask = text.to(self.device), mask.to(self.device)
        drop = (torch.rand(o.batch_size, generator=g) < o.prompt_dropout).to(self.device)
        levels, loss_mask, _ = self.partitioning.sample(o.batch_size, g)
        return x1, text, mask, levels.to(self.device), loss_mask.to(self.device), drop

    def fit_step(self, g: torch.Generator) -> dict[str, float]:
        """One AdamW step on a fresh batch drawn with g (at the optimizer's lr), then the EMA update."""
        o = self.cfg.optim
        x1, text, mask, levels, loss_mask, drop = self._batch(g)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=o.bf16):
            loss = flow_matching_loss(self.ddp, x1, text, mask, levels, loss_mask, self.cfg.partition.sigma_min, g,
                                      drop)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
        self.opt.step()
        ema_update(self.ema, self.model, o.ema_decay, self.step)
        self.step += 1
        return {"loss": float(loss.detach()), "grad_norm": float(gnorm)}

    def log_record(self, metrics: dict[str, float], lr: float, elapsed_s: float, steps_run: int) -> dict[str, Any]:
        """The log.jsonl line: step, loss, lr, grad_norm, elapsed_s (s), steps_per_s (this run's)."""
        return {"step": self.step, "loss": round(metrics["loss"], 6), "lr": lr,
                "grad_norm": round(metrics["grad_norm"], 4), "elapsed_s": round(elapsed_s, 2),
                "steps_per_s": round(steps_run / max(1e-9, elapsed_s), 3)}

    def run(self, progress: bool = True) -> TrainResult:
        """Train to [optim] steps (or max_minutes); checkpoint every few minutes or steps and at the end."""
        o = self.cfg.optim
        run = run_loop(self, Schedule(steps=o.steps, max_minutes=o.max_minutes, seed=o.seed, log_every=o.log_every,
                                      checkpoint_every_minutes=o.checkpoint_every_minutes,
                                      checkpoint_every_steps=o.checkpoint_every_steps),
                       self.out, desc="train", progress=progress)
        return TrainResult(self.step, run.metrics.get("loss", float("nan")), time.time() - run.t0, run.final)

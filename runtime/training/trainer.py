"""The training loop: buffered flow matching with mixed partitioning, EMA, AdamW, bf16 autocast, DDP.

Run it with `streamdit train --config configs/toy.toml`, or under `torchrun --nproc_per_node=P` for data
parallelism (gloo on CPU, nccl on CUDA). Checkpoints (EMA weights + the state to resume) are written
atomically every few minutes or steps into OUT/checkpoint; a rerun resumes from there. Every log_every
steps one JSON line (step, loss, lr, ...) is appended to OUT/log.jsonl.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from runtime.model.autoencoder import build_autoencoder
from runtime.model.checkpoint import load_train_state, read_weights, save_checkpoint
from runtime.model.dit import StreamDiT
from runtime.model.text_encoder import build_text_encoder
from runtime.training.config import TrainConfig
from runtime.training.flow_matching import MixedPartitioning, flow_matching_loss
from runtime.training.sources import build_source
from sdk.errors import CheckpointError


@dataclass
class TrainResult:
    """What a run did: final step, last logged loss, wall time (s), checkpoint directory."""

    step: int
    loss: float
    seconds: float
    checkpoint: Path


def _dist_info() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


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


def warmup_cosine_lr(step: int, elapsed_s: float, *, lr: float, warmup_steps: int, steps: int,
                     max_minutes: float | None, min_lr_ratio: float) -> float:
    """Linear warm-up over warmup_steps, then cosine decay from lr to lr * min_lr_ratio.

    The decay follows whichever budget runs out first, `steps` or `max_minutes` (elapsed_s, seconds), so a
    run cut by its time budget still ends annealed (its EMA weights then come from a low learning rate).
    Used by the trainer and the distiller.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    frac = (step - warmup_steps) / max(1, steps - warmup_steps)
    if max_minutes:
        frac = max(frac, elapsed_s / (60 * max_minutes))
    frac = min(1.0, frac)
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


class Trainer:
    """Owns the model, EMA, optimizer, data and the loop. Construct, then `run()`."""

    def __init__(self, cfg: TrainConfig, device: str | None = None, init_from: str | Path | None = None) -> None:
        self.cfg = cfg
        self.rank, self.world, local_rank = _dist_info()
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoint"
        self.source = build_source(cfg.data)
        self.ae_spec, ae_dir = self._autoencoder_spec(cfg.autoencoder)
        self.autoencoder = build_autoencoder(self.ae_spec, ae_dir).to(self.device).eval()
        self.text_encoder = build_text_encoder(cfg.text_encoder)
        self.partitioning = MixedPartitioning(
            cfg.partition.buffer_frames, tuple(cfg.partition.chunk_sizes),
            tuple(cfg.partition.chunk_probs) if cfg.partition.chunk_probs else None,
            cfg.partition.reference_prob, cfg.partition.reference_frames)
        torch.manual_seed(cfg.optim.seed)
        self.model = StreamDiT(cfg.model).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.optim.lr, betas=(0.9, 0.99),
                                     weight_decay=cfg.optim.weight_decay)
        self.step = 0
        self.latent_hw = self._latent_hw()
        self._resume(init_from)
        self.ddp = (torch.nn.parallel.DistributedDataParallel(self.model, device_ids=None if self.device.type == "cpu"
                                                              else [self.device.index])
                    if self.world > 1 else self.model)

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

    def run(self, progress: bool = True) -> TrainResult:
        o = self.cfg.optim
        self.out.mkdir(parents=True, exist_ok=True)
        log = open(self.out / "log.jsonl", "a") if self.rank == 0 else None
        t0 = last_ckpt = time.time()
        loss_val, start = float("nan"), self.step
        bar = tqdm(total=o.steps, initial=self.step, disable=not progress or self.rank != 0, desc="train",
                   unit="step", dynamic_ncols=True)
        try:
            while self.step < o.steps:
                if o.max_minutes is not None and time.time() - t0 > 60 * o.max_minutes:
                    break
                g = torch.Generator().manual_seed(o.seed * 1_000_003 + self.step * 1009 + self.rank)
                x1, text, mask, levels, loss_mask, drop = self._batch(g)
                lr = self.lr_at(self.step, time.time() - t0)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=o.bf16):
                    loss = flow_matching_loss(self.ddp, x1, text, mask, levels, loss_mask,
                                              self.cfg.partition.sigma_min, g, drop)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
                self.opt.step()
                decay = min(o.ema_decay, (1 + self.step) / (10 + self.step))
                with torch.no_grad():
                    for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                        pe.lerp_(pm, 1 - decay)
                self.step += 1
                loss_val = float(loss.detach())
                bar.update(1)
                if self.step % o.log_every == 0 or self.step == o.steps:
                    bar.set_postfix(loss=f"{loss_val:.4f}", lr=f"{lr:.2e}")
                    if log:
                        rec = {"step": self.step, "loss": round(loss_val, 6), "lr": lr, "grad_norm": round(float(gnorm), 4),
                               "elapsed_s": round(time.time() - t0, 2),
                               "steps_per_s": round((self.step - start) / max(1e-9, time.time() - t0), 3)}
                        log.write(json.dumps(rec) + "\n")
                        log.flush()
                if (self.step % o.checkpoint_every_steps == 0
                        or time.time() - last_ckpt > 60 * o.checkpoint_every_minutes):
                    self.save()
                    last_ckpt = time.time()
            path = self.save()
        finally:
            bar.close()
            if log:
                log.close()
            if self.world > 1 and dist.is_initialized():
                dist.barrier()
        return TrainResult(self.step, loss_val, time.time() - t0, path)

"""Train the convolutional autoencoder on a recording or a Crafter capture (`streamdit train-ae`).

The train split (`runtime.data.frames.FrameBank`: the same shard split as the DiT's data) is held in memory as uint8 and
sampled as random clips of `temporal_factor` frames. Loss: L1 + MSE on pixels in [-1, 1], with the
decoder fed the latent plus Gaussian noise (`AutoencoderConfig.latent_noise`). AdamW, warmup then cosine
decay, bf16 autocast. Every few minutes the run directory OUT is rewritten atomically as an autoencoder
checkpoint (autoencoder.safetensors + config.json with the latent stats, + train_state.pt to resume), and
a line with the held-out PSNR goes to OUT/log.jsonl; a rerun with the same OUT resumes. The loop is the
trainer's (runtime/training/loop.py), with its time budget counted over all resumes; this file keeps the loss
and the batches.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from runtime.model.autoencoder import video_to_unit
from runtime.model.ae_checkpoint import AE_TRAIN_STATE, load_conv_weights, read_autoencoder_config, save_autoencoder
from runtime.model.conv_autoencoder import AutoencoderConfig, ConvAutoencoder
from runtime.data.frames import FrameBank
from runtime.evaluation.autoencoder import decode_ms_per_frame, evaluate
from runtime.training.loop import LoopTask, Run, Schedule, run_loop, warmup_cosine_lr
from sdk.errors import CheckpointError, ConfigError


@dataclass
class AETrainConfig:
    """One `train-ae` run. Sizes in pixels, times in minutes, batch in video frames."""

    data: str  # a recording (docs/recording.md) or a Crafter capture directory (`streamdit data crafter`)
    out: str  # run directory = the autoencoder checkpoint directory
    size: int = 64  # training resolution; the capture must be this size or an integer multiple of it
    temporal_factor: int = 1
    latent_channels: int = 8
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    latent_noise: float = 0.1
    steps: int = 4000
    max_minutes: float | None = None  # total training time over all resumes; the LR schedule ends with it
    batch_frames: int = 32  # video frames per step (batch_frames / temporal_factor clips)
    lr: float = 1e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    heldout_fraction: float = 0.1  # must match the DiT data's split (CrafterClips default)
    bf16: bool = True
    seed: int = 0
    log_every: int = 25
    checkpoint_every_minutes: float = 5.0
    eval_frames: int = 512  # held-out frames scored at each checkpoint and at the end
    init_from: str | None = None  # autoencoder checkpoint whose weights a fresh run starts from (e.g. another size)

    def ae_config(self) -> AutoencoderConfig:
        return AutoencoderConfig(latent_channels=self.latent_channels, temporal_factor=self.temporal_factor,
                                 widths=list(self.widths), latent_noise=self.latent_noise, image_size=self.size)


@torch.no_grad()
def measure_latent_stats(ae: ConvAutoencoder, clips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (float [C]) of raw fp32 latents of uint8 clips [n, F, S, S, 3]."""
    zs = [ae.encode_raw(video_to_unit(torch.from_numpy(clips[i: i + 8]))) for i in range(0, len(clips), 8)]
    z = torch.cat(zs).float().transpose(0, 1).flatten(1)  # (C, n * F' * h * w)
    return z.mean(1), z.std(1).clamp_min(1e-4)


class AETrainer(LoopTask):
    """Owns the autoencoder, optimizer and data of a `train-ae` run; runs the shared loop
    (runtime.training.loop). Construct, then `run()`."""

    def __init__(self, cfg: AETrainConfig) -> None:
        if cfg.batch_frames % cfg.temporal_factor or cfg.batch_frames < cfg.temporal_factor:
            raise ConfigError(f"batch_frames {cfg.batch_frames} must be a positive multiple of the temporal "
                              f"factor {cfg.temporal_factor}")
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.ae = ConvAutoencoder(cfg.ae_config())
        self.opt = torch.optim.AdamW(self.ae.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
        self.step = 0
        self.seconds = 0.0  # training wall time over all resumes
        self._resume()
        if self.step == 0 and cfg.init_from:
            self._init_from(Path(cfg.init_from))
        tf = cfg.temporal_factor
        self.train = FrameBank(cfg.data, cfg.size, tf, "train", cfg.heldout_fraction)
        self.heldout = FrameBank(cfg.data, cfg.size, tf, "heldout", cfg.heldout_fraction)
        self.eval_clips = self.heldout.evenly(cfg.eval_frames)
        self.stats_clips = self.train.sample(max(1, 256 // tf), torch.Generator().manual_seed(cfg.seed + 17))

    def _resume(self) -> None:
        path = self.out / AE_TRAIN_STATE
        if not path.exists():
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{path} is corrupted ({type(e).__name__}: {e}); delete {self.out} to "
                                  "start over") from None
        if state.get("ae_config") != dataclasses.asdict(self.ae.cfg):
            raise CheckpointError(f"{self.out} holds a run with autoencoder config {state.get('ae_config')}, "
                                  f"not {dataclasses.asdict(self.ae.cfg)}; pass another --out or the same options")
        self.ae.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.seconds = float(state.get("seconds", 0.0))

    def _init_from(self, directory: Path) -> None:
        """Start a fresh run from the weights of the autoencoder checkpoint `directory` (fine-tuning).

        Every shape setting must match this run's (latent channels, widths, spatial and temporal factors,
        temporal stage); image_size and latent_noise may differ, since the convolutions run at any multiple
        of the spatial factor. The optimizer starts fresh. Raises CheckpointError on a mismatch or a damaged
        checkpoint, before anything is written.
        """
        spec = read_autoencoder_config(directory)["autoencoder"]
        source = spec.get("config", {})
        free = {"image_size", "latent_noise"}
        mine = {k: v for k, v in dataclasses.asdict(self.ae.cfg).items() if k not in free}
        theirs = {k: v for k, v in source.items() if k not in free}
        if spec.get("kind") != "conv" or mine != theirs:
            raise CheckpointError(f"--init-from {directory}: its autoencoder {spec.get('kind')} {theirs} differs "
                                  f"from this run's {mine}; pass the same --widths, --latent-channels and "
                                  "--temporal-factor, or start from scratch")
        self.ae.load_state_dict(load_conv_weights(spec, directory).state_dict())

    def lr_at(self, step: int, elapsed_s: float | None = None) -> float:
        """Linear warmup over warmup_steps, then cosine to lr * min_lr_ratio at the end of the run: steps or
        minutes of training (elapsed_s, default self.seconds: over all resumes), whichever budget ends first."""
        c = self.cfg
        return warmup_cosine_lr(step, self.seconds if elapsed_s is None else elapsed_s, lr=c.lr,
                                warmup_steps=c.warmup_steps, steps=c.steps, max_minutes=c.max_minutes,
                                min_lr_ratio=c.min_lr_ratio)

    def train_step(self, g: torch.Generator) -> dict[str, float]:
        c = self.cfg
        x = video_to_unit(torch.from_numpy(self.train.sample(c.batch_frames // c.temporal_factor, g)))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=c.bf16):
            z = self.ae.encode_raw(x)  # (n, C, 1, h, w)
            std = z.detach().float().std(dim=(0, 2, 3, 4), keepdim=True)
            noise = torch.randn(z.shape, generator=g) * std * c.latent_noise
            y = self.ae.decode_raw(z + noise).float()  # (n, 3, tf, S, S)
        mse = F.mse_loss(y, x)
        loss = F.l1_loss(y, x) + mse
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.ae.parameters(), 1.0)
        self.opt.step()
        return {"loss": float(loss.detach()), "train_psnr_db": 10 * math.log10(4.0 / max(float(mse.detach()), 1e-10)),
                "grad_norm": float(gnorm)}

    def save(self) -> dict[str, float]:
        """Measure stats and held-out PSNR, then write OUT atomically. Returns the scores."""
        self.ae.eval()
        self.ae.set_latent_stats(*measure_latent_stats(self.ae, self.stats_clips))
        scores = evaluate(self.ae, self.eval_clips, self.cfg.bf16)
        self.ae.train()
        state = {"step": self.step, "seconds": self.seconds, "model": self.ae.state_dict(),
                 "optimizer": self.opt.state_dict(), "ae_config": dataclasses.asdict(self.ae.cfg)}
        extra = {"training": {"step": self.step, "minutes": round(self.seconds / 60, 2),
                              "run": dataclasses.asdict(self.cfg), "train_episodes": len(self.train.names),
                              "train_frames": self.train.frames, "heldout_episodes": self.heldout.names,
                              "heldout": scores}}
        save_autoencoder(self.out, self.ae, extra, train_state=state)
        return scores

    def fit_step(self, generator: torch.Generator) -> dict[str, float]:
        """train_step, counted: the loop's step (runtime.training.loop)."""
        rec = self.train_step(generator)
        self.step += 1
        return rec

    def log_record(self, metrics: dict[str, float], lr: float, elapsed_s: float, steps_run: int) -> dict[str, Any]:
        """The log.jsonl line: step, train_step's metrics, lr, elapsed_s (s), steps_per_s (this run's)."""
        return {"step": self.step, **{k: round(v, 5) for k, v in metrics.items()}, "lr": lr,
                "elapsed_s": round(elapsed_s, 1), "steps_per_s": round(steps_run / max(elapsed_s, 1e-9), 3)}

    def postfix(self, metrics: dict[str, float], lr: float) -> dict[str, str]:
        """The progress bar shows the loss and the training PSNR (dB)."""
        return {"loss": f"{metrics['loss']:.4f}", "psnr": f"{metrics['train_psnr_db']:.1f}"}

    def on_start(self, run: Run) -> None:
        """The log's "start" line: step, frame counts and the config."""
        run.write({"event": "start", "step": self.step, "train_frames": self.train.frames,
                   "heldout_frames": self.heldout.frames, "config": dataclasses.asdict(self.cfg)})

    def checkpoint(self, run: Run) -> None:
        """Save, and log the held-out scores."""
        run.write({"step": self.step, "heldout": self.save(), "elapsed_s": round(run.elapsed(), 1)})

    def finish(self, run: Run) -> dict[str, Any]:
        """The last save, the decoder's speed, and the "end" line of the log."""
        scores = self.save()
        self.ae.eval()
        timing = decode_ms_per_frame(self.ae, self.cfg.size)
        result = {"event": "end", "step": self.step, "heldout": scores, "decode_ms_per_frame": timing,
                  "minutes": round(run.elapsed() / 60, 2), "train_minutes": round(self.seconds / 60, 2)}
        run.write(result)
        return result

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train to cfg.steps (or cfg.max_minutes of training over all resumes), save, and return the final
        scores and timings (the log's "end" line)."""
        c = self.cfg
        self.ae.train()
        schedule = Schedule(steps=c.steps, max_minutes=c.max_minutes, seed=c.seed, log_every=c.log_every,
                            checkpoint_every_minutes=c.checkpoint_every_minutes, log_last_step=False,
                            seed_stride=1, resumed_clock=True)
        return run_loop(self, schedule, self.out, desc="train-ae", progress=progress).final

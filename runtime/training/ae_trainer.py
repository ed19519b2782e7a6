"""Train the convolutional autoencoder on a recording or a Crafter capture (`streamdit train-ae`).

The train split (`runtime.data.frames.FrameBank`: the same shard split as the DiT's data) is held in memory as uint8 and
sampled as random clips of `temporal_factor` frames. Loss: L1 + MSE on pixels in [-1, 1], with the
decoder fed the latent plus Gaussian noise (`AutoencoderConfig.latent_noise`). AdamW, warmup then cosine
decay, bf16 autocast. Every few minutes the run directory OUT is rewritten atomically as an autoencoder
checkpoint (autoencoder.safetensors + config.json with the latent stats, + train_state.pt to resume), and
a line with the held-out PSNR goes to OUT/log.jsonl; a rerun with the same OUT resumes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from runtime.model.autoencoder import video_to_unit
from runtime.model.ae_checkpoint import AE_TRAIN_STATE, load_conv_weights, read_autoencoder_config, save_autoencoder
from runtime.model.conv_autoencoder import AutoencoderConfig, ConvAutoencoder
from runtime.data.frames import FrameBank, _resize  # noqa: F401  (FrameBank re-exported for `streamdit eval-ae`)
from runtime.training.data.dataset import CrafterClips
from sdk.errors import CheckpointError, ConfigError, DataError


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


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two uint8 tensors of one shape (peak 255)."""
    mse = (a.float() - b.float()).pow(2).mean().item()
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


@torch.no_grad()
def reconstruct(ae: ConvAutoencoder, clips: np.ndarray, bf16: bool, batch: int = 64) -> np.ndarray:
    """uint8 clips [n, F, S, S, 3] -> their uint8 round trips through encode and decode."""
    from runtime.model.autoencoder import unit_to_video

    out = []
    per = max(1, batch // clips.shape[1])
    for i in range(0, len(clips), per):
        x = video_to_unit(torch.from_numpy(clips[i: i + per]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = ae.decode(ae.encode(x))
        out.append(unit_to_video(y).numpy())
    return np.concatenate(out)


def evaluate(ae: ConvAutoencoder, clips: np.ndarray, bf16: bool) -> dict[str, float]:
    """Held-out scores: mean per-frame PSNR and PSNR of the pooled MSE (dB), on uint8 frames."""
    rec = torch.from_numpy(reconstruct(ae, clips, bf16)).flatten(0, 1)
    ref = torch.from_numpy(clips).flatten(0, 1)
    per_frame = [psnr(r, o) for r, o in zip(rec, ref)]
    return {"psnr_db": round(float(np.mean(per_frame)), 3), "psnr_pooled_db": round(psnr(rec, ref), 3),
            "frames": len(per_frame)}


def _one_tile_scrolls(clips: CrafterClips, size: int):
    """Held-out steps whose walk scrolled the view by one whole tile, in episode order: yields (shard name,
    frames uint8 [T, size, size, 3], step i (frames[i - 1] -> frames[i]), the walk (dx, dy) in tiles, and the
    world-row pixels to compare, bool [world rows, size]: not the edge tiles, not the player sprite before or
    after a one-tile shift). Blocked walks (the player turned but the view stayed) and plain ground (where
    a shift and no shift fit alike) are left out."""
    from runtime.training.data.captioner import MOVES
    from runtime.training.data.capture import crafter_view

    step_of = {name: (dx, dy) for (dx, dy), name in MOVES.items()}
    rows, (y0, y1, x0, x1) = crafter_view(size)
    y0, y1, x0, x1 = y0 + 1, y1 - 1, x0 + 1, x1 - 1  # the player tile itself
    tile = size // 9
    for k in range(len(clips.episodes)):
        name, frames, events = clips.episode(k)
        frames = _resize(frames, size, name)
        for i in range(1, len(frames)):
            walked = [step_of[e.type] for e in events[i] if e.type in step_of]
            if not walked:
                continue
            dx, dy = walked[0]  # the view follows the player: the content moves by (-dx, -dy) tiles
            keep = np.ones((rows, size), bool)
            for oy, ox in ((0, 0), (-dy * tile, -dx * tile)):  # the sprite, and where the shift puts it
                keep[max(y0 + oy, 0): y1 + oy, max(x0 + ox, 0): x1 + ox] = False
            keep[:tile], keep[-tile:], keep[:, :tile], keep[:, -tile:] = False, False, False, False
            a, b = frames[i - 1, :rows].astype(np.float32), frames[i, :rows].astype(np.float32)
            moved = np.abs(np.roll(a, (-dy * tile, -dx * tile), (0, 1)) - b)[keep].mean()
            if moved < 0.25 * np.abs(a - b)[keep].mean():
                yield name, frames, i, (dx, dy), keep


@torch.no_grad()
def shift_residual(ae: torch.nn.Module, root: str | Path, size: int, heldout_fraction: float = 0.1,
                   max_moves: int = 400) -> dict[str, float]:
    """How much of a one-tile scroll of real play the latent carries as a one-cell shift (issue 3).

    Over held-out steps where the player walked and the world rows of the frame moved by one whole tile
    (Crafter draws tiles of `unit = size // 9` px: 7 px at 64x64, 8 px at 72x72), the latent change of that
    step is compared with the change left after shifting the previous latent by one cell against the walk:
    ratio = mean squared residual after the shift / without it. 0: the scroll is an exact one-cell latent
    shift (a DiT can copy tokens); 1: shifting does not help. Compared: latent cells of the world rows, not
    on the latent's edge, and not under the player sprite (which stays on screen) before or after the shift.
    Latents are the checkpoint's normalised ones ([1, C, F, h, w] from `ae.encode`, about unit variance).

    ae: any autoencoder with `encode(video [1, 3, F, H, W] in [-1, 1]) -> [1, C, F, h, w]` and temporal
    factor 1; root: a capture of `size` px frames or an integer multiple (area-downsampled). Returns
    {"moves", "tile_px", "cell_px", "residual_still", "residual_shifted", "ratio"}. Raises DataError when
    no held-out move scrolls the view, ConfigError for a temporal factor other than 1.
    """
    from runtime.training.data.capture import crafter_view
    from runtime.data.latents import encode_frames

    if getattr(ae, "temporal_factor", 1) != 1:
        raise ConfigError("shift_residual compares single frames: it needs an autoencoder with temporal factor 1")
    clips = CrafterClips(root, 2, split="heldout", heldout_fraction=heldout_fraction)
    rows = crafter_view(size)[0]
    still = shifted = 0.0
    moves = cell = 0
    encoded, z = None, torch.empty(0)  # the latents [F, C, h, w] of one episode, encoded at its first scroll
    for name, frames, i, (dx, dy), keep in itertools.islice(_one_tile_scrolls(clips, size), max_moves):
        if name != encoded:
            encoded, z = name, encode_frames(ae, frames, bf16=False)
            cell = size // z.shape[-1]
        # a latent cell is compared when every pixel it covers is
        cells = torch.from_numpy(keep[: rows // cell * cell].reshape(rows // cell, cell, -1, cell).all(axis=(1, 3)))
        za, zb = z[i - 1, :, : cells.shape[0]], z[i, :, : cells.shape[0]]
        still += float((zb - za)[:, cells].pow(2).mean())
        shifted += float((zb - torch.roll(za, shifts=(-dy, -dx), dims=(1, 2)))[:, cells].pow(2).mean())
        moves += 1
    if not moves:
        raise DataError(f"no held-out step of {root} scrolls the view by a whole tile; capture more episodes")
    return {"moves": moves, "tile_px": size // 9, "cell_px": cell, "residual_still": round(still / moves, 4),
            "residual_shifted": round(shifted / moves, 4), "ratio": round(shifted / max(still, 1e-12), 4)}


@torch.no_grad()
def decode_ms_per_frame(ae: ConvAutoencoder, size: int, video_frames: int = 8, reps: int = 15) -> dict[str, float]:
    """Median wall time of `decode` per video frame (ms) for one chunk of `video_frames` frames, fp32 and
    bf16 autocast, at the current torch thread count; "best" is the faster of the two."""
    h = size // ae.spatial_factor
    z = torch.randn(1, ae.latent_channels, max(1, video_frames // ae.temporal_factor), h, h)
    n = z.shape[2] * ae.temporal_factor
    res: dict[str, float] = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        times = []
        for i in range(reps + 2):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                ae.decode(z)
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t)
        res[name] = round(1000 * float(np.median(times)) / n, 3)
    res["best"] = min(res["fp32"], res["bf16"])
    res["threads"] = torch.get_num_threads()
    return res


@torch.no_grad()
def measure_latent_stats(ae: ConvAutoencoder, clips: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (float [C]) of raw fp32 latents of uint8 clips [n, F, S, S, 3]."""
    zs = [ae.encode_raw(video_to_unit(torch.from_numpy(clips[i: i + 8]))) for i in range(0, len(clips), 8)]
    z = torch.cat(zs).float().transpose(0, 1).flatten(1)  # (C, n * F' * h * w)
    return z.mean(1), z.std(1).clamp_min(1e-4)


class AETrainer:
    """Owns the autoencoder, optimizer and data of a `train-ae` run. Construct, then `run()`."""

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

    def progress(self) -> float:
        """Fraction of the run done: steps or minutes, whichever budget is nearer its end."""
        c = self.cfg
        frac = (self.step - c.warmup_steps) / max(1, c.steps - c.warmup_steps)
        if c.max_minutes:
            frac = max(frac, self.seconds / (60 * c.max_minutes))
        return min(1.0, max(0.0, frac))

    def lr_at(self, step: int) -> float:
        """Linear warmup over warmup_steps, then cosine to lr * min_lr_ratio at the end of the run."""
        c = self.cfg
        if step < c.warmup_steps:
            return c.lr * (step + 1) / c.warmup_steps
        frac = self.progress()
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))

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

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train to cfg.steps (or cfg.max_minutes), save, and return the final scores and timings."""
        c = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        self.ae.train()
        t0 = last = time.time()
        start = self.step
        bar = tqdm(total=c.steps, initial=self.step, desc="train-ae", unit="step", disable=not progress,
                   dynamic_ncols=True)
        with open(self.out / "log.jsonl", "a") as log:
            def write(rec: dict[str, Any]) -> None:
                log.write(json.dumps(rec) + "\n")
                log.flush()

            write({"event": "start", "step": self.step, "train_frames": self.train.frames,
                   "heldout_frames": self.heldout.frames, "config": dataclasses.asdict(c)})
            try:
                while self.step < c.steps:
                    if c.max_minutes is not None and self.seconds >= 60 * c.max_minutes:
                        break
                    tick = time.time()
                    lr = self.lr_at(self.step)
                    for group in self.opt.param_groups:
                        group["lr"] = lr
                    g = torch.Generator().manual_seed(c.seed * 1_000_003 + self.step)
                    rec = self.train_step(g)
                    self.step += 1
                    self.seconds += time.time() - tick
                    bar.update(1)
                    if self.step % c.log_every == 0:
                        bar.set_postfix(loss=f"{rec['loss']:.4f}", psnr=f"{rec['train_psnr_db']:.1f}")
                        write({"step": self.step, **{k: round(v, 5) for k, v in rec.items()}, "lr": lr,
                               "elapsed_s": round(time.time() - t0, 1),
                               "steps_per_s": round((self.step - start) / max(time.time() - t0, 1e-9), 3)})
                    if time.time() - last > 60 * c.checkpoint_every_minutes:
                        write({"step": self.step, "heldout": self.save(), "elapsed_s": round(time.time() - t0, 1)})
                        last = time.time()
            finally:
                bar.close()
            scores = self.save()
            self.ae.eval()
            timing = decode_ms_per_frame(self.ae, c.size)
            result = {"event": "end", "step": self.step, "heldout": scores, "decode_ms_per_frame": timing,
                      "minutes": round((time.time() - t0) / 60, 2), "train_minutes": round(self.seconds / 60, 2)}
            write(result)
        return result

"""The distillation loop: a teacher checkpoint in, a one-call-per-chunk student checkpoint out.

StreamDiT, arXiv 2507.03745, section 3.4. The student has the teacher's architecture and starts from its
weights; each step draws clean latent clips and their captions from the teacher's own training data,
builds training pairs with runtime.distillation.target (teacher: s guided micro-steps; student: one
conditional step of size 1/N) and fits the student with AdamW under bf16 autocast, keeping an EMA of its
weights. It runs the trainer's loop (runtime/training/loop.py): it writes OUT/checkpoint atomically every
few minutes or steps and at the end, appends one JSON line per log_every steps to OUT/log.jsonl, and a rerun
resumes from OUT/checkpoint; a damaged checkpoint, or one distilled from another teacher or target, is
refused before anything is written. This file keeps the loss and the batches.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from runtime.distillation.target import DistillBatch, distillation_loss, make_pair, student_scheme, teacher_scheme
from runtime.model.autoencoder import build_autoencoder
from runtime.model.checkpoint import (MODEL_FILE, check_warm_start, file_sha256, is_distilled, load_model,
                                      load_train_state, read_config, read_weights, save_checkpoint)
from runtime.model.text_encoder import build_text_encoder
from runtime.training.sources import build_source
from runtime.training.loop import LoopTask, Schedule, ema_update, run_loop, warmup_cosine_lr
from sdk.errors import CheckpointError, ConfigError, DataError, StreamDiTError


@dataclass
class DistillConfig:
    """One distillation run. Options that change the target (teacher, chunk, micro_steps, guidance_scale)
    must stay the same across resumes; the others may change.

    teacher: teacher checkpoint directory. out: run directory (checkpoint/, log.jsonl).
    data: None = the teacher's training data (config "training.data"); a directory = pre-encoded latents
        from `streamdit encode-latents` (kind "latents"); a dict = a full data section.
    init_from: None = the student starts from the teacher's weights (paper section 3.4); a directory = a
        student distilled from a teacher of the same architecture with the same c and N, whose weights the
        student and its EMA start from, to continue a finished distillation under new options (e.g. caption
        weights). Only a fresh run reads it; a resume continues from OUT/checkpoint.
    buffer_frames: the student's buffer B in latent frames; None = the teacher's. A smaller buffer than the
        teacher's makes a lower-latency student: a chunk spends B / c calls in the buffer, so the picture
        answers an event about B latent frames (B * tf / fps seconds) after it instead of the teacher's. The
        teacher then runs its s guided micro-steps on buffers of this length (its windowed attention and
        per-frame RoPE take any length; it was trained on its own B only, so measure the student with
        `streamdit eval`), and the clips drawn are B latent frames long. With fold_guidance it must equal
        the distilled teacher's own buffer, whose one-call segments are 1 / N of that buffer.
    fold_guidance: fold classifier-free guidance into a distilled student. The teacher is then a distilled
        student (s = 1), run with CFG at guidance_scale (required, != 1): each target is its own guided
        velocity v_u + g (v_c - v_u) at the buffer's segment-start levels, one micro-step (micro_steps = 1,
        chunk = the teacher's c), and the new student, starting from its weights, regresses it with one
        conditional pass. The result streams at the teacher's cost (one call per chunk, no CFG) with the
        guidance of scale g (CFG distillation, Meng et al. 2023, "On distillation of guided diffusion models",
        applied to the one-step student).
    """

    teacher: str
    out: str
    data: str | dict[str, Any] | None = None
    chunk: int = 2  # c: frames per chunk (N = B / c chunks)
    micro_steps: int = 16  # s of the teacher; the student has s = 1
    guidance_scale: float | None = None  # teacher CFG; None = the teacher's sampling.guidance_scale
    steps: int = 2000  # total optimizer steps (a resumed run continues up to this)
    max_minutes: float | None = None  # stop earlier when this wall time is spent
    batch_size: int = 4
    lr: float = 1e-4  # a fine-tune of the teacher's weights: well below the teacher's own peak lr
    weight_decay: float = 0.0  # no pull towards zero: the starting point is the teacher, not random
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1  # cosine decay to lr * min_lr_ratio at the end of the step or time budget
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    bf16: bool = True  # autocast teacher and student to bfloat16 (CPU and CUDA)
    seed: int = 0
    log_every: int = 10
    checkpoint_every_steps: int = 500
    checkpoint_every_minutes: float = 5.0
    caption_weights: dict[str, float] | None = None  # {caption text: weight}: drawn that much more often
    init_from: str | None = None  # a distilled student whose weights a fresh run starts from (not the teacher's)
    fold_guidance: bool = False  # the teacher is a distilled student run with CFG guidance_scale (see above)
    buffer_frames: int | None = None  # the student's buffer B (latent frames); None = the teacher's (see above)

    def __post_init__(self) -> None:
        for name in ("chunk", "micro_steps", "steps", "batch_size", "log_every", "checkpoint_every_steps"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"distillation {name} must be >= 1, got {getattr(self, name)!r}")
        if self.buffer_frames is not None and (int(self.buffer_frames) < 1 or int(self.buffer_frames) % self.chunk):
            raise ConfigError(f"the student's buffer of {self.buffer_frames} latent frames cannot be cut into chunks "
                              f"of c = {self.chunk}: pass --buffer-frames as a positive multiple of --chunk, "
                              f"e.g. {4 * self.chunk}")
        if self.fold_guidance:
            if self.guidance_scale is None or self.guidance_scale == 1.0:
                raise ConfigError("folding guidance needs the CFG scale to fold, other than 1: e.g. "
                                  "--fold-guidance 1.5")
            if self.micro_steps != 1:
                raise ConfigError(f"folding guidance runs the distilled teacher's one micro-step per segment; "
                                  f"got micro_steps = {self.micro_steps} (pass --micro-steps 1 or leave it out)")
            if self.init_from:
                raise ConfigError("folding guidance starts the student from its teacher's weights; leave out "
                                  "--init-from")
        if not self.lr > 0:
            raise ConfigError(f"distillation lr must be > 0, got {self.lr!r}")
        if self.guidance_scale is not None and self.guidance_scale < 0:
            raise ConfigError(f"guidance scale must be >= 0 (1 = no CFG), got {self.guidance_scale!r}")


@dataclass
class DistillResult:
    """What a run did: final step, last logged loss, wall time (s), seconds per step, checkpoint directory."""

    step: int
    loss: float
    seconds: float
    seconds_per_step: float
    checkpoint: Path


def data_section(teacher_config: dict[str, Any], teacher_dir: Path,
                 data: str | dict[str, Any] | None) -> dict[str, Any]:
    """The data section to distill on (see DistillConfig.data); ConfigError says how to fix a missing one."""
    if isinstance(data, dict):
        return dict(data)
    section = teacher_config.get("training", {}).get("data")
    if data is None:
        if not section:
            raise ConfigError(f"teacher {teacher_dir} has no training data section ('training.data' in its "
                              f"config.json), so there is nothing to distill on: pass --data DIR, a latent "
                              f"directory made with `streamdit encode-latents`")
        return dict(section)
    if section and section.get("kind") in ("latents", "crafter_latents"):
        return {**section, "root": str(data)}
    return {"kind": "latents", "root": str(data), "frames": int(teacher_config["buffer_frames"])}


class Distiller(LoopTask):
    """Owns the teacher, the student, its EMA, the optimizer, the data and the loop. Construct, then `run()`.

    Construction loads everything and checks an existing OUT/checkpoint (CheckpointError when it is damaged
    or belongs to another teacher or target) without writing anything; `run()` is the only writer.
    Attributes: scheme (the teacher's PartitionScheme over the student's buffer), student_scheme (s = 1),
    buffer_frames (the student's B), teacher_buffer (the teacher's own B), guidance_scale, step.
    """

    def __init__(self, cfg: DistillConfig, device: str | torch.device | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.autocast_dtype = torch.bfloat16 if cfg.bf16 else None
        self.teacher_dir = Path(cfg.teacher)
        loaded = load_model(self.teacher_dir, self.device)
        self.teacher = loaded.model.eval().requires_grad_(False)
        self.teacher_config = loaded.config
        sampling = self.teacher_config.get("sampling", {})
        if is_distilled(self.teacher_config) and not cfg.fold_guidance:
            raise ConfigError(f"{self.teacher_dir} is already a distilled student (one call per chunk, no CFG); "
                              f"distil from its teacher instead (the shipped one is `--teacher teacher`), or "
                              f"fold CFG into it with --fold-guidance G")
        if cfg.fold_guidance:
            if not is_distilled(self.teacher_config):
                raise ConfigError(f"--fold-guidance folds CFG into a distilled student, but {self.teacher_dir} is "
                                  f"not one (no sampling.distilled_from); distil it first (`streamdit distill`)")
            if int(sampling.get("c", -1)) != cfg.chunk or int(sampling.get("s", -1)) != 1:
                raise ConfigError(f"{self.teacher_dir} streams with c = {sampling.get('c')}, s = "
                                  f"{sampling.get('s')}; folding guidance keeps its scheme: pass --chunk "
                                  f"{sampling.get('c')}")
        self.teacher_buffer = int(self.teacher_config["buffer_frames"])
        B = int(cfg.buffer_frames or self.teacher_buffer)
        if cfg.fold_guidance and B != self.teacher_buffer:
            raise ConfigError(f"folding guidance keeps the distilled teacher's buffer of {self.teacher_buffer} latent "
                              f"frames (its one-call segments are 1/N of it); got --buffer-frames {B}: distil a "
                              f"student for a {B}-frame buffer from the multistep teacher first, then fold into it")
        self.buffer_frames = B
        self.scheme = teacher_scheme(B, cfg.chunk, cfg.micro_steps)
        self.student_scheme = student_scheme(self.scheme)
        self.guidance_scale = float(sampling.get("guidance_scale", 1.0) if cfg.guidance_scale is None
                                    else cfg.guidance_scale)
        self.sigma_min = float(self.teacher_config.get("flow", {}).get("sigma_min", 1e-5))
        self.teacher_id = {"teacher": str(self.teacher_dir),  # a resume must match all but the path
                           "teacher_sha256": file_sha256(self.teacher_dir / MODEL_FILE),
                           "scheme": self.scheme.to_dict(), "guidance_scale": self.guidance_scale}
        if cfg.fold_guidance:
            self.teacher_id["folds_guidance"] = True
        self.autoencoder = build_autoencoder(self.teacher_config["autoencoder"], self.teacher_dir)
        self.autoencoder = self.autoencoder.to(self.device).eval()
        self.text_encoder = build_text_encoder(self.teacher_config["text_encoder"])
        h, w = self.teacher_config["latent_size"]
        self.latent_shape = (self.teacher.cfg.in_channels, B, int(h), int(w))  # (C, B, h, w) of one sample
        self.data = data_section(self.teacher_config, self.teacher_dir, cfg.data)
        # clips as long as the student's buffer (latent frames, or video frames): the teacher's training section
        # names its own clip length, which a student of another buffer (or a fold into one) does not share
        latent = self.data.get("kind") in ("latents", "crafter_latents")
        self.data = {**self.data, "frames": B if latent else B * int(getattr(self.autoencoder, "temporal_factor", 1))}
        if cfg.caption_weights:  # more clips of the weighted captions per batch (runtime.data.latents.LatentClips)
            self.data = {**self.data, "caption_weights": dict(cfg.caption_weights)}
        try:
            self.source = build_source(self.data)
        except StreamDiTError as e:
            raise type(e)(f"{e} (data section {self.data}; pass --data DIR for other latents)") from None
        torch.manual_seed(cfg.seed)
        self.student = copy.deepcopy(self.teacher).train().requires_grad_(True)
        self.ema = copy.deepcopy(self.teacher).eval()
        self.opt = torch.optim.AdamW(self.student.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                                     weight_decay=cfg.weight_decay)
        self.step = 0
        self.out = Path(cfg.out)
        self.ckpt_dir = self.out / "checkpoint"
        self.init_id: dict[str, Any] | None = None
        self._resume()
        if self.step == 0 and cfg.init_from:
            self._init_from(Path(cfg.init_from))

    # ----------------------------------------------------------------------------------- data and step
    def clean_latents(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
        """n clean clips: (float32 [n, C, B, h, w] latents, n captions); DataError when they do not fit the teacher."""
        video, captions = self.source.batch(n, generator)
        if getattr(self.source, "latent", False):
            x1 = video.to(self.device).float()  # already encoded and normalised
        else:
            with torch.no_grad():
                x1 = self.autoencoder.encode(video.to(self.device)).float()  # (n, C, F, h, w)
        if tuple(x1.shape[1:]) != self.latent_shape:
            raise DataError(f"the data gives latent clips of shape {list(x1.shape[1:])} but the teacher needs "
                            f"[C, B, h, w] = {list(self.latent_shape)}; pass --data DIR with latents made by the "
                            f"teacher's autoencoder, {self.buffer_frames} latent frames per clip")
        return x1, captions

    def make_batch(self, generator: torch.Generator, batch_size: int | None = None) -> DistillBatch:
        """A training pair for batch_size clips (default cfg.batch_size): s teacher micro-steps per clip."""
        x1, captions = self.clean_latents(batch_size or self.cfg.batch_size, generator)
        text, mask = self.text_encoder.encode(captions)
        return make_pair(self.teacher, x1, text.to(self.device), mask.to(self.device), self.scheme,
                         self.guidance_scale, generator, self.sigma_min, self.autocast_dtype)

    def train_step(self, batch: DistillBatch) -> tuple[float, float]:
        """One AdamW step of the student on a batch (at the optimizer's current lr) and the EMA update.

        Returns (loss, gradient norm before clipping)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            loss = distillation_loss(self.student, batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.student.parameters(), self.cfg.grad_clip)
        self.opt.step()
        ema_update(self.ema, self.student, self.cfg.ema_decay, self.step)
        self.step += 1
        return float(loss.detach()), float(gnorm)

    def fit_step(self, generator: torch.Generator) -> dict[str, float]:
        """train_step on a fresh make_batch(generator): the loop's step (runtime.training.loop)."""
        loss, gnorm = self.train_step(self.make_batch(generator))
        return {"loss": loss, "grad_norm": gnorm}

    def log_record(self, metrics: dict[str, float], lr: float, elapsed_s: float, steps_run: int) -> dict[str, Any]:
        """The log.jsonl line: step, loss, lr, grad_norm, seconds (s), seconds_per_step (this run's)."""
        return {"step": self.step, "loss": round(metrics["loss"], 6), "lr": lr,
                "grad_norm": round(metrics["grad_norm"], 4), "seconds": round(elapsed_s, 2),
                "seconds_per_step": round(elapsed_s / steps_run, 3)}

    def lr_at(self, step: int, elapsed_s: float = 0.0) -> float:
        """Linear warm-up, then cosine decay to lr * min_lr_ratio over whichever budget (steps, minutes) ends first."""
        c = self.cfg
        return warmup_cosine_lr(step, elapsed_s, lr=c.lr, warmup_steps=c.warmup_steps, steps=c.steps,
                                max_minutes=c.max_minutes, min_lr_ratio=c.min_lr_ratio)

    # ----------------------------------------------------------------------------------- checkpoints
    def student_config(self) -> dict[str, Any]:
        """The student's checkpoint config: the teacher's, with one-call sampling defaults (c, s = 1, no CFG).

        sampling.distilled_from names the multistep teacher. With fold_guidance it is the distilled
        teacher's own record (the lineage goes back to the multistep teacher), and sampling.guidance_folded
        names the student whose guidance was folded in (path, sha256, scheme, scale); the distilled
        teacher's distillation section is kept as distillation.before_folding."""
        config = {k: v for k, v in self.teacher_config.items() if k not in ("format", "version")}
        config["buffer_frames"] = self.buffer_frames
        config["sampling"] = {"K": 0, "c": self.scheme.c, "s": 1, "guidance_scale": 1.0,
                              "distilled_from": dict(self.teacher_id)}
        if self.cfg.fold_guidance:  # the lineage goes back to the multistep teacher; the folded student beside it
            config["sampling"].update(distilled_from=dict(self.teacher_config["sampling"]["distilled_from"]),
                                      guidance_folded=dict(self.teacher_id))
        options = {k: v for k, v in dataclasses.asdict(self.cfg).items()
                   if k not in ("teacher", "out", "data", "caption_weights", "init_from")}  # both are recorded apart
        config["distillation"] = {"step": self.step, "data": self.data, "options": options}
        if self.cfg.fold_guidance and "distillation" in self.teacher_config:
            config["distillation"]["before_folding"] = self.teacher_config["distillation"]
        if self.init_id:
            config["distillation"]["init_from"] = dict(self.init_id)
        return config

    def save(self) -> Path:
        """Write OUT/checkpoint atomically: the EMA student (bf16), the teacher's autoencoder, the resume state."""
        state = {"step": self.step, "model": self.student.state_dict(), "ema": self.ema.state_dict(),
                 "optimizer": self.opt.state_dict(), "teacher": dict(self.teacher_id)}
        weights = {"model": self.ema.state_dict()}
        ae_state = self.autoencoder.state_dict()
        if ae_state:  # a learned autoencoder travels inside the checkpoint, as in the teacher's
            weights["autoencoder"] = ae_state
        return save_checkpoint(self.ckpt_dir, self.student_config(), weights, train_state=state,
                               dtype={"model": torch.bfloat16, "autoencoder": torch.float32})

    def _resume(self) -> None:
        """Continue from OUT/checkpoint when it exists, after checking it fully; refuse rather than overwrite."""
        d = self.ckpt_dir
        if not d.exists():
            return
        if not (d / "config.json").exists():
            raise CheckpointError(f"{d} exists but holds no config.json, so it is not a student checkpoint to "
                                  f"resume; delete it or choose another --out")
        config = read_config(d)  # CheckpointError when unreadable
        key = "guidance_folded" if self.cfg.fold_guidance else "distilled_from"
        prev = config.get("sampling", {}).get(key)
        if not isinstance(prev, dict):
            what = "a student with folded guidance" if self.cfg.fold_guidance else "a distilled student"
            raise CheckpointError(f"{d} is not {what} (its config has no sampling.{key}); choose another --out")
        diffs = [f"{k}: checkpoint {prev.get(k)!r}, now {v!r}" for k, v in self.teacher_id.items()
                 if k != "teacher" and prev.get(k) != v]
        if diffs:
            raise CheckpointError(f"{d} was distilled from another teacher or target ({'; '.join(diffs)}); "
                                  f"resume with the same --teacher, --chunk, --micro-steps and --guidance as "
                                  f"{prev.get('teacher')!r}, or choose another --out")
        state = load_train_state(d)
        if state is None:
            raise CheckpointError(f"{d} has no train_state.pt, so distillation cannot resume from it; "
                                  f"choose another --out or delete it")
        shapes = {k: v.shape for k, v in self.student.state_dict().items()}
        for key in ("model", "ema"):
            if {k: v.shape for k, v in state[key].items()} != shapes:
                raise CheckpointError(f"{d}: the saved {key} weights do not match the teacher's architecture; "
                                      f"choose another --out")
        read_weights(d / MODEL_FILE, shapes)  # refuses a damaged weights file
        ae_state = self.autoencoder.state_dict()
        if ae_state:
            read_weights(d / "autoencoder.safetensors", {k: v.shape for k, v in ae_state.items()})
        self.student.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.opt.load_state_dict(state["optimizer"])
        self.step = int(state["step"])

    def _init_from(self, directory: Path) -> None:
        """Start the student and its EMA from a distilled student's weights (DistillConfig.init_from).

        Raises CheckpointError (not a distilled student, another architecture, another c or N, damaged
        weights) before anything is written; the teacher stays the target, so the loss is unchanged."""
        config = read_config(directory)  # CheckpointError when unreadable
        if not is_distilled(config):
            raise CheckpointError(f"--init-from {directory} is not a distilled student (its config has no "
                                  f"sampling.distilled_from); pass a directory written by `streamdit distill`")
        src = load_model(directory).model  # CheckpointError on damaged weights
        what = f"--init-from {directory}"
        check_warm_start(src.cfg, self.teacher.cfg, what)
        prev = config["sampling"]["distilled_from"].get("scheme", {})
        ours = self.scheme.to_dict()
        if int(config.get("buffer_frames", -1)) != self.buffer_frames or \
                any(prev.get(k) != ours.get(k) for k in ("N", "c")):
            raise CheckpointError(f"{what} streams with buffer {config.get('buffer_frames')} and scheme {prev}, "
                                  f"but this distillation makes a student with buffer "
                                  f"{self.buffer_frames} and N={ours.get('N')}, "
                                  f"c={ours.get('c')}; pass --chunk {prev.get('c')} and --buffer-frames "
                                  f"{config.get('buffer_frames')}, or another student")
        state = src.state_dict()
        self.student.load_state_dict(state)
        self.ema.load_state_dict(state)
        self.init_id = {"checkpoint": str(directory), "sha256": file_sha256(directory / MODEL_FILE)}

    # ----------------------------------------------------------------------------------- the loop
    def run(self, progress: bool = True) -> DistillResult:
        """Distil until cfg.steps (or cfg.max_minutes); checkpoint every few minutes or steps and at the end."""
        c = self.cfg
        run = run_loop(self, Schedule(steps=c.steps, max_minutes=c.max_minutes, seed=c.seed, log_every=c.log_every,
                                      checkpoint_every_minutes=c.checkpoint_every_minutes,
                                      checkpoint_every_steps=c.checkpoint_every_steps),
                       self.out, desc="distill", progress=progress)
        seconds = time.time() - run.t0
        return DistillResult(self.step, run.metrics.get("loss", float("nan")), seconds,
                             seconds / max(1, self.step - run.start), run.final)

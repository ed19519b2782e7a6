"""The one training loop, shared by the teacher trainer, the distiller and the autoencoder trainer.

    Trainer (runtime/training/trainer.py)        flow matching loss on buffered latent clips
    Distiller (runtime/distillation/distiller.py) one-call student against s teacher micro-steps
    AETrainer (runtime/training/ae_trainer.py)   L1 + MSE reconstruction of pixel clips

Each of them is a `LoopTask`: it owns its model, optimizer (`opt`) and data, resumes its own checkpoint in
its constructor, and gives the loop its loss and its batches (`fit_step`), its log line (`log_record`) and its
checkpoint (`save`). `run_loop` does the rest, the same way for all three:

- resume: it counts from the task's `step` (read from the checkpoint) up to `Schedule.steps`;
- the wall-clock schedule: it stops when `max_minutes` is spent, and the learning rate (`task.lr_at`) decays
  over whichever budget, steps or minutes, runs out first (`warmup_cosine_lr`), so a run cut by its time
  budget still ends annealed;
- the JSONL log: one JSON object per line appended to OUT/log.jsonl every `log_every` steps (rank 0 only);
- the checkpoint cadence: every `checkpoint_every_steps` steps or `checkpoint_every_minutes` minutes, and at
  the end (`task.finish`);
- the progress bar (tqdm, rank 0 only);
- DDP: `dist_info`, `init_distributed` and `wrap_ddp` set it up (nanoGPT's one branch at the top); each rank
  draws its own batches (the generator seed adds the rank) and the ranks meet at a barrier when the loop ends.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
import torch.distributed as dist
from tqdm import tqdm


@dataclass
class Schedule:
    """How long a run goes and how often it logs and checkpoints.

    steps: total optimizer steps (a resumed run continues up to this). max_minutes: stop earlier when this much
    time is spent (None = no time budget). seed: the run's seed; step k draws its batch with a generator seeded
    seed * 1_000_003 + k * seed_stride + rank. log_every: steps between log lines; log_last_step also logs the
    final step. checkpoint_every_steps (None = by time only) and checkpoint_every_minutes: the cadence.
    resumed_clock: the time budget counts the task's `seconds` (time spent in steps, over all resumes) rather
    than this run's wall time.
    """

    steps: int
    max_minutes: float | None
    seed: int
    log_every: int
    checkpoint_every_minutes: float
    checkpoint_every_steps: int | None = None
    log_last_step: bool = True
    seed_stride: int = 1009
    resumed_clock: bool = False


@dataclass
class Run:
    """One call of run_loop as the task's hooks see it: t0 (time.time() at the start), start (the step it
    started from), metrics (the last fit_step's), final (what task.finish returned)."""

    t0: float
    start: int
    log: IO[str] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    final: Any = None

    def elapsed(self) -> float:
        """Wall seconds since this run started."""
        return time.time() - self.t0

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line to OUT/log.jsonl (and flush it); nothing on ranks other than 0."""
        if self.log is not None:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()


class LoopTask:
    """What run_loop drives. Subclasses set `step` and `opt` and implement lr_at, fit_step, log_record and save;
    the other hooks have defaults. rank and world are 0 and 1 unless the task runs under DDP."""

    step: int
    opt: torch.optim.Optimizer
    rank: int = 0
    world: int = 1
    seconds: float = 0.0  # time spent in steps over all resumes (kept by the loop with Schedule.resumed_clock)

    def lr_at(self, step: int, elapsed_s: float) -> float:
        """The learning rate of `step` after `elapsed_s` seconds of the time budget."""
        raise NotImplementedError

    def fit_step(self, generator: torch.Generator) -> dict[str, float]:
        """One optimizer step on a batch drawn with `generator`, at the optimizer's lr; adds 1 to `step` and
        returns what the log line reports (loss, gradient norm, ...)."""
        raise NotImplementedError

    def log_record(self, metrics: dict[str, float], lr: float, elapsed_s: float, steps_run: int) -> dict[str, Any]:
        """The JSON line of this step: metrics of fit_step, lr, wall seconds and steps since this run started."""
        raise NotImplementedError

    def save(self) -> Any:
        """Write the checkpoint atomically."""
        raise NotImplementedError

    def postfix(self, metrics: dict[str, float], lr: float) -> dict[str, str]:
        """What the progress bar shows after the step."""
        return {"loss": f"{metrics['loss']:.4f}", "lr": f"{lr:.2e}"}

    def on_start(self, run: Run) -> None:
        """Before the first step (the log is open)."""

    def checkpoint(self, run: Run) -> None:
        """At the checkpoint cadence."""
        self.save()

    def finish(self, run: Run) -> Any:
        """After the last step, while the log is still open: the final checkpoint; its result is run.final."""
        return self.save()


def run_loop(task: LoopTask, schedule: Schedule, out: Path, *, desc: str, progress: bool = True) -> Run:
    """Train `task` from task.step to schedule.steps (or until its time budget is spent), logging to
    OUT/log.jsonl and checkpointing at the schedule's cadence and at the end. Returns the Run.

    Exceptions from the task propagate (the bar and the log are closed first; nothing is saved then)."""
    s = schedule
    out.mkdir(parents=True, exist_ok=True)
    run = Run(time.time(), task.step, open(out / "log.jsonl", "a") if task.rank == 0 else None)
    last_ckpt = run.t0
    bar = tqdm(total=s.steps, initial=task.step, disable=not progress or task.rank != 0, desc=desc, unit="step",
               dynamic_ncols=True)

    def budget_s() -> float:  # what the time budget and the lr schedule count
        return task.seconds if s.resumed_clock else time.time() - run.t0

    try:
        task.on_start(run)
        while task.step < s.steps:
            if s.max_minutes is not None and (task.seconds >= 60 * s.max_minutes if s.resumed_clock
                                              else time.time() - run.t0 > 60 * s.max_minutes):
                break
            tick = time.time()
            lr = task.lr_at(task.step, budget_s())
            for group in task.opt.param_groups:
                group["lr"] = lr
            g = torch.Generator().manual_seed(s.seed * 1_000_003 + task.step * s.seed_stride + task.rank)
            run.metrics = task.fit_step(g)
            if s.resumed_clock:
                task.seconds += time.time() - tick
            bar.update(1)
            if task.step % s.log_every == 0 or (s.log_last_step and task.step == s.steps):
                bar.set_postfix(task.postfix(run.metrics, lr))
                run.write(task.log_record(run.metrics, lr, run.elapsed(), task.step - run.start))
            if ((s.checkpoint_every_steps is not None and task.step % s.checkpoint_every_steps == 0)
                    or time.time() - last_ckpt > 60 * s.checkpoint_every_minutes):
                task.checkpoint(run)
                last_ckpt = time.time()
        bar.close()
        run.final = task.finish(run)
    finally:
        bar.close()
        if run.log is not None:
            run.log.close()
        if task.world > 1 and dist.is_initialized():
            dist.barrier()
    return run


def warmup_cosine_lr(step: int, elapsed_s: float, *, lr: float, warmup_steps: int, steps: int,
                     max_minutes: float | None, min_lr_ratio: float) -> float:
    """Linear warm-up over warmup_steps, then cosine decay from lr to lr * min_lr_ratio.

    The decay follows whichever budget runs out first, `steps` or `max_minutes` (elapsed_s, seconds), so a
    run cut by its time budget still ends annealed (its EMA weights then come from a low learning rate).
    Used by all three tasks.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    frac = (step - warmup_steps) / max(1, steps - warmup_steps)
    if max_minutes:
        frac = max(frac, elapsed_s / (60 * max_minutes))
    frac = min(1.0, frac)
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- ema + (1 - d) (model - ema), with d = min(decay, (1 + step) / (10 + step)): a short memory while
    the run is young (step = optimizer steps done before this one)."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - d)


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) in a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(world: int) -> None:
    """Join the process group when running under torchrun with more than one process (nccl on CUDA, gloo on CPU)."""
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def wrap_ddp(model: torch.nn.Module, device: torch.device, world: int) -> torch.nn.Module:
    """The module to call in the loss: DistributedDataParallel(model) with more than one process, else model."""
    if world == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=None if device.type == "cpu"
                                                     else [device.index])

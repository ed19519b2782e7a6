"""The shared training loop (runtime/training/loop.py): resume, budgets, log lines, checkpoint cadence, lr."""

from __future__ import annotations

import json
import math

import pytest
import torch

from runtime.training.loop import LoopTask, Schedule, ema_update, run_loop, warmup_cosine_lr


class CountingTask(LoopTask):
    """A task whose 'loss' is the step it ran and whose batch is the generator's first draw."""

    def __init__(self, step: int = 0) -> None:
        self.step = step
        self.param = torch.nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.SGD([self.param], lr=0.1)
        self.saves: list[int] = []
        self.draws: list[float] = []
        self.lrs: list[float] = []

    def lr_at(self, step: int, elapsed_s: float) -> float:
        return 1.0 / (step + 1)

    def fit_step(self, generator: torch.Generator) -> dict[str, float]:
        self.draws.append(float(torch.rand(1, generator=generator)))
        self.lrs.append(self.opt.param_groups[0]["lr"])
        self.step += 1
        return {"loss": float(self.step)}

    def log_record(self, metrics, lr, elapsed_s, steps_run):
        return {"step": self.step, "loss": metrics["loss"], "lr": lr, "steps_run": steps_run}

    def save(self):
        self.saves.append(self.step)
        return self.step


def schedule(**kw) -> Schedule:
    base = dict(steps=10, max_minutes=None, seed=3, log_every=4, checkpoint_every_minutes=1e9)
    base.update(kw)
    return Schedule(**base)


def test_runs_to_steps_logs_every_n_and_the_last_step_and_sets_the_lr(tmp_path):
    task = CountingTask()
    run = run_loop(task, schedule(), tmp_path, desc="t", progress=False)
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [4, 8, 10]
    assert task.lrs == [1.0 / (k + 1) for k in range(10)]
    assert task.saves == [10] and run.final == 10 and run.metrics == {"loss": 10.0}


def test_a_resumed_run_continues_from_its_step_with_the_same_batches(tmp_path):
    whole = CountingTask()
    run_loop(whole, schedule(), tmp_path / "a", desc="t", progress=False)
    first = CountingTask()
    run_loop(first, schedule(steps=6), tmp_path / "b", desc="t", progress=False)
    second = CountingTask(step=first.step)
    run = run_loop(second, schedule(), tmp_path / "b", desc="t", progress=False)
    assert run.start == 6 and second.step == 10
    assert first.draws + second.draws == whole.draws  # step k draws with seed * 1_000_003 + k * stride
    lines = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [4, 6, 8, 10]  # appended, not overwritten
    assert lines[-1]["steps_run"] == 4


def test_checkpoint_cadence_by_steps(tmp_path):
    task = CountingTask()
    run_loop(task, schedule(checkpoint_every_steps=3), tmp_path, desc="t", progress=False)
    assert task.saves == [3, 6, 9, 10]


def test_the_time_budget_stops_the_run_and_the_resumed_clock_counts_over_resumes(tmp_path):
    task = CountingTask()
    run_loop(task, schedule(max_minutes=0.0), tmp_path, desc="t", progress=False)
    assert task.step == 0 and task.saves == [0]  # budget spent before the first step: only the final save
    task = CountingTask()
    task.seconds = 60.0  # a minute already spent in earlier runs
    run_loop(task, schedule(max_minutes=1.0, resumed_clock=True), tmp_path, desc="t", progress=False)
    assert task.step == 0
    task.seconds = 0.0
    run_loop(task, schedule(max_minutes=1.0, resumed_clock=True), tmp_path, desc="t", progress=False)
    assert task.step == 10 and 0 < task.seconds < 60


def test_an_exception_in_a_step_propagates_without_a_save(tmp_path):
    class Failing(CountingTask):
        def fit_step(self, generator):
            if self.step == 2:
                raise RuntimeError("boom")
            return super().fit_step(generator)

    task = Failing()
    with pytest.raises(RuntimeError, match="boom"):
        run_loop(task, schedule(), tmp_path, desc="t", progress=False)
    assert task.saves == []


def test_warmup_cosine_follows_the_budget_that_ends_first():
    kw = dict(lr=1.0, warmup_steps=10, steps=110, min_lr_ratio=0.1)
    assert warmup_cosine_lr(0, 0.0, max_minutes=None, **kw) == pytest.approx(0.1)
    assert warmup_cosine_lr(60, 0.0, max_minutes=None, **kw) == pytest.approx(0.55)  # half-way by steps
    assert warmup_cosine_lr(20, 30.0, max_minutes=1.0, **kw) == pytest.approx(0.55)  # half-way by minutes
    assert warmup_cosine_lr(110, 0.0, max_minutes=None, **kw) == pytest.approx(0.1)
    assert warmup_cosine_lr(20, 600.0, max_minutes=1.0, **kw) == pytest.approx(0.1)  # capped at the end


def test_ema_update_has_a_short_memory_when_young():
    ema, model = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(ema.weight)
    torch.nn.init.ones_(model.weight)
    ema_update(ema, model, decay=0.999, step=0)  # d = min(0.999, 1/10) = 0.1
    assert float(ema.weight) == pytest.approx(0.9)
    torch.nn.init.zeros_(ema.weight)
    ema_update(ema, model, decay=0.5, step=10**6)  # d = the decay
    assert float(ema.weight) == pytest.approx(0.5)
    assert not math.isnan(float(ema.weight))

"""The paper's comparison (StreamDiT, arXiv 2507.03745, Table 2) as one resumable set of `streamdit eval` runs.

`streamdit eval-table` plans one `streamdit eval` run per table row and seed (each with the real row, so every
run names its reference set), runs them as separate processes, a few at a time, skips the runs already
finished on the same data (eval.json complete, the same data fingerprint), and then averages every row over the
seeds (`runtime.evaluation.evaluate.seed_summary`). A run stopped half-way is run again from its start; a
finished one is never redone, so the table can be measured over several sessions into one folder.

Layout: OUT/<row>_s<seed>/ holds each run's eval.json, table.md, contact sheets and eval.log; OUT/table.md and
OUT/table.json the summary over seeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from sdk.errors import ConfigError, DataError

# row -> (`streamdit eval` arguments, relative cost: teacher-side rows run 4 model calls per frame with a
# 64-step startup pass, the students 0.5 calls per frame; the costliest runs start first)
TABLE_ROWS: dict[str, tuple[tuple[str, ...], float]] = {
    "teacher": (("--rows", "real,teacher"), 10.0),
    "diagonal": (("--rows", "real,diagonal"), 10.0),
    "untrained": (("--rows", "real,untrained"), 10.0),
    "fifo": (("--rows", "real,fifo"), 10.0),
    "chunked": (("--rows", "real,chunked"), 8.0),
    "default": (("--rows", "real,distilled", "--student", "default"), 1.0),
    "low_latency": (("--rows", "real,distilled", "--student", "low_latency"), 1.0),
}
STUDENTS = ("default", "low_latency")  # rows whose walks are measured (at the first seed, over walk_seeds seeds)


@dataclass(frozen=True)
class PlannedRun:
    """One `streamdit eval` run: its folder name (<row>_s<seed>), row, seed, arguments and relative cost."""

    name: str
    row: str
    seed: int
    args: tuple[str, ...]
    cost: float


@dataclass
class TableProgress:
    """What run_plan did: names of runs finished now, skipped (finished before) and failed (with their logs)."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, Path]] = field(default_factory=list)


def plan_table(rows: Sequence[str], seeds: Sequence[int], *, per_class: int = 4, frames: int = 16,
               walk_seeds: int = 3, fifo: str | None = None) -> list[PlannedRun]:
    """The runs of the table, costliest first. rows: keys of TABLE_ROWS ("fifo" needs `fifo`, the FIFO-style
    baseline's checkpoint directory); seeds: each row runs once per seed (prompts, streams and reference set
    follow the seed). The student rows also stream the four walking prompts at the first seed, over
    walk_seeds seeds (0: none). Raises ConfigError for an unknown row, no rows or seeds, or fifo without a
    checkpoint."""
    unknown = [r for r in rows if r not in TABLE_ROWS]
    if unknown or not rows:
        raise ConfigError(f"unknown table rows {unknown or '(none given)'}; choose from {', '.join(TABLE_ROWS)}")
    if not seeds:
        raise ConfigError("give at least one seed (e.g. --seeds 0,1,2)")
    if "fifo" in rows and not fifo:
        raise ConfigError("the fifo row needs the FIFO-style baseline's checkpoint: pass --fifo DIR (train it "
                          "with `streamdit train --config configs/crafter72_fifo.toml`)")
    out = []
    for row in rows:
        args, cost = TABLE_ROWS[row]
        for i, seed in enumerate(seeds):
            walks = row in STUDENTS and i == 0 and walk_seeds > 0
            extra = ("--direction-seeds", str(walk_seeds)) if walks else ("--no-directions",)
            fifo_args = ("--fifo", str(fifo)) if row == "fifo" else ()
            out.append(PlannedRun(f"{row}_s{seed}", row, int(seed),
                                  (*args, *fifo_args, *extra, "--seed", str(seed), "--per-class", str(per_class),
                                   "--frames", str(frames)), cost))
    return sorted(out, key=lambda r: -r.cost)  # stable: rows in the given order within one cost


def run_state(run_dir: Path, fingerprint: str) -> str:
    """"done" (eval.json complete, measured on data of this fingerprint or naming none), or "todo".
    Raises DataError when the run finished on other data: its figures would mix two captures."""
    path = run_dir / "eval.json"
    if not path.exists():
        return "todo"
    try:
        rep = json.loads(path.read_text())
    except json.JSONDecodeError:
        return "todo"  # a run stopped while writing: eval.json is written atomically, so this is a foreign file
    if not rep.get("complete"):
        return "todo"
    theirs = rep.get("data_fingerprint")
    if theirs and theirs != fingerprint:
        raise DataError(f"{run_dir} was measured on other data ({theirs}, the data now is {fingerprint}): move "
                        f"that folder away or pass another --out, so that the table compares one capture")
    return "done"


def eval_command(run: PlannedRun, run_dir: Path, data: Path, threads: int) -> list[str]:
    """The `streamdit eval` command line of one run (this Python, `python -m runtime.cli`)."""
    return [sys.executable, "-m", "runtime.cli", "eval", *run.args, "--data", str(data), "--threads", str(threads),
            "--out", str(run_dir)]


def run_plan(runs: Sequence[PlannedRun], out: Path, data: Path, fingerprint: str, *, jobs: int = 2,
             threads: int = 1, command: Callable[[PlannedRun, Path], list[str]] | None = None,
             on_event: Callable[[str, PlannedRun], None] | None = None, poll_s: float = 2.0) -> TableProgress:
    """Run every planned run not done yet, `jobs` at a time, each a process with `threads` torch threads and its
    output in OUT/<name>/eval.log. command(run, run_dir): the command line (default eval_command). on_event(
    "skip" | "start" | "done" | "failed", run): progress. A failed run is reported and the others go on.
    Raises DataError (before starting anything) when a finished run was measured on other data."""
    if jobs < 1 or threads < 1:
        raise ConfigError(f"jobs and threads must be >= 1, got {jobs} and {threads}")
    command = command or (lambda r, d: eval_command(r, d, data, threads))
    note = on_event or (lambda kind, run: None)
    progress = TableProgress()
    todo = []
    for r in runs:  # every state first: a run on other data stops the table before any process starts
        if run_state(out / r.name, fingerprint) == "done":
            progress.skipped.append(r.name)
            note("skip", r)
        else:
            todo.append(r)
    running: list[tuple[PlannedRun, subprocess.Popen, object]] = []
    try:
        _drive(todo, running, out, fingerprint, jobs, command, note, progress, poll_s)
    finally:  # interrupted (Ctrl-C): stop the runs in flight; they are run again next time
        for _, proc, log in running:
            proc.terminate()
            proc.wait()
            log.close()
    return progress


def _drive(todo: list[PlannedRun], running: list, out: Path, fingerprint: str, jobs: int,
           command: Callable[[PlannedRun, Path], list[str]], note: Callable[[str, PlannedRun], None],
           progress: TableProgress, poll_s: float) -> None:
    while todo or running:
        while todo and len(running) < jobs:
            r = todo.pop(0)
            d = out / r.name
            d.mkdir(parents=True, exist_ok=True)
            log = open(d / "eval.log", "w")
            running.append((r, subprocess.Popen(command(r, d), stdout=log, stderr=subprocess.STDOUT), log))
            note("start", r)
        time.sleep(poll_s)
        for item in list(running):
            r, proc, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            if proc.returncode == 0 and run_state(out / r.name, fingerprint) == "done":
                progress.ran.append(r.name)
                note("done", r)
            else:
                progress.failed.append((r.name, out / r.name / "eval.log"))
                note("failed", r)

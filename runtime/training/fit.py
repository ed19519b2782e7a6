"""`streamdit fit DATA --out RUN --budget-minutes M`: imported footage -> one servable checkpoint (issue 17).

DATA is an import (`streamdit data import`: latents, captions, vocabulary.toml, and the recording it came
from). The stages run in order, each resumable (a stage that finished leaves RUN/stages/NAME.json and is
skipped by a rerun; the trainers resume from their own checkpoints):

1. teacher: `Trainer` on DATA with the config template (default: the shipped teacher's shape,
   runtime/training/fit_teacher.toml), warm-started from the shipped teacher when the shapes allow
   (`check_warm_start`), for its share of the budget.
2. distill: `Distiller` of the teacher into a one-call-per-chunk student, for its share.
3. evaluate: `runtime.evaluation.recorded.evaluate_fit` (a clip classifier trained on DATA; the table against
   the held-out shards).
4. package: RUN/checkpoint = the student, with DATA's vocabulary as `prompt_map.toml` (the sessions' default
   map under `streamdit serve --checkpoint RUN/checkpoint`), eval.json, contact_sheet.png, TRAINING.md.

The autoencoder and the latents are DATA's (the import's autoencoder; fitting a new one is not a stage yet).
The budget is split by SHARES; a budget that gives a stage less than its MINIMUM minutes is refused before
anything runs, with the smallest budget that works.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sdk.errors import CheckpointError, ConfigError

STAGES = ("teacher", "distill", "evaluate", "package")
SHARES = {"teacher": 0.6, "distill": 0.3, "evaluate": 0.1}
MINIMUM = {"teacher": 0.2, "distill": 0.1, "evaluate": 0.05}  # minutes: below this a stage cannot finish a step
TEMPLATE = Path(__file__).with_name("fit_teacher.toml")


@dataclass
class FitOptions:
    """What `fit` runs. template: teacher config TOML (its data, out, autoencoder are replaced);
    init_from: warm-start checkpoint (None = none; used only when its shapes match the template's);
    distill_*: DistillConfig values; eval_*: evaluate_fit values."""

    budget_minutes: float
    template: Path = TEMPLATE
    init_from: str | None = "teacher"
    distill_micro_steps: int = 16
    distill_batch_size: int = 4
    distill_steps: int = 100000  # the time share ends it first at real sizes
    eval_classifier_steps: int = 600
    eval_per_class: int = 4
    eval_min_windows: int = 20
    heldout_fraction: float = 0.1
    overrides: dict[str, Any] = field(default_factory=dict)  # more teacher config overrides ("optim.lr": ...)


def plan(budget_minutes: float) -> dict[str, float]:
    """Minutes per stage. Raises ConfigError naming the stage and the smallest budget when one is too small."""
    if not budget_minutes > 0:
        raise ConfigError(f"--budget-minutes must be > 0, got {budget_minutes}")
    minutes = {s: budget_minutes * share for s, share in SHARES.items()}
    for s, m in minutes.items():
        if m < MINIMUM[s]:
            need = max(MINIMUM[t] / SHARES[t] for t in SHARES)
            raise ConfigError(f"a budget of {budget_minutes:g} min gives the {s} stage {m:.2f} min, below its minimum "
                              f"of {MINIMUM[s]:g} min: give --budget-minutes {need:.2f} or more")
    return minutes


def fit(data: str | Path, out: str | Path, opts: FitOptions, *, progress: bool = True,
        log: Callable[[str], None] = lambda _: None) -> Path:
    """Run (or resume) every stage; returns RUN/checkpoint. See the module docstring.

    Raises: ConfigError (budget, template, data), DataError, CheckpointError (a damaged run or warm start).
    """
    from runtime.model.checkpoint import write_json_atomic

    data, out = Path(data), Path(out)
    minutes = plan(opts.budget_minutes)
    manifest_path = data / "manifest.json"
    if not manifest_path.is_file() or not (data / "vocabulary.toml").is_file():
        raise ConfigError(f"{data} is not an import (no manifest.json and vocabulary.toml): make it with "
                          f"`streamdit data import RECORDING --vocab VOCAB.toml --out {data} --ae AE`")
    manifest = json.loads(manifest_path.read_text())
    (out / "stages").mkdir(parents=True, exist_ok=True)

    def stage(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        done = out / "stages" / f"{name}.json"
        if done.exists():
            log(f"{name}: done before, skipped ({done})")
            return json.loads(done.read_text())
        t = time.time()
        log(f"{name}: starting ({minutes.get(name, 0):.1f} min budget)")
        result = {**run(), "seconds": round(time.time() - t, 1)}
        write_json_atomic(done, result)
        log(f"{name}: done in {result['seconds'] / 60:.1f} min")
        return result

    teacher = stage("teacher", lambda: _teacher(data, out / "teacher", manifest, opts, minutes["teacher"], progress))
    distill = stage("distill", lambda: _distill(out / "teacher" / "checkpoint", data, out / "distill", opts,
                                                minutes["distill"], progress))

    def _eval() -> dict[str, Any]:
        from runtime.evaluation.recorded import evaluate_fit

        r = evaluate_fit(out / "distill" / "checkpoint", data, out / "eval", classifier_steps=opts.eval_classifier_steps,
                         per_class=opts.eval_per_class, heldout_fraction=opts.heldout_fraction,
                         min_windows=opts.eval_min_windows)
        return {"fd_ratio": r["fd_ratio_untrained_over_fitted"], "adherence_over_chance": r["adherence_over_chance"]}

    evaluation = stage("evaluate", _eval)

    def _package() -> dict[str, Any]:
        ckpt = out / "checkpoint"
        tmp = out / "checkpoint.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out / "distill" / "checkpoint", tmp, ignore=shutil.ignore_patterns("train_state.pt"))
        shutil.copyfile(data / "vocabulary.toml", tmp / "prompt_map.toml")
        for f in ("eval.json", "contact_sheet.png"):
            if (out / "eval" / f).exists():
                shutil.copyfile(out / "eval" / f, tmp / f)
        (tmp / "TRAINING.md").write_text(_training_md(data, out, opts, minutes, teacher, distill, evaluation))
        shutil.rmtree(ckpt, ignore_errors=True)
        tmp.rename(ckpt)
        return {"checkpoint": str(ckpt)}

    stage("package", _package)
    return out / "checkpoint"


def _teacher(data: Path, run: Path, manifest: dict[str, Any], opts: FitOptions, minutes: float,
             progress: bool) -> dict[str, Any]:
    from runtime.checkpoints import resolve
    from runtime.model.checkpoint import check_warm_start, load_model
    from runtime.training.config import load_train_config
    from runtime.training.trainer import Trainer

    over = {"out": str(run), "data.kind": "latents", "data.root": str(data),
            "data.heldout_fraction": opts.heldout_fraction, "autoencoder": {"from": manifest["ae_dir"]},
            "optim.max_minutes": minutes, **opts.overrides}
    cfg = load_train_config(opts.template, over)
    warm = None
    if opts.init_from and not (run / "checkpoint" / "config.json").exists():
        try:
            warm = resolve(opts.init_from)
            check_warm_start(load_model(warm).model.cfg, cfg.model, f"warm start {opts.init_from}")
        except CheckpointError:
            warm = None  # shapes differ: start from scratch
    result = Trainer(cfg, init_from=warm).run(progress=progress)
    return {"step": result.step, "loss": round(float(result.loss), 4), "warm_start": str(warm) if warm else None,
            "max_minutes": round(minutes, 2)}


def _distill(teacher: Path, data: Path, run: Path, opts: FitOptions, minutes: float, progress: bool) -> dict[str, Any]:
    from runtime.distillation import DistillConfig, Distiller

    cfg = DistillConfig(teacher=str(teacher), out=str(run), data=str(data), micro_steps=opts.distill_micro_steps,
                        batch_size=opts.distill_batch_size, steps=opts.distill_steps, max_minutes=minutes)
    result = Distiller(cfg).run(progress=progress)
    return {"step": result.step, "loss": round(float(result.loss), 4), "max_minutes": round(minutes, 2)}


def _training_md(data: Path, out: Path, opts: FitOptions, minutes: dict[str, float], teacher: dict, distill: dict,
                 evaluation: dict) -> str:
    m = json.loads((data / "manifest.json").read_text())
    lines = [f"# {out.name}: fitted with `streamdit fit`", "",
             f"Data: {data} (recording {m.get('recording')}, {m.get('episodes')} shards, {m.get('latent_frames')} "
             f"latent frames, autoencoder {m.get('ae_dir')}; vocabulary = prompt_map.toml).", "",
             "Command (a rerun resumes; finished stages are skipped):", "",
             f"    streamdit fit {data} --out {out} --budget-minutes {opts.budget_minutes:g}", "",
             "| stage | budget (min) | took (min) | result |", "|---|---|---|---|",
             f"| teacher | {minutes['teacher']:.1f} | {teacher['seconds'] / 60:.1f} | step {teacher['step']}, loss "
             f"{teacher['loss']}, warm start {teacher['warm_start']} |",
             f"| distill | {minutes['distill']:.1f} | {distill['seconds'] / 60:.1f} | step {distill['step']}, loss "
             f"{distill['loss']} |",
             f"| evaluate | {minutes['evaluate']:.1f} | {evaluation['seconds'] / 60:.1f} | FD untrained/fitted "
             f"{evaluation['fd_ratio']}, adherence / chance {evaluation['adherence_over_chance']} |", "",
             f"Logs: {out}/teacher/log.jsonl, {out}/distill/log.jsonl; the table: eval.json.", ""]
    return "\n".join(lines)

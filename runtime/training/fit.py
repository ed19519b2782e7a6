"""`streamdit fit DATA --out RUN --budget-minutes M`: imported footage -> one servable checkpoint (issue 17).

DATA is an import (`streamdit data import`: latents, captions, vocabulary.toml, and the recording it came
from). The stages run in order, each resumable (a stage that finished leaves RUN/stages/NAME.json and is
skipped by a rerun; the trainers resume from their own checkpoints):

1. autoencoder: `AETrainer` fine-tunes the import's autoencoder (for a 72x72 game, the shipped one) on the
   recording's training shards, for its share (RUN/autoencoder; the held-out PSNR before and after is
   recorded). Skipped with `FitOptions.autoencoder = False`: DATA's latents are then used as they are.
2. latents: `import_recording` re-encodes the recording with the fine-tuned autoencoder into RUN/latents (the
   same captions and shard split as DATA).
3. teacher: `Trainer` on the latents with the config template (default: the shipped teacher's shape,
   runtime/training/fit_teacher.toml), warm-started from the shipped teacher when the shapes allow
   (`check_warm_start`), for its share of the budget.
4. distill: `Distiller` of the teacher into a one-call-per-chunk student, for its share.
5. evaluate: `runtime.evaluation.recorded.evaluate_fit` (a clip classifier trained on the training shards; the
   table against the held-out shards).
6. package: RUN/checkpoint = the student, with DATA's vocabulary as `prompt_map.toml` (the sessions' default
   map under `streamdit serve --checkpoint RUN/checkpoint`), eval.json, contact_sheet.png, TRAINING.md.

The budget is split by SHARES (the latents stage is not timed: it encodes every frame once, about 6 ms a frame
at 72x72 on 2 cores); a budget that gives a stage less than its MINIMUM minutes is refused before anything
runs, with the smallest budget that works.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sdk.errors import CheckpointError, ConfigError

STAGES = ("autoencoder", "latents", "teacher", "distill", "evaluate", "package")
SHARES = {"autoencoder": 0.1, "teacher": 0.5, "distill": 0.3, "evaluate": 0.1}
MINIMUM = {"autoencoder": 0.05, "teacher": 0.2, "distill": 0.1, "evaluate": 0.05}  # minutes: one step each
TEMPLATE = Path(__file__).with_name("fit_teacher.toml")


@dataclass
class FitOptions:
    """What `fit` runs. template: teacher config TOML (its data, out, autoencoder are replaced);
    init_from: warm-start checkpoint (None = none; used only when its shapes match the template's);
    distill_*: DistillConfig values; eval_*: evaluate_fit values."""

    budget_minutes: float
    template: Path = TEMPLATE
    init_from: str | None = "teacher"
    autoencoder: bool = True  # fine-tune the import's autoencoder (stages 1-2); False: use DATA's latents
    ae_lr: float = 3e-4
    ae_batch_frames: int = 32
    distill_micro_steps: int = 16
    distill_batch_size: int = 4
    distill_steps: int = 100000  # the time share ends it first at real sizes
    eval_classifier_steps: int = 600
    eval_per_class: int = 4
    eval_min_windows: int = 20
    heldout_fraction: float = 0.1
    overrides: dict[str, Any] = field(default_factory=dict)  # more teacher config overrides ("optim.lr": ...)
    shares: dict[str, float] | None = None  # timed stage -> fraction of the budget (None = SHARES)


def parse_shares(text: str) -> dict[str, float]:
    """"teacher=0.45,distill=0.45,evaluate=0.1" -> {"teacher": 0.45, ...} (only the stages named; `plan` gives the
    others their default share). Raises ConfigError naming a bad stage or value."""
    shares: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in SHARES:
            raise ConfigError(f"--shares item {item!r}: write STAGE=FRACTION with STAGE one of {', '.join(SHARES)}")
        try:
            shares[name] = float(value)
        except ValueError:
            raise ConfigError(f"--shares {name}={value!r}: the fraction must be a number, e.g. {name}=0.3") from None
        if not 0 <= shares[name] <= 1:
            raise ConfigError(f"--shares {name}={value}: a fraction is between 0 and 1")
    return shares


def plan(budget_minutes: float, autoencoder: bool = True, shares: dict[str, float] | None = None) -> dict[str, float]:
    """Minutes per timed stage (autoencoder, teacher, distill, evaluate; without the autoencoder stage its share
    goes to the teacher). `shares` (stage -> fraction; stages left out keep SHARES's) are scaled to sum to 1, after
    the autoencoder's is dropped when that stage does not run. Raises ConfigError naming the stage and the smallest
    budget when one is too small."""
    if not budget_minutes > 0:
        raise ConfigError(f"--budget-minutes must be > 0, got {budget_minutes}")
    given = shares
    shares = {**SHARES, **(given or {})}
    if not autoencoder:
        ae_share = shares.pop("autoencoder")
        if not given:
            shares["teacher"] += ae_share
    total = sum(shares.values())
    if not total > 0:
        raise ConfigError("--shares gives every stage 0: give the stages positive fractions")
    shares = {s: v / total for s, v in shares.items()}
    minutes = {s: budget_minutes * share for s, share in shares.items()}
    for s, m in minutes.items():
        if m < MINIMUM[s]:
            need = max(MINIMUM[t] / shares[t] for t in shares)
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
    minutes = plan(opts.budget_minutes, opts.autoencoder, opts.shares)
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

    imported = data
    ae = latents = None
    if opts.autoencoder:
        ae = stage("autoencoder", lambda: _autoencoder(manifest, out / "autoencoder", opts, minutes["autoencoder"],
                                                       progress))
        latents = stage("latents", lambda: _latents(manifest, data, out / "latents", out / "autoencoder", progress))
        data = out / "latents"
        manifest = json.loads((data / "manifest.json").read_text())
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
        shutil.copyfile(imported / "vocabulary.toml", tmp / "prompt_map.toml")
        for f in ("eval.json", "contact_sheet.png"):
            if (out / "eval" / f).exists():
                shutil.copyfile(out / "eval" / f, tmp / f)
        (tmp / "TRAINING.md").write_text(_training_md(imported, out, opts, minutes, ae, latents, teacher, distill,
                                                      evaluation))
        shutil.rmtree(ckpt, ignore_errors=True)
        tmp.rename(ckpt)
        return {"checkpoint": str(ckpt)}

    stage("package", _package)
    return out / "checkpoint"


def _autoencoder(manifest: dict[str, Any], run: Path, opts: FitOptions, minutes: float,
                 progress: bool) -> dict[str, Any]:
    """Fine-tune the import's autoencoder on the recording's training shards (same shapes, new weights)."""
    from runtime.data.frames import FrameBank
    from runtime.model.ae_checkpoint import load_autoencoder, read_autoencoder_config
    from runtime.evaluation.autoencoder import evaluate
    from runtime.training.ae_trainer import AETrainConfig, AETrainer

    source = Path(manifest["ae_dir"])
    spec = read_autoencoder_config(source)["autoencoder"]
    if spec.get("kind") != "conv":
        raise ConfigError(f"the import's autoencoder {source} is a {spec.get('kind')!r} one; only a 'conv' "
                          "autoencoder can be fine-tuned: fit with --keep-autoencoder")
    c = spec["config"]
    size = int(manifest["size"])
    cfg = AETrainConfig(data=str(manifest["recording"]), out=str(run), size=size,
                        temporal_factor=int(c["temporal_factor"]), latent_channels=int(c["latent_channels"]),
                        widths=list(c["widths"]), latent_noise=float(c.get("latent_noise", 0.1)), steps=1_000_000,
                        max_minutes=minutes, batch_frames=max(opts.ae_batch_frames, int(c["temporal_factor"])),
                        lr=opts.ae_lr, warmup_steps=20, heldout_fraction=opts.heldout_fraction,
                        init_from=str(source))
    trainer = AETrainer(cfg)
    before = None
    if trainer.step == 0:
        held = FrameBank(cfg.data, size, cfg.temporal_factor, "heldout", cfg.heldout_fraction)
        before = evaluate(load_autoencoder(source).eval(), held.evenly(cfg.eval_frames), cfg.bf16)["psnr_db"]
        (run).mkdir(parents=True, exist_ok=True)
        (run / "before.json").write_text(json.dumps({"source": str(source), "heldout_psnr_db": before}))
    elif (run / "before.json").exists():
        before = json.loads((run / "before.json").read_text())["heldout_psnr_db"]
    result = trainer.run(progress=progress)
    return {"step": result["step"], "source": str(source), "heldout_psnr_db_before": before,
            "heldout_psnr_db": result["heldout"]["psnr_db"], "max_minutes": round(minutes, 2)}


def _latents(manifest: dict[str, Any], data: Path, run: Path, ae_dir: Path, progress: bool) -> dict[str, Any]:
    """Re-encode the recording with the fine-tuned autoencoder (same vocabulary and caption window as DATA)."""
    from runtime.data.importer import import_recording

    m = import_recording(manifest["recording"], data / "vocabulary.toml", run, ae_dir=ae_dir,
                         window=int(manifest["clip_frames"]), progress=progress)
    return {"latent_frames": m["latent_frames"], "shards": m["episodes"], "skipped": len(m["skipped"])}


def _teacher(data: Path, run: Path, manifest: dict[str, Any], opts: FitOptions, minutes: float,
             progress: bool) -> dict[str, Any]:
    from runtime.checkpoints import resolve
    from runtime.model.checkpoint import check_warm_start, load_model, write_json_atomic
    from runtime.training.config import load_train_config
    from runtime.training.trainer import Trainer

    over = {"out": str(run), "data.kind": "latents", "data.root": str(data),
            "data.heldout_fraction": opts.heldout_fraction, "autoencoder": {"from": manifest["ae_dir"]},
            "optim.max_minutes": minutes, **opts.overrides}
    cfg = load_train_config(opts.template, over)
    warm = None
    record = run / "warm_start.json"  # the decision of the first start, reported again by a resumed run
    if not (run / "checkpoint" / "config.json").exists():
        if opts.init_from:
            try:
                warm = resolve(opts.init_from)
                check_warm_start(load_model(warm).model.cfg, cfg.model, f"warm start {opts.init_from}")
            except CheckpointError:
                warm = None  # shapes differ: start from scratch
        run.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record, {"warm_start": str(warm) if warm else None})
        result = Trainer(cfg, init_from=warm).run(progress=progress)
    else:
        if record.exists():
            warm = json.loads(record.read_text()).get("warm_start")
        result = Trainer(cfg).run(progress=progress)
    return {"step": result.step, "loss": round(float(result.loss), 4), "warm_start": str(warm) if warm else None,
            "max_minutes": round(minutes, 2)}


def _distill(teacher: Path, data: Path, run: Path, opts: FitOptions, minutes: float, progress: bool) -> dict[str, Any]:
    from runtime.distillation import DistillConfig, Distiller

    cfg = DistillConfig(teacher=str(teacher), out=str(run), data=str(data), micro_steps=opts.distill_micro_steps,
                        batch_size=opts.distill_batch_size, steps=opts.distill_steps, max_minutes=minutes)
    result = Distiller(cfg).run(progress=progress)
    return {"step": result.step, "loss": round(float(result.loss), 4), "max_minutes": round(minutes, 2)}


def fit_command(data: Path, out: Path, opts: FitOptions) -> str:
    """The `streamdit fit` line that runs `opts` (every option that differs from its default), for TRAINING.md."""
    d = FitOptions(budget_minutes=opts.budget_minutes)
    parts = [f"streamdit fit {data} --out {out} --budget-minutes {opts.budget_minutes:g}"]
    if not opts.autoencoder:
        parts.append("--keep-autoencoder")
    if opts.init_from != d.init_from:
        parts.append(f"--init-from {opts.init_from}" if opts.init_from is not None else "--init-from none")
    if opts.shares:
        parts.append("--shares " + ",".join(f"{k}={v:g}" for k, v in opts.shares.items()))
    if opts.eval_per_class != d.eval_per_class:
        parts.append(f"--eval-per-class {opts.eval_per_class}")
    if Path(opts.template) != Path(d.template):
        parts.append(f"--template {opts.template}")
    return " ".join(parts)


def _training_md(data: Path, out: Path, opts: FitOptions, minutes: dict[str, float], ae: dict | None,
                 latents: dict | None, teacher: dict, distill: dict, evaluation: dict) -> str:
    m = json.loads((data / "manifest.json").read_text())
    lines = [f"# {out.name}: fitted with `streamdit fit`", "",
             f"Data: {data} (recording {m.get('recording')}, {m.get('episodes')} shards, {m.get('latent_frames')} "
             f"latent frames, autoencoder {m.get('ae_dir')}; vocabulary = prompt_map.toml).", "",
             "Command (a rerun resumes; finished stages are skipped):", "",
             f"    {fit_command(data, out, opts)}", "",
             "| stage | budget (min) | took (min) | result |", "|---|---|---|---|"]
    if ae is not None and latents is not None:
        lines += [f"| autoencoder | {minutes['autoencoder']:.1f} | {ae['seconds'] / 60:.1f} | step {ae['step']}, "
                  f"held-out PSNR {ae['heldout_psnr_db_before']} dB (from {ae['source']}) -> "
                  f"{ae['heldout_psnr_db']} dB |",
                  f"| latents | - | {latents['seconds'] / 60:.1f} | {latents['latent_frames']} latent frames, "
                  f"{latents['shards']} shards |"]
    lines += [f"| teacher | {minutes['teacher']:.1f} | {teacher['seconds'] / 60:.1f} | step {teacher['step']}, loss "
              f"{teacher['loss']}, warm start {teacher['warm_start']} |",
              f"| distill | {minutes['distill']:.1f} | {distill['seconds'] / 60:.1f} | step {distill['step']}, loss "
              f"{distill['loss']} |",
              f"| evaluate | {minutes['evaluate']:.1f} | {evaluation['seconds'] / 60:.1f} | FD untrained/fitted "
              f"{evaluation['fd_ratio']}, adherence / chance {evaluation['adherence_over_chance']} |", "",
              f"Logs: {', '.join(f'{out}/{st}/log.jsonl' for st in ('autoencoder', 'teacher', 'distill') if st != 'autoencoder' or ae is not None)}; the table: "
              "eval.json.", ""]
    return "\n".join(lines)

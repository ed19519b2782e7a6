"""`streamdit eval`: the quality table of DESIGN.md section 9 against held-out real Crafter gameplay."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`

ROWS = ("real", "teacher", "distilled", "diagonal", "chunked", "fifo", "untrained")
DEFAULT_ROWS = ("real", "teacher", "distilled", "diagonal", "chunked", "untrained")  # fifo runs when --fifo is given


@app.command("eval")
def evaluate(
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Teacher checkpoint directory or shipped name (default: the shipped teacher, else the default model)."),
    student: Optional[str] = typer.Option(None, "--student", help="Distilled checkpoint of the 'distilled' row (default: the shipped default model when it is distilled)."),
    fifo: Optional[str] = typer.Option(None, "--fifo", help="Checkpoint of the 'fifo' row: the FIFO-style baseline, the teacher's architecture trained on uniform noise only (configs/crafter72_fifo.toml), sampled diagonally (c = 1) at the teacher's model calls per frame. Giving it adds the row."),
    data: Optional[Path] = typer.Option(None, help="Crafter capture at the checkpoint's frame size (held-out episodes are used; the classifier trains on the rest). Default: data/crafterS, S the frame side (data/crafter72 for the shipped models)."),
    classifier: Optional[Path] = typer.Option(None, help="Clip classifier directory: loaded when it exists, else trained on DATA and written there (default: the shipped classifier of the checkpoint's frame size, runtime/checkpoints/crafter_classifier72 for the shipped models; runs/classifierS when none is shipped for size S)."),
    retrain_classifier: bool = typer.Option(False, "--retrain-classifier", help="Train the classifier again even if CLASSIFIER exists."),
    classifier_steps: int = typer.Option(1500, help="Training steps of a new classifier (batches of 64 windows)."),
    min_class_windows: int = typer.Option(150, help="A new classifier's classes: actor event types with at least this many training windows."),
    per_class: int = typer.Option(4, min=1, help="Prompts per classifier class (each one held-out clip's caption)."),
    frames: int = typer.Option(32, min=16, help="Frames per evaluated clip (a multiple of 8 windows them fully)."),
    reference: int = typer.Option(96, min=8, help="Held-out clips in the Frechet reference set."),
    rows: Optional[str] = typer.Option(None, help=f"Rows to run, comma separated, from {', '.join(ROWS)} (default: {','.join(DEFAULT_ROWS)}, and fifo with --fifo)."),
    chunked_k: Optional[int] = typer.Option(None, "--chunked-k", help="Reference frames K of the chunked-extension row (N = 1, c = B - K); default B / 2."),
    directions: bool = typer.Option(True, help="Also measure which way each walking prompt scrolls the view, for the teacher when --rows has teacher and the student when it has distilled (and real play's walks)."),
    direction_frames: int = typer.Option(96, help="Frames per walking-prompt clip."),
    direction_seeds: int = typer.Option(1, min=1, help="Seeds per walking prompt (SEED, SEED + 1, ...); the verdict uses their mean."),
    direction_start: str = typer.Option("noise", help="Where each walking-prompt stream starts: noise (text only, as served) or real (its buffer filled from a held-out real clip of that walk, one per seed; the frames measured come after the buffer, so this tells a model that cannot start a scroll from one that cannot keep one going)."),
    out: Path = typer.Option(Path("out/eval"), help="Directory for eval.json, table.md and contact sheets (PNG)."),
    seed: int = typer.Option(0, help="Seed for prompt choice and streams."),
    threads: Optional[int] = typer.Option(None, min=1, help="torch CPU threads (default: torch's choice)."),
    minutes: Optional[float] = typer.Option(None, min=0.01, help="Instead of the table: stream --student (else --checkpoint when given, else the shipped default student) this many minutes through a served session, an event of the Crafter vocabulary every --event-every s of video, and report per minute the Frechet distance, adherence, flicker and washed-out frames against held-out real play, and the per-event table (runtime/evaluation/long_stream.py)."),
    event_every: float = typer.Option(2.0, min=0.1, help="With --minutes: seconds of video between events."),
    pace: bool = typer.Option(True, help="With --minutes: stream at the model's frame rate, as served (--no-pace: as fast as the machine goes; the same video)."),
    compile_mode: str = typer.Option("auto", "--compile", help="With --minutes: torch.compile the served DiT (auto, on, off), as `streamdit serve`."),
) -> None:
    """Evaluate a checkpoint against held-out real gameplay: Frechet distance in the clip classifier's features,
    prompt adherence, dynamic degree, seam ratio and flicker, for the real clips, the teacher (default scheme),
    diagonal c = 1, chunked extension, the FIFO-style baseline (--fifo) and an untrained model; every generated
    row spends the same model calls per frame. Each figure comes with its bootstrap spread over the row's clips."""
    from tqdm import tqdm

    from runtime.evaluation import classifier as clf
    from runtime.evaluation import evaluate as ev
    from runtime.pipeline import StreamDiTPipeline
    from sdk.errors import ConfigError

    if threads:
        import torch

        torch.set_num_threads(threads)
    if rows is None:
        rows = ",".join(DEFAULT_ROWS + (("fifo",) if fifo is not None else ()))
    wanted = [r.strip() for r in rows.split(",") if r.strip()]
    bad = [r for r in wanted if r not in ROWS]
    if bad:
        raise ConfigError(f"unknown --rows {bad}; choose from {', '.join(ROWS)}")
    if direction_start not in ("noise", "real"):
        raise ConfigError(f"--direction-start must be noise or real, got {direction_start!r}")
    if "fifo" in wanted and fifo is None:
        raise ConfigError("--rows names fifo but no --fifo checkpoint is given; train one with "
                          "`streamdit train --config configs/crafter72_fifo.toml` and pass --fifo runs/crafter72_fifo/checkpoint")
    # ---- the checkpoints, checked before anything slow runs
    from runtime.evaluation.baselines import EqualBudgetRows, eval_checkpoints

    # with --minutes one model streams: --student, else --checkpoint when given, else the shipped default student
    want_student = (student is not None or checkpoint is None) if minutes is not None else "distilled" in wanted
    picked = eval_checkpoints(checkpoint, student, want_student, fifo if minutes is None else None)
    teacher_dir, student_dir, size = picked.teacher_dir, picked.student_dir, picked.size
    if minutes is None and "distilled" in wanted and student_dir is None:
        typer.echo("no distilled row: the default model is not distilled (pass --student DIR)")
        wanted.remove("distilled")
    data = Path(f"data/crafter{size}") if data is None else data
    out.mkdir(parents=True, exist_ok=True)
    if minutes is not None:
        from runtime.commands.evaluate_long import long_stream

        return long_stream(student_dir or teacher_dir, size, data, classifier, minutes, event_every, pace, seed, out, compile_mode)

    # ---- the classifier
    if classifier is None:
        from runtime.checkpoints import shipped_classifier

        classifier = shipped_classifier(size) or Path(f"runs/classifier{size}")
    if classifier.exists() and not retrain_classifier:
        model_c = clf.load_classifier(classifier)
        typer.echo(f"classifier {classifier}: classes {', '.join(model_c.classes)}")
        if model_c.size != size:
            typer.echo(f"warning: classifier {classifier} was trained on {model_c.size}-px frames but {teacher_dir} "
                       f"streams {size}-px ones, so the figures mean little; pass the --classifier of that size, "
                       f"or a new directory to train one on --data", err=True)
    else:
        typer.echo(f"training the clip classifier on {data} (train split) ...")
        train_w, classes = clf.collect_windows(data, "train", min_clips=min_class_windows)
        held_w, _ = clf.collect_windows(data, "heldout", classes=classes, max_per_class=300)
        with tqdm(total=classifier_steps, desc="classifier", unit="step") as bar:
            model_c, report = clf.train_classifier(
                train_w, classes, steps=classifier_steps, heldout=held_w,
                on_step=lambda i, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")))
        report["command"] = f"streamdit eval --data {data} --retrain-classifier --classifier-steps {classifier_steps}"
        report["class_windows"] = {c: int((train_w.labels == k).sum()) for k, c in enumerate(classes)}
        clf.save_classifier(model_c, classifier, {"report": report})
        typer.echo(f"classifier: {json.dumps(report)}")
        del train_w, held_w

    # ---- prompts and the reference set
    from runtime.data.recording import content_fingerprint

    data_fingerprint = content_fingerprint(data)  # eval-seeds combines only runs on the same capture
    typer.echo(f"data {data}: content {data_fingerprint}")
    prompts, ref_clips = ev.pick_prompts(data, model_c.classes, per_class, frames, reference, seed)
    if ref_clips.shape[2] != size:
        typer.echo(f"warning: --data {data} holds {ref_clips.shape[2]}-px frames but {teacher_dir} streams "
                   f"{size}-px ones, so the figures mean little; capture at that size (streamdit data crafter "
                   f"--size {size}) or pass the --data that matches", err=True)
    _, ref_feats = clf.clip_scores(model_c, list(ref_clips))
    labels = [p.label for p in prompts]
    chance = 1.0 / len(model_c.classes)  # a guess among all the classifier's classes
    typer.echo(f"{len(prompts)} prompts ({per_class} per class x {len(set(labels))} classes; chance "
               f"{chance:.3f}), {len(ref_clips)} reference clips ({len(ref_feats)} windows)")

    pipe = StreamDiTPipeline.from_checkpoint(teacher_dir)
    student_pipe = StreamDiTPipeline.from_checkpoint(student_dir) if student_dir is not None else None
    tf = pipe.temporal_factor
    fifo_pipe = StreamDiTPipeline.from_checkpoint(picked.fifo_dir) if picked.fifo_dir is not None else None
    table_rows = EqualBudgetRows(pipe, student_pipe, chunked_k, fifo_pipe)  # equal model calls per frame in every row
    teacher = table_rows.teacher
    # what eval.json says of the run, from the first partial report (after each row) to the final one
    about = {"checkpoint": str(teacher_dir), "student": str(student_dir) if student_dir else None,
             "fifo": str(picked.fifo_dir) if picked.fifo_dir else None, "seed": seed, "rows_wanted": wanted,
             "chance": chance, "classes": model_c.classes, "prompts_per_class": per_class, "frames": frames,
             "reference_clips": len(ref_clips), "data": str(data), "data_fingerprint": data_fingerprint}
    results: list[ev.Row] = []
    sheets: list[tuple[str, list]] = []
    show = [i for i in range(len(prompts)) if i == 0 or labels[i] != labels[i - 1]][:6]  # first clip of six classes
    if "real" in wanted:
        real = [p.real for p in prompts]
        results.append(ev.measure("real held-out clips", "-", real, labels, model_c, ref_feats,
                                  teacher.c * tf))
        sheets.append(("real held-out", [real[i] for i in show]))
    for key in [r for r in wanted if r != "real"]:
        p, sch = table_rows.pipeline(key, seed), table_rows.scheme(key)
        t0 = time.time()
        with tqdm(total=frames, desc=key, unit="frame") as bar:
            vids = ev.generate_batch(p, [x.caption for x in prompts], frames, sch,
                                     seeds=[seed * 1000 + i for i in range(len(prompts))],
                                     on_step=lambda n, total: bar.update(n - bar.n))
        row = ev.measure(table_rows.name(key), sch.describe(), vids, labels, model_c, ref_feats, sch.c * tf,
                         ev.calls_per_frame(sch, tf), time.time() - t0)
        results.append(row)
        sheets.append((table_rows.name(key), [vids[i] for i in show]))
        typer.echo(json.dumps({k: v for k, v in row.__dict__.items() if k != "per_class"}))
        # a long run keeps each finished row: eval.json holds the rows so far until the final report replaces it
        ev.save_report(out, results, {**about, "complete": False})

    table = ev.markdown_table(results, chance)
    typer.echo("\n" + table)
    captions = [prompts[i].caption for i in show]
    sheet_path = ev.contact_sheet(sheets, out / "contact_sheet.png")
    extra = {**about, "complete": True, "contact_sheet": str(sheet_path), "contact_sheet_prompts": captions}

    if directions:
        real_dir = ev.real_direction_table(data)
        walk_seeds = tuple(seed + k for k in range(direction_seeds))
        # the walks of the models whose rows run: the teacher's ("generated") with --rows teacher, the student's
        # with --rows distilled, so `--rows real,distilled` measures the cheap student alone
        walkers = ([("generated", pipe)] if "teacher" in wanted else []) + (
            [("distilled", student_pipe)] if student_pipe is not None and "distilled" in wanted else [])
        walk_sheet, starts = [], None
        extra["direction_start"] = direction_start
        if direction_start == "real" and walkers:
            starts, extra["direction_starts"] = ev.real_walk_starts(
                data, pipe.scheme().B * tf, direction_seeds, seed=seed)
            for r in extra["direction_starts"]:
                typer.echo(f"  start clips, real walks {r['direction']} ({r['clips']} of {r['candidates']}): "
                           f"shift ({r['shift_dx']:+.2f}, {r['shift_dy']:+.2f}) px/frame")
        for name, walker in walkers:
            if starts is not None and walker.scheme().B * walker.temporal_factor != pipe.scheme().B * tf:
                raise ConfigError(f"--direction-start real: the {name} model's buffer holds "
                                  f"{walker.scheme().B * walker.temporal_factor} frames, the teacher's "
                                  f"{pipe.scheme().B * tf}; run the two with separate --rows")
            with tqdm(total=direction_frames, desc=f"directions ({name})", unit="frame") as bar:
                clips = ev.direction_clips(walker, direction_frames, seeds=walk_seeds, starts=starts,
                                           on_step=lambda n, total: bar.update(n - bar.n))
            table_d = ev.direction_table(clips)
            extra[f"directions_{name}"], extra[f"directions_{name}_summary"] = table_d, ev.direction_summary(table_d)
            walk_sheet += [(f"{name}: {p} (seed {s})", [v]) for p, s, v in clips]
            typer.echo(f"walking prompts, {name}: mean whole-frame shift (px/frame; +x = content moves right):")
            for r in table_d:
                typer.echo(f"  {r['prompt']!r} seed {r['seed']}: shift ({r['shift_dx']:+.2f}, {r['shift_dy']:+.2f}), "
                           f"Farneback ({r['flow_dx']:+.2f}, {r['flow_dy']:+.2f})")
            for r in extra[f"directions_{name}_summary"]:
                typer.echo(f"  {name} walks {r['direction']}: {r['along']:+.2f} px/frame along the walk (real play's "
                           f"sign positive), {r['across']:.2f} across, over {r['seeds']} seed(s): "
                           f"{'follows the prompt' if r['follows'] else 'does not follow'}")
        extra["directions_real"] = real_dir
        for r in real_dir:
            typer.echo(f"  real {r['event']} ({r['clips']} clips): shift ({r['shift_dx']:+.2f}, {r['shift_dy']:+.2f})")
        extra["directions_contact_sheet"] = str(ev.contact_sheet(walk_sheet, out / "directions.png", frames_shown=12))
    ev.save_report(out, results, extra)
    from runtime.model.checkpoint import write_bytes_atomic

    write_bytes_atomic(out / "table.md", table.encode())
    typer.echo(f"wrote {out / 'eval.json'}, {out / 'table.md'}, {sheet_path}")


@app.command("eval-seeds")
def eval_seeds(
    runs: list[Path] = typer.Argument(..., help="Output directories (or eval.json files) of `streamdit eval` runs, usually one per --seed."),
    out: Optional[Path] = typer.Option(None, help="Also write the summary here as Markdown (and JSON beside it, .json)."),
) -> None:
    """The spread over seeds: every row's figures averaged over several `streamdit eval` runs, mean ± sample
    standard deviation, rows matched by name."""
    from runtime.evaluation import evaluate as ev
    from sdk.errors import DataError

    reports = []
    for r in runs:
        path = r / "eval.json" if r.is_dir() else r
        if not path.exists():
            raise DataError(f"{path} does not exist: pass the --out directory of a `streamdit eval` run")
        try:
            reports.append(json.loads(path.read_text()))
        except json.JSONDecodeError as e:
            raise DataError(f"{path} is not an eval report ({e}); pass the eval.json of a `streamdit eval` run") from e
    summary = ev.seed_summary(reports, [str(r) for r in runs])
    unmarked = [str(r) for r, rep in zip(runs, reports) if not rep.get("data_fingerprint")]
    if unmarked:
        typer.echo(f"warning: {', '.join(unmarked)} name no data fingerprint (runs before 2026-12-08), so nothing "
                   f"checks that they were measured on the same capture as the others", err=True)
    table = ev.seed_summary_markdown(summary)
    typer.echo(table)
    if out is not None:
        from runtime.model.checkpoint import write_bytes_atomic, write_json_atomic

        write_bytes_atomic(out, table.encode())
        write_json_atomic(out.with_suffix(".json"), {"runs": [str(r) for r in runs], "rows": summary})
        typer.echo(f"wrote {out} and {out.with_suffix('.json')}")


@app.command("eval-table")
def eval_table(
    out: Path = typer.Option(Path("out/table72"), help="Folder of the runs (one per row and seed: <row>_s<seed>/) and of the summary (table.md, table.json). Runs finished there before, on the same data, are kept."),
    rows: str = typer.Option("teacher,default,low_latency,diagonal,chunked,untrained", help="Comma-separated table rows: teacher, default, low_latency, diagonal, chunked, untrained, fifo (fifo needs --fifo). The real held-out row comes with every run."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds; every row runs once per seed."),
    data: Path = typer.Option(Path("data/crafter72"), help="The Crafter capture (its held-out episodes are the reference; `streamdit data crafter --episodes 250 --size 72 --out data/crafter72`)."),
    fifo: Optional[str] = typer.Option(None, help="Checkpoint of the FIFO-style baseline, for the fifo row."),
    per_class: int = typer.Option(4, min=1, help="Prompts per event class in every run."),
    frames: int = typer.Option(16, min=2, help="Video frames per generated clip."),
    walk_seeds: int = typer.Option(3, min=0, help="Seeds of the four walking prompts, streamed by the student rows at the first seed."),
    jobs: int = typer.Option(2, min=1, help="Runs at once (each its own process)."),
    threads: int = typer.Option(1, min=1, help="torch CPU threads per run (jobs x threads: the cores to use)."),
) -> None:
    """The paper's comparison (Table 2): one `streamdit eval` run per row and seed, JOBS at a time, then every
    row's figures as mean ± standard deviation over the seeds of every run finished in OUT. Resumable: finished runs are kept and skipped
    (a run stopped half-way starts again), so a long table can be measured over several sittings. The
    teacher-side rows take about an hour per seed on a 2-core CPU, the students a few minutes."""
    from tqdm import tqdm

    from runtime.data.recording import content_fingerprint
    from runtime.evaluation import evaluate as ev
    from runtime.evaluation import table_runs as tr
    from runtime.model.checkpoint import write_bytes_atomic, write_json_atomic
    from sdk.errors import ConfigError

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {seeds!r}") from None
    runs = tr.plan_table([r.strip() for r in rows.split(",") if r.strip()], seed_list, per_class=per_class,
                         frames=frames, walk_seeds=walk_seeds, fifo=fifo)
    fingerprint = content_fingerprint(data)
    typer.echo(f"{len(runs)} runs into {out}; data {data}: content {fingerprint}")
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(runs), desc="eval-table", unit="run") as bar:
        live: list[str] = []

        def on_event(kind: str, run: tr.PlannedRun) -> None:
            if kind == "start":
                live.append(run.name)
            elif kind in ("done", "failed", "skip"):
                if run.name in live:
                    live.remove(run.name)
                bar.update(1)
                if kind == "failed":
                    tqdm.write(f"{run.name} failed: see {out / run.name / 'eval.log'}")
            bar.set_postfix_str(", ".join(live))

        progress = tr.run_plan(runs, out, data, fingerprint, jobs=jobs, threads=threads, on_event=on_event)
    # the summary is of every run finished in OUT on this data (earlier sittings' rows and seeds too)
    done = [p / "eval.json" for p in sorted(out.iterdir()) if p.is_dir() and tr.run_state(p, fingerprint) == "done"]
    reports = [json.loads(p.read_text()) for p in done]
    typer.echo(f"ran {len(progress.ran)}, kept {len(progress.skipped)} finished before, "
               f"{len(progress.failed)} failed")
    if reports:
        summary = ev.seed_summary(reports, [str(p.parent) for p in done])
        table = ev.seed_summary_markdown(summary)
        typer.echo(table)
        write_bytes_atomic(out / "table.md", table.encode())
        write_json_atomic(out / "table.json", {"data": str(data), "data_fingerprint": fingerprint,
                                               "runs": [str(p.parent) for p in done], "rows": summary})
        typer.echo(f"wrote {out / 'table.md'} and {out / 'table.json'}")
    if progress.failed:
        raise typer.Exit(2)

"""`streamdit distill`: multistep distillation of a teacher into a one-call-per-chunk student (runtime.distillation)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def distill(
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Teacher checkpoint directory or shipped name (default: the shipped teacher)."),
    out: Path = typer.Option(..., "--out", help="Run directory (checkpoint/, log.jsonl); a rerun resumes from OUT/checkpoint."),
    steps: int = typer.Option(2000, "--steps", min=1, help="Total optimizer steps (a resumed run continues up to this)."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", min=0.0, help="Stop after this many minutes (then checkpoint)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Clips per step (each costs s guided teacher calls)."),
    lr: float = typer.Option(1e-4, "--lr", min=0.0, help="Peak learning rate (AdamW; warm-up, then cosine)."),
    micro_steps: Optional[int] = typer.Option(None, "--micro-steps", "-s", min=1, help="Teacher micro-steps s per chunk position; the student makes 1 (default 16; 1 with --fold-guidance)."),
    chunk: Optional[int] = typer.Option(None, "--chunk", "-c", min=1, help="Frames per chunk c (teacher and student); must divide the buffer (default 2; the teacher's c with --fold-guidance)."),
    guidance: Optional[float] = typer.Option(None, "--guidance", min=0.0, help="Teacher CFG scale (default: the teacher's sampling.guidance_scale)."),
    fold_guidance: Optional[float] = typer.Option(None, "--fold-guidance", min=0.0, help="Fold CFG of this scale into a distilled student: --teacher is then a distilled student (e.g. default), each target is its own guided velocity at this scale, and the new student streams at its cost (one call per chunk, no CFG), e.g. --teacher default --fold-guidance 1.5."),
    buffer_frames: Optional[int] = typer.Option(None, "--buffer-frames", "-B", min=1, help="The student's buffer B in latent frames (default: the teacher's). A smaller one answers events sooner (a chunk spends B / c calls in the buffer, so about B frames / fps seconds) at some quality, e.g. --buffer-frames 8 for half the default's latency; measure it with `streamdit eval --student`."),
    data: Optional[Path] = typer.Option(None, "--data", help="Latent directory from `streamdit encode-latents` (default: the teacher's training data)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data and noise draws."),
    caption_weight: Optional[list[str]] = typer.Option(None, "--caption-weight", help="TEXT=WEIGHT (repeatable): clips whose caption contains TEXT are drawn WEIGHT times as often, e.g. --caption-weight 'walks right=3'."),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="A distilled student (directory or shipped name) to start from instead of the teacher's weights, to continue a distillation under new options, e.g. --init-from default --caption-weight 'walks right=3'."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Distil a teacher (c, s micro-steps, CFG) into a student that makes ONE conditional call per emitted chunk.

    The student streams with the same c and N, s = 1 and no guidance; see runtime/distillation for the loss.
    """
    from runtime.checkpoints import default_teacher, resolve
    from runtime.distillation import DistillConfig, Distiller

    if lr <= 0:
        raise typer.BadParameter(f"must be > 0, got {lr}", param_hint="--lr")
    weights = parse_caption_weights(caption_weight or [])
    teacher = teacher if teacher is not None else default_teacher()
    teacher_dir = resolve(teacher)
    if fold_guidance is not None:
        if guidance is not None and guidance != fold_guidance:
            raise typer.BadParameter(f"--guidance {guidance:g} and --fold-guidance {fold_guidance:g} disagree; "
                                     f"give the scale once, as --fold-guidance", param_hint="--guidance")
        guidance = fold_guidance
        if chunk is None:
            from runtime.model.checkpoint import read_config

            chunk = int(read_config(teacher_dir).get("sampling", {}).get("c", 2))
    cfg = DistillConfig(teacher=str(teacher_dir), out=str(out), data=str(data) if data else None,
                        chunk=chunk if chunk is not None else 2,
                        micro_steps=micro_steps if micro_steps is not None else (1 if fold_guidance is not None else 16),
                        guidance_scale=guidance, steps=steps,
                        max_minutes=max_minutes, batch_size=batch_size, lr=lr, seed=seed,
                        caption_weights=weights or None,
                        init_from=str(resolve(init_from)) if init_from else None,
                        fold_guidance=fold_guidance is not None, buffer_frames=buffer_frames)
    d = Distiller(cfg)
    n = sum(p.numel() for p in d.student.parameters())
    cfg_note = " (CFG: conditional and unconditional in one batch)" if d.guidance_scale != 1.0 else ""
    if cfg.fold_guidance:
        cfg_note += ", folded into the student"
    if d.buffer_frames != d.teacher_buffer:
        typer.echo(f"student buffer: {d.buffer_frames} latent frames (the teacher's is {d.teacher_buffer}); the "
                   f"teacher runs on {d.buffer_frames}-frame buffers")
    typer.echo(f"teacher {cfg.teacher}: {d.scheme.describe()}, guidance {d.guidance_scale:g}, "
               f"{d.scheme.s} calls per segment{cfg_note}; "
               f"student {d.student_scheme.describe()}, 1 call per chunk; {n / 1e6:.2f} M parameters; "
               f"out {out}; starting at step {d.step}"
               + (f" from the student {d.init_id['checkpoint']}" if d.init_id else ""))
    for text in weights:
        typer.echo(f"caption weight {text!r} x{weights[text]:g}: {100 * d.source.share(text):.1f}% of the drawn clips")
    result = d.run(progress=progress)
    typer.echo(f"done: step {result.step}, loss {result.loss:.4f}, {result.seconds / 60:.1f} min "
               f"({result.seconds_per_step:.2f} s/step), checkpoint {result.checkpoint}")


def parse_caption_weights(items: list[str]) -> dict[str, float]:
    """["walks right=3", ...] -> {"walks right": 3.0}; typer.BadParameter names a malformed item."""
    out: dict[str, float] = {}
    for item in items:
        text, sep, value = item.rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not text.strip() or not weight > 0:
            raise typer.BadParameter(f"{item!r}: write TEXT=WEIGHT with WEIGHT > 0, e.g. 'walks right=3'",
                                     param_hint="--caption-weight")
        out[text.strip()] = weight
    return out

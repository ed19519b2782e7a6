"""`streamdit fit`: imported footage -> one servable checkpoint (runtime/training/fit.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def fit(
    data: Path = typer.Argument(..., help="An import from `streamdit data import` (latents, captions, vocabulary)."),
    out: Path = typer.Option(..., "--out", help="Run directory; a rerun resumes (finished stages are skipped). "
                             "The servable checkpoint lands in OUT/checkpoint."),
    budget_minutes: float = typer.Option(..., "--budget-minutes", help="Wall-clock minutes for all stages, split "
                                         "10/50/30/10 over autoencoder, teacher, distillation and evaluation."),
    template: Optional[Path] = typer.Option(None, "--template", help="Teacher config TOML (default: the shipped "
                                            "teacher's shape, runtime/training/fit_teacher.toml)."),
    init_from: Optional[str] = typer.Option("teacher", "--init-from", help="Warm-start checkpoint (directory or "
                                            "shipped name), used when its shapes match; 'none' for none."),
    keep_autoencoder: bool = typer.Option(False, "--keep-autoencoder", help="Skip the autoencoder fine-tune and "
                                          "train on the import's own latents (its share goes to the teacher)."),
    shares: Optional[str] = typer.Option(None, "--shares", help="How the budget splits, e.g. "
                                         "'teacher=0.45,distill=0.45,evaluate=0.1' (stages left out keep their "
                                         "share; all are scaled to sum to 1)."),
    eval_per_class: int = typer.Option(4, "--eval-per-class", min=1, help="Held-out prompts per evaluation class."),
    micro_steps: int = typer.Option(16, "--micro-steps", min=1, help="Teacher micro-steps per chunk in distillation."),
    classifier_steps: int = typer.Option(600, "--classifier-steps", min=1, help="Evaluation classifier steps."),
    min_windows: int = typer.Option(20, "--min-windows", min=1, help="Training windows an event type needs to be "
                                    "an evaluation class."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Fit a StreamDiT to a game's own footage: autoencoder -> latents -> teacher -> distillation -> evaluation ->
    one checkpoint."""
    from runtime.training.fit import TEMPLATE, FitOptions, fit as run_fit, parse_shares

    opts = FitOptions(budget_minutes=budget_minutes, template=template or TEMPLATE,
                      init_from=None if init_from in (None, "none") else init_from,
                      autoencoder=not keep_autoencoder,
                      distill_micro_steps=micro_steps, eval_classifier_steps=classifier_steps,
                      eval_min_windows=min_windows, eval_per_class=eval_per_class,
                      shares=parse_shares(shares) if shares else None)
    ckpt = run_fit(data, out, opts, progress=progress, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"checkpoint: {ckpt} (serve it: streamdit serve --checkpoint {ckpt})")

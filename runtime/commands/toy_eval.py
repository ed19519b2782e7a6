"""`python -m runtime.commands.toy_eval`: motion adherence of a toy checkpoint (runtime/training/toy_eval.py).

Prints one JSON line of the summary, then one JSON line per clip. Not a `streamdit` sub-command: it measures
the toy model only (runtime/checkpoints/toy/TRAINING.md quotes it).
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(add_completion=False)


@app.command()
def toy_eval(
    checkpoint: str = typer.Option("toy", "--checkpoint", help="Toy checkpoint directory or shipped name."),
    seeds: int = typer.Option(2, "--seeds", help="Clips per caption (seeds 0, 1, ...)."),
    frames: int = typer.Option(64, "--frames", help="Video frames per clip."),
) -> None:
    """Motion adherence of a toy StreamDiT checkpoint."""
    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline
    from runtime.training.toy_eval import motion_adherence, toy_captions

    pipe = StreamDiTPipeline.from_checkpoint(resolve(checkpoint))
    result = motion_adherence(pipe, toy_captions(pipe), seeds, frames)
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    for row in result["rows"]:
        typer.echo(json.dumps(row))


if __name__ == "__main__":
    app()

"""`streamdit cutscene FILE`: render a TOML timeline of prompts and events (runtime/cutscene.py) to an MP4."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def cutscene(
    file: Path = typer.Argument(..., help="Cutscene TOML, e.g. samples/cutscenes/intro.toml."),
    out: Path = typer.Option(Path("out/intro.mp4"), "--out", help="MP4 to write."),
    live: bool = typer.Option(False, "--live", help="Fire cues at wall-clock seconds (as a game would) instead of at video time."),
    url: Optional[str] = typer.Option(None, "--url", help="zmq://HOST:PORT, grpc://HOST:PORT or ws://HOST:PORT/v1/session of a running runtime (default: in-process local://)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint for the in-process runtime (default: the shipped default model)."),
    seed: int = typer.Option(0, "--seed", help="Noise seed of the stream."),
    model: str = typer.Option("", "--model", metavar="<NAME>", help="The model to stream from, when the runtime serves several (`streamdit serve --model NAME=DIR`; default: the runtime's default model)."),
) -> None:
    """Render a cutscene (cue times in seconds) through a StreamDiT session; the prompt in effect is written under each frame."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from runtime.cutscene import load_cutscene, render_cutscene
    from sdk.errors import ConfigError

    if url is not None and not url.startswith("local://") and checkpoint is not None:
        raise ConfigError(f"--checkpoint applies to the in-process runtime only; {url} serves its own checkpoint")
    target = url or (f"local://?checkpoint={checkpoint}" if checkpoint else "local://")
    render_cutscene(load_cutscene(file), out, url=target, live=live, seed=seed, report=typer.echo, model=model)

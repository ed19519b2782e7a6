"""`streamdit demo`: a scripted Crafter game steers a stream; writes the game and the stream side by side.

The logic lives in runtime/crafter_demo.py (installed with the package; samples/crafter_demo.py runs it as a
script).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def demo(
    seconds: float = typer.Option(60.0, "--seconds", min=0.1, help="Seconds of wall clock to play."),
    out: Path = typer.Option(Path("out/demo.mp4"), "--out", help="MP4 to write: game left, stream right."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint directory or shipped name for the in-process runtime (default: the shipped default model)."),
    url: Optional[str] = typer.Option(None, "--url", help="zmq://HOST:PORT or grpc://HOST:PORT of a running `streamdit serve` (default: in-process local://)."),
    seed: int = typer.Option(0, "--seed", help="Crafter world seed and agent seed."),
) -> None:
    """Play Crafter with a scripted agent, steer a stream with its events, and record both side by side.

    Prints FPS, event-to-frame latency p50/p99 (milliseconds) and dropped frames about once a second. Headless.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from runtime import crafter_demo

    result = crafter_demo.run_demo(seconds=seconds, out=out, checkpoint=checkpoint, url=url, seed=seed,
                                   report=typer.echo)
    typer.echo(crafter_demo.summary(result))

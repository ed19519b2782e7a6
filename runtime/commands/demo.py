"""`streamdit demo`: a scripted Crafter game steers a stream; writes the game and the stream side by side.

The logic lives in samples/crafter_demo.py (a sample to read and copy); this command loads it from the source
tree.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from runtime.cli import app

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "crafter_demo.py"


def load_sample(path: Path = SAMPLE) -> Any:
    """Import samples/crafter_demo.py by path (samples/ is not an installed package)."""
    from sdk.errors import ConfigError

    if not path.is_file():
        raise ConfigError(f"the demo sample {path} is missing: `streamdit demo` runs from a source checkout "
                          f"(git clone, then pip install -e .)")
    name = "streamdit_samples_crafter_demo"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


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
    sample = load_sample()
    result = sample.run_demo(seconds=seconds, out=out, checkpoint=checkpoint, url=url, seed=seed,
                             report=typer.echo)
    typer.echo(sample.summary(result))

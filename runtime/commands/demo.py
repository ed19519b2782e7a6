"""`streamdit demo`: a scripted Crafter game steers a stream; writes the game and the stream side by side.
`streamdit demo --v2v`: the live game is restyled by prompt (video-to-video) instead.

The logic lives in runtime/crafter_demo.py and runtime/v2v_demo.py (installed with the package;
samples/crafter_demo.py runs the first as a script).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def demo(
    seconds: float = typer.Option(60.0, "--seconds", min=0.1, help="Seconds of wall clock to play."),
    out: Optional[Path] = typer.Option(None, "--out", help="MP4 to write: game left, stream right (default: out/demo.mp4, with --v2v out/demo_v2v.mp4)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint directory or shipped name for the in-process runtime (default: the shipped default model)."),
    url: Optional[str] = typer.Option(None, "--url", help="zmq://HOST:PORT or grpc://HOST:PORT of a running `streamdit serve` (default: in-process local://)."),
    seed: int = typer.Option(0, "--seed", help="Crafter world seed and agent seed."),
    v2v: bool = typer.Option(False, "--v2v", help="Video-to-video: send every game frame and restyle it by prompt, instead of steering a generated stream with the game's events."),
    strength: Optional[float] = typer.Option(None, "--strength", help="With --v2v: how much the model may change the game, in [0, 1] (0 = the game back through the autoencoder, 1 = text-only; default 0.5)."),
    prompt: Optional[List[str]] = typer.Option(None, "--prompt", help="With --v2v: a prompt to restyle by; repeat to cycle through several (default: \"it is night\", the sand, cave-floor and grass captions)."),
    prompt_every: Optional[float] = typer.Option(None, "--prompt-every", help="With --v2v: seconds between prompt changes (default 5)."),
    model: str = typer.Option("", "--model", metavar="<NAME>", help="The model to stream from, when the runtime serves several (`streamdit serve --model NAME=DIR`; default: the runtime's default model)."),
) -> None:
    """Play Crafter with a scripted agent, steer a stream with its events, and record both side by side.

    Prints FPS, event-to-frame latency p50/p99 (milliseconds) and dropped frames about once a second. Headless.

    With --v2v the runtime restyles the game's own frames under a prompt that changes every --prompt-every seconds; it prints FPS, source-to-output latency p50/p99 (milliseconds from sending a game frame to the first output frame that restyles it), dropped frames and the source frames sent, received and dropped.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from sdk.errors import ConfigError

    if not v2v:
        given = [name for name, value in (("--strength", strength), ("--prompt", prompt),
                                          ("--prompt-every", prompt_every)) if value not in (None, [], ())]
        if given:
            names = " and ".join(given)
            raise ConfigError(f"{names} {'applies' if len(given) == 1 else 'apply'} to `streamdit demo --v2v` only "
                              f"(add --v2v, or drop {names})")
        from runtime import crafter_demo

        try:
            result = crafter_demo.run_demo(seconds=seconds, out=out or Path("out/demo.mp4"), checkpoint=checkpoint,
                                           url=url, seed=seed, report=typer.echo, model=model)
        finally:
            _stop_in_process_runtimes(url)
        typer.echo(crafter_demo.summary(result))
        return
    from runtime import v2v_demo

    try:
        r = v2v_demo.run_v2v_demo(seconds=seconds, out=out or Path("out/demo_v2v.mp4"), checkpoint=checkpoint,
                                  url=url, seed=seed, strength=0.5 if strength is None else strength,
                                  prompts=prompt or None, report=typer.echo, model=model,
                                  prompt_every_s=5.0 if prompt_every is None else prompt_every)
    finally:
        _stop_in_process_runtimes(url)
    typer.echo(v2v_demo.summary(r))


def _stop_in_process_runtimes(url: str | None) -> None:
    """Stop the `local://` runtimes this command started, before the interpreter exits: left running, their
    daemon threads are torn down mid-call at exit, and the process aborted ("terminate called without an active
    exception", status 134) after a finished `demo --v2v` on the default model."""
    if url is not None and not url.startswith("local://"):
        return
    from runtime.serving import local

    local.shutdown()

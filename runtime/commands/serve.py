"""`streamdit serve`: host a checkpoint for game engines over gRPC, ZeroMQ and WebSocket (docs/protocol.md)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any, Iterable, Optional

import typer

from runtime.commands.choices import BackendChoice, CompileMode, LogLevel

app = typer.Typer()  # runtime/cli.py adds its commands to `streamdit`


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind. Anything but loopback needs --auth-token."),
    grpc_port: int = typer.Option(50051, "--grpc-port", min=0, max=65535, help="gRPC port (0 = any free port)."),
    zmq_port: int = typer.Option(5557, "--zmq-port", min=0, max=65535, help="ZeroMQ ROUTER port (0 = any free port)."),
    web_port: Optional[int] = typer.Option(None, "--web-port", min=0, max=65535, help="Serve the WebSocket transport (ws://HOST:PORT/v1/session) and the viewer page (http://HOST:PORT/) on this port (0 = any free port; default: off)."),
    web_origin: list[str] = typer.Option([], "--web-origin", help="A browser origin, e.g. http://127.0.0.1:8060 (a web build of a game), that may open WebSockets besides the viewer page's own; repeatable."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Checkpoint directory or shipped name (default: the shipped default model)."),
    auth_token: Optional[str] = typer.Option(None, "--auth-token", envvar="STREAMDIT_AUTH_TOKEN", help="Token every client must send in its handshake."),
    max_sessions: int = typer.Option(8, "--max-sessions", min=1, help="Sessions served at once (one batched DiT step for all)."),
    pace: bool = typer.Option(True, help="Stream at the model's frame rate (--no-pace: as fast as the machine goes)."),
    compile_mode: CompileMode = typer.Option(CompileMode.auto, "--compile", help="torch.compile the DiT: auto (when a C++ compiler is found), on, off. Faster steps (docs/performance.md); the first start on a machine compiles for about a minute."),
    backend: BackendChoice = typer.Option(BackendChoice.auto, "--backend", envvar="STREAMDIT_BACKEND", help="What runs the model: auto (the fastest measured for this device, reason logged; docs/backends.md), torch (eager or compiled, per --compile), onnxruntime (CPU, or CUDA/TensorRT with onnxruntime-gpu)."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="ONNX export directory (`streamdit export onnx`) for --backend onnxruntime (default: one exported on first use into ~/.cache/streamdit/onnx, or $STREAMDIT_CACHE/onnx)."),
    int8: bool = typer.Option(False, "--int8", help="With --backend onnxruntime: run the DiT with int8 MatMuls (dit_int8.onnx; less faithful than the default, see docs/backends.md)."),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="Logging level."),
    prompt_map: Optional[Path] = typer.Option(None, "--prompt-map", help="Default prompt map (TOML, docs/protocol.md section 6) for sessions that send none, of every model (default: --checkpoint's prompt_map.toml)."),
    model: list[str] = typer.Option([], "--model", metavar="<NAME=DIR>", help="Serve another checkpoint beside --checkpoint under NAME; a session picks it with settings.model, sdk.Session(url, model=NAME) (the --checkpoint model, named after its directory, is the default of sessions that name none). DIR: a checkpoint directory or shipped name. Repeatable. Every model is loaded with the same --backend and --compile (--onnx applies to --checkpoint only) and gets the same default prompt map."),
    low_latency: bool = typer.Option(True, "--low-latency/--no-low-latency", help="With --checkpoint left out, also serve the shipped lower-latency student as model 'low_latency' (a buffer of 8 latent frames instead of 16: the picture answers an event about half a second sooner; docs/results.md), picked with sdk.Session(url, model=\"low_latency\"). --no-low-latency serves the default model alone."),
) -> None:
    """Serve a StreamDiT checkpoint (or several, with --model) to game engines until SIGINT or SIGTERM, which close every session with a reason."""
    # The DiT and decode threads both run torch ops: OpenMP workers that spin while idle starve each other
    # (and other processes) on small shared CPUs. Sleeping workers cost nothing measurable here. This only
    # takes effect when torch was not imported yet (the CLI imports it lazily).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from runtime.checkpoints import resolve
    from runtime.backends.select import load_pipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.prompt_maps import default_prompt_map
    from runtime.serving.guard import is_loopback
    from runtime.serving.server import ServingRuntime
    from sdk.errors import ConfigError

    logging.basicConfig(level=log_level.value.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not is_loopback(host) and not auth_token:
        raise ConfigError(f"--host {host} exposes the runtime beyond this machine: also pass --auth-token T "
                          f"(clients send it in the handshake), or bind to 127.0.0.1")
    directory = resolve(checkpoint)
    others = parse_model_options(model, directory.name)  # a bad --model fails before anything loads
    others += companion_models(checkpoint, low_latency, [name for name, _ in others])
    dirs = {directory.name: directory, **{name: resolve(where) for name, where in others}}
    default_map = default_prompt_map(directory, prompt_map)  # a missing --prompt-map file fails before loading
    pipes = {name: load_pipeline(d, backend=backend.value, compile_mode=compile_mode.value,
                                 onnx_dir=onnx if name == directory.name else None, int8=int8)
             for name, d in dirs.items()}
    cfg = ServeConfig(auth_token=auth_token, max_sessions=max_sessions, pace=pace, model_name=directory.name,
                      compile=compile_mode.value, prompt_map=default_map.text, prompt_map_source=default_map.source)
    runtime = ServingRuntime(pipes if others else pipes[directory.name], cfg).start()
    stop = threading.Event()
    why = ["the runtime is shutting down"]

    def on_signal(signum: int, _frame: object) -> None:
        why[0] = f"the runtime is shutting down ({signal.Signals(signum).name})"
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        # Open the ports only once the warm-up (and any compile) is done: a compile holds the interpreter for
        # long stretches, and a client served during it could wait past its own timeouts. "serving ..." on
        # stdout means ready.
        if not runtime.warmed_up:
            typer.echo("warming up (compiling the model for this machine takes about a minute the first time; "
                       "--compile off skips it) ...", err=True)
        if runtime.wait_warm(stop):  # a signal during the warm-up stops the runtime before any port opens
            g = runtime.serve_grpc(host, grpc_port)
            z = runtime.serve_zmq(host, zmq_port)
            w = runtime.serve_ws(host, web_port, tuple(web_origin)) if web_port is not None else None
            for name, info in runtime.models.items():
                typer.echo(f"backend{f' of {name}' if others else ''}: {info.backend} on {info.provider} "
                           f"({pipes[name].backend.reason})", err=True)
            typer.echo(f"prompt map for sessions that send none: {runtime.model_info.prompt_map or 'none'}", err=True)
            typer.echo(f"serving {describe_models(runtime.models.values())} at grpc://{host}:{g} and "
                       f"zmq://{host}:{z}; "
                       + (f"ws://{host}:{w}/v1/session, viewer http://{host}:{w}/; " if w is not None else "")
                       + "Ctrl-C stops", err=False)
        while not stop.wait(0.5):
            pass
    finally:
        runtime.shutdown(why[0])
    typer.echo(f"stopped: {why[0]}")


def parse_model_options(values: list[str], default_name: str) -> list[tuple[str, str]]:
    """`--model NAME=DIR` values -> [(NAME, DIR)] in order, checked before anything loads.

    default_name: the --checkpoint model's name (its directory's name), which no --model may take. Raises
    ConfigError for a value without '=', an empty NAME or DIR, a NAME with surrounding whitespace or longer than
    settings.model may be (128 characters), a NAME given twice, or the default model's NAME."""
    from sdk.errors import ConfigError
    from sdk.protocol.limits import MAX_NAME_CHARS, shown

    out: list[tuple[str, str]] = []
    for value in values:
        name, eq, where = value.partition("=")
        if not eq:
            raise ConfigError(f"--model {shown(value)} has no '=': write --model NAME=DIR (a checkpoint directory "
                              f"or shipped name), e.g. --model fast=runs/student/checkpoint")
        if not name.strip():
            raise ConfigError(f"--model {shown(value)} has an empty NAME: write --model NAME=DIR; sessions pick the "
                              f"model by that NAME (settings.model)")
        if name != name.strip() or len(name) > MAX_NAME_CHARS:
            raise ConfigError(f"--model {shown(value)}: NAME must have no surrounding whitespace and at most "
                              f"{MAX_NAME_CHARS} characters (clients send it as settings.model)")
        if not where.strip():
            raise ConfigError(f"--model {shown(value)} has an empty DIR: write --model NAME=DIR with a checkpoint "
                              f"directory or a shipped name")
        if name == default_name:
            raise ConfigError(f"--model {shown(value)}: {name!r} is already the name of the --checkpoint model "
                              f"(the default model is named after its directory): pick another NAME")
        if any(name == seen for seen, _ in out):
            raise ConfigError(f"--model {shown(value)}: NAME {name!r} is given twice; every model needs its own "
                              f"NAME")
        out.append((name, where))
    return out


LOW_LATENCY = "low_latency"  # the shipped lower-latency student (runtime/checkpoints/low_latency)


def companion_models(checkpoint: str | None, low_latency: bool, named: list[str]) -> list[tuple[str, str]]:
    """The shipped models served beside the default one: [("low_latency", "low_latency")] when --checkpoint is
    left out, --low-latency is on (the default), that checkpoint is shipped and no --model took its name; else []."""
    from runtime.checkpoints import available

    if checkpoint is not None or not low_latency or LOW_LATENCY in named or LOW_LATENCY not in available():
        return []
    return [(LOW_LATENCY, LOW_LATENCY)]


def describe_models(models: Iterable[Any]) -> str:
    """ModelInfos -> "NAME (WxH px, F FPS, N frames per chunk, buffer B latent frames), ..." for the serving
    line; the first one is marked as the default when there are several."""
    infos = list(models)
    parts = [f"{i.name} ({i.width}x{i.height} px, {i.fps:g} FPS, {i.frames_per_chunk} frames per chunk, buffer "
             f"{i.buffer_frames} latent frames{', the default' if k == 0 and len(infos) > 1 else ''})"
             for k, i in enumerate(infos)]
    return ", ".join(parts)

"""The `streamdit` command line (typer). Sub-commands are thin wrappers over library functions."""

from __future__ import annotations

import os

# Before torch loads OpenMP: spinning OpenMP workers make CPU steps many times slower whenever the cores are
# shared with anything else (another session, the decoder thread, a game). Set it to ACTIVE to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer  # noqa: E402

from runtime.commands import (  # noqa: E402
    autoencoder, core, cutscene, data, demo, distill, evaluate, evaluate_v2v, export, fit, serve,
)
from runtime.commands.group import CommandGroup  # noqa: E402

app = typer.Typer(
    cls=CommandGroup,  # a StreamDiTError ends any command with `error: ...` and exit status 2
    name="streamdit",
    help="StreamDiT engine SDK: train, sample and serve a streaming text-to-video diffusion transformer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        from sdk._version import __version__

        typer.echo(f"streamdit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version (sdk/_version.py) and exit."),
) -> None:
    """StreamDiT engine SDK: train, sample and serve a streaming text-to-video diffusion transformer."""


# Each command module owns its commands; their order here is the order `streamdit --help` lists them in.
for _module in (core, autoencoder, serve, demo, cutscene, evaluate, evaluate_v2v, distill, fit):
    app.add_typer(_module.app)
app.add_typer(data.app, name="data")
app.add_typer(export.app, name="export")


if __name__ == "__main__":  # `python -m runtime.cli ...`, e.g. under torchrun
    app()

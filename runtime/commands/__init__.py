"""The command line, one module per command group. Each module builds its own `typer.Typer` named `app`;
`runtime/cli.py` registers them on `streamdit`, so nothing here imports `runtime.cli`."""

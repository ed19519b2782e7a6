"""CLI command modules. Each module registers its commands on `runtime.cli.app` when imported."""

from runtime.cli import app
from runtime.commands import core  # noqa: F401
from runtime.training.data.cli import data_app

app.add_typer(data_app, name="data")
from runtime.commands import autoencoder  # noqa: F401
from runtime.commands import serve  # noqa: F401
from runtime.commands import demo  # noqa: F401
from runtime.commands import cutscene  # noqa: F401
from runtime.commands import evaluate  # noqa: F401
from runtime.commands import distill  # noqa: F401
from runtime.commands import fit  # noqa: F401

"""CLI command modules. Each module registers its commands on `runtime.cli.app` when imported."""

from runtime.commands import core  # noqa: F401

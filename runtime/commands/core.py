"""Core commands: train, generate."""

from __future__ import annotations

from runtime.cli import app  # noqa: F401

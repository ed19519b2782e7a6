"""What a `Connection` needs from the runtime: a small context, not the whole `ServingRuntime`.

`runtime.serving.server.ServingRuntime` satisfies it; a test can hand a Connection anything with these
fields. Keeping the Connection on this Protocol is what makes the serving graph point one way: server ->
transports -> connection -> session -> engine's interface, and never back (tests/test_import_graph.py).
"""

from __future__ import annotations

from typing import Protocol

from runtime.serving.config import ServeConfig
from runtime.serving.guard import AuthGuard, Throttled
from runtime.serving.session import SessionManager
from sdk.protocol import messages as m


class ServingContext(Protocol):
    """The runtime as a Connection sees it (DESIGN.md section 6)."""

    config: ServeConfig  # limits, credits, timeouts, the auth token
    manager: SessionManager  # opens, resumes, detaches and closes sessions
    model_info: m.ModelInfo  # the default model's (settings.model ""); a session's own is Session.model
    models: dict[str, m.ModelInfo]  # every served model by name, the default first (ListModels, GetInfo)
    guard: AuthGuard  # paces credential checks of peers with repeated auth failures
    throttled: Throttled  # repeated warnings, counted rather than all written
    v2v: bool  # the default model serves video-to-video; a session's own is Session.v2v

    def warm_prompt(self, text: str, model: str = "") -> None:
        """Encode `text` now (input thread) with model `model`'s text encoder ("" = the default model's), so
        that model's engine finds it in the prompt cache."""

    def info(self) -> m.RuntimeInfo:
        """The GetInfo reply."""

    def forget(self, conn: object) -> None:
        """The connection `conn` has ended: drop the runtime's reference to it."""

"""The runtime behind `local://` URLs: one per process (per checkpoint), started on first use."""

from __future__ import annotations

import threading

from runtime.serving.config import ServeConfig
from runtime.serving.server import ServingRuntime

_lock = threading.Lock()
_installed: ServingRuntime | None = None
_by_checkpoint: dict[str, ServingRuntime] = {}


def install(runtime: ServingRuntime | None) -> None:
    """Make `runtime` the one `local://` connects to (None uninstalls). Tests install a tiny runtime."""
    global _installed
    with _lock:
        _installed = runtime.start() if runtime is not None else None


def runtime_for(checkpoint: str | None = None) -> ServingRuntime:
    """The installed runtime, or one started from `checkpoint` (None = the shipped default checkpoint), once
    its warm-up is done."""
    with _lock:
        if checkpoint is None and _installed is not None:
            return _installed
        from runtime.checkpoints import resolve

        key = str(resolve(checkpoint))
        rt = _by_checkpoint.get(key)
        if rt is None:
            from runtime.pipeline import StreamDiTPipeline

            rt = ServingRuntime(StreamDiTPipeline.from_checkpoint(key), ServeConfig()).start()
            _by_checkpoint[key] = rt
        rt.wait_warm()
        return rt

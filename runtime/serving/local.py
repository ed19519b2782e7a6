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
    its warm-up is done. Like `streamdit serve`, it gives sessions that send no prompt map the checkpoint's
    prompt_map.toml (runtime.serving.prompt_maps.default_prompt_map)."""
    with _lock:
        if checkpoint is None and _installed is not None:
            return _installed
        from runtime.checkpoints import resolve

        key = str(resolve(checkpoint))
        rt = _by_checkpoint.get(key)
        if rt is None:
            from pathlib import Path

            from runtime.pipeline import StreamDiTPipeline
            from runtime.serving.prompt_maps import default_prompt_map

            pm = default_prompt_map(key)
            cfg = ServeConfig(model_name=Path(key).name, prompt_map=pm.text, prompt_map_source=pm.source)
            rt = ServingRuntime(StreamDiTPipeline.from_checkpoint(key), cfg).start()
            _by_checkpoint[key] = rt
        rt.wait_warm()
        return rt

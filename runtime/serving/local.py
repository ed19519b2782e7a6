"""The runtime behind `local://` URLs: one per process (per checkpoint), started on first use."""

from __future__ import annotations

import atexit
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


def runtime_for(checkpoint: str | None = None, backend: str | None = None) -> ServingRuntime:
    """The installed runtime, or one started from `checkpoint` (None = the shipped default checkpoint), once
    its warm-up is done. Like `streamdit serve`, it gives sessions that send no prompt map the checkpoint's
    prompt_map.toml (runtime.serving.prompt_maps.default_prompt_map).

    backend: "auto" | "torch" | "onnxruntime" as `streamdit serve --backend` (None = $STREAMDIT_BACKEND, else
    auto; runtime.backends.select); one runtime per (checkpoint, backend). Raises ConfigError for an unknown
    backend or a missing onnxruntime, CheckpointError for a bad checkpoint or ONNX export."""
    with _lock:
        if checkpoint is None and backend is None and _installed is not None:
            return _installed
        from runtime.backends.select import choose_backend
        from runtime.checkpoints import resolve
        from runtime.pipeline import default_device

        path = str(resolve(checkpoint))
        compile_mode = ServeConfig().compile
        chosen = choose_backend(backend, default_device(), compile_mode).name
        key = f"{path}?backend={chosen}"
        rt = _by_checkpoint.get(key)
        if rt is None:
            from pathlib import Path

            from runtime.backends.select import load_pipeline
            from runtime.serving.prompt_maps import default_prompt_map

            pm = default_prompt_map(path)
            cfg = ServeConfig(model_name=Path(path).name, prompt_map=pm.text, prompt_map_source=pm.source)
            pipe = load_pipeline(path, backend=backend, compile_mode=compile_mode)  # its reason as chosen
            rt = ServingRuntime(pipe, cfg).start()
            _by_checkpoint[key] = rt
        rt.wait_warm()
        return rt


def shutdown(checkpoint: str | None = None, *, grace_s: float = 0.5) -> int:
    """Stop the runtimes `runtime_for` started: all of them, or those of one checkpoint directory (a path as
    given to runtime_for, resolved the same way). Returns how many were stopped. Safe to call twice.

    Registered with atexit: a runtime still running at interpreter exit has its daemon threads torn down
    mid-call, which can abort the process ("terminate called without an active exception", status 134)."""
    prefix = None
    if checkpoint is not None:
        from runtime.checkpoints import resolve

        prefix = f"{resolve(checkpoint)}?"
    with _lock:
        keys = [k for k in _by_checkpoint if prefix is None or k.startswith(prefix)]
        stopping = [_by_checkpoint.pop(k) for k in keys]
    for rt in stopping:
        rt.shutdown("process exiting" if checkpoint is None else "local runtime stopped", grace_s=grace_s)
    return len(stopping)


atexit.register(shutdown)

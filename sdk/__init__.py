"""StreamDiT SDK: stream frames from a StreamDiT runtime into a game, steered by events.

    import sdk
    with sdk.Session("zmq://127.0.0.1:5557", prompt="a grassy meadow") as s:
        s.push_event("night_falls")
        for frame in s.frames():
            ...

The package imports without torch (the runtime is server-side; `local://` imports it lazily), and installs
without it (`pip install streamdit`; the runtime is the `[runtime]` extra). Names are loaded on first use so
that `import sdk.errors` (used by the runtime everywhere) stays cheap; the TYPE_CHECKING imports below show
the same names to type checkers (the package ships py.typed).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# gRPC's fork support (on by default in grpcio 1.80 and later) restarts its poller threads in every child that
# fork() makes. A child that then execs (ffmpeg for an MP4, started with a preexec_fn, so by fork and not vfork)
# has those fds closed under the threads, and now and then a poller aborts it before the exec: writing frames to
# it fails with "Broken pipe" (grpc/grpc issue 43055). Nothing in this project forks a child that goes on using
# gRPC, so the support is off unless the user set it. gRPC reads this once, when it is first imported; the
# runtime package imports this one first for the same reason.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from sdk._version import __version__

if TYPE_CHECKING:
    from sdk import errors
    from sdk.aio import AsyncSession
    from sdk.frames import Frame, Recording
    from sdk.latency import LatencyTracker
    from sdk.protocol.messages import PROTOCOL_VERSION, EventAck
    from sdk.recorder import Recorder
    from sdk.session import Session

__all__ = ["Session", "AsyncSession", "Frame", "EventAck", "Recording", "Recorder", "LatencyTracker",
           "PROTOCOL_VERSION", "errors", "__version__"]

_LAZY = {
    "Session": ("sdk.session", "Session"),
    "AsyncSession": ("sdk.aio", "AsyncSession"),
    "Frame": ("sdk.frames", "Frame"),
    "Recording": ("sdk.frames", "Recording"),
    "Recorder": ("sdk.recorder", "Recorder"),
    "LatencyTracker": ("sdk.latency", "LatencyTracker"),
    "EventAck": ("sdk.protocol.messages", "EventAck"),
    "PROTOCOL_VERSION": ("sdk.protocol.messages", "PROTOCOL_VERSION"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name == "errors":
        import importlib

        return importlib.import_module("sdk.errors")
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

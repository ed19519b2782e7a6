"""A server that runs an asyncio event loop on a thread of its own: the life cycle that the gRPC server
(runtime/serving/grpc_server.py) and the WebSocket server (runtime/serving/ws_server.py) share.

A subclass implements `_serve()`: bind, record a bind failure in `_error` (a StreamDiTError naming the fix), or
create `_stopped`, then set `_ready` and wait on `_stopped`. `start()` runs the thread and returns the bound port
once `_ready` is set (raising what `_serve` recorded); `stop()` sets `_stopped` from any thread and joins.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sdk.errors import ConfigError


class LoopThreadServer:
    """One event loop on one daemon thread named `thread_name`; `what` names the server in errors ("the gRPC
    server"). Subclasses set `self.port` to the bound port (int) before setting `_ready`."""

    what = "the server"

    def __init__(self, runtime: Any, host: str, port: int, thread_name: str) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self, timeout: float = 10.0) -> int:
        """Start the thread; the bound port. Raises ConfigError when it does not start within `timeout` seconds,
        or what the bind raised (e.g. a ConfigError naming a port in use)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ConfigError(f"{self.what} on {self.host}:{self.port} did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end (`_serve` returns from its wait) and join the thread for up to `timeout` seconds."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        raise NotImplementedError

"""local:// transport: a runtime embedded in this process (scripts and tests). No sockets, no encoding.

The runtime is imported lazily (it needs torch): `local://` uses the runtime installed with
`runtime.serving.local.install(rt)`, or else starts one from the default checkpoint;
`local://?checkpoint=DIR` starts one from DIR; `&backend=onnxruntime` (or torch, auto) chooses what runs it, as
`streamdit serve --backend` does (default: $STREAMDIT_BACKEND, else auto).
"""

from __future__ import annotations

import collections
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sdk.errors import TransportError
from sdk.protocol import messages as m
from sdk.transports.base import Transport


class LocalTransport(Transport):
    def __init__(self, url: str = "local://") -> None:
        self.url = url
        self._conn: Any = None
        self._runtime: Any = None
        self._buf: collections.deque[Any] = collections.deque()
        self._ready = threading.Event()
        self._closed = False

    def open(self, timeout: float) -> None:
        from runtime.serving.local import runtime_for  # lazy: the runtime side needs torch

        query = parse_qs(urlsplit(self.url).query)
        self._runtime = runtime_for(query.get("checkpoint", [None])[0], query.get("backend", [None])[0])
        self._conn = self._runtime.connect("local")
        self._conn.outbox.set_notify(self._ready.set)

    def send(self, msg: Any) -> None:
        if self._closed or self._conn is None:
            raise TransportError("the local connection is closed")
        self._conn.handle(msg)

    def recv(self, timeout: float | None) -> Any | None:
        if self._conn is None:
            raise TransportError("open() the transport first")
        while not self._buf:
            self._ready.clear()
            self._buf.extend(self._conn.outbox.take())
            if self._buf:
                break
            if self._closed or self._conn.outbox.drained():
                raise TransportError("the local connection is closed")
            if not self._ready.wait(timeout):
                return None
        return self._buf.popleft()

    def request(self, msg: Any, timeout: float) -> Any:
        if self._runtime is None:
            raise TransportError("open() the transport first")
        self._runtime.manager.check_auth(msg.auth_token)
        return self._runtime.info() if isinstance(msg, m.GetInfo) else self._runtime.list_models()

    def close(self) -> None:
        if not self._closed and self._conn is not None:
            self._closed = True
            self._conn.outbox.set_notify(None)
            self._conn.disconnected()
        self._ready.set()

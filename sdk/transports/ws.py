"""WebSocket client transport: ws://HOST:PORT/v1/session, the ZeroMQ binding's msgpack maps (docs/protocol.md
section 10), on the `websockets` library's synchronous client.

Each message part is one binary WebSocket message: a map, and for `frame` the pixels right after it. recv()
pairs them and decodes (the library's own thread reads the socket and answers pings); a writer thread sends what
send() queues, so send() never blocks on the network.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from sdk.errors import ProtocolError, RuntimeTimeoutError, TransportError, server_error
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec
from sdk.transports.base import Transport

PATH = "/v1/session"


def _open(url: str, port: int, timeout: float) -> ClientConnection:
    """Connect a WebSocket to `url`; TransportError (or RuntimeTimeoutError) says what to check."""
    try:
        # entered as a context manager (the connection is closed by close()/abort()): websockets 17 warns about
        # a connection used without one, and a later major version makes it the only way
        return connect(url, open_timeout=timeout, compression=None, max_size=None, ping_interval=2.0,
                       ping_timeout=6.0, close_timeout=1.0, user_agent_header=None).__enter__()
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace").strip() if e.response.body else ""
        raise TransportError(f"the WebSocket runtime at {url} refused the connection (HTTP "
                             f"{e.response.status_code}): {body or 'no reason given'}") from None
    except TimeoutError:
        raise RuntimeTimeoutError(f"no WebSocket runtime answered at {url} within {timeout:g} s: check that "
                                  f"`streamdit serve` runs with --web-port {port}") from None
    except (OSError, InvalidHandshake) as e:
        raise TransportError(f"cannot open a WebSocket to {url} ({type(e).__name__}: {e}): is `streamdit serve` "
                             f"running with --web-port {port}?") from None


class WsTransport(Transport):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.url = f"ws://{host}:{port}{PATH}"
        self._ws: ClientConnection | None = None
        self._out: queue.Queue[Any] = queue.Queue()
        self._lost: TransportError | None = None
        self._closing = False
        self._threads: list[threading.Thread] = []

    def open(self, timeout: float) -> None:
        self._ws = _open(self.url, self.port, timeout)
        t = threading.Thread(target=self._write, name="streamdit-ws-writer", daemon=True)
        t.start()
        self._threads.append(t)

    def _write(self) -> None:
        ws = self._ws
        assert ws is not None
        while (msg := self._out.get()) is not None:
            try:
                for part in msgpack_codec.encode(msg):
                    ws.send(part)
            except (ConnectionClosed, OSError):
                return  # recv() reports the loss

    def send(self, msg: Any) -> None:
        if self._closing:
            raise TransportError(f"the connection to {self.url} is closed")
        self._out.put(msg)

    def recv(self, timeout: float | None) -> Any | None:
        """The next server message (its parts paired), None after `timeout` seconds. One reader at a time (the
        Session's receive thread): the library's own thread already reads the socket and answers pings."""
        if self._lost is not None:
            raise self._lost
        ws = self._ws
        assert ws is not None
        try:
            try:
                head = ws.recv(timeout=timeout)
            except TimeoutError:
                return None
            if isinstance(head, str):
                raise ProtocolError(f"the runtime sent a text message ({len(head)} characters); the protocol's "
                                    f"messages are binary")
            parts = [head]
            if msgpack_codec.parts_of(head, "server") == 2:
                pixels = ws.recv(timeout=10.0)  # sent right after its map
                if isinstance(pixels, str):
                    raise ProtocolError("the runtime sent a text message where a frame's pixels belong")
                parts.append(pixels)
            return msgpack_codec.decode_server(parts)
        except (ConnectionClosed, OSError, TimeoutError) as e:
            self._lost = TransportError(f"the connection to {self.url} was lost ({e or type(e).__name__})")
            raise self._lost from None

    def request(self, msg: Any, timeout: float) -> Any:
        """get_info / list_models on a short-lived WebSocket of its own."""
        deadline = time.monotonic() + timeout
        ws = _open(self.url, self.port, timeout)
        try:
            for part in msgpack_codec.encode(msg):
                ws.send(part)
            while (left := deadline - time.monotonic()) > 0:
                try:
                    data = ws.recv(timeout=left)
                except TimeoutError:
                    break
                if isinstance(data, str) or msgpack_codec.parts_of(data, "server") != 1:
                    continue
                reply = msgpack_codec.decode_server([data])
                if isinstance(reply, m.Error):
                    raise server_error(reply.code, reply.message, fatal=reply.fatal)
                if isinstance(reply, (m.RuntimeInfo, m.ModelList)):
                    return reply
            raise RuntimeTimeoutError(f"the runtime at {self.url} did not answer {msg.TYPE} within {timeout:g} s")
        except ConnectionClosed as e:
            raise TransportError(f"the runtime at {self.url} closed the connection during {msg.TYPE} ({e})") from None
        finally:
            ws.close()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._out.put(None)
        for t in self._threads:
            t.join(1.0)  # the queued messages (a final close) go first
        if self._ws is not None:
            self._ws.close()

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake, as a crashed client would."""
        self._closing = True
        self._out.put(None)
        if self._ws is not None:
            try:
                self._ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._ws.socket.close()

"""The WebSocket transport and the viewer page (docs/protocol.md section 10), on one port (`--web-port`).

    ws://HOST:PORT/v1/session   the protocol: the ZeroMQ binding's msgpack maps, one binary WebSocket message per
                                part (a `frame` or `source_frame` map is followed by one binary message of pixels)
    ws://HOST:PORT/v1/tools     the viewer's helpers (JSON text messages): describe a prompt map, check a cutscene
                                with the real parser (runtime.serving.web_tools)
    http://HOST:PORT/           the viewer page and its scripts (runtime/serving/web/)

Built on the `websockets` library (its asyncio server, on its own thread and event loop, like the gRPC server).
Each /v1/session connection is one Connection: a reader task admits (per-connection rate, before decoding),
size-checks and decodes client messages and hands them to it (prompt encoding runs in a worker thread, never on
the loop); the connection's own coroutine sends what its Outbox releases, woken by the engine and decode threads
through `call_soon_threadsafe`. A flooding connection is not read for a while (TCP flow control then holds the
flood back in the client, as HTTP/2 does for gRPC). A WebSocket message above 16 x max_message_bytes closes the
connection (code 1009, the library's hard memory guard); one above max_message_bytes is answered with
message_too_large and ignored, as on ZeroMQ. Keepalive pings (1 s, 3 s timeout) find frozen and vanished
clients, and a client that never reads. After `closed` (the last message of a session) and after auth_failed
the runtime closes the WebSocket.

Browsers: a request with an Origin header is served only from the page's own origin (or a --web-origin), and
only under a Host name the runtime answers to, so another web site (or a DNS-rebound name) cannot drive a
runtime on loopback from a visitor's browser. Clients that send no Origin (games, the SDK) are not affected.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from runtime.serving.connection import Connection
from runtime.serving.dispatch import dispatch
from runtime.serving.loop_thread import LoopThreadServer
from runtime.serving.guard import is_loopback
from runtime.serving.web_tools import WebTools, static_file
from sdk.errors import ConfigError, ProtocolError
from sdk.protocol import msgpack_codec
from sdk.protocol.limits import shown

log = logging.getLogger("streamdit.serving")
SESSION_PATH, TOOLS_PATH = "/v1/session", "/v1/tools"
CLOSE_NORMAL, CLOSE_POLICY = 1000, 1008
# The library's own log (a line per connection at INFO) goes to a quiet child logger: warnings only.
_lib_log = logging.getLogger("streamdit.serving.websockets")
_lib_log.setLevel(logging.WARNING)


_REQUEST_LINE = re.compile(rb"GET [\x21-\x7e]+ HTTP/1\.1")


def _checked_connection(runtime: Any) -> type[ServerConnection]:
    """The library's ServerConnection, except that a request that is not an HTTP/1.1 GET (another method, bytes
    that are not HTTP) is answered with a plain HTTP error saying what this port speaks, where the library would
    close the connection without a word."""

    class Checked(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head: bytes | None = b""  # bytes before the request line is complete; None once checked

        def data_received(self, data: bytes) -> None:
            if self._head is None:
                return super().data_received(data)
            self._head += data
            end = self._head.find(b"\n")
            method = re.match(rb"[A-Z]*", self._head).end()  # type: ignore[union-attr]
            can_be_http = len(self._head) == method or (0 < method <= 10 and self._head[method:method + 1] == b" ")
            if end < 0 and len(self._head) < 8192 and can_be_http:
                return  # the request line is not complete yet
            head, self._head = self._head, None
            line = head[:end].rstrip(b"\r") if end >= 0 else head
            if _REQUEST_LINE.fullmatch(line):
                return super().data_received(head)
            method = line.split(b" ", 1)[0]
            if re.fullmatch(rb"[A-Z]{3,10}", method) and line.endswith((b"HTTP/1.1", b"HTTP/1.0")):
                status, what = http.HTTPStatus.METHOD_NOT_ALLOWED, f"an HTTP {method.decode()} request"
            else:
                status, what = http.HTTPStatus.BAD_REQUEST, f"{len(head)} bytes that are not an HTTP/1.1 request"
            runtime.throttled.warning("ws-not-http", "refused %s on the WebSocket port from %s", what,
                                      shown(self.remote_address[0] if self.remote_address else ""))
            body = (f"refused {what}: this port answers HTTP/1.1 GET only, the viewer page at / and the StreamDiT "
                    f"protocol as a WebSocket at {SESSION_PATH} (docs/protocol.md section 10)\n").encode()
            self.transport.write(f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: text/plain; "
                                 f"charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                                 .encode() + body)
            self.transport.close()

    return Checked


def _text(status: http.HTTPStatus, body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    data = body.encode("utf-8")
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
    return Response(status.value, status.phrase, headers, data)


class WsServer(LoopThreadServer):
    """The WebSocket and viewer server on http://host:port. start() returns the bound port (0 = any free one).

    origins: browser origins allowed besides the page's own (e.g. a web build of a game at
    "http://127.0.0.1:8060"); `streamdit serve --web-origin`.
    """

    what = "the WebSocket server"

    def __init__(self, runtime: Any, host: str, port: int, origins: tuple[str, ...] = ()) -> None:
        super().__init__(runtime, host, port, "streamdit-ws")
        self.origins = {o.rstrip("/") for o in origins}
        self.tools = WebTools(runtime)

    async def _serve(self) -> None:
        limit = self.runtime.config.max_message_bytes
        try:
            server = await serve(self._handler, self.host, self.port, process_request=self._process_request,
                                 compression=None,  # pixels do not compress well, and deflate costs the CPU
                                 max_size=16 * limit,  # hard memory guard: such a message closes the connection
                                 max_queue=64, ping_interval=1.0, ping_timeout=3.0, close_timeout=2.0,
                                 write_limit=1 << 20, server_header=None, logger=_lib_log,
                                 create_connection=_checked_connection(self.runtime))
        except OSError as e:
            self._error = ConfigError(f"cannot bind the WebSocket server to {self.host}:{self.port}: {e}; pick "
                                      f"another --web-port")
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._stopped = asyncio.Event()
        self._ready.set()
        async with server:
            await self._stopped.wait()
            server.close()
            await server.wait_closed()

    # ------------------------------------------------------------------------------ HTTP side
    def _host_ok(self, host_header: str) -> bool:
        """Requests must name this runtime: its bind address or a loopback name (DNS rebinding defence);
        bound beyond loopback (a token is then required) any name is accepted."""
        if not is_loopback(self.host):
            return True
        name = urlsplit("//" + host_header).hostname or ""
        return name == self.host or is_loopback(name)

    def _origin_ok(self, origin: str | None, host_header: str) -> bool:
        if origin is None:
            return True  # not a browser: games, the SDK, tools
        origin = origin.rstrip("/")
        return origin in self.origins or origin in (f"http://{host_header}", f"https://{host_header}")

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        host_header = request.headers.get("Host", "")
        if not self._host_ok(host_header):
            return _text(http.HTTPStatus.MISDIRECTED_REQUEST, f"this StreamDiT runtime does not answer to the host "
                         f"name {shown(host_header)}: use http://{self.host}:{self.port}/\n")
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if upgrade:
            if path not in (SESSION_PATH, TOOLS_PATH):
                return _text(http.HTTPStatus.NOT_FOUND, f"no WebSocket endpoint at {shown(path)}: the protocol is "
                             f"at ws://{host_header}{SESSION_PATH} (docs/protocol.md section 10)\n")
            origin = request.headers.get("Origin")
            if not self._origin_ok(origin, host_header):
                self.runtime.throttled.warning("ws-origin", "refused a WebSocket from the browser origin %s",
                                               shown(origin))
                return _text(http.HTTPStatus.FORBIDDEN, f"the browser origin {shown(origin)} may not use this "
                             f"runtime: open the viewer from the runtime itself (http://{host_header}/), or start "
                             f"streamdit serve with --web-origin {shown(origin, quote=False)}\n")
            return None  # the library completes the WebSocket handshake
        if path in (SESSION_PATH, TOOLS_PATH):
            return _text(http.HTTPStatus.UPGRADE_REQUIRED, f"{path} speaks WebSocket only: connect a WebSocket "
                         f"client to ws://{host_header}{path} (docs/protocol.md section 10); the viewer page is "
                         f"http://{host_header}/\n")
        found = static_file(path)
        if found is None:
            return _text(http.HTTPStatus.NOT_FOUND, f"nothing at {shown(path)}: the viewer is at "
                         f"http://{host_header}/ and the protocol at ws://{host_header}{SESSION_PATH}\n")
        body, content_type = found
        headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")])
        return Response(200, "OK", headers, body)

    # ------------------------------------------------------------------------------ WebSocket side
    async def _handler(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path).path if ws.request is not None else ""
        if path == TOOLS_PATH:
            await self.tools.serve(ws)
        else:
            await self._session(ws)

    async def _session(self, ws: ServerConnection) -> None:
        addr = ws.remote_address or ("", 0)
        peer, link = str(addr[0]), f"ws:{addr[0]}:{addr[1]}"
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        conn: Connection = self.runtime.connect("ws", peer=peer, link=link)
        conn.outbox.set_notify(lambda: loop.call_soon_threadsafe(wake.set))
        reader = asyncio.ensure_future(self._read(ws, conn, wake))
        try:
            await self._write(ws, conn, reader, wake)
        except ConnectionClosed:
            return
        finally:
            reader.cancel()
            conn.outbox.set_notify(None)
            conn.disconnected()
        code, reason = (CLOSE_POLICY, "auth_failed") if conn.refused else (CLOSE_NORMAL, "session closed")
        try:
            await ws.close(code, reason)
        except ConnectionClosed:  # pragma: no cover - the peer went first
            pass

    async def _write(self, ws: ServerConnection, conn: Connection, reader: asyncio.Future, wake: asyncio.Event) -> None:
        ob = conn.outbox
        while True:
            for msg in ob.take():
                for part in msgpack_codec.encode(msg):
                    await ws.send(part)  # waits while the client's TCP window is full; the Outbox drops meanwhile
            if ob.drained() or (reader.done() and not ob.has_sendable()):
                return
            if ob.has_sendable():
                continue
            wake.clear()
            if not ob.has_sendable() and not reader.done():
                await wake.wait()

    async def _read(self, ws: ServerConnection, conn: Connection, wake: asyncio.Event) -> None:
        parts: list[bytes] = []
        want = 1
        try:
            async for data in ws:
                if isinstance(data, str):
                    conn.reject(ProtocolError(f"a {len(data)}-character text message: this binding carries "
                                              f"msgpack maps as binary WebSocket messages (docs/protocol.md "
                                              f"section 10); it was ignored"))
                    continue
                if not parts:  # the first part of a message: admitted (rate) before it is decoded
                    if not conn.admit():
                        pause = conn.flood_pause()
                        if pause > 0:  # a flood: not read at all for a while, TCP holds it back in the client
                            await asyncio.sleep(pause)
                        continue
                    try:
                        want = msgpack_codec.parts_of(data, "client")
                    except ProtocolError as e:
                        conn.reject(e)
                        continue
                parts.append(data)
                if len(parts) < want:
                    continue
                msg_parts, parts = parts, []
                if not conn.size_ok(sum(len(p) for p in msg_parts)):
                    continue
                msg = conn.decode_msgpack(msg_parts)
                if msg is None:
                    continue
                if await dispatch(conn, msg, self.runtime.guard):
                    break  # closed, or auth failed: read nothing more from this WebSocket
        except (asyncio.CancelledError, ConnectionClosed):
            pass
        finally:
            wake.set()

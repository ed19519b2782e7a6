"""The gRPC transport (grpc.aio): `streamdit.v1.Runtime` with health checking and reflection.

The server runs its own asyncio loop on a thread, so a ServingRuntime can be driven from synchronous code.
Each `Session` call is one Connection: a reader task decodes client messages and hands them to the
Connection (prompt encoding runs in a worker thread, never on the loop), and the call's own coroutine
sends what the Connection's Outbox releases, woken by the engine and decode threads through
`call_soon_threadsafe`. A stream that ends on a fatal Error ends with the matching gRPC status
(STATUS_OF_CODE). Keepalive pings find frozen and vanished clients within about 4 s (KEEPALIVE).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from google.protobuf.message import DecodeError

from runtime.serving.connection import Connection
from runtime.serving.dispatch import dispatch
from runtime.serving.loop_thread import LoopThreadServer
from runtime.serving.guard import peer_host
from sdk.errors import ConfigError, ProtocolError, StreamDiTError
from sdk.protocol import messages as m
from sdk.protocol import proto_codec
from sdk.protocol.limits import shown
from sdk.protocol.pb import runtime_pb2 as pb

log = logging.getLogger("streamdit.serving")
SERVICE = pb.DESCRIPTOR.services_by_name["Runtime"].full_name  # "streamdit.v1.Runtime"


# The gRPC status that ends a Session stream after a fatal Error of each code (docs/protocol.md section 7).
STATUS_OF_CODE = {
    m.BAD_MESSAGE: grpc.StatusCode.INVALID_ARGUMENT, m.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    m.PROMPT_TOO_LONG: grpc.StatusCode.INVALID_ARGUMENT, m.UNKNOWN_EVENT: grpc.StatusCode.INVALID_ARGUMENT,
    m.VERSION_MISMATCH: grpc.StatusCode.FAILED_PRECONDITION, m.NO_SESSION: grpc.StatusCode.FAILED_PRECONDITION,
    m.AUTH_FAILED: grpc.StatusCode.UNAUTHENTICATED, m.TOO_MANY_SESSIONS: grpc.StatusCode.RESOURCE_EXHAUSTED,
    m.MESSAGE_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED, m.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    m.UNSUPPORTED: grpc.StatusCode.UNIMPLEMENTED, m.RESUME_FAILED: grpc.StatusCode.NOT_FOUND,
    m.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE, m.INTERNAL: grpc.StatusCode.INTERNAL,
}
# Keepalive: the server pings every second and drops a connection whose pings go unanswered for 3 s (a frozen
# or vanished client holds no session), like ZeroMQ's heartbeats. Pings go on while no data moves (a frozen
# client's flow-control window is full, so no data moves).
KEEPALIVE = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 3000),
             ("grpc.http2.ping_timeout_ms", 3000),  # grpc 1.85 times pings out by this one (default 60 s)
             ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]


class _Servicer:
    """The Runtime service. Requests arrive as raw bytes (no deserializer is registered), so that a flood is
    dropped before it is parsed and undecodable bytes are answered with an Error and INVALID_ARGUMENT instead
    of grpc's own deserialization failure (a traceback in the log and an OK status)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def handler(self) -> grpc.GenericRpcHandler:
        out = lambda msg: msg.SerializeToString()  # noqa: E731
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Session": grpc.stream_stream_rpc_method_handler(self.Session, response_serializer=out),
            "GetInfo": grpc.unary_unary_rpc_method_handler(self.GetInfo, response_serializer=out),
            "ListModels": grpc.unary_unary_rpc_method_handler(self.ListModels, response_serializer=out),
        })

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        peer = context.peer()  # "ipv4:HOST:PORT": one HTTP/2 connection, which may carry many Session streams
        conn: Connection = self.runtime.connect("grpc", fatal_handshake_ends=True, peer=peer_host(peer),
                                                link="grpc:" + peer)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        conn.outbox.set_notify(lambda: loop.call_soon_threadsafe(wake.set))
        reader = asyncio.ensure_future(self._read(request_iterator, conn, wake))
        fatal: m.Error | None = None
        try:
            while True:
                for msg in conn.outbox.take():
                    if isinstance(msg, m.Error) and msg.fatal:
                        fatal = msg
                    await context.write(proto_codec.to_proto(msg))
                if conn.outbox.drained():
                    break
                if reader.done() and not conn.outbox.has_sendable():
                    break  # the client ended its half of the stream without close: treat as a disconnect
                if conn.outbox.has_sendable():
                    continue
                wake.clear()
                if not conn.outbox.has_sendable() and not reader.done():
                    await wake.wait()
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            reader.cancel()
            conn.outbox.set_notify(None)
            conn.disconnected()
        if fatal is not None:  # the stream ends with the status of its fatal error, not OK
            context.set_code(STATUS_OF_CODE.get(fatal.code, grpc.StatusCode.UNKNOWN))
            context.set_details(f"{fatal.code}: {fatal.message}"[:1000])

    async def _read(self, request_iterator: Any, conn: Connection, wake: asyncio.Event) -> None:
        try:
            async for raw in request_iterator:
                if not conn.admit():  # a flood: dropped unread, before any parsing
                    pause = conn.flood_pause()
                    if pause > 0:  # then not read at all for a while: flow control holds it in the client
                        await asyncio.sleep(pause)
                    continue
                if not conn.size_ok(len(raw)):
                    continue
                try:
                    msg = proto_codec.client_from_proto(pb.ClientMessage.FromString(raw))
                except DecodeError:
                    conn.reject(ProtocolError(f"{len(raw)} bytes on the Session stream are not a "
                                              f"streamdit.v1.ClientMessage; the stream ends (is the client built "
                                              f"from proto/streamdit/v1/runtime.proto?)"), fatal=True)
                    break
                except ProtocolError as e:
                    conn.reject(e)
                    continue
                if await dispatch(conn, msg, self.runtime.guard):
                    break  # e.g. a refused handshake: read nothing more from this stream
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            wake.set()

    async def GetInfo(self, request: bytes, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        await self._auth(pb.GetInfoRequest, request, context)
        return proto_codec.to_proto(self.runtime.info())

    async def ListModels(self, request: bytes, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        await self._auth(pb.ListModelsRequest, request, context)
        return proto_codec.to_proto(self.runtime.list_models())

    async def _auth(self, cls: Any, raw: bytes, context: grpc.aio.ServicerContext) -> None:
        """Parse a unary request and check its auth token, pacing a peer with repeated failures; aborts the
        call with INVALID_ARGUMENT (undecodable), RESOURCE_EXHAUSTED or UNAUTHENTICATED."""
        try:
            request = cls.FromString(raw)
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad_message: {len(raw)} bytes are not a "
                                f"streamdit.v1.{cls.DESCRIPTOR.name}")
        if not self.runtime.config.auth_token:
            return
        peer = peer_host(context.peer())
        try:
            delay = self.runtime.guard.reserve(peer)
        except StreamDiTError as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        if delay > 0:
            await asyncio.sleep(delay)
            self.runtime.guard.done(peer)
        try:
            self.runtime.manager.check_auth(request.auth_token)
        except StreamDiTError as e:
            self.runtime.guard.failed(peer)
            self.runtime.throttled.warning("auth", "refused a grpc client at %s: %s", shown(peer), e)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))


class GrpcServer(LoopThreadServer):
    """A grpc.aio server on its own thread and event loop. start() returns the bound port."""

    what = "the gRPC server"

    def __init__(self, runtime: Any, host: str, port: int) -> None:
        super().__init__(runtime, host, port, "streamdit-grpc")
        self._server: grpc.aio.Server | None = None
        self._health: Any = None

    async def _serve(self) -> None:
        hard_cap = 16 * self.runtime.config.max_message_bytes  # above this gRPC itself fails the call
        opts = [("grpc.max_receive_message_length", hard_cap), ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0), *KEEPALIVE]
        try:
            server = grpc.aio.server(options=opts)
            server.add_generic_rpc_handlers((_Servicer(self.runtime).handler(),))
            self._health = health.aio.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            reflection.enable_server_reflection([SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
            bound = server.add_insecure_port(f"{self.host}:{self.port}")
            if not bound:
                raise ConfigError(f"cannot bind the gRPC server to {self.host}:{self.port}: the port is taken or the "
                                  f"address is not local; pick another --grpc-port")
            await server.start()
        except BaseException as e:
            self._error = e if isinstance(e, StreamDiTError) else ConfigError(
                f"cannot start the gRPC server on {self.host}:{self.port}: {e}")
            self._ready.set()
            return
        for name in ("", SERVICE):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.port, self._server = bound, server
        self._stopped = asyncio.Event()
        self._ready.set()
        await self._stopped.wait()
        await self._health.enter_graceful_shutdown()
        await server.stop(grace=0.5)


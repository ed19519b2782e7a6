"""The gRPC transport (grpc.aio): `streamdit.v1.Runtime` with health checking and reflection.

The server runs its own asyncio loop on a thread, so a ServingRuntime can be driven from synchronous code.
Each `Session` call is one Connection: a reader task decodes client messages and hands them to the
Connection (prompt encoding runs in a worker thread, never on the loop), and the call's own coroutine
sends what the Connection's Outbox releases, woken by the engine and decode threads through
`call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from runtime.serving.connection import Connection
from sdk.errors import ConfigError, MessageTooLargeError, ProtocolError, StreamDiTError
from sdk.protocol import messages as m
from sdk.protocol import proto_codec
from sdk.protocol.pb import runtime_pb2 as pb
from sdk.protocol.pb import runtime_pb2_grpc as pb_grpc

log = logging.getLogger("streamdit.serving")
SERVICE = pb.DESCRIPTOR.services_by_name["Runtime"].full_name  # "streamdit.v1.Runtime"
SLOW_TYPES = (m.Handshake, m.Event, m.SetPrompt)  # may encode a prompt: run off the event loop


class _Servicer(pb_grpc.RuntimeServicer):
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def Session(self, request_iterator: Any, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        conn: Connection = self.runtime.connect("grpc", fatal_handshake_ends=True)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        conn.outbox.set_notify(lambda: loop.call_soon_threadsafe(wake.set))
        reader = asyncio.ensure_future(self._read(request_iterator, conn, wake))
        try:
            while True:
                for msg in conn.outbox.take():
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

    async def _read(self, request_iterator: Any, conn: Connection, wake: asyncio.Event) -> None:
        limit = self.runtime.config.max_message_bytes
        loop = asyncio.get_running_loop()
        try:
            async for req in request_iterator:
                size = req.ByteSize()
                if size > limit:
                    conn.reject(MessageTooLargeError(f"a {size}-byte message exceeds the runtime's limit of {limit} "
                                                     f"bytes (limits.max_message_bytes); it was ignored"))
                    continue
                try:
                    msg = proto_codec.client_from_proto(req)
                except ProtocolError as e:
                    conn.reject(e)
                    continue
                if isinstance(msg, SLOW_TYPES):
                    await loop.run_in_executor(None, conn.handle, msg)
                else:
                    conn.handle(msg)
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            wake.set()

    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        await self._auth(request, context)
        return proto_codec.to_proto(self.runtime.info())

    async def ListModels(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        await self._auth(request, context)
        return proto_codec.to_proto(m.ModelList(models=[self.runtime.model_info]))

    async def _auth(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        try:
            self.runtime.manager.check_auth(request.auth_token)
        except StreamDiTError as e:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))


class GrpcServer:
    """A grpc.aio server on its own thread and event loop. start() returns the bound port."""

    def __init__(self, runtime: Any, host: str, port: int) -> None:
        self.runtime, self.host, self.port = runtime, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: grpc.aio.Server | None = None
        self._health: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="streamdit-grpc", daemon=True)

    def start(self, timeout: float = 10.0) -> int:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ConfigError(f"the gRPC server on {self.host}:{self.port} did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self.port

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        hard_cap = 16 * self.runtime.config.max_message_bytes  # above this gRPC itself fails the call
        opts = [("grpc.max_receive_message_length", hard_cap), ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0)]
        try:
            server = grpc.aio.server(options=opts)
            pb_grpc.add_RuntimeServicer_to_server(_Servicer(self.runtime), server)
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

    def stop(self, timeout: float = 5.0) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        self._thread.join(timeout)

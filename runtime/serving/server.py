"""The serving runtime: one engine and one session manager, served over gRPC, ZeroMQ, WebSocket and in process.

    rt = ServingRuntime(pipeline, ServeConfig()).start()
    rt.serve_grpc("127.0.0.1", 50051)
    rt.serve_zmq("127.0.0.1", 5557)
    rt.serve_ws("127.0.0.1", 8765)     # ws://127.0.0.1:8765/v1/session and the viewer page
    ...
    rt.shutdown("maintenance")        # every session gets Closed{code: "shutdown", reason}

Every server and `connect()` (the `local://` transport) share the same sessions and the same batched engine.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from runtime.serving.config import ServeConfig
from runtime.serving.connection import Budget, Connection
from runtime.serving.engine import Engine
from runtime.serving.guard import AuthGuard, Throttled, is_loopback
from runtime.serving.prompt_map import PromptMap
from runtime.serving.prompt_maps import prompt_map_sha256
from runtime.serving.session import SessionManager
from runtime.serving.stream_pipeline import StreamPipeline
from sdk._version import __version__
from sdk.errors import CheckpointError, ConfigError, ServerError
from sdk.protocol import messages as m

log = logging.getLogger("streamdit.serving")
SERVER_VERSION = __version__


class ServingRuntime:
    """A StreamDiT pipeline served to many clients at once.

    Args:
        pipeline: what it serves (runtime.serving.stream_pipeline.StreamPipeline: a StreamDiTPipeline).
        config: limits, credits, pacing and auth (ServeConfig defaults are the safe ones).
    """

    def __init__(self, pipeline: StreamPipeline, config: ServeConfig | None = None) -> None:
        self.pipeline = pipeline
        self.config = config or ServeConfig()
        self.engine = Engine(pipeline, self.config)
        self.engine.on_failure = self._engine_failed
        C, h, w = pipeline.latent_shape
        f = int(getattr(pipeline.autoencoder, "spatial_factor", getattr(pipeline.autoencoder, "factor", 1)))
        sch = self.engine.scheme
        self.model_info = m.ModelInfo(
            name=self.config.model_name, fps=self.engine.fps, frames_per_chunk=self.engine.frames_per_chunk,
            width=w * f, height=h * f, pixel_format=m.PIXEL_FORMAT, buffer_frames=sch.B, chunk_size=sch.c,
            temporal_factor=pipeline.temporal_factor, text_encoder=str(pipeline.text_encoder.kind),
            prompt_map=(self.config.prompt_map_source or "runtime") if self.config.prompt_map.strip() else "",
            prompt_map_sha256=prompt_map_sha256(self.config.prompt_map))
        self._describe_backend()
        self._check_default_prompt_map()
        self.manager = SessionManager(self.config, self.engine, self.model_info)
        self.v2v = self.engine.v2v  # video-to-video is served (handshake_reply.v2v)
        self.urls: list[str] = []
        self._servers: list[Any] = []
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}  # input allowance per transport link (connect's link)
        self.guard = AuthGuard()  # paces credential checks of peers with repeated auth failures
        self.throttled = Throttled(log)  # repeated warnings (floods, auth refusals) are counted, not all written
        self._started = False
        self._closed = False

    def _describe_backend(self) -> None:
        """ModelInfo.backend and .provider (runtime.backends.select.describe), logged with the reason; called
        again after the warm-up, when a compile that failed has fallen back to eager."""
        from runtime.backends.select import describe

        backend, provider = describe(self.pipeline, self.engine.sampler)
        if (backend, provider) != (self.model_info.backend, self.model_info.provider):
            self.model_info.backend, self.model_info.provider = backend, provider
            log.info("backend %s on %s: %s", backend, provider,
                     getattr(getattr(self.pipeline, "backend", None), "reason", "requested"))

    def _check_default_prompt_map(self) -> None:
        """A bad default prompt map is refused before any port opens, naming the file."""
        try:
            PromptMap.parse(self.config.prompt_map, fps=self.model_info.fps,
                            frames_per_chunk=self.model_info.frames_per_chunk)
        except ServerError as e:
            where = self.config.prompt_map_source or "the default prompt map"
            raise ConfigError(f"{where}: {e} (fix the file, or pass streamdit serve --prompt-map FILE)") from None

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> "ServingRuntime":
        if not self._started:
            self._started = True
            self.engine.start()
        return self

    def wait_warm(self, stop: threading.Event | None = None, note_every_s: float = 15.0) -> bool:
        """Block until the engine's warm-up (and any compile: about a minute on a fresh machine) is done, so
        that clients' timeouts (handshake, first frame, acks) start after it; logs every note_every_s
        seconds while it waits. Returns True once warm, False as soon as `stop` is set first.

        Raises CheckpointError when the warm-up failed: the model cannot run, so nothing may be served."""
        t0 = next_note = time.monotonic()
        while not self.engine.warmed_up.wait(0.5):
            if stop is not None and stop.is_set():
                return False
            if time.monotonic() - next_note >= note_every_s:
                next_note = time.monotonic()
                log.info("still warming up (%.0f s; compiling the model for this machine)", next_note - t0)
        err = self.engine.warm_up_error
        if err is not None:
            raise CheckpointError(f"the model failed its warm-up, so it cannot be served ({type(err).__name__}: "
                                  f"{err}); check the checkpoint's config.json and weights, or the log above") from err
        self._describe_backend()
        return True

    def __enter__(self) -> "ServingRuntime":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def _check_bind(self, host: str) -> None:
        if not is_loopback(host) and not self.config.auth_token:
            raise ConfigError(f"binding to {host} exposes the runtime beyond this machine: pass an auth token "
                              f"(streamdit serve --auth-token T; clients send it in the handshake) or bind to 127.0.0.1")

    def serve_grpc(self, host: str = "127.0.0.1", port: int = 50051) -> int:
        """Start the gRPC server (with health checking and reflection); returns the bound port (0 = any)."""
        from runtime.serving.grpc_server import GrpcServer

        self._check_bind(host)
        srv = GrpcServer(self, host, port)
        bound = srv.start()
        self._servers.append(srv)
        self.urls.append(f"grpc://{host}:{bound}")
        return bound

    def serve_zmq(self, host: str = "127.0.0.1", port: int = 5557) -> int:
        """Start the ZeroMQ ROUTER server; returns the bound port (0 = any)."""
        from runtime.serving.zmq_server import ZmqServer

        self._check_bind(host)
        srv = ZmqServer(self, host, port)
        bound = srv.start()
        self._servers.append(srv)
        self.urls.append(f"zmq://{host}:{bound}")
        return bound

    def serve_ws(self, host: str = "127.0.0.1", port: int = 8765, origins: tuple[str, ...] = ()) -> int:
        """Start the WebSocket transport (ws://host:port/v1/session) and the viewer page (http://host:port/) on
        one port; returns the bound port (0 = any). origins: browser origins allowed besides the page's own."""
        from runtime.serving.ws_server import SESSION_PATH, WsServer

        self._check_bind(host)
        srv = WsServer(self, host, port, origins)
        bound = srv.start()
        self._servers.append(srv)
        self.urls.append(f"ws://{host}:{bound}{SESSION_PATH}")
        return bound

    def shutdown(self, reason: str = "the runtime is shutting down", grace_s: float = 1.0) -> None:
        """Close every session with Closed{code: "shutdown", reason}, let the servers send it, then stop."""
        if self._closed:
            return
        self._closed = True
        self.manager.accepting = False
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            conn.end("shutdown", reason)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and not all(c.outbox.drained() and not c.outbox.has_sendable()
                                                      for c in conns):
            time.sleep(0.02)
        for srv in self._servers:
            srv.stop()
        self.engine.stop()
        log.info("runtime stopped: %s", reason)

    # ------------------------------------------------------------------------------ connections
    def connect(self, transport: str = "local", *, fatal_handshake_ends: bool = False, peer: str = "",
                link: str = "") -> Connection:
        """A new client connection (servers call this; `local://` uses it directly). link: names the transport
        link (a ZeroMQ routing id, a gRPC peer with port) whose input Budget successive connections share."""
        with self._lock:
            budget = self._budgets.pop(link, None) if link else None
            if link:
                budget = budget or Budget(self.config.max_messages_per_second, self.config.max_handshakes_per_second)
                self._budgets[link] = budget  # most recent last; the oldest links are forgotten first
                while len(self._budgets) > 4096:
                    self._budgets.pop(next(iter(self._budgets)))
        conn = Connection(self, transport, fatal_handshake_ends=fatal_handshake_ends, peer=peer, budget=budget)
        with self._lock:
            self._connections.add(conn)
        return conn

    def forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def warm_prompt(self, text: str) -> None:
        """Encode a prompt now (cached), so the engine thread finds it ready at the chunk boundary."""
        self.pipeline.text_encoder.encode_one(text)

    def info(self) -> m.RuntimeInfo:
        return m.RuntimeInfo(protocol_version=m.PROTOCOL_VERSION, server_version=SERVER_VERSION,
                             models=[self.model_info], sessions_active=self.manager.active_count,
                             auth_required=bool(self.config.auth_token), limits=self.config.limits(),
                             transports=list(self.urls))

    def _engine_failed(self, exc: BaseException) -> None:
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            if conn.session is not None:
                conn.outbox.put(m.Error(code=m.INTERNAL, message=f"the engine failed: {type(exc).__name__}: {exc}",
                                        fatal=True))
                conn.end("error", "the engine failed; see the runtime's log")

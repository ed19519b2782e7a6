"""The serving runtime: one engine per model and one session manager, served over gRPC, ZeroMQ, WebSocket and
in process.

    rt = ServingRuntime(pipeline, ServeConfig()).start()   # or ServingRuntime({"default": p, "fast": q}, cfg)
    rt.serve_grpc("127.0.0.1", 50051)
    rt.serve_zmq("127.0.0.1", 5557)
    rt.serve_ws("127.0.0.1", 8765)     # ws://127.0.0.1:8765/v1/session and the viewer page
    ...
    rt.shutdown("maintenance")        # every session gets Closed{code: "shutdown", reason}

Every server and `connect()` (the `local://` transport) share the same sessions and the same batched engines;
a session streams from the engine of the model its handshake names (settings.model; "" = the first, default one).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Mapping, Sequence, Union

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
from sdk.protocol.limits import MAX_NAME_CHARS, shown

log = logging.getLogger("streamdit.serving")
SERVER_VERSION = __version__


Pipelines = Union[StreamPipeline, Mapping[str, StreamPipeline], Sequence[tuple[str, StreamPipeline]]]


def named_pipelines(pipeline: Pipelines, default_name: str) -> dict[str, StreamPipeline]:
    """What ServingRuntime serves, by model name, in order (the first is the default model).

    pipeline: one pipeline (named `default_name`), a mapping {name: pipeline}, or a sequence of (name, pipeline)
    pairs. Raises ConfigError for no model, a name that is empty, not a str, has surrounding whitespace or is
    longer than a client may send (128 characters, settings.model), or a name given twice."""
    if isinstance(pipeline, Mapping):
        pairs = list(pipeline.items())
    elif isinstance(pipeline, (list, tuple)):
        pairs = list(pipeline)
    else:
        pairs = [(default_name, pipeline)]
    if not pairs:
        raise ConfigError("ServingRuntime got no model to serve: pass a pipeline, or a mapping {name: pipeline} "
                          "with at least one entry")
    out: dict[str, StreamPipeline] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ConfigError(f"ServingRuntime takes several models as (name, pipeline) pairs, got "
                              f"{type(pair).__name__} {shown(repr(pair))}")
        name, pipe = pair
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a served model needs a non-empty name (clients pick it with settings.model), got "
                              f"{name!r}: name every model, e.g. {{'default': pipe, 'fast': student}}")
        if name != name.strip() or len(name) > MAX_NAME_CHARS:
            raise ConfigError(f"model name {shown(name)} must have no surrounding whitespace and at most "
                              f"{MAX_NAME_CHARS} characters (a client sends it as settings.model): rename it")
        if name in out:
            raise ConfigError(f"model name {name!r} is given twice; every served model needs its own name")
        out[name] = pipe
    return out


class ServingRuntime:
    """StreamDiT pipelines served to many clients at once: one model, or several picked per session by name.

    Args:
        pipeline: what it serves (runtime.serving.stream_pipeline.StreamPipeline: a StreamDiTPipeline), named
            `config.model_name`; or a mapping {name: pipeline} (or a sequence of (name, pipeline) pairs) to
            serve several models. In that order, the first is the default model: a session whose
            settings.model is empty streams from it. Each model gets its own Engine (its DiT and decode
            threads, batch, and pacing at its own frame rate); one session limit (config.max_sessions) and one
            default prompt map (config.prompt_map, checked against every model) cover them all.
        config: limits, credits, pacing and auth (ServeConfig defaults are the safe ones); its compile, chunk_size
            and micro_steps apply to every model.

    Attributes:
        models: ModelInfo by name, in order (ListModels and GetInfo list them); engines: Engine by name;
        pipelines: the pipelines by name. pipeline, engine, model_info and v2v are the default model's.

    Raises ConfigError for a bad model name (named_pipelines), a scheme a model's buffer cannot hold, or a
    default prompt map that does not parse for a model.
    """

    def __init__(self, pipeline: Pipelines, config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig()
        self.pipelines = named_pipelines(pipeline, self.config.model_name)
        self.engines: dict[str, Engine] = {}
        self.models: dict[str, m.ModelInfo] = {}
        for name, pipe in self.pipelines.items():
            engine = Engine(pipe, self.config, name=name)
            engine.on_failure = functools.partial(self._engine_failed, model=name)
            engine.sessions_total = self._live_streams
            self.engines[name] = engine
            self.models[name] = self._model_info(name, pipe, engine)
        self.default_model = next(iter(self.models))
        self.pipeline = self.pipelines[self.default_model]  # the default model's (a single pipeline: that one)
        self.engine = self.engines[self.default_model]
        self.model_info = self.models[self.default_model]
        for name in self.models:
            self._describe_backend(name)
        self._check_default_prompt_map()
        self.manager = SessionManager(self.config, self.engines, self.models)
        self.v2v = self.engine.v2v  # the default model serves video-to-video (handshake_reply.v2v)
        self.urls: list[str] = []
        self._servers: list[Any] = []
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}  # input allowance per transport link (connect's link)
        self.guard = AuthGuard()  # paces credential checks of peers with repeated auth failures
        self.throttled = Throttled(log)  # repeated warnings (floods, auth refusals) are counted, not all written
        self._started = False
        self._closed = False

    def _model_info(self, name: str, pipeline: StreamPipeline, engine: Engine) -> m.ModelInfo:
        """The ModelInfo of one served model (its backend and provider are filled in by _describe_backend)."""
        C, h, w = pipeline.latent_shape
        f = int(getattr(pipeline.autoencoder, "spatial_factor", getattr(pipeline.autoencoder, "factor", 1)))
        sch = engine.scheme
        return m.ModelInfo(
            name=name, fps=engine.fps, frames_per_chunk=engine.frames_per_chunk,
            width=w * f, height=h * f, pixel_format=m.PIXEL_FORMAT, buffer_frames=sch.B, chunk_size=sch.c,
            temporal_factor=pipeline.temporal_factor, text_encoder=str(pipeline.text_encoder.kind),
            prompt_map=(self.config.prompt_map_source or "runtime") if self.config.prompt_map.strip() else "",
            prompt_map_sha256=prompt_map_sha256(self.config.prompt_map))

    def _live_streams(self) -> int:
        """Streams in every engine now (Stats.sessions: the sessions the runtime streams, all models)."""
        return sum(e.live_streams for e in self.engines.values())

    def _describe_backend(self, name: str | None = None) -> None:
        """ModelInfo.backend and .provider of model `name` (None = every model; runtime.backends.select.describe),
        logged with the reason; called again after the warm-up, when a compile that failed has fallen back to
        eager."""
        from runtime.backends.select import describe

        for model in [name] if name is not None else list(self.models):
            pipe, info = self.pipelines[model], self.models[model]
            backend, provider = describe(pipe, self.engines[model].sampler)
            if (backend, provider) != (info.backend, info.provider):
                info.backend, info.provider = backend, provider
                log.info("%sbackend %s on %s: %s", f"model {model}: " if len(self.models) > 1 else "", backend,
                         provider, getattr(getattr(pipe, "backend", None), "reason", "requested"))

    def _check_default_prompt_map(self) -> None:
        """A bad default prompt map is refused before any port opens, naming the file (and the model it does not
        fit, when several are served: durations in seconds are rounded to each model's chunks)."""
        for name, info in self.models.items():
            try:
                PromptMap.parse(self.config.prompt_map, fps=info.fps, frames_per_chunk=info.frames_per_chunk)
            except ServerError as e:
                where = self.config.prompt_map_source or "the default prompt map"
                if len(self.models) > 1:
                    where += f" (for model {name!r}: {info.fps:g} FPS, {info.frames_per_chunk} frames per chunk)"
                raise ConfigError(f"{where}: {e} (fix the file, or pass streamdit serve --prompt-map FILE)") from None

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> "ServingRuntime":
        """Start every model's engine (each warms up on its own thread); returns self."""
        if not self._started:
            self._started = True
            for engine in self.engines.values():
                engine.start()
        return self

    @property
    def warmed_up(self) -> bool:
        """True once every model's engine has finished its warm-up (whether or not it failed)."""
        return all(e.warmed_up.is_set() for e in self.engines.values())

    def wait_warm(self, stop: threading.Event | None = None, note_every_s: float = 15.0) -> bool:
        """Block until every model's warm-up (and any compile: about a minute on a fresh machine) is done, so
        that clients' timeouts (handshake, first frame, acks) start after it; logs every note_every_s
        seconds while it waits. Returns True once all are warm, False as soon as `stop` is set first.

        Raises CheckpointError, naming the model, when a model's warm-up failed: it cannot run, so nothing may
        be served."""
        t0 = next_note = time.monotonic()
        for name, engine in self.engines.items():
            while not engine.warmed_up.wait(0.5):
                if stop is not None and stop.is_set():
                    return False
                if time.monotonic() - next_note >= note_every_s:
                    next_note = time.monotonic()
                    log.info("still warming up%s (%.0f s; compiling the model for this machine)",
                             f" model {name}" if len(self.engines) > 1 else "", next_note - t0)
        for name, engine in self.engines.items():
            err = engine.warm_up_error
            if err is not None:
                which = f"model {name!r}" if len(self.engines) > 1 else "the model"
                raise CheckpointError(f"{which} failed its warm-up, so it cannot be served ({type(err).__name__}: "
                                      f"{err}); check the checkpoint's config.json and weights, or the log above"
                                      ) from err
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
        for engine in self.engines.values():
            engine.stop()
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

    def warm_prompt(self, text: str, model: str = "") -> None:
        """Encode a prompt now with model `model`'s text encoder ("" = the default model's; cached), so that
        model's engine thread finds it ready at the chunk boundary. Raises KeyError for a model not served."""
        self.pipelines[model or self.default_model].text_encoder.encode_one(text)

    def list_models(self) -> m.ModelList:
        """The ListModels reply: every served model, the default first."""
        return m.ModelList(models=list(self.models.values()))

    def info(self) -> m.RuntimeInfo:
        """The GetInfo reply: versions, every served model (the default first), sessions, limits, transports."""
        return m.RuntimeInfo(protocol_version=m.PROTOCOL_VERSION, server_version=SERVER_VERSION,
                             models=list(self.models.values()), sessions_active=self.manager.active_count,
                             auth_required=bool(self.config.auth_token), limits=self.config.limits(),
                             transports=list(self.urls))

    def _engine_failed(self, exc: BaseException, model: str | None = None) -> None:
        """The engine of `model` (None = any) failed a step: its sessions end with a fatal internal Error; the
        other models' sessions go on."""
        with self._lock:
            conns = list(self._connections)
        several = len(self.engines) > 1 and model is not None
        which = f"the engine of model {model!r}" if several else "the engine"
        for conn in conns:
            sess = conn.session
            if sess is not None and (model is None or (sess.model_name or self.default_model) == model):
                conn.outbox.put(m.Error(code=m.INTERNAL, message=f"{which} failed: {type(exc).__name__}: {exc}",
                                        fatal=True))
                conn.end("error", f"{which} failed; see the runtime's log")

"""Sessions: creation from a handshake (auth, version, limits, settings), resume by token, detach, close.

A `Session` is the per-client state that outlives a connection: its prompt map and prompt schedule, the
changes waiting for the next chunk boundary, its frame numbering. `SessionManager` owns every
session (a lock guards its tables); the engine only ever sees sessions the manager handed it.
"""

from __future__ import annotations

import collections
import hmac
import secrets
import threading
import time
from typing import Mapping, Protocol

from runtime.serving.config import ServeConfig
from runtime.serving.flow import Outbox
from runtime.serving.prompt_map import Change, PromptMap, check_prompt
from runtime.serving.prompt_maps import prompt_map_sha256
from runtime.serving.source import SourceInbox
from sdk.errors import (AuthError, ConfigError, InvalidArgumentError, RateLimitError, ResumeError, ServerError,
                        SessionLimitError, ShuttingDownError, UnsupportedError, VersionMismatchError)
from sdk.protocol import messages as m
from sdk.protocol.limits import shown



class SessionOwner(Protocol):
    """The connection a session streams to (runtime.serving.connection.Connection)."""

    outbox: Outbox

    def detach_session(self, closed: m.Closed) -> None:
        """The session moved to another connection (resume) or is being closed by the runtime."""


class EngineSlots(Protocol):
    """The engine as the session manager sees it (runtime.serving.engine.Engine): a slot per active session.
    One engine serves one model; a runtime that serves several models has one engine for each."""

    v2v: bool  # the engine's model serves video-to-video (source_frame; handshake_reply.v2v)

    def add(self, sess: "Session") -> None:
        """Start streaming `sess` (it takes a slot)."""

    def remove(self, sess: "Session") -> None:
        """Stop streaming `sess` (its slot is free)."""


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; take() is False when empty. Thread-safe."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False

    def give(self, n: float) -> None:
        """Add n tokens (at most up to burst)."""
        with self._lock:
            self.tokens = min(self.burst, self.tokens + n)


class Session:
    """One client session. Fields marked (engine) are touched only by the engine thread.

    model: the ModelInfo of the model the session streams (the handshake's settings.model, or the runtime's
    default model); it stays on that model for its whole life, resumes included. v2v: that model serves
    video-to-video. frames_per_chunk: video frames per chunk of that model.
    """

    def __init__(self, sid: str, token: str, hs: m.Handshake, pmap: PromptMap, base: str, config: ServeConfig,
                 frames_per_chunk: int = 1, *, model: m.ModelInfo | None = None, v2v: bool = False) -> None:
        self.id, self.resume_token, self.handshake = sid, token, hs
        self.model = model  # what the handshake reply describes (None only in tests that build a bare Session)
        self.model_name = model.name if model is not None else ""  # the key of its engine in the runtime
        self.v2v = bool(v2v)  # its model serves video-to-video (source_frame)
        self.prompt_map = pmap
        self.prompt_map_source = ""  # "session", or the runtime's default's source; "" = none
        self.prompt_map_sha256 = ""
        self.state = "active"  # active | detached | closed
        self.owner: SessionOwner | None = None
        self.detached_at = 0.0
        self.last_event_id = 0  # input side: ids must increase
        self.rate = TokenBucket(config.max_events_per_second, config.max_events_per_second)
        self._changes: collections.deque[Change] = collections.deque()
        self._lock = threading.Lock()
        self.max_pending = config.max_pending_changes
        self.schedule = pmap.schedule(base)  # (engine)
        self.next_chunk = 0  # (engine) index of the next chunk this session will emit
        self.generation = 0  # bumped at each attach; the engine drops work of older generations
        self.source = SourceInbox(frames_per_chunk, hs.settings.strength)  # video-to-video input (any thread)

    @property
    def outbox(self) -> Outbox | None:
        """The owning connection's outbox; None while the session is detached or closed."""
        owner = self.owner
        return owner.outbox if owner is not None else None

    def push_change(self, change: Change) -> None:
        """Queue a change for the next chunk boundary (input thread). Raises RateLimitError when full."""
        with self._lock:
            if len(self._changes) >= self.max_pending:
                raise RateLimitError(f"{len(self._changes)} prompt changes already wait for the next chunk "
                                     f"boundary; send fewer events", event_id=change.event_id)
            self._changes.append(change)

    @property
    def has_changes(self) -> bool:
        return bool(self._changes)

    def pop_changes(self) -> list[Change]:
        """Every queued change, oldest first (engine thread, at a chunk boundary)."""
        with self._lock:
            out = list(self._changes)
            self._changes.clear()
        return out


class SessionManager:
    """Creates, resumes, detaches and closes sessions; enforces auth, version and session limits.

    Args:
        config: the runtime's ServeConfig (limits, auth, the default prompt map).
        engines: one engine per served model, by model name; the first is the default model's (a session whose
            settings.model is empty streams from it).
        models: the ModelInfo of each model, by the same names in the same order.

    Raises ConfigError when `engines` is empty or its names are not those of `models`.
    """

    def __init__(self, config: ServeConfig, engines: Mapping[str, EngineSlots],
                 models: Mapping[str, m.ModelInfo]) -> None:
        if not engines or list(engines) != list(models):
            raise ConfigError(f"SessionManager needs one engine per model, by the same names in the same order; "
                              f"got engines {list(engines)} and models {list(models)}")
        self.config = config
        self.engines, self.models = dict(engines), dict(models)
        self.default_model = next(iter(self.models))  # the model of sessions whose settings.model is empty
        self._lock = threading.RLock()
        self._sessions: dict[str, Session] = {}  # by id
        self._by_token: dict[str, Session] = {}
        self.accepting = True

    # ------------------------------------------------------------------------------ queries
    @property
    def active_count(self) -> int:
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.state == "active")

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def check_auth(self, token: str) -> None:
        want = self.config.auth_token
        if want and not hmac.compare_digest(token.encode(), want.encode()):
            raise AuthError("auth token missing or wrong: pass the token the runtime was started with "
                            "(streamdit serve --auth-token) in the handshake's auth_token", fatal=True)

    # ------------------------------------------------------------------------------ handshake
    def open(self, hs: m.Handshake, owner: SessionOwner) -> tuple[Session, bool]:
        """A handshake -> (session, resumed). Raises a fatal ServerError subclass that names the problem."""
        if not self.accepting:
            raise ShuttingDownError("the runtime is shutting down and takes no new sessions", fatal=True)
        self._check_version(hs.protocol_version)
        self.check_auth(hs.auth_token)
        # An empty list means the documented default ["rgb8"]: proto3 cannot tell an empty list from an absent one,
        # so gRPC and ZeroMQ read it the same way.
        formats = hs.capabilities.pixel_formats or [m.PIXEL_FORMAT]
        if m.PIXEL_FORMAT not in formats:
            raise UnsupportedError(f"this runtime sends rgb8 pixels only; the client offers {shown(formats, 200)}",
                                   fatal=True)
        if hs.resume_token:
            return self._resume(hs, owner), True
        return self._create(hs, owner), False

    def _check_version(self, version: str) -> None:
        mine = m.parse_version(m.PROTOCOL_VERSION)
        try:
            theirs = m.parse_version(version)
        except ValueError:
            raise VersionMismatchError(f"protocol_version must be 'MAJOR.MINOR' (ASCII digits) like "
                                       f"{m.PROTOCOL_VERSION!r}, got {shown(version)}", fatal=True) from None
        if theirs[0] != mine[0]:
            behind = "the client" if theirs[0] < mine[0] else "the runtime"
            raise VersionMismatchError(f"the client speaks protocol {version}, this runtime speaks "
                                       f"{m.PROTOCOL_VERSION}: major versions must match; update {behind}", fatal=True)

    def model_for(self, name: str) -> tuple[m.ModelInfo, EngineSlots]:
        """A handshake's settings.model -> (its ModelInfo, its engine); "" = the default model.

        Raises InvalidArgumentError (fatal) for a name the runtime does not serve, listing the names it does."""
        name = name or self.default_model
        model = self.models.get(name)
        if model is None:
            raise InvalidArgumentError(f"unknown model {shown(name)}; this runtime serves {list(self.models)}: set "
                                       f"settings.model to one of them (list_models gives them), or leave it empty "
                                       f"for the default model {self.default_model!r}", fatal=True)
        return model, self.engines[name]

    def engine_of(self, sess: Session) -> EngineSlots:
        """The engine that streams `sess` (its model's)."""
        return self.engines[sess.model_name or self.default_model]

    def _create(self, hs: m.Handshake, owner: SessionOwner) -> Session:
        st, cfg = hs.settings, self.config
        model, engine = self.model_for(st.model)
        if (st.width or st.height) and (st.width, st.height) != (model.width, model.height):
            raise InvalidArgumentError(f"model {model.name!r} streams {model.width}x{model.height} frames; request "
                                       f"0x0 or {model.width}x{model.height}, not {st.width}x{st.height}", fatal=True)
        own = bool(st.prompt_map.strip())  # a session that sends no map gets the runtime's default
        map_text = st.prompt_map if own else cfg.prompt_map
        try:
            pmap = PromptMap.parse(map_text, fps=model.fps, frames_per_chunk=model.frames_per_chunk)
            base = check_prompt(st.prompt or pmap.base, cfg.max_prompt_chars, "the base prompt "
                                "(settings.prompt, or the prompt map's base)")
        except ServerError as e:  # the handshake fails as a whole
            e.fatal = True
            raise
        with self._lock:
            self._expire()
            if self.active_count >= cfg.max_sessions:
                raise SessionLimitError(f"the runtime already serves {cfg.max_sessions} sessions (its limit); "
                                        f"close one, or start it with a larger --max-sessions", fatal=True)
            sess = Session(secrets.token_hex(8), secrets.token_urlsafe(24), hs, pmap, base, cfg,
                           frames_per_chunk=model.frames_per_chunk, model=model, v2v=bool(engine.v2v))
            if map_text.strip():
                sess.prompt_map_source = "session" if own else model.prompt_map
                sess.prompt_map_sha256 = prompt_map_sha256(map_text)
            self._sessions[sess.id] = sess
            self._by_token[sess.resume_token] = sess
            sess.owner = owner
        engine.add(sess)
        return sess

    def _resume(self, hs: m.Handshake, owner: SessionOwner) -> Session:
        with self._lock:
            self._expire()
            sess = self._by_token.get(hs.resume_token)
            if sess is None or sess.state == "closed":
                raise ResumeError("the resume token is unknown or expired (sessions stay resumable "
                                  f"{self.config.resume_window_s:g} s after a disconnect): start a new session",
                                  fatal=True)
            old = sess.owner
            if sess.state == "active" and old is not None and old is not owner:
                old.detach_session(m.Closed(code="replaced", reason="the session was resumed on another connection"))
            if sess.state == "detached" and self.active_count >= self.config.max_sessions:
                raise SessionLimitError(f"the runtime already serves {self.config.max_sessions} sessions; "
                                        f"cannot resume now", fatal=True)
            was_detached = sess.state == "detached"
            sess.state, sess.owner = "active", owner
        if was_detached:
            self.engine_of(sess).add(sess)  # a resumed session stays on its model (settings are not read again)
        return sess

    # ------------------------------------------------------------------------------ ends
    def detach(self, sess: Session, owner: SessionOwner) -> None:
        """The owner's connection dropped: release the engine slot now, keep the state for resume_window_s."""
        with self._lock:
            if sess.owner is not owner or sess.state != "active":
                return
            sess.state, sess.owner, sess.detached_at = "detached", None, time.monotonic()
        self.engine_of(sess).remove(sess)

    def close(self, sess: Session) -> None:
        """Forget a session for good (its owner sends the Closed message)."""
        with self._lock:
            if sess.state == "closed":
                return
            was_active = sess.state == "active"
            sess.state, sess.owner = "closed", None
            self._sessions.pop(sess.id, None)
            self._by_token.pop(sess.resume_token, None)
        if was_active:
            self.engine_of(sess).remove(sess)

    def _expire(self) -> None:
        now = time.monotonic()
        for sess in [s for s in self._sessions.values() if s.state == "detached"]:
            if now - sess.detached_at > self.config.resume_window_s:
                self.close(sess)

    def sweep(self) -> None:
        with self._lock:
            self._expire()

"""One client connection, whatever the transport: the protocol's state machine (docs/protocol.md section 2).

A transport decodes each incoming message and calls `handle(msg)` (or `reject(exc)` when it could not decode
it), sends whatever `outbox.take()` gives, and calls `disconnected()` when the connection drops. Every error is
answered with an Error message on this connection only; nothing here touches another session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from runtime.serving.context import ServingContext
from runtime.serving.flow import Outbox
from runtime.serving.prompt_map import Change, check_prompt
from runtime.serving.session import Session, TokenBucket
from sdk.errors import (AuthError, ConfigError, InvalidArgumentError, MessageTooLargeError, NoSessionError,
                        PromptError, ProtocolError, RateLimitError, ServerError, ShapeError, UnsupportedError)
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec
from sdk.protocol.limits import check_client, shown


log = logging.getLogger("streamdit.serving")


class Budget:
    """What one transport link may send (a ZeroMQ peer's routing id, a gRPC HTTP/2 connection): messages per
    second and handshakes per second (DESIGN.md section 6). Shared by the Connections that the link carries one
    after another, so closing and reopening sessions does not refill it. Thread-safe (token buckets)."""

    def __init__(self, max_messages_per_second: float, max_handshakes_per_second: float) -> None:
        self.input = TokenBucket(max_messages_per_second, max_messages_per_second)
        self.handshakes = TokenBucket(max_handshakes_per_second, 2 * max_handshakes_per_second)
        self.dropped = 0  # messages dropped unread
        self.reported = 0  # of those, already told to the client
        self.next_notice = 0.0


class Connection:
    """Protocol state of one connection. `transport` names it ("grpc", "zmq", "local") for logs.

    fatal_handshake_ends: True when a failed handshake ends the connection (gRPC); ZeroMQ and local
    connections stay open for another handshake. A failed auth ends every connection (`refused`).
    peer: the client's address without port ("" in process), for the auth guard and the log.
    budget: the input allowance of the transport link carrying this connection (a fresh one when None).
    """

    def __init__(self, runtime: ServingContext, transport: str, *, fatal_handshake_ends: bool = False,
                 peer: str = "", budget: Budget | None = None) -> None:
        cfg = runtime.config
        self.runtime, self.transport, self.peer = runtime, transport, peer
        self.outbox = Outbox(cfg.default_credits, cfg.max_credits, cfg.max_queued_frames)
        self.session: Session | None = None
        self.fatal_handshake_ends = fatal_handshake_ends
        self.refused = False  # auth failed: the transport ends (gRPC) or ignores (ZeroMQ) this connection
        self.last_read = time.monotonic()  # when the client last showed it reads: handshake or credit (idle)
        self.budget = budget or Budget(cfg.max_messages_per_second, cfg.max_handshakes_per_second)
        self._frames_earned = 0  # frames sent whose answering credit the budget was given

    # ------------------------------------------------------------------------------ transport calls
    def admit(self) -> bool:
        """The transport calls this for every message it receives, before decoding it. False: drop the message
        unread, this connection sends more than max_messages_per_second plus one message per frame it was sent
        (each frame earns the credit that answers it, whatever the frame rate); the client is told at most once
        a second how many were dropped (Error rate_limited), so the answer to a flood is no flood."""
        now = time.monotonic()
        b = self.budget
        sent = self.outbox.frames_sent
        if sent > self._frames_earned:
            b.input.give(sent - self._frames_earned)
            self._frames_earned = sent
        if b.input.take():
            return True
        b.dropped += 1
        if now >= b.next_notice:
            rate = self.runtime.config.max_messages_per_second
            n, b.reported = b.dropped - b.reported, b.dropped
            b.next_notice = now + 1.0
            self.outbox.put(m.Error(code=m.RATE_LIMITED, message=(
                f"this connection sends more than {rate:g} messages per second (limits: max_messages_per_second); "
                f"{n} messages were dropped unread since the last notice: send fewer")))
            self.runtime.throttled.warning("input-flood", "a %s client at %s sends more than %g messages per "
                                           "second; the excess is dropped unread", self.transport,
                                           shown(self.peer), rate)
        return False

    def flood_pause(self) -> float:
        """Seconds a transport that can stop reading this connection alone (gRPC: HTTP/2 flow control then
        holds the flood back in the client) should wait before it reads again: > 0 once the connection dropped
        more than a second's allowance since the last notice, so a flood costs at most about twice the
        allowance in reads; 0.0 otherwise."""
        b = self.budget
        if b.dropped - b.reported <= self.runtime.config.max_messages_per_second:
            return 0.0
        return max(0.05, b.next_notice - time.monotonic())

    def handle(self, msg: Any) -> None:
        """Act on one decoded client message; any failure becomes an Error message to this client."""
        try:
            check_client(msg)  # the fixed limits of sdk.protocol.limits, the same for every transport
            handler = getattr(self, "_on_" + msg.TYPE)
            handler(msg)
        except Exception as e:  # every failure is answered, none escapes into the transport
            self._fail(e, msg)

    def reject(self, exc: BaseException, msg: Any = None, *, fatal: bool = False) -> None:
        """The transport could not decode a message (ProtocolError) or refused it (size, rate): an Error to this
        client. msg: the decoded message when there is one. fatal: end the connection (and its session) too,
        e.g. when gRPC bytes are not a ClientMessage."""
        self._fail(exc, msg, fatal=fatal)

    def size_ok(self, size: int) -> bool:
        """The servers' one size check: True when a `size`-byte message (all its parts) is within
        limits.max_message_bytes; otherwise it is refused (MessageTooLargeError, not fatal: the message is
        ignored and the session goes on) and False."""
        limit = self.runtime.config.max_message_bytes
        if size <= limit:
            return True
        self.reject(MessageTooLargeError(f"a {size}-byte message exceeds the runtime's limit of {limit} bytes "
                                         f"(limits.max_message_bytes); it was ignored"))
        return False

    def decode_msgpack(self, parts: list[bytes]) -> Any | None:
        """The msgpack servers' (ZeroMQ, WebSocket) one decode: the parts of one message -> a client message,
        or None when they are malformed (refused with the codec's ProtocolError; the session goes on)."""
        try:
            return msgpack_codec.decode_client(parts)
        except ProtocolError as e:
            self.reject(e)
            return None

    def auth_delay(self, msg: Any) -> float:
        """Seconds the transport must wait, without blocking any other connection, before it handles `msg`: a
        credential check (handshake, get_info, list_models) of a peer with repeated auth failures
        (runtime.serving.guard.AuthGuard). When > 0, call `runtime.guard.done(conn.peer)` after handling it.
        Raises RateLimitError (fatal) when too many checks of that peer already wait."""
        if not self.runtime.config.auth_token or not isinstance(msg, (m.Handshake, m.GetInfo, m.ListModels)):
            return 0.0
        return self.runtime.guard.reserve(self.peer)

    def disconnected(self) -> None:
        """The connection dropped (or the transport ended it): release the session, keep it resumable."""
        sess, self.session = self.session, None
        if sess is not None:
            self.runtime.manager.detach(sess, self)
        self.outbox.finish()
        self.runtime.forget(self)

    def detach_session(self, closed: m.Closed) -> None:
        """The session moved to another connection (resume) or is being closed by the runtime."""
        self.session = None
        self.outbox.finish(closed)

    def check_idle(self, now: float) -> bool:
        """Release the session when its client neither reads nor credits: frames wait without credit and the
        client sent no credit for idle_timeout_s seconds (other messages, e.g. a flood of events, do not count). The session stays resumable (resume_window_s); the
        connection gets Closed{code: "idle"} and ends. Returns True when it released it (any thread)."""
        sess, ob = self.session, self.outbox
        timeout = self.runtime.config.idle_timeout_s
        if sess is None or ob.credits > 0 or ob.queue_depth == 0 or now - self.last_read < timeout:
            return False
        self.session = None
        self.runtime.manager.detach(sess, self)
        ob.finish(m.Closed(code="idle", reason=f"the client neither read frames nor sent credit for {timeout:g} s; "
                           f"the session stays resumable for {self.runtime.config.resume_window_s:g} s"))
        log.info("session %s released: its %s client was idle for %.0f s", sess.id, self.transport,
                 now - self.last_read)
        return True

    def end(self, code: str, reason: str) -> None:
        """The runtime ends this connection's session (e.g. shutdown): Closed{code, reason}, then nothing."""
        sess, self.session = self.session, None
        if sess is not None:
            self.runtime.manager.close(sess)
        self.outbox.finish(m.Closed(code=code, reason=reason))

    # ------------------------------------------------------------------------------ messages
    def _on_handshake(self, hs: m.Handshake) -> None:
        if self.session is not None:
            raise InvalidArgumentError(f"this connection already has session {self.session.id}; send close "
                                       f"before another handshake")
        cfg = self.runtime.config
        if not self.budget.handshakes.take():
            raise RateLimitError(f"more than {cfg.max_handshakes_per_second:g} handshakes per second on this "
                                 f"connection (limits: max_handshakes_per_second); wait before the next one",
                                 fatal=True)
        try:
            sess, resumed = self.runtime.manager.open(hs, self)
        except ServerError as e:
            e.fatal = True
            raise
        self.session = sess
        self.last_read = time.monotonic()
        credits = hs.capabilities.credits if hs.capabilities.credits > 0 else cfg.default_credits
        self.outbox.set_credits(credits)  # clamped to max_credits
        info = self._model_of(sess)  # the session's model: settings.model, or the default one
        self.outbox.put(m.HandshakeReply(
            session_id=sess.id, resume_token=sess.resume_token, protocol_version=m.PROTOCOL_VERSION, model=info.name,
            fps=info.fps, frames_per_chunk=info.frames_per_chunk, width=info.width, height=info.height,
            pixel_format=m.PIXEL_FORMAT, credits=self.outbox.credits, resumed=resumed,
            next_frame_index=sess.next_chunk * info.frames_per_chunk, limits=cfg.limits(),
            prompt_map=sess.prompt_map_source, prompt_map_sha256=sess.prompt_map_sha256, v2v=self._v2v_of(sess)))
        log.info("session %s %s over %s (client %s %s, model %s)", sess.id, "resumed" if resumed else "opened",
                 self.transport, shown(hs.client_name), shown(hs.client_version),  # escaped: no forged log lines
                 shown(info.name))

    def _on_event(self, ev: m.Event) -> None:
        sess = self._check_change(ev.event_id)
        change = sess.prompt_map.change_for_event(ev.event_id, ev.event_type, ev.payload,
                                                  max_chars=self.runtime.config.max_prompt_chars,
                                                  client_time_us=ev.client_time_us)
        self._queue(sess, change)

    def _on_set_prompt(self, sp: m.SetPrompt) -> None:
        sess = self._check_change(sp.event_id)
        weight = 1.0 if sp.weight is None else sp.weight  # weight and transition_steps: checked by check_client
        check_prompt(sp.text, self.runtime.config.max_prompt_chars, "the set_prompt text")
        self._queue(sess, Change("prompt", sp.event_id, sp.text, weight=weight,
                                 transition_steps=sp.transition_steps))

    def _on_source_frame(self, sf: m.SourceFrame) -> None:
        sess = self._need_session()
        info = self._model_of(sess)
        if not self._v2v_of(sess):
            raise UnsupportedError(f"model {info.name!r} of this session does not serve video-to-video "
                                   f"(handshake_reply.v2v is false: its backend cannot encode frames); the source "
                                   f"frame was ignored")
        if sf.pixel_format != m.PIXEL_FORMAT:
            raise InvalidArgumentError(f"source_frame {sf.frame_index}: pixel_format {shown(sf.pixel_format)} is not "
                                       f"served; send \"rgb8\" ({info.width}x{info.height}x3 bytes, rows top to "
                                       f"bottom, R G B); the frame was ignored")
        if (sf.width, sf.height) != (info.width, info.height):
            raise InvalidArgumentError(f"source_frame {sf.frame_index} is {sf.width}x{sf.height}; this session takes "
                                       f"{info.width}x{info.height} frames (handshake_reply.width/height): scale the "
                                       f"render to that size before sending; the frame was ignored")
        pixels = np.frombuffer(sf.pixels, np.uint8).reshape(sf.height, sf.width, 3)  # the codec checked the size
        sess.source.push(sf.frame_index, pixels, sf.strength, sf.anchor)

    def _on_credit(self, c: m.Credit) -> None:
        self._need_session()  # n: checked by check_client
        self.last_read = time.monotonic()
        self.outbox.add_credits(c.n)

    def _on_close(self, c: m.Close) -> None:
        self.end("client_close", c.reason or "closed by the client")

    def _on_get_info(self, g: m.GetInfo) -> None:
        self.runtime.manager.check_auth(g.auth_token)
        self.outbox.put(self.runtime.info())

    def _on_list_models(self, g: m.ListModels) -> None:
        self.runtime.manager.check_auth(g.auth_token)
        self.outbox.put(m.ModelList(models=list(self.runtime.models.values())))

    # ------------------------------------------------------------------------------ helpers
    def _model_of(self, sess: Session) -> m.ModelInfo:
        """The ModelInfo of the model `sess` streams (the runtime's default for a Session built without one)."""
        return sess.model if sess.model is not None else self.runtime.model_info

    def _v2v_of(self, sess: Session) -> bool:
        """Whether the model `sess` streams serves video-to-video."""
        return sess.v2v if sess.model is not None else self.runtime.v2v

    def _need_session(self) -> Session:
        if self.session is None:
            raise NoSessionError("no session on this connection: send a handshake first (docs/protocol.md "
                                 "section 2); after a reconnect, resume with the resume_token")
        return self.session

    def _check_change(self, event_id: int) -> Session:
        sess = self._need_session()
        if event_id <= sess.last_event_id:
            raise InvalidArgumentError(f"event_id must be > 0 and larger than the session's last ({sess.last_event_id}), "
                                       f"got {event_id}; events and set_prompt share one counter", event_id=event_id)
        sess.last_event_id = event_id
        if not sess.rate.take():
            raise RateLimitError(f"more than {self.runtime.config.max_events_per_second:g} events and prompt "
                                 f"changes per second; this one was dropped", event_id=event_id)
        return sess

    def _queue(self, sess: Session, change: Change) -> None:
        # encode now (input thread) with the session's model's text encoder, so its engine hits the cache; the
        # default model's in warm_prompt's one-argument form, the form every ServingContext (and test spy) takes
        if sess.model_name and sess.model_name != self.runtime.model_info.name:
            self.runtime.warm_prompt(change.text, sess.model_name)
        else:
            self.runtime.warm_prompt(change.text)
        sess.push_change(change)

    def _fail(self, exc: BaseException, msg: Any, *, fatal: bool = False) -> None:
        event_id = getattr(msg, "event_id", 0) or 0
        if isinstance(exc, ServerError):
            err = m.Error(code=exc.code, message=str(exc), event_id=exc.event_id or event_id, fatal=exc.fatal)
        elif isinstance(exc, ProtocolError):
            err = m.Error(code=exc.code, message=str(exc), event_id=event_id, fatal=isinstance(msg, m.Handshake))
        elif isinstance(exc, (PromptError, ConfigError, ShapeError)):
            err = m.Error(code=m.INVALID_ARGUMENT, message=str(exc), event_id=event_id,
                          fatal=isinstance(msg, m.Handshake))
        else:
            log.exception("internal error on a %s connection while handling %s", self.transport,
                          getattr(msg, "TYPE", None))
            err = m.Error(code=m.INTERNAL, message=f"internal error: {type(exc).__name__}: {exc}",
                          event_id=event_id, fatal=True)
        err.fatal = err.fatal or fatal
        if not err.fatal:
            self.outbox.put(err)
        elif self.session is not None and not isinstance(msg, m.Handshake):
            sess, self.session = self.session, None
            self.runtime.manager.close(sess)
            self.outbox.finish(err, m.Closed(code="error", reason=err.message))
        elif self.fatal_handshake_ends or isinstance(exc, AuthError):
            self.refused = self.refused or isinstance(exc, AuthError)  # a failed guess costs a connection
            self.outbox.finish(err)
        else:
            self.outbox.put(err)
        if isinstance(exc, AuthError):
            self.runtime.guard.failed(self.peer)
            self.runtime.throttled.warning("auth", "refused a %s client at %s: %s", self.transport, shown(self.peer),
                                           exc)

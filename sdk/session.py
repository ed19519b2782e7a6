"""`sdk.Session`: one stream from a StreamDiT runtime, steered by events.

    with sdk.Session("zmq://127.0.0.1:5557", prompt="a grassy meadow", prompt_map=MAP) as s:
        ack = s.push_event("boss_appears", {"zone": "lava"})   # blocks until the next chunk boundary
        for frame in s.frames():                                # Frame: pixels (H, W, 3) uint8, index, ...
            show(frame.pixels)
            if frame.event_id == ack.event_id: ...              # the first frame that reflects the event

Video-to-video: `sdk.Session(url, v2v=True, strength=0.5)`, then `s.send_frame(render)` at the model's rate
(render: uint8 (H, W, 3)); each output frame's `source_index` names the source frame it restyles.

A receive thread reads the transport: frames go to a local queue (a credit goes back when you take one, so a
client that stops reading only loses its own frames), acks resolve push_event, errors become typed
exceptions. When the connection drops, the session reconnects and resumes with its resume token.
"""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sdk._version import __version__
from sdk.errors import (ConfigError, MessageTooLargeError, ResumeError, RuntimeTimeoutError, ServerError,
                        SessionClosedError, ShuttingDownError, StreamDiTError, TransportError, UnsupportedError,
                        server_error)
from sdk.frames import Frame, Recording
from sdk.inputs import check_strength, read_prompt_map, source_frame
from sdk.protocol import messages as m
from sdk.transports import open_transport
from sdk.transports.base import Transport

EventAck = m.EventAck
_END = object()


class Session:
    """A session with a runtime at `url` (grpc://HOST:PORT, zmq://HOST:PORT or local://).

    Args:
        prompt: the base prompt (or give a prompt map with a `base`).
        prompt_map: prompt map TOML text, or a .toml file to read: a pathlib.Path (any os.PathLike), or a str of one
            line ending in ".toml" (docs/protocol.md section 6). ConfigError when that file cannot be read.
        seed: noise seed of the stream (None = random).
        credits: frames in flight (default 4); more smooths jitter, fewer lowers latency.
        auth_token: the runtime's --auth-token, when it has one.
        timeout: seconds to wait for the handshake and for each acknowledgement.
        reconnect: resume the session after a dropped connection (for up to `reconnect_timeout` seconds).
        v2v: ask for video-to-video, so that send_frame() may restyle the game's own frames (the runtime says
            whether it serves it in `info.v2v`).
        strength: the initial video-to-video strength in [0, 1]: 0 gives the source back through the
            autoencoder, 1 is text-only generation (default 0.5). ConfigError outside [0, 1].
        model: the name of the model to stream from, when the runtime serves several (settings.model); "" = the
            runtime's default model. The names are those that `ListModels` (`runtime_info().models`) gives, the
            NAMEs of `streamdit serve --model NAME=DIR` and the --checkpoint directory's name. The session stays
            on that model (a resume too); `info.model`, `info.fps` and `info.frames_per_chunk` are that model's.
            An unknown name raises InvalidArgumentError listing the names served.
        client_name, client_version: sent in the handshake, for the runtime's log.

    Raises ServerError subclasses (VersionMismatchError, AuthError, SessionLimitError, InvalidArgumentError, ...)
    when the runtime refuses the handshake, and TransportError / RuntimeTimeoutError when it cannot be reached;
    ConfigError for a model that is not a str.
    """

    def __init__(self, url: str, *, prompt: str | None = None, prompt_map: str | os.PathLike | None = None,
                 seed: int | None = None, credits: int = m.DEFAULT_CREDITS, auth_token: str = "",
                 timeout: float = 10.0, reconnect: bool = True, reconnect_timeout: float = 10.0,
                 v2v: bool = False, strength: float = 0.5, model: str = "",
                 client_name: str = "streamdit-python", client_version: str = __version__) -> None:
        prompt_map = read_prompt_map(prompt_map)
        model = "" if model is None else model
        if not isinstance(model, str):
            raise ConfigError(f"model must be a model name (str; \"\" = the runtime's default), got "
                              f"{type(model).__name__}")
        if credits < 1:
            raise ConfigError(f"credits must be >= 1, got {credits}")
        strength = check_strength(strength)
        self.url, self.timeout = url, float(timeout)
        self.reconnect, self.reconnect_timeout = reconnect, float(reconnect_timeout)
        self._hello = m.Handshake(
            protocol_version=m.PROTOCOL_VERSION, client_name=client_name, client_version=client_version,
            capabilities=m.Capabilities(pixel_formats=[m.PIXEL_FORMAT], v2v=bool(v2v), credits=credits),
            auth_token=auth_token,
            settings=m.SessionSettings(model=model, seed=seed, prompt=prompt or "", prompt_map=prompt_map or "",
                                       strength=strength))
        self.stats: m.Stats | None = None  # the latest Stats from the runtime
        self.errors: collections.deque[ServerError] = collections.deque(maxlen=100)  # every error received
        self.reconnects = 0
        self._lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._unraised: collections.deque[StreamDiTError] = collections.deque()
        self._frames: queue.Queue[Any] = queue.Queue()
        self._recordings: list[Recording] = []
        self._next_id = 0
        self._next_source = 0  # the frame_index send_frame gives next
        self._gen = 0  # connection generation: credits go back only for frames of the live connection
        self._closing = False
        self._released = False  # the runtime sent Closed{idle}: resume
        self._closed_evt = threading.Event()
        self._fatal: StreamDiTError | None = None
        self._transport: Transport = open_transport(url)
        self._transport.open(self.timeout)
        try:
            self.info: m.HandshakeReply = self._handshake(self._transport)
        except BaseException:
            self._transport.abort()
            raise
        self._thread = threading.Thread(target=self._receive, name="streamdit-session", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------ properties
    @property
    def session_id(self) -> str:
        return self.info.session_id

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def frames_per_chunk(self) -> int:
        return self.info.frames_per_chunk

    @property
    def closed(self) -> bool:
        return self._closing or self._closed_evt.is_set()

    # ------------------------------------------------------------------------------ public API
    def push_event(self, type: str, payload: dict | None = None, *, timeout: float | None = None) -> EventAck:
        """Send a game event; returns its EventAck once the runtime applied it at a chunk boundary.

        Latency to the first frame that reflects it: `frame.received_us - ack.client_time_us` for the first
        frame whose `event_id == ack.event_id` (both on this process's monotonic clock, microseconds).

        payload values are str, int, float or bool. Raises UnknownEventError (no prompt map rule),
        InvalidArgumentError, PromptTooLongError, RateLimitError, RuntimeTimeoutError.
        """
        def make(eid: int) -> m.Event:
            return m.Event(event_id=eid, event_type=type, payload=dict(payload or {}),
                           client_time_us=time.monotonic_ns() // 1000)  # Frame.received_us's clock
        return self._change(make, timeout)

    def set_prompt(self, text: str, *, transition_steps: int = 0, weight: float = 1.0,
                   timeout: float | None = None) -> EventAck:
        """Replace the base prompt, blending over `transition_steps` chunks (0 = at the next chunk).

        weight in (0, 1] mixes the new text into the current prompt. Returns the EventAck.
        """
        return self._change(lambda eid: m.SetPrompt(event_id=eid, text=text, weight=weight,
                                                    transition_steps=transition_steps), timeout)

    def send_frame(self, pixels: np.ndarray, *, strength: float | None = None, anchor: bool = False) -> int:
        """Send one frame of the game's own render to restyle (video-to-video); returns the frame_index it was
        given (0, 1, ...), which the output frames that restyle it carry as `Frame.source_index`.

        pixels: numpy uint8 (H, W, 3) RGB, rows top to bottom, at the session's size (`info.width` x
        `info.height`); copied, so the array may be reused at once. strength: None keeps the session's; else in
        [0, 1] (0 = the source back, 1 = text-only), from the next chunk boundary on. anchor: restart the stream
        from this frame (a session's first source frame always anchors). It only queues the frame: send at the
        model's `fps`; the runtime keeps the newest frames and counts the drops (`stats.source_frames_dropped`).
        While the session reconnects, a frame is lost.

        Raises ConfigError without v2v=True or for a strength outside [0, 1], UnsupportedError when the runtime
        does not serve video-to-video, ShapeError for pixels of another type, dtype or size, SessionClosedError
        after close(); a source frame the runtime refused raises its InvalidArgumentError here or in frames().
        """
        if self.closed:
            raise SessionClosedError(f"the session {self.info.session_id} is closed; open a new Session")
        self._raise_unraised()
        if not self._hello.capabilities.v2v:
            raise ConfigError("send_frame needs a video-to-video session: open it with sdk.Session(url, ..., "
                              "v2v=True)")
        if not self.info.v2v:
            raise UnsupportedError(f"the runtime at {self.url} does not serve video-to-video (its handshake reply "
                                   f"has v2v false): serve a model whose backend can encode frames")
        with self._lock:
            index = self._next_source
            self._next_source += 1
        msg = source_frame(pixels, self.info.width, self.info.height, frame_index=index, strength=strength,
                           anchor=anchor)
        if 0 < (limit := self.info.limits.max_message_bytes) < len(msg.pixels) + 256:  # 256 > the msgpack head
            raise MessageTooLargeError(f"a {msg.width}x{msg.height} source frame is {len(msg.pixels)} bytes; the "
                                       f"runtime accepts {limit} (its ServeConfig.max_message_bytes)")
        try:
            self._transport.send(msg)
        except TransportError:
            pass  # reconnecting: this frame is lost, the next one goes on the resumed connection
        return index

    def frames(self, *, timeout: float | None = None) -> Iterator[Frame]:
        """Frames as they arrive, forever (until the session closes). Taking a frame gives a credit back.

        timeout: seconds to wait for each frame (None = no limit); raises RuntimeTimeoutError when exceeded.
        """
        while True:
            self._raise_unraised()
            try:
                item = self._frames.get(timeout=timeout)
            except queue.Empty:
                raise RuntimeTimeoutError(f"no frame from {self.url} within {timeout:g} s (stats: {self.stats})") from None
            if item is _END:
                self._frames.put(_END)
                if self._fatal is not None:
                    raise self._fatal
                return
            gen, msg, received_us = item
            if gen == self._gen and not self._closing:
                try:
                    self._transport.send(m.Credit(n=1))
                except TransportError:
                    pass  # reconnecting: the new connection starts with fresh credits
            frame = Frame.from_message(msg, received_us)
            for rec in list(self._recordings):
                rec.add(frame)
            yield frame

    def record(self, path: str | Path, *, frames: int | None = None, seconds: float | None = None,
               scale: int = 1) -> Path | Recording:
        """Write frames to an MP4.

        With `frames` or `seconds`: take that many frames from the stream, write them, return the path.
        Without: start recording every frame that frames() yields from now on, and return the Recording;
        `recording.stop()` (or close()) finishes the file.
        """
        rec = Recording(path, self.info.fps, scale=scale)
        if frames is None and seconds is None:
            self._recordings.append(rec)
            return rec
        count = frames if frames is not None else max(1, round(float(seconds) * self.info.fps))
        for i, frame in enumerate(self.frames(timeout=self.timeout + 30.0)):
            rec.add(frame)
            if i + 1 >= count:
                break
        return rec.stop()

    def runtime_info(self) -> m.RuntimeInfo:
        """What the runtime serves (a unary call on gRPC; a short-lived socket on ZeroMQ)."""
        return self._transport.request(m.GetInfo(auth_token=self._hello.auth_token), self.timeout)

    def close(self, reason: str = "") -> None:
        """End the session (the runtime forgets it) and finish any recording. Idempotent."""
        if self._closing:
            return
        self._closing = True
        try:
            self._transport.send(m.Close(reason=reason))
            self._closed_evt.wait(min(self.timeout, 2.0))
        except StreamDiTError:
            pass
        finally:
            self._transport.close()
            self._thread.join(2.0)
            self._finish(None)
            for rec in self._recordings:
                rec.stop()
            self._recordings.clear()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def abort_connection(self) -> None:
        """Drop the connection without a word, as a crash would (for tests; the session then resumes)."""
        self._transport.abort()

    # ------------------------------------------------------------------------------ internals
    def _change(self, make: Any, timeout: float | None) -> EventAck:
        if self.closed:
            raise SessionClosedError(f"the session {self.info.session_id} is closed; open a new Session")
        self._raise_unraised()
        with self._lock:
            self._next_id += 1
            eid = self._next_id
            fut: Future = Future()
            self._pending[eid] = fut
        msg = make(eid)
        self._check_size(msg)
        try:
            self._transport.send(msg)
            return fut.result(timeout if timeout is not None else self.timeout)
        except FutureTimeout:
            raise RuntimeTimeoutError(f"the runtime did not acknowledge {msg.TYPE} {eid} within "
                                      f"{timeout or self.timeout:g} s; it may be overloaded (stats: {self.stats})") from None
        finally:
            with self._lock:
                self._pending.pop(eid, None)

    def _check_size(self, msg: Any) -> None:
        from sdk.protocol import msgpack_codec

        limit = self.info.limits.max_message_bytes
        size = sum(len(p) for p in msgpack_codec.encode(msg))
        if limit and size > limit:
            raise MessageTooLargeError(f"this {msg.TYPE} is {size} bytes; the runtime accepts at most {limit} "
                                       f"(shorten the payload)")

    def _raise_unraised(self) -> None:
        if self._unraised:
            raise self._unraised.popleft()

    def _handshake(self, transport: Transport, resume_token: str = "") -> m.HandshakeReply:
        hello = m.Handshake(**{**self._hello.__dict__, "resume_token": resume_token})
        transport.send(hello)
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = transport.recv(left)
            if isinstance(msg, m.HandshakeReply):
                return msg
            if isinstance(msg, m.Error):
                raise server_error(msg.code, msg.message, event_id=msg.event_id, fatal=True)
        raise RuntimeTimeoutError(f"the runtime at {self.url} accepted the connection but sent no handshake reply "
                                  f"within {self.timeout:g} s: is it a StreamDiT runtime of protocol "
                                  f"{m.PROTOCOL_VERSION}, and is the port the right one?")

    def _receive(self) -> None:
        while not self._closed_evt.is_set():
            try:
                msg = self._transport.recv(0.5)
            except TransportError as e:
                if self._closing:
                    break
                if not self._resume(e):
                    break
                continue
            except StreamDiTError as e:  # an undecodable message from the runtime
                self._unraised.append(e)
                continue
            if msg is not None:
                self._dispatch(msg)
            if self._released:  # Closed{idle}: the runtime released the session; it resumes like after a drop
                self._released = False
                if not self._resume(TransportError("the runtime released the session: this client neither read "
                                                   "frames nor sent credit for its idle timeout")):
                    break
        self._finish(self._fatal)

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, m.Frame):
            self._frames.put((self._gen, msg, time.monotonic_ns() // 1000))
        elif isinstance(msg, m.EventAck):
            with self._lock:
                fut = self._pending.get(msg.event_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif isinstance(msg, m.Stats):
            self.stats = msg
        elif isinstance(msg, m.Error):
            err = server_error(msg.code, msg.message, event_id=msg.event_id, fatal=msg.fatal)
            self.errors.append(err)
            with self._lock:
                fut = self._pending.get(msg.event_id) if msg.event_id else None
            if fut is not None and not fut.done():
                fut.set_exception(err)
            elif msg.fatal:
                self._fatal = err
            else:
                self._unraised.append(err)
        elif isinstance(msg, m.Closed):
            if msg.code == "idle" and self.reconnect and not self._closing:
                self._released = True
                return
            if msg.code == "shutdown" and self._fatal is None:
                self._fatal = ShuttingDownError(f"the runtime closed the session: {msg.reason}", fatal=True)
            elif msg.code not in ("client_close",) and self._fatal is None:
                self._fatal = SessionClosedError(f"the runtime closed the session ({msg.code}): {msg.reason}")
            self._closed_evt.set()

    def _resume(self, cause: TransportError) -> bool:
        """The connection dropped: reconnect and resume. False (and the session ends) when that fails."""
        self._fail_pending(TransportError(f"the connection dropped before the runtime acknowledged this change "
                                          f"({cause}); it may or may not have been applied"))
        if not self.reconnect:
            self._fatal = cause
            return False
        self._transport.abort()
        deadline, delay = time.monotonic() + self.reconnect_timeout, 0.05
        last: StreamDiTError = cause
        while time.monotonic() < deadline and not self._closing:
            transport = open_transport(self.url)
            try:
                transport.open(min(2.0, self.timeout))
                reply = self._handshake(transport, self.info.resume_token)
            except ResumeError as e:
                transport.abort()
                self._fatal = e
                return False
            except (TransportError, ServerError) as e:
                transport.abort()
                last = e
                time.sleep(delay)
                delay = min(1.0, delay * 2)
                continue
            self._gen += 1
            self._transport, self.info = transport, reply
            self.reconnects += 1
            return True
        self._fatal = TransportError(f"lost the connection to {self.url} and could not resume within "
                                     f"{self.reconnect_timeout:g} s: {last}")
        return False

    def _fail_pending(self, err: StreamDiTError) -> None:
        with self._lock:
            futs = list(self._pending.values())
        for fut in futs:
            if not fut.done():
                fut.set_exception(err)

    def _finish(self, fatal: StreamDiTError | None) -> None:
        self._closed_evt.set()
        self._fail_pending(fatal or SessionClosedError("the session closed before the runtime acknowledged this"))
        self._frames.put(_END)

"""Flow control (DESIGN.md section 6, docs/protocol.md section 5): credits, latest frames win, drops counted.

One `Outbox` per client connection. Producers (the decode thread puts frames, the engine and input threads
put control messages) never block; the connection's sender takes what may go: every control message, and one
frame per credit. When a new frame finds `max_frames` frames already waiting, the oldest waiting one is dropped
and counted. `notify` (set by the transport) is called, outside the lock, whenever something became sendable.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable

from sdk.protocol import messages as m

MAX_CONTROL = 256  # control messages waiting; beyond, stale Stats go first, then the oldest


class Outbox:
    """Messages waiting for one client. Thread-safe; nothing here blocks.

    Args:
        credits: frames the client may receive before it grants more.
        max_credits: credits are clamped to this.
        max_frames: frames waiting for credit; the oldest is dropped beyond this.
    """

    def __init__(self, credits: int, max_credits: int, max_frames: int) -> None:
        self._lock = threading.Lock()
        self._control: collections.deque[Any] = collections.deque()
        self._frames: collections.deque[m.Frame] = collections.deque()
        self.credits = int(credits)
        self.max_credits = int(max_credits)
        self.max_frames = int(max_frames)
        self.frames_sent = 0
        self.frames_dropped = 0
        self.control_dropped = 0
        self.finished = False  # no more messages after the ones queued (the session or connection ended)
        self._sent_times: collections.deque[float] = collections.deque(maxlen=256)
        self._notify: Callable[[], None] | None = None

    def set_notify(self, fn: Callable[[], None] | None) -> None:
        self._notify = fn

    def _wake(self) -> None:
        fn = self._notify
        if fn is not None:
            fn()

    # ------------------------------------------------------------------------------ producers
    def put_frame(self, frame: m.Frame) -> None:
        """Queue a frame; drops the oldest waiting frame when `max_frames` are waiting."""
        with self._lock:
            if self.finished:
                return
            while len(self._frames) >= self.max_frames:
                self._frames.popleft()
                self.frames_dropped += 1
            self._frames.append(frame)
            ready = self.credits > 0
        if ready:
            self._wake()

    def put(self, msg: Any) -> None:
        """Queue a control message (no credit needed, never dropped unless MAX_CONTROL pile up)."""
        with self._lock:
            if self.finished:
                return
            if len(self._control) >= MAX_CONTROL:
                kept = [x for x in self._control if not isinstance(x, m.Stats)]
                self.control_dropped += len(self._control) - len(kept)
                self._control = collections.deque(kept)
                if len(self._control) >= MAX_CONTROL:
                    self._control.popleft()
                    self.control_dropped += 1
            self._control.append(msg)
        self._wake()

    def finish(self, *last: Any) -> None:
        """Queue the last messages (e.g. Closed) and refuse everything after them; waiting frames are dropped."""
        with self._lock:
            if self.finished:
                return
            self._control.extend(last)
            self._frames.clear()
            self.finished = True
        self._wake()

    def count_dropped(self, n: int) -> None:
        """Count frames dropped before they reached this outbox (e.g. by the decode queue)."""
        with self._lock:
            self.frames_dropped += n

    def add_credits(self, n: int) -> None:
        with self._lock:
            self.credits = min(self.max_credits, self.credits + max(0, int(n)))
            ready = bool(self._frames) and self.credits > 0
        if ready:
            self._wake()

    def set_credits(self, n: int) -> None:
        with self._lock:
            self.credits = max(0, min(self.max_credits, int(n)))

    # ------------------------------------------------------------------------------ the sender
    def take(self, limit: int = 64) -> list[Any]:
        """What may be sent now: control messages first, then frames while credits last (each uses one)."""
        out: list[Any] = []
        with self._lock:
            while self._control and len(out) < limit:
                out.append(self._control.popleft())
            now = time.monotonic()
            while self._frames and self.credits > 0 and len(out) < limit:
                out.append(self._frames.popleft())
                self.credits -= 1
                self.frames_sent += 1
                self._sent_times.append(now)
        return out

    def drained(self) -> bool:
        """True when finished and nothing is left to send: the sender may end the connection."""
        with self._lock:
            return self.finished and not self._control

    def has_sendable(self) -> bool:
        with self._lock:
            return bool(self._control) or (bool(self._frames) and self.credits > 0)

    @property
    def queue_depth(self) -> int:
        return len(self._frames)

    def fps(self, window_s: float = 2.0) -> float:
        """Frames sent per second over the last `window_s` seconds."""
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._sent_times if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        span = max(now - recent[0], 1e-6)
        return len(recent) / max(span, window_s / 4)

"""Defences of the serving runtime against one client's abuse: log throttling and auth brute force.

`Throttled` rate-limits repeated log lines: the first line of a kind is written, the same kind is then
counted, not written, for `interval_s`, and the next line written says how many were left out. A flood of bad
input therefore costs the log a few lines, not thousands.

`AuthGuard` slows repeated auth failures from one peer address (DESIGN.md section 6, safe defaults): the first
FREE_FAILURES failures within WINDOW_S are answered at once; after that every credential check from that peer
(handshake, get_info, list_models) waits its turn, spaced by a delay that doubles with each further failure up
to MAX_DELAY_S. The transports wait without blocking anyone else (an asyncio sleep on gRPC, a timer queue on
ZeroMQ), and a connection that failed auth is closed (gRPC) or ignored until it disconnects (ZeroMQ), so a
guess costs a new connection. Peers share an address behind NAT and on loopback: a legitimate client at the
same address as a guesser is slowed too (never refused), which is why the delay is bounded.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import threading
import time

from sdk.errors import RateLimitError

FREE_FAILURES = 3  # failures per peer within WINDOW_S answered without delay
WINDOW_S = 60.0  # a peer's failures older than this are forgotten
BASE_DELAY_S = 0.1  # spacing of checks after the free failures; doubles per further failure
MAX_DELAY_S = 2.0  # at most this between two credential checks of one peer: a guesser gets <= 0.5 guesses/s
MAX_WAITING = 16  # credential checks of one peer waiting their turn; more are refused unchecked (rate_limited)
MAX_PEERS = 4096  # peers remembered (the oldest is forgotten first)


class Throttled:
    """Log lines of one `key` at most once per `interval_s` seconds; the next one written counts the others.

    Args:
        logger: where lines go.
        interval_s: seconds during which further lines of a key are counted instead of written.
    Thread-safe.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger, self.interval_s = logger, float(interval_s)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._skipped: collections.Counter[str] = collections.Counter()

    def log(self, level: int, key: str, fmt: str, *args: object) -> bool:
        """Write `fmt % args` at `level` unless a line of `key` was written less than interval_s ago (then it is
        counted). Returns True when the line was written."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self._skipped[key] += 1
                return False
            skipped = self._skipped.pop(key, 0)
            self._last[key] = now
            if len(self._last) > 1024:  # keys are a fixed set in practice; never grow without end
                self._last.pop(next(iter(self._last)))
        if skipped:
            fmt += f" (and {skipped} more like it in the last %.0f s, not logged)"
            args = (*args, now - last if last is not None else 0.0)
        self.logger.log(level, fmt, *args)
        return True

    def warning(self, key: str, fmt: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, fmt, *args)


class AuthGuard:
    """Per-peer auth failure memory and the pacing of credential checks (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._next: dict[str, float] = {}
        self._waiting: collections.Counter[str] = collections.Counter()

    def _recent(self, peer: str, now: float) -> collections.deque[float]:
        q = self._failures.get(peer)
        if q is None:
            return collections.deque()
        while q and now - q[0] > WINDOW_S:
            q.popleft()
        return q

    def failed(self, peer: str) -> None:
        """Record one auth failure of `peer` (an address without port)."""
        now = time.monotonic()
        with self._lock:
            q = self._failures.pop(peer, None) or collections.deque(maxlen=64)
            q.append(now)
            self._failures[peer] = q
            while len(self._failures) > MAX_PEERS:
                old, _ = self._failures.popitem(last=False)
                self._next.pop(old, None)

    def reserve(self, peer: str) -> float:
        """Seconds to wait before checking a credential of `peer` (0.0 for a peer with few recent failures).

        Each call reserves a turn; when it returned a delay > 0, call `done(peer)` once the check ran. Raises RateLimitError (fatal) when
        MAX_WAITING checks of that peer already wait.
        """
        now = time.monotonic()
        with self._lock:
            excess = len(self._recent(peer, now)) - FREE_FAILURES
            if excess < 0:
                return 0.0
            if self._waiting[peer] >= MAX_WAITING:
                raise RateLimitError(f"too many failed auth attempts from {peer}; {MAX_WAITING} more already "
                                     f"wait their turn: wait, then connect again with the right --auth-token",
                                     fatal=True)
            spacing = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** excess)
            at = max(now, self._next.get(peer, now))
            self._next[peer] = at + spacing
            if at > now:
                self._waiting[peer] += 1
            return at - now

    def done(self, peer: str) -> None:
        """A check reserved with a delay has run (or its connection is gone)."""
        with self._lock:
            if self._waiting[peer] > 1:
                self._waiting[peer] -= 1
            else:
                self._waiting.pop(peer, None)


def peer_host(peer: str) -> str:
    """The address part of a transport's peer name: "ipv4:127.0.0.1:5555" (gRPC) -> "127.0.0.1",
    "ipv6:[::1]:5555" -> "::1"; a bare address (ZeroMQ's Peer-Address) is returned as it is."""
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            rest = peer[len(prefix):]
            if rest.startswith("["):
                return rest[1:rest.find("]")]
            return rest.rsplit(":", 1)[0]
    return peer


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

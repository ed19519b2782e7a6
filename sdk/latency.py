"""Event-to-frame latency and dropped frames, measured on the client (what a game sees).

    tracker = sdk.LatencyTracker()
    ack = session.push_event("player_moves_left", {"terrain": "grass"}); tracker.ack(ack)
    for frame in session.frames():
        tracker.frame(frame)
    tracker.percentile_ms(50), tracker.percentile_ms(99), tracker.gaps

The latency of an event is the time from its push (EventAck.client_time_us, stamped when the event was
sent) to the arrival (Frame.received_us) of the first frame whose event_id is at least the event's id, both
on this process's monotonic clock in microseconds. Thread-safe: a frame reader and an event pusher may
share one tracker.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `values`, or None for an empty list."""
    return float(np.percentile(values, q)) if values else None


class LatencyTracker:
    """Frames received, frame-index gaps (dropped frames) and event-to-frame latencies (milliseconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first_at: list[tuple[int, int]] = []  # (event_id, received_us) each time the max event_id rises
        self.acks: list[tuple[int, int]] = []  # (event_id, client_time_us) of acknowledged events
        self.received = 0
        self.gaps = 0  # frames missing between received frame indices
        self.last_index = -1

    def frame(self, frame: Any) -> None:
        """Record a received sdk.Frame (uses index, event_id, received_us)."""
        with self.lock:
            self.received += 1
            if self.last_index >= 0 and frame.index > self.last_index + 1:
                self.gaps += frame.index - self.last_index - 1
            self.last_index = max(self.last_index, frame.index)
            if not self.first_at or frame.event_id > self.first_at[-1][0]:
                self.first_at.append((frame.event_id, frame.received_us))

    def ack(self, ack: Any) -> None:
        """Record the EventAck of a pushed event (uses event_id, client_time_us)."""
        with self.lock:
            self.acks.append((int(ack.event_id), int(ack.client_time_us)))

    def latencies_ms(self) -> list[float]:
        """Milliseconds from each push to the first frame whose event_id >= its id (events whose frame has
        not arrived yet are left out)."""
        with self.lock:
            ids = [e for e, _ in self.first_at]
            out = []
            for eid, t_us in self.acks:
                i = bisect.bisect_left(ids, eid)
                if i < len(ids):
                    out.append((self.first_at[i][1] - t_us) / 1000.0)
            return out

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile (0-100) of latencies_ms(), or None before any event's frame arrived."""
        return percentile(self.latencies_ms(), q)

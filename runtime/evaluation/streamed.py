"""A steered stream as a client receives it: frames, their arrival times, and the events pushed while they came.

`record_stream` opens an `sdk.Session`, pushes events from a schedule while it reads frames, and returns a
`ReceivedStream`; the visible-response latency (runtime/evaluation/response.py), the long-stream measures
(long_stream.py) and the per-event table (per_event.py) read it. Events fire at video time (every
`every_s` seconds of frames, as `streamdit cutscene` fires cues, so the result does not depend on how fast
the machine is) or at wall-clock time (`video_time=False`, as a game pushes them; `jitter_s` spreads
the push times so they fall at every phase of a step).
"""

from __future__ import annotations

import queue
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sdk.errors import ConfigError, StreamDiTError


@dataclass
class ReceivedStream:
    """What a client received.

    frames: uint8 [F, H, W, 3]; received_us: int64 [F], the client's monotonic clock at arrival, us; event_ids:
    int64 [F], the event whose prompt is in effect (Frame.event_id); events: one dict per pushed event, in push
    order: type, payload, event_id, push_us (EventAck.client_time_us), frame (index of the first frame received
    after the push; frames are numbered from 0 as received), ack_frame (EventAck.frame_index: the first frame
    of the chunk the change applied from, the runtime's numbering); fps: the session's frame rate; dropped:
    frame-index gaps; wall_s: seconds from the first frame to the last.
    """

    frames: np.ndarray
    received_us: np.ndarray
    event_ids: np.ndarray
    events: list[dict[str, Any]] = field(default_factory=list)
    fps: float = 16.0
    dropped: int = 0
    wall_s: float = 0.0
    first_index: int = 0  # the runtime's index of frames[0]

    @property
    def received_fps(self) -> float:
        """Frames per second of wall time the client received (the served rate)."""
        return (len(self.frames) - 1) / self.wall_s if self.wall_s > 0 else float("nan")

    def event_id_latency_ms(self) -> list[float | None]:
        """Per event, ms from its push to the first frame whose event_id reaches its id (None if none came)."""
        out: list[float | None] = []
        for e in self.events:
            hit = np.flatnonzero(self.event_ids >= e["event_id"])
            out.append(None if not len(hit) else (int(self.received_us[hit[0]]) - e["push_us"]) / 1000.0)
        return out

    def latency_ms(self, frame: int | None, event: dict[str, Any]) -> float | None:
        """ms from `event`'s push to the arrival of frame `frame` (None stays None)."""
        return None if frame is None else (int(self.received_us[frame]) - int(event["push_us"])) / 1000.0


def record_stream(url: str, schedule: Sequence[tuple[str, dict[str, Any]]], *, frames: int, every_s: float = 2.0,
                  video_time: bool = True, jitter_s: float = 0.0, prompt_map: str | None = None, seed: int = 0,
                  first_at_s: float | None = None, max_seconds: float | None = None,
                  timeout: float = 300.0, model: str = "") -> ReceivedStream:
    """Stream `frames` frames from the runtime at `url`, pushing schedule[i % len(schedule)] every `every_s` s.

    schedule: (event type, payload) pairs, cycled; the first event fires at `first_at_s` (default every_s).
    prompt_map: the session's prompt map TOML (None = the runtime's default). max_seconds: also stop this many
    seconds of wall time after the first frame (a slow machine then gives fewer frames, not a longer run). Frames dropped for lack of credit
    are counted, not filled in. model: the served model to stream from (settings.model, docs/protocol.md
    "Models"; "" = the runtime's default). Returns a ReceivedStream. Raises ConfigError for an empty schedule or
    frames < 2, or when the runtime streams another model than `model`, and the sdk's errors when the runtime
    refuses an event or fails (an unknown model: invalid_argument).
    """
    import sdk
    from runtime.cutscene import event_defaults

    if not schedule or frames < 2 or every_s <= 0:
        raise ConfigError(f"need a non-empty schedule, frames >= 2 and every_s > 0; got {len(schedule)} events, "
                          f"frames={frames}, every_s={every_s}")
    rng = random.Random(seed)
    todo: queue.Queue = queue.Queue()
    events: list[dict[str, Any]] = []
    errors: list[StreamDiTError] = []
    stop = threading.Event()
    session = sdk.Session(url, prompt_map=prompt_map, seed=seed, credits=8, timeout=timeout, model=model)
    if model and session.info.model != model:
        session.close()
        raise ConfigError(f"asked for model {model!r}, the runtime at {url} streams {session.info.model!r}")
    fps = float(session.fps)
    first = every_s if first_at_s is None else first_at_s

    def push_one(i: int) -> None:
        kind, payload = schedule[i % len(schedule)]
        payload = {**event_defaults(kind), **payload}
        ack = session.push_event(kind, payload, timeout=60)
        events.append({"type": kind, "payload": payload, "event_id": int(ack.event_id),
                       "push_us": int(ack.client_time_us), "ack_frame": int(ack.frame_index)})

    def pusher() -> None:
        i = 0
        if video_time:
            while (item := todo.get()) is not None:
                try:
                    push_one(item)
                except StreamDiTError as e:
                    errors.append(e)
                    return
            return
        delay = first
        while not stop.wait(max(0.0, delay)):
            try:
                push_one(i)
            except StreamDiTError as e:
                errors.append(e)
                return
            i += 1
            delay = every_s + rng.uniform(-jitter_s, jitter_s)

    pixels, stamps, ids, indices = [], [], [], []
    thread = threading.Thread(target=pusher, name="stream-events", daemon=True)
    try:
        stream = session.frames(timeout=timeout)
        thread.start()
        cue = 0
        for frame in stream:
            if errors:
                raise errors[0]
            n = len(pixels)
            while video_time and n >= round((first + cue * every_s) * fps):
                todo.put(cue)
                cue += 1
            pixels.append(frame.pixels)
            stamps.append(frame.received_us)
            ids.append(frame.event_id)
            indices.append(frame.index)
            if len(pixels) >= frames or (max_seconds is not None and
                                         (stamps[-1] - stamps[0]) / 1e6 >= max_seconds):
                break
    finally:
        stop.set()
        todo.put(None)
        thread.join(timeout=65)
        session.close("stream recorded")
    if errors:
        raise errors[0]
    received = np.asarray(stamps, np.int64)
    for e in events:
        e["frame"] = int(np.searchsorted(received, e["push_us"], side="right"))
    idx = np.asarray(indices)
    events = [e for e in events if e["frame"] < len(pixels)]  # pushed after the last frame: shows in none
    return ReceivedStream(np.stack(pixels), received, np.asarray(ids, np.int64), events, fps,
                          int(np.clip(np.diff(idx) - 1, 0, None).sum()), (received[-1] - received[0]) / 1e6,
                          int(idx[0]))


def percentiles(values: Sequence[float | None], qs: Sequence[float] = (50, 90)) -> dict[str, float | None]:
    """{"p50": ..., "p90": ...} of the non-None values (None when there are none), rounded to 0.1."""
    v = [x for x in values if x is not None]
    return {f"p{q:g}": (round(float(np.percentile(v, q)), 1) if v else None) for q in qs}


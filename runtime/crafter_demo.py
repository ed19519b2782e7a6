"""Crafter demo: a real Crafter game steers a StreamDiT stream, recorded side by side (`streamdit demo`).

Part of the installed package, so `streamdit demo` runs from an install as well as from a source checkout;
samples/crafter_demo.py is the same demo as a script to read and copy.

A ScriptedAgent plays Crafter; after every step the Captioner turns the game's info into events, and the new
ones (plus held states, re-pushed before their prompt-map duration runs out) are pushed through an
`sdk.Session` with the default Crafter prompt map, no faster than the runtime's `max_events_per_second`.
Generated frames are paired with the game frame shown when they arrived and written to an MP4: the game on
the left, the stream on the right, the prompt in effect written under each.

Live figures, reported about once a second: FPS (generated frames received per second), event-to-frame
latency p50 and p99 (milliseconds from push_event to the first frame whose event_id >= the event's id) and
dropped frames (frame-index gaps, or the runtime's count when larger).

    streamdit demo --seconds 10          # or: python samples/crafter_demo.py --seconds 10
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sdk.errors import ConfigError, RateLimitError, SessionClosedError, StreamDiTError
from sdk.latency import LatencyTracker, percentile

log = logging.getLogger(__name__)

PANEL = 256  # pixels: each panel (game, stream) is PANEL x PANEL
STRIP = 48  # pixels: caption strip under each panel
STATE_REFRESH_S = 1.5  # seconds: re-push a held state this often (the map's states last 2 s)
MAX_BACKLOG = 16  # events waiting to be pushed; older ones are skipped beyond this


@dataclass
class DemoResult:
    """What a demo run produced. Latencies in milliseconds, rates in frames per second."""

    path: Path
    frames: int
    fps: float
    latencies_ms: list[float]
    dropped: int
    events_pushed: int
    events_skipped: int
    width: int  # pixels of the MP4
    height: int
    reports: list[str] = field(default_factory=list)

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def latency_p99_ms(self) -> float | None:
        return percentile(self.latencies_ms, 99)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def _wrap(text: str, width: int, scale: float) -> list[str]:
    import cv2

    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return (lines + [line])[:3]


def _panel(pixels: np.ndarray, label: str, prompt: str) -> np.ndarray:
    """One panel: `pixels` scaled to PANEL x PANEL (nearest), `label` top left, `prompt` in a strip below."""
    import cv2

    img = cv2.resize(pixels, (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((PANEL + STRIP, PANEL, 3), np.uint8)
    out[:PANEL] = img
    cv2.putText(out, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for i, line in enumerate(_wrap(prompt, PANEL - 8, 0.4)):
        cv2.putText(out, line, (4, PANEL + 14 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def compose(game: np.ndarray, game_prompt: str, generated: np.ndarray, generated_prompt: str) -> np.ndarray:
    """The side-by-side frame: (PANEL + STRIP) x (2 * PANEL) pixels, game left, generated stream right."""
    return np.concatenate([_panel(game, "game", game_prompt), _panel(generated, "StreamDiT", generated_prompt)],
                          axis=1)


def run_demo(*, seconds: float = 20.0, out: str | Path = "out/demo.mp4", checkpoint: str | None = None,
             url: str | None = None, seed: int = 0, steps_per_second: float = 8.0,
             report: Callable[[str], None] | None = None, warm_up_timeout: float = 600.0,
             model: str = "") -> DemoResult:
    """Play Crafter for `seconds` (wall clock, from the first generated frame) against the runtime at `url`,
    write the side-by-side MP4 to `out`. Waits up to `warm_up_timeout` seconds for the first frame.

    Args:
        url: runtime URL; None = in-process `local://` (from `checkpoint`, or the shipped default model).
        checkpoint: checkpoint directory or shipped name for the in-process runtime (not with a remote url).
        seed: Crafter world seed and agent seed.
        steps_per_second: game steps per second of wall clock.
        report: called with one line of live figures about once a second (None = logged at INFO).
        model: the served model to stream from (settings.model; "" = the runtime's default).

    Raises ConfigError for bad options, and the sdk's errors when the runtime refuses or fails.
    """
    import crafter

    import sdk
    from runtime.serving.prompt_maps import default_crafter_prompt_map
    from runtime.training.data.captioner import Captioner, new_events
    from runtime.training.data.crafter_agent import ScriptedAgent
    from runtime.data.events import EVENTS, caption_for
    from sdk.video_io import write_mp4

    report = report or log.info

    if seconds <= 0:
        raise ConfigError(f"--seconds must be > 0, got {seconds}")
    if steps_per_second <= 0:
        raise ConfigError(f"steps_per_second must be > 0, got {steps_per_second}")
    url = runtime_url(url, checkpoint)
    prompt_map = default_crafter_prompt_map()
    base = _base_of(prompt_map)
    env = crafter.Env(area=(64, 64), size=(64, 64), seed=seed)
    obs = env.reset()
    agent, captioner = ScriptedAgent(seed), Captioner.for_env(env)

    tracker = LatencyTracker()
    captions: dict[int, str] = {0: base}  # event_id -> prompt text it put in effect
    game_view = [(obs, base)]  # latest game frame and the caption of its strongest event (swapped whole)
    records: list[tuple[np.ndarray, str, np.ndarray, int]] = []  # (game, game caption, generated, event_id)
    pending: queue.Queue = queue.Queue()
    skipped = [0]
    stop = threading.Event()
    streaming = threading.Event()  # set by the first frame: the stream's warm-up (the buffer filling) is over

    session = sdk.Session(url, prompt_map=prompt_map, seed=seed, model=model)
    rate = max(0.5, 0.8 * session.info.limits.max_events_per_second)  # stay under the runtime's limit

    def read_frames() -> None:
        try:
            for frame in session.frames(timeout=warm_up_timeout):
                streaming.set()
                tracker.frame(frame)
                game, game_caption = game_view[0]
                records.append((game, game_caption, frame.pixels, frame.event_id))
                if stop.is_set():
                    return
        except (SessionClosedError, StreamDiTError):
            if not stop.is_set():
                raise

    def push_events() -> None:
        # Events are acknowledged at chunk boundaries, and the first boundary comes only after the warm-up,
        # which takes longer than an ack timeout with a large model on a CPU: push once frames flow.
        while not stop.is_set() and not streaming.wait(0.1):
            pass
        next_at = 0.0
        while not stop.is_set():
            try:
                event_type, payload, text = pending.get(timeout=0.1)
            except queue.Empty:
                continue
            while pending.qsize() > MAX_BACKLOG:  # keep the newest: the game has moved on
                pending.get_nowait()
                skipped[0] += 1
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = time.monotonic() + 1.0 / rate
            try:
                ack = session.push_event(event_type, payload, timeout=30.0)
            except RateLimitError:
                skipped[0] += 1
                continue
            except (SessionClosedError, StreamDiTError):
                if stop.is_set():
                    return
                raise
            with tracker.lock:
                captions[ack.event_id] = text
            tracker.ack(ack)

    reader = threading.Thread(target=read_frames, name="demo-frames", daemon=True)
    pusher = threading.Thread(target=push_events, name="demo-events", daemon=True)
    reader.start()
    pusher.start()
    reports: list[str] = []
    previous: list = []
    held_since: dict[tuple, float] = {}
    start = time.monotonic()
    try:
        # The clock starts with the first frame: a fresh runtime first warms up (and, on its first start on this
        # machine, compiles the model for this CPU, about a minute), then fills the stream's buffer.
        t_wait = time.monotonic()
        next_note = t_wait + 10.0
        while not streaming.wait(0.2):
            if not reader.is_alive():
                raise StreamDiTError(f"the demo's frame reader stopped before the first frame; see the error above "
                                     f"(runtime {url})")
            if time.monotonic() - t_wait > warm_up_timeout:
                raise StreamDiTError(f"no frame from {url} within {warm_up_timeout:g} s of connecting; is the runtime "
                                     f"overloaded? (stats: {session.stats})")
            if time.monotonic() >= next_note:
                report(f"waiting for the first frame: the runtime is warming up ({time.monotonic() - t_wait:.0f} s)")
                next_note += 10.0
        report(f"first frame after {time.monotonic() - t_wait:.1f} s; playing for {seconds:g} s")
        start = time.monotonic()
        next_step = next_report = start
        last_frames = 0
        while (now := time.monotonic()) - start < seconds:
            if now >= next_step:
                next_step += 1.0 / steps_per_second
                obs, _reward, done, info = env.step(agent.act(env))
                events = captioner.update(info, obs, env)
                keys = {(e.type, tuple(sorted(e.payload.items()))): e for e in events}
                to_push = {(e.type, tuple(sorted(e.payload.items()))) for e in new_events(previous, events)}
                for key, e in keys.items():  # refresh held states before their prompt-map duration ends
                    if EVENTS[e.type].kind == "state" and now - held_since.get(key, -1e9) >= STATE_REFRESH_S:
                        to_push.add(key)
                held_since = {k: (now if k in to_push else held_since.get(k, now)) for k in keys}
                for key in to_push:
                    e = keys[key]
                    payload = {**EVENTS[e.type].defaults, **{k: str(v) for k, v in e.payload.items()}}
                    pending.put((e.type, payload, caption_for(e.type, payload)))
                top = max(events, key=lambda e: EVENTS[e.type].priority) if events else None
                game_view[0] = (obs, top.caption if top else base)
                previous = events
                if done:
                    obs = env.reset()
                    agent, captioner, previous, held_since = ScriptedAgent(seed), Captioner.for_env(env), [], {}
            if now >= next_report:
                elapsed = now - next_report + 1.0 if next_report > start else 1.0
                next_report = now + 1.0
                lat = tracker.latencies_ms()
                with tracker.lock:
                    got, gaps = tracker.received, tracker.gaps
                dropped = max(gaps, session.stats.frames_dropped if session.stats else 0)
                line = (f"t={now - start:4.1f}s  fps {(got - last_frames) / elapsed:5.1f}  latency p50 "
                        f"{_ms(percentile(lat, 50))} p99 {_ms(percentile(lat, 99))}  dropped {dropped}  "
                        f"events {len(lat)}")
                last_frames = got
                reports.append(line)
                report(line)
            for t in (reader, pusher):
                if not t.is_alive() and not stop.is_set():
                    raise StreamDiTError(f"the demo's {t.name} thread stopped early; see the error above "
                                         f"(runtime {url})")
            time.sleep(max(0.0, min(next_step, next_report) - time.monotonic()))
    finally:
        stop.set()
        elapsed = time.monotonic() - start
        session.close("demo finished")
        reader.join(timeout=5.0)
        pusher.join(timeout=5.0)

    lat = tracker.latencies_ms()
    dropped = max(tracker.gaps, session.stats.frames_dropped if session.stats else 0)
    if not records:
        raise StreamDiTError(f"no frames arrived from {url} in {seconds:g} s; is the runtime overloaded? "
                             f"(stats: {session.stats})")
    with tracker.lock:
        frames = [compose(g, gc, px, captions.get(eid, f"event {eid}")) for g, gc, px, eid in records]
    path = write_mp4(out, frames, session.fps)
    h, w = frames[0].shape[:2]
    return DemoResult(Path(path), len(frames), len(records) / elapsed, lat, dropped, len(tracker.acks),
                      skipped[0], w, h, reports)


def runtime_url(url: str | None, checkpoint: str | None) -> str:
    """The URL a demo connects to: `url`, or in-process `local://` (with `?checkpoint=` when one is given).

    Raises ConfigError for a checkpoint with a remote url (that runtime serves its own checkpoint)."""
    if url is None or url.startswith("local://"):
        return f"local://?checkpoint={checkpoint}" if checkpoint is not None else (url or "local://")
    if checkpoint is not None:
        raise ConfigError(f"--checkpoint applies to the in-process runtime only; the runtime at {url} serves its "
                          f"own checkpoint (drop --checkpoint, or drop --url to run {checkpoint} here)")
    return url


def _base_of(prompt_map: str) -> str:
    import tomllib

    return str(tomllib.loads(prompt_map).get("base", ""))


def summary(r: DemoResult) -> str:
    """One line: the MP4 and the run's figures."""
    return (f"wrote {r.path} ({r.frames} frames, {r.width}x{r.height} px): {r.fps:.1f} FPS, latency p50 "
            f"{_ms(r.latency_p50_ms)} p99 {_ms(r.latency_p99_ms)} over {len(r.latencies_ms)} events, "
            f"{r.dropped} frames dropped, {r.events_pushed} events pushed, {r.events_skipped} skipped")


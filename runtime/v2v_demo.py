"""Video-to-video demo: the live Crafter game restyled by prompt, recorded side by side (`streamdit demo --v2v`).

A ScriptedAgent plays Crafter at the stream's rate (`session.fps` steps per second of wall clock), rendered at
the session's width x height; every game frame goes to the runtime with `Session.send_frame` (the first, and
the first after each game reset, as an anchor), and the runtime restyles it under the prompt in effect. The
prompt cycles through `prompts` (scene-wide captions the default model was trained on: "it is night", the
sand and cave-floor variants of the base caption, the base) every `prompt_every_s` seconds with set_prompt.

Each output frame is paired with the game frame it restyles (`Frame.source_index`; a frame with -1, streamed
before the first source frame took effect, is paired with the newest game frame and counted as unsourced) and
written to an MP4: the game on the left, the restyled stream on the right, the prompt in effect under it.

Live figures, reported about once a second and at the end: FPS (output frames received per second of wall
clock), source-to-output latency p50/p99 in milliseconds (from send_frame of source frame i to the arrival of
the first output frame whose source_index is i; both on this process's monotonic clock), dropped output
frames (frame-index gaps, or the runtime's count when larger) and source frames sent, received and dropped
by the runtime (Stats.source_frames_received / source_frames_dropped: it keeps the newest chunk's worth).

    streamdit demo --v2v --seconds 20 --strength 0.5 --prompt "it is night"
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from runtime.crafter_demo import _ms, compose, runtime_url
from sdk.errors import ConfigError, SessionClosedError, StreamDiTError, UnsupportedError
from sdk.inputs import check_strength
from sdk.latency import LatencyTracker, percentile

log = logging.getLogger(__name__)

#: Scene-wide captions of the default Crafter prompt map (runtime/serving/prompt_maps/crafter.toml: the `night`
#: event, the walking captions' sand and cave-floor terrains, and the base prompt), cycled by default.
DEFAULT_PROMPTS = ("it is night", "the player walks right across the sand",
                   "the player walks right across the cave floor", "the player walks right across the grass")


@dataclass
class V2VDemoResult:
    """What a video-to-video demo run produced. Latencies in milliseconds, rates in frames per second."""

    path: Path
    frames: int  # output frames received (and written)
    fps: float
    latencies_ms: list[float]  # one per source frame whose first output arrived
    dropped: int  # output frames dropped
    unsourced: int  # output frames naming no source frame (source_index -1)
    before_game: int  # output frames that arrived before the first game frame existed (not written)
    sources_sent: int
    sources_received: int  # by the runtime (its last Stats)
    sources_dropped: int  # by the runtime: replaced by newer ones before a chunk used them
    prompts_set: list[tuple[str, int, float]]  # (text, event_id, seconds into the run when sent) per acked set_prompt
    width: int  # pixels of the MP4
    height: int
    reports: list[str] = field(default_factory=list)

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def latency_p99_ms(self) -> float | None:
        return percentile(self.latencies_ms, 99)


class _Sources:
    """Game frames sent and the arrival of their first outputs (thread-safe; times in microseconds on the
    monotonic clock of Frame.received_us)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: dict[int, np.ndarray] = {}  # source index -> game frame
        self.sent_us: dict[int, int] = {}
        self.first_us: dict[int, int] = {}
        self.newest = -1

    def sent(self, index: int, pixels: np.ndarray) -> None:
        with self.lock:
            self.frames[index], self.sent_us[index] = pixels, time.monotonic_ns() // 1000
            self.newest = index

    def arrived(self, index: int, received_us: int) -> int:
        """Record an output frame naming source `index` (-1 = none); returns the source it is paired with."""
        with self.lock:
            if index < 0:
                return self.newest
            self.first_us.setdefault(index, received_us)
            return index

    def latencies_ms(self) -> list[float]:
        with self.lock:
            return [(t - self.sent_us[i]) / 1000.0 for i, t in self.first_us.items() if i in self.sent_us]


def run_v2v_demo(*, seconds: float = 20.0, out: str | Path = "out/demo_v2v.mp4", checkpoint: str | None = None,
                 url: str | None = None, seed: int = 0, strength: float = 0.5,
                 prompts: Sequence[str] | None = None, prompt_every_s: float = 5.0,
                 report: Callable[[str], None] | None = None, warm_up_timeout: float = 600.0,
                 model: str = "") -> V2VDemoResult:
    """Play Crafter for `seconds` (wall clock, from the first output frame), restyle it live through the runtime
    at `url`, write the side-by-side MP4 to `out`. Waits up to `warm_up_timeout` seconds for the first frame.

    Args:
        url: runtime URL; None = in-process `local://` (from `checkpoint`, or the shipped default model).
        checkpoint: checkpoint directory or shipped name for the in-process runtime (not with a remote url).
        seed: Crafter world seed, agent seed and the stream's noise seed.
        strength: video-to-video strength in [0, 1] (0 = the game back through the autoencoder, 1 = text-only).
        prompts: the prompts to cycle through, the first from the start (None = DEFAULT_PROMPTS).
        prompt_every_s: seconds of wall clock between prompt changes.
        report: called with one line of live figures about once a second (None = logged at INFO).
        model: the served model to stream from (settings.model; "" = the runtime's default).

    Raises ConfigError for bad options, UnsupportedError when the runtime does not serve video-to-video, and the
    sdk's errors when the runtime refuses or fails.
    """
    if seconds <= 0:
        raise ConfigError(f"--seconds must be > 0, got {seconds}")
    strength = check_strength(strength, "--strength")
    prompts = list(DEFAULT_PROMPTS if prompts is None else prompts)
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ConfigError(f"--prompt needs non-empty text (e.g. --prompt \"it is night\"), got {prompts!r}")
    if not prompt_every_s > 0:
        raise ConfigError(f"--prompt-every must be > 0 seconds, got {prompt_every_s}")
    url = runtime_url(url, checkpoint)
    report = report or log.info

    import sdk

    session = sdk.Session(url, v2v=True, strength=strength, prompt=prompts[0], seed=seed, model=model)
    try:
        if not session.info.v2v:
            raise UnsupportedError(f"the runtime at {url} does not serve video-to-video (handshake v2v false): "
                                   f"serve a model whose backend can encode frames, or run `streamdit demo` "
                                   f"without --v2v")
        return _play(session, url, seconds, out, seed, prompts, prompt_every_s, report, warm_up_timeout)
    finally:
        session.close("demo finished")


def _play(session: Any, url: str, seconds: float, out: str | Path, seed: int,
          prompts: list[str], prompt_every_s: float, report: Callable[[str], None],
          warm_up_timeout: float) -> V2VDemoResult:
    from sdk.video_io import write_mp4

    sources, tracker = _Sources(), LatencyTracker()
    captions: dict[int, str] = {0: prompts[0]}  # event_id -> the prompt it put in effect
    prompts_set: list[tuple[str, int, float]] = []
    records: list[tuple[int, np.ndarray, int, int]] = []  # (paired source, pixels, event_id, source_index)
    stop, streaming, started = threading.Event(), threading.Event(), threading.Event()
    start_box = [0.0]  # the timed window's start (time.monotonic()), set before `started`
    before_game = [0]  # output frames that arrived before the first game frame was sent (not recorded)

    def read_frames() -> None:
        try:
            for frame in session.frames(timeout=warm_up_timeout):
                tracker.frame(frame)  # taken at once, so the stream never waits for credit
                paired = sources.arrived(frame.source_index, frame.received_us)
                if paired < 0:  # streamed while the game was still generating its world: nothing to pair
                    before_game[0] += 1
                    continue
                records.append((paired, frame.pixels, frame.event_id, frame.source_index))
                streaming.set()
                if stop.is_set():
                    return
        except (SessionClosedError, StreamDiTError):
            if not stop.is_set():
                raise

    def cycle_prompts() -> None:  # set_prompt blocks until the next chunk boundary: off the game's thread
        while not started.wait(0.1):
            if stop.is_set():
                return
        k = 0
        while not stop.wait(max(0.0, start_box[0] + (k + 1) * prompt_every_s - time.monotonic())):
            k += 1
            text = prompts[k % len(prompts)]
            if len(prompts) == 1:
                return
            sent_at = time.monotonic() - start_box[0]
            try:
                ack = session.set_prompt(text, timeout=30.0)
            except (SessionClosedError, StreamDiTError):
                if stop.is_set():
                    return
                raise
            with sources.lock:
                captions[ack.event_id] = text
                prompts_set.append((text, ack.event_id, sent_at))

    def send(obs: np.ndarray, anchor: bool) -> None:
        index = session.send_frame(obs, anchor=anchor)
        sources.sent(index, obs)

    def figures() -> tuple[str, int, int, int]:
        stats = session.stats
        with tracker.lock:
            dropped = max(tracker.gaps, stats.frames_dropped if stats else 0)
        lat = sources.latencies_ms()
        got, lost = (stats.source_frames_received, stats.source_frames_dropped) if stats else (0, 0)
        unsourced = sum(1 for r in records if r[3] < 0)
        line = (f"latency p50 {_ms(percentile(lat, 50))} p99 {_ms(percentile(lat, 99))}  dropped {dropped}  "
                f"sources sent {len(sources.sent_us)} received {got} dropped {lost}  unsourced {unsourced}")
        return line, dropped, got, lost

    reader = threading.Thread(target=read_frames, name="v2v-demo-frames", daemon=True)
    prompter = threading.Thread(target=cycle_prompts, name="v2v-demo-prompts", daemon=True)
    reader.start()  # before the game: generating its world takes a while, and the stream already flows
    game = _Game(session.info.width, session.info.height, seed)
    send(game.obs, anchor=True)  # the stream starts from the game's view
    prompter.start()
    reports: list[str] = []
    period = 1.0 / session.fps
    next_step = time.monotonic() + period
    try:
        t_wait, next_note = time.monotonic(), time.monotonic() + 10.0
        while not streaming.is_set():  # the game plays on while the runtime fills the stream's buffer
            now = time.monotonic()
            if now >= next_step:
                next_step += period
                send(*game.step())
            if not reader.is_alive():
                raise StreamDiTError(f"the demo's frame reader stopped before the first frame; see the error above "
                                     f"(runtime {url})")
            if now - t_wait > warm_up_timeout:
                raise StreamDiTError(f"no frame from {url} within {warm_up_timeout:g} s of connecting; is the runtime "
                                     f"overloaded? (stats: {session.stats})")
            if now >= next_note:
                report(f"waiting for the first frame: the runtime is warming up ({now - t_wait:.0f} s)")
                next_note += 10.0
            streaming.wait(max(0.0, min(next_step - time.monotonic(), 0.05)))
        start = start_box[0] = time.monotonic()
        started.set()
        report(f"first frame after {start - t_wait:.1f} s; playing for {seconds:g} s at {session.fps:g} FPS, "
               f"prompts every {prompt_every_s:g} s: {' | '.join(prompts)}")
        with tracker.lock:
            at_start = last_frames = tracker.received
        next_report, last_t = start + 1.0, start
        while (now := time.monotonic()) - start < seconds:
            if now >= next_step:
                next_step = max(next_step + period, now - period)  # a late step does not start a burst
                send(*game.step())
            if now >= next_report:
                next_report += 1.0
                if next_report < now + 0.5:  # after a stall: one report, not a burst
                    next_report = now + 1.0
                with tracker.lock:
                    got = tracker.received
                prompt = captions.get(records[-1][2], "?") if records else prompts[0]
                line = (f"t={now - start:4.1f}s  fps {(got - last_frames) / (now - last_t):5.1f}  {figures()[0]}  "
                        f"prompt {prompt!r}")
                last_frames, last_t = got, now
                reports.append(line)
                report(line)
            for t in (reader, prompter):
                if not t.is_alive() and not stop.is_set() and (t is reader or len(prompts) > 1):
                    raise StreamDiTError(f"the demo's {t.name} thread stopped early; see the error above "
                                         f"(runtime {url})")
            time.sleep(max(0.0, min(next_step, next_report) - time.monotonic()))
        elapsed = time.monotonic() - start
    finally:
        stop.set()
    reader.join(timeout=5.0)
    prompter.join(timeout=35.0)  # an unanswered set_prompt times out in 30 s
    line, dropped, got, lost = figures()
    with tracker.lock:
        received = tracker.received
    fps = (received - at_start) / elapsed  # output frames per second of wall clock, over the timed window
    reports.append(f"end: fps {fps:5.1f}  {line}")
    report(reports[-1])
    with sources.lock:
        frames = [compose(sources.frames[src], f"source frame {src}" if si >= 0 else f"newest game frame {src} "
                          f"(no source yet)", px, captions.get(eid, f"prompt of event {eid}"))
                  for src, px, eid, si in records]
    path = write_mp4(out, frames, session.fps)
    h, w = frames[0].shape[:2]
    return V2VDemoResult(Path(path), len(frames), fps, sources.latencies_ms(), dropped,
                         sum(1 for r in records if r[3] < 0), before_game[0], len(sources.sent_us), got, lost,
                         list(prompts_set), w, h, reports)


class _Game:
    """Crafter rendered at width x height pixels, played by the ScriptedAgent; `obs` is the newest frame.

    Episode k's world has seed `seed + k`. Generating a world takes about a second of CPU, so the next one is
    generated on a background thread while the current episode plays: an episode's end does not stall the game.
    """

    def __init__(self, width: int, height: int, seed: int) -> None:
        from runtime.training.data.crafter_agent import ScriptedAgent

        self._size, self._seed, self._episode = (width, height), seed, 0
        self._agent_for = ScriptedAgent
        self.env, self.obs = self._world(0)  # obs: uint8 (height, width, 3)
        self.agent = ScriptedAgent(seed)
        self._next: tuple[threading.Thread, dict] = self._prepare()

    def _world(self, episode: int) -> tuple[Any, np.ndarray]:
        import crafter

        env = crafter.Env(area=(64, 64), size=self._size, seed=self._seed + episode)
        return env, env.reset()

    def _prepare(self) -> tuple[threading.Thread, dict]:
        box: dict = {}
        episode = self._episode + 1
        t = threading.Thread(target=lambda: box.update(world=self._world(episode)), name="v2v-demo-world",
                             daemon=True)
        t.start()
        return t, box

    def step(self) -> tuple[np.ndarray, bool]:
        """One game step: (the new frame, whether it must anchor: the episode ended and a new world began)."""
        self.obs, _reward, done, _info = self.env.step(self.agent.act(self.env))
        if done:
            thread, box = self._next
            thread.join()  # long done: it had the whole episode
            self._episode += 1
            self.env, self.obs = box.get("world") or self._world(self._episode)
            self.agent = self._agent_for(self._seed + self._episode)
            self._next = self._prepare()
        return self.obs, bool(done)


def summary(r: V2VDemoResult) -> str:
    """One line: the MP4 and the run's figures."""
    return (f"wrote {r.path} ({r.frames} frames, {r.width}x{r.height} px): {r.fps:.1f} FPS, source-to-output "
            f"latency p50 {_ms(r.latency_p50_ms)} p99 {_ms(r.latency_p99_ms)} over {len(r.latencies_ms)} source "
            f"frames, {r.dropped} frames dropped, {r.unsourced} without a source ({r.before_game} more before the "
            f"game's first frame, not written); source frames sent "
            f"{r.sources_sent}, received {r.sources_received}, dropped {r.sources_dropped}; "
            f"{len(r.prompts_set)} prompt changes")

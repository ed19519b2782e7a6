"""The engine loop: one batched DiT step over every active session, decoding on its own thread.

Threads (DESIGN.md section 3): the DiT thread owns the StreamingSampler (one stream per session) and runs
`step()` over all of them at once; the decode thread turns emitted latent chunks into uint8 RGB frames and
puts them in each session's Outbox; the input threads (the servers) only queue changes and commands.
Nothing here waits on a client: outboxes never block and the decode queue drops its oldest chunk when full.

Chunk boundaries: a session's queued changes are applied right after its stream emitted a chunk (or while it
warms up, before chunk 0), so every chunk is generated under one decision of the prompt schedule, and the
frames of chunk k carry the id of the event that decided chunk k's prompt.

Video-to-video (docs/protocol.md section 3, `source_frame`): a session's source frames wait in its
SourceInbox; the encoder thread (runtime.serving.source.SourceEncoder) encodes the newest chunk's worth off the
DiT thread, and at each chunk boundary the DiT thread writes the newest encoded chunk into the stream's buffer
(runtime.sampling.v2v.V2VStream) or, for an anchor, restarts the stream from it. Each frame names the source
frame it restyles (Frame.source_index).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from runtime.sampling.v2v import V2VStream
from runtime.serving.blend import PromptBlender
from runtime.serving.config import ServeConfig
from runtime.serving.prompt_map import describe
from runtime.serving.session import Session
from runtime.serving.source import SourceChunk, SourceEncoder
from runtime.serving.stream_pipeline import StreamPipeline
from sdk.protocol import messages as m

log = logging.getLogger("streamdit.serving")
# One DiT call at a time across every Engine of the process: torch.compile (the warm-up, and any recompile when
# the batch changes) is not safe from two threads at once, and two engines compiling together hung the runtime
# (streamdit serve serving default and low_latency). On a shared CPU the steps compete for the cores anyway.
MODEL_LOCK = threading.Lock()
CATCH_UP_S = 0.5  # after a stall shorter than this, paced steps run back to back until on schedule again


@dataclass
class _Live:
    """Engine-thread state of a session in the sampler."""

    session: Session
    stream_id: int
    chunk_base: int  # the session's chunk index of the stream's chunk 0
    blender: PromptBlender
    event_id: int  # id of the event that decided the prompt of the next chunk
    generation: int
    prompt: Any = None  # the embedding last given to the sampler
    v2v: V2VStream | None = None  # from the session's first source chunk on
    guided_until: int | None = None  # an event's guidance against the prompt before it ends at this chunk


class Engine:
    """Runs the DiT step and the decoder for every session of one model (a runtime that serves several models
    has one Engine per model, each with its own threads, batch and pacing at its model's frame rate).

    Args:
        pipeline: what it serves (runtime.serving.stream_pipeline.StreamPipeline: a StreamDiTPipeline).
        config: the runtime's ServeConfig (pacing, decode queue, stats interval, scheme overrides).
        name: the model's name, for thread names and the log ("" = unnamed).
    """

    def __init__(self, pipeline: StreamPipeline, config: ServeConfig, name: str = "") -> None:
        self.pipeline, self.config, self.name = pipeline, config, name
        self.scheme = pipeline.scheme(config.chunk_size, config.micro_steps)
        self.sampler = pipeline.sampler(self.scheme, max_streams=config.max_sessions, compile=config.compile)
        self.frames_per_chunk = self.scheme.c * pipeline.temporal_factor
        self.fps = float(pipeline.fps)
        self.step_period_s = self.frames_per_chunk / self.fps / self.scheme.s  # real-time pacing, per step
        self.on_failure: Callable[[BaseException], None] | None = None
        # Stats.sessions: the runtime's count over all its engines (None = this engine's own live streams)
        self.sessions_total: Callable[[], int] | None = None
        self.step_ms = 0.0  # the last DiT step, milliseconds
        self._count_lock = threading.Lock()  # guards the totals below (see counters())
        self.steps = 0
        self.model_calls = 0  # batched forward passes of served steps (a CFG pass counts once)
        self.step_seconds = 0.0  # all DiT steps since start (warm-up excluded), seconds
        self.chunks = 0
        self.frames_decoded = 0
        self.decode_seconds = 0.0  # all decoder calls since start (warm-up excluded), seconds
        self.decode_dropped = 0  # chunks dropped because the decoder fell behind
        self._live: dict[str, _Live] = {}  # by session id (DiT thread only)
        self._commands: collections.deque[tuple[str, Session]] = collections.deque()
        self._wake = threading.Event()
        self._decode_q: collections.deque[tuple[Session, int, int, torch.Tensor, int, list[int] | None]] = (
            collections.deque())
        self._decode_cv = threading.Condition()
        self._stop = threading.Event()
        self.warmed_up = threading.Event()  # set once the warm-up (and any compile) is done
        self.warm_up_error: BaseException | None = None  # why the warm-up failed, when it did
        self._threads: list[threading.Thread] = []
        self._next_stats = 0.0
        # video-to-video: served when the pipeline's backend can encode frames
        self.v2v = callable(getattr(getattr(pipeline, "backend", None), "encode", None))
        self.sigma_min = float(getattr(pipeline, "config", {}).get("flow", {}).get("sigma_min", 1e-5))
        self.encoder = SourceEncoder(self._encode_sources)

    # ------------------------------------------------------------------------------ control (any thread)
    def start(self) -> None:
        loops = [("streamdit-dit", self._run_dit), ("streamdit-decode", self._run_decode)]
        if self.v2v:
            loops.append(("streamdit-encode", lambda: self.encoder.run(self._stop)))
        for name, fn in loops:
            t = threading.Thread(target=fn, name=f"{name}:{self.name}" if self.name else name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self.encoder.wake.set()
        with self._decode_cv:
            self._decode_cv.notify_all()
        for t in self._threads:
            t.join(timeout)

    def add(self, sess: Session) -> None:
        """Start (or restart, on resume) a session's stream at its next chunk boundary."""
        self._commands.append(("add", sess))
        self._wake.set()

    def remove(self, sess: Session) -> None:
        """Take a session's stream out of the batch (processed before the next step)."""
        self._commands.append(("remove", sess))
        self._wake.set()

    @property
    def live_streams(self) -> int:
        return len(self._live)

    @property
    def decode_queue(self) -> int:
        return len(self._decode_q)

    # ------------------------------------------------------------------------------ DiT thread
    def _warm_up(self) -> None:
        """Throwaway streams through a startup pass and a first chunk: the first steps of a fresh process are
        slow (kernel selection, and compiling when the sampler is compiled), so they run before any client
        waits on them. With a compiled sampler the stream takes a negative prompt for one step (a batch of two
        rows, whatever max_sessions), so that the batch dimension is compiled as dynamic now rather than when a
        second client joins or an event's guidance adds a batch row (runtime.serving.prompt_map)."""
        t0 = time.monotonic()
        if self.sampler.compiled:
            log.info("warming up: compiling the model for this machine (about a minute the first time, "
                     "seconds once Inductor's cache has it)")
        prompt = self.pipeline.text_encoder.encode_one("warm up")
        ids = [self.sampler.add_stream(*prompt, seed=0)]
        try:
            for _ in range(self.scheme.steps_to_fill + self.scheme.s):
                if self._stop.is_set():
                    break
                for ch in self.sampler.step():
                    self.pipeline.decode(ch.latent)
            if self.sampler.compiled and not self._stop.is_set():  # a batch of two rows, within max_streams = 1
                self.sampler.set_negative_prompt(ids[0], *self.pipeline.text_encoder.encode_one("warm"), 1.0)
                self.sampler.step()
        finally:  # never leave a warm-up stream behind: its chunks would belong to no session
            for sid in ids:
                self.sampler.remove_stream(sid)
        log.info("warm-up done in %.1f s%s", time.monotonic() - t0,
                 "" if self.sampler.compiled or self.sampler.forward is not self.sampler.model else " (eager model)")

    def counters(self) -> dict[str, float]:
        """A consistent snapshot of the engine's totals since start, warm-up excluded: steps, model_calls
        (batched forward passes; a CFG pass counts once), chunks emitted, step_seconds (DiT), frames_decoded,
        decode_seconds (decoder). Any thread may call it."""
        with self._count_lock:
            return {"steps": self.steps, "model_calls": self.model_calls, "chunks": self.chunks,
                    "step_seconds": self.step_seconds, "frames_decoded": self.frames_decoded,
                    "decode_seconds": self.decode_seconds}

    def _run_dit(self) -> None:
        if self.config.warm_up:
            try:
                with MODEL_LOCK:
                    self._warm_up()
            except Exception as e:  # the runtime refuses to serve (ServingRuntime.wait_warm raises it)
                log.exception("engine warm-up failed%s", f" (model {self.name!r})" if self.name else "")
                self.warm_up_error = e
        self.warmed_up.set()
        deadline = time.monotonic()
        while not self._stop.is_set():
            try:
                self._apply_commands()
                if not self._live:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    deadline = time.monotonic()
                    continue
                with MODEL_LOCK:
                    self._step_once()
                self._maybe_stats()
            except Exception as e:  # a bug: end every session with an Error rather than hang them
                log.exception("engine step failed%s", f" (model {self.name!r})" if self.name else "")
                if self.on_failure is not None:
                    self.on_failure(e)
                self._live.clear()
                for sid in self.sampler.stream_ids:
                    self.sampler.remove_stream(sid)
                continue
            if self.config.pace and any(self.sampler.is_streaming(lv.stream_id) for lv in self._live.values()):
                deadline += self.step_period_s
                now = time.monotonic()
                if deadline > now:
                    self._stop.wait(deadline - now)
                elif now - deadline > CATCH_UP_S:
                    deadline = now  # far behind (a stall): forget it rather than burst for long
            else:
                deadline = time.monotonic()

    def _apply_commands(self) -> None:
        while self._commands:
            op, sess = self._commands.popleft()
            old = self._live.pop(sess.id, None)
            if old is not None:
                self.sampler.remove_stream(old.stream_id)
                self.encoder.unwatch(sess.id)
            if op == "add" and sess.state == "active":
                self._add(sess)
                if self.v2v:
                    self.encoder.watch(sess.id, sess.source)

    def _add(self, sess: Session, source: SourceChunk | None = None, v2v: V2VStream | None = None) -> None:
        """Start the session's stream at chunk sess.next_chunk; from `source` (an anchor) when given."""
        k = sess.next_chunk
        changes = sess.pop_changes()
        for ch in changes:
            sess.schedule.apply(ch, k)
        decision = sess.schedule.at(k)
        blender = PromptBlender(self.pipeline.text_encoder, decision.spec)
        emb = blender.embedding_at(k)
        sess.generation += 1
        seed = sess.handshake.settings.seed
        seed = None if seed is None else (seed + sess.generation - 1) % 2**63  # any int64 from the wire
        start = v2v.start_args(source.latent, source.indices) if v2v is not None and source is not None else {}
        sid = self.sampler.add_stream(*emb, seed=seed, **start)
        live = _Live(sess, sid, k, blender, decision.event_id, sess.generation, emb, v2v=v2v)
        self._live[sess.id] = live
        self._ack(live, changes, k, decision)

    def _boundary(self, live: _Live, k: int) -> None:
        """Chunk k is next: apply queued changes and set the prompt of chunk k."""
        sess = live.session
        changes = sess.pop_changes()
        for ch in changes:
            sess.schedule.apply(ch, k)
        decision = sess.schedule.at(k)
        before = live.prompt
        live.blender.retarget(decision.spec, decision.transition_steps, k)
        emb = live.blender.embedding_at(k)
        if live.guided_until is not None and k >= live.guided_until:
            self.sampler.clear_negative_prompt(live.stream_id)
            live.guided_until = None
        if emb is not live.prompt:
            self.sampler.set_prompt(live.stream_id, *emb)
            live.prompt = emb
            if decision.guidance > 0 and before is not None:  # the prompt map's guidance (prompt_map docstring)
                self.sampler.set_negative_prompt(live.stream_id, *before, decision.guidance)
                live.guided_until = k + decision.guidance_chunks
        live.event_id = decision.event_id
        self._ack(live, changes, k, decision)

    def _ack(self, live: _Live, changes: list, k: int, decision: Any) -> None:
        outbox = live.session.outbox
        if outbox is None:
            return
        for ch in changes:
            outbox.put(m.EventAck(event_id=ch.event_id, chunk_index=k, frame_index=k * self.frames_per_chunk,
                                  prompt=describe(decision.spec), in_effect=decision.in_effect(ch.event_id),
                                  client_time_us=ch.client_time_us))

    def _source_boundary(self, live: _Live) -> None:
        """Chunk boundary (or warm-up) of a v2v session: take its newest encoded source chunk; an anchor restarts
        the stream from it (runtime.sampling.v2v), another chunk is written into the buffer."""
        sess = live.session
        chunk = sess.source.ready() if self.v2v else None
        if live.v2v is None:
            if chunk is None:
                return
            live.v2v = V2VStream(self.scheme, self.frames_per_chunk, sess.source.strength,
                                 seed=sess.handshake.settings.seed, sigma_min=self.sigma_min,
                                 device=self.sampler.device)
        v = live.v2v
        if sess.source.strength != v.entry.effective:
            v.set_strength(sess.source.strength)
        if chunk is not None and chunk.anchor and v.entry.steps < self.scheme.N:  # at strength 1: text-only
            self.sampler.remove_stream(live.stream_id)
            del self._live[sess.id]
            self._add(sess, chunk, v)
        elif self.sampler.is_streaming(live.stream_id):
            v.boundary(self.sampler, live.stream_id, *((chunk.latent, chunk.indices) if chunk else (None, None)))
        elif chunk is not None:  # warming up: written at the first boundary
            v.remember(chunk.latent, chunk.indices)

    def _step_once(self) -> None:
        for live in list(self._live.values()):  # warming up: changes apply to chunk 0 as they come
            if not self.sampler.is_streaming(live.stream_id) and live.session.has_changes:
                self._boundary(live, live.chunk_base)
            if not self.sampler.is_streaming(live.stream_id) and self.v2v:
                self._source_boundary(live)
        calls0 = self.sampler.model_calls
        t0 = time.perf_counter()
        emitted = self.sampler.step()
        dt = time.perf_counter() - t0
        with self._count_lock:
            self.step_ms = dt * 1e3
            self.steps += 1
            self.step_seconds += dt
            self.model_calls += self.sampler.model_calls - calls0
            self.chunks += len(emitted)
        by_stream = {lv.stream_id: lv for lv in self._live.values()}
        for ch in emitted:
            live = by_stream[ch.stream_id]
            k = live.chunk_base + ch.chunk_index
            latent, indices = (ch.latent, None) if live.v2v is None else live.v2v.emitted(ch.latent)
            self._enqueue_decode((live.session, live.generation, k, latent, live.event_id, indices))
            live.session.next_chunk = k + 1
            self._boundary(live, k + 1)
            if self.v2v:
                self._source_boundary(live)

    def _maybe_stats(self) -> None:
        now = time.monotonic()
        if now < self._next_stats:
            return
        self._next_stats = now + self.config.stats_interval_s
        n = self.sessions_total() if self.sessions_total is not None else len(self._live)
        for live in self._live.values():
            owner = live.session.owner
            if owner is not None and owner.check_idle(now):  # neither reads nor credits: release, resumable
                continue
            ob = live.session.outbox
            if ob is not None:
                ob.put(m.Stats(fps=ob.fps(), frames_sent=ob.frames_sent, frames_dropped=ob.frames_dropped,
                               queue_depth=ob.queue_depth, credits=ob.credits,
                               chunk_index=max(0, live.session.next_chunk - 1), step_ms=self.step_ms,
                               decode_queue=len(self._decode_q), sessions=n,
                               source_frames_received=live.session.source.received,
                               source_frames_dropped=live.session.source.dropped))

    # ------------------------------------------------------------------------------ decode thread
    def _encode_sources(self, frames: Any) -> torch.Tensor:
        """uint8 frames [S, F, H, W, 3] -> float32 latents [S, C, c, h, w] (encoder thread), under the decoder's
        autocast on the torch backend."""
        from runtime.model.autoencoder import video_to_unit

        pipe = self.pipeline
        on = getattr(pipe, "decode_autocast", None) is not None and pipe.backend.autocast_dtype is not None
        video = video_to_unit(torch.from_numpy(frames)).to(pipe.device)  # (S, 3, F, H, W)
        with torch.no_grad(), torch.autocast(pipe.device.type, dtype=torch.bfloat16, enabled=on):
            return pipe.backend.encode(video).float()

    def _enqueue_decode(self, item: tuple[Session, int, int, torch.Tensor, int, list[int] | None]) -> None:
        with self._decode_cv:
            if len(self._decode_q) >= self.config.decode_queue_chunks:
                old = self._decode_q.popleft()
                self.decode_dropped += 1
                ob = old[0].outbox
                if ob is not None:
                    ob.count_dropped(self.frames_per_chunk)
            self._decode_q.append(item)
            self._decode_cv.notify()

    def _run_decode(self) -> None:
        while True:
            with self._decode_cv:
                while not self._decode_q and not self._stop.is_set():
                    self._decode_cv.wait(0.5)
                if self._stop.is_set():
                    return
                sess, gen, k, latent, event_id, indices = self._decode_q.popleft()
            if sess.state != "active" or sess.generation != gen:
                continue
            try:
                t0 = time.perf_counter()
                video = self.pipeline.decode(latent)  # (frames_per_chunk, H, W, 3) uint8
                dt = time.perf_counter() - t0
            except Exception:  # pragma: no cover - a decoder bug must not kill the thread
                log.exception("decoding chunk %d of session %s failed", k, sess.id)
                continue
            outbox = sess.outbox
            if outbox is None or sess.generation != gen:
                continue
            H, W = video.shape[1:3]
            for i in range(video.shape[0]):
                fi = k * self.frames_per_chunk + i
                outbox.put_frame(m.Frame(frame_index=fi, chunk_index=k, pts_us=round(fi * 1e6 / self.fps),
                                         event_id=event_id, width=W, height=H, pixel_format=m.PIXEL_FORMAT,
                                         pixels=video[i].tobytes(), source_index=indices[i] if indices else -1))
            with self._count_lock:
                self.frames_decoded += video.shape[0]
                self.decode_seconds += dt

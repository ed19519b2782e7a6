"""A session's source frames for video-to-video: the newest few, a strength, counters (docs/protocol.md
section 3, `source_frame`).

Three threads touch a SourceInbox, each through its own methods, under one lock: the input thread `push`es
decoded frames (it never waits: older frames beyond what one chunk can use are dropped and counted); the
engine's encoder thread `take`s a chunk's worth of unused frames and `put`s their latent; the DiT thread
`ready`s the newest latent at a chunk boundary (it never waits either: with nothing new it goes on with the
last one). So a client that floods source frames costs the runtime one small copy per frame and nothing else,
and cannot slow another session.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class SourceChunk:
    """The frames of one chunk, ready for the DiT thread.

    latent: float32 [C, c, h, w] (None until encoded); indices: the source frame_index of each video frame of
    the chunk; anchor: restart the stream from it; received: time.monotonic() when its newest frame arrived.
    """

    indices: list[int]
    anchor: bool
    received: float
    latent: torch.Tensor | None = None


class SourceInbox:
    """The newest source frames of one session (thread-safe; see the module docstring).

    frames_per_chunk: video frames one chunk restyles (c x the autoencoder's temporal factor): at most that many
    unused frames are kept. strength: the session's initial strength in [0, 1].
    """

    def __init__(self, frames_per_chunk: int, strength: float) -> None:
        self.frames_per_chunk = int(frames_per_chunk)
        self.strength = float(strength)  # read by the DiT thread at each chunk boundary
        self.received = 0  # frames accepted
        self.dropped = 0  # frames replaced by newer ones before a chunk used them
        self._lock = threading.Lock()
        self._new: collections.deque[tuple[int, np.ndarray, float]] = collections.deque()  # unused, oldest first
        self._last: list[tuple[int, np.ndarray, float]] = []  # the newest frames already taken (padding)
        self._anchor = False  # an anchor waits (the next chunk taken carries it)
        self._anchored = False  # the session's first source frame anchors
        self._want = False  # the DiT thread found nothing new at a boundary: encode what there is
        self._ready: SourceChunk | None = None
        self.wake: threading.Event | None = None  # set on every push (the engine's SourceEncoder.watch)

    def push(self, index: int, pixels: np.ndarray, strength: float | None, anchor: bool) -> None:
        """Input thread: one source frame, uint8 [H, W, 3] (already checked). Never blocks."""
        with self._lock:
            self.received += 1
            if strength is not None:
                self.strength = float(strength)
            if anchor or not self._anchored:
                self._anchored, self._anchor = True, True
                self.dropped += len(self._new)  # the buffer restarts from this frame: older ones are moot
                self._new.clear()
            self._new.append((int(index), pixels, time.monotonic()))
            while len(self._new) > self.frames_per_chunk:
                self._new.popleft()
                self.dropped += 1
        if self.wake is not None:
            self.wake.set()

    @property
    def has_work(self) -> bool:
        """Encoder thread: a chunk can be taken (a full chunk of new frames, an anchor, or a wanted partial one)."""
        with self._lock:
            return bool(self._new) and (len(self._new) >= self.frames_per_chunk or self._anchor or self._want)

    def take(self) -> tuple[np.ndarray, SourceChunk] | None:
        """Encoder thread: (uint8 frames [frames_per_chunk, H, W, 3], their chunk) or None. A partial chunk is
        padded with the newest frames before it (or its own first frame repeated)."""
        with self._lock:
            if not self._new or not (len(self._new) >= self.frames_per_chunk or self._anchor or self._want):
                return None
            new = list(self._new)
            self._new.clear()
            pad = self.frames_per_chunk - len(new)
            items = (self._last[len(self._last) - pad:] if 0 < pad <= len(self._last) else [new[0]] * pad) + new
            self._last = items
            chunk = SourceChunk([i for i, _, _ in items], self._anchor, new[-1][2])
            self._anchor = self._want = False
        return np.stack([px for _, px, _ in items]), chunk

    def put(self, chunk: SourceChunk) -> None:
        """Encoder thread: the chunk is encoded. A ready chunk not yet used is replaced (its new frames counted
        as dropped), keeping its anchor."""
        with self._lock:
            old = self._ready
            if old is not None:
                self.dropped += len(set(old.indices) - set(chunk.indices))
                chunk.anchor = chunk.anchor or old.anchor
            self._ready = chunk

    def ready(self) -> SourceChunk | None:
        """DiT thread, at a chunk boundary: the newest encoded chunk not used yet, or None (then the next partial
        chunk is encoded as soon as a frame is there)."""
        with self._lock:
            chunk, self._ready = self._ready, None
            if chunk is None:
                self._want = True
        if chunk is None and self.wake is not None and self._new:
            self.wake.set()
        return chunk


class SourceEncoder:
    """The engine's encoder thread: turns each session's newest source frames into a latent chunk, off the DiT
    thread, so that encoding never delays a step (docs/protocol.md section 3).

    encode: uint8 frames [S, F, H, W, 3] -> float32 latents [S, C, c, h, w] (one batched autoencoder call for
    every session with work). Inboxes are registered by the DiT thread (`watch`, `unwatch`); `wake` is set by
    their push, so the thread sleeps while no frame arrives.
    """

    def __init__(self, encode: Callable[[np.ndarray], torch.Tensor]) -> None:
        self.encode = encode
        self.wake = threading.Event()
        self.encoded = 0  # chunks encoded
        self.seconds = 0.0  # spent encoding
        self._inboxes: dict[str, SourceInbox] = {}
        self._lock = threading.Lock()

    def watch(self, key: str, inbox: SourceInbox) -> None:
        inbox.wake = self.wake
        with self._lock:
            self._inboxes[key] = inbox
        self.wake.set()

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._inboxes.pop(key, None)

    def run(self, stop: threading.Event) -> None:
        """The thread's loop, until `stop` is set."""
        log = logging.getLogger("streamdit.serving")
        while not stop.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            with self._lock:
                inboxes = list(self._inboxes.values())
            work = [(ib, got) for ib in inboxes if (got := ib.take()) is not None]
            if not work:
                continue
            try:
                t0 = time.perf_counter()
                latents = self.encode(np.stack([frames for _, (frames, _) in work]))  # (S, C, c, h, w)
                self.seconds += time.perf_counter() - t0
            except Exception:  # pragma: no cover - an encoder bug must not kill the thread
                log.exception("encoding %d source chunks failed", len(work))
                continue
            for i, (ib, (_, chunk)) in enumerate(work):
                chunk.latent = latents[i]
                ib.put(chunk)
            self.encoded += len(work)

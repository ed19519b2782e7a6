"""What a client gets back: `Frame` (pixels plus stamps) and `Recording` (frames written to an MP4 as they come)."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from sdk.errors import ShapeError
from sdk.protocol import messages as m


@dataclass(frozen=True)
class Frame:
    """One video frame from the runtime.

    pixels: uint8 (H, W, 3) RGB, rows top to bottom; index: frame index in the session (0, 1, ...; a gap means
    frames were dropped for lack of credit); chunk: chunk index; pts_us: presentation time, microseconds
    (index * 1e6 / fps); event_id: the event whose prompt is in effect (0 = none); received_us: the client's
    monotonic clock when the frame arrived, microseconds (for event-to-frame latency); source_index: the
    index (Session.send_frame's return value) of the source frame this frame restyles, -1 = none (text-only).
    """

    pixels: np.ndarray
    index: int
    chunk: int
    pts_us: int
    event_id: int
    received_us: int = 0
    source_index: int = -1

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @classmethod
    def from_message(cls, msg: m.Frame, received_us: int | None = None) -> "Frame":
        if msg.pixel_format != m.PIXEL_FORMAT:
            raise ShapeError(f"frame pixel_format {msg.pixel_format!r} is not {m.PIXEL_FORMAT!r}")
        pixels = np.frombuffer(msg.pixels, dtype=np.uint8).reshape(msg.height, msg.width, 3)
        return cls(pixels, msg.frame_index, msg.chunk_index, msg.pts_us, msg.event_id,
                   received_us if received_us is not None else time.monotonic_ns() // 1000, msg.source_index)


class Recording:
    """Writes frames to an H.264 MP4 on a background thread as they are added; stop() finishes the file.

    The file appears only when complete (sdk.video_io.write_mp4 writes atomically). `scale` is an integer
    nearest-neighbour upscale.
    """

    def __init__(self, path: str | Path, fps: float, *, scale: int = 1) -> None:
        self.path = Path(path)
        self.frames = 0
        self._q: queue.Queue[np.ndarray | None] = queue.Queue()
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._write, args=(fps, scale), name="streamdit-record", daemon=True)
        self._thread.start()

    def add(self, frame: Frame) -> None:
        if not self._done:
            self.frames += 1
            self._q.put(frame.pixels)

    def _items(self) -> Iterator[np.ndarray]:
        while (item := self._q.get()) is not None:
            yield item

    def _write(self, fps: float, scale: int) -> None:
        from sdk.video_io import write_mp4  # numpy + imageio-ffmpeg: part of the client install

        try:
            write_mp4(self.path, self._items(), fps, scale=scale)
        except BaseException as e:  # reported by stop()
            self._error = e
            for _ in self._items():  # keep draining so add() never piles up
                pass

    def stop(self, timeout: float = 60.0) -> Path:
        """Finish the file and return its path. Raises ShapeError when no frame was recorded."""
        if not self._done:
            self._done = True
            self._q.put(None)
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self.path

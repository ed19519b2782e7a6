"""`sdk.AsyncSession`: the asyncio twin of `sdk.Session`, for asyncio games, servers and tools.

    async with sdk.AsyncSession("grpc://127.0.0.1:50051", prompt="a meadow") as s:
        ack = await s.push_event("night_falls")
        async for frame in s.frames():
            ...

It drives the same Session (and transports) from worker threads, so no call blocks the event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np

from sdk.errors import SessionClosedError
from sdk.frames import Frame, Recording
from sdk.protocol import messages as m
from sdk.session import Session

_DONE = object()


class AsyncSession:
    """Same arguments as Session. Connect with `await s.connect()` or `async with AsyncSession(...) as s`."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url, self._kwargs = url, kwargs
        self._s: Session | None = None

    async def connect(self) -> "AsyncSession":
        if self._s is None:
            self._s = await asyncio.to_thread(Session, self.url, **self._kwargs)
        return self

    async def __aenter__(self) -> "AsyncSession":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def session(self) -> Session:
        """The underlying synchronous Session (its info, stats and errors)."""
        if self._s is None:
            raise SessionClosedError("connect() the AsyncSession first (or use `async with`)")
        return self._s

    @property
    def info(self) -> m.HandshakeReply:
        return self.session.info

    @property
    def stats(self) -> m.Stats | None:
        return self.session.stats

    async def push_event(self, type: str, payload: dict | None = None, *, timeout: float | None = None) -> m.EventAck:
        return await asyncio.to_thread(self.session.push_event, type, payload, timeout=timeout)

    async def set_prompt(self, text: str, *, transition_steps: int = 0, weight: float = 1.0,
                         timeout: float | None = None) -> m.EventAck:
        return await asyncio.to_thread(self.session.set_prompt, text, transition_steps=transition_steps,
                                       weight=weight, timeout=timeout)

    async def send_frame(self, pixels: np.ndarray, *, strength: float | None = None, anchor: bool = False) -> int:
        """Session.send_frame (same arguments, errors and return value: the frame_index it gave). It only
        queues the frame, so it runs on the event loop's thread without blocking it."""
        return self.session.send_frame(pixels, strength=strength, anchor=anchor)

    async def frames(self, *, timeout: float | None = None) -> AsyncIterator[Frame]:
        it = self.session.frames(timeout=timeout)
        while True:
            frame = await asyncio.to_thread(next, it, _DONE)
            if frame is _DONE:
                return
            yield frame

    async def record(self, path: str | Path, *, frames: int | None = None, seconds: float | None = None,
                     scale: int = 1) -> Path | Recording:
        return await asyncio.to_thread(self.session.record, path, frames=frames, seconds=seconds, scale=scale)

    async def runtime_info(self) -> m.RuntimeInfo:
        return await asyncio.to_thread(self.session.runtime_info)

    async def close(self, reason: str = "") -> None:
        if self._s is not None:
            await asyncio.to_thread(self._s.close, reason)

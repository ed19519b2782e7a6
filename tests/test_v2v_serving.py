"""Video-to-video served (issue 20): source frames over ZeroMQ and gRPC, every frame naming its source, the
two ends of the strength through the whole runtime, a bad source frame refused without ending the session, and
a flood of source frames that costs only its own session. The tiny pipeline's autoencoder is lossless
(space-to-depth), so strength 0 gives the source pixels back exactly."""

import time

import numpy as np
import pytest
import zmq

from raw_grpc import RawGrpc
from serving_helpers import RawZmq, served, wait_until
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec

SIZE = 32  # the tiny pipeline's frames


def peer(srv, transport):
    return RawGrpc(srv.grpc_url) if transport == "grpc" else RawZmq(srv.zmq_url)


def source(i: int) -> m.SourceFrame:
    """A distinct 32x32 source frame per index (a moving gradient)."""
    y, x = np.mgrid[:SIZE, :SIZE]
    img = np.stack([(x * 8 + i * 5) % 256, (y * 8) % 256, np.full_like(x, (i * 40) % 256)], -1).astype(np.uint8)
    return m.SourceFrame(frame_index=i, width=SIZE, height=SIZE, pixels=img.tobytes())


def frames(p, n, timeout=20.0, send=None):
    """The next n frames (answering each with a credit); send(i) is called after the i-th."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n:
        msg = p.recv(timeout=max(0.1, deadline - time.monotonic()), skip=(m.Stats, m.EventAck))
        if isinstance(msg, m.Frame):
            p.send(m.Credit(n=1))
            out.append(msg)
            if send is not None:
                send(len(out))
        elif isinstance(msg, m.Error):
            raise AssertionError(f"unexpected error {msg}")
    return out


@pytest.fixture(scope="module")
def srv():
    with served() as s:
        yield s


@pytest.mark.parametrize("transport", ["zmq", "grpc"])
def test_source_frames_round_trip_and_every_frame_names_its_source(srv, transport):
    p = peer(srv, transport)
    try:
        p.send(m.Handshake(client_name="raw", capabilities=m.Capabilities(v2v=True),
                           settings=m.SessionSettings(prompt="a green field", seed=1, strength=0.0)))
        reply = p.recv()
        assert isinstance(reply, m.HandshakeReply) and reply.v2v
        sent = {}

        def send(i):
            if i % 2 == 0:
                sf = source(100 + i)
                sent[sf.frame_index] = sf.pixels
                p.send(sf)

        first = source(100)
        sent[100] = first.pixels
        p.send(first)  # the session's first source frame anchors
        got = frames(p, 40, send=send)
        named = [f for f in got if f.source_index >= 0]
        assert len(named) >= 20 and {f.source_index for f in named} <= set(sent)
        assert all(f.pixels == sent[f.source_index] for f in named)  # strength 0: the source itself
        # a chunk restyles the newest source chunk (repeated while no newer one came): never an older one
        firsts = [f.source_index for f in named if f.frame_index % reply.frames_per_chunk == 0]
        assert firsts == sorted(firsts)
        stats = p.recv(timeout=5.0, skip=(m.Frame, m.EventAck))
        assert isinstance(stats, m.Stats) and stats.source_frames_received >= len({f.source_index for f in named})
    finally:
        p.close()


def test_strength_one_streams_the_text_only_frames_for_the_same_seed(srv):
    def run(v2v):
        p = RawZmq(srv.zmq_url)
        try:
            p.handshake(seed=7, strength=1.0)
            if v2v:
                p.send(source(0))
            return frames(p, 16, send=(lambda i: p.send(source(i))) if v2v else None)
        finally:
            p.send(m.Close())
            p.close()

    text_only, restyled = run(False), run(True)
    assert [f.pixels for f in restyled] == [f.pixels for f in text_only]
    assert all(f.source_index == -1 for f in restyled + text_only)


@pytest.mark.parametrize("transport", ["zmq", "grpc"])
def test_a_bad_source_frame_is_refused_and_the_session_keeps_streaming(srv, transport):
    p = peer(srv, transport)
    try:
        p.handshake()
        frames(p, 2)
        p.send(m.SourceFrame(frame_index=1, width=16, height=16, pixels=bytes(16 * 16 * 3)))
        err = p.recv(skip=(m.Frame, m.Stats, m.EventAck))
        assert err.code == m.INVALID_ARGUMENT and not err.fatal
        assert "16x16" in err.message and "32x32" in err.message and "scale" in err.message
        p.send(m.SourceFrame(frame_index=2, width=SIZE, height=SIZE, pixel_format="bgra8",
                             pixels=bytes(SIZE * SIZE * 4)))
        err = p.recv(skip=(m.Frame, m.Stats, m.EventAck))
        assert err.code == m.INVALID_ARGUMENT and "'bgra8'" in err.message and '"rgb8"' in err.message
        p.send(m.SourceFrame(frame_index=3, width=SIZE, height=SIZE, pixels=bytes(3 * SIZE * SIZE), strength=2.0))
        err = p.recv(skip=(m.Frame, m.Stats, m.EventAck))
        assert err.code == m.INVALID_ARGUMENT and "strength" in err.message
        assert len(frames(p, 6)) == 6  # still streaming
    finally:
        p.close()


def test_a_source_flood_costs_only_its_own_session():
    """A client sends source frames ~15x faster than its session uses them (below the connection's message rate,
    so they reach its inbox): the runtime keeps the newest, counts the rest as dropped, and a calm session
    beside it loses no frame and keeps pace. (Beyond the message rate a flood is cut: tests/test_serving_flood.py.)"""
    with served(max_messages_per_second=1000.0) as srv:
        calm, flood = RawZmq(srv.zmq_url), RawZmq(srv.zmq_url)
        try:
            calm.handshake(seed=1)
            flood.handshake(seed=2, strength=0.5)
            frames(calm, 2)
            engine = srv.runtime.engine
            chunks0 = engine.counters()["chunks"]
            got: list[m.Frame] = []
            sf = source(0)
            t0 = time.monotonic()
            i = 0
            while (now := time.monotonic()) < t0 + 3.0:  # 250 source frames a second, reading calm's frames between
                while i < 250 * (now - t0):
                    i += 1
                    sf.frame_index = i
                    try:
                        flood.sock.send_multipart(msgpack_codec.encode(sf), zmq.NOBLOCK)
                    except zmq.Again:  # the socket's queue is full: the runtime is not reading this peer
                        pass
                while calm.sock.poll(0):
                    msg = calm.recv(timeout=1.0, skip=(m.Stats, m.EventAck))
                    if isinstance(msg, m.Frame):
                        got.append(msg)
                time.sleep(0.002)
            chunks = engine.counters()["chunks"] - chunks0
            assert i >= 700  # a real flood: far above the model's 16 frames per second
            # the calm session lost nothing: no frame-index gaps, and it kept pace with the batched steps
            idx = [f.frame_index for f in got]
            assert idx == list(range(idx[0], idx[0] + len(idx)))
            assert len(got) >= 0.8 * (chunks / 2) * engine.frames_per_chunk - 2 * engine.frames_per_chunk
            inbox = next(s.source for s in srv.runtime.manager.sessions() if s.source.received)
            assert wait_until(lambda: inbox.dropped > 0, 5.0)  # the flooder's older frames were dropped, counted
            assert inbox.received > 0.5 * i  # they reached the inbox (not cut by the connection's rate)
            deadline, stats = time.monotonic() + 10.0, None
            while time.monotonic() < deadline and not (stats and stats.source_frames_dropped > 0):
                stats = flood.recv(timeout=5.0, skip=(m.Frame, m.EventAck, m.Error))  # the newest stats count them
            assert isinstance(stats, m.Stats) and stats.source_frames_dropped > 0
            assert stats.source_frames_received <= inbox.received
        finally:
            calm.close()
            flood.close()

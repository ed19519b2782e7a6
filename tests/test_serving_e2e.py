"""End to end on loopback, over gRPC and ZeroMQ: handshake, frames, event ids, isolation, flow control,
disconnects and resume. One tiny runtime (random weights, 32x32 px, 16 FPS, paced) serves the module."""

import time

import numpy as np
import pytest

import sdk
from sdk.errors import SessionClosedError, TransportError
from serving_helpers import FPS, PROMPT_MAP, served, wait_until

pytestmark = pytest.mark.timeout(120)
TRANSPORTS = ["grpc", "zmq"]


@pytest.fixture(scope="module")
def srv():
    with served() as s:
        yield s


def take(session, n, timeout=10.0):
    out = []
    for f in session.frames(timeout=timeout):
        out.append(f)
        if len(out) >= n:
            return out
    return out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_handshake_and_frames(srv, transport):
    with sdk.Session(srv.url(transport), prompt="a red square", seed=1) as s:
        info = s.info
        assert (info.width, info.height, info.pixel_format, info.fps) == (32, 32, "rgb8", FPS)
        assert info.frames_per_chunk == 2 and info.protocol_version == "1.0" and info.credits == 4
        assert info.session_id and len(info.resume_token) >= 16 and not info.resumed
        frames = take(s, 12)
        assert [f.index for f in frames] == list(range(12))
        for f in frames:
            assert f.pixels.shape == (32, 32, 3) and f.pixels.dtype == np.uint8
            assert f.chunk == f.index // 2 and f.pts_us == round(f.index * 1e6 / FPS) and f.event_id == 0
        assert wait_until(lambda: s.stats is not None, 3.0) and s.stats.sessions >= 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_frame_carries_the_event_in_effect(srv, transport):
    with sdk.Session(srv.url(transport), prompt_map=PROMPT_MAP, seed=2) as s:
        frames = take(s, 4)
        night = s.push_event("night")
        assert night.in_effect and night.prompt == "the field at night"
        assert night.frame_index == night.chunk_index * 2
        frames += take(s, 4)
        boss = s.push_event("boss", {"color": "red"})  # priority 5, 2 chunks, then night again
        assert boss.prompt == "a red boss in the field" and boss.chunk_index > night.chunk_index
        frames += take(s, 12)
        assert frames[-1].chunk >= boss.chunk_index + 3

        def expected(chunk):
            if chunk < night.chunk_index:
                return 0
            if boss.chunk_index <= chunk < boss.chunk_index + 2:
                return boss.event_id
            return night.event_id

        assert [f.event_id for f in frames] == [expected(f.chunk) for f in frames]


def test_two_sessions_with_different_prompts_stay_isolated(srv):
    with sdk.Session(srv.grpc_url, prompt="a red square", seed=7) as alone:
        ref = take(alone, 8)
    with sdk.Session(srv.grpc_url, prompt="a red square", seed=7) as a, \
            sdk.Session(srv.zmq_url, prompt="a blue circle", seed=7, prompt_map=PROMPT_MAP) as b:
        ack = b.push_event("night")  # only b changes
        fa, fb = take(a, 8), take(b, 8)
    assert all(f.event_id == 0 for f in fa)
    assert [f.event_id for f in fb if f.chunk >= ack.chunk_index] and \
        all(f.event_id == ack.event_id for f in fb if f.chunk >= ack.chunk_index)
    pa = np.stack([f.pixels for f in fa]).astype(float)
    pr = np.stack([f.pixels for f in ref]).astype(float)
    pb = np.stack([f.pixels for f in fb]).astype(float)
    assert np.abs(pa - pr).mean() < 0.5  # a's frames are what a alone gets: b does not leak into a
    assert np.abs(pa - pb).mean() > 5.0  # same seed, other prompt: other frames


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_stops_reading_loses_only_its_own_frames(srv, transport):
    def rate(session, seconds=3.0):
        it = session.frames(timeout=10)
        first = next(it)
        t0, n = time.monotonic(), 0
        for _ in it:
            n += 1
            if time.monotonic() - t0 >= seconds:
                break
        return n / (time.monotonic() - t0)

    with sdk.Session(srv.url(transport), prompt="a red square", seed=1, credits=16) as fast:
        alone = rate(fast)
        with sdk.Session(srv.url(transport), prompt="a blue circle", seed=2) as slow:  # never reads a frame
            together = rate(fast)
            assert wait_until(lambda: slow.stats is not None and slow.stats.frames_dropped > 0, 3.0)
            assert slow.stats.queue_depth <= 4 and slow.stats.credits == 0
    assert abs(together - alone) / alone < 0.10, (alone, together)
    assert alone > 0.5 * FPS, alone  # paced at the model's frame rate (less only on a starved machine)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_disconnects_releases_its_session_within_1s(srv, transport):
    rt = srv.runtime
    assert wait_until(lambda: rt.manager.active_count == 0 and rt.engine.live_streams == 0, 5.0)
    s = sdk.Session(srv.url(transport), prompt="a red square", reconnect=False)
    take(s, 2)
    assert rt.manager.active_count == 1 and rt.engine.live_streams == 1
    t0 = time.monotonic()
    s.abort_connection()
    assert wait_until(lambda: rt.manager.active_count == 0 and rt.engine.live_streams == 0, 1.0)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(TransportError):
        take(s, 100, timeout=5)
    s.close()
    with pytest.raises(SessionClosedError):
        s.push_event("night")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_dropped_connection_resumes_with_the_token(srv, transport):
    with sdk.Session(srv.url(transport), prompt_map=PROMPT_MAP, seed=3) as s:
        sid = s.session_id
        ack = s.push_event("night")
        before = take(s, 6)
        s.abort_connection()
        after = take(s, 6)
        assert s.reconnects == 1 and s.session_id == sid and s.info.resumed
        assert after[-1].index > before[-1].index  # numbering continues
        assert all(f.event_id == ack.event_id for f in after if f.chunk >= ack.chunk_index)  # state kept
        assert s.push_event("boss", {"color": "gold"}).event_id == ack.event_id + 1


def test_a_grpc_session_resumes_over_zmq_and_the_old_connection_is_told(srv):
    from sdk.protocol import messages as m
    from serving_helpers import RawZmq

    s = sdk.Session(srv.grpc_url, prompt="a red square", reconnect=False)
    last = take(s, 4)[-1]
    raw = RawZmq(srv.zmq_url)
    try:
        raw.send(m.Handshake(settings=m.SessionSettings(prompt="ignored"), resume_token=s.info.resume_token))
        reply = raw.recv()
        assert isinstance(reply, m.HandshakeReply) and reply.resumed and reply.session_id == s.session_id
        frame = raw.recv(skip=(m.Stats,))
        assert isinstance(frame, m.Frame) and frame.frame_index > last.index
        with pytest.raises(SessionClosedError, match="replaced"):
            take(s, 1000, timeout=5)
    finally:
        s.close()
        raw.close()

"""The SDK's public API: local:// sessions, recording, the asyncio twin, typed errors, URLs, auth, shutdown."""

import asyncio
import socket

import numpy as np
import pytest

import sdk
from runtime.serving import local
from sdk.video_io import read_mp4
from sdk.errors import (AuthError, ConfigError, InvalidArgumentError, ServerError, ShuttingDownError, StreamDiTError,
                        TransportError, UnknownEventError, server_error)
from serving_helpers import PROMPT_MAP, make_runtime, one_torch_thread, served

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def local_runtime():
    with one_torch_thread():
        rt = make_runtime(pace=False)
        local.install(rt)
        yield rt
        local.install(None)
        rt.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_session_events_prompts_and_frames(local_runtime):
    with sdk.Session("local://", prompt_map=PROMPT_MAP, seed=4) as s:
        assert s.fps == 16.0 and s.frames_per_chunk == 2 and s.session_id
        ack = s.push_event("boss", {"color": "teal"})
        assert isinstance(ack, sdk.EventAck) and ack.prompt == "a teal boss in the field" and ack.in_effect
        ack2 = s.set_prompt("a desert", transition_steps=2)
        assert ack2.event_id == ack.event_id + 1 and ack2.chunk_index >= ack.chunk_index
        frames = [f for _, f in zip(range(10), s.frames(timeout=10))]
        assert all(isinstance(f, sdk.Frame) and f.pixels.shape == (32, 32, 3) for f in frames)
        assert [f.index for f in frames] == list(range(10))
        with pytest.raises(UnknownEventError):
            s.push_event("unknown")
        with pytest.raises(InvalidArgumentError, match="weight"):
            s.set_prompt("x", weight=1.5)
        info = s.runtime_info()
        assert info.sessions_active >= 1 and info.models[0].frames_per_chunk == 2


def test_record_writes_an_mp4(local_runtime, tmp_path):
    with sdk.Session("local://", prompt="a red square") as s:
        path = s.record(tmp_path / "clip.mp4", frames=6)
        rec = s.record(tmp_path / "tee.mp4")  # records what frames() yields from now on
        got = [f for _, f in zip(range(4), s.frames(timeout=10))]
        assert rec.stop() == tmp_path / "tee.mp4"
    video = read_mp4(path)
    assert video.shape == (6, 32, 32, 3) and video.dtype == np.uint8
    assert read_mp4(tmp_path / "tee.mp4").shape[0] == len(got) == 4


def test_asyncio_twin(local_runtime):
    async def main():
        async with sdk.AsyncSession("local://", prompt_map=PROMPT_MAP) as s:
            ack = await s.push_event("night")
            frames = []
            async for f in s.frames(timeout=10):
                frames.append(f)
                if f.event_id == ack.event_id:
                    break
            with pytest.raises(UnknownEventError):
                await s.push_event("nope")
            return ack, frames, s.info

    ack, frames, info = asyncio.run(main())
    assert frames[-1].chunk == ack.chunk_index and info.session_id


@pytest.mark.parametrize("url,needle", [
    ("http://127.0.0.1:1", "grpc://HOST:PORT"),
    ("zmq://127.0.0.1", "needs a host and a port"),
    ("grpc://:50051", "needs a host and a port"),
])
def test_bad_urls(url, needle):
    with pytest.raises(ConfigError, match=needle):
        sdk.Session(url, prompt="x")


@pytest.mark.parametrize("scheme", ["grpc", "zmq"])
def test_no_runtime_is_a_clear_transport_error(scheme):
    port = free_port()
    with pytest.raises(TransportError) as e:
        sdk.Session(f"{scheme}://127.0.0.1:{port}", prompt="x", timeout=1.0)
    assert str(port) in str(e.value) and "streamdit serve" in str(e.value)


def test_server_errors_map_to_typed_exceptions():
    for code in ("bad_message", "version_mismatch", "auth_failed", "too_many_sessions", "message_too_large",
                 "rate_limited", "prompt_too_long", "unknown_event", "invalid_argument", "unsupported",
                 "no_session", "resume_failed", "shutting_down", "internal"):
        err = server_error(code, "the server's words", event_id=3, fatal=True)
        assert type(err) is not ServerError and err.code == code and isinstance(err, StreamDiTError)
        assert str(err) == "the server's words" and err.event_id == 3 and err.fatal
    assert type(server_error("from_the_future", "x")) is ServerError


def test_auth_limits_and_shutdown():
    with served(auth_token="s3cret", max_sessions=2) as srv:
        for url in (srv.grpc_url, srv.zmq_url):
            with pytest.raises(AuthError, match="--auth-token"):
                sdk.Session(url, prompt="x")
        a = sdk.Session(srv.grpc_url, prompt="x", auth_token="s3cret")
        b = sdk.Session(srv.zmq_url, prompt="y", auth_token="s3cret")
        with pytest.raises(sdk.errors.SessionLimitError, match="2 sessions"):
            sdk.Session(srv.zmq_url, prompt="z", auth_token="s3cret")
        assert srv.runtime.info().auth_required
        bare = make_runtime(warm_up=False)
        with pytest.raises(ConfigError, match="--auth-token"):
            bare.serve_zmq("0.0.0.0", 0)  # a runtime without a token refuses to bind beyond loopback
        bare.shutdown()
        [next(s.frames(timeout=10)) for s in (a, b)]
        srv.runtime.shutdown("maintenance window")
        for s in (a, b):
            with pytest.raises(ShuttingDownError, match="maintenance window"):
                for _ in s.frames(timeout=10):
                    pass
            s.close()


def test_grpc_info_health_and_reflection():
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with served() as srv:
        with sdk.Session(srv.grpc_url, prompt="x") as s:
            info = s.runtime_info()
            assert srv.grpc_url in info.transports and srv.zmq_url in info.transports
        ch = grpc.insecure_channel(srv.grpc_url.removeprefix("grpc://"))
        for name in ("", "streamdit.v1.Runtime"):
            resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        resp = next(reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(iter([req]), timeout=5))
        assert "streamdit.v1.Runtime" in [sv.name for sv in resp.list_services_response.service]
        ch.close()


def test_latency_tracker_pairs_events_with_their_first_frame():
    from types import SimpleNamespace as NS

    from sdk.latency import LatencyTracker

    tr = LatencyTracker()
    assert tr.percentile_ms(50) is None
    tr.ack(NS(event_id=1, client_time_us=1_000))
    tr.ack(NS(event_id=2, client_time_us=5_000))
    tr.ack(NS(event_id=3, client_time_us=9_000))  # its frame never arrives: left out
    for index, eid, t in [(0, 0, 500), (1, 0, 2_000), (2, 1, 11_000), (3, 1, 12_000), (6, 2, 25_000)]:
        tr.frame(NS(index=index, event_id=eid, received_us=t))
    assert tr.latencies_ms() == [10.0, 20.0]
    assert tr.percentile_ms(50) == pytest.approx(15.0)
    assert tr.received == 5 and tr.gaps == 2  # frames 4 and 5 never came

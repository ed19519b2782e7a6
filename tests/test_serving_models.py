"""Several models served at once, picked per session by name (settings.model; `streamdit serve --model NAME=DIR`).

The two tiny models differ in everything a client can see: "main" streams 32x32 frames, 2 frames per chunk, from
an 8-frame buffer; "fast" streams 16x16 frames, 1 frame per chunk, from a 4-frame buffer. So a frame's size and
its chunk numbering say which model's engine made it, and each engine's live_streams says which one streams a
session.
"""

from __future__ import annotations

import importlib.util
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sdk
from runtime.commands.serve import describe_models, parse_model_options
from runtime.serving import local
from runtime.serving.config import ServeConfig
from runtime.serving.prompt_map import PromptMap
from runtime.serving.server import ServingRuntime
from runtime.testing import save_tiny_checkpoint, tiny_pipeline
from sdk.errors import CheckpointError, ConfigError, InvalidArgumentError
from sdk.protocol import messages as m
from sdk.transports import open_transport
from serving_helpers import PROMPT_MAP, RawZmq, Served, one_torch_thread, start_serve, wait_until

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)
MAIN = dict(size=32, buffer_frames=8, chunk=2, fps=16.0)
FAST = dict(size=16, buffer_frames=4, chunk=1, fps=16.0, seed=1)
TRANSPORTS = ["grpc", "zmq"]


def two_pipelines() -> dict:
    return {"main": tiny_pipeline(**MAIN), "fast": tiny_pipeline(**FAST)}


@pytest.fixture(scope="module")
def two():
    """"main" (the default) and "fast", served over gRPC and ZeroMQ (and connect() for local connections)."""
    with one_torch_thread():
        rt = ServingRuntime(two_pipelines(), ServeConfig(pace=True, max_sessions=6)).start()
        try:
            assert rt.wait_warm()
            g, z = rt.serve_grpc("127.0.0.1", 0), rt.serve_zmq("127.0.0.1", 0)
            yield Served(rt, f"grpc://127.0.0.1:{g}", f"zmq://127.0.0.1:{z}")
        finally:
            rt.shutdown("test over", grace_s=0.5)


def idle(rt: ServingRuntime) -> bool:
    return all(e.live_streams == 0 for e in rt.engines.values())


def reply_of(conn) -> m.HandshakeReply | m.Error:
    """The handshake's answer on a connect() connection (waits for it)."""
    got: list = []
    assert wait_until(lambda: bool(got.extend(conn.outbox.take()) or got), 5)
    first = [x for x in got if isinstance(x, (m.HandshakeReply, m.Error))]
    assert first, got
    return first[0]


# ----------------------------------------------------------------------------------- the runtime's tables
def test_the_runtime_keeps_one_engine_and_model_info_per_model(two):
    rt = two.runtime
    assert list(rt.models) == list(rt.engines) == list(rt.pipelines) == ["main", "fast"]
    assert rt.engine is rt.engines["main"] and rt.model_info is rt.models["main"]  # the default model's
    assert rt.pipeline is rt.pipelines["main"] and rt.v2v == rt.engines["main"].v2v
    assert rt.engines["main"] is not rt.engines["fast"]
    assert rt.engines["fast"].pipeline is rt.pipelines["fast"]
    main, fast = rt.models["main"], rt.models["fast"]
    assert (main.width, main.frames_per_chunk, main.buffer_frames) == (32, 2, 8)
    assert (fast.width, fast.frames_per_chunk, fast.buffer_frames, fast.chunk_size) == (16, 1, 4, 1)
    threads = {t.name for t in rt.engines["fast"]._threads}
    assert "streamdit-dit:fast" in threads  # its own DiT thread


def test_a_single_pipeline_is_served_as_before_under_config_model_name():
    rt = ServingRuntime(tiny_pipeline(), ServeConfig(model_name="solo"))
    assert list(rt.models) == ["solo"] and rt.model_info.name == "solo" and rt.engines == {"solo": rt.engine}
    assert rt.list_models().models == [rt.model_info] and rt.manager.default_model == "solo"


@pytest.mark.parametrize("models, match", [
    ({}, "no model"),
    ({"": None}, "non-empty name"),
    ({"  ": None}, "non-empty name"),
    ({" fast": None}, "surrounding whitespace"),
    ({"x" * 129: None}, "128 characters"),
    ([("a", None), ("a", None)], "given twice"),
    ([("a",)], r"\(name, pipeline\) pairs"),
])
def test_bad_model_names_are_refused_with_a_clear_error(models, match):
    with pytest.raises(ConfigError, match=match):
        ServingRuntime(models, ServeConfig())


def test_pairs_keep_their_order_and_the_first_is_the_default():
    rt = ServingRuntime([("fast", tiny_pipeline(**FAST)), ("main", tiny_pipeline(**MAIN))], ServeConfig())
    assert list(rt.models) == ["fast", "main"] and rt.model_info.name == "fast" and rt.model_info.width == 16


def test_the_default_prompt_map_is_checked_against_every_model(monkeypatch):
    seen = []
    real = PromptMap.parse

    def parse(text, fps, frames_per_chunk):
        seen.append((fps, frames_per_chunk))
        if frames_per_chunk == 1:  # stands in for a map that only the second model's chunks cannot hold
            raise InvalidArgumentError("too long for 1-frame chunks")
        return real(text, fps=fps, frames_per_chunk=frames_per_chunk)

    monkeypatch.setattr(PromptMap, "parse", staticmethod(parse))
    with pytest.raises(ConfigError, match=r"file:x\.toml \(for model 'fast'.*too long for 1-frame chunks"):
        ServingRuntime(two_pipelines(), ServeConfig(prompt_map=PROMPT_MAP, prompt_map_source="file:x.toml"))
    assert seen == [(16.0, 2), (16.0, 1)]


def test_wait_warm_names_the_model_whose_warm_up_failed():
    rt = ServingRuntime(two_pipelines(), ServeConfig())  # not started: nothing warms up by itself
    for engine in rt.engines.values():
        engine.warmed_up.set()
    rt.engines["fast"].warm_up_error = RuntimeError("no kernel for this CPU")
    assert rt.warmed_up
    with pytest.raises(CheckpointError, match="model 'fast' failed its warm-up.*no kernel for this CPU"):
        rt.wait_warm()


def test_wait_warm_waits_for_every_model():
    import threading

    rt = ServingRuntime(two_pipelines(), ServeConfig())
    rt.engines["main"].warmed_up.set()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert not rt.warmed_up and rt.wait_warm(stop) is False  # "fast" is not warm yet
    rt.engines["fast"].warmed_up.set()
    assert rt.wait_warm() is True


# ----------------------------------------------------------------------------------- sessions pick a model
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_session_streams_from_the_model_it_names_and_the_default_otherwise(two, transport):
    rt, url = two.runtime, two.url(transport)
    assert wait_until(lambda: idle(rt), 5)
    with sdk.Session(url, prompt="a green field", model="fast", timeout=30) as s:
        assert (s.info.model, s.info.frames_per_chunk, s.info.width, s.info.height) == ("fast", 1, 16, 16)
        frames = [f for _, f in zip(range(4), s.frames(timeout=30))]
        assert all(f.pixels.shape == (16, 16, 3) for f in frames)  # made by the fast model's decoder
        assert [f.chunk for f in frames] == [f.index for f in frames]  # one frame per chunk: the fast model's
        assert wait_until(lambda: (rt.engines["fast"].live_streams, rt.engines["main"].live_streams) == (1, 0), 5)
        with sdk.Session(url, prompt="a green field", timeout=30) as d:  # model "": the default
            assert (d.info.model, d.info.frames_per_chunk, d.info.width) == ("main", 2, 32)
            got = [f for _, f in zip(range(4), d.frames(timeout=30))]
            assert all(f.pixels.shape == (32, 32, 3) for f in got) and [f.chunk for f in got] == [0, 0, 1, 1]
            assert wait_until(lambda: (rt.engines["fast"].live_streams, rt.engines["main"].live_streams) == (1, 1), 5)
            assert wait_until(lambda: d.stats is not None and d.stats.sessions == 2, 5)  # all models' sessions
        with sdk.Session(url, prompt="a green field", model="main", timeout=30) as named:
            assert named.info.model == "main" and next(named.frames(timeout=30)).pixels.shape == (32, 32, 3)
    assert wait_until(lambda: idle(rt), 5)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unknown_model_is_refused_naming_the_served_ones_and_others_go_on(two, transport):
    rt, url = two.runtime, two.url(transport)
    with sdk.Session(url, prompt="a green field", model="fast", timeout=30) as s:
        frames = s.frames(timeout=30)
        next(frames)
        active = rt.manager.active_count
        with pytest.raises(InvalidArgumentError) as err:
            sdk.Session(url, prompt="a green field", model="slow", timeout=30)
        msg = str(err.value)
        assert "'slow'" in msg and "'main'" in msg and "'fast'" in msg and "settings.model" in msg, msg
        assert err.value.fatal
        assert rt.manager.active_count == active  # no session was created
        before = next(frames).index
        assert next(frames).index > before  # the fast session streams on
        assert rt.engines["fast"].live_streams == 1


def test_a_zmq_connection_refused_for_its_model_can_handshake_again(two):
    peer = RawZmq(two.zmq_url)
    try:
        peer.send(m.Handshake(client_name="raw", settings=m.SessionSettings(model="nope", prompt="x")))
        err = peer.recv()
        assert isinstance(err, m.Error) and err.code == m.INVALID_ARGUMENT and err.fatal and "'nope'" in err.message
        reply = peer.handshake(model="fast")
        assert reply.model == "fast" and reply.width == 16
        peer.send(m.Close(reason="done"))
    finally:
        peer.close()


def test_a_resumed_session_stays_on_its_model(two):
    rt = two.runtime
    conn = rt.connect()
    conn.handle(m.Handshake(settings=m.SessionSettings(model="fast", prompt="a green field")))
    first = reply_of(conn)
    assert isinstance(first, m.HandshakeReply) and first.model == "fast"
    sess = conn.session
    assert sess.model_name == "fast" and sess.model is rt.models["fast"]
    assert wait_until(lambda: rt.engines["fast"].live_streams >= 1, 5)
    conn.disconnected()
    assert wait_until(lambda: rt.engines["fast"].live_streams == 0, 5)
    again = rt.connect()
    try:  # a resume's settings are not read again, not even another model
        again.handle(m.Handshake(resume_token=first.resume_token, settings=m.SessionSettings(model="main")))
        reply = reply_of(again)
        assert isinstance(reply, m.HandshakeReply) and reply.resumed and reply.session_id == first.session_id
        assert (reply.model, reply.frames_per_chunk, reply.width) == ("fast", 1, 16)
        assert wait_until(lambda: rt.engines["fast"].live_streams == 1 and rt.engines["main"].live_streams == 0, 5)
    finally:
        again.handle(m.Close())


def test_a_sessions_prompt_map_is_parsed_at_its_models_chunk_rate(two):
    text = 'base = "a field"\n[events.flash]\nprompt = "a flash"\nduration_seconds = 0.5\n'
    chunks = {}
    for model in ("main", "fast"):
        conn = two.runtime.connect()
        try:
            conn.handle(m.Handshake(settings=m.SessionSettings(model=model, prompt_map=text)))
            assert isinstance(reply_of(conn), m.HandshakeReply)
            chunks[model] = conn.session.prompt_map.rules["flash"].duration_chunks
        finally:
            conn.handle(m.Close())
    assert chunks == {"main": 4, "fast": 8}  # 0.5 s at 16 FPS: 8 frames = 4 chunks of 2, or 8 chunks of 1


def test_events_are_encoded_by_the_sessions_model(two):
    rt = two.runtime
    seen: dict[str, list[str]] = {"main": [], "fast": []}
    encoders = {name: rt.pipelines[name].text_encoder for name in seen}
    for name, enc in encoders.items():
        real = enc.encode_one

        def spy(text, _real=real, _name=name):
            seen[_name].append(text)
            return _real(text)

        enc.encode_one = spy
    try:
        with sdk.Session(two.zmq_url, prompt_map=PROMPT_MAP, model="fast", timeout=30) as s:
            ack = s.push_event("boss", {"color": "mauve"})
            assert ack.prompt == "a mauve boss in the field"
            s.set_prompt("a mauve sky")  # the base prompt (the boss overlay still decides the prompt)
    finally:
        for enc in encoders.values():
            del enc.encode_one
    assert "a mauve boss in the field" in seen["fast"] and "a mauve sky" in seen["fast"]
    assert not [t for t in seen["main"] if "mauve" in t]  # the default model's encoder never saw them


def test_source_frames_are_checked_against_the_sessions_model(two):
    rt = two.runtime
    assert rt.engines["fast"].v2v  # the tiny autoencoder encodes
    conn = rt.connect()
    try:
        conn.handle(m.Handshake(capabilities=m.Capabilities(v2v=True),
                                settings=m.SessionSettings(model="fast", prompt="a field")))
        reply = reply_of(conn)
        assert isinstance(reply, m.HandshakeReply) and reply.v2v and reply.model == "fast"
        big = np.zeros((32, 32, 3), np.uint8).tobytes()
        conn.handle(m.SourceFrame(frame_index=0, width=32, height=32, pixels=big))
        errs = [x for x in conn.outbox.take() if isinstance(x, m.Error)]
        assert errs and errs[0].code == m.INVALID_ARGUMENT and "takes 16x16" in errs[0].message, errs
        small = np.zeros((16, 16, 3), np.uint8).tobytes()
        conn.handle(m.SourceFrame(frame_index=1, width=16, height=16, pixels=small))
        assert not [x for x in conn.outbox.take() if isinstance(x, m.Error)]
        assert conn.session.source.received == 1
    finally:
        conn.handle(m.Close())


def test_an_engine_failure_ends_only_its_models_sessions(two):
    rt = two.runtime
    on_fast, on_main = rt.connect(), rt.connect()
    try:
        on_fast.handle(m.Handshake(settings=m.SessionSettings(model="fast", prompt="a field")))
        on_main.handle(m.Handshake(settings=m.SessionSettings(prompt="a field")))
        assert isinstance(reply_of(on_fast), m.HandshakeReply) and isinstance(reply_of(on_main), m.HandshakeReply)
        rt.engines["fast"].on_failure(RuntimeError("boom"))  # what the fast engine's DiT thread calls on a bug
        got = on_fast.outbox.take()
        errs = [x for x in got if isinstance(x, m.Error)]
        assert errs and errs[0].code == m.INTERNAL and "model 'fast'" in errs[0].message and "boom" in errs[0].message
        assert any(isinstance(x, m.Closed) and x.code == "error" for x in got) and on_fast.session is None
        assert on_main.session is not None
        assert not [x for x in on_main.outbox.take() if isinstance(x, (m.Error, m.Closed))]
    finally:
        on_main.handle(m.Close())


# ----------------------------------------------------------------------------------- ListModels and GetInfo
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_list_models_and_get_info_list_every_model(two, transport):
    t = open_transport(two.url(transport))
    t.open(10)
    try:
        listed = t.request(m.ListModels(), 10)
        info = t.request(m.GetInfo(), 10)
    finally:
        t.close()
    assert isinstance(listed, m.ModelList) and [x.name for x in listed.models] == ["main", "fast"]
    assert [(x.width, x.buffer_frames, x.frames_per_chunk) for x in listed.models] == [(32, 8, 2), (16, 4, 1)]
    assert [x.name for x in info.models] == ["main", "fast"]


def test_list_models_on_a_connection(two):
    conn = two.runtime.connect()
    try:
        conn.handle(m.ListModels())
        (reply,) = conn.outbox.take()
        assert isinstance(reply, m.ModelList) and [x.name for x in reply.models] == ["main", "fast"]
    finally:
        conn.disconnected()


def test_local_sessions_pick_a_model_too(two):
    local.install(two.runtime)
    try:
        with sdk.Session("local://", prompt="a field", model="fast", timeout=30) as s:
            assert s.info.model == "fast" and next(s.frames(timeout=30)).pixels.shape == (16, 16, 3)
            t = open_transport("local://")
            t.open(10)
            assert [x.name for x in t.request(m.ListModels(), 10).models] == ["main", "fast"]
            t.close()
    finally:
        local.install(None)


# ----------------------------------------------------------------------------------- the SDK and tools
def test_session_model_must_be_a_name():
    with pytest.raises(ConfigError, match="model must be a model name"):
        sdk.Session("zmq://127.0.0.1:1", model=3)


def test_record_stream_streams_from_the_model_it_names(two):
    from runtime.evaluation.streamed import record_stream

    local.install(two.runtime)
    try:
        for model, side in (("fast", 16), ("main", 32), ("", 32)):
            st = record_stream("local://", [("night", {})], frames=4, every_s=0.1, prompt_map=PROMPT_MAP,
                               timeout=30, model=model)
            assert st.frames.shape[1:3] == (side, side), model
        with pytest.raises(InvalidArgumentError, match="fast"):
            record_stream("local://", [("night", {})], frames=4, every_s=0.1, prompt_map=PROMPT_MAP, timeout=30,
                          model="nope")
    finally:
        local.install(None)


def test_the_latency_benchmark_measures_the_model_it_names(monkeypatch):
    spec = importlib.util.spec_from_file_location("latency_bench", ROOT / "benchmarks" / "latency.py")
    latency = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(latency)
    import runtime.evaluation.streamed as streamed

    seen = []

    class Stop(Exception):
        pass

    def fake_record_stream(url, schedule, **kw):
        seen.append(kw.get("model"))
        raise Stop

    monkeypatch.setattr(streamed, "record_stream", fake_record_stream)
    with pytest.raises(Stop):
        latency.run_client("local://", 2, 3.0, "data", "clf", 16, model="fast")
    assert seen == ["fast"]


def test_cutscene_and_demo_pass_model_on(monkeypatch, tmp_path):
    import runtime.crafter_demo
    import runtime.cutscene
    from runtime.cli import app

    calls = {}
    monkeypatch.setattr(runtime.cutscene, "render_cutscene", lambda *a, **kw: calls.setdefault("cutscene", kw))
    monkeypatch.setattr(runtime.cutscene, "load_cutscene", lambda path: None)
    r = CliRunner().invoke(app, ["cutscene", "x.toml", "--url", "zmq://127.0.0.1:1", "--model", "fast"])
    assert r.exit_code == 0, r.output
    assert calls["cutscene"]["model"] == "fast"

    def run_demo(**kw):
        calls["demo"] = kw
        raise SystemExit(0)

    monkeypatch.setattr(runtime.crafter_demo, "run_demo", run_demo)
    CliRunner().invoke(app, ["demo", "--url", "zmq://127.0.0.1:1", "--model", "fast"])
    assert calls["demo"]["model"] == "fast"


# ----------------------------------------------------------------------------------- streamdit serve --model
def test_parse_model_options():
    assert parse_model_options([], "default") == []
    assert parse_model_options(["fast=runs/s/checkpoint", "t=teacher"], "default") == [
        ("fast", "runs/s/checkpoint"), ("t", "teacher")]
    assert parse_model_options(["a=b=c"], "default") == [("a", "b=c")]  # the first '=' splits
    for values, match in [(["fast"], "has no '='.*NAME=DIR"), (["=runs/x"], "empty NAME"),
                          ([" fast=x"], "surrounding whitespace"), (["fast="], "empty DIR"),
                          (["a=x", "a=y"], "'a' is given twice"),
                          (["default=x"], "already the name of the --checkpoint model")]:
        with pytest.raises(ConfigError, match=match):
            parse_model_options(values, "default")


def test_describe_models_gives_size_fps_and_buffer():
    rt = ServingRuntime(two_pipelines(), ServeConfig())
    line = describe_models(rt.models.values())
    assert line == ("main (32x32 px, 16 FPS, 2 frames per chunk, buffer 8 latent frames, the default), "
                    "fast (16x16 px, 16 FPS, 1 frames per chunk, buffer 4 latent frames)")


@pytest.mark.parametrize("args, match", [
    (["--model", "fast"], "has no '='"),
    (["--model", "=x"], "empty NAME"),
    (["--model", "tiny=x"], "already the name of the --checkpoint model"),
    (["--model", "a=toy", "--model", "a=toy"], "given twice"),
    (["--model", "fast=/no/such/checkpoint"], "neither a directory nor a shipped name"),
])
def test_serve_refuses_a_bad_model_before_anything_loads(tmp_path, monkeypatch, args, match):
    import runtime.backends.select

    def no_load(*a, **kw):
        raise AssertionError("a checkpoint was loaded before --model was checked")

    monkeypatch.setattr(runtime.backends.select, "load_pipeline", no_load)
    from runtime.cli import app

    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    r = CliRunner().invoke(app, ["serve", "--checkpoint", str(ckpt), "--grpc-port", "0", "--zmq-port", "0", *args])
    assert r.exit_code == 2, (r.output, r.exception)
    assert re.search(match, " ".join(r.output.split())), r.output


def test_serve_two_checkpoints_and_sessions_pick_one(tmp_path):
    main = save_tiny_checkpoint(tmp_path / "tiny", **MAIN)
    fast = save_tiny_checkpoint(tmp_path / "student", **FAST)
    proc, grpc_at, zmq_at, line = start_serve("--checkpoint", str(main), "--model", f"fast={fast}",
                                              env={"OMP_NUM_THREADS": "1", "STREAMDIT_COMPILE": "off"})
    try:
        assert line.startswith("serving tiny (32x32 px, 16 FPS, 2 frames per chunk, buffer 8 latent frames, the "
                               "default), fast (16x16 px, 16 FPS, 1 frames per chunk, buffer 4 latent frames) at "), line
        with sdk.Session(f"zmq://{zmq_at}", prompt="a red square", model="fast", timeout=30) as s:
            assert s.info.model == "fast" and next(s.frames(timeout=30)).pixels.shape == (16, 16, 3)
            assert [x.name for x in s.runtime_info().models] == ["tiny", "fast"]
        with sdk.Session(f"grpc://{grpc_at}", prompt="a red square", timeout=30) as s:
            assert s.info.model == "tiny" and next(s.frames(timeout=30)).pixels.shape == (32, 32, 3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_adds_the_shipped_low_latency_student_only_beside_the_shipped_default(monkeypatch):
    """`streamdit serve` with no --checkpoint also serves runtime/checkpoints/low_latency as 'low_latency'; an
    explicit --checkpoint, --no-low-latency, a --model that took the name, or a checkout without it, do not."""
    import runtime.checkpoints
    from runtime.commands.serve import companion_models

    monkeypatch.setattr(runtime.checkpoints, "available", lambda: ["default", "low_latency", "toy"])
    assert companion_models(None, True, []) == [("low_latency", "low_latency")]
    assert companion_models(None, True, ["fast"]) == [("low_latency", "low_latency")]
    assert companion_models("default", True, []) == []
    assert companion_models(None, False, []) == []
    assert companion_models(None, True, ["low_latency"]) == []
    monkeypatch.setattr(runtime.checkpoints, "available", lambda: ["default", "toy"])
    assert companion_models(None, True, []) == []


def test_engines_warm_up_one_at_a_time():
    """Two engines never run their warm-up (where torch.compile runs) at once: compiling from two threads
    together hung `streamdit serve` serving default and low_latency (runtime.serving.engine.MODEL_LOCK)."""
    import threading
    import time

    running, peak, lock = [0], [0], threading.Lock()

    def slow_warm_up() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1

    rt = ServingRuntime({"a": tiny_pipeline(), "b": tiny_pipeline()}, ServeConfig(compile="off"))
    for engine in rt.engines.values():
        engine._warm_up = slow_warm_up
    try:
        rt.start()
        assert rt.wait_warm()
    finally:
        rt.shutdown()
    assert peak[0] == 1 and running[0] == 0

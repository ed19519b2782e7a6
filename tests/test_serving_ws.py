"""The WebSocket transport (docs/protocol.md section 10): the SDK's ws:// sessions (sync and asyncio) behind the
same session manager, credits, limits and auth token as gRPC and ZeroMQ; the viewer's port refuses foreign
browser origins and host names; `streamdit serve --web-port` serves it."""

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sdk
from runtime.testing import save_tiny_checkpoint
from sdk.errors import AuthError, ConfigError
from sdk.protocol import messages as m
from serving_helpers import PROMPT_MAP, served
from ws_helpers import RawWs, raw_exchange, upgrade_request

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def srv():
    with served(prompt_map=PROMPT_MAP) as s:
        port = s.runtime.serve_ws("127.0.0.1", 0)
        yield s, port


def ws_url(port):
    return f"ws://127.0.0.1:{port}/v1/session"


def test_a_ws_session_streams_and_echoes_its_event(srv):
    s, port = srv
    with sdk.Session(ws_url(port), prompt="a red square", seed=3) as ses:
        assert ses.info.prompt_map == "runtime" and ses.info.width == 32
        frames = ses.frames(timeout=20)
        first = [f for _, f in zip(range(3), frames)]
        assert [f.event_id for f in first] == [0, 0, 0] and first[0].pixels.shape == (32, 32, 3)
        ack = ses.push_event("boss", {"color": "red"})
        assert ack.prompt == "a red boss in the field"
        echo = next(f for f in frames if f.event_id == ack.event_id)
        assert echo.chunk >= ack.chunk_index
        ack2 = ses.set_prompt("a quiet lake")
        assert ack2.event_id == ack.event_id + 1
        info = ses.runtime_info()
        assert ws_url(port) in info.transports


def test_an_async_ws_session(srv):
    _, port = srv

    async def run():
        async with sdk.AsyncSession(ws_url(port), prompt="a blue circle") as ses:
            ack = await ses.push_event("night")
            async for frame in ses.frames(timeout=20):
                if frame.event_id == ack.event_id:
                    return ack.prompt

    assert asyncio.run(run()) == "the field at night"


def test_the_url_path_may_be_left_out_but_not_be_another(srv):
    _, port = srv
    with sdk.Session(f"ws://127.0.0.1:{port}", prompt="x") as ses:
        assert ses.session_id
    with pytest.raises(ConfigError, match="/v1/session"):
        sdk.Session(f"ws://127.0.0.1:{port}/other", prompt="x")


def test_a_dropped_ws_connection_resumes_the_same_session(srv):
    _, port = srv
    with sdk.Session(ws_url(port), prompt="a red square") as ses:
        sid = ses.session_id
        last = next(ses.frames(timeout=20)).index
        ses.abort_connection()
        later = [f for _, f in zip(range(4), ses.frames(timeout=20))]
        assert ses.reconnects == 1 and ses.session_id == sid
        assert later[-1].index > last


def test_a_zmq_session_resumes_over_ws(srv):
    s, port = srv
    with sdk.Session(s.zmq_url, prompt="a red square") as ses:
        token, sid = ses.info.resume_token, ses.session_id
        next(ses.frames(timeout=20))
        raw = RawWs(port)
        try:
            raw.send(m.Handshake(resume_token=token, settings=m.SessionSettings()))
            reply = raw.recv()
            assert isinstance(reply, m.HandshakeReply) and reply.resumed and reply.session_id == sid
        finally:
            raw.close()


def test_credits_bound_the_frames_in_flight(srv):
    _, port = srv
    raw = RawWs(port)
    try:
        raw.send(m.Handshake(capabilities=m.Capabilities(credits=2), settings=m.SessionSettings(prompt="a")))
        assert isinstance(raw.recv(), m.HandshakeReply)
        frames = []
        with pytest.raises(AssertionError, match="no message"):
            while True:  # no credit goes back: two frames, then nothing
                msg = raw.recv(timeout=2.0, skip=(m.Stats,), credit=False)
                frames.append(msg)
        assert len([f for f in frames if isinstance(f, m.Frame)]) == 2
        raw.send(m.Credit(n=1))
        assert isinstance(raw.recv(timeout=10.0, skip=(m.Stats,), credit=False), m.Frame)
    finally:
        raw.close()


def test_after_closed_the_runtime_closes_the_websocket(srv):
    _, port = srv
    raw = RawWs(port)
    raw.handshake()
    raw.send(m.Close(reason="bye"))
    assert isinstance(raw.recv(skip=(m.Frame, m.Stats, m.EventAck)), m.Closed)
    assert raw.closed_with()[0] == 1000


def test_auth_token_on_ws():
    with served(auth_token="right") as s:
        port = s.runtime.serve_ws("127.0.0.1", 0)
        with pytest.raises(AuthError):
            sdk.Session(ws_url(port), prompt="a")
        raw = RawWs(port)
        raw.send(m.Handshake(auth_token="wrong", settings=m.SessionSettings(prompt="a")))
        assert raw.recv().code == m.AUTH_FAILED
        assert raw.closed_with() == (1008, "auth_failed")  # a guess costs the connection
        with sdk.Session(ws_url(port), prompt="a", auth_token="right") as ses:
            assert next(ses.frames(timeout=20)).index == 0


def test_binding_beyond_loopback_needs_a_token():
    with served() as s:
        with pytest.raises(ConfigError, match="--auth-token"):
            s.runtime.serve_ws("0.0.0.0", 0)
    with served(auth_token="t") as s:
        port = s.runtime.serve_ws("0.0.0.0", 0)
        with sdk.Session(ws_url(port), prompt="a", auth_token="t") as ses:
            assert ses.session_id


def test_foreign_browser_origins_and_host_names_are_refused(srv):
    s, port = srv
    evil = raw_exchange(port, upgrade_request(port, extra="Origin: http://evil.example\r\n"))
    assert evil.startswith(b"HTTP/1.1 403") and b"--web-origin http://evil.example" in evil
    own = raw_exchange(port, upgrade_request(port, extra=f"Origin: http://127.0.0.1:{port}\r\n"), timeout=1.0)
    assert own.startswith(b"HTTP/1.1 101")
    rebound = raw_exchange(port, upgrade_request(port).replace(b"Host: 127.0.0.1", b"Host: evil.example"))
    assert rebound.startswith(b"HTTP/1.1 421") and b"does not answer to the host name" in rebound


def test_an_allowed_origin_is_served():
    with served() as s:
        port = s.runtime.serve_ws("127.0.0.1", 0, origins=("http://127.0.0.1:8060",))
        ok = raw_exchange(port, upgrade_request(port, extra="Origin: http://127.0.0.1:8060\r\n"), timeout=1.0)
        assert ok.startswith(b"HTTP/1.1 101")


def test_the_viewer_page_and_its_files_are_served_and_nothing_else(srv):
    _, port = srv
    page = raw_exchange(port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert page.startswith(b"HTTP/1.1 200") and b"text/html" in page and b"session.js" in page
    js = raw_exchange(port, f"GET /vendor/msgpack.min.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert js.startswith(b"HTTP/1.1 200") and b"text/javascript" in js
    for path in ("/../server.py", "/web_tools.py", "/vendor/../../session.py", "/nope.html"):
        r = raw_exchange(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert r.startswith(b"HTTP/1.1 404"), (path, r[:80])


def test_serve_web_port_serves_ws(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    exe = Path(sys.executable).with_name("streamdit")
    exe = exe if exe.exists() else Path(shutil.which("streamdit") or "streamdit")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STREAMDIT_COMPILE": "off"}
    proc = subprocess.Popen([str(exe), "serve", "--checkpoint", str(ckpt), "--grpc-port", "0", "--zmq-port", "0",
                             "--web-port", "0", "--log-level", "warning"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"grpc://\S+ and zmq://\S+; (ws://\S+/v1/session), viewer (http://\S+/);", line)
        assert found, (line, proc.poll() is not None and proc.stderr.read())
        with sdk.Session(found[1], prompt="a red square", timeout=30) as ses:
            assert ses.info.model == "tiny" and next(ses.frames(timeout=30)).pixels.shape == (32, 32, 3)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

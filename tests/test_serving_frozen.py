"""Issue 18, defect 1: a frozen client holds no session. gRPC keepalive pings find a stopped client (TCP still
open) within seconds, as ZeroMQ heartbeats do; a client that neither reads nor credits is released after the
idle timeout; either way the session stays resumable."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from raw_grpc import raw_peer
from sdk.protocol import messages as m
from serving_helpers import PROMPT_MAP, served, wait_until

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(180)
TRANSPORTS = ["grpc", "zmq"]

CLIENT = textwrap.dedent("""
    import sys
    import sdk
    s = sdk.Session(sys.argv[1], prompt="a red square", timeout=30, reconnect_timeout=30)
    frames = s.frames(timeout=60)
    next(frames)
    print("ready", flush=True)
    for f in frames:
        if s.reconnects:
            print("resumed", s.info.resumed, s.info.session_id, flush=True)
            break
    s.close()
""")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stopped_client_is_released_and_resumes_when_it_continues(transport, tmp_path):
    with served(idle_timeout_s=60.0) as srv:  # only keepalive (gRPC) / heartbeats (ZeroMQ) can release it here
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, str(script), srv.url(transport)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.poll() is not None else ""
            assert srv.runtime.manager.active_count == 1
            os.kill(proc.pid, signal.SIGSTOP)  # frozen: the TCP connection stays open, nothing answers
            # keepalive pings / ZMTP heartbeats: about 4 s (1 s interval, 3 s timeout)
            assert wait_until(lambda: srv.runtime.manager.active_count == 0, 30.0), "a frozen client holds its session"
            os.kill(proc.pid, signal.SIGCONT)
            line = proc.stdout.readline().split()
            assert line[:2] == ["resumed", "True"], (line, proc.stderr.read())
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_neither_reads_nor_credits_is_released_resumable(transport):
    with served(idle_timeout_s=1.0) as srv:
        idle = raw_peer(transport, srv)
        reply = idle.handshake()  # then it never sends credit: 4 frames, then frames wait
        try:
            assert wait_until(lambda: srv.runtime.manager.active_count == 0, 20.0)
            sess = srv.runtime.manager.sessions()[0]
            assert sess.state == "detached"  # resumable
            again = raw_peer(transport, srv)
            try:
                again.send(m.Handshake(resume_token=reply.resume_token, settings=m.SessionSettings(prompt="a")))
                back = again.recv(timeout=10)
                assert isinstance(back, m.HandshakeReply) and back.resumed and back.session_id == reply.session_id
            finally:
                again.close()
        finally:
            idle.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_only_floods_events_without_reading_counts_as_idle(transport):
    """Messages other than credit do not keep a non-reading session alive (an event flood holds no stream)."""
    with served(idle_timeout_s=1.0, max_events_per_second=100.0) as srv:
        peer = raw_peer(transport, srv)
        try:
            peer.handshake(prompt_map=PROMPT_MAP)
            deadline, eid = time.monotonic() + 20.0, 0
            while srv.runtime.manager.active_count and time.monotonic() < deadline:
                eid += 1
                peer.send(m.Event(event_id=eid, event_type="night"))
                time.sleep(0.1)
            assert srv.runtime.manager.active_count == 0
        finally:
            peer.close()

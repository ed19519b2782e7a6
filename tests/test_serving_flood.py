"""Issue 18, defect 11: one client's flood costs the others little. Each connection's input beyond
max_messages_per_second is dropped before it is decoded (the client hears once a second how many), and each
connection opens at most max_handshakes_per_second sessions. The counts below are bounded by the rate times the
time the test itself measured, so a slow machine loosens the bound instead of failing it."""

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sdk
import grpc

from raw_grpc import RawGrpc, raw_peer
from sdk.protocol import messages as m
from serving_helpers import RawZmq, served

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[1]
RATE = 50.0


def drain(peer, seconds):
    """Every non-frame message that arrives within `seconds`."""
    out, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(peer.recv(timeout=left))
        except AssertionError:
            break
    return out


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_a_flood_is_dropped_unread_beyond_the_connection_rate(transport, caplog):
    """gRPC: the excess is dropped unread and the stream is then not read for a while (HTTP/2 flow control
    holds the flood in the client); ZeroMQ: a connection that keeps flooding is closed."""
    with served(max_messages_per_second=RATE) as srv, caplog.at_level(logging.INFO, logger="streamdit.serving"):
        bystander = sdk.Session(srv.zmq_url if transport == "grpc" else srv.grpc_url, prompt="a bystander")
        flood = raw_peer(transport, srv)
        try:
            t0 = time.monotonic()
            bad = [os.urandom(40)] if transport == "zmq" else m.Credit(n=1)  # bad_message / no_session each
            for _ in range(2000):
                flood.send(bad)
            got = drain(flood, 3.0)
            elapsed = time.monotonic() - t0
            answered = [x for x in got if isinstance(x, m.Error) and x.code in (m.BAD_MESSAGE, m.NO_SESSION)]
            notices = [x for x in got if isinstance(x, m.Error) and x.code == m.RATE_LIMITED]
            assert len(answered) <= RATE * (1 + elapsed) + 1, (len(answered), elapsed)  # burst + rate x time
            if transport == "grpc":
                assert notices and "dropped unread" in notices[0].message
                assert len(notices) <= elapsed + 2  # the notices themselves are at most one a second
            else:
                assert any("kept flooding" in r.getMessage() for r in caplog.records), caplog.text
            frames = [f for _, f in zip(range(3), bystander.frames(timeout=10))]
            assert len(frames) == 3 and not bystander.closed
        finally:
            flood.close()
            bystander.close()


@pytest.mark.parametrize("transport", ["grpc", "zmq"])
def test_handshake_churn_is_limited_per_connection(transport):
    """ZeroMQ: handshake, close, handshake ... on one DEALER; gRPC: one Session stream after another on one
    HTTP/2 connection. Both are one link, whose handshake allowance is 2 a second (a burst of 4)."""
    with served(max_handshakes_per_second=2.0) as srv:
        channel = grpc.insecure_channel(srv.grpc_url.removeprefix("grpc://"))
        zmq_peer = RawZmq(srv.zmq_url)
        try:
            t0 = time.monotonic()
            opened = refused = 0
            for _ in range(12):
                peer = RawGrpc(srv.grpc_url, channel) if transport == "grpc" else zmq_peer
                peer.send(m.Handshake(settings=m.SessionSettings(prompt="churn")))
                reply = peer.recv(timeout=10)
                if isinstance(reply, m.HandshakeReply):
                    opened += 1
                    peer.send(m.Close())
                    assert isinstance(peer.recv(timeout=10), m.Closed)
                else:
                    assert reply.code == m.RATE_LIMITED and reply.fatal, reply
                    refused += 1
                if peer is not zmq_peer:
                    peer.close()
            elapsed = time.monotonic() - t0
            assert refused >= 1 and opened <= 4 + 2.0 * elapsed, (opened, refused, elapsed)
        finally:
            zmq_peer.close()
            channel.close()


CRASH = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from serving_helpers import RawZmq, served
    from sdk.protocol import messages as m
    with served() as srv:
        encode = srv.runtime.warm_prompt
        def slow(text):  # holds the ZeroMQ socket thread, as a slow handshake or a busy CPU would
            if text == "hold":
                time.sleep(3.0)
            encode(text)
        srv.runtime.warm_prompt = slow
        holder = RawZmq(srv.zmq_url)
        holder.handshake()
        holder.send(m.SetPrompt(event_id=1, text="hold"))
        time.sleep(0.2)
        flood = RawZmq(srv.zmq_url)
        for _ in range(20000):
            flood.send([os.urandom(40)])
        time.sleep(0.3)
        flood.close()  # the flooder leaves while its messages wait
        time.sleep(4.0)
        RawZmq(srv.zmq_url).handshake()
        print("alive", flush=True)
""")


def test_a_flood_while_the_server_is_busy_cannot_abort_it(tmp_path):
    """libzmq aborts the process when a peer's inbound queue is full (RCVHWM) and that peer then drops its
    connection while heartbeats run (zeromq/libzmq#4364). The ZeroMQ server sets no inbound limit, so a flood
    during a busy moment, followed by a disconnect, is survived."""
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STREAMDIT_COMPILE": "off", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(script), str(ROOT / "tests")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "alive" in out.stdout, (out.returncode, out.stderr[-1000:])


def test_every_frame_sent_earns_the_credit_that_answers_it():
    """A client that answers each frame with a credit is never rate-limited, whatever the frame rate: each
    frame the connection was sent adds one message to its input allowance (docs/protocol.md section 7)."""
    from types import SimpleNamespace

    from runtime.serving.config import ServeConfig
    from runtime.serving.connection import Connection

    quiet = SimpleNamespace(warning=lambda *a: None)
    conn = Connection(SimpleNamespace(config=ServeConfig(max_messages_per_second=2), throttled=quiet), "zmq")
    assert conn.admit() and conn.admit()  # the burst
    assert not conn.admit()  # the allowance is spent: a third message in the same instant is dropped
    for _ in range(50):  # 50 frames go out in a burst (a 1000 FPS stream): 50 credits answer them
        conn.outbox.frames_sent += 1
        assert conn.admit()
    assert not conn.admit()  # and not one more

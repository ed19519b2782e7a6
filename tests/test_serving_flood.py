"""Issue 18, defect 11: one client's flood costs the others little. Each connection's input beyond
max_messages_per_second is dropped before it is decoded (the client hears once a second how many), and each
connection opens at most max_handshakes_per_second sessions. The counts below are bounded by the rate times the
time the test itself measured, so a slow machine loosens the bound instead of failing it."""

import os
import time

import pytest

import sdk
import grpc

from raw_grpc import RawGrpc, raw_peer
from sdk.protocol import messages as m
from serving_helpers import RawZmq, served

pytestmark = pytest.mark.timeout(120)
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
def test_a_flood_is_dropped_unread_beyond_the_connection_rate(transport):
    with served(max_messages_per_second=RATE) as srv:
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
            assert notices and "dropped unread" in notices[0].message
            assert len(notices) <= elapsed + 2  # the notices themselves are at most one a second
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

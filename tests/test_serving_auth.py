"""Issue 18, defect 7: brute-force resistance. A failed auth costs the guesser its connection (gRPC: the
stream ends UNAUTHENTICATED; ZeroMQ: nothing more is read from that connection), and after a few failures
every credential check of that peer address waits its turn, spaced by a delay that doubles up to 2 s. A client
with the right token is slowed, never locked out."""

import grpc
import pytest

import sdk
from raw_grpc import RawGrpc
from sdk.errors import AuthError, RateLimitError
from sdk.protocol import messages as m
from serving_helpers import RawZmq, served

pytestmark = pytest.mark.timeout(120)


def wrong(token="wrong"):
    return m.Handshake(auth_token=token, settings=m.SessionSettings(prompt="a"))


def test_a_zmq_connection_that_failed_auth_is_not_answered_again():
    with served(auth_token="right") as srv:
        z = RawZmq(srv.zmq_url)
        try:
            z.send(wrong())
            err = z.recv()
            assert err.code == m.AUTH_FAILED and err.fatal
            for token in ("wrong2", "right"):  # neither a new guess nor the right token on this connection
                z.send(wrong(token))
                with pytest.raises(AssertionError, match="no message"):
                    z.recv(timeout=1.5)
        finally:
            z.close()
        with sdk.Session(srv.zmq_url, prompt="a", auth_token="right") as s:  # a new connection is served
            assert s.session_id


def test_a_grpc_stream_that_failed_auth_ends_unauthenticated():
    with served(auth_token="right") as srv:
        peer = RawGrpc(srv.grpc_url)
        try:
            peer.send(wrong())
            assert peer.recv().code == m.AUTH_FAILED
            assert peer.ended() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            peer.close()


def test_repeated_failures_space_the_checks_of_that_peer():
    from runtime.serving import guard

    g = guard.AuthGuard()
    for _ in range(guard.FREE_FAILURES):
        assert g.reserve("10.0.0.1") == 0.0
        g.failed("10.0.0.1")
    delays = []
    for _ in range(8):
        delays.append(g.reserve("10.0.0.1"))
        g.failed("10.0.0.1")
    gaps = [b - a for a, b in zip(delays, delays[1:])]
    assert delays[0] == 0.0 and all(d > 0 for d in delays[1:])  # checks now queue up behind each other
    assert all(gap > 0 for gap in gaps) and max(gaps) <= guard.MAX_DELAY_S + 1e-3
    assert gaps[-1] == pytest.approx(guard.MAX_DELAY_S, abs=1e-3)  # the spacing doubled up to its cap
    assert g.reserve("10.0.0.2") == 0.0  # another peer is not slowed
    with pytest.raises(RateLimitError):
        for _ in range(guard.MAX_WAITING + 1):
            g.reserve("10.0.0.1")


def test_the_right_token_is_still_accepted_after_failures_from_the_same_peer():
    with served(auth_token="right") as srv:
        for url in (srv.grpc_url, srv.zmq_url) * 2:  # > FREE_FAILURES from 127.0.0.1
            with pytest.raises(AuthError):
                sdk.Session(url, prompt="a", auth_token="wrong", reconnect=False, timeout=20)
        for url in (srv.grpc_url, srv.zmq_url):
            with sdk.Session(url, prompt="a", auth_token="right", timeout=20) as s:
                assert next(s.frames(timeout=20)).pixels.shape == (32, 32, 3)

"""Bad input on the WebSocket port: garbage frames, requests that are not WebSocket, oversized messages, a
client that never reads, a flood. Each is refused clearly (an Error message, an HTTP status with a reason, or a
WebSocket close code with a reason) and the other sessions, on WebSocket and ZeroMQ, keep streaming."""

import os
import socket
import time

import msgpack
import pytest

import sdk
from sdk.protocol import messages as m
from serving_helpers import served, wait_until
from ws_helpers import RawWs, masked_frame, raw_exchange, upgrade_request

pytestmark = pytest.mark.timeout(150)
LIMIT = 4096


@pytest.fixture(scope="module")
def srv():
    with served(max_message_bytes=LIMIT) as s:
        port = s.runtime.serve_ws("127.0.0.1", 0)
        yield s, port


@pytest.fixture(scope="module")
def bystanders(srv):
    s, port = srv
    a = sdk.Session(f"ws://127.0.0.1:{port}/v1/session", prompt="a red square", seed=1)
    b = sdk.Session(s.zmq_url, prompt="a blue circle", seed=2)
    yield a, b
    a.close()
    b.close()


def still_streaming(bystanders):
    for s in bystanders:
        frames = [f for _, f in zip(range(3), s.frames(timeout=10))]
        assert len(frames) == 3 and not s.closed


@pytest.fixture
def raw(srv):
    r = RawWs(srv[1])
    yield r
    r.close()


@pytest.mark.parametrize("payload", [
    pytest.param(os.urandom(200), id="random-bytes"),
    pytest.param(b"\x82\xa4type\xa5event\xa8event_id", id="truncated-msgpack"),
    pytest.param(b"\xc1\xc1\xc1", id="never-used-byte"),
    pytest.param(msgpack.packb([1, 2, 3]), id="array-not-map"),
    pytest.param(msgpack.packb({"type": "warp"}), id="unknown-type"),
    pytest.param(msgpack.packb({"type": "event", "event_id": "x", "event_type": "night"}), id="ill-typed"),
    pytest.param("a text message", id="text-not-binary"),
])
def test_garbage_messages_get_bad_message_and_the_connection_goes_on(srv, bystanders, raw, payload):
    raw.send(payload)
    err = raw.recv()
    assert isinstance(err, m.Error) and err.code == m.BAD_MESSAGE and not err.fatal and err.message
    raw.handshake()  # the same connection can still start a session
    still_streaming(bystanders)


def test_source_frame_pixels_of_the_wrong_size_are_bad_message(srv, bystanders, raw):
    raw.handshake()
    raw.send(msgpack.packb({"type": "source_frame", "frame_index": 0, "width": 4, "height": 4,
                            "pixel_format": "rgb8"}))
    raw.send(b"\x00" * 5)  # the pixels message: 5 bytes, not 4 * 4 * 3
    err = raw.recv(skip=(m.Frame, m.Stats, m.EventAck))
    assert err.code == m.BAD_MESSAGE and "48" in err.message
    still_streaming(bystanders)


@pytest.mark.parametrize("frame", [
    pytest.param(masked_frame(0x3, b"x"), id="reserved-opcode"),
    pytest.param(bytes([0x82, 0x05]) + b"hello", id="unmasked-client-frame"),
    pytest.param(masked_frame(0x9, b"p" * 200), id="oversized-ping"),
    pytest.param(masked_frame(0x1, b"\xff\xfe"), id="text-not-utf8"),
])
def test_broken_websocket_framing_closes_that_connection_with_a_reason(srv, bystanders, frame):
    _, port = srv
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(5)
        s.sendall(upgrade_request(port))
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 101")
        s.sendall(frame)
        answer = b""
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    # a close frame (opcode 8): code 1002 protocol error or 1007 invalid data, and a reason
    assert answer[:1] == b"\x88", answer
    code = int.from_bytes(answer[2:4], "big")
    assert code in (1002, 1007) and len(answer) > 4, answer
    still_streaming(bystanders)


@pytest.mark.parametrize("request_bytes,status,says", [
    pytest.param(b"GET /v1/session HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n", b"426", b"speaks WebSocket only",
                 id="plain-get-of-the-endpoint"),
    pytest.param(b"POST /v1/session HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nContent-Length: 2\r\n\r\n{}", b"405",
                 b"HTTP/1.1 GET only", id="post"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, b"400", b"not an HTTP/1.1 request",
                 id="tls-hello"),
    pytest.param(b"hello there\n", b"400", b"not an HTTP/1.1 request", id="not-http"),
    pytest.param(b"GET /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", b"404",
                 b"/v1/session", id="unknown-websocket-path"),
    pytest.param(b"GET /v1/session HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"\r\n", b"400", b"Sec-WebSocket-Key", id="upgrade-without-key"),
    pytest.param(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", b"414", b"expected no more than 8192 bytes",
                 id="request-line-too-long"),
])
def test_requests_that_are_not_websocket_are_answered_with_a_status_and_a_reason(srv, bystanders, request_bytes,
                                                                                 status, says):
    _, port = srv
    answer = raw_exchange(port, request_bytes.replace(b"PORT", str(port).encode()))
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert says in answer, answer[:400]
    still_streaming(bystanders)


def test_a_message_above_the_limit_is_refused_and_ignored(srv, bystanders, raw):
    raw.handshake()
    raw.send(m.Event(event_id=1, event_type="night", payload={"pad": "x" * (2 * LIMIT)}))
    err = raw.recv(skip=(m.Frame, m.Stats, m.EventAck))
    assert err.code == m.MESSAGE_TOO_LARGE and not err.fatal and str(LIMIT) in err.message
    raw.send(m.Credit(n=1))  # the connection goes on
    assert isinstance(raw.recv(skip=(m.Stats,)), m.Frame)
    still_streaming(bystanders)


def test_a_message_far_above_the_limit_closes_that_connection_1009(srv, bystanders, raw):
    raw.handshake()
    raw.send(b"\x00" * (16 * LIMIT + 1))  # beyond the hard memory guard: never buffered
    code, reason = raw.closed_with()
    assert code == 1009 and reason
    still_streaming(bystanders)


def test_a_client_that_never_reads_is_cut_off_and_the_others_stream(srv, bystanders):
    s, port = srv
    before = s.runtime.manager.active_count
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(upgrade_request(port))
        time.sleep(0.3)
        hs = msgpack.packb({"type": "handshake", "protocol_version": "1.0", "client_name": "never-reads",
                            "capabilities": {"credits": 64}, "settings": {"prompt": "a"}})
        sock.sendall(masked_frame(0x2, hs))
        for _ in range(40):  # credits, so the runtime would send without end; this client reads nothing
            sock.sendall(masked_frame(0x2, msgpack.packb({"type": "credit", "n": 64})))
        assert wait_until(lambda: s.runtime.manager.active_count == before + 1, 10)
        still_streaming(bystanders)
        # keepalive pings go unanswered: the runtime releases the session within about 4 s (ping 1 s, 3 s timeout)
        assert wait_until(lambda: s.runtime.manager.active_count == before, 20)
        still_streaming(bystanders)
    finally:
        sock.close()


def test_a_flood_is_dropped_unread_and_the_others_stream(srv, bystanders, raw):
    raw.handshake()
    credit = msgpack.packb({"type": "credit", "n": 0})
    for _ in range(2000):
        raw.send(credit)
    err = raw.recv(timeout=10, skip=(m.Frame, m.Stats, m.EventAck))
    assert err.code == m.RATE_LIMITED and "max_messages_per_second" in err.message
    still_streaming(bystanders)

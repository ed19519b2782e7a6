"""Issue 18, defect 4: gRPC speaks as clearly as ZeroMQ. A handshake without capabilities gets the documented
default (["rgb8"]); undecodable protobuf bytes get an Error and INVALID_ARGUMENT, not a silent OK; every fatal
error ends the stream with its matching status."""

import logging

import grpc
import pytest

import sdk
from raw_grpc import RawGrpc
from sdk.errors import SessionLimitError
from sdk.protocol import messages as m
from sdk.protocol.pb import runtime_pb2 as pb
from serving_helpers import RawZmq, served

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def srv():
    with served(max_sessions=3) as s:
        yield s


def bare_handshake() -> pb.ClientMessage:
    """A Handshake with a version and a prompt and nothing else: no capabilities field at all."""
    return pb.ClientMessage(handshake=pb.Handshake(protocol_version="1.0", settings=pb.SessionSettings(prompt="a")))


def test_a_handshake_without_capabilities_is_accepted_on_both_transports(srv):
    peer = RawGrpc(srv.grpc_url)
    try:
        peer.send(bare_handshake())
        assert isinstance(peer.recv(), m.HandshakeReply)
    finally:
        peer.close()
    z = RawZmq(srv.zmq_url)
    try:
        z.send({"type": "handshake", "protocol_version": "1.0", "settings": {"prompt": "a"},
                "capabilities": {"pixel_formats": []}})  # an empty list reads as the default, as over gRPC
        assert isinstance(z.recv(), m.HandshakeReply)
    finally:
        z.close()


def test_undecodable_bytes_mid_session_get_an_error_and_invalid_argument(srv):
    peer = RawGrpc(srv.grpc_url)
    try:
        peer.handshake()
        peer.send(b"\xff\xff\xff\xff garbage")
        err = peer.recv(timeout=10)
        assert isinstance(err, m.Error) and err.code == m.BAD_MESSAGE and err.fatal, err
        assert "ClientMessage" in err.message
        closed = peer.recv(timeout=10)
        assert isinstance(closed, m.Closed) and closed.code == "error"
        assert peer.ended() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        peer.close()


def test_undecodable_bytes_before_a_handshake_too(srv):
    peer = RawGrpc(srv.grpc_url)
    try:
        peer.send(b"\x0a\xff")
        err = peer.recv(timeout=10)
        assert isinstance(err, m.Error) and err.code == m.BAD_MESSAGE
        assert peer.ended() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        peer.close()


@pytest.mark.parametrize("msg,code,status", [
    (m.Handshake(protocol_version="2.0", settings=m.SessionSettings(prompt="a")), m.VERSION_MISMATCH,
     grpc.StatusCode.FAILED_PRECONDITION),
    (m.Handshake(resume_token="forged", settings=m.SessionSettings(prompt="a")), m.RESUME_FAILED,
     grpc.StatusCode.NOT_FOUND),
    (m.Handshake(settings=m.SessionSettings(prompt="a", width=64, height=64)), m.INVALID_ARGUMENT,
     grpc.StatusCode.INVALID_ARGUMENT),
    (m.Handshake(capabilities=m.Capabilities(pixel_formats=["bgr8"]), settings=m.SessionSettings(prompt="a")),
     m.UNSUPPORTED, grpc.StatusCode.UNIMPLEMENTED),
], ids=["version", "resume", "size", "pixel-format"])
def test_fatal_errors_end_the_stream_with_their_status(srv, msg, code, status):
    peer = RawGrpc(srv.grpc_url)
    try:
        peer.send(msg)
        err = peer.recv(timeout=10)
        assert isinstance(err, m.Error) and err.code == code and err.fatal
        assert peer.ended() == status
    finally:
        peer.close()


def test_too_many_sessions_is_resource_exhausted(srv):
    held = [sdk.Session(srv.zmq_url, prompt="a") for _ in range(3)]
    peer = RawGrpc(srv.grpc_url)
    try:
        peer.send(m.Handshake(settings=m.SessionSettings(prompt="a")))
        err = peer.recv(timeout=10)
        assert err.code == m.TOO_MANY_SESSIONS
        assert peer.ended() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(SessionLimitError):  # the SDK still raises the typed error, not a transport one
            sdk.Session(srv.grpc_url, prompt="a")
    finally:
        peer.close()
        for s in held:
            s.close()


def test_undecodable_unary_calls_are_invalid_argument_without_a_traceback(srv, caplog):
    channel = grpc.insecure_channel(srv.grpc_url.removeprefix("grpc://"))
    call = channel.unary_unary("/streamdit.v1.Runtime/GetInfo", request_serializer=lambda x: x,
                               response_deserializer=pb.RuntimeInfo.FromString)
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as e:
                call(b"\xff\xff\xff", timeout=10)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "bad_message" in e.value.details()
        info = pb_info(channel)
    channel.close()
    assert info.protocol_version == "1.0"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


def pb_info(channel):
    call = channel.unary_unary("/streamdit.v1.Runtime/GetInfo", request_serializer=lambda x: x.SerializeToString(),
                               response_deserializer=pb.RuntimeInfo.FromString)
    return call(pb.GetInfoRequest(), timeout=10)

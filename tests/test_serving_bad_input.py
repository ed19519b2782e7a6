"""Bad input: the runtime answers each with an Error message and keeps serving every other session."""

import os

import grpc
import msgpack
import pytest

import sdk
from sdk.errors import (MessageTooLargeError, PromptTooLongError, RateLimitError, UnknownEventError,
                        VersionMismatchError)
from sdk.protocol import messages as m
from sdk.protocol import proto_codec
from sdk.protocol.pb import runtime_pb2 as pb
from sdk.protocol.pb import runtime_pb2_grpc as pb_grpc
from serving_helpers import PROMPT_MAP, RawZmq, served

pytestmark = pytest.mark.timeout(120)
LIMIT, MAX_CHARS = 4096, 80


@pytest.fixture(scope="module")
def srv():
    with served(max_message_bytes=LIMIT, max_prompt_chars=MAX_CHARS, max_events_per_second=5.0) as s:
        yield s


@pytest.fixture(scope="module")
def bystanders(srv):
    """One session per transport that must keep streaming through every bad input."""
    a = sdk.Session(srv.grpc_url, prompt="a red square", seed=1)
    b = sdk.Session(srv.zmq_url, prompt="a blue circle", seed=2)
    yield a, b
    a.close()
    b.close()


def still_streaming(bystanders):
    for s in bystanders:
        frames = [f for _, f in zip(range(3), s.frames(timeout=10))]
        assert len(frames) == 3
        assert not s.closed


@pytest.fixture
def raw(srv):
    r = RawZmq(srv.zmq_url)
    yield r
    r.close()


def expect_error(raw, code, fatal=False):
    err = raw.recv()
    assert isinstance(err, m.Error), err
    assert err.code == code and err.fatal == fatal, err
    assert err.message
    return err


@pytest.mark.parametrize("payload", [
    pytest.param([os.urandom(200)], id="random-bytes"),
    pytest.param([b"\x82\xa4type\xa5event\xa8event_id"], id="truncated-msgpack"),
    pytest.param([b"\xc1\xc1\xc1"], id="never-used-byte"),
    pytest.param([msgpack.packb([1, 2, 3])], id="array-not-map"),
    pytest.param([msgpack.packb({"type": "warp"})], id="unknown-type"),
    pytest.param([msgpack.packb({"type": "event", "event_id": "x", "event_type": "night"})], id="ill-typed"),
    pytest.param([msgpack.packb({"type": "handshake"}), b"extra", b"parts"], id="extra-parts"),
])
def test_malformed_zmq_messages_get_bad_message(srv, bystanders, raw, payload):
    raw.send(payload)
    expect_error(raw, m.BAD_MESSAGE)
    raw.handshake()  # the same connection can still start a session
    still_streaming(bystanders)


def test_unknown_protocol_version_is_a_clear_fatal_error(srv, bystanders, raw):
    raw.send(m.Handshake(protocol_version="2.0", settings=m.SessionSettings(prompt="x")))
    err = expect_error(raw, m.VERSION_MISMATCH, fatal=True)
    assert "2.0" in err.message and "1.0" in err.message
    raw.send(m.Handshake(protocol_version="one", settings=m.SessionSettings(prompt="x")))
    expect_error(raw, m.VERSION_MISMATCH, fatal=True)
    raw.handshake()
    still_streaming(bystanders)


def test_oversized_message(srv, bystanders, raw):
    raw.handshake()
    raw.send(m.Event(event_id=1, event_type="night", payload={"blob": "x" * (LIMIT + 1)}))
    expect_error(raw, m.MESSAGE_TOO_LARGE)
    raw.send(m.Close())
    assert isinstance(raw.recv(), m.Closed)
    still_streaming(bystanders)


def test_unknown_event_and_long_prompts_over_zmq(srv, bystanders, raw):
    raw.handshake(prompt_map=PROMPT_MAP)
    raw.send(m.Event(event_id=1, event_type="dragon"))
    err = expect_error(raw, m.UNKNOWN_EVENT)
    assert err.event_id == 1 and "dragon" in err.message and "[events.dragon]" in err.message
    raw.send(m.SetPrompt(event_id=2, text="y" * (MAX_CHARS + 1)))
    err = expect_error(raw, m.PROMPT_TOO_LONG)
    assert err.event_id == 2 and str(MAX_CHARS) in err.message
    raw.send(m.Event(event_id=3, event_type="boss", payload={"color": "z" * MAX_CHARS}))
    expect_error(raw, m.PROMPT_TOO_LONG)
    raw.send(m.Event(event_id=3, event_type="night"))  # ids must increase
    expect_error(raw, m.INVALID_ARGUMENT)
    raw.send(m.Event(event_id=4, event_type="boss"))  # the template needs {color}
    assert "color" in expect_error(raw, m.INVALID_ARGUMENT).message
    raw.send(m.SourceFrame(width=1, height=1, pixels=b"abc"))  # v2v is served, but at the model's size only
    assert "32x32" in expect_error(raw, m.INVALID_ARGUMENT).message
    still_streaming(bystanders)


def test_handshake_refusals_and_session_free_messages(srv, bystanders, raw):
    raw.send(m.Event(event_id=1, event_type="night"))
    expect_error(raw, m.NO_SESSION)
    raw.send(m.Handshake(settings=m.SessionSettings(prompt="p" * (MAX_CHARS + 1))))
    expect_error(raw, m.PROMPT_TOO_LONG, fatal=True)
    raw.send(m.Handshake(settings=m.SessionSettings(prompt="p", prompt_map="[events.x]\nprompt = 3\n")))
    expect_error(raw, m.INVALID_ARGUMENT, fatal=True)
    raw.send(m.Handshake(settings=m.SessionSettings(prompt="p", width=64, height=64)))
    assert "32x32" in expect_error(raw, m.INVALID_ARGUMENT, fatal=True).message
    raw.send(m.Handshake(settings=m.SessionSettings(prompt="p"), resume_token="forged"))
    expect_error(raw, m.RESUME_FAILED, fatal=True)
    raw.send(m.GetInfo())
    info = raw.recv()
    assert isinstance(info, m.RuntimeInfo) and info.limits.max_message_bytes == LIMIT and info.models[0].width == 32
    still_streaming(bystanders)


def test_the_sdk_raises_typed_errors_that_keep_the_server_message(srv, bystanders):
    with sdk.Session(srv.grpc_url, prompt_map=PROMPT_MAP) as s:
        with pytest.raises(UnknownEventError) as e:
            s.push_event("dragon")
        assert "[events.dragon]" in str(e.value) and e.value.code == "unknown_event" and not e.value.fatal
        with pytest.raises(PromptTooLongError) as e:
            s.set_prompt("w" * (MAX_CHARS + 1))
        assert isinstance(e.value, sdk.errors.PromptError) and str(MAX_CHARS) in e.value.server_message
        with pytest.raises(MessageTooLargeError):  # refused by the client before it is sent
            s.push_event("night", {"blob": "x" * LIMIT})
        with pytest.raises(RateLimitError):
            for _ in range(20):
                s.push_event("night", timeout=5)
        assert s.push_event is not None and not s.closed
    still_streaming(bystanders)


def test_grpc_bad_inputs_answer_with_errors(srv, bystanders):
    channel = grpc.insecure_channel(srv.grpc_url.removeprefix("grpc://"))
    stub = pb_grpc.RuntimeStub(channel)
    big = pb.ClientMessage(event=pb.Event(event_id=1, event_type="night"))
    big.event.payload["blob"].string_value = "x" * (LIMIT + 10)
    msgs = [proto_codec.to_proto(m.Handshake(settings=m.SessionSettings(prompt="a"))), big,
            proto_codec.to_proto(m.Event(event_id=2, event_type="dragon")),
            pb.ClientMessage(),  # empty oneof
            proto_codec.to_proto(m.Close())]
    got = [proto_codec.server_from_proto(r) for r in stub.Session(iter(msgs), timeout=30)]
    kinds = [(type(x).__name__, getattr(x, "code", None)) for x in got if not isinstance(x, (m.Frame, m.Stats))]
    assert kinds == [("HandshakeReply", None), ("Error", "message_too_large"), ("Error", "unknown_event"),
                     ("Error", "bad_message"), ("Closed", "client_close")]
    call = stub.Session(iter([proto_codec.to_proto(m.Handshake(protocol_version="3.1"))]), timeout=30)
    replies = []
    with pytest.raises(grpc.RpcError):  # a fatal error ends the stream with its status, not OK
        for r in call:
            replies.append(r)
    assert call.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = proto_codec.server_from_proto(replies[0])
    assert len(replies) == 1 and err.code == "version_mismatch" and err.fatal
    channel.close()
    with pytest.raises(VersionMismatchError):
        raise sdk.errors.server_error(err.code, err.message)
    still_streaming(bystanders)

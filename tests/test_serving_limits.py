"""Issue 18, defects 5 and 8: one limit table (sdk.protocol.limits) enforced the same way over gRPC and ZeroMQ,
documented in docs/protocol.md; echoed client values are cut and escaped in every error message."""

from pathlib import Path

import pytest

from raw_grpc import raw_peer
from sdk.protocol import messages as m
from serving_helpers import PROMPT_MAP, RawZmq, served

pytestmark = pytest.mark.timeout(180)
LIMIT, MAX_CHARS = 4096, 80
TRANSPORTS = ["grpc", "zmq"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def srv():
    with served(max_message_bytes=LIMIT, max_prompt_chars=MAX_CHARS, max_events_per_second=5.0) as s:
        yield s


def hs(**kw):
    settings = kw.pop("settings", {})
    settings.setdefault("prompt", "a green field")
    return m.Handshake(client_name=kw.pop("client_name", "limits"), settings=m.SessionSettings(**settings), **kw)


def pmap(rule):
    return {"settings": {"prompt_map": f'base = "b"\n[events.e]\nprompt = "x"\n{rule}\n'}}


# (id, message sent after a handshake or None for a refused handshake, expected code, fatal, transports)
SESSION_CASES = [
    ("payload-keys", m.Event(event_id=1, event_type="night", payload={f"k{i}": 1 for i in range(65)}),
     m.INVALID_ARGUMENT),
    ("payload-key-chars", m.Event(event_id=1, event_type="night", payload={"k" * 65: 1}), m.INVALID_ARGUMENT),
    ("event-type-chars", m.Event(event_id=1, event_type="e" * 65), m.INVALID_ARGUMENT),
    ("transition-steps", m.SetPrompt(event_id=1, text="x", transition_steps=10_001), m.INVALID_ARGUMENT),
    ("weight", m.SetPrompt(event_id=1, text="x", weight=1.5), m.INVALID_ARGUMENT),
    ("weight-nan", m.SetPrompt(event_id=1, text="x", weight=float("nan")), m.INVALID_ARGUMENT),
    ("prompt-chars", m.SetPrompt(event_id=1, text="y" * (MAX_CHARS + 1)), m.PROMPT_TOO_LONG),
    ("message-bytes", m.Event(event_id=1, event_type="night", payload={"blob": "x" * LIMIT}), m.MESSAGE_TOO_LARGE),
    ("close-reason-chars", m.Close(reason="r" * 129), m.INVALID_ARGUMENT),
]
HANDSHAKE_CASES = [
    ("version-arabic-digits", hs(protocol_version="\u0661.\u0660"), m.VERSION_MISMATCH),
    ("version-chars", hs(protocol_version="1." + "0" * 100), m.VERSION_MISMATCH),
    ("client-name-chars", hs(client_name="n" * 129), m.INVALID_ARGUMENT),
    ("auth-token-chars", hs(auth_token="t" * 257), m.INVALID_ARGUMENT),
    ("model-chars", hs(settings={"model": "m" * 129}), m.INVALID_ARGUMENT),
    ("pixel-formats", hs(capabilities=m.Capabilities(pixel_formats=["rgb8"] * 9)), m.INVALID_ARGUMENT),
    ("frame-side", hs(settings={"width": 20_000, "height": 32}), m.INVALID_ARGUMENT),
    ("prompt-chars", hs(settings={"prompt": "p" * (MAX_CHARS + 1)}), m.PROMPT_TOO_LONG),
    ("map-transition-steps", hs(**pmap("transition_steps = 10001")), m.INVALID_ARGUMENT),
    ("map-transition-steps-huge", hs(**pmap("transition_steps = 100000000000000000")), m.INVALID_ARGUMENT),
    ("map-duration-inf", hs(**pmap("duration_seconds = inf")), m.INVALID_ARGUMENT),
    ("map-duration-nan", hs(**pmap("duration_seconds = nan")), m.INVALID_ARGUMENT),
    ("map-duration-1e308", hs(**pmap("duration_seconds = 1e308")), m.INVALID_ARGUMENT),
    ("map-duration-chunks", hs(**pmap("duration_chunks = 10000000")), m.INVALID_ARGUMENT),
    ("map-priority", hs(**pmap("priority = 10000000000")), m.INVALID_ARGUMENT),
]
ZMQ_ONLY_HANDSHAKE = [  # values protobuf cannot carry (uint32 / int64 fields): only msgpack can send them
    ("credits-negative", hs(capabilities=m.Capabilities(credits=-5)), m.INVALID_ARGUMENT),
    ("seed-beyond-int64", hs(settings={"seed": 2**63}), m.INVALID_ARGUMENT),
]


def short_error(peer, code, fatal):
    err = peer.recv(timeout=10)
    assert isinstance(err, m.Error), err
    assert (err.code, err.fatal) == (code, fatal), err
    assert len(err.message) < 400 and "\n" not in err.message, err.message  # defect 8: cut, escaped
    return err


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case,msg,code", SESSION_CASES, ids=[c[0] for c in SESSION_CASES])
def test_session_message_limits_on_both_transports(srv, transport, case, msg, code):
    peer = raw_peer(transport, srv)
    try:
        peer.handshake(prompt_map=PROMPT_MAP)
        peer.send(msg)
        short_error(peer, code, fatal=False)
        peer.send(m.SetPrompt(event_id=50, text="the session goes on"))
        assert isinstance(peer.recv(timeout=10), m.EventAck)
    finally:
        peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case,msg,code", HANDSHAKE_CASES, ids=[c[0] for c in HANDSHAKE_CASES])
def test_handshake_limits_on_both_transports(srv, transport, case, msg, code):
    peer = raw_peer(transport, srv)
    try:
        peer.send(msg)
        short_error(peer, code, fatal=True)
    finally:
        peer.close()


@pytest.mark.parametrize("case,msg,code", ZMQ_ONLY_HANDSHAKE, ids=[c[0] for c in ZMQ_ONLY_HANDSHAKE])
def test_values_only_msgpack_can_carry_are_refused_too(srv, case, msg, code):
    peer = RawZmq(srv.zmq_url)
    try:
        peer.send(msg)
        short_error(peer, code, fatal=True)
    finally:
        peer.close()


def test_credit_n_below_zero_is_refused_over_zmq(srv):
    peer = RawZmq(srv.zmq_url)
    try:
        peer.handshake()
        peer.send(m.Credit(n=-1))
        short_error(peer, m.INVALID_ARGUMENT, fatal=False)
    finally:
        peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_event_rate_limit_on_both_transports(srv, transport):
    peer = raw_peer(transport, srv)
    try:
        peer.handshake(prompt_map=PROMPT_MAP)
        for i in range(1, 13):  # 5 per second, a burst of 5
            peer.send(m.Event(event_id=i, event_type="night"))
        codes = [getattr(peer.recv(timeout=10), "code", "ack") for _ in range(12)]
        assert m.RATE_LIMITED in codes and "ack" in codes, codes
    finally:
        peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echoed_values_are_cut_and_escaped(srv, transport):
    """Defect 8: an event type of 1 MB produced a 2 MB error message; now every echo is cut to 64 characters."""
    peer = raw_peer(transport, srv)
    try:
        peer.send(hs(protocol_version="9.\n" + "9" * 3000))
        short_error(peer, m.VERSION_MISMATCH, fatal=True)
        if transport == "grpc":  # a refused handshake ends a gRPC stream
            peer.close()
            peer = raw_peer(transport, srv)
        peer.handshake(prompt_map=PROMPT_MAP)
        peer.send(m.Event(event_id=1, event_type="dragon\nERROR forged " + "x" * 3000))
        short_error(peer, m.INVALID_ARGUMENT, fatal=False)
        peer.send(m.Event(event_id=2, event_type="dragon\nERROR forged"))  # within the limit: unknown_event
        err = short_error(peer, m.UNKNOWN_EVENT, fatal=False)
        assert "\\nERROR forged" in err.message
    finally:
        peer.close()


def test_an_unknown_message_type_is_echoed_short(srv):
    peer = RawZmq(srv.zmq_url)
    try:
        peer.send({"type": "t" * 3000})
        short_error(peer, m.BAD_MESSAGE, fatal=False)
    finally:
        peer.close()


def test_the_limit_table_is_the_one_in_docs_protocol_md():
    from sdk.protocol import limits

    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert limits.markdown_table() in doc
    assert limits.shown("a\nb" * 100).startswith("'a\\nb") and len(limits.shown("x" * 10**6)) < 100

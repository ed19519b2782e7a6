"""The wire schema: codec round trips (no runtime), malformed input, generated code, docs and proto in sync."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from sdk.errors import ProtocolError
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec, proto_codec
from sdk.protocol.pb import runtime_pb2 as pb

ROOT = Path(__file__).resolve().parents[1]

SAMPLES = [
    m.Handshake(client_name="godot", client_version="4.6", auth_token="t", resume_token="r",
                capabilities=m.Capabilities(pixel_formats=["rgb8"], v2v=True, credits=8),
                settings=m.SessionSettings(model="toy", width=32, height=32, seed=-5, prompt="a meadow",
                                           prompt_map="base = 'x'\n")),
    m.Handshake(settings=m.SessionSettings(seed=None)),
    m.Event(event_id=7, event_type="boss_appears", payload={"zone": "lava", "hp": 3, "speed": 2.5, "angry": True},
            client_time_us=123),
    m.SetPrompt(event_id=8, text="night", weight=0.25, transition_steps=3),
    m.SetPrompt(event_id=9, text="day"),
    m.SourceFrame(frame_index=1, width=2, height=2, pixels=bytes(range(12))),
    m.Credit(n=3), m.Close(reason="bye"), m.GetInfo(auth_token="t"), m.ListModels(),
    m.HandshakeReply(session_id="s", resume_token="r", model="toy", fps=16.0, frames_per_chunk=2, width=32,
                     height=32, credits=4, resumed=True, next_frame_index=10,
                     limits=m.Limits(max_message_bytes=1, max_events_per_second=2.5, max_prompt_chars=3,
                                     max_sessions=4, max_credits=5)),
    m.Frame(frame_index=2**40, chunk_index=3, pts_us=10**12, event_id=4, width=3, height=1, pixels=b"\x00" * 9),
    m.EventAck(event_id=1, chunk_index=2, frame_index=4, prompt="p", in_effect=False, client_time_us=-1),
    m.Error(code="unknown_event", message="no rule", event_id=3, fatal=False),
    m.Stats(fps=15.5, frames_sent=10, frames_dropped=2, queue_depth=1, credits=3, chunk_index=5, step_ms=4.5,
            decode_queue=0, sessions=2),
    m.Closed(code="shutdown", reason="maintenance"),
    m.RuntimeInfo(server_version="0.1", models=[m.ModelInfo(name="toy", fps=8.0)], sessions_active=1,
                  auth_required=True, limits=m.Limits(max_sessions=2), transports=["zmq://127.0.0.1:1"]),
    m.ModelList(models=[m.ModelInfo(name="a"), m.ModelInfo(name="b", width=64)]),
]


def _decode_any(parts):
    return (msgpack_codec.decode_client if parts and msgpack.unpackb(parts[0])["type"] in m.CLIENT_TYPES
            else msgpack_codec.decode_server)(parts)


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda x: type(x).__name__)
def test_msgpack_round_trip(msg):
    parts = msgpack_codec.encode(msg)
    assert len(parts) == (2 if isinstance(msg, m.PIXEL_TYPES) else 1)
    head = msgpack.unpackb(parts[0])
    assert head["type"] == msg.TYPE and "pixels" not in head  # pixels travel as their own part
    assert _decode_any(parts) == msg


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda x: type(x).__name__)
def test_protobuf_round_trip(msg):
    p = proto_codec.to_proto(msg)
    wire = type(p).FromString(p.SerializeToString())
    if type(msg) in proto_codec.UNARY:
        back = proto_codec.unary_from_proto(wire)
    elif msg.TYPE in m.CLIENT_TYPES:
        back = proto_codec.client_from_proto(wire)
    else:
        back = proto_codec.server_from_proto(wire)
    assert back == msg


def test_payload_types_survive_both_codecs():
    ev = m.Event(event_id=1, event_type="t", payload={"b": True, "i": 2, "f": 2.0, "s": "2"})
    for back in (msgpack_codec.decode_client(msgpack_codec.encode(ev)),
                 proto_codec.client_from_proto(proto_codec.to_proto(ev))):
        assert {k: type(v) for k, v in back.payload.items()} == {"b": bool, "i": int, "f": float, "s": str}


@pytest.mark.parametrize("parts,needle", [
    ([os.urandom(64) + b"\xc1"], "msgpack"),
    ([b"\x93\x01\x02\x03"], "must be a msgpack map"),
    ([msgpack.packb({"type": "teleport"})], "unknown client message type 'teleport'"),
    ([msgpack.packb({"event_id": 1})], "unknown client message type None"),
    ([msgpack.packb({"type": "event", "event_type": "x"})], "event.event_id is required"),
    ([msgpack.packb({"type": "event", "event_id": "7", "event_type": "x"})], "event.event_id must be int"),
    ([msgpack.packb({"type": "event", "event_id": 1, "event_type": "x", "payload": {"a": [1]}})], "payload['a']"),
    ([msgpack.packb({"type": "credit", "n": True})], "credit.n must be int"),
    ([msgpack.packb({"type": "handshake", "protocol_version": "1.0", "settings": 3})], "handshake.settings must be map"),
    ([msgpack.packb({"type": "source_frame", "width": 2, "height": 2}), b"abc"], "needs 12 pixel bytes"),
    ([msgpack.packb({"type": "source_frame", "width": 2, "height": 2})], "has 2 part(s), got 1"),
    ([], "empty message"),
])
def test_malformed_messages_raise_protocol_errors(parts, needle):
    with pytest.raises(ProtocolError) as e:
        msgpack_codec.decode_client(parts)
    assert needle in str(e.value) and e.value.code == m.BAD_MESSAGE


def test_unknown_keys_are_ignored_and_ints_pass_as_floats():
    raw = {"type": "set_prompt", "event_id": 3, "text": "x", "weight": 1, "added_in_1_1": "whatever"}
    sp = msgpack_codec.decode_client([msgpack.packb(raw)])
    assert sp.weight == 1.0 and isinstance(sp.weight, float)


def test_generated_code_matches_the_proto():
    from sdk.protocol.generate import stale_files

    assert stale_files() == [], "run: python -m sdk.protocol.generate"


def test_dataclasses_and_proto_have_the_same_fields():
    wrappers = {**{t: pb.ClientMessage for t in m.CLIENT_TYPES}, **{t: pb.ServerMessage for t in m.SERVER_TYPES}}
    for t, cls in {**m.CLIENT_TYPES, **m.SERVER_TYPES}.items():
        if cls in proto_codec.UNARY:
            desc = proto_codec.UNARY[cls].DESCRIPTOR
        else:
            desc = wrappers[t].DESCRIPTOR.fields_by_name[t].message_type
        assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in desc.fields], t


def test_protocol_doc_names_every_message_and_field():
    doc = (ROOT / "docs/protocol.md").read_text()
    for t, cls in {**m.CLIENT_TYPES, **m.SERVER_TYPES}.items():
        assert f"`{t}`" in doc, t
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc, f"{t}.{f.name} is not documented"
    for code in [v for k, v in vars(m).items() if k.isupper() and isinstance(v, str) and re.fullmatch(r"[a-z_]+", v)
                 and k not in ("PIXEL_FORMAT",)]:
        assert f"`{code}`" in doc, code


def test_versions():
    assert m.parse_version("1.0") == (1, 0) and m.parse_version("12.3") == (12, 3)
    for bad in ("1", "1.0.0", "v1.0", "a.b", ""):
        with pytest.raises(ValueError):
            m.parse_version(bad)


def test_sdk_imports_without_torch():
    code = ("import sys; import sdk; sdk.Session; sdk.AsyncSession; sdk.Frame; "
            "import sdk.transports.grpc, sdk.transports.zmq, sdk.transports.local; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr

"""Video-to-video on the wire (issue 20): the new fields survive both codecs, absent proto fields read as the
documented defaults, and out-of-range values are refused (no runtime here; tests/test_v2v_serving.py serves)."""

import msgpack
import pytest

from sdk.errors import ProtocolError
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec, proto_codec
from sdk.protocol.limits import check_client
from sdk.protocol.pb import runtime_pb2 as pb

V2V = [
    m.SourceFrame(frame_index=9, width=2, height=1, pixels=bytes(6), strength=0.0, anchor=True),
    m.SourceFrame(frame_index=10, width=2, height=1, pixels=bytes(6), strength=None),
    m.Handshake(capabilities=m.Capabilities(v2v=True), settings=m.SessionSettings(strength=0.75)),
    m.HandshakeReply(session_id="s", v2v=True),
    m.Frame(frame_index=3, width=1, height=1, pixels=b"abc", source_index=0),
    m.Frame(frame_index=3, width=1, height=1, pixels=b"abc", source_index=-1),
    m.Stats(source_frames_received=7, source_frames_dropped=5),
]


def _both(msg):
    side = "client" if msg.TYPE in m.CLIENT_TYPES else "server"
    via_zmq = getattr(msgpack_codec, f"decode_{side}")(msgpack_codec.encode(msg))
    wire = proto_codec.to_proto(msg).SerializeToString()
    wrapper = (pb.ClientMessage if side == "client" else pb.ServerMessage).FromString(wire)
    via_grpc = getattr(proto_codec, f"{side}_from_proto")(wrapper)
    return via_zmq, via_grpc


@pytest.mark.parametrize("msg", V2V, ids=lambda x: type(x).__name__)
def test_v2v_fields_round_trip_on_both_codecs(msg):
    via_zmq, via_grpc = _both(msg)
    assert via_zmq == msg and via_grpc == msg


def test_absent_fields_read_as_the_documented_defaults():
    hs = pb.ClientMessage()
    hs.handshake.protocol_version = "1.0"
    assert proto_codec.client_from_proto(hs).settings.strength == 0.5  # not proto3's 0.0 (= the source back)
    fr = pb.ServerMessage()
    fr.frame.frame_index = 4
    assert proto_codec.server_from_proto(fr).source_index == -1  # not 0, a real source frame's index
    sf = msgpack_codec.decode_client([msgpack.packb({"type": "source_frame", "width": 1, "height": 1}), b"abc"])
    assert sf.strength is None and sf.anchor is False
    head = msgpack.packb({"type": "frame", "frame_index": 1, "width": 1, "height": 1})
    assert msgpack_codec.decode_server([head, b"abc"]).source_index == -1


@pytest.mark.parametrize("msg,needle", [
    (m.SourceFrame(width=1, height=1, pixels=b"abc", strength=1.5), "source_frame.strength"),
    (m.SourceFrame(width=1, height=1, pixels=b"abc", strength=float("nan")), "source_frame.strength"),
    (m.Handshake(settings=m.SessionSettings(strength=-0.1)), "settings.strength"),
])
def test_strength_out_of_range_is_invalid_argument(msg, needle):
    with pytest.raises(ProtocolError) as e:
        check_client(msg)
    assert e.value.code == m.INVALID_ARGUMENT and needle in str(e.value) and "[0, 1]" in str(e.value)


def test_another_pixel_format_reaches_the_runtime_and_rgb8_of_the_wrong_length_does_not():
    rgba = m.SourceFrame(width=2, height=2, pixel_format="rgba8", pixels=bytes(16))
    assert _both(rgba) == (rgba, rgba)  # the runtime refuses it with invalid_argument, naming rgb8
    with pytest.raises(ProtocolError, match="needs 12 pixel bytes"):
        msgpack_codec.decode_client([msgpack.packb({"type": "source_frame", "width": 2, "height": 2}), bytes(16)])

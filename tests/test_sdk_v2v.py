"""Video-to-video in the SDK (issue 20, client side): Session(v2v=True, strength=...) asks for it, send_frame checks
and numbers the game's frames and puts them on the wire, and Frame.source_index names the source an output
restyles. Here the runtime is a scripted transport that passes every message through a real codec, so the SDK's
side is checked without a model; tests/test_sdk_v2v_e2e.py runs it against the real runtime."""

import asyncio
import time

import numpy as np
import pytest

import sdk
import sdk.session
from sdk.errors import ConfigError, InvalidArgumentError, ShapeError, UnsupportedError
from sdk.inputs import check_strength, source_frame
from sdk.protocol import messages as m
from sdk.protocol import msgpack_codec, proto_codec
from sdk.protocol.pb import runtime_pb2 as pb
from sdk.transports.base import Transport

W, H = 8, 6
pytestmark = pytest.mark.timeout(60)


def wire(msg, codec):
    """msg through one codec and back, as the other end reads it."""
    side = "client" if msg.TYPE in m.CLIENT_TYPES else "server"
    if codec == "msgpack":
        return getattr(msgpack_codec, f"decode_{side}")(msgpack_codec.encode(msg))
    wrapper = (pb.ClientMessage if side == "client" else pb.ServerMessage).FromString(
        proto_codec.to_proto(msg).SerializeToString())
    return getattr(proto_codec, f"{side}_from_proto")(wrapper)


class ScriptedRuntime(Transport):
    """A transport whose far end answers the handshake (v2v as given) and, for each source frame, one output
    frame that names it (pixels inverted), every message through `codec`; `sent` keeps what the runtime read."""

    def __init__(self, codec: str, v2v: bool = True) -> None:
        self.codec, self.v2v, self.sent, self.inbox, self.url = codec, v2v, [], [], "scripted://"
        self.frame_index, self.refuse = 0, set()  # frame_index values answered with invalid_argument

    def open(self, timeout):
        pass

    def send(self, msg):
        got = wire(msg, self.codec)
        self.sent.append(got)
        if isinstance(got, m.Handshake):
            self.inbox.append(m.HandshakeReply(session_id="s1", fps=16.0, frames_per_chunk=2, width=W, height=H,
                                               v2v=self.v2v, limits=m.Limits(max_message_bytes=1 << 20)))
        elif isinstance(got, m.Close):
            self.inbox.append(m.Closed(code="client_close"))
        elif isinstance(got, m.SourceFrame):
            if got.frame_index in self.refuse:
                self.inbox.append(m.Error(code=m.INVALID_ARGUMENT, message="source_frame: refused"))
                return
            out = bytes(255 - b for b in got.pixels)
            self.inbox.append(m.Frame(frame_index=self.frame_index, width=W, height=H, pixels=out,
                                      source_index=got.frame_index))
            self.frame_index += 1

    def recv(self, timeout):
        if self.inbox:
            return wire(self.inbox.pop(0), self.codec)
        time.sleep(min(timeout or 0.01, 0.01))
        return None

    def request(self, msg, timeout):
        raise NotImplementedError

    def close(self):
        pass


@pytest.fixture
def scripted(monkeypatch):
    made = []

    def use(codec="msgpack", v2v=True, refuse_first=False):
        def factory(url):
            made.append(ScriptedRuntime(codec, v2v))
            made[-1].refuse = {0} if refuse_first else set()
            return made[-1]
        monkeypatch.setattr(sdk.session, "open_transport", factory)
        return made
    return use


def image(i: int) -> np.ndarray:
    """A distinct (H, W, 3) uint8 frame per i."""
    return ((np.arange(H * W * 3).reshape(H, W, 3) + 7 * i) % 256).astype(np.uint8)


@pytest.mark.parametrize("codec", ["msgpack", "proto"])
def test_send_frame_numbers_frames_and_outputs_name_their_source(scripted, codec):
    made = scripted(codec)
    with sdk.Session("zmq://127.0.0.1:1", prompt="a field", v2v=True, strength=0.25) as s:
        hello = made[0].sent[0]
        assert hello.capabilities.v2v is True and hello.settings.strength == 0.25 and s.info.v2v
        frames = [image(i) for i in range(3)]
        assert [s.send_frame(frames[0], anchor=True), s.send_frame(frames[1], strength=0.75),
                s.send_frame(frames[2][::-1][::-1])] == [0, 1, 2]
        frames[0][:] = 0  # the SDK copied the pixels: reusing the array changes nothing already sent
        got = [f for _, f in zip(range(3), s.frames(timeout=5))]
    sent = [x for x in made[0].sent if isinstance(x, m.SourceFrame)]
    assert [(x.frame_index, x.strength, x.anchor) for x in sent] == [(0, None, True), (1, 0.75, False),
                                                                       (2, None, False)]
    assert all((x.width, x.height, x.pixel_format) == (W, H, "rgb8") for x in sent)
    assert sent[1].pixels == image(1).tobytes() and sent[0].pixels == image(0).tobytes()
    assert [f.source_index for f in got] == [0, 1, 2]
    assert all(np.array_equal(f.pixels, 255 - image(f.source_index)) for f in got)


def test_a_frame_without_a_source_reads_minus_one():
    msg = m.Frame(frame_index=0, width=1, height=1, pixels=b"abc")
    assert sdk.Frame.from_message(wire(msg, "msgpack")).source_index == -1
    assert sdk.Frame.from_message(wire(msg, "proto")).source_index == -1


def test_the_async_session_sends_frames_too(scripted):
    made = scripted()

    async def main():
        async with sdk.AsyncSession("zmq://127.0.0.1:1", prompt="x", v2v=True) as s:
            index = await s.send_frame(image(5))
            async for f in s.frames(timeout=5):
                return index, f

    index, frame = asyncio.run(main())
    assert index == 0 and frame.source_index == 0
    assert made[0].sent[0].settings.strength == 0.5  # the documented default


def test_send_frame_needs_v2v_asked_and_served(scripted):
    scripted(v2v=False)
    with sdk.Session("zmq://127.0.0.1:1", prompt="x") as s:
        with pytest.raises(ConfigError, match="v2v=True"):
            s.send_frame(image(0))
    with sdk.Session("zmq://127.0.0.1:1", prompt="x", v2v=True) as s:
        with pytest.raises(UnsupportedError, match="does not serve video-to-video"):
            s.send_frame(image(0))


def test_a_refused_source_frame_surfaces_and_the_session_goes_on(scripted):
    scripted(refuse_first=True)
    with sdk.Session("zmq://127.0.0.1:1", prompt="x", v2v=True) as s:
        s.send_frame(image(0))  # the far end answers invalid_argument, not fatal
        deadline = time.monotonic() + 5
        while not s.errors and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(InvalidArgumentError, match="refused"):
            s.send_frame(image(1))  # raised at the next call; this frame was not sent
        assert s.send_frame(image(2)) == 1 and not s.closed  # 1: the refused call numbered nothing
        assert next(s.frames(timeout=5)).source_index == 1


@pytest.mark.parametrize("pixels,needle", [
    (image(0).tolist(), "np.asarray"),
    (image(0).astype(np.float32) / 255, r"\* 255"),
    (image(0).astype(np.int16), r"astype\(np.uint8\)"),
    (np.zeros((H, W, 4), np.uint8), r"pixels\[..., :3\]"),
    (np.zeros((H, W), np.uint8), "3 channels last"),
    (np.zeros((H * 2, W * 2, 3), np.uint8), f"16x12 .*takes {W}x{H}.*resize"),
])
def test_bad_pixels_are_a_shape_error_naming_the_fix(pixels, needle):
    with pytest.raises(ShapeError, match=needle):
        source_frame(pixels, W, H, frame_index=0)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.5", True])
def test_a_strength_outside_0_1_is_a_config_error(value, scripted):
    with pytest.raises(ConfigError, match="strength"):
        check_strength(value)
    with pytest.raises(ConfigError, match="strength"):
        source_frame(image(0), W, H, frame_index=0, strength=value)
    scripted()
    with pytest.raises(ConfigError, match="strength"):
        sdk.Session("zmq://127.0.0.1:1", prompt="x", v2v=True, strength=value)

"""The ZeroMQ encoding: a message is [msgpack map with "type"] plus, for frame and source_frame, the pixels.

encode(msg) -> list of parts; decode_client(parts) / decode_server(parts) -> message dataclass, raising
ProtocolError (code "bad_message") on anything that is not a well-formed message of docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

import msgpack

from sdk.errors import ProtocolError
from sdk.protocol import messages as m
from sdk.protocol.limits import shown
from sdk.protocol.schema import from_map, to_map

MAX_DEPTH_ITEMS = 4096  # msgpack container and string limits: a lying length prefix cannot allocate much


def encode(msg: Any) -> list[bytes]:
    """A message dataclass -> ZeroMQ parts: [map] or [map, pixels]."""
    if isinstance(msg, m.PIXEL_TYPES):
        head = msgpack.packb(to_map(msg, skip=("pixels",)), use_bin_type=True)
        return [head, bytes(msg.pixels)]
    return [msgpack.packb(to_map(msg), use_bin_type=True)]


def _unpack(data: bytes) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, max_array_len=MAX_DEPTH_ITEMS,
                              max_map_len=MAX_DEPTH_ITEMS, max_ext_len=0)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError,
            UnicodeDecodeError) as e:
        raise ProtocolError(f"the first message part is not one msgpack map ({type(e).__name__}: {e}); "
                            f"see docs/protocol.md section 1") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"the first message part must be a msgpack map, got {type(obj).__name__}")
    return obj


def _decode(parts: list[bytes], types: dict[str, type], side: str) -> Any:
    if not parts:
        raise ProtocolError("empty message: expected [msgpack map] or [msgpack map, pixels]")
    d = _unpack(bytes(parts[0]))
    kind = d.get("type")
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown {side} message type {shown(kind)}; known types: {sorted(types)}")
    expect = 2 if cls in m.PIXEL_TYPES else 1
    if len(parts) != expect:
        raise ProtocolError(f"a {kind!r} message has {expect} part(s), got {len(parts)}")
    msg = from_map(cls, d)
    if expect == 2:
        msg.pixels = bytes(parts[1])
        want = msg.width * msg.height * 3
        if len(msg.pixels) != want and m.rgb8_sized(msg):
            raise ProtocolError(f"{kind}: {msg.width}x{msg.height} rgb8 needs {want} pixel bytes, "
                                f"got {len(msg.pixels)}")
    return msg


def parts_of(head: bytes, side: str = "client") -> int:
    """How many parts the message whose first part is `head` has: 2 for frame and source_frame (the pixels
    follow), 1 otherwise. The WebSocket binding sends each part as its own binary message and needs this to
    pair them. Raises ProtocolError (bad_message) when `head` is not a msgpack map with a known type."""
    types = m.CLIENT_TYPES if side == "client" else m.SERVER_TYPES
    kind = _unpack(bytes(head)).get("type")
    cls = types.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown {side} message type {shown(kind)}; known types: {sorted(types)}")
    return 2 if cls in m.PIXEL_TYPES else 1


def decode_client(parts: list[bytes]) -> Any:
    """ZeroMQ parts from a client -> a client message (Handshake, Event, ...). Raises ProtocolError."""
    return _decode(parts, m.CLIENT_TYPES, "client")


def decode_server(parts: list[bytes]) -> Any:
    """ZeroMQ parts from the runtime -> a server message (Frame, EventAck, ...). Raises ProtocolError."""
    return _decode(parts, m.SERVER_TYPES, "server")

"""The gRPC encoding: message dataclasses <-> the generated protobuf classes of runtime.proto.

to_proto(msg) wraps session messages in ClientMessage / ServerMessage (the oneof field is the message's
TYPE) and gives GetInfoRequest / ListModelsRequest / RuntimeInfo / ModelList as they are. from_proto() is the
inverse. Field names are the same in both, so the conversion is driven by the dataclass schema.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from sdk.errors import ProtocolError
from sdk.protocol import messages as m
from sdk.protocol.pb import runtime_pb2 as pb
from sdk.protocol.schema import check_payload, fields_of

# Unwrapped (unary) messages: dataclass -> protobuf class.
UNARY = {m.GetInfo: pb.GetInfoRequest, m.ListModels: pb.ListModelsRequest, m.RuntimeInfo: pb.RuntimeInfo,
         m.ModelList: pb.ModelList}
UNARY_BACK = {v.DESCRIPTOR.full_name: k for k, v in UNARY.items()}


def _fill(target: Any, msg: Any) -> None:
    for name, ann, _, _ in fields_of(type(msg)):
        v = getattr(msg, name)
        if v is None:
            continue
        if dataclasses.is_dataclass(v):
            _fill(getattr(target, name), v)
        elif name == "payload":
            for k, x in check_payload(v, "payload").items():
                slot = target.payload[k]
                if isinstance(x, bool):
                    slot.bool_value = x
                elif isinstance(x, int):
                    slot.int_value = x
                elif isinstance(x, float):
                    slot.float_value = x
                else:
                    slot.string_value = x
        elif isinstance(v, list):
            if v and dataclasses.is_dataclass(v[0]):
                for x in v:
                    _fill(getattr(target, name).add(), x)
            else:
                getattr(target, name).extend(v)
        else:
            try:
                setattr(target, name, v)
            except (TypeError, ValueError) as e:
                raise ProtocolError(f"{getattr(msg, 'TYPE', type(msg).__name__)}.{name}: {e}") from None


def _read(cls: type, source: Any) -> Any:
    kwargs: dict[str, Any] = {}
    presence = source.DESCRIPTOR.fields_by_name
    for name, ann, _, f in fields_of(cls):
        origin = typing.get_origin(ann)
        if origin is typing.Union:  # Optional scalar: proto3 `optional`
            kwargs[name] = getattr(source, name) if source.HasField(name) else None
        elif presence[name].has_presence and not dataclasses.is_dataclass(ann) and not source.HasField(name):
            kwargs[name] = f.default  # a proto3 `optional` scalar left out: the dataclass default (e.g. -1, 0.5)
        elif dataclasses.is_dataclass(ann):
            kwargs[name] = _read(ann, getattr(source, name))
        elif name == "payload":
            kwargs[name] = {k: getattr(v, v.WhichOneof("kind")) for k, v in source.payload.items()
                            if v.WhichOneof("kind")}
        elif origin is list:
            (inner,) = typing.get_args(ann)
            seq = getattr(source, name)
            kwargs[name] = [_read(inner, x) for x in seq] if dataclasses.is_dataclass(inner) else list(seq)
        else:
            kwargs[name] = getattr(source, name)
    return cls(**kwargs)


def to_proto(msg: Any) -> Any:
    """A message dataclass -> its protobuf message (session messages wrapped in Client/ServerMessage)."""
    cls = type(msg)
    if cls in UNARY:
        out = UNARY[cls]()
        _fill(out, msg)
        return out
    if cls.TYPE in m.CLIENT_TYPES and m.CLIENT_TYPES[cls.TYPE] is cls:
        wrapper = pb.ClientMessage()
    elif cls.TYPE in m.SERVER_TYPES and m.SERVER_TYPES[cls.TYPE] is cls:
        wrapper = pb.ServerMessage()
    else:  # pragma: no cover - a schema bug
        raise TypeError(f"{cls.__name__} is not a protocol message")
    _fill(getattr(wrapper, cls.TYPE), msg)
    return wrapper


def _from_wrapper(wrapper: Any, types: dict[str, type], side: str) -> Any:
    kind = wrapper.WhichOneof("kind")
    if kind is None or kind not in types:
        raise ProtocolError(f"empty or unknown {side} message (oneof field {kind!r}); see docs/protocol.md")
    msg = _read(types[kind], getattr(wrapper, kind))
    if (isinstance(msg, m.PIXEL_TYPES) and len(msg.pixels) != msg.width * msg.height * 3
            and m.rgb8_sized(msg)):
        raise ProtocolError(f"{kind}: {msg.width}x{msg.height} rgb8 needs {msg.width * msg.height * 3} pixel "
                            f"bytes, got {len(msg.pixels)}")
    return msg


def client_from_proto(wrapper: Any) -> Any:
    """pb.ClientMessage -> a client message dataclass. Raises ProtocolError."""
    return _from_wrapper(wrapper, m.CLIENT_TYPES, "client")


def server_from_proto(wrapper: Any) -> Any:
    """pb.ServerMessage -> a server message dataclass. Raises ProtocolError."""
    return _from_wrapper(wrapper, m.SERVER_TYPES, "server")


def unary_from_proto(message: Any) -> Any:
    """GetInfoRequest / ListModelsRequest / RuntimeInfo / ModelList -> its dataclass."""
    return _read(UNARY_BACK[message.DESCRIPTOR.full_name], message)

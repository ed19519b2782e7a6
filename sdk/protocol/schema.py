"""Schema-driven conversion between message dataclasses and plain maps (the msgpack form).

`to_map(msg)` gives the msgpack map of a message (without its pixels); `from_map(cls, d)` checks every field
against the dataclass's annotations and raises ProtocolError naming the message, the field, the expected type
and what came instead. Unknown keys are ignored (minor versions add fields).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any

from sdk.errors import ProtocolError
from sdk.protocol.limits import INT64_MIN, UINT64_MAX, shown


@functools.lru_cache(maxsize=None)
def fields_of(cls: type) -> tuple[tuple[str, Any, bool, dataclasses.Field], ...]:
    """(name, annotation, required, field) for each wire field of a message dataclass."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], bool(f.metadata.get("required")), f) for f in dataclasses.fields(cls))


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def to_map(msg: Any, *, with_type: bool = True, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A message dataclass -> msgpack-ready map (nested dataclasses become maps; None values are left out)."""
    out: dict[str, Any] = {"type": msg.TYPE} if with_type else {}
    for name, _, _, _ in fields_of(type(msg)):
        if name in skip:
            continue
        v = getattr(msg, name)
        if v is None:
            continue
        if dataclasses.is_dataclass(v):
            v = to_map(v, with_type=False)
        elif isinstance(v, list) and v and dataclasses.is_dataclass(v[0]):
            v = [to_map(x, with_type=False) for x in v]
        out[name] = v
    return out


def check_payload(payload: Any, where: str) -> dict[str, Any]:
    """An event payload: a map of str -> str | int | float | bool; ProtocolError (bad_message) otherwise."""
    if not isinstance(payload, dict):
        raise ProtocolError(f"{where} must be a map of str -> str|int|float|bool, got {type(payload).__name__}")
    for k, v in payload.items():
        if not isinstance(k, str):
            raise ProtocolError(f"{where} keys must be str, got {type(k).__name__} {shown(k)}")
        if not isinstance(v, (str, int, float, bool)):
            raise ProtocolError(f"{where}[{shown(k)}] must be str, int, float or bool, got {type(v).__name__}")
    return dict(payload)  # its limits (key count and length, int64 values): sdk.protocol.limits.check_client


def _convert(value: Any, ann: Any, where: str) -> Any:
    origin = typing.get_origin(ann)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(ann) if a is not type(None)]
        return _convert(value, inner, where)
    if ann is bool:
        if isinstance(value, bool):
            return value
    elif ann is int:
        if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= UINT64_MAX:
            return value
    elif ann is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif ann is str:
        if isinstance(value, str):
            return value
    elif ann is bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
    elif ann is dict:
        return check_payload(value, where)
    elif origin is list:
        (inner,) = typing.get_args(ann)
        if isinstance(value, (list, tuple)):
            return [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    elif dataclasses.is_dataclass(ann):
        if isinstance(value, dict):
            return from_map(ann, value, where)
    else:  # pragma: no cover - a schema bug
        raise TypeError(f"unsupported annotation {ann!r} at {where}")
    name = getattr(ann, "__name__", str(ann))
    expected = "map" if dataclasses.is_dataclass(ann) else name
    raise ProtocolError(f"{where} must be {expected}, got {type(value).__name__} {shown(value, 40)}")




def from_map(cls: type, d: dict[str, Any], where: str | None = None) -> Any:
    """A msgpack map -> message dataclass `cls`, every field checked. Raises ProtocolError."""
    where = where or getattr(cls, "TYPE", cls.__name__)
    if not isinstance(d, dict):
        raise ProtocolError(f"{where} must be a map, got {type(d).__name__}")
    kwargs: dict[str, Any] = {}
    for name, ann, req, f in fields_of(cls):
        v = d.get(name)
        if v is None:
            if req:
                raise ProtocolError(f"{where}.{name} is required (docs/protocol.md lists the fields)")
            kwargs[name] = _default(f)
            continue
        kwargs[name] = _convert(v, ann, f"{where}.{name}")
    return cls(**kwargs)

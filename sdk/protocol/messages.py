"""The messages of protocol 1.0 as typed dataclasses: one schema for both encodings (docs/protocol.md).

Field names and meanings match proto/streamdit/v1/runtime.proto exactly; each class's `TYPE` is its msgpack
"type" string. Fields marked `required()` must be present on the wire; the others have the documented
defaults. Codecs: sdk.protocol.msgpack_codec (ZeroMQ) and sdk.protocol.proto_codec (gRPC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, Union

from sdk import errors

PROTOCOL_VERSION = "1.0"
PIXEL_FORMAT = "rgb8"
DEFAULT_CREDITS = 4

PayloadValue = Union[str, int, float, bool]
Payload = dict  # str -> PayloadValue; checked by the codecs

# Error codes (docs/protocol.md section 7): defined once, as the `code` of their exception in sdk/errors.py;
# these names are the same strings for code that builds an Error message.
BAD_MESSAGE = errors.BadMessageError.code
VERSION_MISMATCH = errors.VersionMismatchError.code
AUTH_FAILED = errors.AuthError.code
TOO_MANY_SESSIONS = errors.SessionLimitError.code
MESSAGE_TOO_LARGE = errors.MessageTooLargeError.code
RATE_LIMITED = errors.RateLimitError.code
PROMPT_TOO_LONG = errors.PromptTooLongError.code
UNKNOWN_EVENT = errors.UnknownEventError.code
INVALID_ARGUMENT = errors.InvalidArgumentError.code
UNSUPPORTED = errors.UnsupportedError.code
NO_SESSION = errors.NoSessionError.code
RESUME_FAILED = errors.ResumeError.code
SHUTTING_DOWN = errors.ShuttingDownError.code
INTERNAL = errors.InternalServerError.code


def required(default: Any = None) -> Any:
    """A field that must be present on the wire (the default only serves Python constructors)."""
    if callable(default):
        return field(default_factory=default, metadata={"required": True})
    return field(default=default, metadata={"required": True})


def parse_version(text: str) -> tuple[int, int]:
    """"MAJOR.MINOR" -> (major, minor); ValueError when the text is not of that form."""
    # ASCII digits only: str.isdigit() and int() also take other scripts' digits ("\u0661.\u0660" is not "1.0")
    if not re.fullmatch(r"[0-9]{1,6}\.[0-9]{1,6}", text):
        raise ValueError(text)
    major, minor = text.split(".")
    return int(major), int(minor)


# ----------------------------------------------------------------------------------- handshake


@dataclass
class Capabilities:
    pixel_formats: list[str] = field(default_factory=lambda: [PIXEL_FORMAT])
    v2v: bool = False
    credits: int = 0  # initial credits; 0 = the runtime's default (4)


@dataclass
class SessionSettings:
    model: str = ""
    width: int = 0  # pixels; 0 = the model's
    height: int = 0
    seed: Optional[int] = None  # None = random
    prompt: str = ""
    prompt_map: str = ""  # TOML text; "" = the runtime's default prompt map
    strength: float = 0.5  # initial video-to-video strength in [0, 1]: 0 = the source, 1 = text-only


@dataclass
class Handshake:
    TYPE: ClassVar[str] = "handshake"
    protocol_version: str = required(PROTOCOL_VERSION)
    client_name: str = ""
    client_version: str = ""
    capabilities: Capabilities = field(default_factory=Capabilities)
    auth_token: str = ""
    settings: SessionSettings = field(default_factory=SessionSettings)
    resume_token: str = ""


@dataclass
class Limits:
    max_message_bytes: int = 0
    max_events_per_second: float = 0.0
    max_prompt_chars: int = 0
    max_sessions: int = 0
    max_credits: int = 0


@dataclass
class HandshakeReply:
    TYPE: ClassVar[str] = "handshake_reply"
    session_id: str = required("")
    resume_token: str = ""
    protocol_version: str = PROTOCOL_VERSION
    model: str = ""
    fps: float = 0.0  # frames per second
    frames_per_chunk: int = 1
    width: int = 0  # pixels
    height: int = 0
    pixel_format: str = PIXEL_FORMAT
    credits: int = DEFAULT_CREDITS
    resumed: bool = False
    next_frame_index: int = 0
    limits: Limits = field(default_factory=Limits)
    prompt_map: str = ""  # the map in effect: "session", "checkpoint:NAME", "file:PATH"; "" = none
    prompt_map_sha256: str = ""  # hex SHA-256 of its TOML text; "" = none
    v2v: bool = False  # the runtime serves video-to-video (source_frame)


# ----------------------------------------------------------------------------------- client messages


@dataclass
class Event:
    TYPE: ClassVar[str] = "event"
    event_id: int = required(0)  # > 0, increasing within the session
    event_type: str = required("")
    payload: Payload = field(default_factory=dict)
    client_time_us: int = 0  # microseconds


@dataclass
class SetPrompt:
    TYPE: ClassVar[str] = "set_prompt"
    event_id: int = required(0)
    text: str = required("")
    weight: Optional[float] = None  # None = 1.0
    transition_steps: int = 0  # chunks


@dataclass
class SourceFrame:
    """A frame of the game's own render to restyle (video-to-video, docs/protocol.md section 3).

    strength: None keeps the session's current strength; otherwise in [0, 1] (0 = give the source back,
    1 = text-only), from the next chunk boundary on. anchor: True restarts the buffer from this frame, so the
    stream continues the game's current view (a session's first source frame anchors too)."""

    TYPE: ClassVar[str] = "source_frame"
    frame_index: int = 0
    width: int = required(0)
    height: int = required(0)
    pixel_format: str = PIXEL_FORMAT
    pixels: bytes = b""
    strength: Optional[float] = None
    anchor: bool = False


@dataclass
class Credit:
    TYPE: ClassVar[str] = "credit"
    n: int = required(1)


@dataclass
class Close:
    TYPE: ClassVar[str] = "close"
    reason: str = ""


@dataclass
class GetInfo:
    TYPE: ClassVar[str] = "get_info"
    auth_token: str = ""


@dataclass
class ListModels:
    TYPE: ClassVar[str] = "list_models"
    auth_token: str = ""


# ----------------------------------------------------------------------------------- server messages


@dataclass
class Frame:
    TYPE: ClassVar[str] = "frame"
    frame_index: int = required(0)
    chunk_index: int = 0
    pts_us: int = 0  # microseconds
    event_id: int = 0
    width: int = required(0)  # pixels
    height: int = required(0)
    pixel_format: str = PIXEL_FORMAT
    pixels: bytes = b""  # width*height*3 bytes (a separate part on ZeroMQ)
    source_index: int = -1  # frame_index of the source frame this frame restyles; -1 = none (text-only)


@dataclass
class EventAck:
    """The runtime applied an event or prompt change: from chunk `chunk_index` (its first frame is
    `frame_index`) the prompt in effect is `prompt`; `in_effect` is False while a higher-priority overlay
    still decides it."""

    TYPE: ClassVar[str] = "event_ack"
    event_id: int = required(0)
    chunk_index: int = 0
    frame_index: int = 0
    prompt: str = ""
    in_effect: bool = True
    client_time_us: int = 0


@dataclass
class Error:
    TYPE: ClassVar[str] = "error"
    code: str = required(INTERNAL)
    message: str = ""
    event_id: int = 0
    fatal: bool = False


@dataclass
class Stats:
    TYPE: ClassVar[str] = "stats"
    fps: float = 0.0
    frames_sent: int = 0
    frames_dropped: int = 0
    queue_depth: int = 0
    credits: int = 0
    chunk_index: int = 0
    step_ms: float = 0.0
    decode_queue: int = 0
    sessions: int = 0
    source_frames_received: int = 0  # source frames accepted from this client so far
    source_frames_dropped: int = 0  # of those, replaced by newer ones before the engine used them


@dataclass
class Closed:
    TYPE: ClassVar[str] = "closed"
    code: str = ""
    reason: str = ""


@dataclass
class ModelInfo:
    name: str = ""
    fps: float = 0.0
    frames_per_chunk: int = 1
    width: int = 0
    height: int = 0
    pixel_format: str = PIXEL_FORMAT
    buffer_frames: int = 0
    chunk_size: int = 0
    temporal_factor: int = 1
    text_encoder: str = ""
    prompt_map: str = ""  # default map of sessions that send none: "checkpoint:NAME", "file:PATH"; "" = none
    prompt_map_sha256: str = ""  # hex SHA-256 of its TOML text
    backend: str = ""  # what runs the model: "torch-compiled", "torch-eager", "onnxruntime", "onnxruntime-int8"
    provider: str = ""  # where: "cpu", "cuda" (torch), or an onnxruntime execution provider, "CPUExecutionProvider"


@dataclass
class ModelList:
    TYPE: ClassVar[str] = "model_list"
    models: list[ModelInfo] = field(default_factory=list)


@dataclass
class RuntimeInfo:
    TYPE: ClassVar[str] = "runtime_info"
    protocol_version: str = PROTOCOL_VERSION
    server_version: str = ""
    models: list[ModelInfo] = field(default_factory=list)
    sessions_active: int = 0
    auth_required: bool = False
    limits: Limits = field(default_factory=Limits)
    transports: list[str] = field(default_factory=list)


ClientMessage = Union[Handshake, Event, SetPrompt, SourceFrame, Credit, Close, GetInfo, ListModels]
ServerMessage = Union[HandshakeReply, Frame, EventAck, Error, Stats, Closed, RuntimeInfo, ModelList]

CLIENT_TYPES: dict[str, type] = {c.TYPE: c for c in (Handshake, Event, SetPrompt, SourceFrame, Credit, Close,
                                                      GetInfo, ListModels)}
SERVER_TYPES: dict[str, type] = {c.TYPE: c for c in (HandshakeReply, Frame, EventAck, Error, Stats, Closed,
                                                      RuntimeInfo, ModelList)}
PIXEL_TYPES = (Frame, SourceFrame)  # messages whose pixels travel as a second ZeroMQ part


def rgb8_sized(msg: Any) -> bool:
    """Whether the codecs check that msg.pixels holds width*height*3 bytes: always for a frame; for a
    source_frame only when it says "rgb8" (another pixel format is refused by the runtime with
    invalid_argument, naming the one it takes, and the session goes on)."""
    return not isinstance(msg, SourceFrame) or msg.pixel_format == PIXEL_FORMAT

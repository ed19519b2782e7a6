"""Every limit of protocol 1.0 in one table, checked the same way for every transport (docs/protocol.md section 7).

`LIMITS` is the table: the fixed limits (the same in every runtime) and the runtime's settings (ServeConfig
fields, sent in `limits` of handshake_reply and runtime_info). The runtime checks each decoded client message
with `check_client(msg)` whatever carried it (gRPC, ZeroMQ, local), and the prompt-map parser uses the same
bounds, so a value refused on one transport is refused on every other. `docs/protocol.md` prints the table
(`markdown_table()`; a test compares the two).

`shown(value)` is how every error message and log line quotes a client's value: escaped (control characters
cannot forge a log line) and cut to MAX_ECHO_CHARS characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sdk.errors import ProtocolError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT32_MAX, UINT64_MAX = 2**32 - 1, 2**64 - 1

MAX_ECHO_CHARS = 64  # characters of a client's value quoted in an error message or a log line
MAX_PAYLOAD_KEYS = 64
MAX_PAYLOAD_KEY_CHARS = 64
MAX_EVENT_TYPE_CHARS = 64
MAX_NAME_CHARS = 128  # client_name, client_version, settings.model, close reason, pixel format names
MAX_TOKEN_CHARS = 256  # auth_token, resume_token
MAX_VERSION_CHARS = 16
MAX_PIXEL_FORMATS = 8
MAX_FRAME_SIDE = 16384  # pixels: settings.width / height, source_frame width / height
MAX_TRANSITION_STEPS = 10_000  # chunks (set_prompt and prompt-map rules)
MAX_DURATION_CHUNKS = 1_000_000  # prompt-map duration_chunks
MAX_DURATION_SECONDS = 86_400.0  # prompt-map duration_seconds (one day)
MAX_GUIDANCE = 8.0  # prompt-map guidance: the scale against the prompt before its event
MAX_RULES = 256  # [events.TYPE] tables in one prompt map


@dataclass(frozen=True)
class Limit:
    """One row of the table: what is limited, the bound, its unit, the error code, and whether the runtime's
    ServeConfig sets it (`setting` names the field; "" = fixed by the protocol)."""

    what: str
    bound: str
    code: str
    setting: str = ""


LIMITS: tuple[Limit, ...] = (
    Limit("client message size (all parts)", "max_message_bytes (default 1 MiB)", "message_too_large",
          "max_message_bytes"),
    Limit("client messages per second, per connection (dropped before decoding)",
          "max_messages_per_second (default 200, burst of the same size) + 1 per frame sent to it", "rate_limited",
          "max_messages_per_second"),
    Limit("handshakes per second, per connection", "max_handshakes_per_second (default 2, burst 4)",
          "rate_limited (fatal)", "max_handshakes_per_second"),
    Limit("events + set_prompt per second, per session", "max_events_per_second (default 20, burst of the same size)",
          "rate_limited", "max_events_per_second"),
    Limit("prompt text (set_prompt, settings.prompt, a filled template)", "max_prompt_chars (default 400) characters",
          "prompt_too_long", "max_prompt_chars"),
    Limit("sessions at once", "max_sessions (default 8)", "too_many_sessions (fatal)", "max_sessions"),
    Limit("credits held (handshake capabilities.credits: 0 to max_credits; larger credit totals are clamped)",
          "max_credits (default 64)", "invalid_argument", "max_credits"),
    Limit("a session that neither reads nor credits while frames wait", "idle_timeout_s (default 10 s)",
          "closed{idle}; resumable", "idle_timeout_s"),
    Limit("protocol_version", f"ASCII `MAJOR.MINOR`, at most {MAX_VERSION_CHARS} characters", "version_mismatch (fatal)"),
    Limit("client_name, client_version, settings.model, close.reason, each pixel format",
          f"{MAX_NAME_CHARS} characters", "invalid_argument"),
    Limit("auth_token, resume_token", f"{MAX_TOKEN_CHARS} characters", "invalid_argument"),
    Limit("capabilities.pixel_formats", f"{MAX_PIXEL_FORMATS} entries", "invalid_argument"),
    Limit("settings.width / height, source_frame width / height", f"0 to {MAX_FRAME_SIDE} pixels", "invalid_argument"),
    Limit("settings.seed, client_time_us", "signed 64-bit integer", "invalid_argument"),
    Limit("event_id, frame_index", f"0 to {UINT64_MAX} (2^64 - 1); event ids > 0 and increasing", "invalid_argument"),
    Limit("credit.n", f"0 to {UINT32_MAX} (2^32 - 1)", "invalid_argument"),
    Limit("event_type", f"{MAX_EVENT_TYPE_CHARS} characters", "invalid_argument"),
    Limit("event payload", f"{MAX_PAYLOAD_KEYS} keys of at most {MAX_PAYLOAD_KEY_CHARS} characters; "
          "integer values signed 64-bit", "invalid_argument"),
    Limit("set_prompt.weight", "finite, in (0, 1]", "invalid_argument"),
    Limit("source_frame.strength, settings.strength", "finite, in [0, 1]", "invalid_argument"),
    Limit("source_frame size and pixel format", "the session's width x height, `rgb8` (else refused, the session "
          "goes on)", "invalid_argument"),
    Limit("source frames waiting for the engine, per session", "the newest few (older ones are dropped and counted "
          "in stats.source_frames_dropped)", "-"),
    Limit("transition_steps (set_prompt and prompt-map rules)", f"0 to {MAX_TRANSITION_STEPS} chunks", "invalid_argument"),
    Limit("prompt-map duration_chunks", f"1 to {MAX_DURATION_CHUNKS} chunks", "invalid_argument"),
    Limit("prompt-map duration_seconds", f"finite, > 0 and at most {MAX_DURATION_SECONDS:g} s", "invalid_argument"),
    Limit("prompt-map priority", f"{INT32_MIN} to {INT32_MAX}", "invalid_argument"),
    Limit("prompt-map guidance", f"0 to {MAX_GUIDANCE:g}", "invalid_argument"),
    Limit("prompt-map guidance_chunks / guidance_seconds", "as duration_chunks / duration_seconds", "invalid_argument"),
    Limit("prompt-map rules", f"{MAX_RULES} [events.TYPE] tables", "invalid_argument"),
    Limit("a client's value quoted in an error message or log line", f"{MAX_ECHO_CHARS} characters, escaped", "-"),
)


def markdown_table() -> str:
    """The table as docs/protocol.md prints it."""
    rows = ["| limited | bound | error when exceeded | set by |", "| --- | --- | --- | --- |"]
    for lim in LIMITS:
        rows.append(f"| {lim.what} | {lim.bound} | `{lim.code}` | "
                    f"{('`streamdit serve` / ServeConfig.' + lim.setting) if lim.setting else 'protocol'} |")
    return "\n".join(rows)


def shown(value: Any, limit: int = MAX_ECHO_CHARS, *, quote: bool = True) -> str:
    """A client's value as an error message or a log line may quote it: repr() (so newlines and other control
    characters appear escaped, never raw) cut to `limit` characters, with the full length when cut.
    quote=False leaves out the quotes around a string (for names inside a phrase, e.g. [events.NAME])."""
    text = repr(value)
    if not quote and isinstance(value, str):
        text = text[1:-1]
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, (str, bytes)) else ""
    return text[: max(1, limit - 3)] + "..." + size


# ----------------------------------------------------------------------------------- checks
def _fail(what: str, value: Any, bound: str) -> ProtocolError:
    return ProtocolError(f"{what} = {shown(value)} is out of range: it must be {bound} (docs/protocol.md "
                         f"section 7, limits)", code="invalid_argument")


def check_int(value: int, lo: int, hi: int, what: str, unit: str = "") -> int:
    """value if lo <= value <= hi, else ProtocolError(invalid_argument) naming `what` and the range."""
    if not lo <= value <= hi:
        raise _fail(what, value, f"in [{lo}, {hi}]{' ' + unit if unit else ''}")
    return value


def check_unit(value: float, what: str) -> float:
    """value if it is finite and in [0, 1] (a video-to-video strength), else ProtocolError(invalid_argument)."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise _fail(what, value, "finite and in [0, 1] (0 = the source, 1 = text-only)")
    return value


def check_chars(text: str, limit: int, what: str) -> str:
    if len(text) > limit:
        raise ProtocolError(f"{what} has {len(text)} characters; at most {limit} are allowed (it starts "
                            f"{shown(text[:MAX_ECHO_CHARS])})", code="invalid_argument")
    return text


def check_payload_size(payload: dict[str, Any], where: str = "event.payload") -> None:
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise ProtocolError(f"{where} has {len(payload)} keys; at most {MAX_PAYLOAD_KEYS} are allowed",
                            code="invalid_argument")
    for k, v in payload.items():
        check_chars(k, MAX_PAYLOAD_KEY_CHARS, f"{where} key")
        if isinstance(v, int) and not isinstance(v, bool):
            check_int(v, INT64_MIN, INT64_MAX, f"{where}[{shown(k)}]")


def check_client(msg: Any) -> None:
    """Check a decoded client message against the fixed limits; ProtocolError (invalid_argument) names the
    field, the value (cut) and the allowed range. Bounds that depend on the runtime's settings (credits, prompt
    length, message size, rates) are checked by the runtime itself."""
    kind = getattr(msg, "TYPE", "")
    if kind == "handshake":
        if len(msg.protocol_version) > MAX_VERSION_CHARS:
            raise ProtocolError(f"protocol_version {shown(msg.protocol_version)} is not 'MAJOR.MINOR'",
                                code="version_mismatch")
        for name in ("client_name", "client_version"):
            check_chars(getattr(msg, name), MAX_NAME_CHARS, f"handshake.{name}")
        for name in ("auth_token", "resume_token"):
            check_chars(getattr(msg, name), MAX_TOKEN_CHARS, f"handshake.{name}")
        caps, st = msg.capabilities, msg.settings
        if len(caps.pixel_formats) > MAX_PIXEL_FORMATS:
            raise _fail("handshake.capabilities.pixel_formats (entries)", len(caps.pixel_formats),
                        f"at most {MAX_PIXEL_FORMATS}")
        for f in caps.pixel_formats:
            check_chars(f, MAX_NAME_CHARS, "a pixel format name")
        check_int(caps.credits, 0, UINT32_MAX, "handshake.capabilities.credits", "(0 = the runtime's default)")
        check_chars(st.model, MAX_NAME_CHARS, "handshake.settings.model")
        check_int(st.width, 0, MAX_FRAME_SIDE, "handshake.settings.width", "pixels")
        check_int(st.height, 0, MAX_FRAME_SIDE, "handshake.settings.height", "pixels")
        if st.seed is not None:
            check_int(st.seed, INT64_MIN, INT64_MAX, "handshake.settings.seed")
        check_unit(st.strength, "handshake.settings.strength")
    elif kind == "event":
        check_int(msg.event_id, 0, UINT64_MAX, "event.event_id")
        check_chars(msg.event_type, MAX_EVENT_TYPE_CHARS, "event.event_type")
        check_payload_size(msg.payload)
        check_int(msg.client_time_us, INT64_MIN, INT64_MAX, "event.client_time_us", "microseconds")
    elif kind == "set_prompt":
        check_int(msg.event_id, 0, UINT64_MAX, "set_prompt.event_id")
        if msg.weight is not None and not (math.isfinite(msg.weight) and 0.0 < msg.weight <= 1.0):
            raise _fail("set_prompt.weight", msg.weight, "finite and in (0, 1]")
        check_int(msg.transition_steps, 0, MAX_TRANSITION_STEPS, "set_prompt.transition_steps", "chunks")
    elif kind == "source_frame":
        check_int(msg.frame_index, 0, UINT64_MAX, "source_frame.frame_index")
        check_int(msg.width, 0, MAX_FRAME_SIDE, "source_frame.width", "pixels")
        check_int(msg.height, 0, MAX_FRAME_SIDE, "source_frame.height", "pixels")
        if msg.strength is not None:
            check_unit(msg.strength, "source_frame.strength")
    elif kind == "credit":
        check_int(msg.n, 0, UINT32_MAX, "credit.n", "frames")
    elif kind == "close":
        check_chars(msg.reason, MAX_NAME_CHARS, "close.reason")
    elif kind in ("get_info", "list_models"):
        check_chars(msg.auth_token, MAX_TOKEN_CHARS, f"{kind}.auth_token")

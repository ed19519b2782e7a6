"""The one exception tree of the project (STYLE.md, rule 8).

Both the SDK and the runtime raise these. Every message names the value that was wrong, the allowed
range or form, and what to do about it. Library code never prints, never exits, and never signals
failure by returning None.
"""

from __future__ import annotations


class StreamDiTError(Exception):
    """Base class of every error the StreamDiT SDK and runtime raise on purpose."""


class ConfigError(StreamDiTError, ValueError):
    """A configuration value is invalid: a partition scheme, a model size, a CLI option."""


class ShapeError(StreamDiTError, ValueError):
    """A tensor or array has the wrong shape or dtype; the message gives the expected and actual shape."""


class PromptError(StreamDiTError, ValueError):
    """A prompt is empty, too long, or otherwise unusable."""


class CheckpointError(StreamDiTError):
    """A checkpoint is missing, corrupted, or its config does not match its weights.

    Raised before anything is overwritten or any model state is changed.
    """


class DataError(StreamDiTError):
    """A data set or one of its shards is missing or corrupted."""


# ----------------------------------------------------------------------------------- wire and server errors


class ProtocolError(StreamDiTError, ValueError):
    """A message broke the wire protocol (docs/protocol.md): undecodable, a missing or ill-typed field.

    `code` is the wire error code the runtime answers with (usually "bad_message").
    """

    def __init__(self, message: str, code: str = "bad_message") -> None:
        super().__init__(message)
        self.code = code


class TransportError(StreamDiTError, ConnectionError):
    """The connection to the runtime failed or was lost, and could not be resumed.

    Check that `streamdit serve` is running, that the URL's host and port match its --host and
    --grpc-port / --zmq-port, and that no firewall sits between the two.
    """


class RuntimeTimeoutError(TransportError, TimeoutError):
    """The runtime did not answer in time (handshake, event acknowledgement, frame)."""


class SessionClosedError(StreamDiTError):
    """The session is closed (by close(), by the runtime, or after a fatal error); open a new Session."""


class ServerError(StreamDiTError):
    """The runtime answered with an Error message; `str(err)` keeps the runtime's own message.

    Attributes: code (the wire error code, docs/protocol.md section 7), server_message, event_id (0 = none),
    fatal (True when the runtime ended the session).
    """

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, event_id: int = 0, fatal: bool = False) -> None:
        super().__init__(message)
        self.server_message = message
        if code is not None:
            self.code = code
        self.event_id = int(event_id)
        self.fatal = bool(fatal)


class BadMessageError(ServerError):
    """The runtime could not decode a message this client sent (a client bug or a codec mismatch)."""

    code = "bad_message"


class VersionMismatchError(ServerError):
    """Client and runtime speak different major protocol versions: update the side that is behind."""

    code = "version_mismatch"


class AuthError(ServerError):
    """The auth token is missing or wrong: pass the token the runtime was started with (--auth-token)."""

    code = "auth_failed"


class SessionLimitError(ServerError):
    """The runtime already serves its maximum number of sessions: close one, or raise the limit."""

    code = "too_many_sessions"


class MessageTooLargeError(ServerError):
    """A message exceeded the runtime's maximum message size (see the handshake reply's limits)."""

    code = "message_too_large"


class RateLimitError(ServerError):
    """Events or prompt changes came faster than the runtime's per-session limit; that one was dropped."""

    code = "rate_limited"


class PromptTooLongError(ServerError, PromptError):
    """A prompt (after filling its template) exceeded the runtime's maximum prompt length."""

    code = "prompt_too_long"


class UnknownEventError(ServerError):
    """An event type has no rule in the session's prompt map: add a [events.TYPE] table."""

    code = "unknown_event"


class InvalidArgumentError(ServerError):
    """A value was out of range: an event id, a frame size, a prompt map, a template value."""

    code = "invalid_argument"


class UnsupportedError(ServerError):
    """The runtime does not support this request (e.g. video-to-video in protocol 1.0)."""

    code = "unsupported"


class NoSessionError(ServerError):
    """A session message arrived on a connection that has not completed its handshake."""

    code = "no_session"


class ResumeError(ServerError):
    """The resume token is unknown or expired: start a new session."""

    code = "resume_failed"


class ShuttingDownError(ServerError):
    """The runtime is shutting down and closed the session."""

    code = "shutting_down"


class InternalServerError(ServerError):
    """The runtime failed on its side; the message says what failed."""

    code = "internal"


SERVER_ERRORS: dict[str, type[ServerError]] = {
    cls.code: cls
    for cls in (BadMessageError, VersionMismatchError, AuthError, SessionLimitError, MessageTooLargeError,
                RateLimitError, PromptTooLongError, UnknownEventError, InvalidArgumentError, UnsupportedError,
                NoSessionError, ResumeError, ShuttingDownError, InternalServerError)
}


def server_error(code: str, message: str, *, event_id: int = 0, fatal: bool = False) -> ServerError:
    """The typed exception for a wire Error message (an unknown code gives a plain ServerError)."""
    cls = SERVER_ERRORS.get(code, ServerError)
    return cls(message, code=code, event_id=event_id, fatal=fatal)

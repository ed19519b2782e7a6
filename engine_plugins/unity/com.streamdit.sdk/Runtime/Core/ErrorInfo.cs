using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// The <see cref="ErrorInfo.Code"/> values a <see cref="StreamDiTSession"/> reports. The first group is
    /// the runtime's error codes (docs/protocol.md section 7), passed through as the runtime sent them; the
    /// second group is detected by this client.
    /// </summary>
    public static class ErrorCodes
    {
        /// <summary>A message broke the protocol. Sent by the runtime: one of ours was malformed; detected by this client
        /// (<see cref="ErrorInfo.FromRuntime"/> false): one of the runtime's was, and it was ignored.</summary>
        public const string BadMessage = "bad_message";
        /// <summary>The two sides speak different major protocol versions: update the one that is behind.</summary>
        public const string VersionMismatch = "version_mismatch";
        /// <summary>The auth token is missing or wrong.</summary>
        public const string AuthFailed = "auth_failed";
        /// <summary>The runtime already serves its maximum number of sessions.</summary>
        public const string TooManySessions = "too_many_sessions";
        /// <summary>A message above the runtime's max_message_bytes; it was ignored.</summary>
        public const string MessageTooLarge = "message_too_large";
        /// <summary>More events per second than the runtime allows; that event was dropped.</summary>
        public const string RateLimited = "rate_limited";
        /// <summary>A prompt longer than the runtime's max_prompt_chars.</summary>
        public const string PromptTooLong = "prompt_too_long";
        /// <summary>The prompt map has no rule for the event type.</summary>
        public const string UnknownEvent = "unknown_event";
        /// <summary>A value out of range (event id, frame size, prompt map, template value).</summary>
        public const string InvalidArgument = "invalid_argument";
        /// <summary>A feature the runtime does not serve.</summary>
        public const string Unsupported = "unsupported";
        /// <summary>A session message before the handshake.</summary>
        public const string NoSession = "no_session";
        /// <summary>The resume token is unknown or expired: start a new session.</summary>
        public const string ResumeFailed = "resume_failed";
        /// <summary>The runtime is stopping.</summary>
        public const string ShuttingDown = "shutting_down";
        /// <summary>A bug in the runtime.</summary>
        public const string Internal = "internal";

        /// <summary>Client side: the runtime could not be reached, or the connection was lost (and could not be resumed when fatal).</summary>
        public const string Transport = "transport";
        /// <summary>Client side: the runtime accepted the connection but did not answer the handshake in time.</summary>
        public const string Timeout = "timeout";
        /// <summary>Client side: the runtime ended the session (for example it was resumed on another connection).</summary>
        public const string SessionClosed = "session_closed";
        /// <summary>Client side: too many events or prompt changes are waiting for the connection; this one was dropped.</summary>
        public const string QueueFull = "queue_full";
        /// <summary>Client side: a handler of a <see cref="StreamDiTSession"/> event threw; the message carries the exception.</summary>
        public const string CallbackFailed = "callback_failed";
    }

    /// <summary>
    /// An immutable description of something that went wrong in a session, as delivered by
    /// <see cref="StreamDiTSession.Error"/> and kept in <see cref="StreamDiTSession.LastError"/>: the fields of
    /// the wire's error message (code, message, event_id, fatal; docs/protocol.md section 7) and whether the
    /// runtime sent it. A record, not an exception: what the package throws derives from
    /// <see cref="StreamDiTException"/> (the Python SDK's <c>sdk.errors.StreamDiTError</c>). Safe to share
    /// between threads.
    /// </summary>
    public sealed class ErrorInfo
    {
        /// <summary>One of <see cref="ErrorCodes"/>; a newer runtime may send other codes.</summary>
        public string Code { get; private set; }

        /// <summary>What went wrong and what to check; never null or empty.</summary>
        public string Message { get; private set; }

        /// <summary>The event or prompt change that failed (the id PushEvent/SetPrompt returned); 0 = none.</summary>
        public long EventId { get; private set; }

        /// <summary>True when the session ended because of this error (its state is then Failed).</summary>
        public bool Fatal { get; private set; }

        /// <summary>True when the runtime sent this error; false when this client detected it.</summary>
        public bool FromRuntime { get; private set; }

        /// <summary>Creates an error.</summary>
        /// <exception cref="ArgumentException"><paramref name="code"/> or <paramref name="message"/> is null or empty.</exception>
        public ErrorInfo(string code, string message, long eventId, bool fatal, bool fromRuntime)
        {
            if (string.IsNullOrEmpty(code)) throw new ArgumentException("an ErrorInfo needs a code", "code");
            if (string.IsNullOrEmpty(message)) throw new ArgumentException("an ErrorInfo needs a message", "message");
            Code = code;
            Message = message;
            EventId = eventId;
            Fatal = fatal;
            FromRuntime = fromRuntime;
        }

        /// <summary>Returns "code: message" (with the event id and "fatal" when they apply).</summary>
        public override string ToString()
        {
            return Code + (EventId != 0 ? " (event " + EventId + ")" : "") + (Fatal ? " [fatal]" : "") + ": " + Message;
        }
    }
}

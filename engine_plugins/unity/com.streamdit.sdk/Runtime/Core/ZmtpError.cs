using System;

namespace StreamDiT.Core
{
    /// <summary>What went wrong on a ZMTP connection. Each kind has its own remedy in the message.</summary>
    public enum ZmtpErrorKind
    {
        /// <summary>The host name did not resolve to any address.</summary>
        HostNotFound,
        /// <summary>Nothing listens at host:port (TCP connection refused).</summary>
        ConnectionRefused,
        /// <summary>The TCP connection was not established within the connect timeout.</summary>
        ConnectTimeout,
        /// <summary>The peer did not complete the greeting and READY exchange within the handshake timeout.</summary>
        HandshakeTimeout,
        /// <summary>The peer's first bytes are not a ZMTP greeting (wrong port or not ZeroMQ).</summary>
        BadGreeting,
        /// <summary>The peer speaks a ZMTP version older than 3.0.</summary>
        UnsupportedVersion,
        /// <summary>The peer uses a security mechanism other than NULL (for example CURVE or PLAIN).</summary>
        UnsupportedMechanism,
        /// <summary>The peer's Socket-Type cannot talk to a DEALER (it must be ROUTER, DEALER or REP).</summary>
        IncompatibleSocketType,
        /// <summary>The peer sent an ERROR command; the message carries its reason.</summary>
        PeerError,
        /// <summary>The peer broke the ZMTP grammar: bad flags, bad command, message before READY.</summary>
        MalformedFrame,
        /// <summary>A received message is larger than <see cref="ZmtpClientOptions.MaxMessageSize"/>.</summary>
        MessageTooLarge,
        /// <summary>The peer closed the TCP connection.</summary>
        PeerClosed,
        /// <summary>Any other socket or stream failure; the message carries the system's text.</summary>
        IoError,
        /// <summary>The local side closed the client with <see cref="ZmtpClient.Close"/>.</summary>
        Closed,
        /// <summary>More messages were queued with <see cref="ZmtpClient.Send"/> than <see cref="ZmtpClientOptions.SendQueueLimit"/>.</summary>
        SendQueueFull,
    }

    /// <summary>
    /// An immutable description of a connection failure: a <see cref="Kind"/> to branch on and a
    /// <see cref="Message"/> for people that names the endpoint and what to check. Safe to share between threads.
    /// </summary>
    public sealed class ZmtpError
    {
        /// <summary>The category of the failure.</summary>
        public ZmtpErrorKind Kind { get; private set; }

        /// <summary>A full sentence saying what happened and what to check; never null or empty.</summary>
        public string Message { get; private set; }

        /// <summary>Creates an error.</summary>
        /// <exception cref="ArgumentException"><paramref name="message"/> is null or empty.</exception>
        public ZmtpError(ZmtpErrorKind kind, string message)
        {
            if (string.IsNullOrEmpty(message)) throw new ArgumentException("a ZmtpError needs a message", "message");
            Kind = kind;
            Message = message;
        }

        /// <summary>Returns "Kind: Message".</summary>
        public override string ToString()
        {
            return Kind + ": " + Message;
        }
    }
}

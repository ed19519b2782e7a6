using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// Settings of a <see cref="ZmtpClient"/>, fixed when the client is constructed (later changes have no effect).
    /// Defaults suit a runtime on the same machine streaming frames up to 512x512 RGB.
    /// </summary>
    public sealed class ZmtpClientOptions
    {
        /// <summary>Largest received message accepted, in bytes: the sum of its parts' bodies (a single command
        /// is bounded too). A larger one faults the connection with <see cref="ZmtpErrorKind.MessageTooLarge"/>.
        /// Default 64 MiB.</summary>
        public int MaxMessageSize { get; set; }

        /// <summary>Time allowed for the TCP connect, in milliseconds. Default 5000.</summary>
        public int ConnectTimeoutMilliseconds { get; set; }

        /// <summary>Time allowed from TCP connect to the peer's READY command, in milliseconds. Default 5000.</summary>
        public int HandshakeTimeoutMilliseconds { get; set; }

        /// <summary>Most messages waiting to be written; <see cref="ZmtpClient.Send"/> throws
        /// <see cref="ZmtpException"/> (<see cref="ZmtpErrorKind.SendQueueFull"/>) beyond it. Default 1000.</summary>
        public int SendQueueLimit { get; set; }

        /// <summary>Most received messages waiting for <see cref="ZmtpClient.TryReceive"/>. When full, the client
        /// stops reading the socket until the caller takes messages, so TCP flow control slows the peer,
        /// as a ZeroMQ receive high-water mark does. Default 1000.</summary>
        public int ReceiveQueueLimit { get; set; }

        /// <summary>How long <see cref="ZmtpClient.Close"/> waits for queued messages to be written, in
        /// milliseconds; 0 drops them at once. Default 200.</summary>
        public int LingerMilliseconds { get; set; }

        /// <summary>Creates options with the defaults.</summary>
        public ZmtpClientOptions()
        {
            MaxMessageSize = 64 * 1024 * 1024;
            ConnectTimeoutMilliseconds = 5000;
            HandshakeTimeoutMilliseconds = 5000;
            SendQueueLimit = 1000;
            ReceiveQueueLimit = 1000;
            LingerMilliseconds = 200;
        }

        /// <summary>Returns an independent copy.</summary>
        public ZmtpClientOptions Clone()
        {
            return (ZmtpClientOptions)MemberwiseClone();
        }

        /// <summary>Checks every setting.</summary>
        /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and its range.</exception>
        public void Validate()
        {
            Positive(MaxMessageSize, "MaxMessageSize");
            Positive(ConnectTimeoutMilliseconds, "ConnectTimeoutMilliseconds");
            Positive(HandshakeTimeoutMilliseconds, "HandshakeTimeoutMilliseconds");
            Positive(SendQueueLimit, "SendQueueLimit");
            Positive(ReceiveQueueLimit, "ReceiveQueueLimit");
            if (LingerMilliseconds < 0)
                throw new ArgumentOutOfRangeException("LingerMilliseconds", LingerMilliseconds, "LingerMilliseconds must be >= 0");
        }

        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentOutOfRangeException(name, value, name + " must be > 0");
        }
    }
}

using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// Base class of every exception the StreamDiT Unity package throws on purpose. Mirrors
    /// <c>sdk.errors.StreamDiTError</c> of the Python SDK: each message names what was wrong and what to check.
    /// </summary>
    public class StreamDiTException : Exception
    {
        /// <summary>Creates the exception with a message that says what to check.</summary>
        public StreamDiTException(string message) : base(message) { }

        /// <summary>Creates the exception with a message and the lower-level exception that caused it.</summary>
        public StreamDiTException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>
    /// A ZMTP connection failed or was used after it failed or closed. <see cref="Error"/> carries the kind
    /// and the message that <see cref="ZmtpClient.Faulted"/> reported.
    /// </summary>
    public class ZmtpException : StreamDiTException
    {
        /// <summary>The failure this exception reports; never null.</summary>
        public ZmtpError Error { get; private set; }

        /// <summary>Creates the exception from a connection error.</summary>
        /// <exception cref="ArgumentNullException"><paramref name="error"/> is null.</exception>
        public ZmtpException(ZmtpError error) : base(error == null ? "" : error.Message)
        {
            if (error == null) throw new ArgumentNullException("error");
            Error = error;
        }
    }

    /// <summary>
    /// Msgpack input is truncated or malformed (bad type byte, length prefix longer than the data, invalid
    /// UTF-8, non-string map key, nesting deeper than <see cref="MsgPackReader.MaxDepth"/>), or a value has
    /// no msgpack encoding. <see cref="Offset"/> is the byte offset of the problem in the input, or -1 when
    /// writing.
    /// </summary>
    internal class MsgPackException : StreamDiTException
    {
        /// <summary>Byte offset in the input where decoding failed; -1 for encoding errors.</summary>
        public int Offset { get; private set; }

        /// <summary>Creates the exception for a problem at <paramref name="offset"/> (-1 when encoding).</summary>
        public MsgPackException(string message, int offset) : base(message)
        {
            Offset = offset;
        }
    }
}

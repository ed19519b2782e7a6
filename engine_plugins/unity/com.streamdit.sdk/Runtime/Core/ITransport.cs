using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// The connection a <see cref="StreamDiTSession"/> speaks the protocol through: multipart messages (one byte
    /// array per part, docs/protocol.md section 3) to and from one runtime, for one connection attempt (the session
    /// makes a new transport for every reconnect). <see cref="ZmtpClient"/>, ZeroMQ over TCP, is the package's;
    /// <see cref="StreamDiTSessionOptions.TransportFactory"/> puts another in its place, such as a scripted fake
    /// in a test.
    /// <para>Contract: every member is safe to call from any thread and returns at once, except
    /// <see cref="Close"/>, which may wait briefly for queued messages. A transport fails at most once and then
    /// stays failed; messages received before the failure can still be taken.</para>
    /// </summary>
    public interface ITransport : IDisposable
    {
        /// <summary>Raised, on any thread, whenever the session should look at the transport again: the connection
        /// became ready, a message arrived, or the transport failed. The transport catches what a handler throws.</summary>
        event Action Changed;

        /// <summary>Null while the transport works; once it has failed, a sentence that says what happened and what
        /// to check (for <see cref="ZmtpClient"/>, its <see cref="ZmtpClient.Error"/>'s message).</summary>
        string FaultMessage { get; }

        /// <summary>Starts connecting in the background and returns at once; called once, after the first
        /// <see cref="Send"/> (the handshake), which the transport writes as soon as the connection is ready.</summary>
        void Connect();

        /// <summary>Queues one multipart message, to be written in the order of the calls. The arrays are not to be
        /// changed afterwards.</summary>
        /// <exception cref="StreamDiTException">The transport failed or was closed, or its send queue is full
        /// (<see cref="ZmtpException"/> for <see cref="ZmtpClient"/>).</exception>
        void Send(byte[][] parts);

        /// <summary>Takes the oldest received message; false, with <paramref name="parts"/> null, when none is
        /// waiting. Never blocks.</summary>
        bool TryReceive(out byte[][] parts);

        /// <summary>Closes the connection; idempotent, never throws. A failed transport stays failed.</summary>
        void Close();
    }

    /// <summary>
    /// Makes the transport for one connection attempt to <paramref name="host"/>:<paramref name="port"/> (the
    /// session's <see cref="StreamDiTSessionOptions.Host"/> and <see cref="StreamDiTSessionOptions.Port"/>); called
    /// on the session's background thread, once per attempt, and must return a new, unconnected transport.
    /// </summary>
    public delegate ITransport TransportFactory(string host, int port);
}

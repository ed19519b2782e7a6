using System;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading;

namespace StreamDiT.Core
{
    /// <summary>Lifecycle of a <see cref="ZmtpClient"/>. It only moves forward: Idle, Connecting, Ready, then Closed or Faulted.</summary>
    public enum ZmtpClientState
    {
        /// <summary>Constructed; <see cref="ZmtpClient.Connect"/> not called yet.</summary>
        Idle,
        /// <summary>TCP connect, greeting and READY exchange in progress.</summary>
        Connecting,
        /// <summary>Handshake complete; messages flow both ways.</summary>
        Ready,
        /// <summary>Closed by <see cref="ZmtpClient.Close"/>.</summary>
        Closed,
        /// <summary>Failed; <see cref="ZmtpClient.Error"/> says why.</summary>
        Faulted,
    }

    /// <summary>
    /// A ZeroMQ DEALER socket speaking ZMTP 3.1 with the NULL mechanism over one TCP connection, using only
    /// the .NET base library (RFC 37). It connects once and does not reconnect: after a fault, make a new client.
    /// <para>Threading: all I/O runs on two background threads (a reader that also connects and handshakes,
    /// and a writer). <see cref="Send"/>, <see cref="TryReceive"/>, <see cref="Close"/> and the properties
    /// are safe to call from any thread and never block, except <see cref="Close"/>, which waits at most
    /// <see cref="ZmtpClientOptions.LingerMilliseconds"/> for queued messages. The <see cref="Ready"/> and
    /// <see cref="Faulted"/> events are raised on a background thread; a Unity caller should poll
    /// <see cref="State"/> and <see cref="Error"/> from the main thread instead, or marshal.</para>
    /// </summary>
    public sealed partial class ZmtpClient : ITransport
    {
        enum Phase { AwaitGreeting, AwaitReady, Ready }

        readonly ZmtpClientOptions options;
        readonly ConcurrentQueue<byte[][]> sendQueue = new ConcurrentQueue<byte[][]>();
        readonly ConcurrentQueue<byte[]> commandQueue = new ConcurrentQueue<byte[]>();
        readonly ConcurrentQueue<byte[][]> receiveQueue = new ConcurrentQueue<byte[][]>();
        readonly AutoResetEvent sendSignal = new AutoResetEvent(false);
        readonly AutoResetEvent receiveSpace = new AutoResetEvent(false);
        readonly ManualResetEvent abortEvent = new ManualResetEvent(false);
        readonly object stateLock = new object();
        volatile ZmtpClientState state = ZmtpClientState.Idle;
        volatile ZmtpError error;
        volatile bool closeRequested;
        volatile Phase phase = Phase.AwaitGreeting;
        int sendCount;
        int receiveCount;
        TcpClient tcp;
        Thread reader;
        Thread writer;
        volatile Timer handshakeTimer;

        /// <summary>
        /// Creates a client for tcp://<paramref name="host"/>:<paramref name="port"/>; nothing happens on the
        /// network until <see cref="Connect"/>. <paramref name="options"/> is copied; null means defaults.
        /// </summary>
        /// <exception cref="ArgumentException">The host is empty, the port is outside 1..65535, or an option is out of range.</exception>
        public ZmtpClient(string host, int port, ZmtpClientOptions options = null)
        {
            if (string.IsNullOrEmpty(host)) throw new ArgumentException("host must be a host name or IP address", "host");
            if (port < 1 || port > 65535) throw new ArgumentOutOfRangeException("port", port, "port must be in 1..65535");
            this.options = (options ?? new ZmtpClientOptions()).Clone();
            this.options.Validate();
            Host = host;
            Port = port;
        }

        /// <summary>The host given to the constructor.</summary>
        public string Host { get; private set; }
        /// <summary>The TCP port given to the constructor.</summary>
        public int Port { get; private set; }
        /// <summary>The current lifecycle state.</summary>
        public ZmtpClientState State { get { return state; } }
        /// <summary>Why the client faulted; null unless <see cref="State"/> is Faulted.</summary>
        public ZmtpError Error { get { return error; } }
        /// <summary>The peer's Socket-Type from its READY command (e.g. "ROUTER"); null before Ready or if it sent none.</summary>
        public string PeerSocketType { get; private set; }
        /// <summary>Received messages waiting for <see cref="TryReceive"/>.</summary>
        public int PendingReceiveCount { get { return Volatile.Read(ref receiveCount); } }

        /// <summary>Raised once when the handshake completes, on the reader thread. Handler exceptions are caught and ignored.</summary>
        public event Action Ready;

        /// <summary>Raised on the reader thread each time a message has been queued for <see cref="TryReceive"/>.
        /// Meant for waking a consumer thread (e.g. setting a wait handle): keep the handler short, and take the
        /// message with TryReceive. Handler exceptions are caught and ignored.</summary>
        public event Action MessageReceived;

        /// <summary>Raised once when the client faults (never after <see cref="Close"/>), on a background thread,
        /// after <see cref="State"/> and <see cref="Error"/> are set. Handler exceptions are caught and ignored.</summary>
        public event Action<ZmtpError> Faulted;

        Action changed;

        /// <summary>For <see cref="ITransport"/>: raised after each <see cref="Ready"/>, <see cref="MessageReceived"/>
        /// and <see cref="Faulted"/>.</summary>
        event Action ITransport.Changed
        {
            add { lock (stateLock) changed += value; }
            remove { lock (stateLock) changed -= value; }
        }

        /// <summary>For <see cref="ITransport"/>: the message of <see cref="Error"/>; null unless Faulted.</summary>
        string ITransport.FaultMessage
        {
            get
            {
                ZmtpError e = error;
                return e == null ? null : e.Message;
            }
        }

        /// <summary>Starts connecting in the background and returns at once. Subscribe to the events first.</summary>
        /// <exception cref="InvalidOperationException">Connect was already called, or the client was closed.</exception>
        public void Connect()
        {
            lock (stateLock)
            {
                if (state != ZmtpClientState.Idle || closeRequested)
                    throw new InvalidOperationException("ZmtpClient.Connect may be called once; create a new client to reconnect");
                state = ZmtpClientState.Connecting;
                reader = new Thread(RunReader) { IsBackground = true, Name = "StreamDiT ZMTP reader" };
            }
            reader.Start();
        }

        /// <summary>
        /// Queues a multipart message (one frame per part, in order) and returns at once; it is written after
        /// the handshake, in the order of Send calls. The arrays are not copied: do not change them afterwards.
        /// Allowed while Idle, Connecting or Ready.
        /// </summary>
        /// <exception cref="ArgumentException"><paramref name="parts"/> is null, empty or holds a null part.</exception>
        /// <exception cref="ZmtpException">The client faulted (its <see cref="Error"/>), was closed, or the send queue is full.</exception>
        public void Send(byte[][] parts)
        {
            ZmtpFraming.CheckParts(parts);
            ZmtpError e = error;
            if (e != null) throw new ZmtpException(e);
            if (closeRequested)
                throw new ZmtpException(new ZmtpError(ZmtpErrorKind.Closed, "Send after Close: this ZmtpClient to "
                    + Endpoint + " is closed; create a new one"));
            if (Interlocked.Increment(ref sendCount) > options.SendQueueLimit)
            {
                Interlocked.Decrement(ref sendCount);
                throw new ZmtpException(new ZmtpError(ZmtpErrorKind.SendQueueFull, options.SendQueueLimit
                    + " messages are already waiting to be sent to " + Endpoint + ": the connection is slow or not "
                    + "ready yet; send less often or raise ZmtpClientOptions.SendQueueLimit"));
            }
            sendQueue.Enqueue((byte[][])parts.Clone());
            sendSignal.Set();
        }

        /// <summary>
        /// Takes the oldest received multipart message, if any. Returns false, with <paramref name="parts"/>
        /// null, when none is waiting. Never blocks; works in every state (messages received before a fault stay).
        /// </summary>
        public bool TryReceive(out byte[][] parts)
        {
            if (!receiveQueue.TryDequeue(out parts)) return false;
            Interlocked.Decrement(ref receiveCount);
            receiveSpace.Set();
            return true;
        }

        /// <summary>
        /// Closes the connection. When Ready, first waits up to <see cref="ZmtpClientOptions.LingerMilliseconds"/>
        /// for queued messages to be written. Idempotent; never throws. A Faulted client stays Faulted.
        /// </summary>
        public void Close()
        {
            Thread w;
            lock (stateLock)
            {
                if (closeRequested) return;
                closeRequested = true;
                w = state == ZmtpClientState.Ready ? writer : null;
            }
            if (w != null && w != Thread.CurrentThread && options.LingerMilliseconds > 0)
            {
                sendSignal.Set();
                w.Join(options.LingerMilliseconds);
            }
            lock (stateLock)
            {
                if (state != ZmtpClientState.Faulted) state = ZmtpClientState.Closed;
            }
            Shutdown();
        }

        /// <summary>Same as <see cref="Close"/>.</summary>
        public void Dispose()
        {
            Close();
        }

        string Endpoint { get { return Host + ":" + Port; } }

        void Fault(ZmtpErrorKind kind, string message)
        {
            var e = new ZmtpError(kind, message);
            lock (stateLock)
            {
                if (closeRequested || state == ZmtpClientState.Faulted || state == ZmtpClientState.Closed) return;
                error = e;
                state = ZmtpClientState.Faulted;
            }
            Shutdown();
            Action<ZmtpError> handler = Faulted;
            if (handler != null)
            {
                try { handler(e); } catch (Exception) { /* a handler must not kill the I/O thread */ }
            }
            Raise(changed);
        }

        void Raise(Action handler)
        {
            if (handler == null) return;
            try { handler(); } catch (Exception) { /* a handler must not kill the I/O thread */ }
        }

        void Shutdown()
        {
            TcpClient c;
            lock (stateLock) { c = tcp; }
            abortEvent.Set();
            sendSignal.Set();
            receiveSpace.Set();
            Timer t = handshakeTimer;
            if (t != null) t.Dispose();
            if (c != null) c.Close();
        }
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
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
    public sealed class ZmtpClient : IDisposable
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
        Timer handshakeTimer;

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

        /// <summary>Raised once when the client faults (never after <see cref="Close"/>), on a background thread,
        /// after <see cref="State"/> and <see cref="Error"/> are set. Handler exceptions are caught and ignored.</summary>
        public event Action<ZmtpError> Faulted;

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

        void RunReader()
        {
            try
            {
                TcpClient c = ConnectTcp();
                if (c == null) return;
                c.NoDelay = true;
                NetworkStream stream = c.GetStream();
                handshakeTimer = new Timer(OnHandshakeTimeout, null, options.HandshakeTimeoutMilliseconds, Timeout.Infinite);
                byte[] greeting = ZmtpFraming.EncodeGreeting();
                stream.Write(greeting, 0, greeting.Length);
                ReadLoop(stream);
            }
            catch (Exception e)
            {
                OnIoException(e);
            }
        }

        TcpClient ConnectTcp()
        {
            IPAddress[] addresses;
            try
            {
                addresses = Dns.GetHostAddresses(Host);
            }
            catch (SocketException)
            {
                addresses = new IPAddress[0];
            }
            if (addresses.Length == 0)
            {
                Fault(ZmtpErrorKind.HostNotFound, "Could not resolve the host '" + Host + "': check the host name "
                    + "(use 127.0.0.1 for a runtime on this machine)");
                return null;
            }
            // IPv4 first: the runtime binds 127.0.0.1 by default, and "localhost" often resolves to ::1 first.
            var ordered = new List<IPAddress>();
            foreach (IPAddress a in addresses) if (a.AddressFamily == AddressFamily.InterNetwork) ordered.Add(a);
            foreach (IPAddress a in addresses) if (a.AddressFamily != AddressFamily.InterNetwork) ordered.Add(a);
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(options.ConnectTimeoutMilliseconds);
            SocketException last = null;
            foreach (IPAddress address in ordered)
            {
                var c = new TcpClient(address.AddressFamily);
                lock (stateLock)
                {
                    if (closeRequested) { c.Close(); return null; }
                    tcp = c;
                }
                int remaining = Math.Max(0, (int)(deadline - DateTime.UtcNow).TotalMilliseconds);
                IAsyncResult ar = c.BeginConnect(address, Port, null, null);
                int which = WaitHandle.WaitAny(new WaitHandle[] { ar.AsyncWaitHandle, abortEvent }, remaining);
                if (which == 1) { c.Close(); return null; }
                if (which == WaitHandle.WaitTimeout)
                {
                    c.Close();
                    Fault(ZmtpErrorKind.ConnectTimeout, "No TCP answer from " + Endpoint + " within "
                        + options.ConnectTimeoutMilliseconds + " ms: check the host, the port and any firewall "
                        + "between this machine and the StreamDiT runtime");
                    return null;
                }
                try
                {
                    c.EndConnect(ar);
                    return c;
                }
                catch (SocketException e)
                {
                    last = e;
                    c.Close();
                }
            }
            if (last != null && last.SocketErrorCode == SocketError.ConnectionRefused)
                Fault(ZmtpErrorKind.ConnectionRefused, "Connection refused at " + Endpoint + ": nothing listens there. "
                    + "Check that the StreamDiT runtime is running with its ZeroMQ transport, and that host and port "
                    + "match the address it binds");
            else
                Fault(ZmtpErrorKind.IoError, "Could not connect to " + Endpoint + ": "
                    + (last != null ? last.Message : "no address to try"));
            return null;
        }

        void ReadLoop(NetworkStream stream)
        {
            var decoder = new ZmtpDecoder(options.MaxMessageSize, true);
            var parts = new List<byte[]>();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int n = stream.Read(buffer, 0, buffer.Length);
                if (n == 0)
                {
                    Fault(ZmtpErrorKind.PeerClosed, PeerClosedMessage());
                    return;
                }
                decoder.Feed(buffer, 0, n);
                ZmtpFrame frame;
                ZmtpDecodeStatus status;
                while ((status = decoder.Next(out frame)) != ZmtpDecodeStatus.NeedMoreData)
                {
                    if (status == ZmtpDecodeStatus.Error)
                    {
                        Fault(decoder.Error.Kind, "Peer at " + Endpoint + ": " + decoder.Error.Message);
                        return;
                    }
                    if (status == ZmtpDecodeStatus.Greeting)
                    {
                        phase = Phase.AwaitReady;
                        byte[] ready = ZmtpFraming.EncodeReady("DEALER");
                        stream.Write(ready, 0, ready.Length);
                    }
                    else if (frame.IsCommand)
                    {
                        if (!OnCommand(stream, frame)) return;
                    }
                    else if (phase != Phase.Ready)
                    {
                        Fault(ZmtpErrorKind.MalformedFrame, "Peer at " + Endpoint + " sent a message before its READY "
                            + "command: it does not follow the ZMTP 3 NULL handshake");
                        return;
                    }
                    else
                    {
                        parts.Add(frame.Body);
                        if (!frame.More)
                        {
                            if (!Deliver(parts.ToArray())) return;
                            parts.Clear();
                        }
                    }
                }
            }
        }

        bool OnCommand(NetworkStream stream, ZmtpFrame frame)
        {
            string name, why;
            byte[] data;
            if (!ZmtpFraming.TryParseCommand(frame.Body, out name, out data, out why))
            {
                Fault(ZmtpErrorKind.MalformedFrame, "Peer at " + Endpoint + " sent a bad command: " + why);
                return false;
            }
            if (name == "ERROR")
            {
                int length = data.Length > 0 ? Math.Min(data[0], data.Length - 1) : 0;
                string reason = Encoding.ASCII.GetString(data, Math.Min(1, data.Length), length);
                Fault(ZmtpErrorKind.PeerError, "Peer at " + Endpoint + " refused the connection with a ZMTP ERROR: '"
                    + reason + "'");
                return false;
            }
            if (phase == Phase.AwaitReady)
            {
                if (name != "READY")
                {
                    Fault(ZmtpErrorKind.MalformedFrame, "Peer at " + Endpoint + " sent the command '" + name
                        + "' where the NULL handshake expects READY or ERROR");
                    return false;
                }
                return OnReady(stream, data);
            }
            if (name == "PING")
            {
                // PING = ttl (2 bytes) + context (0..16 bytes); PONG echoes the context (RFC 37 heartbeats).
                int contextLength = Math.Min(16, Math.Max(0, data.Length - 2));
                var context = new byte[contextLength];
                if (contextLength > 0) Buffer.BlockCopy(data, 2, context, 0, contextLength);
                commandQueue.Enqueue(ZmtpFraming.EncodeCommand("PONG", context));
                sendSignal.Set();
            }
            // PONG and commands of other socket types (SUBSCRIBE, JOIN, ...) carry nothing for a DEALER.
            return true;
        }

        bool OnReady(NetworkStream stream, byte[] data)
        {
            Dictionary<string, byte[]> properties;
            string why;
            if (!ZmtpFraming.TryParseMetadata(data, out properties, out why))
            {
                Fault(ZmtpErrorKind.MalformedFrame, "Peer at " + Endpoint + " sent a bad READY command: " + why);
                return false;
            }
            byte[] socketType;
            if (properties.TryGetValue("Socket-Type", out socketType))
            {
                string type = Encoding.ASCII.GetString(socketType);
                if (!ZmtpFraming.IsCompatibleWithDealer(type))
                {
                    byte[] reason = Encoding.ASCII.GetBytes("\u0013Invalid socket type");
                    byte[] err = ZmtpFraming.EncodeCommand("ERROR", reason);
                    try { stream.Write(err, 0, err.Length); } catch (IOException) { }
                    Fault(ZmtpErrorKind.IncompatibleSocketType, "Peer at " + Endpoint + " is a ZeroMQ " + type
                        + " socket, but this DEALER client can only talk to ROUTER, DEALER or REP: connect to the "
                        + "StreamDiT runtime's ROUTER endpoint");
                    return false;
                }
                PeerSocketType = type;
            }
            lock (stateLock)
            {
                if (state != ZmtpClientState.Connecting) return false;
                phase = Phase.Ready;
                state = ZmtpClientState.Ready;
                writer = new Thread(() => RunWriter(stream)) { IsBackground = true, Name = "StreamDiT ZMTP writer" };
                writer.Start();
            }
            if (handshakeTimer != null) handshakeTimer.Dispose();
            Raise(Ready);
            return true;
        }

        bool Deliver(byte[][] message)
        {
            // Backpressure: while the caller does not drain the queue, stop reading (TCP slows the peer).
            while (Volatile.Read(ref receiveCount) >= options.ReceiveQueueLimit)
            {
                if (closeRequested || state == ZmtpClientState.Faulted) return false;
                receiveSpace.WaitOne(100);
            }
            receiveQueue.Enqueue(message);
            Interlocked.Increment(ref receiveCount);
            return true;
        }

        void RunWriter(NetworkStream stream)
        {
            try
            {
                var output = new BufferedStream(stream, 64 * 1024);
                var header = new byte[9];
                while (true)
                {
                    bool wrote = false;
                    byte[] command;
                    while (commandQueue.TryDequeue(out command))
                    {
                        output.Write(command, 0, command.Length);
                        wrote = true;
                    }
                    byte[][] message;
                    while (sendQueue.TryDequeue(out message))
                    {
                        Interlocked.Decrement(ref sendCount);
                        for (int i = 0; i < message.Length; i++)
                        {
                            byte[] part = message[i];
                            int h = ZmtpFraming.EncodeFrameHeader(header, 0, part.Length, i < message.Length - 1, false);
                            output.Write(header, 0, h);
                            output.Write(part, 0, part.Length);
                        }
                        wrote = true;
                    }
                    if (wrote) output.Flush();
                    if (abortEvent.WaitOne(0) || state == ZmtpClientState.Faulted) return;
                    if (closeRequested && sendQueue.IsEmpty && commandQueue.IsEmpty) return;
                    sendSignal.WaitOne();
                }
            }
            catch (Exception e)
            {
                OnIoException(e);
            }
        }

        void OnHandshakeTimeout(object unused)
        {
            if (phase == Phase.Ready) return;
            Fault(ZmtpErrorKind.HandshakeTimeout, "Connected to " + Endpoint + " but the ZMTP handshake did not finish "
                + "within " + options.HandshakeTimeoutMilliseconds + " ms (" + (phase == Phase.AwaitGreeting
                ? "no greeting received" : "no READY received") + "): check that the port is the StreamDiT "
                + "runtime's ZeroMQ port, not its gRPC or HTTP port");
        }

        void OnIoException(Exception e)
        {
            if (closeRequested || state == ZmtpClientState.Faulted) return; // our own Shutdown closed the socket
            var socketError = (e as SocketException) ?? (e.InnerException as SocketException);
            if (socketError != null && (socketError.SocketErrorCode == SocketError.ConnectionReset
                || socketError.SocketErrorCode == SocketError.ConnectionAborted))
                Fault(ZmtpErrorKind.PeerClosed, PeerClosedMessage());
            else
                Fault(ZmtpErrorKind.IoError, "I/O error on the connection to " + Endpoint + ": " + e.Message);
        }

        string PeerClosedMessage()
        {
            if (phase == Phase.Ready)
                return "The peer at " + Endpoint + " closed the connection: the runtime stopped or dropped this client; "
                    + "see the runtime's log";
            return "The peer at " + Endpoint + " closed the connection during the ZMTP handshake: check that the port "
                + "is the StreamDiT runtime's ZeroMQ port and that it accepts NULL-security DEALER clients";
        }

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

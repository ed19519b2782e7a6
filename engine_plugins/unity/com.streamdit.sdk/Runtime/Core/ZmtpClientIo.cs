using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace StreamDiT.Core
{
    // The connect, handshake, read and write loops of ZmtpClient; they run on its background threads only.
    public sealed partial class ZmtpClient
    {
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
                if (state != ZmtpClientState.Connecting || closeRequested) return false;
                phase = Phase.Ready;
                state = ZmtpClientState.Ready;
                writer = new Thread(() => RunWriter(stream)) { IsBackground = true, Name = "StreamDiT ZMTP writer" };
                writer.Start();
            }
            if (handshakeTimer != null) handshakeTimer.Dispose();
            Raise(Ready);
            Raise(changed);
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
            Raise(MessageReceived);
            Raise(changed);
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
    }
}

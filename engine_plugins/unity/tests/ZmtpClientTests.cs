// Unit tests of ZmtpClient over real loopback TCP against scripted fake peers, for the paths a real libzmq
// peer cannot be made to take (bad greetings, other mechanisms, wrong socket types, ERROR commands).
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    /// <summary>A one-connection TCP server on 127.0.0.1 running a script on its own thread.</summary>
    sealed class FakePeer : IDisposable
    {
        readonly TcpListener listener;
        readonly Thread thread;
        Exception failure;
        TcpClient accepted;

        public FakePeer(Action<NetworkStream> script)
        {
            listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            thread = new Thread(() =>
            {
                try
                {
                    accepted = listener.AcceptTcpClient();
                    script(accepted.GetStream());
                }
                catch (Exception e) { failure = e; }
            }) { IsBackground = true };
            thread.Start();
        }

        public int Port { get; private set; }

        /// <summary>Waits for the script to end and rethrows what it threw.</summary>
        public void Finish(int timeoutMs)
        {
            if (!thread.Join(timeoutMs)) throw new TestFailure("fake peer script did not finish within " + timeoutMs + " ms");
            if (failure != null) throw new TestFailure("fake peer: " + failure.Message);
        }

        public void Dispose()
        {
            listener.Stop();
            if (accepted != null) accepted.Close();
        }

        public static byte[] ReadExactly(NetworkStream s, int n)
        {
            var b = new byte[n];
            int got = 0;
            while (got < n)
            {
                int r = s.Read(b, got, n - got);
                if (r == 0) throw new TestFailure("client closed after " + got + " of " + n + " bytes");
                got += r;
            }
            return b;
        }

        public static void Write(NetworkStream s, byte[] b) { s.Write(b, 0, b.Length); }

        /// <summary>Sends a greeting and READY as a ROUTER would, then checks the client's greeting and READY bytes.</summary>
        public static void RouterHandshake(NetworkStream s, string socketType)
        {
            Write(s, ZmtpFraming.EncodeGreeting());
            Write(s, ZmtpFraming.EncodeReady(socketType));
            Check.Bytes(ZmtpFraming.EncodeGreeting(), ReadExactly(s, 64), "client greeting");
            byte[] ready = ZmtpFraming.EncodeReady("DEALER");
            Check.Bytes(ready, ReadExactly(s, ready.Length), "client READY");
        }

        /// <summary>Reads frames until <paramref name="messages"/> complete messages and at least
        /// <paramref name="minCommands"/> commands arrived; commands go to the list as "NAME:data".</summary>
        public static List<byte[][]> ReadMessages(NetworkStream s, ZmtpDecoder d, int messages, List<string> commands,
            int minCommands = 0)
        {
            var result = new List<byte[][]>();
            var parts = new List<byte[]>();
            var buffer = new byte[65536];
            while (result.Count < messages || commands.Count < minCommands)
            {
                ZmtpFrame f;
                ZmtpDecodeStatus st = d.Next(out f);
                if (st == ZmtpDecodeStatus.Error) throw new TestFailure("fake peer decode: " + d.Error);
                if (st == ZmtpDecodeStatus.NeedMoreData)
                {
                    int n = s.Read(buffer, 0, buffer.Length);
                    if (n == 0) throw new TestFailure("client closed before " + messages + " messages");
                    d.Feed(buffer, 0, n);
                    continue;
                }
                if (f == null) continue;
                if (f.IsCommand)
                {
                    string name, why;
                    byte[] data;
                    Check.True(ZmtpFraming.TryParseCommand(f.Body, out name, out data, out why), why);
                    commands.Add(name + ":" + Encoding.ASCII.GetString(data));
                    continue;
                }
                parts.Add(f.Body);
                if (!f.More) { result.Add(parts.ToArray()); parts.Clear(); }
            }
            return result;
        }
    }

    static class ZmtpClientTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("client: connection refused names host:port", Refused);
            r.Add("client: HTTP server is a bad greeting", HttpPeer);
            r.Add("client: PLAIN peer is an unsupported mechanism", PlainPeer);
            r.Add("client: peer closing during the handshake", ClosedInHandshake);
            r.Add("client: silent peer is a handshake timeout", SilentPeer);
            r.Add("client: PUB peer is refused with an ERROR command", PubPeer);
            r.Add("client: ERROR command from the peer", PeerErrorCommand);
            r.Add("client: full exchange with a fake ROUTER (PING/PONG, long frames, early Send)", FullExchange);
            r.Add("client: oversized message faults with the limit in the message", Oversized);
            r.Add("client: peer closing after the handshake", ClosedAfterReady);
            r.Add("client: receive limit applies backpressure without losing messages", Backpressure);
            r.Add("client: Close lingers until queued messages are written", CloseFlushes);
            r.Add("client: argument, lifecycle and queue-limit errors", ApiErrors);
        }

        static ZmtpClient Start(int port, ZmtpClientOptions options, List<ZmtpError> faults)
        {
            var c = new ZmtpClient("127.0.0.1", port, options);
            c.Faulted += e => { lock (faults) faults.Add(e); };
            c.Connect();
            return c;
        }

        static ZmtpError ExpectFault(ZmtpClient c, List<ZmtpError> faults, ZmtpErrorKind kind)
        {
            Check.True(Check.WaitFor(() => c.State == ZmtpClientState.Faulted, 8000), "client faulted (state " + c.State + ")");
            Check.Equal(kind, c.Error.Kind, "error kind (" + c.Error.Message + ")");
            Check.True(Check.WaitFor(() => { lock (faults) return faults.Count == 1; }, 2000), "Faulted raised once");
            Check.True(ReferenceEquals(faults[0], c.Error), "event carries the same error");
            Check.True(c.Error.Message.Contains("127.0.0.1:" + c.Port), "message names the endpoint: " + c.Error.Message);
            var e = Check.Throws<ZmtpException>(() => c.Send(new[] { new byte[1] }), "Send after the fault");
            Check.True(ReferenceEquals(c.Error, e.Error), "Send rethrows the fault");
            c.Close();
            Check.Equal(ZmtpClientState.Faulted, c.State, "Close keeps Faulted");
            return c.Error;
        }

        static ZmtpError Scripted(Action<NetworkStream> script, ZmtpErrorKind kind, ZmtpClientOptions options = null)
        {
            using (var peer = new FakePeer(script))
            {
                var faults = new List<ZmtpError>();
                ZmtpClient c = Start(peer.Port, options, faults);
                ZmtpError e = ExpectFault(c, faults, kind);
                peer.Finish(8000);
                return e;
            }
        }

        static void Refused()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var faults = new List<ZmtpError>();
            ZmtpError e = ExpectFault(Start(port, null, faults), faults, ZmtpErrorKind.ConnectionRefused);
            Check.True(e.Message.StartsWith("Connection refused at 127.0.0.1:" + port), e.Message);
        }

        static void HttpPeer()
        {
            ZmtpError e = Scripted(s => FakePeer.Write(s, Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n")),
                ZmtpErrorKind.BadGreeting);
            Check.True(e.Message.Contains("gRPC"), "message suggests the wrong port: " + e.Message);
        }

        static void PlainPeer()
        {
            byte[] g = ZmtpFraming.EncodeGreeting();
            Encoding.ASCII.GetBytes("PLAIN", 0, 5, g, 12);
            Check.True(Scripted(s => FakePeer.Write(s, g), ZmtpErrorKind.UnsupportedMechanism).Message.Contains("PLAIN"), "names PLAIN");
        }

        static void ClosedInHandshake()
        {
            ZmtpError e = Scripted(s => { FakePeer.ReadExactly(s, 64); s.Close(); }, ZmtpErrorKind.PeerClosed);
            Check.True(e.Message.Contains("during the ZMTP handshake"), e.Message);
        }

        static void SilentPeer()
        {
            var o = new ZmtpClientOptions { HandshakeTimeoutMilliseconds = 300 };
            ZmtpError e = Scripted(s => FakePeer.ReadExactly(s, 64), ZmtpErrorKind.HandshakeTimeout, o);
            Check.True(e.Message.Contains("300 ms") && e.Message.Contains("no greeting"), e.Message);
        }

        static void PubPeer()
        {
            string error = null;
            Scripted(s =>
            {
                FakePeer.RouterHandshake(s, "PUB");
                var d = new ZmtpDecoder(1000, false);
                byte[] rest = FakePeer.ReadExactly(s, 2 + 1 + 5 + 1 + 19);
                d.Feed(rest, 0, rest.Length);
                ZmtpFrame f;
                Check.Equal(ZmtpDecodeStatus.Frame, d.Next(out f), "ERROR frame");
                string name, why;
                byte[] data;
                ZmtpFraming.TryParseCommand(f.Body, out name, out data, out why);
                error = name + ":" + Encoding.ASCII.GetString(data, 1, data.Length - 1);
            }, ZmtpErrorKind.IncompatibleSocketType);
            Check.Equal("ERROR:Invalid socket type", error, "client sent ERROR before closing");
        }

        static void PeerErrorCommand()
        {
            byte[] reason = Encoding.ASCII.GetBytes("\u0006denied");
            ZmtpError e = Scripted(s =>
            {
                FakePeer.Write(s, ZmtpFraming.EncodeGreeting());
                FakePeer.Write(s, ZmtpFraming.EncodeCommand("ERROR", reason));
            }, ZmtpErrorKind.PeerError);
            Check.True(e.Message.Contains("'denied'"), e.Message);
        }

        static void FullExchange()
        {
            byte[][] fromClient = { Check.Pattern(256, 1), new byte[0], Check.Pattern(70000, 2) };
            byte[][] fromPeer = { Check.Pattern(300, 3), Encoding.ASCII.GetBytes("x") };
            var commands = new List<string>();
            List<byte[][]> got = null;
            using (var peer = new FakePeer(s =>
            {
                FakePeer.RouterHandshake(s, "ROUTER");
                var ping = new byte[] { 0, 10, (byte)'a', (byte)'b', (byte)'c' };
                FakePeer.Write(s, ZmtpFraming.EncodeCommand("PING", ping));
                FakePeer.Write(s, ZmtpFraming.EncodeMessage(fromPeer));
                got = FakePeer.ReadMessages(s, new ZmtpDecoder(1 << 20, false), 1, commands, 1);
                Thread.Sleep(200);
            }))
            {
                var faults = new List<ZmtpError>();
                var c = new ZmtpClient("127.0.0.1", peer.Port);
                int readyEvents = 0;
                c.Ready += () => Interlocked.Increment(ref readyEvents);
                c.Faulted += e => { lock (faults) faults.Add(e); };
                c.Send(fromClient);  // queued while Idle, written after the handshake
                c.Connect();
                byte[][] parts = null;
                Check.True(Check.WaitFor(() => c.TryReceive(out parts), 8000), "message from the peer (state " + c.State
                    + (c.Error != null ? ", " + c.Error.Message : "") + ")");
                Check.Equal(ZmtpClientState.Ready, c.State, "state");
                Check.Equal(1, readyEvents, "Ready raised once");
                Check.Equal("ROUTER", c.PeerSocketType, "peer socket type");
                Check.Equal(2, parts.Length, "part count");
                Check.Bytes(fromPeer[0], parts[0], "part 0");
                Check.Bytes(fromPeer[1], parts[1], "part 1");
                peer.Finish(8000);
                Check.Equal("PONG:abc", commands[0], "PONG echoes the ping context");
                Check.Equal(3, got[0].Length, "client message part count");
                for (int i = 0; i < 3; i++) Check.Bytes(fromClient[i], got[0][i], "client part " + i);
                c.Close();
                Check.Equal(ZmtpClientState.Closed, c.State, "closed");
                Check.Equal(0, faults.Count, "no fault on Close");
            }
        }

        static void Oversized()
        {
            var o = new ZmtpClientOptions { MaxMessageSize = 1000 };
            ZmtpError e = Scripted(s =>
            {
                FakePeer.RouterHandshake(s, "ROUTER");
                FakePeer.Write(s, ZmtpFraming.EncodeMessage(new[] { new byte[600], new byte[600] }));
            }, ZmtpErrorKind.MessageTooLarge, o);
            Check.True(e.Message.Contains("1000 bytes") && e.Message.Contains("MaxMessageSize"), e.Message);
        }

        static void ClosedAfterReady()
        {
            ZmtpError e = Scripted(s => { FakePeer.RouterHandshake(s, "ROUTER"); s.Close(); }, ZmtpErrorKind.PeerClosed);
            Check.True(!e.Message.Contains("handshake"), "after the handshake: " + e.Message);
        }

        static void Backpressure()
        {
            const int count = 10;
            using (var peer = new FakePeer(s =>
            {
                FakePeer.RouterHandshake(s, "ROUTER");
                for (int i = 0; i < count; i++) FakePeer.Write(s, ZmtpFraming.EncodeMessage(new[] { new byte[] { (byte)i } }));
                Thread.Sleep(500);
            }))
            {
                var c = new ZmtpClient("127.0.0.1", peer.Port, new ZmtpClientOptions { ReceiveQueueLimit = 2 });
                c.Connect();
                Check.True(Check.WaitFor(() => c.PendingReceiveCount == 2, 5000), "queue fills to the limit");
                Thread.Sleep(100);
                Check.Equal(2, c.PendingReceiveCount, "and no further");
                for (int i = 0; i < count; i++)
                {
                    byte[][] parts = null;
                    Check.True(Check.WaitFor(() => c.TryReceive(out parts), 5000), "message " + i);
                    Check.Equal((byte)i, parts[0][0], "order");
                }
                c.Close();
                peer.Finish(8000);
            }
        }

        static void CloseFlushes()
        {
            const int count = 50;
            List<byte[][]> got = null;
            using (var peer = new FakePeer(s =>
            {
                FakePeer.RouterHandshake(s, "ROUTER");
                got = FakePeer.ReadMessages(s, new ZmtpDecoder(1 << 20, false), count, new List<string>());
            }))
            {
                var c = new ZmtpClient("127.0.0.1", peer.Port, new ZmtpClientOptions { LingerMilliseconds = 2000 });
                c.Connect();
                Check.True(Check.WaitFor(() => c.State == ZmtpClientState.Ready, 5000), "ready");
                for (int i = 0; i < count; i++) c.Send(new[] { Check.Pattern(1000, i) });
                c.Close();
                peer.Finish(8000);
                Check.Equal(count, got.Count, "all queued messages written before Close returned");
                Check.Bytes(Check.Pattern(1000, count - 1), got[count - 1][0], "last message");
            }
        }

        static void ApiErrors()
        {
            Check.Throws<ArgumentOutOfRangeException>(() => new ZmtpClient("127.0.0.1", 0), "port 0");
            Check.Throws<ArgumentException>(() => new ZmtpClient("", 5555), "empty host");
            Check.Throws<ArgumentOutOfRangeException>(() => new ZmtpClient("127.0.0.1", 5555,
                new ZmtpClientOptions { MaxMessageSize = 0 }), "MaxMessageSize 0");
            var c = new ZmtpClient("127.0.0.1", 5555, new ZmtpClientOptions { SendQueueLimit = 2 });
            Check.Equal(ZmtpClientState.Idle, c.State, "idle");
            Check.Throws<ArgumentException>(() => c.Send(null), "null message");
            Check.Throws<ArgumentException>(() => c.Send(new byte[][] { new byte[1], null }), "null part");
            c.Send(new[] { new byte[1] });
            c.Send(new[] { new byte[1] });
            var full = Check.Throws<ZmtpException>(() => c.Send(new[] { new byte[1] }), "third message");
            Check.Equal(ZmtpErrorKind.SendQueueFull, full.Error.Kind, "queue full kind");
            c.Close();
            c.Close();
            Check.Equal(ZmtpClientState.Closed, c.State, "closed");
            Check.Equal(ZmtpErrorKind.Closed, Check.Throws<ZmtpException>(() => c.Send(new[] { new byte[1] }), "send after close").Error.Kind, "kind");
            Check.Throws<InvalidOperationException>(() => c.Connect(), "connect after close");
            byte[][] none;
            Check.True(!c.TryReceive(out none) && none == null, "nothing to receive");
        }
    }
}

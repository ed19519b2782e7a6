// StreamDiTSession over a fake ITransport (StreamDiTSessionOptions.TransportFactory): no socket, no ZMTP; the test
// plays the runtime by handing the session msgpack maps and reading the ones it sends.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    /// <summary>An in-memory transport: what the session sends is kept in order; the test delivers the runtime's
    /// messages and can fail it, as a dropped connection would.</summary>
    sealed class FakeTransport : ITransport
    {
        readonly ConcurrentQueue<byte[][]> inbox = new ConcurrentQueue<byte[][]>();
        readonly BlockingCollection<byte[][]> sent = new BlockingCollection<byte[][]>();
        volatile string fault;

        public FakeTransport(string host, int port)
        {
            Host = host;
            Port = port;
        }

        public string Host { get; private set; }
        public int Port { get; private set; }
        public volatile bool Connected;
        public volatile bool Closed;

        public event Action Changed;

        public string FaultMessage { get { return fault; } }

        public void Connect()
        {
            Connected = true;
            Raise();
        }

        public void Send(byte[][] parts)
        {
            if (fault != null) throw new StreamDiTException("the fake transport failed: " + fault);
            if (Closed) throw new StreamDiTException("the fake transport is closed");
            sent.Add(parts);
        }

        public bool TryReceive(out byte[][] parts)
        {
            return inbox.TryDequeue(out parts);
        }

        public void Close()
        {
            Closed = true;
        }

        public void Dispose()
        {
            Close();
        }

        /// <summary>Hands the session one message of the runtime (a map, and for a frame its pixels).</summary>
        public void Deliver(Dictionary<string, object> map, byte[] pixels = null)
        {
            byte[] head = MsgPack.Serialize(map);
            inbox.Enqueue(pixels == null ? new[] { head } : new[] { head, pixels });
            Raise();
        }

        /// <summary>Fails the transport with <paramref name="message"/>, as a lost connection would.</summary>
        public void Fail(string message)
        {
            fault = message;
            Raise();
        }

        /// <summary>The next message the session sent whose type is <paramref name="type"/>; fails the test after
        /// <paramref name="timeoutMs"/>. Credits are summed into <see cref="CreditsReturned"/> on the way.</summary>
        public Dictionary<string, object> Next(string type, int timeoutMs = 8000)
        {
            return MsgPack.DeserializeMap(NextParts(type, timeoutMs)[0]);
        }

        /// <summary>As <see cref="Next"/>, but all the parts of that message (the map, then e.g. a source frame's pixels).</summary>
        public byte[][] NextParts(string type, int timeoutMs = 8000)
        {
            DateTime end = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (true)
            {
                byte[][] parts;
                int left = (int)Math.Max(0, (end - DateTime.UtcNow).TotalMilliseconds);
                if (!sent.TryTake(out parts, left)) throw new TestFailure("the session sent no " + type + " within " + timeoutMs + " ms");
                Dictionary<string, object> map = MsgPack.DeserializeMap(parts[0]);
                if ((string)map["type"] == "credit") CreditsReturned += (long)map["n"];
                if ((string)map["type"] == type) return parts;
            }
        }

        /// <summary>Types of the messages the session sent and no Next call took yet (taking them).</summary>
        public List<string> Drain()
        {
            var types = new List<string>();
            byte[][] parts;
            while (sent.TryTake(out parts)) types.Add((string)MsgPack.DeserializeMap(parts[0])["type"]);
            return types;
        }

        public long CreditsReturned;

        void Raise()
        {
            Action handler = Changed;
            if (handler != null) handler();
        }
    }

    static class TransportTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("transport: a session streams over a fake transport: handshake, frame, credit, event, ack, close", Streams);
            r.Add("transport: a failed transport is a lost connection; the next attempt gets a new one and resumes", Resumes);
            r.Add("transport: a factory that throws or returns null ends the session with a fatal transport error", BadFactory);
        }

        static Dictionary<string, object> FrameMap(long index, long eventId)
        {
            return FakeConnection.Map("type", "frame", "frame_index", index, "chunk_index", index / 2, "pts_us", index * 62500,
                "event_id", eventId, "width", 2, "height", 2, "pixel_format", "rgb8");
        }

        static StreamDiTSessionOptions Options(TransportFactory factory)
        {
            return new StreamDiTSessionOptions
            {
                Host = "runtime.example", Port = 6001, Prompt = "a green field", ReconnectInitialDelayMilliseconds = 20,
                TransportFactory = factory,
            };
        }

        static void Streams()
        {
            var made = new BlockingCollection<FakeTransport>();
            var r = new Recorder(0, o => { o.Host = "runtime.example"; o.Port = 6001; o.TransportFactory = (h, p) =>
            {
                var t = new FakeTransport(h, p);
                made.Add(t);
                return t;
            }; });
            r.Start();
            FakeTransport t1;
            Check.True(made.TryTake(out t1, 8000), "the factory was called");
            Check.True(t1.Host == "runtime.example" && t1.Port == 6001, "the factory got Host and Port: " + t1.Host + ":" + t1.Port);
            Dictionary<string, object> hs = t1.Next("handshake");
            Check.True(t1.Connected, "Connect was called");
            Check.Equal("1.0", (string)hs["protocol_version"], "handshake protocol version");
            Check.Equal("a green field", (string)((Dictionary<string, object>)hs["settings"])["prompt"], "handshake prompt");
            t1.Deliver(FakeConnection.Reply());
            r.WaitState(StreamDiTSessionState.Streaming);
            var pixels = new byte[12];
            for (int i = 0; i < 12; i++) pixels[i] = (byte)(40 + i);
            t1.Deliver(FrameMap(0, 0), pixels);
            Frame f = r.WaitFrame();
            Check.True(f.FrameIndex == 0 && f.Width == 2 && f.Height == 2, "frame 0, 2x2");
            Check.Bytes(pixels, f.Pixels, "frame pixels");
            t1.Next("credit");
            Check.Equal(1L, t1.CreditsReturned, "one credit back for the frame taken");
            long id = r.Session.PushEvent("zombie_appears", null);
            Dictionary<string, object> ev = t1.Next("event");
            Check.True((long)ev["event_id"] == id && (string)ev["event_type"] == "zombie_appears", "event sent with its id");
            t1.Deliver(FakeConnection.Map("type", "event_ack", "event_id", id, "chunk_index", 1, "frame_index", 2,
                "prompt", "a zombie appears", "in_effect", true));
            Check.True(Check.WaitFor(() => { lock (r.Acks) return r.Acks.Count == 1; }, 8000), "one EventApplied");
            lock (r.Acks) Check.True(r.Acks[0].EventId == id && r.Acks[0].Prompt == "a zombie appears", "the ack");
            r.Session.Close("done");
            Check.Equal("done", (string)t1.Next("close")["reason"], "close reason");
            t1.Deliver(FakeConnection.Map("type", "closed", "code", "client_close", "reason", "closed by the client"));
            r.WaitState(StreamDiTSessionState.Closed);
            Check.True(r.Session.CloseConfirmed, "the close was confirmed");
            Check.True(Check.WaitFor(() => t1.Closed, 8000), "the transport was closed");
            Check.Equal(0, made.Count, "one transport for one connection");
            lock (r.Errors) Check.Equal(0, r.Errors.Count, "no errors: " + string.Join("; ", r.Errors.ConvertAll(e => e.ToString()).ToArray()));
        }

        static void Resumes()
        {
            var made = new BlockingCollection<FakeTransport>();
            var session = new StreamDiTSession(Options((h, p) =>
            {
                var t = new FakeTransport(h, p);
                made.Add(t);
                return t;
            }));
            var errors = new List<ErrorInfo>();
            session.Error += e => { lock (errors) errors.Add(e); };
            session.Connect();
            FakeTransport t1, t2;
            Check.True(made.TryTake(out t1, 8000), "first transport");
            t1.Next("handshake");
            t1.Deliver(FakeConnection.Reply());
            Check.True(Check.WaitFor(() => session.State == StreamDiTSessionState.Streaming, 8000), "streaming");
            t1.Fail("the fake cable was cut");
            Check.True(made.TryTake(out t2, 8000), "a second transport for the next attempt");
            Check.True(t1.Closed, "the failed transport was closed");
            Dictionary<string, object> hs = t2.Next("handshake");
            Check.Equal("tok-1", (string)hs["resume_token"], "the resume token");
            t2.Deliver(FakeConnection.Reply(token: "tok-2", resumed: true, nextFrame: 10));
            Check.True(Check.WaitFor(() => session.Reconnects == 1 && session.State == StreamDiTSessionState.Streaming, 8000),
                "resumed (state " + session.State + ")");
            ErrorInfo lost;
            lock (errors) lost = errors.Find(e => e.Code == ErrorCodes.Transport);
            Check.True(lost != null && !lost.Fatal && lost.Message.Contains("the fake cable was cut") && lost.Message.Contains("resuming"),
                "a non-fatal transport error that says why: " + lost);
            session.Dispose();
            t2.Next("close");
        }

        static void BadFactory()
        {
            foreach (bool throws in new[] { true, false })
            {
                var session = new StreamDiTSession(Options((h, p) =>
                {
                    if (throws) throw new InvalidOperationException("no route to the fake");
                    return null;
                }));
                session.Connect();
                Check.True(Check.WaitFor(() => session.State == StreamDiTSessionState.Failed, 8000), "failed (state " + session.State + ")");
                ErrorInfo e = session.LastError;
                string want = throws ? "threw InvalidOperationException: no route to the fake" : "returned null";
                Check.True(e.Code == ErrorCodes.Transport && e.Fatal && !e.FromRuntime, e.ToString());
                Check.True(e.Message.Contains("TransportFactory " + want) && e.Message.Contains("runtime.example:6001"), e.Message);
                session.Dispose();
            }
        }
    }
}

// Unit tests of StreamDiTSession against scripted fake runtimes (FakeRuntime.cs) over loopback TCP.
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    /// <summary>A session plus everything its events reported, for assertions.</summary>
    sealed class Recorder
    {
        public readonly StreamDiTSession Session;
        public readonly List<ErrorInfo> Errors = new List<ErrorInfo>();
        public readonly List<EventAck> Acks = new List<EventAck>();
        public readonly List<StreamDiTSessionState> States = new List<StreamDiTSessionState>();

        public Recorder(int port, Action<StreamDiTSessionOptions> configure = null)
        {
            var o = new StreamDiTSessionOptions { Port = port, Prompt = "a green field", ReconnectInitialDelayMilliseconds = 20 };
            if (configure != null) configure(o);
            Session = new StreamDiTSession(o);
            Session.Error += e => { lock (Errors) Errors.Add(e); };
            Session.EventApplied += a => { lock (Acks) Acks.Add(a); };
            Session.StateChanged += s => { lock (States) States.Add(s); };
        }

        public Recorder Start()
        {
            Session.Connect();
            return this;
        }

        public void WaitState(StreamDiTSessionState want, int timeoutMs = 8000)
        {
            Check.True(Check.WaitFor(() => Session.State == want, timeoutMs), "state " + want + " (now " + Session.State
                + ", last error: " + Session.LastError + ")");
        }

        public ErrorInfo WaitError(string code, int timeoutMs = 8000)
        {
            ErrorInfo found = null;
            Check.True(Check.WaitFor(() => { lock (Errors) return (found = Errors.Find(e => e.Code == code)) != null; }, timeoutMs),
                "an error with code " + code + " (errors: " + string.Join("; ", Errors.ConvertAll(e => e.ToString()).ToArray()) + ")");
            return found;
        }

        public Frame WaitFrame(int timeoutMs = 8000)
        {
            Frame f = null;
            Check.True(Check.WaitFor(() => Session.TryDequeueFrame(out f), timeoutMs), "a frame (state " + Session.State + ")");
            return f;
        }

        public int ErrorCount(string code)
        {
            lock (Errors) return Errors.FindAll(e => e.Code == code).Count;
        }
    }

    static class SessionTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("session: version_mismatch from the runtime is a fatal error event", RuntimeRefusesVersion);
            r.Add("session: a handshake_reply of another major version is refused by the client", ClientRefusesVersion);
            r.Add("session: malformed server messages are non-fatal error events; the stream goes on", MalformedMessages);
            r.Add("session: credits come back per frame taken or dropped; the local queue keeps the latest", CreditsAndQueue);
            r.Add("session: changes pushed before the handshake follow it; acks, event errors, handler faults", EventsAndAcks);
            r.Add("session: a dropped connection resumes with the resume token", Resume);
            r.Add("session: resume_failed ends the session", ResumeFails);
            r.Add("session: refused connection is a fatal transport error naming host:port", Refused);
            r.Add("session: no handshake reply is a timeout error", NoReply);
            r.Add("session: runtime shutdown ends the session with shutting_down", Shutdown);
            r.Add("session: argument and lifecycle errors", ApiErrors);
        }

        static void RuntimeRefusesVersion()
        {
            using (var rt = new FakeRuntime(c =>
            {
                Dictionary<string, object> hs = c.ReadType("handshake");
                Check.Equal("1.0", (string)hs["protocol_version"], "client announces 1.0");
                Check.Equal(4L, (long)((Dictionary<string, object>)hs["capabilities"])["credits"], "credits");
                Check.Equal("a green field", (string)((Dictionary<string, object>)hs["settings"])["prompt"], "prompt");
                Check.Equal("", (string)((Dictionary<string, object>)hs["settings"])["model"], "model: the runtime's default");
                c.Send(FakeConnection.Map("type", "error", "code", "version_mismatch", "fatal", true,
                    "message", "the client speaks protocol 1.0 but this runtime speaks 2.0: update the client"));
            }))
            {
                var r = new Recorder(rt.Port).Start();
                r.WaitState(StreamDiTSessionState.Failed);
                ErrorInfo e = r.Session.LastError;
                Check.True(e.Code == "version_mismatch" && e.Fatal && e.FromRuntime, e.ToString());
                Check.True(e.Message.Contains("refused the handshake") && e.Message.Contains("runtime speaks 2.0"), e.Message);
                Check.Equal(1, r.ErrorCount("version_mismatch"), "one error event");
                Check.Throws<StreamDiTException>(() => r.Session.PushEvent("x", null), "PushEvent after the failure");
                rt.Finish(8000);
            }
        }

        static void ClientRefusesVersion()
        {
            using (var rt = new FakeRuntime(c =>
            {
                c.ReadType("handshake");
                c.Send(FakeConnection.Reply("2.0"));
                Check.Equal("protocol version mismatch", (string)c.ReadType("close")["reason"], "client closes the session");
            }))
            {
                var r = new Recorder(rt.Port).Start();
                r.WaitState(StreamDiTSessionState.Failed);
                ErrorInfo e = r.Session.LastError;
                Check.True(e.Code == "version_mismatch" && e.Fatal && !e.FromRuntime, e.ToString());
                Check.True(e.Message.Contains("speaks protocol 2.0") && e.Message.Contains("speaks 1.0")
                    && e.Message.Contains("Update"), e.Message);
                Check.True(!r.States.Contains(StreamDiTSessionState.Streaming), "never streamed");
                rt.Finish(8000);
            }
        }

        static void MalformedMessages()
        {
            using (var rt = new FakeRuntime(c =>
            {
                c.ReadType("handshake");
                c.Send(FakeConnection.Reply());
                c.SendRaw(new byte[] { 0xc1, 0x00 });                                          // not msgpack
                c.Send(FakeConnection.Map("no_type", 1));                                       // no type
                c.Send(FakeConnection.Map("type", "frame", "frame_index", 0, "width", 2, "height", 2), new byte[5]);
                c.Send(FakeConnection.Map("type", "frame", "frame_index", 1, "width", "2", "height", 2), new byte[12]);
                c.Send(FakeConnection.Map("type", "a_future_message", "x", 1));                 // ignored (newer minor)
                c.SendFrame(2);
                c.ReadCredits(3);  // two malformed frames used credits, and the good one was taken
                c.AnswerClose();
            }))
            {
                var r = new Recorder(rt.Port, o => o.FlipRowsBottomUp = true).Start();
                Frame f = r.WaitFrame();
                Check.Equal(2L, f.FrameIndex, "the good frame");
                Check.True(f.BottomUp, "flipped");
                Check.Bytes(new byte[] { 38, 39, 40, 41, 42, 43, 32, 33, 34, 35, 36, 37 }, f.Pixels, "rows bottom-up");
                Check.True(Check.WaitFor(() => r.ErrorCount("bad_message") == 4, 5000), "four bad_message errors, got "
                    + r.ErrorCount("bad_message"));
                lock (r.Errors)
                    foreach (ErrorInfo e in r.Errors)
                    {
                        Check.True(!e.Fatal && !e.FromRuntime && e.Message.Contains("127.0.0.1:" + rt.Port), e.ToString());
                        Check.True(e.Message.Contains("it was ignored"), e.Message);
                    }
                Check.True(r.Errors.Exists(e => e.Message.Contains("needs 12 pixel bytes, got 5")), "names the pixel size");
                Check.True(r.Errors.Exists(e => e.Message.Contains("'width' must be an integer")), "names the bad field");
                Check.Equal(StreamDiTSessionState.Streaming, r.Session.State, "still streaming");
                r.Session.Dispose();
                r.WaitState(StreamDiTSessionState.Closed);
                Check.True(r.Session.CloseConfirmed && r.Session.CloseCode == "client_close", "clean close");
                rt.Finish(8000);
            }
        }

        static void CreditsAndQueue()
        {
            using (var rt = new FakeRuntime(c =>
            {
                Dictionary<string, object> hs = c.ReadType("handshake");
                Check.Equal(8L, (long)((Dictionary<string, object>)hs["capabilities"])["credits"], "credits asked");
                c.Send(FakeConnection.Reply());
                for (int i = 0; i < 5; i++) c.SendFrame(i);
                c.ReadCredits(5);
                c.AnswerClose();
            }))
            {
                var r = new Recorder(rt.Port, o => { o.Credits = 8; o.FrameQueueCapacity = 2; }).Start();
                Check.True(Check.WaitFor(() => r.Session.FramesReceived == 5, 5000), "5 frames received");
                Check.Equal(2, r.Session.PendingFrameCount, "queue holds 2");
                Check.Equal(3L, r.Session.FramesDropped, "3 dropped");
                Check.Equal(3L, r.WaitFrame().FrameIndex, "oldest kept is 3");
                Frame last = r.WaitFrame();
                Check.True(last.FrameIndex == 4 && !last.BottomUp && last.Pixels[0] == 64, "then 4, top-down");
                Frame none;
                Check.True(!r.Session.TryDequeueFrame(out none) && none == null, "queue empty");
                r.Session.Dispose();
                r.WaitState(StreamDiTSessionState.Closed);
                rt.Finish(8000);
            }
        }

        static void EventsAndAcks()
        {
            Dictionary<string, object> ev = null, sp = null;
            using (var rt = new FakeRuntime(c =>
            {
                c.ReadType("handshake");
                c.Send(FakeConnection.Reply());
                ev = c.Read();
                sp = c.Read();
                c.Send(FakeConnection.Map("type", "event_ack", "event_id", 1, "chunk_index", 3, "frame_index", 6,
                    "prompt", "a zombie approaches", "in_effect", true, "client_time_us", ev["client_time_us"]));
                c.Send(FakeConnection.Map("type", "error", "code", "unknown_event", "event_id", 2, "fatal", false,
                    "message", "no prompt map rule for event type 'x'"));
                c.AnswerClose();
            }))
            {
                var r = new Recorder(rt.Port);
                r.Session.EventApplied += a => { throw new InvalidOperationException("handler bug"); };
                long id1 = r.Session.PushEvent("zombie_appears", new Dictionary<string, object> { { "zone", "lava" }, { "n", 3 } });
                long id2 = r.Session.SetPrompt("a dark cave", 0.5, 2);
                Check.True(id1 == 1 && id2 == 2, "ids 1 and 2");
                r.Start();
                ErrorInfo unknown = r.WaitError("unknown_event");
                Check.True(unknown.EventId == 2 && !unknown.Fatal && unknown.FromRuntime, unknown.ToString());
                Check.True(r.Acks.Count == 1 && r.Acks[0].EventId == 1 && r.Acks[0].Prompt == "a zombie approaches"
                    && r.Acks[0].FrameIndex == 6 && r.Acks[0].InEffect, "ack");
                Check.True(r.WaitError("callback_failed").Message.Contains("EventApplied threw InvalidOperationException"), "handler fault");
                r.Session.Dispose();
                r.WaitState(StreamDiTSessionState.Closed);
                rt.Finish(8000);
                Check.True((string)ev["type"] == "event" && (long)ev["event_id"] == 1 && (string)ev["event_type"] == "zombie_appears", "event");
                var payload = (Dictionary<string, object>)ev["payload"];
                Check.True((string)payload["zone"] == "lava" && (long)payload["n"] == 3, "payload");
                Check.True((long)ev["client_time_us"] > 1500000000L * 1000000L, "client time is unix microseconds");
                Check.True((string)sp["type"] == "set_prompt" && (long)sp["event_id"] == 2 && (string)sp["text"] == "a dark cave"
                    && (double)sp["weight"] == 0.5 && (long)sp["transition_steps"] == 2, "set_prompt");
            }
        }

        static void Resume()
        {
            Dictionary<string, object> second = null, ev = null;
            using (var rt = new FakeRuntime(
                c => { c.ReadType("handshake"); c.Send(FakeConnection.Reply()); c.SendFrame(0); c.ReadCredits(1); c.Drop(); },
                c =>
                {
                    second = c.ReadType("handshake");
                    c.Send(FakeConnection.Reply(token: "tok-2", resumed: true, nextFrame: 10));
                    ev = c.ReadType("event");
                    c.SendFrame(10, 1);
                    c.AnswerClose();
                }))
            {
                var r = new Recorder(rt.Port).Start();
                Check.Equal(0L, r.WaitFrame().FrameIndex, "first frame");
                r.WaitState(StreamDiTSessionState.Reconnecting);
                long id = r.Session.PushEvent("zombie_appears", null);  // queued while reconnecting
                Frame f = r.WaitFrame();
                Check.True(f.FrameIndex == 10 && f.EventId == id, "resumed stream carries the event");
                Check.Equal("tok-1", (string)second["resume_token"], "resume token sent");
                Check.Equal(id, (long)ev["event_id"], "event sent after the resume");
                Check.True(r.Session.Info.Resumed && r.Session.Reconnects == 1 && r.Session.Info.ResumeToken == "tok-2", "resumed");
                ErrorInfo lost = r.WaitError("transport");
                Check.True(!lost.Fatal && lost.Message.Contains("resuming"), lost.ToString());
                r.Session.Dispose();
                r.WaitState(StreamDiTSessionState.Closed);
                rt.Finish(8000);
            }
        }

        static void ResumeFails()
        {
            using (var rt = new FakeRuntime(
                c => { c.ReadType("handshake"); c.Send(FakeConnection.Reply()); c.Drop(); },
                c =>
                {
                    c.ReadType("handshake");
                    c.Send(FakeConnection.Map("type", "error", "code", "resume_failed", "fatal", true,
                        "message", "resume token unknown or expired: start a new session without it"));
                }))
            {
                var r = new Recorder(rt.Port).Start();
                r.WaitState(StreamDiTSessionState.Failed);
                ErrorInfo e = r.Session.LastError;
                Check.True(e.Code == "resume_failed" && e.Fatal && e.Message.Contains("refused the resume"), e.ToString());
                rt.Finish(8000);
            }
        }

        static void Refused()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            var r = new Recorder(port).Start();
            r.WaitState(StreamDiTSessionState.Failed);
            ErrorInfo e = r.Session.LastError;
            Check.True(e.Code == "transport" && e.Fatal && !e.FromRuntime, e.ToString());
            Check.True(e.Message.Contains("Connection refused at 127.0.0.1:" + port) && e.Message.Contains("runtime is running"), e.Message);
            Check.Equal(1, r.ErrorCount("transport"), "one error, no retries before a session existed");
        }

        static void NoReply()
        {
            using (var rt = new FakeRuntime(c => c.ReadType("handshake")))
            {
                var r = new Recorder(rt.Port, o => o.HandshakeTimeoutMilliseconds = 300).Start();
                r.WaitState(StreamDiTSessionState.Failed);
                ErrorInfo e = r.Session.LastError;
                Check.True(e.Code == "timeout" && e.Fatal && e.Message.Contains("no handshake reply came within 300 ms"), e.ToString());
                rt.Finish(8000);
            }
        }

        static void Shutdown()
        {
            using (var rt = new FakeRuntime(c =>
            {
                c.ReadType("handshake");
                c.Send(FakeConnection.Reply());
                c.Send(FakeConnection.Map("type", "closed", "code", "shutdown", "reason", "the runtime is shutting down (SIGTERM)"));
            }))
            {
                var r = new Recorder(rt.Port).Start();
                r.WaitState(StreamDiTSessionState.Failed);
                ErrorInfo e = r.Session.LastError;
                Check.True(e.Code == "shutting_down" && e.Fatal && e.Message.Contains("SIGTERM"), e.ToString());
                Check.Equal("shutdown", r.Session.CloseCode, "close code");
                rt.Finish(8000);
            }
        }

        static void ApiErrors()
        {
            Check.Throws<ArgumentNullException>(() => new StreamDiTSession(null), "null options");
            // No prompt and no prompt map is valid: the runtime's default prompt map gives both.
            new StreamDiTSession(new StreamDiTSessionOptions()).Close("never connected");
            Check.Throws<ArgumentOutOfRangeException>(() => new StreamDiTSession(new StreamDiTSessionOptions
                { Prompt = "p", Credits = 0 }), "credits 0");
            var s = new StreamDiTSession(new StreamDiTSessionOptions { Prompt = "p" });
            Check.Throws<ArgumentException>(() => s.PushEvent("", null), "empty type");
            var e = Check.Throws<ArgumentException>(() => s.PushEvent("x", new Dictionary<string, object> { { "k", new object() } }), "bad payload");
            Check.True(e.Message.Contains("'k'"), e.Message);
            Check.Throws<ArgumentOutOfRangeException>(() => s.SetPrompt("t", 0.0), "weight 0");
            Check.Throws<ArgumentOutOfRangeException>(() => s.SetPrompt("t", 1.0, -1), "negative steps");
            s.Close("never connected");
            s.Close();
            Check.Equal(StreamDiTSessionState.Closed, s.State, "closed without connecting");
            Check.Throws<StreamDiTException>(() => s.PushEvent("x", null), "push after close");
            Check.Throws<InvalidOperationException>(() => s.Connect(), "connect after close");
        }
    }
}

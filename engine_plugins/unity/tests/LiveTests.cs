// Tests of StreamDiTSession against a live `streamdit serve` (tests/test_unity_session.py starts it):
//   mono CoreTests.exe live HOST PORT
// The stream test prints one line "LIVE_JSON {...}" with the frame rate this client received.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using StreamDiT.Core;
using StreamDiT.Samples.CrafterEvents;

namespace StreamDiT.Tests
{
    /// <summary>A session on a live runtime whose every event wakes the test thread (no polling loop).</summary>
    sealed class LiveSession
    {
        public readonly StreamDiTSession Session;
        public readonly List<ErrorInfo> Errors = new List<ErrorInfo>();
        public readonly List<StreamDiTSessionState> States = new List<StreamDiTSessionState>();
        public readonly Dictionary<long, EventAck> Acks = new Dictionary<long, EventAck>();
        readonly AutoResetEvent signal = new AutoResetEvent(false);

        public LiveSession(string host, int port)
        {
            Session = new StreamDiTSession(new StreamDiTSessionOptions
            {
                Host = host, Port = port, PromptMap = CrafterPromptMap.Build(), Seed = 1, ClientName = "unity-live-test",
            });
            Session.Error += e => { lock (Errors) Errors.Add(e); signal.Set(); };
            Session.EventApplied += a => { lock (Acks) Acks[a.EventId] = a; signal.Set(); };
            Session.StateChanged += s => { lock (States) States.Add(s); signal.Set(); };
            Session.FrameReceived += () => signal.Set();
            Session.Connect();
        }

        /// <summary>Waits (on the session's events, not by spinning) until the condition holds.</summary>
        public void Until(Func<bool> condition, int timeoutMs, string what)
        {
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!condition())
            {
                int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                if (left <= 0) throw new TestFailure(what + " within " + timeoutMs + " ms (state " + Session.State
                    + ", last error: " + Session.LastError + ")");
                signal.WaitOne(Math.Min(left, 500));
            }
        }

        /// <summary>The next frame, waiting for it.</summary>
        public Frame Next(int timeoutMs)
        {
            Frame f = null;
            Until(() => Session.TryDequeueFrame(out f), timeoutMs, "a frame");
            return f;
        }

        public void CloseCleanly()
        {
            Session.Dispose();
            Until(() => Session.State == StreamDiTSessionState.Closed, 5000, "Closed after Dispose");
            Check.True(Session.CloseConfirmed && Session.CloseCode == "client_close", "the runtime confirmed the close ("
                + Session.CloseCode + ": " + Session.CloseReason + ")");
        }
    }

    static class LiveTests
    {
        // The frame rate is measured over MeasuredFrames intervals after WarmUpFrames frames (the stream's start,
        // when pacing catches up), exactly as tests/test_unity_session.py measures the Python client.
        const int WarmUpFrames = 8;
        const int MeasuredFrames = 64;

        public static void Register(TestRunner r, string host, int port)
        {
            r.Add("live: handshake, events, " + (WarmUpFrames + MeasuredFrames + 1) + " frames, event ids on frames, clean close", () => Stream(host, port));
            r.Add("live: a dropped connection resumes the same session", () => Resume(host, port));
        }

        static void Stream(string host, int port)
        {
            var live = new LiveSession(host, port);
            live.Until(() => live.Session.State == StreamDiTSessionState.Streaming, 30000, "Streaming");
            SessionInfo info = live.Session.Info;
            Check.True(info.ProtocolVersion.StartsWith("1.") && !info.Resumed && info.Fps > 0 && info.FramesPerChunk > 0,
                "handshake reply: " + info.ProtocolVersion + " " + info.Fps + " fps");
            Check.True(info.Width > 0 && info.Height > 0 && info.PixelFormat == "rgb8", "frame size " + info.Width + "x" + info.Height);

            long zombie = live.Session.PushEvent("zombie_appears", null);
            long walk = live.Session.PushEvent("player_moves_left", new Dictionary<string, object> { { "terrain", "sand" } });
            long unknown = live.Session.PushEvent("dragon_appears", null);

            var frames = new List<Frame>();
            Frame firstWithZombie = null;
            bool ackBeforeFrame = false;
            while (frames.Count < WarmUpFrames + MeasuredFrames + 1 || firstWithZombie == null)
            {
                Frame f = live.Next(30000);
                if (f.EventId == zombie && firstWithZombie == null)
                {
                    firstWithZombie = f;
                    lock (live.Acks) ackBeforeFrame = live.Acks.ContainsKey(zombie);
                }
                if (frames.Count > 0) Check.True(f.FrameIndex > frames[frames.Count - 1].FrameIndex, "frame indices increase");
                Check.True(f.Width == info.Width && f.Height == info.Height && f.Pixels.Length == info.Width * info.Height * 3,
                    "frame " + f.FrameIndex + " is " + f.Width + "x" + f.Height + " with " + f.Pixels.Length + " bytes");
                frames.Add(f);
                Check.True(frames.Count < 1000, "the zombie event showed on a frame");
            }
            Check.True(ackBeforeFrame, "event_ack of the zombie event came before its first frame");
            EventAck ack;
            lock (live.Acks) ack = live.Acks[zombie];
            Check.Equal("a zombie approaches", ack.Prompt, "ack prompt");
            Check.True(firstWithZombie.FrameIndex >= ack.FrameIndex && ack.ClientTimeUs > 0, "ack frame index and client time");
            live.Until(() => { lock (live.Acks) return live.Acks.ContainsKey(walk); }, 10000, "ack of the walk event");
            ErrorInfo err = null;
            live.Until(() => { lock (live.Errors) return (err = live.Errors.Find(e => e.EventId == unknown)) != null; }, 10000, "unknown_event error");
            Check.True(err.Code == "unknown_event" && !err.Fatal && err.Message.Contains("dragon_appears"), err.ToString());
            Check.True(NotBlank(frames[frames.Count - 1].Pixels), "the last frame is not blank");
            Check.Equal(0L, live.Session.FramesDropped, "no local drops");

            double seconds = (frames[WarmUpFrames + MeasuredFrames].ReceivedUs - frames[WarmUpFrames].ReceivedUs) / 1e6;
            double fps = MeasuredFrames / seconds;
            live.CloseCleanly();
            Console.WriteLine("LIVE_JSON {\"client\": \"mono\", \"warm_up_frames\": " + WarmUpFrames + ", \"frames\": " + MeasuredFrames
                + ", \"frames_received\": " + frames.Count + ", \"seconds\": "
                + seconds.ToString("0.000", CultureInfo.InvariantCulture) + ", \"fps\": " + fps.ToString("0.00", CultureInfo.InvariantCulture)
                + ", \"model_fps\": " + info.Fps.ToString("0.##", CultureInfo.InvariantCulture) + ", \"width\": " + info.Width
                + ", \"height\": " + info.Height + ", \"first_zombie_frame\": " + firstWithZombie.FrameIndex + "}");
        }

        static bool NotBlank(byte[] pixels)
        {
            double sum = 0, sq = 0;
            foreach (byte b in pixels) { sum += b; sq += (double)b * b; }
            double mean = sum / pixels.Length;
            return sq / pixels.Length - mean * mean > 4.0;  // standard deviation above 2 levels
        }

        static void Resume(string host, int port)
        {
            using (var proxy = new TcpProxy(host, port))
            {
                var live = new LiveSession("127.0.0.1", proxy.Port);
                Frame before = live.Next(30000);
                string sessionId = live.Session.Info.SessionId;
                proxy.Cut();
                live.Until(() => live.Session.Reconnects == 1 && live.Session.State == StreamDiTSessionState.Streaming, 15000, "resumed");
                Check.True(live.States.Contains(StreamDiTSessionState.Reconnecting), "went through Reconnecting");
                SessionInfo info = live.Session.Info;
                Check.True(info.Resumed && info.SessionId == sessionId && info.NextFrameIndex > before.FrameIndex,
                    "same session, numbering continues (next " + info.NextFrameIndex + " after " + before.FrameIndex + ")");
                Frame after;
                do after = live.Next(30000); while (after.FrameIndex < info.NextFrameIndex);
                Check.Equal(2, proxy.Accepted, "two connections through the proxy");
                live.CloseCleanly();
            }
        }
    }

    /// <summary>A loopback TCP proxy to the runtime whose connections can be cut, as a network failure would.</summary>
    sealed class TcpProxy : IDisposable
    {
        readonly TcpListener listener = new TcpListener(IPAddress.Loopback, 0);
        readonly List<TcpClient> open = new List<TcpClient>();
        int accepted;

        public TcpProxy(string host, int port)
        {
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        TcpClient down = listener.AcceptTcpClient();
                        var up = new TcpClient(host, port);
                        Interlocked.Increment(ref accepted);
                        lock (open) { open.Add(down); open.Add(up); }
                        Pump(down, up);
                        Pump(up, down);
                    }
                }
                catch (Exception) { /* listener stopped */ }
            }) { IsBackground = true }.Start();
        }

        public int Port { get; private set; }
        public int Accepted { get { return Volatile.Read(ref accepted); } }

        /// <summary>Closes every connection made so far; new ones are still accepted.</summary>
        public void Cut()
        {
            lock (open)
            {
                foreach (TcpClient c in open) c.Close();
                open.Clear();
            }
        }

        public void Dispose()
        {
            listener.Stop();
            Cut();
        }

        static void Pump(TcpClient from, TcpClient to)
        {
            new Thread(() =>
            {
                var buffer = new byte[65536];
                try
                {
                    NetworkStream a = from.GetStream(), b = to.GetStream();
                    int n;
                    while ((n = a.Read(buffer, 0, buffer.Length)) > 0) b.Write(buffer, 0, n);
                }
                catch (Exception) { /* cut */ }
                from.Close();
                to.Close();
            }) { IsBackground = true }.Start();
        }
    }
}

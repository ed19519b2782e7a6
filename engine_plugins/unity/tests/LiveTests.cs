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

        public LiveSession(string host, int port, Action<StreamDiTSessionOptions> configure = null)
        {
            var options = new StreamDiTSessionOptions
            {
                Host = host, Port = port, PromptMap = CrafterPromptMap.Build(), Seed = 1, ClientName = "unity-live-test",
            };
            if (configure != null) configure(options);
            Session = new StreamDiTSession(options);
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
            r.Add("live: v2v: source frames sent at the model's rate come back as frames naming them (SourceIndex)", () => V2V(host, port));
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

        // Video-to-video against the real runtime: SendFrame at the model's fps from this thread (as a game's frame
        // sender would), frames taken as they come, until SourcedFrames of them name a source frame. Prints one line
        // "LIVE_V2V_JSON {...}" with the counts and the source-to-output latency (SendFrame to the first frame naming it).
        const int SourcedFrames = 24;

        static void V2V(string host, int port)
        {
            var live = new LiveSession(host, port, o => { o.V2V = true; o.Strength = 0.5f; });
            live.Until(() => live.Session.State == StreamDiTSessionState.Streaming, 30000, "Streaming");
            SessionInfo info = live.Session.Info;
            Check.True(info.V2V, "the runtime's handshake_reply.v2v is true (it is false: this runtime does not serve video-to-video)");
            int w = info.Width, h = info.Height;
            var sentUs = new Dictionary<long, long>();
            var latenciesMs = new List<double>();
            var trace = new System.Text.StringBuilder();  // "frame:source " pairs, for the failure messages
            var distinct = new HashSet<long>();
            int backSteps = 0;
            long lastSent = -1, lastSource = -1, sourced = 0, taken = 0;
            long periodUs = (long)(1e6 / info.Fps), nextSendUs = Frame.MonotonicUs();
            DateTime deadline = DateTime.UtcNow.AddSeconds(60);
            while (sourced < SourcedFrames)
            {
                Check.True(DateTime.UtcNow < deadline, "within 60 s, " + SourcedFrames + " frames that name a source frame (got "
                    + sourced + " of " + taken + " frames; " + (lastSent + 1) + " source frames sent; stats: "
                    + (live.Session.Stats == null ? "none" : live.Session.Stats.SourceFramesReceived + " received by the runtime")
                    + "; frame:source " + trace + ")");
                if (Frame.MonotonicUs() >= nextSendUs)
                {
                    byte[] rgb = Bars(w, h, (int)(lastSent + 1));
                    float? strength = lastSent + 1 == 8 ? (float?)0.75f : null;  // a live strength change on the way
                    long index = live.Session.SendFrame(rgb, w, h, strength);
                    Check.Equal(lastSent + 1, index, "SendFrame numbers the frames 0, 1, 2, ...");
                    lastSent = index;
                    sentUs[index] = Frame.MonotonicUs();
                    nextSendUs += periodUs;
                }
                Frame f;
                while (live.Session.TryDequeueFrame(out f))
                {
                    taken++;
                    Check.True(f.Width == w && f.Height == h && f.Pixels.Length == w * h * 3, "frame " + f.FrameIndex + " size");
                    if (f.SourceIndex < 0) continue;
                    Check.True(f.SourceIndex <= lastSent, "frame " + f.FrameIndex + " names source frame " + f.SourceIndex
                        + ", but only 0.." + lastSent + " were sent");
                    trace.Append(f.FrameIndex).Append(':').Append(f.SourceIndex).Append(' ');
                    if (f.SourceIndex < lastSource) backSteps++;  // the runtime may restyle the last chunk's sources again
                    if (distinct.Add(f.SourceIndex)) latenciesMs.Add((f.ReceivedUs - sentUs[f.SourceIndex]) / 1000.0);
                    lastSource = f.SourceIndex;
                    sourced++;
                }
                Thread.Sleep(2);
            }
            live.Until(() => live.Session.Stats != null && live.Session.Stats.SourceFramesReceived > 0, 10000,
                "stats with source_frames_received > 0");
            SessionStats stats = live.Session.Stats;
            Check.True(stats.SourceFramesReceived <= live.Session.SourceFramesSent && stats.SourceFramesDropped <= stats.SourceFramesReceived,
                "stats: " + stats.SourceFramesReceived + " received, " + stats.SourceFramesDropped + " dropped, of " + live.Session.SourceFramesSent + " sent");
            lock (live.Errors)
                Check.True(live.Errors.Count == 0, "no errors: " + string.Join("; ", live.Errors.ConvertAll(e => e.ToString()).ToArray()));
            // The restyled stream follows the source: most frames name a newer source frame than the one before.
            Check.True(distinct.Count >= SourcedFrames / 2, distinct.Count + " distinct source indices in " + sourced
                + " frames (frame:source " + trace + ")");
            live.CloseCleanly();
            latenciesMs.Sort();
            Check.True(latenciesMs.Count > 0, "a latency was measured");
            Console.WriteLine("LIVE_V2V_JSON {\"width\": " + w + ", \"height\": " + h + ", \"model_fps\": "
                + info.Fps.ToString("0.##", CultureInfo.InvariantCulture) + ", \"source_frames_sent\": " + (lastSent + 1)
                + ", \"frames_taken\": " + taken + ", \"frames_naming_a_source\": " + sourced + ", \"last_source_index\": " + lastSource
                + ", \"runtime_source_frames_received\": " + stats.SourceFramesReceived + ", \"runtime_source_frames_dropped\": "
                + stats.SourceFramesDropped + ", \"latency_ms_p50\": " + Percentile(latenciesMs, 0.5).ToString("0.0", CultureInfo.InvariantCulture)
                + ", \"latency_ms_max\": " + latenciesMs[latenciesMs.Count - 1].ToString("0.0", CultureInfo.InvariantCulture)
                + ", \"latency_samples\": " + latenciesMs.Count + ", \"distinct_source_indices\": " + distinct.Count
                + ", \"source_index_back_steps\": " + backSteps + "}");
        }

        /// <summary>w x h rgb8, rows top to bottom: vertical bars that move one pixel per frame (a walking scroll).</summary>
        static byte[] Bars(int w, int h, int shift)
        {
            var rgb = new byte[w * h * 3];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int i = (y * w + x) * 3;
                    bool on = ((x + shift) / 4) % 2 == 0;
                    rgb[i] = (byte)(on ? 220 : 30);
                    rgb[i + 1] = (byte)(on ? 180 : 60);
                    rgb[i + 2] = (byte)(255 * y / Math.Max(1, h - 1));
                }
            return rgb;
        }

        static double Percentile(List<double> sorted, double q)
        {
            return sorted[Math.Min(sorted.Count - 1, (int)(q * (sorted.Count - 1) + 0.5))];
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

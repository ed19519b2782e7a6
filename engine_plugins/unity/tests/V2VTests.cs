// Video-to-video in StreamDiT.Core (issue 20): StreamDiTSession.SendFrame over a fake ITransport (TransportTests.cs),
// the source_frame map and pixel part on the wire, index numbering, every refusal, Frame.SourceIndex and the stats
// counters, the local latest-wins queue while reconnecting, and PixelRows.ToRgb8 (Unity's RGBA32 readback, bottom
// row first -> rgb8, top row first).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    static class V2VTests
    {
        const int W = 4, H = 2;  // the fake stream's size: not square, so width and height cannot be swapped unseen

        public static void Register(TestRunner r)
        {
            r.Add("v2v: the handshake asks for v2v with the session's strength; the reply's v2v is exposed", Handshake);
            r.Add("v2v: SendFrame puts a source_frame map and its pixel part on the wire, indices 0, 1, 2", OnTheWire);
            r.Add("v2v: frames carry SourceIndex (-1 without), stats the source frame counters", SourceIndexAndStats);
            r.Add("v2v: bad pixels, size or strength are refused with the fix; the session streams on", BadInput);
            r.Add("v2v: SendFrame without V2V, before the handshake, to a runtime without v2v, after close", Refusals);
            r.Add("v2v: while reconnecting the newest frames wait; a dropped frame's anchor and strength go on", Reconnecting);
            r.Add("v2v: PixelRows.ToRgb8 turns an RGBA32 readback, bottom row first, into rgb8 top row first", Rgba32BottomUp);
            r.Add("v2v: PixelRows.ToRgb8 copies RGB24 rows top down into a reused array, and refuses bad sizes", Rgb24AndErrors);
        }

        static Dictionary<string, object> Reply(bool? v2v, long maxMessageBytes = 1 << 20, bool resumed = false)
        {
            Dictionary<string, object> reply = FakeConnection.Reply(token: resumed ? "tok-2" : "tok-1", resumed: resumed);
            reply["width"] = W;
            reply["height"] = H;
            if (v2v.HasValue) reply["v2v"] = v2v.Value;
            ((Dictionary<string, object>)reply["limits"])["max_message_bytes"] = maxMessageBytes;
            return reply;
        }

        /// <summary>A session over a fake transport; with <paramref name="reply"/>, it is answered and streaming.</summary>
        static Recorder Open(out FakeTransport t, Action<StreamDiTSessionOptions> configure, Dictionary<string, object> reply)
        {
            Dictionary<string, object> handshake;
            return Open(out t, out handshake, configure, reply);
        }

        static Recorder Open(out FakeTransport t, out Dictionary<string, object> handshake, Action<StreamDiTSessionOptions> configure,
            Dictionary<string, object> reply)
        {
            var made = new BlockingCollection<FakeTransport>();
            var r = new Recorder(6001, o =>
            {
                o.TransportFactory = (h, p) => { var f = new FakeTransport(h, p); made.Add(f); return f; };
                if (configure != null) configure(o);
            }).Start();
            Check.True(made.TryTake(out t, 8000), "the factory was called");
            handshake = t.Next("handshake");
            if (reply == null) return r;
            t.Deliver(reply);
            r.WaitState(StreamDiTSessionState.Streaming);
            return r;
        }

        static byte[] Rgb(int seed)
        {
            return Check.Pattern(W * H * 3, seed);
        }

        static object Strength(Dictionary<string, object> map)
        {
            Check.True(map.ContainsKey("strength"), "the map has a strength key (nil = keep the session's)");
            return map["strength"];
        }

        static void Handshake()
        {
            FakeTransport t;
            Dictionary<string, object> hs;
            Recorder r = Open(out t, out hs, o => { o.V2V = true; o.Strength = 0.25f; o.Model = "fast"; }, Reply(true));
            Check.Equal("fast", (string)((Dictionary<string, object>)hs["settings"])["model"], "settings.model (Options.Model)");
            Check.Equal(true, (bool)((Dictionary<string, object>)hs["capabilities"])["v2v"], "capabilities.v2v");
            Check.Equal(0.25, Convert.ToDouble(((Dictionary<string, object>)hs["settings"])["strength"]), "settings.strength");
            Check.True(r.Session.Info.V2V, "Info.V2V from the reply");
            r.Session.Dispose();

            Recorder plain = Open(out t, out hs, null, null);
            Check.Equal(false, (bool)((Dictionary<string, object>)hs["capabilities"])["v2v"], "capabilities.v2v by default");
            Check.Equal(0.5, Convert.ToDouble(((Dictionary<string, object>)hs["settings"])["strength"]), "settings.strength by default");
            Check.Equal("", (string)((Dictionary<string, object>)hs["settings"])["model"], "settings.model by default: the runtime's");
            plain.Session.Dispose();
            var r3 = Open(out t, null, null);
            t.Deliver(Reply(null));  // a runtime that does not send v2v
            r3.WaitState(StreamDiTSessionState.Streaming);
            Check.True(!r3.Session.Info.V2V, "no v2v in the reply reads false");
            r3.Session.Dispose();
            foreach (float bad in new[] { -0.01f, 1.01f, float.NaN })
                Check.True(Check.Throws<ArgumentOutOfRangeException>(() => new StreamDiTSession(new StreamDiTSessionOptions
                    { V2V = true, Strength = bad }), "Strength " + bad).Message.Contains("[0, 1]"), "the message names [0, 1]");
        }

        static void OnTheWire()
        {
            FakeTransport t;
            Recorder r = Open(out t, o => o.V2V = true, Reply(true));
            byte[] first = Rgb(0);
            byte[] firstCopy = (byte[])first.Clone();
            Check.Equal(0L, r.Session.SendFrame(first, W, H), "the first index");
            for (int i = 0; i < first.Length; i++) first[i] = 0;  // the caller reuses its array at once
            byte[][] parts = t.NextParts("source_frame");
            Check.Equal(2, parts.Length, "a map and the pixel part");
            Dictionary<string, object> m = MsgPack.DeserializeMap(parts[0]);
            Check.Equal(0L, (long)m["frame_index"], "frame_index");
            Check.True((long)m["width"] == W && (long)m["height"] == H, "width and height " + m["width"] + "x" + m["height"]);
            Check.Equal("rgb8", (string)m["pixel_format"], "pixel_format");
            Check.True(Strength(m) == null, "strength nil: keep the session's");
            Check.Equal(false, (bool)m["anchor"], "anchor");
            Check.Bytes(firstCopy, parts[1], "the pixel part is the frame as it was passed (copied)");

            Check.Equal(1L, r.Session.SendFrame(Rgb(1), W, H, 0.75f, true), "the second index");
            parts = t.NextParts("source_frame");
            m = MsgPack.DeserializeMap(parts[0]);
            Check.Equal(1L, (long)m["frame_index"], "frame_index 1");
            Check.Equal(0.75, Convert.ToDouble(Strength(m)), "strength 0.75");
            Check.Equal(true, (bool)m["anchor"], "anchor true");
            Check.Bytes(Rgb(1), parts[1], "pixels of frame 1");

            Check.Equal(2L, r.Session.SendFrame(Rgb(2), W, H, 0f), "the third index");
            m = MsgPack.DeserializeMap(t.NextParts("source_frame")[0]);
            Check.True((long)m["frame_index"] == 2 && Convert.ToDouble(Strength(m)) == 0.0 && !(bool)m["anchor"], "frame 2, strength 0");
            Check.True(Check.WaitFor(() => r.Session.SourceFramesSent == 3, 8000), "SourceFramesSent " + r.Session.SourceFramesSent);
            Check.Equal(0L, r.Session.SourceFramesDropped, "no local drops");
            lock (r.Errors) Check.Equal(0, r.Errors.Count, "no errors");
            r.Session.Dispose();
        }

        static void SourceIndexAndStats()
        {
            FakeTransport t;
            Recorder r = Open(out t, o => o.V2V = true, Reply(true));
            var pixels = new byte[W * H * 3];
            foreach (object index in new object[] { 7L, null, -1L })
            {
                Dictionary<string, object> f = FakeConnection.Map("type", "frame", "frame_index", 0L, "width", W, "height", H,
                    "pixel_format", "rgb8");
                if (index != null) f["source_index"] = index;
                t.Deliver(f, pixels);
                Frame got = r.WaitFrame();
                Check.Equal(index == null ? -1L : (long)index, got.SourceIndex, "SourceIndex for source_index " + (index ?? "absent"));
            }
            t.Deliver(FakeConnection.Map("type", "frame", "frame_index", 1L, "width", W, "height", H, "source_index", -2L), pixels);
            ErrorInfo bad = r.WaitError(ErrorCodes.BadMessage);
            Check.True(bad.Message.Contains("source_index") && !bad.Fatal, bad.ToString());
            t.Deliver(FakeConnection.Map("type", "stats", "fps", 16.0, "source_frames_received", 12L, "source_frames_dropped", 5L));
            Check.True(Check.WaitFor(() => r.Session.Stats != null, 8000), "stats arrived");
            Check.True(r.Session.Stats.SourceFramesReceived == 12 && r.Session.Stats.SourceFramesDropped == 5,
                "stats source counters " + r.Session.Stats.SourceFramesReceived + "/" + r.Session.Stats.SourceFramesDropped);
            Check.Equal(StreamDiTSessionState.Streaming, r.Session.State, "still streaming");
            r.Session.Dispose();
        }

        static void BadInput()
        {
            FakeTransport t;
            Recorder r = Open(out t, o => o.V2V = true, Reply(true));
            StreamDiTSession s = r.Session;
            Check.Throws<ArgumentNullException>(() => s.SendFrame(null, W, H), "null pixels");
            string m = Check.Throws<ArgumentException>(() => s.SendFrame(new byte[W * H * 3 - 1], W, H), "one byte short").Message;
            Check.True(m.Contains("23 bytes") && m.Contains("is 24") && m.Contains("width * height * 3"), m);
            m = Check.Throws<ArgumentException>(() => s.SendFrame(new byte[W * H * 4], W, H), "RGBA bytes").Message;
            Check.True(m.Contains("32 bytes") && m.Contains("PixelRows.ToRgb8"), m);
            m = Check.Throws<ArgumentException>(() => s.SendFrame(new byte[W * H * 3], H, W), "2x4 to a 4x2 stream").Message;
            Check.True(m.Contains("is 2x4") && m.Contains("takes 4x2") && m.Contains("scale"), m);
            m = Check.Throws<ArgumentException>(() => s.SendFrame(new byte[0], 0, H), "zero width").Message;
            Check.True(m.Contains("positive"), m);
            foreach (float bad in new[] { -0.5f, 1.5f, float.NaN, float.PositiveInfinity })
            {
                m = Check.Throws<ArgumentOutOfRangeException>(() => s.SendFrame(Rgb(0), W, H, bad), "strength " + bad).Message;
                Check.True(m.Contains("[0, 1]"), m);
            }
            Check.Equal(0L, s.SendFrame(Rgb(3), W, H, 1f), "strength 1 is accepted, and refusals took no index");
            Dictionary<string, object> sent = MsgPack.DeserializeMap(t.NextParts("source_frame")[0]);
            Check.True((long)sent["frame_index"] == 0 && Convert.ToDouble(sent["strength"]) == 1.0, "frame 0 at strength 1");
            Check.Equal(StreamDiTSessionState.Streaming, s.State, "still streaming");
            lock (r.Errors) Check.Equal(0, r.Errors.Count, "no error events for refused calls");
            s.Dispose();
            Check.True(!t.Drain().Contains("source_frame"), "no other source_frame was sent");
        }

        static void Refusals()
        {
            FakeTransport t;
            Recorder off = Open(out t, null, Reply(true));
            string m = Check.Throws<InvalidOperationException>(() => off.Session.SendFrame(Rgb(0), W, H), "V2V off").Message;
            Check.True(m.Contains("StreamDiTSessionOptions.V2V = true"), m);
            off.Session.Dispose();
            Check.True(!t.Drain().Contains("source_frame"), "nothing sent without V2V");

            Recorder early = Open(out t, o => o.V2V = true, null);
            m = Check.Throws<InvalidOperationException>(() => early.Session.SendFrame(Rgb(0), W, H), "before the reply").Message;
            Check.True(m.Contains("Connected") && m.Contains("Connecting"), m);
            early.Session.Dispose();

            foreach (bool? v2v in new bool?[] { false, null })
            {
                Recorder no = Open(out t, o => o.V2V = true, Reply(v2v));
                m = Check.Throws<StreamDiTException>(() => no.Session.SendFrame(Rgb(0), W, H), "reply v2v " + v2v).Message;
                Check.True(m.Contains("does not serve video-to-video") && m.Contains("v2v false"), m);
                no.Session.Dispose();
                Check.True(!t.Drain().Contains("source_frame"), "nothing sent to a runtime without v2v");
            }

            Recorder small = Open(out t, o => o.V2V = true, Reply(true, maxMessageBytes: 100));
            m = Check.Throws<StreamDiTException>(() => small.Session.SendFrame(Rgb(0), W, H), "above max_message_bytes").Message;
            Check.True(m.Contains("accepts 100") && m.Contains("max_message_bytes"), m);
            small.Session.Dispose();

            Recorder closed = Open(out t, o => o.V2V = true, Reply(true));
            closed.Session.Close("done");
            m = Check.Throws<StreamDiTException>(() => closed.Session.SendFrame(Rgb(0), W, H), "after Close").Message;
            Check.True(m.Contains("SendFrame on a session that is closed"), m);
        }

        static void Reconnecting()
        {
            var made = new BlockingCollection<FakeTransport>();
            var gate = new ManualResetEventSlim(false);
            int calls = 0;
            var r = new Recorder(6001, o =>
            {
                o.V2V = true;
                o.TransportFactory = (h, p) =>
                {
                    if (Interlocked.Increment(ref calls) > 1) gate.Wait(10000);  // the second attempt waits for the test
                    var f = new FakeTransport(h, p);
                    made.Add(f);
                    return f;
                };
            }).Start();
            FakeTransport t1, t2;
            Check.True(made.TryTake(out t1, 8000), "first transport");
            t1.Next("handshake");
            t1.Deliver(Reply(true));
            r.WaitState(StreamDiTSessionState.Streaming);
            t1.Fail("the fake cable was cut");
            r.WaitState(StreamDiTSessionState.Reconnecting);
            Check.True(Check.WaitFor(() => Volatile.Read(ref calls) == 2, 8000), "the second attempt started");
            Check.Equal(0L, r.Session.SendFrame(Rgb(0), W, H), "frame 0 while reconnecting");
            Check.Equal(1L, r.Session.SendFrame(Rgb(1), W, H, 0.25f, true), "frame 1: strength 0.25, anchor");
            Check.Equal(2L, r.Session.SendFrame(Rgb(2), W, H), "frame 2");
            Check.Equal(3L, r.Session.SendFrame(Rgb(3), W, H), "frame 3");
            Check.Equal(2L, r.Session.SourceFramesDropped, "frames 0 and 1 dropped locally (" + StreamDiTSession.MaxPendingSourceFrames + " wait)");
            gate.Set();
            Check.True(made.TryTake(out t2, 8000), "second transport");
            t2.Next("handshake");
            t2.Deliver(Reply(true, resumed: true));
            byte[][] parts = t2.NextParts("source_frame");
            Dictionary<string, object> m = MsgPack.DeserializeMap(parts[0]);
            Check.Equal(2L, (long)m["frame_index"], "the first frame on the resumed connection");
            Check.Equal(true, (bool)m["anchor"], "frame 1's anchor carried to frame 2");
            Check.Equal((double)0.25f, Convert.ToDouble(Strength(m)), "frame 1's strength carried to frame 2");
            Check.Bytes(Rgb(2), parts[1], "frame 2's own pixels");
            m = MsgPack.DeserializeMap(t2.NextParts("source_frame")[0]);
            Check.True((long)m["frame_index"] == 3 && !(bool)m["anchor"] && Strength(m) == null, "frame 3 as it was sent");
            Check.True(Check.WaitFor(() => r.Session.SourceFramesSent == 2, 8000), "SourceFramesSent " + r.Session.SourceFramesSent);
            r.Session.Dispose();
        }

        static void Rgba32BottomUp()
        {
            const int w = 3, h = 2;
            // Pixel (x, y), y = 0 the top row, is (10x + y, 100 + 10x + y, 200 + x + y); alpha 77 is dropped.
            var rgba = new byte[w * h * 4];
            for (int row = 0; row < h; row++)  // the readback's row 0 is the image's bottom row (y = h - 1)
                for (int x = 0; x < w; x++)
                {
                    int y = h - 1 - row, i = (row * w + x) * 4;
                    rgba[i] = (byte)(10 * x + y);
                    rgba[i + 1] = (byte)(100 + 10 * x + y);
                    rgba[i + 2] = (byte)(200 + x + y);
                    rgba[i + 3] = 77;
                }
            var want = new byte[]
            {
                0, 100, 200,  10, 110, 201,  20, 120, 202,   // top row (y = 0)
                1, 101, 201,  11, 111, 202,  21, 121, 203,   // bottom row (y = 1)
            };
            Check.Bytes(want, PixelRows.ToRgb8(rgba, w, h, 4, true), "RGBA32 bottom-up -> rgb8 top-down");
            var topDown = PixelRows.ToRgb8(rgba, w, h, 4, false);
            Check.Bytes(new byte[] { 1, 101, 201, 11, 111, 202, 21, 121, 203 }, Slice(topDown, 0, 9), "bottomUp false keeps the row order");
        }

        static void Rgb24AndErrors()
        {
            byte[] rgb = Check.Pattern(2 * 3 * 3, 5);
            var into = new byte[2 * 3 * 3];
            byte[] same = PixelRows.ToRgb8(rgb, 2, 3, 3, false, into);
            Check.True(ReferenceEquals(into, same), "the destination is reused and returned");
            Check.Bytes(rgb, into, "RGB24 top-down is copied as it is");
            PixelRows.ToRgb8(rgb, 2, 3, 3, true, into);
            Check.Bytes(Slice(rgb, 12, 6), Slice(into, 0, 6), "RGB24 bottom-up: the last row comes first");
            string m = Check.Throws<ArgumentException>(() => PixelRows.ToRgb8(rgb, 2, 3, 2, false), "2 bytes per pixel").Message;
            Check.True(m.Contains("4 (RGBA32) or 3 (RGB24)"), m);
            m = Check.Throws<ArgumentException>(() => PixelRows.ToRgb8(rgb, 2, 3, 4, true), "RGB bytes as RGBA").Message;
            Check.True(m.Contains("18 bytes") && m.Contains("has 24"), m);
            m = Check.Throws<ArgumentException>(() => PixelRows.ToRgb8(rgb, 2, 3, 3, true, new byte[5]), "small destination").Message;
            Check.True(m.Contains("destination has 5 bytes") && m.Contains("has 18"), m);
            Check.Throws<ArgumentException>(() => PixelRows.ToRgb8(rgb, 0, 3, 3, true), "zero width");
            Check.Throws<ArgumentNullException>(() => PixelRows.ToRgb8(null, 2, 3, 3, true), "null pixels");
        }

        static byte[] Slice(byte[] b, int start, int length)
        {
            var s = new byte[length];
            Buffer.BlockCopy(b, start, s, 0, length);
            return s;
        }
    }
}

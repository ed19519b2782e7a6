// Unit tests of RecordingWriter (the recording format, docs/recording.md) in temporary folders, and the
// `record DIR` mode: a recording that tests/test_unity_recorder.py reads back with the project's reader.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    static class RecordingTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("recording: a shard is .partial until closed, then complete", ShardIsAtomic);
            r.Add("recording: events are stamped with the next frame", EventsStampedWithNextFrame);
            r.Add("recording: bottom-up RGBA rows become top-down RGB", BottomUpRgbaBecomesRgb);
            r.Add("recording: new shards take the next free number", NextFreeNumber);
            r.Add("recording: bad events and frames are refused with the fix", BadInputRefused);
            r.Add("recording: an unclosed shard stays .partial; Dispose closes", UnclosedStaysPartial);
            r.Add("recording: JSON strings and numbers", JsonValues);
        }

        static string TempDir()
        {
            string dir = Path.Combine(Path.GetTempPath(), "streamdit-recording-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            return dir;
        }

        static string[] Names(string dir)
        {
            var names = new List<string>();
            foreach (string d in Directory.GetDirectories(dir)) names.Add(Path.GetFileName(d));
            names.Sort(StringComparer.Ordinal);
            return names.ToArray();
        }

        static void ShardIsAtomic()
        {
            string dir = TempDir();
            var w = new RecordingWriter(dir, "test game", 16, "vocab.toml");
            byte[] a = Check.Pattern(4 * 2 * 3, 1), b = Check.Pattern(4 * 2 * 3, 2);
            Check.Equal(0, w.AppendFrame(a, 4, 2, 3, false), "index of frame 0");
            Check.Equal(1, w.AppendFrame(b, 4, 2, 3, false), "index of frame 1");
            Check.Equal("shard-00000.partial", string.Join(",", Names(dir)), "open shard");
            Check.True(!File.Exists(Path.Combine(dir, "shard-00000.partial", "manifest.json")), "no manifest before close");
            string shard = w.CloseShard();
            Check.Equal(Path.Combine(dir, "shard-00000"), shard, "closed shard");
            Check.Equal("shard-00000", string.Join(",", Names(dir)), "renamed");
            Check.Equal(1, w.Shards.Count, "Shards");
            var both = new byte[a.Length * 2];
            a.CopyTo(both, 0);
            b.CopyTo(both, a.Length);
            Check.Bytes(both, File.ReadAllBytes(Path.Combine(shard, "frames.rgb")), "frames.rgb");
            string manifest = File.ReadAllText(Path.Combine(shard, "manifest.json"));
            foreach (string want in new[] { "\"format\": \"streamdit-recording\"", "\"version\": 1,", "\"game\": \"test game\"",
                                            "\"fps\": 16.0,", "\"width\": 4,", "\"height\": 2,", "\"frames\": 2,", "\"events\": 0,",
                                            "\"events_after_last_frame\": 0,", "\"vocabulary\": \"vocab.toml\"",
                                            "\"recorder\": \"unity StreamDiTRecorder ", "+00:00\"" })
                Check.True(manifest.Contains(want), "manifest has " + want + ":\n" + manifest);
            Check.Equal(null, w.CloseShard(), "closing again: no shard open");
        }

        static void EventsStampedWithNextFrame()
        {
            string dir = TempDir();
            using (var w = new RecordingWriter(dir, "g", 10, null))
            {
                w.PushEvent("zombie_appears", new Dictionary<string, object> { { "zone", "forest" }, { "hp", 3 } });
                w.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false);
                w.AppendFrame(Check.Pattern(3, 1), 1, 1, 3, false);
                w.PushEvent("night_falls", null);
                w.PushEvent("speed", new Dictionary<string, object> { { "x", 0.25 }, { "boss", true } });
                w.AppendFrame(Check.Pattern(3, 2), 1, 1, 3, false);
                w.PushEvent("day_breaks", null);
                Check.Equal(1, w.PendingEvents, "one event after the last frame");
            }
            string shard = Path.Combine(dir, "shard-00000");
            string[] lines = File.ReadAllLines(Path.Combine(shard, "events.jsonl"));
            Check.Equal(3, lines.Length, "three lines");
            Check.Equal("{\"frame\":0,\"type\":\"zombie_appears\",\"payload\":{\"zone\":\"forest\",\"hp\":3}}", lines[0], "line 1");
            Check.Equal("{\"frame\":2,\"type\":\"night_falls\",\"payload\":{}}", lines[1], "line 2");
            Check.Equal("{\"frame\":2,\"type\":\"speed\",\"payload\":{\"x\":0.25,\"boss\":true}}", lines[2], "line 3");
            string manifest = File.ReadAllText(Path.Combine(shard, "manifest.json"));
            Check.True(manifest.Contains("\"events\": 3,") && manifest.Contains("\"events_after_last_frame\": 1,"), manifest);
            Check.True(manifest.Contains("\"vocabulary\": null"), "no vocabulary: null");
        }

        static void BottomUpRgbaBecomesRgb()
        {
            string dir = TempDir();
            // 2x2 RGBA, bottom row first: bottom = (1,2,3,255) (4,5,6,255); top = (7,8,9,255) (10,11,12,255).
            var rgba = new byte[] { 1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255 };
            var rgbBottomUp = new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
            using (var w = new RecordingWriter(dir, "g", 10, null))
            {
                w.AppendFrame(rgba, 2, 2, 4, true);
                w.AppendFrame(rgbBottomUp, 2, 2, 3, true);
                w.AppendFrame(rgba, 2, 2, 4, false);
            }
            byte[] top = { 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5, 6 };
            byte[] asIs = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
            var want = new List<byte>(top);
            want.AddRange(top);
            want.AddRange(asIs);
            Check.Bytes(want.ToArray(), File.ReadAllBytes(Path.Combine(dir, "shard-00000", "frames.rgb")), "rows and channels");
        }

        static void NextFreeNumber()
        {
            string dir = TempDir();
            Directory.CreateDirectory(Path.Combine(dir, "shard-00003"));
            Directory.CreateDirectory(Path.Combine(dir, "shard-00005.partial"));
            Directory.CreateDirectory(Path.Combine(dir, "notes"));
            var w = new RecordingWriter(dir, "g", 10, null);
            w.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false);
            Check.Equal(Path.Combine(dir, "shard-00006"), w.CloseShard(), "after 5");
            w.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false);
            Check.Equal(Path.Combine(dir, "shard-00007"), w.CloseShard(), "then 7");
            Check.True(File.ReadAllText(Path.Combine(dir, "shard-00007", "manifest.json")).Contains("\"frames\": 1,"), "a fresh count");
        }

        static void BadInputRefused()
        {
            string dir = TempDir();
            var w = new RecordingWriter(dir, "g", 10, null);
            Check.True(Check.Throws<RecordingException>(() => w.PushEvent("zombie-appears", null), "a dash").Message.Contains("is not a name"), "dash");
            Check.Throws<RecordingException>(() => w.PushEvent("", null), "empty type");
            Check.Throws<RecordingException>(() => w.PushEvent(new string('x', 65), null), "65 characters");
            Check.True(Check.Throws<RecordingException>(() => w.PushEvent("e", new Dictionary<string, object> { { "v", double.NaN } }), "NaN")
                .Message.Contains("JSON has no such number"), "NaN message");
            Check.True(Check.Throws<RecordingException>(() => w.PushEvent("e", new Dictionary<string, object> { { "v", new int[0] } }), "array")
                .Message.Contains("values must be"), "array message");
            Check.True(Check.Throws<RecordingException>(() => w.AppendFrame(new byte[5], 1, 2, 3, false), "short").Message.Contains("needs 6 bytes"), "short");
            Check.Throws<RecordingException>(() => w.AppendFrame(new byte[7], 1, 2, 4, false), "RGBA short");
            Check.Throws<RecordingException>(() => w.AppendFrame(new byte[4], 2, 1, 2, false), "2 bytes per pixel");
            w.AppendFrame(new byte[6], 2, 1, 3, false);
            Check.True(Check.Throws<RecordingException>(() => w.AppendFrame(new byte[6], 1, 2, 3, false), "another size")
                .Message.Contains("resize it"), "size message");
            Check.Throws<ArgumentException>(() => new RecordingWriter(dir, "g", 0, null), "fps 0");
            Check.Throws<ArgumentException>(() => new RecordingWriter(dir, "g", double.PositiveInfinity, null), "fps inf");
            Check.Throws<ArgumentException>(() => new RecordingWriter("", "g", 10, null), "no folder");
            w.CloseShard();
            Check.True(File.ReadAllText(Path.Combine(dir, "shard-00000", "manifest.json")).Contains("\"frames\": 1,"), "only the good frame");
            Check.Equal(6L, new FileInfo(Path.Combine(dir, "shard-00000", "frames.rgb")).Length, "refused frames were not written");
        }

        static void UnclosedStaysPartial()
        {
            string dir = TempDir();
            var crashed = new RecordingWriter(dir, "g", 10, null);
            crashed.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false);  // never closed: the game crashed
            var w = new RecordingWriter(dir, "g", 10, null);
            w.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false);
            w.Dispose();
            w.Dispose();
            Check.Equal("shard-00000.partial,shard-00001", string.Join(",", Names(dir)), "the crashed shard stays partial");
            Check.Throws<ObjectDisposedException>(() => w.AppendFrame(Check.Pattern(3, 0), 1, 1, 3, false), "after Dispose");
        }

        static void JsonValues()
        {
            Check.Equal("\"a\\\"b\\\\c\\n\\u0001\"", RecordingJson.Quote("a\"b\\c\n\u0001"), "escapes");
            Check.Equal("16.0", RecordingJson.Value(16.0), "a whole double stays a float");
            Check.Equal("0.1", RecordingJson.Value(0.1), "shortest round trip");
            Check.Equal("1E+20", RecordingJson.Value(1e20), "exponent");
            Check.Equal("-7", RecordingJson.Value(-7L), "long");
            Check.Equal("null", RecordingJson.Value(null), "null");
        }

        /// <summary>The `record DIR` mode: shard-00000 (3 frames of 8x6 RGBA, bottom-up, with events), shard-00001
        /// (3 frames of RGB, top-down, cow_nearby at frame 2), and an unclosed shard-00002.partial. Pixel (x, y) of frame f, top row 0, is
        /// (x*30 + f, y*40 + f, 7*f + 1): mirrored in tests/test_unity_recorder.py.</summary>
        public static int WriteFixture(string dir)
        {
            const int W = 8, H = 6;
            var w = new RecordingWriter(dir, "unity fixture", 12.5, "fixture_vocab.toml");
            w.PushEvent("zombie_appears", new Dictionary<string, object> { { "zone", "forest \"deep\"" }, { "hp", 3 } });
            for (int f = 0; f < 3; f++)
            {
                if (f == 2) w.PushEvent("night_falls", new Dictionary<string, object> { { "hour", 22.5 }, { "boss", false } });
                w.AppendFrame(Frame(W, H, f, 4, true), W, H, 4, true);
            }
            w.PushEvent("day_breaks", null);  // after the last frame of shard 0
            w.CloseShard();
            for (int f = 0; f < 2; f++) w.AppendFrame(Frame(W, H, f, 3, false), W, H, 3, false);
            w.PushEvent("cow_nearby", null);
            w.AppendFrame(Frame(W, H, 2, 3, false), W, H, 3, false);
            w.CloseShard();
            var crashed = new RecordingWriter(dir, "unity fixture", 12.5, null);
            crashed.AppendFrame(Frame(W, H, 0, 3, false), W, H, 3, false);  // left open: .partial
            Console.WriteLine("record: wrote " + string.Join(", ", new List<string>(w.Shards).ToArray()) + " and an unclosed shard");
            return 0;
        }

        static byte[] Frame(int width, int height, int f, int bpp, bool bottomUp)
        {
            var b = new byte[width * height * bpp];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int row = bottomUp ? height - 1 - y : y;
                    int i = (row * width + x) * bpp;
                    b[i] = (byte)(x * 30 + f);
                    b[i + 1] = (byte)(y * 40 + f);
                    b[i + 2] = (byte)(7 * f + 1);
                    if (bpp == 4) b[i + 3] = 255;
                }
            return b;
        }
    }
}

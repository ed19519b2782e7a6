// Unit tests of the msgpack codec: exact bytes at every type boundary, round trips, hostile input.
using System;
using System.Collections.Generic;
using System.Text;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    static class MsgPackTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("msgpack: nil, bool, positive integers at every width boundary", PositiveInts);
            r.Add("msgpack: negative integers at every width boundary", NegativeInts);
            r.Add("msgpack: float32 and float64 bytes", Floats);
            r.Add("msgpack: str headers at 31/32, 255/256, 65535/65536 bytes; UTF-8", Strings);
            r.Add("msgpack: bin headers at 255/256, 65535/65536 bytes", Binaries);
            r.Add("msgpack: array and map headers at 15/16 and 65535/65536", Containers);
            r.Add("msgpack: nested map round trip and typed reads", NestedRoundTrip);
            r.Add("msgpack: every prefix of a value is a MsgPackException", TruncatedPrefixes);
            r.Add("msgpack: lying length prefixes fail without allocating", LyingLengths);
            r.Add("msgpack: malformed input (0xc1, bad UTF-8, int key, dup key, ext, trailing)", Malformed);
            r.Add("msgpack: nesting deeper than MaxDepth fails on read and write", Depth);
            r.Add("msgpack: unsupported values fail to encode", Unencodable);
        }

        static byte[] B(params int[] bytes)
        {
            var b = new byte[bytes.Length];
            for (int i = 0; i < bytes.Length; i++) b[i] = (byte)bytes[i];
            return b;
        }

        static void Same(object value, byte[] expected, object expectedBack)
        {
            byte[] actual = MsgPack.Serialize(value);
            Check.Bytes(expected, actual, "encoding of " + value);
            object back = MsgPack.Deserialize(actual);
            Check.Equal(expectedBack, back, "decoding of " + value);
            Check.Equal(expectedBack == null ? null : expectedBack.GetType(), back == null ? null : back.GetType(), "decoded type of " + value);
        }

        static void PositiveInts()
        {
            Same(null, B(0xc0), null);
            Same(false, B(0xc2), false);
            Same(true, B(0xc3), true);
            Same(0, B(0x00), 0L);
            Same(127, B(0x7f), 127L);
            Same(128, B(0xcc, 0x80), 128L);
            Same(255, B(0xcc, 0xff), 255L);
            Same(256, B(0xcd, 0x01, 0x00), 256L);
            Same(65535, B(0xcd, 0xff, 0xff), 65535L);
            Same(65536, B(0xce, 0, 1, 0, 0), 65536L);
            Same(uint.MaxValue, B(0xce, 0xff, 0xff, 0xff, 0xff), (long)uint.MaxValue);
            Same((long)uint.MaxValue + 1, B(0xcf, 0, 0, 0, 1, 0, 0, 0, 0), (long)uint.MaxValue + 1);
            Same(long.MaxValue, B(0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), long.MaxValue);
            Same(ulong.MaxValue, B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), ulong.MaxValue);
            Same((byte)200, B(0xcc, 200), 200L);
            Same((ushort)300, B(0xcd, 0x01, 0x2c), 300L);
            // Non-minimal encodings from other writers decode too.
            Check.Equal(5L, MsgPack.Deserialize(B(0xcf, 0, 0, 0, 0, 0, 0, 0, 5)), "uint64 holding 5");
            Check.Equal(5L, MsgPack.Deserialize(B(0xd0, 5)), "int8 holding 5");
            var r = new MsgPackReader(B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
            Check.Throws<MsgPackException>(() => r.ReadInt64(), "uint64 max does not fit long");
            Check.Equal(ulong.MaxValue, new MsgPackReader(B(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)).ReadUInt64(), "ReadUInt64");
        }

        static void NegativeInts()
        {
            Same(-1, B(0xff), -1L);
            Same(-32, B(0xe0), -32L);
            Same(-33, B(0xd0, 0xdf), -33L);
            Same(-128, B(0xd0, 0x80), -128L);
            Same(-129, B(0xd1, 0xff, 0x7f), -129L);
            Same(-32768, B(0xd1, 0x80, 0x00), -32768L);
            Same(-32769, B(0xd2, 0xff, 0xff, 0x7f, 0xff), -32769L);
            Same(int.MinValue, B(0xd2, 0x80, 0, 0, 0), (long)int.MinValue);
            Same((long)int.MinValue - 1, B(0xd3, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff), (long)int.MinValue - 1);
            Same(long.MinValue, B(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), long.MinValue);
            Same((sbyte)-5, B(0xfb), -5L);
            Same((short)-200, B(0xd1, 0xff, 0x38), -200L);
            Check.Throws<MsgPackException>(() => new MsgPackReader(B(0xff)).ReadUInt64(), "negative as unsigned");
        }

        static void Floats()
        {
            Same(1.5f, B(0xca, 0x3f, 0xc0, 0x00, 0x00), 1.5f);
            Same(0.1, B(0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a), 0.1);
            Same(-2.0, B(0xcb, 0xc0, 0, 0, 0, 0, 0, 0, 0), -2.0);
            Same(double.PositiveInfinity, B(0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), double.PositiveInfinity);
            object nan = MsgPack.Deserialize(MsgPack.Serialize(double.NaN));
            Check.True(nan is double && double.IsNaN((double)nan), "NaN round trip");
            Check.Equal(1.5, new MsgPackReader(B(0xca, 0x3f, 0xc0, 0x00, 0x00)).ReadDouble(), "ReadDouble of float32");
            Check.Equal(7.0, new MsgPackReader(B(0x07)).ReadDouble(), "ReadDouble of an int");
        }

        static byte[] Concat(byte[] a, byte[] b)
        {
            var r = new byte[a.Length + b.Length];
            Buffer.BlockCopy(a, 0, r, 0, a.Length);
            Buffer.BlockCopy(b, 0, r, a.Length, b.Length);
            return r;
        }

        static void Strings()
        {
            Same("", B(0xa0), "");
            Same("héllo ✓", Concat(B(0xaa), Encoding.UTF8.GetBytes("héllo ✓")), "héllo ✓");
            Same("\U0001F3AE", B(0xa4, 0xf0, 0x9f, 0x8e, 0xae), "\U0001F3AE");
            var cases = new[] { new[] { 31, 0xbf }, new[] { 32, 0xd9 }, new[] { 255, 0xd9 }, new[] { 256, 0xda },
                                new[] { 65535, 0xda }, new[] { 65536, 0xdb } };
            foreach (int[] c in cases)
            {
                string s = new string('x', c[0]);
                byte[] enc = MsgPack.Serialize(s);
                Check.Equal((byte)c[1], enc[0], "str header byte for " + c[0]);
                int header = c[1] == 0xbf ? 1 : c[1] == 0xd9 ? 2 : c[1] == 0xda ? 3 : 5;
                Check.Equal(header + c[0], enc.Length, "str length for " + c[0]);
                Check.Equal(s, (string)MsgPack.Deserialize(enc), "str round trip " + c[0]);
            }
            Check.Throws<MsgPackException>(() => MsgPack.Serialize("\ud800"), "unpaired surrogate");
        }

        static void Binaries()
        {
            var cases = new[] { new[] { 0, 0xc4, 2 }, new[] { 255, 0xc4, 2 }, new[] { 256, 0xc5, 3 },
                                new[] { 65535, 0xc5, 3 }, new[] { 65536, 0xc6, 5 } };
            foreach (int[] c in cases)
            {
                byte[] value = Check.Pattern(c[0], c[0]);
                byte[] enc = MsgPack.Serialize(value);
                Check.Equal((byte)c[1], enc[0], "bin header byte for " + c[0]);
                Check.Equal(c[2] + c[0], enc.Length, "bin length for " + c[0]);
                Check.Bytes(value, (byte[])MsgPack.Deserialize(enc), "bin round trip " + c[0]);
            }
            Check.Bytes(B(0xc4, 0x03, 1, 2, 3), MsgPack.Serialize(new byte[] { 1, 2, 3 }), "bin8 bytes");
            Check.Bytes(B(0xc5, 0x01, 0x00), Head(MsgPack.Serialize(new byte[256]), 3), "bin16 big-endian length");
            var w = new MsgPackWriter();
            w.WriteBinary(new byte[] { 9, 8, 7, 6 }, 1, 2);
            Check.Bytes(B(0xc4, 0x02, 8, 7), w.ToArray(), "bin from a range");
        }

        static byte[] Head(byte[] b, int n)
        {
            var r = new byte[n];
            Array.Copy(b, r, n);
            return r;
        }

        static void Containers()
        {
            foreach (int n in new[] { 15, 16, 65535, 65536 })
            {
                var list = new List<object>();
                var map = new Dictionary<string, object>();
                for (int i = 0; i < n; i++) { list.Add(i % 100); map["k" + i] = i % 100; }
                byte[] a = MsgPack.Serialize(list);
                byte[] m = MsgPack.Serialize(map);
                Check.Equal(n <= 15 ? (byte)(0x90 | n) : n <= 65535 ? (byte)0xdc : (byte)0xdd, a[0], "array header " + n);
                Check.Equal(n <= 15 ? (byte)(0x80 | n) : n <= 65535 ? (byte)0xde : (byte)0xdf, m[0], "map header " + n);
                var listBack = (List<object>)MsgPack.Deserialize(a);
                var mapBack = MsgPack.DeserializeMap(m);
                Check.Equal(n, listBack.Count, "array count " + n);
                Check.Equal(n, mapBack.Count, "map count " + n);
                Check.Equal((long)((n - 1) % 100), listBack[n - 1], "last array element " + n);
                Check.Equal((long)((n - 1) % 100), mapBack["k" + (n - 1)], "last map value " + n);
            }
            Check.Bytes(B(0x92, 0x01, 0xa1, 0x78), MsgPack.Serialize(new object[] { 1, "x" }), "object[] is an array");
        }

        static void NestedRoundTrip()
        {
            var inner = new Dictionary<string, object> { { "zone", "lava" }, { "hp", -3 }, { "tags", new List<object> { "a", 1.25, null } } };
            var root = new Dictionary<string, object>
            {
                { "type", "boss_appears" }, { "payload", inner }, { "id", 4000000000L }, { "ok", true },
                { "pixels", Check.Pattern(300, 9) }, { "empty", new List<object>() }, { "none", new Dictionary<string, object>() },
            };
            byte[] enc = MsgPack.Serialize(root);
            Dictionary<string, object> back = MsgPack.DeserializeMap(enc);
            Check.Equal("boss_appears", back["type"], "type");
            var payload = (Dictionary<string, object>)back["payload"];
            Check.Equal("lava", payload["zone"], "zone");
            Check.Equal(-3L, payload["hp"], "hp");
            var tags = (List<object>)payload["tags"];
            Check.Equal(1.25, tags[1], "tag double");
            Check.Equal(null, tags[2], "tag nil");
            Check.Equal(4000000000L, back["id"], "uint32 id");
            Check.Bytes(Check.Pattern(300, 9), (byte[])back["pixels"], "bin16 pixels");
            Check.Bytes(enc, MsgPack.Serialize(back), "re-encoding the decoded value gives the same bytes");

            var r = new MsgPackReader(enc);
            int pairs = r.ReadMapHeader();
            Check.Equal(7, pairs, "pairs");
            Check.Equal("type", r.ReadString(), "key");
            Check.Equal(MsgPackType.String, r.PeekType(), "peek");
            Check.Equal("boss_appears", r.ReadString(), "value");
            Check.Equal("payload", r.ReadString(), "key 2");
            Check.Throws<MsgPackException>(() => r.ReadString(), "map is not a string");
            Check.Equal(3, r.ReadMapHeader(), "inner map header after failed typed read");
        }

        static void TruncatedPrefixes()
        {
            var root = new Dictionary<string, object>
            {
                { "s", new string('y', 300) }, { "b", new byte[70000] }, { "i", long.MinValue }, { "u", ulong.MaxValue },
                { "f", 1.5f }, { "d", 0.5 }, { "a", new List<object> { 1, new List<object> { 2, "z" } } }, { "n", null },
            };
            byte[] enc = MsgPack.Serialize(root);
            var cuts = new List<int>();
            for (int i = 0; i < 64; i++) cuts.Add(i);
            for (int i = 64; i < enc.Length; i += 997) cuts.Add(i);
            cuts.Add(enc.Length - 1);
            foreach (int cut in cuts)
            {
                var e = Check.Throws<MsgPackException>(() => MsgPack.Deserialize(enc, 0, cut), "prefix of " + cut + " bytes");
                Check.True(e.Offset >= 0 && e.Offset <= cut, "offset " + e.Offset + " within the prefix of " + cut);
            }
        }

        static void LyingLengths()
        {
            var lies = new[]
            {
                B(0xdb, 0xff, 0xff, 0xff, 0xff, 0x41), B(0xc6, 0xff, 0xff, 0xff, 0xff, 0x00),
                B(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0), B(0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0xc0),
                B(0xde, 0x00, 0x02, 0xa1, 0x61, 0xc0), B(0xda, 0x01, 0x00), B(0xd9, 0x05, 0x61),
            };
            long before = GC.GetTotalMemory(false);
            foreach (byte[] lie in lies)
            {
                var e = Check.Throws<MsgPackException>(() => MsgPack.Deserialize(lie), "lie " + Check.Hex(lie));
                Check.True(e.Message.Contains("remain"), "message says what remains: " + e.Message);
            }
            Check.True(GC.GetTotalMemory(false) - before < 16 * 1024 * 1024, "no large allocation");
        }

        static void Malformed()
        {
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0xc1)), "0xc1");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0xa2, 0xc3, 0x28)), "invalid UTF-8");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0x81, 0x01, 0x02)), "int map key");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02)), "duplicate key");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0xd4, 0x01, 0x00)), "fixext1");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0xc7, 0x01, 0x05, 0x00)), "ext8");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(B(0x01, 0x02)), "trailing byte");
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(new byte[0]), "empty input");
            Check.Throws<MsgPackException>(() => MsgPack.DeserializeMap(B(0x90)), "array where a map is required");
            Check.Throws<MsgPackException>(() => new MsgPackReader(B(0xa1, 0x61)).ReadBool(), "string as bool");
        }

        static void Depth()
        {
            var deep = new byte[100000];
            for (int i = 0; i < deep.Length - 1; i++) deep[i] = 0x91;
            deep[deep.Length - 1] = 0xc0;
            Check.Throws<MsgPackException>(() => MsgPack.Deserialize(deep), "100000 nested arrays");
            var ok = new byte[MsgPackReader.MaxDepth + 1];
            for (int i = 0; i < MsgPackReader.MaxDepth; i++) ok[i] = 0x91;
            ok[MsgPackReader.MaxDepth] = 0xc0;
            Check.True(MsgPack.Deserialize(ok) is List<object>, "exactly MaxDepth levels decode");
            var self = new List<object>();
            self.Add(self);
            Check.Throws<MsgPackException>(() => MsgPack.Serialize(self), "a list that contains itself");
        }

        static void Unencodable()
        {
            Check.Throws<MsgPackException>(() => MsgPack.Serialize(new object()), "object");
            Check.Throws<MsgPackException>(() => MsgPack.Serialize(DateTime.Now), "DateTime");
            var intKeys = new Dictionary<int, object> { { 1, "a" } };
            Check.Throws<MsgPackException>(() => MsgPack.Serialize(intKeys), "int keys");
            var w = new MsgPackWriter();
            Check.Throws<ArgumentException>(() => w.WriteBinary(new byte[2], 1, 2), "bad range");
        }
    }
}

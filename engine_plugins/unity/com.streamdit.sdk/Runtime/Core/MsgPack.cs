using System;
using System.Collections;
using System.Collections.Generic;
using System.Text;

namespace StreamDiT.Core
{
    /// <summary>
    /// One-call msgpack encoding and decoding (https://github.com/msgpack/msgpack/blob/master/spec.md) of the
    /// plain object model used by the ZeroMQ transport: null, bool, long (ulong above long.MaxValue), float,
    /// double, string, byte[] (bin), <c>List&lt;object&gt;</c> (array) and <c>Dictionary&lt;string, object&gt;</c>
    /// (map with str keys). Stateless and thread-safe.
    /// </summary>
    internal static class MsgPack
    {
        /// <summary>Encodes <paramref name="value"/> (see <see cref="MsgPackWriter.WriteValue"/> for the types).</summary>
        /// <exception cref="MsgPackException">A value has no msgpack encoding, or nesting is deeper than <see cref="MsgPackReader.MaxDepth"/>.</exception>
        public static byte[] Serialize(object value)
        {
            var w = new MsgPackWriter();
            w.WriteValue(value);
            return w.ToArray();
        }

        /// <summary>Decodes exactly one value that fills all of <paramref name="data"/>.</summary>
        /// <exception cref="MsgPackException">The input is truncated, malformed, or has bytes after the value.</exception>
        public static object Deserialize(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            return Deserialize(data, 0, data.Length);
        }

        /// <summary>Decodes exactly one value that fills <paramref name="count"/> bytes from <paramref name="offset"/>.</summary>
        /// <exception cref="MsgPackException">The input is truncated, malformed, or has bytes after the value.</exception>
        public static object Deserialize(byte[] data, int offset, int count)
        {
            var r = new MsgPackReader(data, offset, count);
            object value = r.ReadValue();
            if (!r.AtEnd)
                throw new MsgPackException((r.End - r.Position) + " unexpected bytes after the msgpack value", r.Position);
            return value;
        }

        /// <summary>Decodes a buffer that must hold exactly one map (the shape of every transport message).</summary>
        /// <exception cref="MsgPackException">The input is not exactly one well-formed map.</exception>
        public static Dictionary<string, object> DeserializeMap(byte[] data)
        {
            var map = Deserialize(data) as Dictionary<string, object>;
            if (map == null) throw new MsgPackException("expected a msgpack map at the top level", 0);
            return map;
        }
    }

    /// <summary>
    /// Appends msgpack values to a growable buffer, always choosing the smallest encoding (as Python's
    /// msgpack does). Not thread-safe. Big-endian per the spec; strings are UTF-8.
    /// </summary>
    internal sealed class MsgPackWriter
    {
        static readonly Encoding Utf8 = new UTF8Encoding(false, true);
        byte[] buffer;
        int length;
        int depth;

        /// <summary>Creates a writer with an initial capacity in bytes (it grows as needed).</summary>
        public MsgPackWriter(int initialCapacity = 256)
        {
            buffer = new byte[Math.Max(16, initialCapacity)];
        }

        /// <summary>Bytes written so far.</summary>
        public int Length { get { return length; } }

        /// <summary>Returns a copy of the bytes written so far.</summary>
        public byte[] ToArray()
        {
            var result = new byte[length];
            Buffer.BlockCopy(buffer, 0, result, 0, length);
            return result;
        }

        /// <summary>Forgets everything written, keeping the buffer.</summary>
        public void Clear()
        {
            length = 0;
            depth = 0;
        }

        /// <summary>Writes nil (0xc0).</summary>
        public void WriteNil() { Byte(0xc0); }

        /// <summary>Writes true (0xc3) or false (0xc2).</summary>
        public void WriteBool(bool value) { Byte(value ? (byte)0xc3 : (byte)0xc2); }

        /// <summary>Writes a signed integer: positive values as fixint/uint8..uint64, negative as
        /// negative fixint/int8..int64.</summary>
        public void WriteInt(long value)
        {
            if (value >= 0) { WriteUInt((ulong)value); return; }
            if (value >= -32) Byte((byte)(sbyte)value);
            else if (value >= sbyte.MinValue) { Byte(0xd0); Byte((byte)(sbyte)value); }
            else if (value >= short.MinValue) { Byte(0xd1); BigEndian((ulong)value, 2); }
            else if (value >= int.MinValue) { Byte(0xd2); BigEndian((ulong)value, 4); }
            else { Byte(0xd3); BigEndian((ulong)value, 8); }
        }

        /// <summary>Writes an unsigned integer as positive fixint, uint8, uint16, uint32 or uint64.</summary>
        public void WriteUInt(ulong value)
        {
            if (value <= 0x7f) Byte((byte)value);
            else if (value <= byte.MaxValue) { Byte(0xcc); Byte((byte)value); }
            else if (value <= ushort.MaxValue) { Byte(0xcd); BigEndian(value, 2); }
            else if (value <= uint.MaxValue) { Byte(0xce); BigEndian(value, 4); }
            else { Byte(0xcf); BigEndian(value, 8); }
        }

        /// <summary>Writes float32 (0xca).</summary>
        public void WriteFloat32(float value)
        {
            Byte(0xca);
            BigEndian(BitConverter.ToUInt32(BitConverter.GetBytes(value), 0), 4);
        }

        /// <summary>Writes float64 (0xcb).</summary>
        public void WriteFloat64(double value)
        {
            Byte(0xcb);
            BigEndian((ulong)BitConverter.DoubleToInt64Bits(value), 8);
        }

        /// <summary>Writes a UTF-8 string as fixstr, str8, str16 or str32; null writes nil.</summary>
        /// <exception cref="MsgPackException">The string holds an unpaired surrogate (not valid UTF-16).</exception>
        public void WriteString(string value)
        {
            if (value == null) { WriteNil(); return; }
            byte[] bytes;
            try { bytes = Utf8.GetBytes(value); }
            catch (EncoderFallbackException) { throw new MsgPackException("a string holds an unpaired surrogate and has no UTF-8 form", -1); }
            int n = bytes.Length;
            if (n <= 31) Byte((byte)(0xa0 | n));
            else if (n <= byte.MaxValue) { Byte(0xd9); Byte((byte)n); }
            else if (n <= ushort.MaxValue) { Byte(0xda); BigEndian((ulong)n, 2); }
            else { Byte(0xdb); BigEndian((ulong)n, 4); }
            Raw(bytes, 0, n);
        }

        /// <summary>Writes bytes as bin8, bin16 or bin32; null writes nil.</summary>
        public void WriteBinary(byte[] value)
        {
            if (value == null) { WriteNil(); return; }
            WriteBinary(value, 0, value.Length);
        }

        /// <summary>Writes <paramref name="count"/> bytes from <paramref name="offset"/> as bin8, bin16 or bin32.</summary>
        /// <exception cref="ArgumentException">The range lies outside <paramref name="value"/>.</exception>
        public void WriteBinary(byte[] value, int offset, int count)
        {
            if (value == null) throw new ArgumentNullException("value");
            if (offset < 0 || count < 0 || offset > value.Length - count) throw new ArgumentException("range outside the array");
            if (count <= byte.MaxValue) { Byte(0xc4); Byte((byte)count); }
            else if (count <= ushort.MaxValue) { Byte(0xc5); BigEndian((ulong)count, 2); }
            else { Byte(0xc6); BigEndian((ulong)count, 4); }
            Raw(value, offset, count);
        }

        /// <summary>Writes an array header (fixarray, array16, array32); then write <paramref name="count"/> values.</summary>
        public void WriteArrayHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            if (count <= 15) Byte((byte)(0x90 | count));
            else if (count <= ushort.MaxValue) { Byte(0xdc); BigEndian((ulong)count, 2); }
            else { Byte(0xdd); BigEndian((ulong)count, 4); }
        }

        /// <summary>Writes a map header (fixmap, map16, map32); then write <paramref name="count"/> key/value pairs.</summary>
        public void WriteMapHeader(int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count");
            if (count <= 15) Byte((byte)(0x80 | count));
            else if (count <= ushort.MaxValue) { Byte(0xde); BigEndian((ulong)count, 2); }
            else { Byte(0xdf); BigEndian((ulong)count, 4); }
        }

        /// <summary>
        /// Writes any supported value: null; bool; sbyte, byte, short, ushort, int, uint, long, ulong (smallest
        /// integer form); float (float32); double (float64); string; byte[] (bin); any IDictionary with string keys
        /// (map, in its enumeration order); any other IList or array (array).
        /// </summary>
        /// <exception cref="MsgPackException">The value (or a nested one) has another type, a map key is not a string,
        /// or nesting is deeper than <see cref="MsgPackReader.MaxDepth"/> (for example a list that contains itself).</exception>
        public void WriteValue(object value)
        {
            if (value == null) { WriteNil(); return; }
            if (value is bool) { WriteBool((bool)value); return; }
            if (value is string) { WriteString((string)value); return; }
            if (value is byte[]) { WriteBinary((byte[])value); return; }
            if (value is int) { WriteInt((int)value); return; }
            if (value is long) { WriteInt((long)value); return; }
            if (value is double) { WriteFloat64((double)value); return; }
            if (value is float) { WriteFloat32((float)value); return; }
            if (value is uint) { WriteUInt((uint)value); return; }
            if (value is ulong) { WriteUInt((ulong)value); return; }
            if (value is short) { WriteInt((short)value); return; }
            if (value is ushort) { WriteUInt((ushort)value); return; }
            if (value is sbyte) { WriteInt((sbyte)value); return; }
            if (value is byte) { WriteUInt((byte)value); return; }
            var map = value as IDictionary;
            if (map != null) { WriteMap(map); return; }
            var list = value as IList;
            if (list != null) { WriteList(list); return; }
            throw new MsgPackException("cannot encode a value of type " + value.GetType().FullName + " as msgpack: use "
                + "null, bool, an integer, float, double, string, byte[], a list or a string-keyed dictionary", -1);
        }

        void WriteMap(IDictionary map)
        {
            Enter();
            WriteMapHeader(map.Count);
            foreach (DictionaryEntry e in map)
            {
                var key = e.Key as string;
                if (key == null)
                    throw new MsgPackException("a msgpack map key must be a string, not " + e.Key.GetType().FullName, -1);
                WriteString(key);
                WriteValue(e.Value);
            }
            depth--;
        }

        void WriteList(IList list)
        {
            Enter();
            WriteArrayHeader(list.Count);
            foreach (object item in list) WriteValue(item);
            depth--;
        }

        void Enter()
        {
            if (++depth > MsgPackReader.MaxDepth)
                throw new MsgPackException("msgpack nesting is deeper than " + MsgPackReader.MaxDepth
                    + " levels (does a list or dictionary contain itself?)", -1);
        }

        void Byte(byte b)
        {
            Reserve(1);
            buffer[length++] = b;
        }

        void BigEndian(ulong v, int n)
        {
            Reserve(n);
            for (int i = n - 1; i >= 0; i--) { buffer[length + i] = (byte)v; v >>= 8; }
            length += n;
        }

        void Raw(byte[] src, int offset, int count)
        {
            Reserve(count);
            Buffer.BlockCopy(src, offset, buffer, length, count);
            length += count;
        }

        void Reserve(int n)
        {
            if (buffer.Length - length >= n) return;
            long want = Math.Max((long)buffer.Length * 2, (long)length + n);
            if (want > int.MaxValue - 64) want = (long)length + n;
            if (want > int.MaxValue - 64) throw new MsgPackException("msgpack output would exceed 2 GB", -1);
            var grown = new byte[want];
            Buffer.BlockCopy(buffer, 0, grown, 0, length);
            buffer = grown;
        }
    }
}

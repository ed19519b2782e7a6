using System;
using System.Collections.Generic;
using System.Text;

namespace StreamDiT.Core
{
    /// <summary>The msgpack type family of the next value, from its first byte.</summary>
    internal enum MsgPackType { Nil, Bool, Integer, Float, String, Binary, Array, Map, Extension }

    /// <summary>
    /// Reads msgpack values from a byte range, typed (ReadInt64, ReadString, ...) or as objects
    /// (<see cref="ReadValue"/>). Every length prefix is checked against the bytes that remain before anything
    /// is allocated, so a lying prefix fails fast instead of allocating; nesting is bounded by
    /// <see cref="MaxDepth"/>. Truncated or malformed input throws <see cref="MsgPackException"/>; after a throw
    /// the reader's position is unspecified. Not thread-safe.
    /// </summary>
    internal sealed class MsgPackReader
    {
        /// <summary>Deepest nesting of arrays and maps accepted (reading and writing).</summary>
        public const int MaxDepth = 64;

        static readonly Encoding Utf8 = new UTF8Encoding(false, true);
        readonly byte[] data;
        readonly int end;
        int pos;
        int depth;

        /// <summary>Reads all of <paramref name="data"/>.</summary>
        public MsgPackReader(byte[] data) : this(data, 0, data == null ? 0 : data.Length) { }

        /// <summary>Reads <paramref name="count"/> bytes of <paramref name="data"/> from <paramref name="offset"/>.</summary>
        /// <exception cref="ArgumentException">The range lies outside <paramref name="data"/>.</exception>
        public MsgPackReader(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset > data.Length - count) throw new ArgumentException("range outside the array");
            this.data = data;
            pos = offset;
            end = offset + count;
        }

        /// <summary>Index in the array of the next byte to read.</summary>
        public int Position { get { return pos; } }
        /// <summary>Index in the array just past the readable range.</summary>
        public int End { get { return end; } }
        /// <summary>True when every byte of the range was read.</summary>
        public bool AtEnd { get { return pos >= end; } }

        /// <summary>The type of the next value, without consuming it.</summary>
        /// <exception cref="MsgPackException">No bytes remain, or the byte is the never-used 0xc1.</exception>
        public MsgPackType PeekType()
        {
            Need(1, "a value");
            byte b = data[pos];
            if (b <= 0x7f || b >= 0xe0) return MsgPackType.Integer;
            if (b <= 0x8f) return MsgPackType.Map;
            if (b <= 0x9f) return MsgPackType.Array;
            if (b <= 0xbf) return MsgPackType.String;
            switch (b)
            {
                case 0xc0: return MsgPackType.Nil;
                case 0xc2: case 0xc3: return MsgPackType.Bool;
                case 0xc4: case 0xc5: case 0xc6: return MsgPackType.Binary;
                case 0xc7: case 0xc8: case 0xc9: return MsgPackType.Extension;
                case 0xca: case 0xcb: return MsgPackType.Float;
                case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return MsgPackType.Extension;
                case 0xd9: case 0xda: case 0xdb: return MsgPackType.String;
                case 0xdc: case 0xdd: return MsgPackType.Array;
                case 0xde: case 0xdf: return MsgPackType.Map;
                case 0xc1: throw new MsgPackException("byte 0xc1 is never used in msgpack: the input is corrupt", pos);
                default: return MsgPackType.Integer; // 0xcc..0xd3
            }
        }

        /// <summary>Consumes a nil and returns true, or returns false and consumes nothing.</summary>
        /// <exception cref="MsgPackException">No bytes remain.</exception>
        public bool TryReadNil()
        {
            Need(1, "a value");
            if (data[pos] != 0xc0) return false;
            pos++;
            return true;
        }

        /// <summary>Reads a bool.</summary>
        /// <exception cref="MsgPackException">The next value is not a bool, or input is truncated.</exception>
        public bool ReadBool()
        {
            Need(1, "a bool");
            byte b = data[pos];
            if (b == 0xc2 || b == 0xc3) { pos++; return b == 0xc3; }
            throw Mismatch("a bool");
        }

        /// <summary>Reads an integer of any width that fits a long.</summary>
        /// <exception cref="MsgPackException">Not an integer, a uint64 above long.MaxValue, or truncated.</exception>
        public long ReadInt64()
        {
            int at = pos;
            object v = ReadIntegerBoxed();
            if (v is ulong) throw new MsgPackException("integer " + v + " does not fit a signed 64-bit value", at);
            return (long)v;
        }

        /// <summary>Reads a non-negative integer of any width.</summary>
        /// <exception cref="MsgPackException">Not an integer, negative, or truncated.</exception>
        public ulong ReadUInt64()
        {
            int at = pos;
            object v = ReadIntegerBoxed();
            if (v is ulong) return (ulong)v;
            long l = (long)v;
            if (l < 0) throw new MsgPackException("expected a non-negative integer, got " + l, at);
            return (ulong)l;
        }

        /// <summary>Reads a float32 or float64 (an integer is accepted and converted).</summary>
        /// <exception cref="MsgPackException">Not a number, or truncated.</exception>
        public double ReadDouble()
        {
            MsgPackType t = PeekType();
            if (t == MsgPackType.Integer)
            {
                object v = ReadIntegerBoxed();
                return v is ulong ? (double)(ulong)v : (double)(long)v;
            }
            if (t != MsgPackType.Float) throw Mismatch("a float");
            object f = ReadValue();
            return f is float ? (double)(float)f : (double)f;
        }

        /// <summary>Reads a str as a string.</summary>
        /// <exception cref="MsgPackException">Not a str, invalid UTF-8, or truncated.</exception>
        public string ReadString()
        {
            if (PeekType() != MsgPackType.String) throw Mismatch("a string");
            return (string)ReadValue();
        }

        /// <summary>Reads a bin as a new byte array.</summary>
        /// <exception cref="MsgPackException">Not a bin, or truncated.</exception>
        public byte[] ReadBinary()
        {
            if (PeekType() != MsgPackType.Binary) throw Mismatch("binary data");
            return (byte[])ReadValue();
        }

        /// <summary>Reads an array header and returns its element count; read that many values next.</summary>
        /// <exception cref="MsgPackException">Not an array, the count exceeds the remaining bytes, or truncated.</exception>
        public int ReadArrayHeader()
        {
            Need(1, "an array");
            byte b = data[pos];
            int at = pos;
            long n;
            if (b >= 0x90 && b <= 0x9f) { pos++; n = b & 0x0f; }
            else if (b == 0xdc) { pos++; n = (long)BigEndian(2, "an array16 length"); }
            else if (b == 0xdd) { pos++; n = (long)BigEndian(4, "an array32 length"); }
            else throw Mismatch("an array");
            if (n > end - pos)  // every element takes at least one byte
                throw new MsgPackException("an array claims " + n + " elements but only " + (end - pos) + " bytes remain", at);
            return (int)n;
        }

        /// <summary>Reads a map header and returns its pair count; read that many key/value pairs next.</summary>
        /// <exception cref="MsgPackException">Not a map, the count exceeds the remaining bytes, or truncated.</exception>
        public int ReadMapHeader()
        {
            Need(1, "a map");
            byte b = data[pos];
            int at = pos;
            long n;
            if (b >= 0x80 && b <= 0x8f) { pos++; n = b & 0x0f; }
            else if (b == 0xde) { pos++; n = (long)BigEndian(2, "a map16 length"); }
            else if (b == 0xdf) { pos++; n = (long)BigEndian(4, "a map32 length"); }
            else throw Mismatch("a map");
            if (n * 2 > end - pos)  // every pair takes at least two bytes
                throw new MsgPackException("a map claims " + n + " pairs but only " + (end - pos) + " bytes remain", at);
            return (int)n;
        }

        /// <summary>
        /// Reads the next value as an object: null, bool, long (ulong for uint64 above long.MaxValue), float
        /// (float32), double (float64), string, byte[], <c>List&lt;object&gt;</c> or <c>Dictionary&lt;string, object&gt;</c>.
        /// </summary>
        /// <exception cref="MsgPackException">Truncated or malformed input, an ext type, a non-string map key,
        /// a duplicate map key, or nesting deeper than <see cref="MaxDepth"/>.</exception>
        public object ReadValue()
        {
            MsgPackType t = PeekType();
            int at = pos;
            byte b = data[pos];
            switch (t)
            {
                case MsgPackType.Nil: pos++; return null;
                case MsgPackType.Bool: pos++; return b == 0xc3;
                case MsgPackType.Integer: return ReadIntegerBoxed();
                case MsgPackType.Float:
                    pos++;
                    if (b == 0xca)
                        return BitConverter.ToSingle(BitConverter.GetBytes((uint)BigEndian(4, "a float32")), 0);
                    return BitConverter.Int64BitsToDouble((long)BigEndian(8, "a float64"));
                case MsgPackType.String:
                {
                    pos++;
                    int n = b <= 0xbf ? b & 0x1f : Length(b == 0xd9 ? 1 : b == 0xda ? 2 : 4, "a string");
                    Need(n, "a string of " + n + " bytes");
                    string s;
                    try { s = Utf8.GetString(data, pos, n); }
                    catch (DecoderFallbackException) { throw new MsgPackException("a string is not valid UTF-8", at); }
                    pos += n;
                    return s;
                }
                case MsgPackType.Binary:
                {
                    pos++;
                    int n = Length(b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4, "binary data");
                    Need(n, "binary data of " + n + " bytes");
                    var bytes = new byte[n];
                    Buffer.BlockCopy(data, pos, bytes, 0, n);
                    pos += n;
                    return bytes;
                }
                case MsgPackType.Array:
                {
                    int n = ReadArrayHeader();
                    Enter(at);
                    var list = new List<object>(n);
                    for (int i = 0; i < n; i++) list.Add(ReadValue());
                    depth--;
                    return list;
                }
                case MsgPackType.Map:
                {
                    int n = ReadMapHeader();
                    Enter(at);
                    var map = new Dictionary<string, object>(n);
                    for (int i = 0; i < n; i++)
                    {
                        int keyAt = pos;
                        if (PeekType() != MsgPackType.String)
                            throw new MsgPackException("a map key must be a string, found " + PeekType(), keyAt);
                        string key = (string)ReadValue();
                        if (map.ContainsKey(key)) throw new MsgPackException("the map key '" + key + "' appears twice", keyAt);
                        map[key] = ReadValue();
                    }
                    depth--;
                    return map;
                }
                default:
                    throw new MsgPackException("msgpack ext type (first byte 0x" + b.ToString("x2")
                        + ") is not supported by this codec", at);
            }
        }

        object ReadIntegerBoxed()
        {
            Need(1, "an integer");
            int at = pos;
            byte b = data[pos++];
            if (b <= 0x7f) return (long)b;
            if (b >= 0xe0) return (long)(sbyte)b;
            switch (b)
            {
                case 0xcc: return (long)BigEndian(1, "a uint8");
                case 0xcd: return (long)BigEndian(2, "a uint16");
                case 0xce: return (long)BigEndian(4, "a uint32");
                case 0xcf:
                {
                    ulong u = BigEndian(8, "a uint64");
                    if (u > long.MaxValue) return u;
                    return (long)u;
                }
                case 0xd0: return (long)(sbyte)BigEndian(1, "an int8");
                case 0xd1: return (long)(short)BigEndian(2, "an int16");
                case 0xd2: return (long)(int)BigEndian(4, "an int32");
                case 0xd3: return (long)BigEndian(8, "an int64");
            }
            pos = at;
            throw Mismatch("an integer");
        }

        int Length(int width, string what)
        {
            ulong n = BigEndian(width, "the length of " + what);
            if (n > (ulong)(end - pos))
                throw new MsgPackException(what + " claims " + n + " bytes but only " + (end - pos) + " remain", pos - width - 1);
            return (int)n;
        }

        ulong BigEndian(int n, string what)
        {
            Need(n, what);
            ulong v = 0;
            for (int i = 0; i < n; i++) v = (v << 8) | data[pos + i];
            pos += n;
            return v;
        }

        void Need(int n, string what)
        {
            if (n > end - pos)
                throw new MsgPackException("msgpack input ends early: " + what + " needs " + n + " bytes at offset "
                    + pos + " but only " + (end - pos) + " remain", pos);
        }

        void Enter(int at)
        {
            if (++depth > MaxDepth)
                throw new MsgPackException("msgpack nesting is deeper than " + MaxDepth + " levels", at);
        }

        MsgPackException Mismatch(string expected)
        {
            return new MsgPackException("expected " + expected + " but found type byte 0x" + data[pos].ToString("x2"), pos);
        }
    }
}

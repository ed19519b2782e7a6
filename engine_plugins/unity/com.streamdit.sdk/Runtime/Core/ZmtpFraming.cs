using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace StreamDiT.Core
{
    /// <summary>
    /// One ZMTP frame as decoded from the wire: a message part or a command. Immutable after construction;
    /// <see cref="Body"/> is owned by the frame and must not be changed by the receiver if the frame is shared.
    /// </summary>
    internal sealed class ZmtpFrame
    {
        /// <summary>The frame body (without flags and size); never null, may be empty.</summary>
        public byte[] Body { get; private set; }

        /// <summary>True when another frame of the same message follows (flag bit 0). Always false for commands.</summary>
        public bool More { get; private set; }

        /// <summary>True for a command frame (flag bit 2), false for a message part.</summary>
        public bool IsCommand { get; private set; }

        /// <summary>Creates a frame.</summary>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="more"/> and <paramref name="isCommand"/> are both true.</exception>
        public ZmtpFrame(byte[] body, bool more, bool isCommand)
        {
            if (body == null) throw new ArgumentNullException("body");
            if (more && isCommand) throw new ArgumentException("a ZMTP command frame cannot have the MORE flag");
            Body = body;
            More = more;
            IsCommand = isCommand;
        }
    }

    /// <summary>The fields of a peer's 64-octet ZMTP greeting. Immutable.</summary>
    internal sealed class ZmtpGreeting
    {
        /// <summary>Major protocol version (3 for ZMTP 3.x).</summary>
        public int VersionMajor { get; private set; }
        /// <summary>Minor protocol version (1 for ZMTP 3.1; libzmq 4.1 sends 3.0).</summary>
        public int VersionMinor { get; private set; }
        /// <summary>Security mechanism name without its null padding, e.g. "NULL".</summary>
        public string Mechanism { get; private set; }
        /// <summary>The as-server field; has no meaning for the NULL mechanism.</summary>
        public bool AsServer { get; private set; }

        /// <summary>Creates a greeting record.</summary>
        public ZmtpGreeting(int versionMajor, int versionMinor, string mechanism, bool asServer)
        {
            VersionMajor = versionMajor;
            VersionMinor = versionMinor;
            Mechanism = mechanism ?? "";
            AsServer = asServer;
        }
    }

    /// <summary>
    /// Pure ZMTP 3.1 encoding and parsing (RFC 37), with no socket: the greeting, frame headers, commands
    /// and the NULL mechanism's READY metadata. All members are stateless and thread-safe. Sizes are in
    /// bytes; multi-byte integers on the wire are big-endian (network order).
    /// </summary>
    internal static class ZmtpFraming
    {
        /// <summary>Length of a ZMTP 3.x greeting in bytes.</summary>
        public const int GreetingLength = 64;
        /// <summary>Flag bit 0: more frames of this message follow.</summary>
        public const byte FlagMore = 0x01;
        /// <summary>Flag bit 1: the size field is 8 bytes (big-endian) instead of 1.</summary>
        public const byte FlagLong = 0x02;
        /// <summary>Flag bit 2: the frame is a command.</summary>
        public const byte FlagCommand = 0x04;
        /// <summary>Largest body that fits a short frame's one-byte size field.</summary>
        public const int MaxShortBody = 255;
        /// <summary>The only security mechanism this implementation speaks.</summary>
        public const string NullMechanism = "NULL";

        static readonly Encoding Ascii = Encoding.ASCII;

        /// <summary>
        /// Our full greeting: signature (0xFF, 8 zero bytes of padding, 0x7F), version 3.1, mechanism "NULL"
        /// null-padded to 20 bytes, as-server 0, 31 zero bytes of filler. Returns a new 64-byte array.
        /// </summary>
        public static byte[] EncodeGreeting()
        {
            var g = new byte[GreetingLength];
            g[0] = 0xFF;
            g[9] = 0x7F;
            g[10] = 3;
            g[11] = 1;
            byte[] mech = Ascii.GetBytes(NullMechanism);
            Buffer.BlockCopy(mech, 0, g, 12, mech.Length);
            g[32] = 0; // as-server: MUST be zero for NULL
            return g;
        }

        /// <summary>
        /// Writes a frame header (flags and short or long size) for a body of <paramref name="bodyLength"/>
        /// bytes into <paramref name="dest"/> at <paramref name="offset"/>; a short size is used up to 255 bytes,
        /// as the RFC recommends. Returns the header length: 2 (short) or 9 (long).
        /// </summary>
        /// <exception cref="ArgumentException">The header does not fit, the length is negative, or MORE is set on a command.</exception>
        public static int EncodeFrameHeader(byte[] dest, int offset, long bodyLength, bool more, bool command)
        {
            if (dest == null) throw new ArgumentNullException("dest");
            if (bodyLength < 0) throw new ArgumentException("bodyLength must be >= 0", "bodyLength");
            if (more && command) throw new ArgumentException("a ZMTP command frame cannot have the MORE flag");
            bool isLong = bodyLength > MaxShortBody;
            int headerLength = isLong ? 9 : 2;
            if (offset < 0 || offset > dest.Length - headerLength)
                throw new ArgumentException("need " + headerLength + " bytes at offset " + offset, "offset");
            byte flags = (byte)((more ? FlagMore : 0) | (isLong ? FlagLong : 0) | (command ? FlagCommand : 0));
            dest[offset] = flags;
            if (isLong) WriteUInt64BE(dest, offset + 1, (ulong)bodyLength);
            else dest[offset + 1] = (byte)bodyLength;
            return headerLength;
        }

        /// <summary>Returns a complete frame (header and a copy of <paramref name="body"/>).</summary>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
        /// <exception cref="ArgumentException">MORE is set on a command.</exception>
        public static byte[] EncodeFrame(byte[] body, bool more, bool command)
        {
            if (body == null) throw new ArgumentNullException("body");
            var header = new byte[9];
            int h = EncodeFrameHeader(header, 0, body.Length, more, command);
            var frame = new byte[h + body.Length];
            Buffer.BlockCopy(header, 0, frame, 0, h);
            Buffer.BlockCopy(body, 0, frame, h, body.Length);
            return frame;
        }

        /// <summary>
        /// Returns all frames of a multipart message back to back: MORE on every part but the last.
        /// </summary>
        /// <exception cref="ArgumentException"><paramref name="parts"/> is null, empty or holds a null part.</exception>
        public static byte[] EncodeMessage(byte[][] parts)
        {
            CheckParts(parts);
            var ms = new MemoryStream();
            for (int i = 0; i < parts.Length; i++)
            {
                byte[] f = EncodeFrame(parts[i], i < parts.Length - 1, false);
                ms.Write(f, 0, f.Length);
            }
            return ms.ToArray();
        }

        /// <summary>
        /// Returns a complete command frame: a one-byte name length, the ASCII name, then <paramref name="data"/>.
        /// </summary>
        /// <exception cref="ArgumentException">The name is empty, longer than 255 characters or not letters only.</exception>
        public static byte[] EncodeCommand(string name, byte[] data)
        {
            if (string.IsNullOrEmpty(name) || name.Length > 255)
                throw new ArgumentException("a ZMTP command name has 1 to 255 letters", "name");
            foreach (char c in name)
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
                    throw new ArgumentException("a ZMTP command name has letters only: " + name, "name");
            data = data ?? new byte[0];
            var body = new byte[1 + name.Length + data.Length];
            body[0] = (byte)name.Length;
            Ascii.GetBytes(name, 0, name.Length, body, 1);
            Buffer.BlockCopy(data, 0, body, 1 + name.Length, data.Length);
            return EncodeFrame(body, false, true);
        }

        /// <summary>
        /// Returns the NULL mechanism's READY command frame with the property Socket-Type =
        /// <paramref name="socketType"/> (e.g. "DEALER").
        /// </summary>
        public static byte[] EncodeReady(string socketType)
        {
            var props = new Dictionary<string, byte[]>();
            props["Socket-Type"] = Ascii.GetBytes(socketType);
            return EncodeCommand("READY", EncodeMetadata(props));
        }

        /// <summary>
        /// Encodes metadata properties: each a one-byte name length, the name, a 4-byte big-endian value
        /// length and the value.
        /// </summary>
        /// <exception cref="ArgumentException">A name is empty, longer than 255 bytes, or not ASCII.</exception>
        public static byte[] EncodeMetadata(IDictionary<string, byte[]> properties)
        {
            var ms = new MemoryStream();
            foreach (var kv in properties)
            {
                if (string.IsNullOrEmpty(kv.Key) || kv.Key.Length > 255)
                    throw new ArgumentException("a ZMTP property name has 1 to 255 characters");
                byte[] name = Ascii.GetBytes(kv.Key);
                byte[] value = kv.Value ?? new byte[0];
                ms.WriteByte((byte)name.Length);
                ms.Write(name, 0, name.Length);
                var len = new byte[4];
                WriteUInt32BE(len, 0, (uint)value.Length);
                ms.Write(len, 0, 4);
                ms.Write(value, 0, value.Length);
            }
            return ms.ToArray();
        }

        /// <summary>
        /// Splits a command frame's body into its name and data. Returns false, with a reason in
        /// <paramref name="error"/>, when the body is empty or the name length runs past the body.
        /// Never throws for malformed input.
        /// </summary>
        public static bool TryParseCommand(byte[] body, out string name, out byte[] data, out string error)
        {
            name = null;
            data = null;
            error = null;
            if (body == null || body.Length < 2 || body[0] == 0 || body[0] > body.Length - 1)
            {
                error = "a command frame must hold a 1-byte name length and a name of 1 to 255 letters";
                return false;
            }
            int n = body[0];
            for (int i = 1; i <= n; i++)
            {
                byte c = body[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
                {
                    error = "a command name must be letters only";
                    return false;
                }
            }
            name = Ascii.GetString(body, 1, n);
            data = new byte[body.Length - 1 - n];
            Buffer.BlockCopy(body, 1 + n, data, 0, data.Length);
            return true;
        }

        /// <summary>
        /// Parses READY metadata into a dictionary keyed case-insensitively (names are not case-significant
        /// per RFC 37). Returns false, with a reason in <paramref name="error"/>, on a zero-length name or a
        /// length that runs past the data. Never throws for malformed input.
        /// </summary>
        public static bool TryParseMetadata(byte[] data, out Dictionary<string, byte[]> properties, out string error)
        {
            properties = new Dictionary<string, byte[]>(StringComparer.OrdinalIgnoreCase);
            error = null;
            if (data == null) data = new byte[0];
            int p = 0;
            while (p < data.Length)
            {
                int nameLength = data[p++];
                if (nameLength == 0 || nameLength > data.Length - p)
                {
                    error = "a metadata property name must have 1 to 255 bytes inside the command";
                    return false;
                }
                string name = Ascii.GetString(data, p, nameLength);
                p += nameLength;
                if (data.Length - p < 4)
                {
                    error = "metadata property '" + name + "' is missing its 4-byte value length";
                    return false;
                }
                uint valueLength = ReadUInt32BE(data, p);
                p += 4;
                if (valueLength > (uint)(data.Length - p))
                {
                    error = "metadata property '" + name + "' claims " + valueLength + " bytes but only "
                        + (data.Length - p) + " remain in the command";
                    return false;
                }
                var value = new byte[valueLength];
                Buffer.BlockCopy(data, p, value, 0, (int)valueLength);
                p += (int)valueLength;
                properties[name] = value;
            }
            return true;
        }

        /// <summary>True when a DEALER may talk to a peer of this socket type (ROUTER, DEALER or REP; RFC 37 table).</summary>
        public static bool IsCompatibleWithDealer(string peerSocketType)
        {
            return peerSocketType == "ROUTER" || peerSocketType == "DEALER" || peerSocketType == "REP";
        }

        internal static void CheckParts(byte[][] parts)
        {
            if (parts == null || parts.Length == 0)
                throw new ArgumentException("a message needs at least one part", "parts");
            for (int i = 0; i < parts.Length; i++)
                if (parts[i] == null)
                    throw new ArgumentException("message part " + i + " is null; use an empty array for an empty part", "parts");
        }

        internal static void WriteUInt64BE(byte[] b, int o, ulong v)
        {
            for (int i = 7; i >= 0; i--) { b[o + i] = (byte)v; v >>= 8; }
        }

        internal static void WriteUInt32BE(byte[] b, int o, uint v)
        {
            b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
        }

        internal static uint ReadUInt32BE(byte[] b, int o)
        {
            return ((uint)b[o] << 24) | ((uint)b[o + 1] << 16) | ((uint)b[o + 2] << 8) | b[o + 3];
        }
    }
}

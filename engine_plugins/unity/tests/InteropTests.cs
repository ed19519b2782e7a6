// Interop tests against a real libzmq ROUTER run by tests/test_unity_core.py. The values below are mirrored
// there (ALL_TYPES, PYTHON_MAP): change both together.
//   interop: every message is [tag, ...]; the server echoes it, and for tag "maps" appends a Python-encoded map.
//   limits:  tag "oversize" makes the server reply with a 100000-byte part; tag "bye" makes it close its socket.
using System;
using System.Collections.Generic;
using System.Text;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    static class InteropTests
    {
        const int Timeout = 15000;

        static byte[] Ascii(string s) { return Encoding.ASCII.GetBytes(s); }

        /// <summary>Every msgpack type at its boundaries; the Python side compares the decoded value.</summary>
        static Dictionary<string, object> AllTypes(bool withFloat32)
        {
            var d = new Dictionary<string, object>
            {
                { "nil", null }, { "t", true }, { "f", false },
                { "fixint", 127 }, { "u8", 255 }, { "u16", 65535 }, { "u32", uint.MaxValue }, { "u64", ulong.MaxValue },
                { "negfix", -32 }, { "i8", -128 }, { "i16", -32768 }, { "i32", int.MinValue }, { "i64", long.MinValue },
            };
            if (withFloat32) d["f32"] = 1.5f;
            d["f64"] = 0.1;
            d["str"] = "héllo ✓ \U0001F3AE";
            d["str8"] = new string('a', 200);
            d["str16"] = new string('b', 300);
            d["bin8"] = Check.Pattern(200, 0);
            d["bin16"] = Check.Pattern(300, 0);
            d["arr"] = new List<object> { 1, "two", new List<object> { 3.25, null } };
            d["map"] = new Dictionary<string, object> { { "k", "v" }, { "n", new Dictionary<string, object> { { "deep", true } } } };
            return d;
        }

        static ZmtpClient ConnectReady(string host, int port, ZmtpClientOptions options)
        {
            var c = new ZmtpClient(host, port, options);
            c.Connect();
            Check.True(Check.WaitFor(() => c.State != ZmtpClientState.Connecting, Timeout), "handshake finished");
            Check.Equal(ZmtpClientState.Ready, c.State, "state (" + (c.Error != null ? c.Error.Message : "") + ")");
            Check.Equal("ROUTER", c.PeerSocketType, "libzmq peer announces ROUTER");
            return c;
        }

        static byte[][] Receive(ZmtpClient c, string what)
        {
            byte[][] parts = null;
            bool ok = Check.WaitFor(() => c.TryReceive(out parts), Timeout);
            Check.True(ok, what + " arrived (state " + c.State + (c.Error != null ? ": " + c.Error.Message : "") + ")");
            return parts;
        }

        static void SameParts(byte[][] sent, byte[][] got, int extra, string what)
        {
            Check.Equal(sent.Length + extra, got.Length, what + " part count");
            for (int i = 0; i < sent.Length; i++) Check.Bytes(sent[i], got[i], what + " part " + i);
        }

        public static void RegisterEcho(TestRunner r, string host, int port)
        {
            ZmtpClient client = null;
            r.Add("interop: DEALER handshake with libzmq ROUTER", () => client = ConnectReady(host, port, null));
            r.Add("interop: 1 KB part + msgpack maps echo; Python map decodes", () =>
            {
                byte[][] sent = { Ascii("maps"), Check.Pattern(1024, 0), MsgPack.Serialize(AllTypes(true)), MsgPack.Serialize(AllTypes(false)) };
                client.Send(sent);
                byte[][] got = Receive(client, "maps echo");
                SameParts(sent, got, 1, "maps");
                CheckPythonMap(MsgPack.DeserializeMap(got[sent.Length]));
            });
            r.Add("interop: 1 MiB part (long frames both ways)", () =>
            {
                byte[][] sent = { Ascii("big"), Check.Pattern(1 << 20, 7) };
                client.Send(sent);
                SameParts(sent, Receive(client, "big echo"), 0, "big");
            });
            r.Add("interop: empty part inside a multipart message", () =>
            {
                byte[][] sent = { Ascii("empty"), new byte[0], Ascii("x") };
                client.Send(sent);
                SameParts(sent, Receive(client, "empty echo"), 0, "empty");
            });
            r.Add("interop: 200 messages keep their order", () =>
            {
                for (int i = 0; i < 200; i++) client.Send(new[] { Ascii("seq"), MsgPack.Serialize(i) });
                for (int i = 0; i < 200; i++)
                {
                    byte[][] got = Receive(client, "seq " + i);
                    Check.Equal((long)i, MsgPack.Deserialize(got[1]), "sequence number");
                }
            });
            r.Add("interop: Close", () =>
            {
                client.Close();
                Check.Equal(ZmtpClientState.Closed, client.State, "closed");
            });
        }

        static void CheckPythonMap(Dictionary<string, object> m)
        {
            Check.Equal("python", m["from"], "from");
            Check.Equal(ulong.MaxValue, m["u64"], "u64");
            Check.Equal(long.MinValue, m["i64"], "i64");
            Check.Equal(-33L, m["neg"], "neg");
            Check.Equal(0.1, m["f64"], "f64");
            Check.Equal("héllo ✓", m["s"], "s");
            Check.Bytes(new byte[] { 0x00, 0xff }, (byte[])m["b"], "b");
            var list = (List<object>)m["list"];
            Check.Equal(5, list.Count, "list count");
            Check.Equal(1L, list[0], "list[0]");
            Check.Equal(null, list[1], "list[1]");
            Check.Equal(true, list[2], "list[2]");
            Check.Equal(false, list[3], "list[3]");
            Check.Equal("x", list[4], "list[4]");
            var nested = (Dictionary<string, object>)((Dictionary<string, object>)m["nested"])["a"];
            Check.Equal(1.5, ((List<object>)nested["b"])[0], "nested.a.b[0]");
            Check.Equal(new string('x', 300), m["big_str"], "big_str");
            Check.Bytes(new byte[70000], (byte[])m["big_bin"], "big_bin");
            Check.Equal(11, m.Count, "key count");
        }

        public static void RegisterLimits(TestRunner r, string host, int port)
        {
            r.Add("limits: oversized reply from libzmq faults with MessageTooLarge", () =>
            {
                ZmtpClient c = ConnectReady(host, port, new ZmtpClientOptions { MaxMessageSize = 65536 });
                c.Send(new[] { Ascii("oversize") });
                Check.True(Check.WaitFor(() => c.State == ZmtpClientState.Faulted, Timeout), "faulted");
                Check.Equal(ZmtpErrorKind.MessageTooLarge, c.Error.Kind, "kind (" + c.Error.Message + ")");
                Check.True(c.Error.Message.Contains("65536"), c.Error.Message);
                c.Close();
            });
            r.Add("limits: libzmq closing its socket is PeerClosed", () =>
            {
                ZmtpClient c = ConnectReady(host, port, null);
                c.Send(new[] { Ascii("bye") });
                Check.True(Check.WaitFor(() => c.State == ZmtpClientState.Faulted, Timeout), "faulted");
                Check.Equal(ZmtpErrorKind.PeerClosed, c.Error.Kind, "kind (" + c.Error.Message + ")");
                c.Close();
            });
        }
    }
}

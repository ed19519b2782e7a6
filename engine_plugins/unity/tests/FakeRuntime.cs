// A scripted stand-in for `streamdit serve` over loopback TCP: it speaks ZMTP as a ROUTER and exchanges msgpack
// maps, so session tests can take paths a real runtime will not (other versions, malformed messages, drops).
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    /// <summary>One accepted connection of a <see cref="FakeRuntime"/>, seen from the runtime's side.</summary>
    sealed class FakeConnection
    {
        readonly NetworkStream stream;
        readonly TcpClient client;
        readonly ZmtpDecoder decoder = new ZmtpDecoder(1 << 20, false);
        readonly List<string> commands = new List<string>();

        public FakeConnection(TcpClient client)
        {
            this.client = client;
            stream = client.GetStream();
            FakePeer.RouterHandshake(stream, "ROUTER");
        }

        /// <summary>Credits the client returned so far (credit messages skipped by <see cref="ReadType"/> count too).</summary>
        public long CreditsReturned;

        /// <summary>The next client message's map; credit messages are counted and returned like the others.</summary>
        public Dictionary<string, object> Read()
        {
            byte[][] parts = FakePeer.ReadMessages(stream, decoder, 1, commands)[0];
            Dictionary<string, object> map = MsgPack.DeserializeMap(parts[0]);
            if ((string)map["type"] == "credit") CreditsReturned += (long)map["n"];
            return map;
        }

        /// <summary>Reads until a message of <paramref name="type"/> arrives (counting credits on the way).</summary>
        public Dictionary<string, object> ReadType(string type)
        {
            while (true)
            {
                Dictionary<string, object> map = Read();
                if ((string)map["type"] == type) return map;
            }
        }

        /// <summary>Reads messages until the client returned <paramref name="credits"/> credits in all.</summary>
        public void ReadCredits(long credits)
        {
            while (CreditsReturned < credits) Read();
        }

        public void Send(Dictionary<string, object> map, byte[] pixels = null)
        {
            byte[] head = MsgPack.Serialize(map);
            SendRaw(pixels == null ? new[] { head } : new[] { head, pixels });
        }

        public void SendRaw(params byte[][] parts)
        {
            FakePeer.Write(stream, ZmtpFraming.EncodeMessage(parts));
        }

        /// <summary>Answers the client's close with closed{client_close}.</summary>
        public void AnswerClose()
        {
            ReadType("close");
            Send(Map("type", "closed", "code", "client_close", "reason", "closed by the client"));
        }

        /// <summary>Drops the TCP connection, as a crashed network would.</summary>
        public void Drop()
        {
            client.Close();
        }

        public static Dictionary<string, object> Map(params object[] keyValues)
        {
            var m = new Dictionary<string, object>();
            for (int i = 0; i < keyValues.Length; i += 2) m[(string)keyValues[i]] = keyValues[i + 1];
            return m;
        }

        public static Dictionary<string, object> Reply(string version = "1.0", string token = "tok-1", bool resumed = false,
            long nextFrame = 0)
        {
            return Map("type", "handshake_reply", "session_id", "s-1", "resume_token", token, "protocol_version", version,
                "model", "fake", "fps", 16.0, "frames_per_chunk", 2, "width", 2, "height", 2, "pixel_format", "rgb8",
                "credits", 4, "resumed", resumed, "next_frame_index", nextFrame,
                "limits", Map("max_message_bytes", 1 << 20, "max_events_per_second", 20.0, "max_prompt_chars", 400,
                    "max_sessions", 8, "max_credits", 64));
        }

        /// <summary>A 2x2 frame whose pixel bytes are index*16 + 0..11.</summary>
        public void SendFrame(long index, long eventId = 0)
        {
            var pixels = new byte[12];
            for (int i = 0; i < 12; i++) pixels[i] = (byte)(index * 16 + i);
            Send(Map("type", "frame", "frame_index", index, "chunk_index", index / 2, "pts_us", index * 62500,
                "event_id", eventId, "width", 2, "height", 2, "pixel_format", "rgb8"), pixels);
        }
    }

    /// <summary>Accepts one connection per script, in order, on 127.0.0.1, and runs each script on its own thread.</summary>
    sealed class FakeRuntime : IDisposable
    {
        readonly TcpListener listener;
        readonly Thread thread;
        readonly List<TcpClient> accepted = new List<TcpClient>();
        Exception failure;

        public FakeRuntime(params Action<FakeConnection>[] scripts)
        {
            listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            thread = new Thread(() =>
            {
                try
                {
                    foreach (Action<FakeConnection> script in scripts)
                    {
                        TcpClient c = listener.AcceptTcpClient();
                        lock (accepted) accepted.Add(c);
                        script(new FakeConnection(c));
                    }
                }
                catch (Exception e) { failure = e; }
            }) { IsBackground = true };
            thread.Start();
        }

        public int Port { get; private set; }

        /// <summary>Waits for every script to end and rethrows what one threw.</summary>
        public void Finish(int timeoutMs)
        {
            if (!thread.Join(timeoutMs)) throw new TestFailure("fake runtime scripts did not finish within " + timeoutMs + " ms");
            if (failure != null) throw new TestFailure("fake runtime: " + failure.Message);
        }

        public void Dispose()
        {
            listener.Stop();
            lock (accepted) foreach (TcpClient c in accepted) c.Close();
        }
    }
}

// Unit tests of ZmtpFraming and ZmtpDecoder: pure bytes, no socket.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    static class ZmtpFramingTests
    {
        public static void Register(TestRunner r)
        {
            r.Add("framing: greeting is 64 bytes, signature, 3.1, NULL, as-server 0", Greeting);
            r.Add("framing: short header up to 255 bytes, long big-endian header from 256", Headers);
            r.Add("framing: READY command carries Socket-Type=DEALER", ReadyBytes);
            r.Add("framing: command and metadata parse, names case-insensitive", CommandParse);
            r.Add("framing: malformed commands and metadata are errors, not exceptions", CommandMalformed);
            r.Add("decoder: multipart round trip (0, 1, 255, 256, 70000 bytes) in every split", MultipartRoundTrip);
            r.Add("decoder: greeting then frames in one feed", GreetingThenFrames);
            r.Add("decoder: long size field with a small body is accepted", LongHeaderSmallBody);
            r.Add("decoder: truncated input asks for more, never hangs", Truncated);
            r.Add("decoder: non-ZMTP peer fails on its first bytes", BadGreeting);
            r.Add("decoder: ZMTP 2 peer is an unsupported version", OldVersion);
            r.Add("decoder: CURVE peer is an unsupported mechanism", Curve);
            r.Add("decoder: reserved flag bits, MORE on a command, command inside a message", BadFlags);
            r.Add("decoder: long size with the top bit set is malformed", TopBitSize);
            r.Add("decoder: lying size fails before allocation; limit counts the whole message", Oversize);
            r.Add("decoder: results before a fault still come out, input after it is ignored", ErrorIsSticky);
        }

        static byte[] GreetingFrom(byte major, byte minor, string mechanism)
        {
            byte[] g = ZmtpFraming.EncodeGreeting();
            g[10] = major;
            g[11] = minor;
            for (int i = 12; i < 32; i++) g[i] = 0;
            Encoding.ASCII.GetBytes(mechanism, 0, mechanism.Length, g, 12);
            return g;
        }

        static List<ZmtpFrame> Drain(ZmtpDecoder d, out ZmtpDecodeStatus last)
        {
            var frames = new List<ZmtpFrame>();
            ZmtpFrame f;
            while ((last = d.Next(out f)) == ZmtpDecodeStatus.Frame || last == ZmtpDecodeStatus.Greeting)
                if (f != null) frames.Add(f);
            return frames;
        }

        static void Greeting()
        {
            byte[] g = ZmtpFraming.EncodeGreeting();
            var expected = new byte[64];
            expected[0] = 0xFF; expected[9] = 0x7F; expected[10] = 3; expected[11] = 1;
            expected[12] = (byte)'N'; expected[13] = (byte)'U'; expected[14] = (byte)'L'; expected[15] = (byte)'L';
            Check.Bytes(expected, g, "greeting");
            var d = new ZmtpDecoder(1000, true);
            d.Feed(g, 0, g.Length);
            ZmtpFrame f;
            Check.Equal(ZmtpDecodeStatus.Greeting, d.Next(out f), "status");
            Check.Equal(3, d.PeerGreeting.VersionMajor, "major");
            Check.Equal(1, d.PeerGreeting.VersionMinor, "minor");
            Check.Equal("NULL", d.PeerGreeting.Mechanism, "mechanism");
            Check.Equal(false, d.PeerGreeting.AsServer, "as-server");
            Check.Equal(ZmtpDecodeStatus.NeedMoreData, d.Next(out f), "then nothing");
        }

        static void Headers()
        {
            Check.Bytes(new byte[] { 0x00, 0x00 }, ZmtpFraming.EncodeFrame(new byte[0], false, false), "empty last frame");
            Check.Bytes(new byte[] { 0x01, 0x01, 0xAB }, ZmtpFraming.EncodeFrame(new byte[] { 0xAB }, true, false), "one byte, MORE");
            byte[] f255 = ZmtpFraming.EncodeFrame(new byte[255], false, false);
            Check.Equal(257, f255.Length, "255-byte frame length");
            Check.Bytes(new byte[] { 0x00, 0xFF }, new[] { f255[0], f255[1] }, "255 is still short");
            byte[] f256 = ZmtpFraming.EncodeFrame(new byte[256], true, false);
            Check.Equal(265, f256.Length, "256-byte frame length");
            Check.Bytes(new byte[] { 0x03, 0, 0, 0, 0, 0, 0, 0x01, 0x00 }, Head(f256, 9), "256 is long, big-endian");
            var header = new byte[9];
            int n = ZmtpFraming.EncodeFrameHeader(header, 0, 0x0102030405L, false, false);
            Check.Equal(9, n, "long header length");
            Check.Bytes(new byte[] { 0x02, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05 }, header, "5 GB size field");
            n = ZmtpFraming.EncodeFrameHeader(header, 0, 4, false, true);
            Check.Bytes(new byte[] { 0x04, 0x04 }, Head(header, n), "short command");
            Check.Throws<ArgumentException>(() => ZmtpFraming.EncodeFrame(new byte[1], true, true), "MORE on a command");
            Check.Throws<ArgumentException>(() => ZmtpFraming.EncodeMessage(new byte[0][]), "empty message");
            Check.Throws<ArgumentException>(() => ZmtpFraming.EncodeMessage(new byte[][] { null }), "null part");
        }

        static void ReadyBytes()
        {
            var expected = new List<byte> { 0x04, 28, 5 };
            expected.AddRange(Encoding.ASCII.GetBytes("READY"));
            expected.Add(11);
            expected.AddRange(Encoding.ASCII.GetBytes("Socket-Type"));
            expected.AddRange(new byte[] { 0, 0, 0, 6 });
            expected.AddRange(Encoding.ASCII.GetBytes("DEALER"));
            Check.Bytes(expected.ToArray(), ZmtpFraming.EncodeReady("DEALER"), "READY frame");
        }

        static void CommandParse()
        {
            byte[] frame = ZmtpFraming.EncodeReady("ROUTER");
            byte[] body = new byte[frame.Length - 2];
            Array.Copy(frame, 2, body, 0, body.Length);
            string name, error;
            byte[] data;
            Check.True(ZmtpFraming.TryParseCommand(body, out name, out data, out error), "parse READY: " + error);
            Check.Equal("READY", name, "name");
            Dictionary<string, byte[]> props;
            Check.True(ZmtpFraming.TryParseMetadata(data, out props, out error), "metadata: " + error);
            Check.Equal("ROUTER", Encoding.ASCII.GetString(props["socket-type"]), "lower-case lookup");
            Check.True(ZmtpFraming.IsCompatibleWithDealer("ROUTER") && !ZmtpFraming.IsCompatibleWithDealer("PUB"), "compat table");
            var two = new Dictionary<string, byte[]> { { "Identity", new byte[0] }, { "X-Big", new byte[300] } };
            Check.True(ZmtpFraming.TryParseMetadata(ZmtpFraming.EncodeMetadata(two), out props, out error), "two properties");
            Check.Equal(0, props["IDENTITY"].Length, "empty value allowed");
            Check.Equal(300, props["x-big"].Length, "300-byte value");
        }

        static void CommandMalformed()
        {
            string name, error;
            byte[] data;
            Check.True(!ZmtpFraming.TryParseCommand(new byte[0], out name, out data, out error), "empty body");
            Check.True(!ZmtpFraming.TryParseCommand(new byte[] { 9, (byte)'P' }, out name, out data, out error), "name past end");
            Check.True(!ZmtpFraming.TryParseCommand(new byte[] { 1, (byte)'1' }, out name, out data, out error), "digit name");
            Dictionary<string, byte[]> props;
            Check.True(!ZmtpFraming.TryParseMetadata(new byte[] { 0 }, out props, out error), "zero-length name");
            Check.True(!ZmtpFraming.TryParseMetadata(new byte[] { 1, (byte)'A', 0, 0 }, out props, out error), "short value size");
            Check.True(!ZmtpFraming.TryParseMetadata(new byte[] { 1, (byte)'A', 0x7F, 0xFF, 0xFF, 0xFF, 1 }, out props, out error),
                "value length past the end");
            Check.True(error.Contains("2147483647"), "message gives the claimed length: " + error);
        }

        static byte[][] SampleParts()
        {
            return new[] { new byte[0], Check.Pattern(1, 1), Check.Pattern(255, 2), Check.Pattern(256, 3), Check.Pattern(70000, 4) };
        }

        static void MultipartRoundTrip()
        {
            byte[][] parts = SampleParts();
            byte[] wire = ZmtpFraming.EncodeMessage(parts);
            foreach (int chunk in new[] { 1, 2, 7, 255, 256, 257, 4096, wire.Length })
            {
                var d = new ZmtpDecoder(1 << 20, false);
                var frames = new List<ZmtpFrame>();
                ZmtpDecodeStatus last = ZmtpDecodeStatus.NeedMoreData;
                for (int off = 0; off < wire.Length; off += chunk)
                {
                    d.Feed(wire, off, Math.Min(chunk, wire.Length - off));
                    frames.AddRange(Drain(d, out last));
                }
                Check.Equal(ZmtpDecodeStatus.NeedMoreData, last, "chunk " + chunk + " final status");
                Check.Equal(parts.Length, frames.Count, "chunk " + chunk + " frame count");
                for (int i = 0; i < parts.Length; i++)
                {
                    Check.Bytes(parts[i], frames[i].Body, "chunk " + chunk + " part " + i);
                    Check.Equal(i < parts.Length - 1, frames[i].More, "MORE of part " + i);
                    Check.Equal(false, frames[i].IsCommand, "not a command");
                }
            }
        }

        static void GreetingThenFrames()
        {
            var ms = new MemoryStream();
            ms.Write(ZmtpFraming.EncodeGreeting(), 0, 64);
            byte[] ready = ZmtpFraming.EncodeReady("ROUTER");
            ms.Write(ready, 0, ready.Length);
            byte[] msg = ZmtpFraming.EncodeMessage(new[] { Check.Pattern(3, 0) });
            ms.Write(msg, 0, msg.Length);
            byte[] all = ms.ToArray();
            var d = new ZmtpDecoder(1000, true);
            d.Feed(all, 0, all.Length);
            ZmtpFrame f;
            Check.Equal(ZmtpDecodeStatus.Greeting, d.Next(out f), "greeting first");
            Check.Equal(ZmtpDecodeStatus.Frame, d.Next(out f), "READY next");
            Check.True(f.IsCommand && !f.More, "READY is a command");
            Check.Equal(ZmtpDecodeStatus.Frame, d.Next(out f), "message");
            Check.Bytes(Check.Pattern(3, 0), f.Body, "message body");
        }

        static void LongHeaderSmallBody()
        {
            var d = new ZmtpDecoder(1000, false);
            byte[] wire = { 0x02, 0, 0, 0, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0x00, 0x00 };
            d.Feed(wire, 0, wire.Length);
            ZmtpDecodeStatus last;
            List<ZmtpFrame> frames = Drain(d, out last);
            Check.Equal(2, frames.Count, "two frames");
            Check.Bytes(new byte[] { 0xAA, 0xBB }, frames[0].Body, "long-encoded small body");
            Check.Equal(0, frames[1].Body.Length, "empty frame");
        }

        static void Truncated()
        {
            byte[] wire = ZmtpFraming.EncodeMessage(SampleParts());
            var rnd = new Random(1);
            for (int trial = 0; trial < 200; trial++)
            {
                int cut = trial < 20 ? trial : rnd.Next(wire.Length);
                var d = new ZmtpDecoder(1 << 20, false);
                d.Feed(wire, 0, cut);
                ZmtpDecodeStatus last;
                Drain(d, out last);
                Check.Equal(ZmtpDecodeStatus.NeedMoreData, last, "prefix of " + cut + " bytes");
            }
            var g = new ZmtpDecoder(1000, true);
            g.Feed(ZmtpFraming.EncodeGreeting(), 0, 63);
            ZmtpFrame f;
            Check.Equal(ZmtpDecodeStatus.NeedMoreData, g.Next(out f), "63 greeting bytes");
        }

        static ZmtpError FeedExpectError(ZmtpDecoder d, byte[] bytes)
        {
            d.Feed(bytes, 0, bytes.Length);
            ZmtpDecodeStatus last;
            Drain(d, out last);
            Check.Equal(ZmtpDecodeStatus.Error, last, "status");
            Check.True(d.Error != null && d.Error.Message.Length > 20, "error has a message");
            return d.Error;
        }

        static void BadGreeting()
        {
            byte[] http = Encoding.ASCII.GetBytes("HTTP");
            ZmtpError e = FeedExpectError(new ZmtpDecoder(1000, true), http);
            Check.Equal(ZmtpErrorKind.BadGreeting, e.Kind, "kind");
            Check.True(e.Message.Contains("48 54 54 50"), "message shows the bytes: " + e.Message);
            byte[] noTail = ZmtpFraming.EncodeGreeting();
            noTail[9] = 0x01;
            Check.Equal(ZmtpErrorKind.BadGreeting, FeedExpectError(new ZmtpDecoder(1000, true), Head(noTail, 10)).Kind, "byte 9");
        }

        static void OldVersion()
        {
            ZmtpError e = FeedExpectError(new ZmtpDecoder(1000, true), Head(GreetingFrom(2, 0, "NULL"), 11));
            Check.Equal(ZmtpErrorKind.UnsupportedVersion, e.Kind, "kind");
            var d = new ZmtpDecoder(1000, true);  // 3.0 and 4.x are accepted (RFC 37: accept higher versions)
            d.Feed(GreetingFrom(4, 7, "NULL"), 0, 64);
            ZmtpFrame f;
            Check.Equal(ZmtpDecodeStatus.Greeting, d.Next(out f), "version 4.7 accepted");
        }

        static void Curve()
        {
            ZmtpError e = FeedExpectError(new ZmtpDecoder(1000, true), GreetingFrom(3, 1, "CURVE"));
            Check.Equal(ZmtpErrorKind.UnsupportedMechanism, e.Kind, "kind");
            Check.True(e.Message.Contains("CURVE"), "message names the mechanism: " + e.Message);
            byte[] g = GreetingFrom(3, 1, "NULL");
            g[20] = (byte)'X';  // "NULL" followed by junk is not NULL
            Check.Equal(ZmtpErrorKind.UnsupportedMechanism, FeedExpectError(new ZmtpDecoder(1000, true), g).Kind, "NULL+junk");
        }

        static void BadFlags()
        {
            Check.Equal(ZmtpErrorKind.MalformedFrame, FeedExpectError(new ZmtpDecoder(1000, false), new byte[] { 0x08, 0 }).Kind, "bit 3");
            Check.Equal(ZmtpErrorKind.MalformedFrame, FeedExpectError(new ZmtpDecoder(1000, false), new byte[] { 0x05, 0 }).Kind, "command+MORE");
            Check.Equal(ZmtpErrorKind.MalformedFrame,
                FeedExpectError(new ZmtpDecoder(1000, false), new byte[] { 0x01, 0, 0x04, 0 }).Kind, "command mid-message");
        }

        static void TopBitSize()
        {
            byte[] wire = { 0x02, 0x80, 0, 0, 0, 0, 0, 0, 1 };
            Check.Equal(ZmtpErrorKind.MalformedFrame, FeedExpectError(new ZmtpDecoder(1000, false), wire).Kind, "kind");
        }

        static void Oversize()
        {
            // A 1 TB size field with no body: must fail at once (no allocation, no waiting for the body).
            byte[] lie = { 0x02, 0, 0, 0x01, 0, 0, 0, 0, 0 };
            ZmtpError e = FeedExpectError(new ZmtpDecoder(1 << 20, false), lie);
            Check.Equal(ZmtpErrorKind.MessageTooLarge, e.Kind, "kind");
            Check.True(e.Message.Contains("1048576"), "message names the limit: " + e.Message);
            // Parts of 600 + 600 bytes each fit 1000, the message does not.
            byte[] two = ZmtpFraming.EncodeMessage(new[] { new byte[600], new byte[600] });
            Check.Equal(ZmtpErrorKind.MessageTooLarge, FeedExpectError(new ZmtpDecoder(1000, false), two).Kind, "sum of parts");
            // Two separate 600-byte messages are fine.
            var d = new ZmtpDecoder(1000, false);
            byte[] one = ZmtpFraming.EncodeMessage(new[] { new byte[600] });
            d.Feed(one, 0, one.Length);
            d.Feed(one, 0, one.Length);
            ZmtpDecodeStatus last;
            Check.Equal(2, Drain(d, out last).Count, "two messages under the limit");
            Check.Equal(ZmtpDecodeStatus.NeedMoreData, last, "no error");
        }

        static void ErrorIsSticky()
        {
            var d = new ZmtpDecoder(1000, false);
            byte[] good = ZmtpFraming.EncodeMessage(new[] { new byte[] { 7 } });
            var wire = new List<byte>(good);
            wire.Add(0xF0);
            wire.AddRange(good);
            d.Feed(wire.ToArray(), 0, wire.Count);
            d.Feed(good, 0, good.Length);
            ZmtpFrame f;
            Check.Equal(ZmtpDecodeStatus.Frame, d.Next(out f), "frame before the fault");
            Check.Equal(ZmtpDecodeStatus.Error, d.Next(out f), "then the fault");
            Check.Equal(ZmtpDecodeStatus.Error, d.Next(out f), "and it stays");
            Check.Throws<ArgumentException>(() => d.Feed(good, 1, good.Length), "bad range is a caller bug");
        }

        static byte[] Head(byte[] b, int n)
        {
            var r = new byte[n];
            Array.Copy(b, r, n);
            return r;
        }
    }
}

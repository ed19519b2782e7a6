using System;
using System.Collections.Generic;
using System.Text;

namespace StreamDiT.Core
{
    /// <summary>What <see cref="ZmtpDecoder.Next"/> produced.</summary>
    internal enum ZmtpDecodeStatus
    {
        /// <summary>Nothing complete yet: feed more bytes.</summary>
        NeedMoreData,
        /// <summary>The peer's 64-byte greeting was complete and valid; see <see cref="ZmtpDecoder.PeerGreeting"/>.</summary>
        Greeting,
        /// <summary>One complete frame (message part or command) is in the out parameter.</summary>
        Frame,
        /// <summary>The input is invalid; see <see cref="ZmtpDecoder.Error"/>. The decoder stays in this state.</summary>
        Error,
    }

    /// <summary>
    /// Incremental ZMTP 3.x decoder (RFC 37): feed it bytes as they arrive in any split, and take out the
    /// greeting and then frames, in order. Malformed input never throws: it turns the decoder into the
    /// <see cref="ZmtpDecodeStatus.Error"/> state (results decoded before the fault are still returned first).
    /// Truncated input never blocks: <see cref="Next"/> returns <see cref="ZmtpDecodeStatus.NeedMoreData"/>.
    /// A frame body is allocated only after its size passed the <c>maxMessageSize</c> check, so a lying size
    /// field costs at most <c>maxMessageSize</c> bytes. Not thread-safe: use one decoder from one thread.
    /// </summary>
    internal sealed class ZmtpDecoder
    {
        enum State { Greeting, Flags, Size, Body, Failed }

        struct Item
        {
            public ZmtpDecodeStatus Status;
            public ZmtpFrame Frame;
        }

        readonly int maxMessageSize;
        readonly Queue<Item> ready = new Queue<Item>();
        readonly byte[] greeting = new byte[ZmtpFraming.GreetingLength];
        readonly byte[] sizeField = new byte[8];
        State state;
        int greetingFill;
        byte flags;
        int sizeNeed;
        int sizeFill;
        byte[] body;
        int bodyFill;
        long messageBytes; // body bytes of the current multipart message so far, this frame excluded
        bool inMessage;    // the previous message frame had MORE set

        /// <summary>
        /// Creates a decoder. <paramref name="maxMessageSize"/> (bytes, &gt; 0) bounds the sum of the bodies of
        /// one multipart message and the body of any single command. With <paramref name="expectGreeting"/>
        /// the first 64 bytes must be a ZMTP 3.x greeting with the NULL mechanism.
        /// </summary>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxMessageSize"/> is not positive.</exception>
        public ZmtpDecoder(int maxMessageSize, bool expectGreeting)
        {
            if (maxMessageSize <= 0) throw new ArgumentOutOfRangeException("maxMessageSize", "must be > 0 bytes");
            this.maxMessageSize = maxMessageSize;
            state = expectGreeting ? State.Greeting : State.Flags;
        }

        /// <summary>The peer's greeting once <see cref="ZmtpDecodeStatus.Greeting"/> was produced; null before.</summary>
        public ZmtpGreeting PeerGreeting { get; private set; }

        /// <summary>The fault once the decoder failed (kind BadGreeting, UnsupportedVersion, UnsupportedMechanism,
        /// MalformedFrame or MessageTooLarge); null while the input is valid.</summary>
        public ZmtpError Error { get; private set; }

        /// <summary>
        /// Consumes <paramref name="count"/> bytes of <paramref name="data"/> from <paramref name="offset"/>.
        /// Bytes after a fault are ignored.
        /// </summary>
        /// <exception cref="ArgumentException">The range lies outside <paramref name="data"/> (a caller bug, not bad input).</exception>
        public void Feed(byte[] data, int offset, int count)
        {
            if (data == null) throw new ArgumentNullException("data");
            if (offset < 0 || count < 0 || offset > data.Length - count)
                throw new ArgumentException("offset " + offset + " and count " + count + " lie outside an array of " + data.Length);
            while (count > 0 && state != State.Failed)
            {
                int used;
                switch (state)
                {
                    case State.Greeting: used = FeedGreeting(data, offset, count); break;
                    case State.Flags: used = 1; FeedFlags(data[offset]); break;
                    case State.Size: used = FeedSize(data, offset, count); break;
                    default: used = FeedBody(data, offset, count); break;
                }
                offset += used;
                count -= used;
            }
        }

        /// <summary>
        /// Takes the next result. Returns <see cref="ZmtpDecodeStatus.Frame"/> with <paramref name="frame"/> set,
        /// or another status with <paramref name="frame"/> null. Never blocks, never throws.
        /// </summary>
        public ZmtpDecodeStatus Next(out ZmtpFrame frame)
        {
            if (ready.Count > 0)
            {
                Item item = ready.Dequeue();
                frame = item.Frame;
                return item.Status;
            }
            frame = null;
            return state == State.Failed ? ZmtpDecodeStatus.Error : ZmtpDecodeStatus.NeedMoreData;
        }

        int FeedGreeting(byte[] data, int offset, int count)
        {
            int n = Math.Min(count, greeting.Length - greetingFill);
            Buffer.BlockCopy(data, offset, greeting, greetingFill, n);
            greetingFill += n;
            // Check the signature as soon as its bytes are in, so a non-ZMTP peer fails at once instead of
            // waiting for 64 bytes that may never come.
            if (greeting[0] != 0xFF || (greetingFill >= 10 && greeting[9] != 0x7F))
            {
                Fail(ZmtpErrorKind.BadGreeting, "the first bytes received (" + Hex(greeting, Math.Min(greetingFill, 12))
                    + ") are not a ZMTP greeting, which starts with FF and has 7F at byte 9: check that the port is "
                    + "the StreamDiT runtime's ZeroMQ port and not its gRPC or HTTP port");
                return n;
            }
            if (greetingFill >= 11 && greeting[10] < 3)
            {
                Fail(ZmtpErrorKind.UnsupportedVersion, "the peer speaks ZMTP " + greeting[10] + ".x but this client needs "
                    + "ZMTP 3.0 or later (libzmq 4.x): upgrade the runtime's pyzmq/libzmq");
                return n;
            }
            if (greetingFill < greeting.Length) return n;

            int mechLength = 0;
            while (mechLength < 20 && greeting[12 + mechLength] != 0) mechLength++;
            string mechanism = Encoding.ASCII.GetString(greeting, 12, mechLength);
            bool paddedWithZeros = true;
            for (int i = 12 + mechLength; i < 32; i++) if (greeting[i] != 0) paddedWithZeros = false;
            if (mechanism != ZmtpFraming.NullMechanism || !paddedWithZeros)
            {
                Fail(ZmtpErrorKind.UnsupportedMechanism, "the peer uses the security mechanism '" + mechanism
                    + "' but this client speaks only NULL: run the runtime's ZeroMQ endpoint without CURVE or PLAIN "
                    + "security (it binds to 127.0.0.1 by default for that reason)");
                return n;
            }
            PeerGreeting = new ZmtpGreeting(greeting[10], greeting[11], mechanism, greeting[32] != 0);
            ready.Enqueue(new Item { Status = ZmtpDecodeStatus.Greeting });
            state = State.Flags;
            return n;
        }

        void FeedFlags(byte b)
        {
            if ((b & 0xF8) != 0)
            {
                Fail(ZmtpErrorKind.MalformedFrame, "a frame has reserved flag bits set (flags 0x" + b.ToString("X2")
                    + "); the stream is corrupt or not ZMTP 3.x");
                return;
            }
            bool command = (b & ZmtpFraming.FlagCommand) != 0;
            if (command && (b & ZmtpFraming.FlagMore) != 0)
            {
                Fail(ZmtpErrorKind.MalformedFrame, "a command frame has the MORE flag set, which ZMTP forbids");
                return;
            }
            if (command && inMessage)
            {
                Fail(ZmtpErrorKind.MalformedFrame, "a command frame arrived in the middle of a multipart message");
                return;
            }
            flags = b;
            sizeNeed = (b & ZmtpFraming.FlagLong) != 0 ? 8 : 1;
            sizeFill = 0;
            state = State.Size;
        }

        int FeedSize(byte[] data, int offset, int count)
        {
            int n = Math.Min(count, sizeNeed - sizeFill);
            Buffer.BlockCopy(data, offset, sizeField, sizeFill, n);
            sizeFill += n;
            if (sizeFill < sizeNeed) return n;

            ulong size = 0;
            for (int i = 0; i < sizeNeed; i++) size = (size << 8) | sizeField[i];
            if (size > long.MaxValue)
            {
                Fail(ZmtpErrorKind.MalformedFrame, "a long frame's size has its top bit set (" + size
                    + "); ZMTP allows at most 2^63-1");
                return n;
            }
            bool command = (flags & ZmtpFraming.FlagCommand) != 0;
            long total = command ? (long)size : messageBytes + (long)size;
            if (total > maxMessageSize)
            {
                Fail(ZmtpErrorKind.MessageTooLarge, "the peer sent a " + (command ? "command" : "message") + " of at least "
                    + total + " bytes, more than the maximum message size of " + maxMessageSize
                    + " bytes: raise ZmtpClientOptions.MaxMessageSize or have the runtime send smaller messages");
                return n;
            }
            body = new byte[size];
            bodyFill = 0;
            if (size == 0) EmitFrame();
            else state = State.Body;
            return n;
        }

        int FeedBody(byte[] data, int offset, int count)
        {
            int n = Math.Min(count, body.Length - bodyFill);
            Buffer.BlockCopy(data, offset, body, bodyFill, n);
            bodyFill += n;
            if (bodyFill == body.Length) EmitFrame();
            return n;
        }

        void EmitFrame()
        {
            bool command = (flags & ZmtpFraming.FlagCommand) != 0;
            bool more = (flags & ZmtpFraming.FlagMore) != 0;
            if (!command)
            {
                messageBytes = more ? messageBytes + body.Length : 0;
                inMessage = more;
            }
            ready.Enqueue(new Item { Status = ZmtpDecodeStatus.Frame, Frame = new ZmtpFrame(body, more, command) });
            body = null;
            state = State.Flags;
        }

        void Fail(ZmtpErrorKind kind, string message)
        {
            Error = new ZmtpError(kind, message);
            body = null;
            state = State.Failed;
        }

        static string Hex(byte[] b, int n)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < n; i++)
            {
                if (i > 0) sb.Append(' ');
                sb.Append(b[i].ToString("X2"));
            }
            return sb.ToString();
        }
    }
}

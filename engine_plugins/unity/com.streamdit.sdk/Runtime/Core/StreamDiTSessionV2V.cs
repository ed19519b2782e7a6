using System;
using System.Collections.Generic;
using System.Threading;

namespace StreamDiT.Core
{
    // Video-to-video on StreamDiTSession (docs/protocol.md, source_frame): the game sends its own render, the runtime
    // restyles it under the session's prompt. SendFrame checks and queues on the caller's thread; the background
    // thread sends the queue after credits and changes (Flush), so the game thread never waits for the network.
    public sealed partial class StreamDiTSession
    {
        /// <summary>Source frames kept for the background thread to send; when a new one arrives and this many wait,
        /// the oldest is dropped (counted in <see cref="SourceFramesDropped"/>), its anchor and strength carried to
        /// the next one. The runtime keeps the newest frames too, so an older frame is of no use.</summary>
        public const int MaxPendingSourceFrames = 2;

        sealed class PendingSource
        {
            public long Index;
            public int Width, Height;
            public float? Strength;
            public bool Anchor;
            public byte[] Rgb;
        }

        readonly List<PendingSource> sources = new List<PendingSource>();  // oldest first; lock it
        long lastSourceIndex = -1;
        long sourceFramesSent;
        long sourceFramesDropped;

        /// <summary>Source frames handed to the transport so far (the runtime's count is <see cref="SessionStats.SourceFramesReceived"/>).</summary>
        public long SourceFramesSent { get { return Interlocked.Read(ref sourceFramesSent); } }
        /// <summary>Source frames dropped locally because <see cref="MaxPendingSourceFrames"/> newer ones waited to be sent
        /// (the runtime's own drops are <see cref="SessionStats.SourceFramesDropped"/>).</summary>
        public long SourceFramesDropped { get { return Interlocked.Read(ref sourceFramesDropped); } }

        /// <summary>
        /// Video-to-video: queues one frame of the game's own render for the runtime to restyle, and returns the frame
        /// index it was given (0, 1, 2, ... per session), which output frames that restyle it carry as
        /// <see cref="Frame.SourceIndex"/>. Returns at once: the session's background thread sends it (after the
        /// credits and changes queued before it). Send at about the model's <see cref="SessionInfo.Fps"/>; the runtime
        /// keeps the newest frames and counts the ones it drops (<see cref="SessionStats.SourceFramesDropped"/>). While
        /// the session reconnects, frames wait (the newest <see cref="MaxPendingSourceFrames"/>) for the resumed connection.
        /// </summary>
        /// <param name="rgb">width * height * 3 bytes: R, G, B per pixel, rows top to bottom (Unity's readback is bottom
        /// row first: <see cref="PixelRows.ToRgb8"/> converts an RGBA32 readback). Copied, so it may be reused at once.</param>
        /// <param name="width">Pixels; must be the stream's <see cref="SessionInfo.Width"/>.</param>
        /// <param name="height">Pixels; must be the stream's <see cref="SessionInfo.Height"/>.</param>
        /// <param name="strength">Null keeps the session's strength (<see cref="StreamDiTSessionOptions.Strength"/> until
        /// changed); else in [0, 1]: 0 = the source back through the autoencoder, 1 = text-only. From the next chunk on.</param>
        /// <param name="anchor">True restarts the stream from this frame (a session's first source frame always anchors).</param>
        /// <exception cref="ArgumentNullException"><paramref name="rgb"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="rgb"/> is not width * height * 3 bytes, the size is not
        /// the stream's, or <paramref name="strength"/> is outside [0, 1] (ArgumentOutOfRangeException).</exception>
        /// <exception cref="InvalidOperationException">The session was opened without <see cref="StreamDiTSessionOptions.V2V"/>,
        /// or the runtime has not accepted it yet (<see cref="Info"/> is null: wait for <see cref="Connected"/>).</exception>
        /// <exception cref="StreamDiTException">The runtime does not serve video-to-video (<see cref="SessionInfo.V2V"/>
        /// false), the frame is larger than its max_message_bytes, or the session is closed or failed.</exception>
        public long SendFrame(byte[] rgb, int width, int height, float? strength = null, bool anchor = false)
        {
            if (rgb == null) throw new ArgumentNullException("rgb", "rgb must hold width * height * 3 bytes of RGB, rows top to bottom");
            if (width <= 0 || height <= 0)
                throw new ArgumentException("the frame size must be positive, got " + width + "x" + height + " (width x height)", width <= 0 ? "width" : "height");
            long want = (long)width * height * 3;
            if (rgb.Length != want)
                throw new ArgumentException("rgb has " + rgb.Length + " bytes; a " + width + "x" + height + " rgb8 frame is "
                    + want + " (width * height * 3: R, G, B per pixel, rows top to bottom). Drop the alpha channel of an "
                    + "RGBA32 readback with PixelRows.ToRgb8", "rgb");
            if (strength.HasValue && !(strength.Value >= 0f && strength.Value <= 1f))
                throw new ArgumentOutOfRangeException("strength", strength.Value, "strength must be in [0, 1] (0 = keep the "
                    + "source, 1 = text-only), or null to keep the session's");
            CheckOpen("SendFrame");
            if (!options.V2V)
                throw new InvalidOperationException("SendFrame needs a video-to-video session: create it with "
                    + "StreamDiTSessionOptions.V2V = true");
            SessionInfo i = info;
            if (i == null)
                throw new InvalidOperationException("SendFrame before the runtime at " + Endpoint + " accepted the session "
                    + "(state " + state + "): the frame size is not known yet; send from the Connected event on (Info is set then)");
            if (!i.V2V)
                throw new StreamDiTException("the runtime at " + Endpoint + " does not serve video-to-video (its handshake "
                    + "reply has v2v false): serve a model whose backend can encode frames");
            if (width != i.Width || height != i.Height)
                throw new ArgumentException("the frame is " + width + "x" + height + " (width x height); this stream takes "
                    + i.Width + "x" + i.Height + " (Info.Width / Info.Height): scale the frame to that size first "
                    + "(StreamDiTFrameSender does)", width != i.Width ? "width" : "height");
            long limit = i.Limits != null ? i.Limits.MaxMessageBytes : 0;
            if (limit > 0 && want + 256 > limit)  // 256 > the msgpack head
                throw new StreamDiTException("a " + width + "x" + height + " source frame is " + want + " bytes; the runtime at "
                    + Endpoint + " accepts " + limit + " (its ServeConfig.max_message_bytes)");
            var pending = new PendingSource
            {
                Width = width, Height = height, Strength = strength, Anchor = anchor, Rgb = (byte[])rgb.Clone(),
            };
            lock (sources)
            {
                pending.Index = ++lastSourceIndex;  // under the lock, so the queue is in index order
                sources.Add(pending);
                TrimSources();
            }
            wake.Set();
            return pending.Index;
        }

        // Under the lock: drops the oldest frames beyond MaxPendingSourceFrames, carrying an anchor and a strength to
        // the next frame, as the runtime would have applied them had the dropped frame arrived.
        void TrimSources()
        {
            while (sources.Count > MaxPendingSourceFrames)
            {
                PendingSource dropped = sources[0];
                sources.RemoveAt(0);
                PendingSource next = sources[0];
                next.Anchor |= dropped.Anchor;
                if (!next.Strength.HasValue) next.Strength = dropped.Strength;
                Interlocked.Increment(ref sourceFramesDropped);
            }
        }

        /// <summary>Background thread, while streaming: hands the queued source frames to the transport in order. One
        /// that cannot be sent (the connection failed) stays queued for the resumed connection.</summary>
        void FlushSources(ITransport zc)
        {
            while (true)
            {
                PendingSource s;
                lock (sources)
                {
                    if (sources.Count == 0) return;
                    s = sources[0];
                    sources.RemoveAt(0);  // taken: SendFrame can no longer drop or change it
                }
                if (!TrySend(zc, ProtocolCodec.SourceFrame(s.Index, s.Width, s.Height, s.Strength, s.Anchor, s.Rgb)))
                {
                    lock (sources)
                    {
                        sources.Insert(0, s);
                        TrimSources();
                    }
                    return;
                }
                Interlocked.Increment(ref sourceFramesSent);
            }
        }
    }
}

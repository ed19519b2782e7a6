using System.Diagnostics;

namespace StreamDiT.Core
{
    /// <summary>
    /// One video frame from the runtime (docs/protocol.md, <c>frame</c>). Immutable once handed out; the pixel
    /// array belongs to the frame (no copy is made, so do not change it if another reader may still use it).
    /// </summary>
    public sealed class Frame
    {
        /// <summary>0, 1, 2, ... within the session; a gap means frames were dropped (runtime or local queue).</summary>
        public long FrameIndex { get; internal set; }
        /// <summary>The chunk this frame belongs to (<c>FrameIndex / FramesPerChunk</c>).</summary>
        public long ChunkIndex { get; internal set; }
        /// <summary>Presentation time, microseconds: <c>round(FrameIndex * 1e6 / fps)</c>.</summary>
        public long PtsUs { get; internal set; }
        /// <summary>The id of the event or prompt change whose prompt is in effect for this frame; 0 = none yet.
        /// Compare it with the id <see cref="StreamDiTSession.PushEvent"/> returned to measure latency.</summary>
        public long EventId { get; internal set; }
        /// <summary>Video-to-video: the index <see cref="StreamDiTSession.SendFrame"/> returned for the source frame this
        /// frame restyles; -1 = none (text-only generation, or a runtime that does not send it).</summary>
        public long SourceIndex { get; internal set; }
        /// <summary>Width, pixels.</summary>
        public int Width { get; internal set; }
        /// <summary>Height, pixels.</summary>
        public int Height { get; internal set; }
        /// <summary><c>Width * Height * 3</c> bytes of RGB (R, G, B per pixel, rows left to right).</summary>
        public byte[] Pixels { get; internal set; }
        /// <summary>Row order of <see cref="Pixels"/>: false = top row first (the wire order); true = bottom row
        /// first (Unity's texture order), when <see cref="StreamDiTSessionOptions.FlipRowsBottomUp"/> is set.</summary>
        public bool BottomUp { get; internal set; }
        /// <summary>When this client received the frame, in microseconds of <see cref="MonotonicUs"/>.</summary>
        public long ReceivedUs { get; internal set; }

        internal int Generation;

        /// <summary>A monotonic clock in microseconds (Stopwatch based), the clock of <see cref="ReceivedUs"/>.</summary>
        public static long MonotonicUs()
        {
            return (long)(Stopwatch.GetTimestamp() * (1e6 / Stopwatch.Frequency));
        }
    }

    /// <summary>The runtime's limits, from the handshake reply (docs/protocol.md, <c>handshake_reply.limits</c>).</summary>
    public sealed class SessionLimits
    {
        /// <summary>Largest client message, bytes.</summary>
        public long MaxMessageBytes { get; internal set; }
        /// <summary>Events and prompt changes per second, per session.</summary>
        public double MaxEventsPerSecond { get; internal set; }
        /// <summary>Longest prompt, characters.</summary>
        public long MaxPromptChars { get; internal set; }
        /// <summary>Sessions the runtime serves at once.</summary>
        public long MaxSessions { get; internal set; }
        /// <summary>Credits a client may hold.</summary>
        public long MaxCredits { get; internal set; }
    }

    /// <summary>What the runtime said when it accepted (or resumed) the session (docs/protocol.md, <c>handshake_reply</c>).</summary>
    public sealed class SessionInfo
    {
        /// <summary>The session's id.</summary>
        public string SessionId { get; internal set; }
        /// <summary>The secret that resumes this session after a dropped connection (used automatically).</summary>
        public string ResumeToken { get; internal set; }
        /// <summary>The runtime's protocol version, "MAJOR.MINOR".</summary>
        public string ProtocolVersion { get; internal set; }
        /// <summary>Model name.</summary>
        public string Model { get; internal set; }
        /// <summary>The model's frame rate, frames per second.</summary>
        public double Fps { get; internal set; }
        /// <summary>Video frames per chunk (events apply at chunk boundaries).</summary>
        public long FramesPerChunk { get; internal set; }
        /// <summary>Frame width, pixels.</summary>
        public int Width { get; internal set; }
        /// <summary>Frame height, pixels.</summary>
        public int Height { get; internal set; }
        /// <summary>Pixel format, "rgb8".</summary>
        public string PixelFormat { get; internal set; }
        /// <summary>Credits this client holds now (the runtime clamps the request to its maximum).</summary>
        public long Credits { get; internal set; }
        /// <summary>True when this handshake continued an earlier connection's session.</summary>
        public bool Resumed { get; internal set; }
        /// <summary>Index of the next frame the session sends (0 for a new session).</summary>
        public long NextFrameIndex { get; internal set; }
        /// <summary>True when the runtime serves video-to-video, so <see cref="StreamDiTSession.SendFrame"/> may be used
        /// (the reply's <c>v2v</c>; false from a runtime that does not send it).</summary>
        public bool V2V { get; internal set; }
        /// <summary>The runtime's limits.</summary>
        public SessionLimits Limits { get; internal set; }
    }

    /// <summary>The runtime applied an event or prompt change (docs/protocol.md, <c>event_ack</c>).</summary>
    public sealed class EventAck
    {
        /// <summary>The id that <see cref="StreamDiTSession.PushEvent"/> or <see cref="StreamDiTSession.SetPrompt"/> returned.</summary>
        public long EventId { get; internal set; }
        /// <summary>First chunk generated with it applied.</summary>
        public long ChunkIndex { get; internal set; }
        /// <summary>First frame of that chunk.</summary>
        public long FrameIndex { get; internal set; }
        /// <summary>The prompt in effect from that chunk.</summary>
        public string Prompt { get; internal set; }
        /// <summary>False while an overlay of higher priority still decides the prompt.</summary>
        public bool InEffect { get; internal set; }
        /// <summary>The client clock sent with the event (unix microseconds), echoed; 0 for prompt changes.</summary>
        public long ClientTimeUs { get; internal set; }
    }

    /// <summary>The runtime's statistics for this session, about once a second (docs/protocol.md, <c>stats</c>).</summary>
    public sealed class SessionStats
    {
        /// <summary>Frames sent to this client per second, recently.</summary>
        public double Fps { get; internal set; }
        /// <summary>Frames sent so far.</summary>
        public long FramesSent { get; internal set; }
        /// <summary>Frames the runtime dropped for lack of credit so far.</summary>
        public long FramesDropped { get; internal set; }
        /// <summary>Frames waiting for credit.</summary>
        public long QueueDepth { get; internal set; }
        /// <summary>Credits the client holds.</summary>
        public long Credits { get; internal set; }
        /// <summary>Last chunk generated for this session.</summary>
        public long ChunkIndex { get; internal set; }
        /// <summary>Duration of the last batched DiT step, milliseconds.</summary>
        public double StepMs { get; internal set; }
        /// <summary>Chunks waiting for the decoder, all sessions.</summary>
        public long DecodeQueue { get; internal set; }
        /// <summary>Active sessions on the runtime.</summary>
        public long Sessions { get; internal set; }
        /// <summary>Video-to-video: source frames the runtime accepted from this client so far.</summary>
        public long SourceFramesReceived { get; internal set; }
        /// <summary>Of those, the ones the runtime dropped because newer ones arrived before it used them.</summary>
        public long SourceFramesDropped { get; internal set; }
    }
}

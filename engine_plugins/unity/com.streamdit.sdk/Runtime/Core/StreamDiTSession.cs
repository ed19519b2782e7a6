using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace StreamDiT.Core
{
    /// <summary>Lifecycle of a <see cref="StreamDiTSession"/>; it ends in Closed or Failed and never leaves them.</summary>
    public enum StreamDiTSessionState
    {
        /// <summary>Constructed; <see cref="StreamDiTSession.Connect"/> not called yet.</summary>
        Idle,
        /// <summary>Connecting and handshaking.</summary>
        Connecting,
        /// <summary>The runtime accepted the session; frames flow.</summary>
        Streaming,
        /// <summary>The connection dropped; resuming the session with its resume token (with backoff).</summary>
        Reconnecting,
        /// <summary>Closed by <see cref="StreamDiTSession.Close"/> (or the runtime confirmed our close).</summary>
        Closed,
        /// <summary>Ended by an error; <see cref="StreamDiTSession.LastError"/> says why and what to do.</summary>
        Failed,
    }

    /// <summary>
    /// One stream from a StreamDiT runtime over ZeroMQ (docs/protocol.md), steered by game events.
    /// <code>
    /// var s = new StreamDiTSession(new StreamDiTSessionOptions { Port = 5557, Prompt = "a grassy meadow", PromptMap = map });
    /// s.Error += e => log(e);                 // raised on the session's background thread
    /// s.Connect();                            // returns at once
    /// long id = s.PushEvent("zombie_appears", null);
    /// Frame f;
    /// while (s.TryDequeueFrame(out f)) show(f.Pixels);   // each call gives the runtime a credit back
    /// s.Dispose();                            // sends close in the background
    /// </code>
    /// <para>Threading: every public member is thread-safe and returns at once; no call waits for the network.
    /// One background thread per session connects, handshakes, reads, sends and reconnects. The events are
    /// raised on that thread: keep handlers short, and marshal to the main thread to touch engine objects
    /// (StreamDiTBehaviour does). A handler that throws is reported as a <c>callback_failed</c> error.</para>
    /// <para>Errors never throw out of the background thread: a refused connection, a version mismatch, a
    /// malformed message or a runtime error is an <see cref="Error"/> event and <see cref="LastError"/>; fatal
    /// ones end the session in <see cref="StreamDiTSessionState.Failed"/>.</para>
    /// </summary>
    public sealed partial class StreamDiTSession : IDisposable
    {
        /// <summary>The protocol version this client speaks (docs/protocol.md); the runtime's major must match.</summary>
        public const string ProtocolVersion = ProtocolCodec.Version;
        /// <summary>The version of this package (com.streamdit.sdk), sent as the default client_version.</summary>
        public const string PackageVersion = "0.1.0";

        struct PendingChange
        {
            public long EventId;
            public byte[][] Parts;
        }

        readonly StreamDiTSessionOptions options;
        readonly FrameQueue frames;
        readonly AutoResetEvent wake = new AutoResetEvent(false);
        readonly ConcurrentQueue<PendingChange> outbox = new ConcurrentQueue<PendingChange>();
        readonly ConcurrentQueue<ErrorInfo> deferredErrors = new ConcurrentQueue<ErrorInfo>();
        readonly object gate = new object();
        volatile StreamDiTSessionState state = StreamDiTSessionState.Idle;
        volatile ErrorInfo lastError;
        volatile SessionInfo info;
        volatile SessionStats stats;
        volatile bool closeRequested;
        volatile string closeReason = "";
        volatile string closeCode;
        volatile string closeMessage;
        volatile bool closeConfirmed;
        long lastEventId;
        long framesReceived;
        long framesDropped;
        int reconnects;
        int outboxCount;
        int creditsOwed;
        int generation;
        Thread thread;

        /// <summary>Creates a session; nothing happens on the network until <see cref="Connect"/>.
        /// <paramref name="options"/> is copied.</summary>
        /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
        /// <exception cref="ArgumentException">A setting is missing or out of range (see <see cref="StreamDiTSessionOptions.Validate"/>).</exception>
        public StreamDiTSession(StreamDiTSessionOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            this.options = options.Clone();
            this.options.Validate();
            frames = new FrameQueue(this.options.FrameQueueCapacity > 0 ? this.options.FrameQueueCapacity : this.options.Credits);
        }

        /// <summary>"host:port" of the runtime.</summary>
        public string Endpoint { get { return options.Host + ":" + options.Port; } }
        /// <summary>The current state.</summary>
        public StreamDiTSessionState State { get { return state; } }
        /// <summary>The latest handshake reply (updated when the session resumes); null before the first.</summary>
        public SessionInfo Info { get { return info; } }
        /// <summary>The runtime's latest statistics for this session; null before the first (about 1 s in).</summary>
        public SessionStats Stats { get { return stats; } }
        /// <summary>The latest error, fatal or not; null if none yet.</summary>
        public ErrorInfo LastError { get { return lastError; } }
        /// <summary>Frames received from the runtime so far.</summary>
        public long FramesReceived { get { return Interlocked.Read(ref framesReceived); } }
        /// <summary>Frames dropped by the local queue because it was full (the runtime counts its own drops in <see cref="Stats"/>).</summary>
        public long FramesDropped { get { return Interlocked.Read(ref framesDropped); } }
        /// <summary>Frames waiting for <see cref="TryDequeueFrame"/>.</summary>
        public int PendingFrameCount { get { return frames.Count; } }
        /// <summary>How many times the session was resumed after a dropped connection.</summary>
        public int Reconnects { get { return Volatile.Read(ref reconnects); } }
        /// <summary>Once Closed or Failed: the runtime's <c>closed</c> code ("client_close", "shutdown", "replaced",
        /// "error"), or "client_close"/"error" when the session ended without one. Null before.</summary>
        public string CloseCode { get { return closeCode; } }
        /// <summary>Once Closed or Failed: the reason, human-readable. Null before.</summary>
        public string CloseReason { get { return closeMessage; } }
        /// <summary>True when the runtime answered our <c>close</c> with <c>closed</c> (a clean close).</summary>
        public bool CloseConfirmed { get { return closeConfirmed; } }

        /// <summary>Raised after each handshake reply, the first and every resume (<see cref="SessionInfo.Resumed"/>).</summary>
        public event Action<SessionInfo> Connected;
        /// <summary>Raised when the runtime applied an event or prompt change at a chunk boundary (its <c>event_ack</c>);
        /// it arrives before the first frame whose <see cref="Frame.EventId"/> is this id.</summary>
        public event Action<EventAck> EventApplied;
        /// <summary>Raised for every error, fatal or not; <see cref="LastError"/> is set first.</summary>
        public event Action<ErrorInfo> Error;
        /// <summary>Raised when <see cref="State"/> changes.</summary>
        public event Action<StreamDiTSessionState> StateChanged;
        /// <summary>Raised after a frame was queued for <see cref="TryDequeueFrame"/> (to wake a consumer; keep it short).</summary>
        public event Action FrameReceived;

        /// <summary>Starts connecting on a background thread and returns at once. Subscribe to the events first.</summary>
        /// <exception cref="InvalidOperationException">Connect was already called, or the session was closed.</exception>
        public void Connect()
        {
            lock (gate)
            {
                if (state != StreamDiTSessionState.Idle || closeRequested)
                    throw new InvalidOperationException("StreamDiTSession.Connect may be called once; create a new session to start again");
                state = StreamDiTSessionState.Connecting;
                thread = new Thread(Run) { IsBackground = true, Name = "StreamDiT session " + Endpoint };
            }
            thread.Start();
        }

        /// <summary>
        /// Queues a game event and returns its event id (> 0, increasing; shared with <see cref="SetPrompt"/>).
        /// It is sent at once when streaming, or after the handshake (or resume) otherwise. The outcome comes
        /// later: <see cref="EventApplied"/> with this id, or an <see cref="Error"/> whose EventId is this id
        /// (unknown_event, invalid_argument, rate_limited, ...). The prompt map needs an [events.TYPE] rule.
        /// </summary>
        /// <param name="type">The event type, e.g. "zombie_appears".</param>
        /// <param name="payload">Values for the rule's template: string, bool, integer or float; null = none. Copied.</param>
        /// <exception cref="ArgumentException"><paramref name="type"/> is empty, or a payload value has another type.</exception>
        /// <exception cref="StreamDiTException">The session is closed or failed; create a new one.</exception>
        public long PushEvent(string type, IDictionary<string, object> payload)
        {
            if (string.IsNullOrEmpty(type)) throw new ArgumentException("the event type must be a non-empty string such as \"zombie_appears\"", "type");
            Dictionary<string, object> copy = ProtocolCodec.CheckPayload(payload);
            CheckOpen("PushEvent");
            long id = Interlocked.Increment(ref lastEventId);
            long nowUs = (DateTime.UtcNow.Ticks - UnixEpochTicks) / 10;
            return Enqueue(id, ProtocolCodec.Event(id, type, copy, nowUs));
        }

        /// <summary>
        /// Queues a change of the base prompt and returns its event id (shared counter with <see cref="PushEvent"/>).
        /// It applies at the next chunk boundary (or blends over <paramref name="transitionSteps"/> chunks);
        /// <see cref="EventApplied"/> reports it.
        /// </summary>
        /// <param name="text">The new base prompt.</param>
        /// <param name="weight">In (0, 1]: the new embedding is (1 - weight) * current + weight * text.</param>
        /// <param name="transitionSteps">Chunks over which the embedding moves there; 0 = from the next chunk.</param>
        /// <exception cref="ArgumentException">The text is empty, weight is outside (0, 1], or transitionSteps is negative.</exception>
        /// <exception cref="StreamDiTException">The session is closed or failed; create a new one.</exception>
        public long SetPrompt(string text, double weight = 1.0, int transitionSteps = 0)
        {
            if (string.IsNullOrEmpty(text)) throw new ArgumentException("the prompt text must not be empty", "text");
            if (!(weight > 0.0 && weight <= 1.0)) throw new ArgumentOutOfRangeException("weight", weight, "weight must be in (0, 1]");
            if (transitionSteps < 0) throw new ArgumentOutOfRangeException("transitionSteps", transitionSteps, "transitionSteps must be >= 0 chunks");
            CheckOpen("SetPrompt");
            long id = Interlocked.Increment(ref lastEventId);
            return Enqueue(id, ProtocolCodec.SetPrompt(id, text, weight, transitionSteps));
        }

        /// <summary>
        /// Takes the oldest queued frame, if any; false (and null) when none is waiting. Never blocks. Each frame
        /// taken gives the runtime one credit back, so it may send the next one: a game that stops calling this
        /// stops receiving (the runtime drops the frames it cannot send, latest win). To show only the newest
        /// frame, take frames until this returns false and keep the last.
        /// </summary>
        public bool TryDequeueFrame(out Frame frame)
        {
            if (!frames.TryTake(out frame)) return false;
            if (frame.Generation == Volatile.Read(ref generation))
            {
                Interlocked.Increment(ref creditsOwed);
                wake.Set();
            }
            return true;
        }

        /// <summary>
        /// Ends the session: the background thread sends <c>close</c>, waits up to
        /// <see cref="StreamDiTSessionOptions.CloseTimeoutMilliseconds"/> for the runtime's <c>closed</c> (then
        /// <see cref="CloseConfirmed"/> is true), and ends in <see cref="StreamDiTSessionState.Closed"/>. Returns at
        /// once; idempotent; never throws. Frames already queued can still be taken.
        /// </summary>
        /// <param name="reason">Free text for the runtime's log.</param>
        public void Close(string reason = "")
        {
            bool neverStarted;
            lock (gate)
            {
                if (closeRequested) return;
                closeRequested = true;
                closeReason = reason ?? "";
                neverStarted = state == StreamDiTSessionState.Idle;
            }
            if (neverStarted) Finish("client_close", "closed before Connect", false);
            wake.Set();
        }

        /// <summary>Same as <see cref="Close"/> with no reason.</summary>
        public void Dispose()
        {
            Close("");
        }

        static readonly long UnixEpochTicks = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

        void CheckOpen(string what)
        {
            StreamDiTSessionState s = state;
            if (closeRequested || s == StreamDiTSessionState.Closed || s == StreamDiTSessionState.Failed)
            {
                ErrorInfo e = lastError;
                throw new StreamDiTException(what + " on a session that is " + (s == StreamDiTSessionState.Failed ? "failed"
                    : "closed") + (s == StreamDiTSessionState.Failed && e != null ? " (" + e.Message + ")" : "")
                    + ": create a new StreamDiTSession");
            }
        }

        long Enqueue(long id, byte[][] parts)
        {
            if (Interlocked.Increment(ref outboxCount) > options.MaxPendingChanges)
            {
                Interlocked.Decrement(ref outboxCount);
                deferredErrors.Enqueue(new ErrorInfo(ErrorCodes.QueueFull, options.MaxPendingChanges
                    + " events and prompt changes are already waiting for the connection to " + Endpoint + " (state "
                    + state + "); event " + id + " was dropped. Push less often while the session is not streaming, or "
                    + "raise StreamDiTSessionOptions.MaxPendingChanges", id, false, false));
            }
            else
            {
                outbox.Enqueue(new PendingChange { EventId = id, Parts = parts });
            }
            wake.Set();
            return id;
        }
    }
}

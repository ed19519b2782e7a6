using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using StreamDiT.Core;
using UnityEngine;

namespace StreamDiT.Unity
{
    /// <summary>
    /// Shows a StreamDiT stream in a <see cref="Texture2D"/> (RGB24) and steers it with game events.
    /// <para>Threading: the <see cref="StreamDiTSession"/> runs on its own background thread; this component
    /// marshals everything it reports to the main thread and uploads frames in <c>Update</c> (LoadRawTextureData,
    /// then Apply). Its C# events are raised on the main thread, from Update. Nothing here blocks the frame, and
    /// nothing throws: failures are reported through <see cref="ErrorOccurred"/> and <see cref="LastError"/>.</para>
    /// <para>Row order: Unity textures are bottom row first and the wire sends the top row first, so the session
    /// flips each frame's rows on its background thread (<see cref="StreamDiTSessionOptions.FlipRowsBottomUp"/>).
    /// The texture is therefore upright with the default uvRect (0, 0, 1, 1) of a RawImage or a material; do not
    /// flip it again.</para>
    /// <para>Fallback: when the runtime cannot be reached or goes away, the game runs on; the texture keeps its
    /// last frame and a new session is tried every <c>retrySeconds</c>.</para>
    /// </summary>
    [AddComponentMenu("StreamDiT/StreamDiT Stream")]
    [DisallowMultipleComponent]
    public sealed class StreamDiTBehaviour : MonoBehaviour
    {
        [Header("Runtime")]
        [Tooltip("Host name or IP address of the StreamDiT runtime (streamdit serve). 127.0.0.1 = this machine.")]
        [SerializeField] string host = "127.0.0.1";
        [Tooltip("The runtime's ZeroMQ port: streamdit serve --zmq-port (default 5557). Not the gRPC port.")]
        [SerializeField] int port = 5557;
        [Tooltip("The runtime's --auth-token, when it was started with one (required off loopback). Empty otherwise.")]
        [SerializeField] string token = "";

        [Header("Stream")]
        [Tooltip("Base prompt of the stream. Empty = the prompt map's 'base'. Change it live with SetPrompt.")]
        [SerializeField] string prompt = "the player stands on the grass";
        [Tooltip("Prompt map (TOML, docs/protocol.md section 6): one [events.TYPE] rule per event type this game pushes. Events without a rule are refused with unknown_event. Empty = the runtime's default map (the checkpoint's).")]
        [TextArea(3, 12)]
        [SerializeField] string promptMap = "";
        [Tooltip("Noise seed of the stream; -1 = random.")]
        [SerializeField] long seed = -1;
        [Tooltip("The served model to stream from, when the runtime serves several (streamdit serve --model NAME=DIR; ListModels gives the names). Empty = the runtime's default model. Takes effect at the next Connect.")]
        [SerializeField] string model = "";
        [Tooltip("Frames in flight (1-64). More smooths network jitter; fewer lowers latency.")]
        [Range(1, 64)]
        [SerializeField] int credits = 4;
        [Tooltip("Video-to-video: ask the runtime to restyle the game's own render (send it with a StreamDiTFrameSender). Takes effect at the next Connect.")]
        [SerializeField] bool videoToVideo = false;
        [Tooltip("Video-to-video strength in [0, 1]: how much the model may change the game's render (0 = the render back through the autoencoder, 1 = text-only). Sent in the handshake; a StreamDiTFrameSender can change it live.")]
        [Range(0f, 1f)]
        [SerializeField] float strength = 0.5f;

        [Header("Behaviour")]
        [Tooltip("Connect in Start (and again whenever the component is re-enabled). Off: call Connect() yourself.")]
        [SerializeField] bool connectOnStart = true;
        [Tooltip("When the runtime cannot be reached or goes away, try a new session after this many seconds (0 = never). The game keeps running meanwhile.")]
        [SerializeField] float retrySeconds = 3f;
        [Tooltip("Optional: a Renderer (e.g. a Quad) whose material shows the stream as its main texture.")]
        [SerializeField] Renderer targetRenderer;
        [Tooltip("Texture filtering of the stream texture.")]
        [SerializeField] FilterMode filterMode = FilterMode.Bilinear;
        [Tooltip("Also log each error to the Console as a warning.")]
        [SerializeField] bool logErrors = true;

        readonly ConcurrentQueue<Action> mainThread = new ConcurrentQueue<Action>();
        StreamDiTSession session;
        Texture2D texture;
        ErrorInfo lastError;
        float retryAt = -1f;
        bool started;

        /// <summary>The stream texture (RGB24, upright); null until the first handshake. Recreated if the frame size changes.</summary>
        public Texture2D Texture { get { return texture; } }
        /// <summary>The current session, or null when disconnected. Its events run on a background thread: prefer this component's.</summary>
        public StreamDiTSession Session { get { return session; } }
        /// <summary>The latest error (fatal or not); null if none yet. Never thrown.</summary>
        public ErrorInfo LastError { get { return lastError; } }
        /// <summary>True while the runtime streams to this component.</summary>
        public bool IsStreaming { get { return session != null && session.State == StreamDiTSessionState.Streaming; } }
        /// <summary>The frame shown in <see cref="Texture"/> now; null before the first.</summary>
        public Frame CurrentFrame { get; private set; }

        /// <summary>Host of the runtime; takes effect at the next Connect.</summary>
        public string Host { get { return host; } set { host = value; } }
        /// <summary>ZeroMQ port of the runtime; takes effect at the next Connect.</summary>
        public int Port { get { return port; } set { port = value; } }
        /// <summary>Auth token; takes effect at the next Connect.</summary>
        public string Token { get { return token; } set { token = value; } }
        /// <summary>Base prompt sent in the handshake; takes effect at the next Connect (use SetPrompt to change it live).</summary>
        public string Prompt { get { return prompt; } set { prompt = value; } }
        /// <summary>Prompt map TOML sent in the handshake; takes effect at the next Connect.</summary>
        public string PromptMap { get { return promptMap; } set { promptMap = value; } }
        /// <summary>The served model to stream from (<see cref="StreamDiTSessionOptions.Model"/>, the handshake's
        /// settings.model); "" = the runtime's default model. Takes effect at the next Connect.</summary>
        public string Model { get { return model; } set { model = value; } }
        /// <summary>Ask for video-to-video (<see cref="StreamDiTSessionOptions.V2V"/>); takes effect at the next Connect.</summary>
        public bool VideoToVideo { get { return videoToVideo; } set { videoToVideo = value; } }
        /// <summary>The initial video-to-video strength in [0, 1] (<see cref="StreamDiTSessionOptions.Strength"/>); takes effect at the next Connect.</summary>
        public float Strength { get { return strength; } set { strength = value; } }

        /// <summary>Main thread: the runtime accepted (or resumed) the session.</summary>
        public event Action<SessionInfo> Connected;
        /// <summary>Main thread: a new frame is in <see cref="Texture"/> (the argument); assign it to a RawImage or material when it changed.</summary>
        public event Action<Texture2D> TextureUpdated;
        /// <summary>Main thread: the runtime applied an event or prompt change (id and prompt in the ack).</summary>
        public event Action<EventAck> EventApplied;
        /// <summary>Main thread: an error (refused connection, version mismatch, runtime error, bad input, ...).</summary>
        public event Action<ErrorInfo> ErrorOccurred;
        /// <summary>Main thread: the game called PushEvent (raised whether or not the event could be sent); a
        /// <see cref="StreamDiTRecorder"/> whose session this is records it.</summary>
        public event Action<string, IDictionary<string, object>> EventPushed;

        /// <summary>Starts a session with the current settings (ending any previous one). Returns at once.</summary>
        public void Connect()
        {
            Disconnect();
            retryAt = -1f;
            StreamDiTSession s;
            try
            {
                s = new StreamDiTSession(new StreamDiTSessionOptions
                {
                    Host = host, Port = port, AuthToken = token ?? "", Prompt = prompt ?? "", PromptMap = promptMap ?? "",
                    Model = model ?? "",
                    Seed = seed >= 0 ? (long?)seed : null, Credits = credits, FlipRowsBottomUp = true,
                    V2V = videoToVideo, Strength = strength,
                    ClientName = "unity-sdk", ClientVersion = StreamDiTSession.PackageVersion,
                });
            }
            catch (ArgumentException e)
            {
                Report(new ErrorInfo(ErrorCodes.InvalidArgument, "StreamDiTBehaviour on '" + name
                    + "' has an invalid setting: " + e.Message, 0, true, false));
                return;
            }
            s.Connected += info => Post(s, () => OnConnected(info));
            s.EventApplied += ack => Post(s, () => Raise(EventApplied, ack));
            s.Error += err => Post(s, () => Report(err));
            session = s;
            s.Connect();
        }

        /// <summary>Ends the session (the runtime is told in the background). The texture keeps its last frame.</summary>
        public void Disconnect()
        {
            StreamDiTSession s = session;
            session = null;
            if (s != null) s.Dispose();
        }

        /// <summary>
        /// Pushes a game event, e.g. PushEvent("zombie_appears"). Returns its event id (frames show it in
        /// Frame.EventId once applied), or 0 when it could not be sent: then <see cref="LastError"/> says why.
        /// </summary>
        /// <param name="type">An event type with a rule in the prompt map.</param>
        /// <param name="payload">Values for the rule's template (string, bool, integer or float); null = none.</param>
        public long PushEvent(string type, IDictionary<string, object> payload = null)
        {
            Action<string, IDictionary<string, object>> pushed = EventPushed;
            if (pushed != null)
            {
                try { pushed(type, payload); }
                catch (Exception e) { Report(new ErrorInfo(ErrorCodes.CallbackFailed, "An EventPushed handler threw " + e.GetType().Name + ": " + e.Message, 0, false, false)); }
            }
            StreamDiTSession s = Usable("PushEvent");
            if (s == null) return 0;
            try
            {
                return s.PushEvent(type, payload);
            }
            catch (Exception e)  // ArgumentException for bad input; StreamDiTException if it just ended
            {
                Report(new ErrorInfo(ErrorCodes.InvalidArgument, "PushEvent(\"" + type + "\") was not sent: " + e.Message, 0, false, false));
                return 0;
            }
        }

        /// <summary>Changes the base prompt live (at the next chunk, or over transitionSteps chunks). Returns the
        /// event id, or 0 when it could not be sent (see <see cref="LastError"/>).</summary>
        public long SetPrompt(string text, float weight = 1f, int transitionSteps = 0)
        {
            StreamDiTSession s = Usable("SetPrompt");
            if (s == null) return 0;
            try
            {
                return s.SetPrompt(text, weight, transitionSteps);
            }
            catch (Exception e)
            {
                Report(new ErrorInfo(ErrorCodes.InvalidArgument, "SetPrompt was not sent: " + e.Message, 0, false, false));
                return 0;
            }
        }

        void Start()
        {
            started = true;
            if (connectOnStart) Connect();
        }

        void OnEnable()
        {
            if (started && connectOnStart) Connect();  // the first connect waits for Start, after every Awake
        }

        void OnDisable()
        {
            Disconnect();
        }

        void OnDestroy()
        {
            Disconnect();
            if (texture != null) Destroy(texture);
            texture = null;
        }

        void Update()
        {
            Action work;
            while (mainThread.TryDequeue(out work))
            {
                try { work(); }
                catch (Exception e) { Report(new ErrorInfo(ErrorCodes.CallbackFailed, "StreamDiTBehaviour.Update: " + e, 0, false, false)); }
            }
            StreamDiTSession s = session;
            if (s == null) return;
            Frame newest = null, f;
            while (s.TryDequeueFrame(out f)) newest = f;  // show only the latest; every frame taken returns a credit
            if (newest != null) Show(newest);
            if (s.State == StreamDiTSessionState.Failed) ScheduleRetry(s);
        }

        void Show(Frame frame)
        {
            try
            {
                EnsureTexture(frame.Width, frame.Height);
                texture.LoadRawTextureData(frame.Pixels);  // RGB24, bottom row first (flipped by the session)
                texture.Apply(false, false);
                CurrentFrame = frame;
            }
            catch (Exception e)
            {
                Report(new ErrorInfo(ErrorCodes.BadMessage, "Could not upload a " + frame.Width + "x"
                    + frame.Height + " frame into the texture: " + e.Message, 0, false, false));
                return;
            }
            Raise(TextureUpdated, texture);
        }

        void EnsureTexture(int width, int height)
        {
            if (texture != null && texture.width == width && texture.height == height) return;
            if (texture != null) Destroy(texture);
            texture = new Texture2D(width, height, TextureFormat.RGB24, false)
            {
                name = "StreamDiT stream", wrapMode = TextureWrapMode.Clamp, filterMode = filterMode,
            };
            if (targetRenderer != null) targetRenderer.material.mainTexture = texture;
        }

        void OnConnected(SessionInfo info)
        {
            EnsureTexture(info.Width, info.Height);
            Raise(Connected, info);
        }

        void ScheduleRetry(StreamDiTSession failed)
        {
            if (retrySeconds <= 0f || !Retryable(failed.LastError)) return;
            if (retryAt < 0f)
            {
                retryAt = Time.unscaledTime + retrySeconds;
                return;
            }
            if (Time.unscaledTime >= retryAt) Connect();
        }

        // The runtime being away or restarting fixes itself; a version mismatch, a refused token or bad settings do not.
        static bool Retryable(ErrorInfo e)
        {
            if (e == null) return false;
            string c = e.Code;
            return c == ErrorCodes.Transport || c == ErrorCodes.Timeout || c == ErrorCodes.ShuttingDown
                || c == ErrorCodes.SessionClosed || c == ErrorCodes.ResumeFailed
                || c == ErrorCodes.TooManySessions || c == ErrorCodes.Internal;
        }

        StreamDiTSession Usable(string what)
        {
            StreamDiTSession s = session;
            if (s != null && s.State != StreamDiTSessionState.Closed && s.State != StreamDiTSessionState.Failed) return s;
            ErrorInfo cause = s != null ? s.LastError : null;
            Report(new ErrorInfo(ErrorCodes.Transport, what + " was not sent: no session"
                + (cause != null ? " (" + cause.Message + ")" : "; call Connect() first") + ".", 0, false, false));
            return null;
        }

        // Called on the session's thread: queue the work for Update, dropping work of a session already replaced.
        void Post(StreamDiTSession from, Action work)
        {
            mainThread.Enqueue(() => { if (ReferenceEquals(from, session)) work(); });
        }

        void Report(ErrorInfo e)
        {
            bool repeated = lastError != null && lastError.Message == e.Message;  // e.g. PushEvent every frame while away
            lastError = e;
            if (logErrors && !repeated) Debug.LogWarning("StreamDiT: " + e, this);
            Raise(ErrorOccurred, e);
        }

        void Raise<T>(Action<T> handler, T arg)
        {
            if (handler == null) return;
            try
            {
                handler(arg);
            }
            catch (Exception e)  // a game's handler must not break the stream; surfaced, not thrown
            {
                lastError = new ErrorInfo(ErrorCodes.CallbackFailed, "A handler of StreamDiTBehaviour threw "
                    + e.GetType().Name + ": " + e.Message, 0, false, false);
                if (logErrors) Debug.LogWarning("StreamDiT: " + lastError, this);
            }
        }
    }
}

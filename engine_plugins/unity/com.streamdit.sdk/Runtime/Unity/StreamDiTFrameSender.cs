using System;
using System.Collections;
using StreamDiT.Core;
using UnityEngine;
using UnityEngine.Rendering;

namespace StreamDiT.Unity
{
    /// <summary>
    /// Video-to-video: sends the game's own render to a <see cref="StreamDiTBehaviour"/>'s session, which the runtime
    /// restyles under the prompt (docs/protocol.md, <c>source_frame</c>). The stream's component needs
    /// <see cref="StreamDiTBehaviour.VideoToVideo"/> on, and a runtime whose handshake reply has v2v true.
    /// <para>At <see cref="SendRateHz"/> frames per second of real time (0 = the stream's fps), at the end of the
    /// frame, it scales the source (a RenderTexture, or the Camera's Target Texture) to the stream's size with
    /// Graphics.Blit into a temporary RenderTexture, reads that back (AsyncGPUReadback where the platform supports it,
    /// else ReadPixels into a Texture2D, which waits for the GPU), turns the RGBA32 rows, bottom row first, into rgb8
    /// top row first (<see cref="PixelRows.ToRgb8"/>) and calls <see cref="StreamDiTSession.SendFrame"/>, which only
    /// queues. One readback is in flight at a time: a frame due while one is still on its way is skipped
    /// (<see cref="FramesSkipped"/>), so a slow GPU never piles up requests.</para>
    /// <para>Nothing here throws: failures are <see cref="ErrorOccurred"/> and <see cref="LastError"/>.</para>
    /// </summary>
    [AddComponentMenu("StreamDiT/StreamDiT Frame Sender")]
    [DisallowMultipleComponent]
    public sealed class StreamDiTFrameSender : MonoBehaviour
    {
        [Tooltip("The stream whose session gets the frames. Turn on its Video To Video.")]
        [SerializeField] StreamDiTBehaviour stream;
        [Tooltip("The RenderTexture to send, e.g. a Camera's Target Texture. Any size: it is scaled to the stream's size.")]
        [SerializeField] RenderTexture source;
        [Tooltip("Used when Source is empty: this Camera's Target Texture is sent (the camera must render into a RenderTexture).")]
        [SerializeField] Camera sourceCamera;
        [Tooltip("Frames sent per second of real time; 0 = the stream's frame rate (its handshake reply's fps).")]
        [SerializeField] float sendRateHz = 0f;
        [Tooltip("Read pixels with AsyncGPUReadback where the platform supports it (no stall). Off, or unsupported: ReadPixels, which waits for the GPU.")]
        [SerializeField] bool asyncReadback = true;
        [Tooltip("Unity textures are bottom row first and the runtime takes the top row first, so rows are flipped. Turn off only if the restyled stream comes out upside down.")]
        [SerializeField] bool bottomUp = true;
        [Tooltip("Also log each error to the Console as a warning.")]
        [SerializeField] bool logErrors = true;

        Texture2D readTexture;
        RenderTexture inFlight;  // the scaled copy being read back; released when its data arrives
        Coroutine loop;
        ErrorInfo lastError;
        byte[] rgba, rgb;
        float clock;
        float? nextStrength;
        bool nextAnchor;

        /// <summary>Main thread: a frame was queued on the session; the argument is the index SendFrame returned
        /// (output frames that restyle it carry it as <see cref="Frame.SourceIndex"/>).</summary>
        public event Action<long> FrameSent;
        /// <summary>Main thread: something went wrong (codes: bad_settings, readback_failed, unsupported,
        /// invalid_argument, session_closed, callback_failed).</summary>
        public event Action<ErrorInfo> ErrorOccurred;

        /// <summary>The stream whose session gets the frames.</summary>
        public StreamDiTBehaviour Stream { get { return stream; } set { stream = value; } }
        /// <summary>The RenderTexture sent; null = <see cref="SourceCamera"/>'s target texture.</summary>
        public RenderTexture Source { get { return source; } set { source = value; } }
        /// <summary>The Camera whose target texture is sent when <see cref="Source"/> is null.</summary>
        public Camera SourceCamera { get { return sourceCamera; } set { sourceCamera = value; } }
        /// <summary>Frames per second of real time; 0 = the stream's fps.</summary>
        public float SendRateHz { get { return sendRateHz; } set { sendRateHz = value; } }
        /// <summary>Frames queued on the session so far.</summary>
        public long FramesSent { get; private set; }
        /// <summary>Frames not sent because the previous readback was still in flight.</summary>
        public long FramesSkipped { get; private set; }
        /// <summary>Frames whose readback failed.</summary>
        public long FramesLost { get; private set; }
        /// <summary>The index of the latest frame sent; -1 before the first.</summary>
        public long LastSourceIndex { get; private set; }
        /// <summary>The latest error; null if none. Never thrown.</summary>
        public ErrorInfo LastError { get { return lastError; } }

        /// <summary>Changes the session's strength (in [0, 1]) with the next frame sent; from the next chunk on.</summary>
        public void SetStrength(float value)
        {
            if (!(value >= 0f && value <= 1f))
            {
                Report("invalid_argument", "strength must be in [0, 1] (0 = keep the source, 1 = text-only), got " + value);
                return;
            }
            nextStrength = value;
        }

        /// <summary>Restarts the stream from the next frame sent (re-anchor: the stream continues the game's current view).</summary>
        public void Anchor()
        {
            nextAnchor = true;
        }

        void Awake()
        {
            LastSourceIndex = -1;
        }

        void OnEnable()
        {
            clock = 0f;
            loop = StartCoroutine(SendAtEndOfFrames());
        }

        void OnDisable()
        {
            if (loop != null) StopCoroutine(loop);
            loop = null;
            if (inFlight != null && SystemInfo.supportsAsyncGPUReadback) AsyncGPUReadback.WaitAllRequests();
            ReleaseInFlight();
        }

        void OnDestroy()
        {
            if (readTexture != null) Destroy(readTexture);
            readTexture = null;
        }

        void Update()
        {
            clock += Time.unscaledDeltaTime;
        }

        IEnumerator SendAtEndOfFrames()
        {
            var endOfFrame = new WaitForEndOfFrame();
            while (true)
            {
                yield return endOfFrame;
                StreamDiTSession session = stream != null ? stream.Session : null;
                SessionInfo info = session != null && session.State == StreamDiTSessionState.Streaming ? session.Info : null;
                if (info == null) continue;  // not streaming yet (or any more): nothing to send to
                if (!stream.VideoToVideo || !info.V2V)
                {
                    Report(stream.VideoToVideo ? ErrorCodes.Unsupported : "bad_settings", stream.VideoToVideo
                        ? "the runtime at " + session.Endpoint + " does not serve video-to-video (its handshake reply has v2v false): no frame is sent"
                        : "turn on Video To Video on the StreamDiTBehaviour on '" + stream.name + "' (then reconnect): no frame is sent without it");
                    continue;
                }
                float rate = sendRateHz > 0f ? sendRateHz : (float)info.Fps;
                if (!(rate > 0f) || clock < 1f / rate) continue;
                clock = Math.Min(clock - 1f / rate, 1f / rate);  // keep the rate, but never catch up in bursts
                if (inFlight != null)
                {
                    FramesSkipped++;
                    continue;
                }
                RenderTexture from = source != null ? source : sourceCamera != null ? sourceCamera.targetTexture : null;
                if (from == null)
                {
                    Report("bad_settings", "StreamDiTFrameSender on '" + name + "' has nothing to send: set Source to a "
                        + "RenderTexture, or Source Camera to a camera whose Target Texture is one");
                    continue;
                }
                Request(session, from, info.Width, info.Height);
            }
        }

        // Scales `from` to the stream's size on the GPU, then reads it back (async or not) and sends it.
        void Request(StreamDiTSession session, RenderTexture from, int width, int height)
        {
            RenderTexture scaled = RenderTexture.GetTemporary(width, height, 0, RenderTextureFormat.ARGB32);
            Graphics.Blit(from, scaled);
            inFlight = scaled;
            if (asyncReadback && SystemInfo.supportsAsyncGPUReadback)
            {
                AsyncGPUReadback.Request(scaled, 0, TextureFormat.RGBA32, request =>
                {
                    if (!ReferenceEquals(inFlight, scaled)) return;  // disabled meanwhile: released already
                    bool ok = !request.hasError;
                    if (ok)
                    {
                        if (rgba == null || rgba.Length != width * height * 4) rgba = new byte[width * height * 4];
                        request.GetData<byte>().CopyTo(rgba);
                    }
                    ReleaseInFlight();
                    if (ok) Send(session, width, height);
                    else Lost("the GPU readback of a " + width + "x" + height + " frame failed");
                });
                return;
            }
            try
            {
                if (readTexture == null || readTexture.width != width || readTexture.height != height)
                {
                    if (readTexture != null) Destroy(readTexture);
                    readTexture = new Texture2D(width, height, TextureFormat.RGBA32, false) { name = "StreamDiT frame sender readback" };
                }
                RenderTexture previous = RenderTexture.active;
                RenderTexture.active = scaled;
                readTexture.ReadPixels(new Rect(0, 0, width, height), 0, 0, false);
                RenderTexture.active = previous;
                rgba = readTexture.GetRawTextureData();
            }
            catch (Exception e)
            {
                ReleaseInFlight();
                Lost("ReadPixels from " + from.name + " failed: " + e.Message);
                return;
            }
            ReleaseInFlight();
            Send(session, width, height);
        }

        void Send(StreamDiTSession session, int width, int height)
        {
            try
            {
                if (rgb == null || rgb.Length != width * height * 3) rgb = new byte[width * height * 3];
                PixelRows.ToRgb8(rgba, width, height, 4, bottomUp, rgb);
                LastSourceIndex = session.SendFrame(rgb, width, height, nextStrength, nextAnchor);  // copies rgb
                nextStrength = null;
                nextAnchor = false;
                FramesSent++;
            }
            catch (StreamDiTException e)  // the session ended meanwhile (or the frame is above the runtime's limit)
            {
                Report(ErrorCodes.SessionClosed, "a frame was not sent: " + e.Message);
                return;
            }
            catch (Exception e)  // ArgumentException: the stream's size changed meanwhile, for example
            {
                Report(ErrorCodes.InvalidArgument, "a frame was not sent: " + e.Message);
                return;
            }
            if (FrameSent == null) return;
            try
            {
                FrameSent(LastSourceIndex);
            }
            catch (Exception e)
            {
                Report(ErrorCodes.CallbackFailed, "a FrameSent handler threw " + e.GetType().Name + ": " + e.Message);
            }
        }

        void ReleaseInFlight()
        {
            if (inFlight != null) RenderTexture.ReleaseTemporary(inFlight);
            inFlight = null;
        }

        void Lost(string message)
        {
            FramesLost++;
            Report("readback_failed", message);
        }

        void Report(string code, string message)
        {
            bool repeated = lastError != null && lastError.Message == message;  // e.g. every frame while V2V is off
            lastError = new ErrorInfo(code, message, 0, false, false);
            if (logErrors && !repeated) Debug.LogWarning("StreamDiT frame sender: " + lastError, this);
            if (ErrorOccurred == null) return;
            try
            {
                ErrorOccurred(lastError);
            }
            catch (Exception e)
            {
                if (logErrors) Debug.LogWarning("StreamDiT frame sender: an ErrorOccurred handler threw " + e.GetType().Name + ": " + e.Message, this);
            }
        }
    }
}

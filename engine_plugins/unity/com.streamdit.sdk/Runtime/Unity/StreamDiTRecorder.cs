using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using StreamDiT.Core;
using UnityEngine;
using UnityEngine.Rendering;

namespace StreamDiT.Unity
{
    /// <summary>
    /// Records the game for fitting a StreamDiT to it: a RenderTexture's pixels at <c>fps</c> frames per second of
    /// game time, with the events the game pushes, in the project's recording format (docs/recording.md), under
    /// Application.persistentDataPath by default. <c>streamdit data import</c> turns the folder into a training set.
    /// <para>Events come from <c>session</c> (every <see cref="StreamDiTBehaviour.PushEvent"/> call is recorded too)
    /// or from <see cref="PushEvent"/> here. Each is stamped with the first frame captured after it was pushed.</para>
    /// <para>Frames are taken at the end of the frame (after rendering): with AsyncGPUReadback where the platform
    /// supports it (no stall; the data arrives a few frames later, and frames are written in capture order), else
    /// with ReadPixels into a Texture2D (waits for the GPU). Both run on the main thread; the writer
    /// (<see cref="RecordingWriter"/>, in StreamDiT.Core) flips Unity's bottom-up rows. When the game runs slower
    /// than <c>fps</c>, a frame is written once per frame period that passed, so the recording keeps game time.</para>
    /// <para>Nothing here throws: failures are <see cref="ErrorOccurred"/> and <see cref="LastError"/>.</para>
    /// </summary>
    [AddComponentMenu("StreamDiT/StreamDiT Recorder")]
    [DisallowMultipleComponent]
    public sealed class StreamDiTRecorder : MonoBehaviour
    {
        [Header("Source")]
        [Tooltip("The RenderTexture to record, e.g. a Camera's Target Texture. Its size is the recorded frame size (a 72x72 texture records 72x72 frames).")]
        [SerializeField] RenderTexture source;
        [Tooltip("Read pixels with AsyncGPUReadback where the platform supports it (no stall). Off, or unsupported: ReadPixels, which waits for the GPU.")]
        [SerializeField] bool asyncReadback = true;
        [Tooltip("Unity textures are bottom row first; the recording is top row first, so rows are flipped. Turn off only if recorded frames come out upside down.")]
        [SerializeField] bool bottomUp = true;

        [Header("Recording")]
        [Tooltip("The recording's folder; shards go inside it, numbered on from those already there. A relative path is under Application.persistentDataPath.")]
        [SerializeField] string directory = "recordings/recording";
        [Tooltip("The game's name in each shard. Empty = Application.productName.")]
        [SerializeField] string game = "";
        [Tooltip("Frames recorded per second of game time (Time.deltaTime): the frame rate the model will learn.")]
        [Range(1f, 120f)]
        [SerializeField] float fps = 16f;
        [Tooltip("The vocabulary file (TOML, one [events.TYPE] table per event type) the event types come from; its name goes into each shard. Empty = none.")]
        [SerializeField] string vocabulary = "";
        [Tooltip("Optional: a StreamDiTBehaviour whose PushEvent calls are recorded too.")]
        [SerializeField] StreamDiTBehaviour session;
        [Tooltip("Start recording in OnEnable. Off: call StartRecording().")]
        [SerializeField] bool recordOnEnable = true;
        [Tooltip("Close the shard and open another after this many frames; 0 = no limit (NewShard() ends one).")]
        [SerializeField] int maxFramesPerShard = 0;
        [Tooltip("Also log each error to the Console as a warning.")]
        [SerializeField] bool logErrors = true;

        // One frame being read back: the events pushed before its capture, and how many frame periods it fills.
        sealed class Capture
        {
            public readonly List<KeyValuePair<string, IDictionary<string, object>>> Events =
                new List<KeyValuePair<string, IDictionary<string, object>>>();
            public int Copies;
            public bool Done;
            public byte[] Pixels;
            public int Width, Height, BytesPerPixel;
        }

        readonly Queue<Capture> inFlight = new Queue<Capture>();
        Capture next = new Capture();
        RecordingWriter writer;
        Texture2D readTexture;
        Coroutine loop;
        StreamDiTBehaviour hooked;
        ErrorInfo lastError;
        float clock;
        int due;

        /// <summary>Main thread: a shard was closed and is complete on disk (its folder, frames, events).</summary>
        public event Action<string, int, int> ShardClosed;
        /// <summary>Main thread: something went wrong (codes: bad_settings, bad_event, readback_failed, write_failed).</summary>
        public event Action<ErrorInfo> ErrorOccurred;

        /// <summary>True while frames and events are being recorded.</summary>
        public bool IsRecording { get { return writer != null; } }
        /// <summary>Frames written in all shards, repeats included.</summary>
        public long FramesRecorded { get; private set; }
        /// <summary>Frames written again because the game ran slower than <c>fps</c>.</summary>
        public long FramesRepeated { get; private set; }
        /// <summary>Frames whose readback failed (their events go to the next frame).</summary>
        public long FramesLost { get; private set; }
        /// <summary>The latest error; null if none. Never thrown.</summary>
        public ErrorInfo LastError { get { return lastError; } }
        /// <summary>The absolute folder of the recording.</summary>
        public string RecordingPath { get { return Path.IsPathRooted(directory) ? directory : Path.Combine(Application.persistentDataPath, directory); } }
        /// <summary>The RenderTexture recorded; takes effect at the next frame.</summary>
        public RenderTexture Source { get { return source; } set { source = value; } }

        /// <summary>Starts recording (closing the open shard first, if any). The first frame is this frame's.</summary>
        public void StartRecording()
        {
            StopRecording();
            if (!(fps > 0f))
            {
                Report("bad_settings", "fps must be > 0 (frames per second of game time), got " + fps);
                return;
            }
            try
            {
                writer = new RecordingWriter(RecordingPath, string.IsNullOrEmpty(game) ? Application.productName : game, fps, vocabulary);
            }
            catch (Exception e)
            {
                Report("bad_settings", "cannot record into " + RecordingPath + ": " + e.Message);
                return;
            }
            clock = 0f;
            due = 1;
            next = new Capture();
            loop = StartCoroutine(CaptureAtEndOfFrames());
        }

        /// <summary>Closes the open shard (after the frames still being read back) and stops recording.</summary>
        public void StopRecording()
        {
            if (writer == null) return;
            if (loop != null) StopCoroutine(loop);
            loop = null;
            Drain(true);
            CloseShard();
            writer = null;
        }

        /// <summary>Closes the open shard (an episode ended); the next frame starts a new one.</summary>
        public void NewShard()
        {
            if (writer == null) return;
            Drain(true);
            CloseShard();
        }

        /// <summary>Records an event, stamped with the next frame captured. Returns false when it was not recorded
        /// (not recording, or a bad type or payload: <see cref="LastError"/> says why).</summary>
        public bool PushEvent(string type, IDictionary<string, object> payload = null)
        {
            if (writer == null) return false;
            string problem = RecordingJson.CheckEvent(type, payload);
            if (problem != null)
            {
                Report("bad_event", problem + "; it was not recorded");
                return false;
            }
            var copy = payload == null ? new Dictionary<string, object>() : new Dictionary<string, object>(payload);
            next.Events.Add(new KeyValuePair<string, IDictionary<string, object>>(type, copy));
            return true;
        }

        void OnEnable()
        {
            Hook(session);
            if (recordOnEnable) StartRecording();
        }

        void OnDisable()
        {
            StopRecording();
            Hook(null);
        }

        void OnDestroy()
        {
            if (readTexture != null) Destroy(readTexture);
            readTexture = null;
        }

        void Update()
        {
            if (writer == null) return;
            clock += Time.deltaTime;
            float period = 1f / fps;
            if (clock >= period)
            {
                int periods = (int)(clock / period);
                clock -= periods * period;
                due += periods;
            }
        }

        IEnumerator CaptureAtEndOfFrames()
        {
            var endOfFrame = new WaitForEndOfFrame();
            while (true)
            {
                yield return endOfFrame;
                if (writer != null && due > 0 && source != null) Request();
                Drain(false);
            }
        }

        void Request()
        {
            Capture c = next;
            next = new Capture();
            c.Copies = due;
            due = 0;
            inFlight.Enqueue(c);
            int w = source.width, h = source.height;
            if (asyncReadback && SystemInfo.supportsAsyncGPUReadback)
            {
                AsyncGPUReadback.Request(source, 0, TextureFormat.RGBA32, request =>
                {
                    if (!request.hasError) c.Pixels = request.GetData<byte>().ToArray();
                    c.Width = w;
                    c.Height = h;
                    c.BytesPerPixel = 4;
                    c.Done = true;
                });
                return;
            }
            try
            {
                if (readTexture == null || readTexture.width != w || readTexture.height != h)
                {
                    if (readTexture != null) Destroy(readTexture);
                    readTexture = new Texture2D(w, h, TextureFormat.RGB24, false) { name = "StreamDiT recorder readback" };
                }
                RenderTexture previous = RenderTexture.active;
                RenderTexture.active = source;
                readTexture.ReadPixels(new Rect(0, 0, w, h), 0, 0, false);
                RenderTexture.active = previous;
                c.Pixels = readTexture.GetRawTextureData();
            }
            catch (Exception e)
            {
                Report("readback_failed", "ReadPixels from " + source.name + " failed: " + e.Message);
                c.Pixels = null;
            }
            c.Width = w;
            c.Height = h;
            c.BytesPerPixel = 3;
            c.Done = true;
        }

        // Writes the captures that are read back, in capture order; with `all`, also gives up on those still in flight
        // (their events move to the next capture).
        void Drain(bool all)
        {
            if (all && inFlight.Count > 0 && SystemInfo.supportsAsyncGPUReadback) AsyncGPUReadback.WaitAllRequests();
            while (inFlight.Count > 0 && (inFlight.Peek().Done || all))
            {
                Capture c = inFlight.Dequeue();
                if (c.Pixels == null)
                {
                    FramesLost++;
                    if (c.Done) Report("readback_failed", "a frame's GPU readback failed; its events go to the next frame");
                    next.Events.InsertRange(0, c.Events);
                    continue;
                }
                Write(c);
            }
        }

        void Write(Capture c)
        {
            try
            {
                foreach (var e in c.Events) writer.PushEvent(e.Key, e.Value);
                for (int i = 0; i < c.Copies; i++)
                {
                    writer.AppendFrame(c.Pixels, c.Width, c.Height, c.BytesPerPixel, bottomUp);
                    FramesRecorded++;
                    if (i > 0) FramesRepeated++;
                    if (maxFramesPerShard > 0 && writer.FramesInShard >= maxFramesPerShard) CloseShard();
                }
            }
            catch (RecordingException e)
            {
                Report("write_failed", e.Message + "; recording stopped (set the RenderTexture's size once, before recording)");
                if (loop != null) StopCoroutine(loop);
                loop = null;
                inFlight.Clear();
                RecordingWriter stopped = writer;
                writer = null;
                try { stopped.Dispose(); }  // closes the shard so far: every frame before the failure is kept
                catch (RecordingException closing) { Report("write_failed", closing.Message); }
            }
        }

        void CloseShard()
        {
            try
            {
                string path = writer.CloseShard();
                if (path != null && ShardClosed != null) ShardClosed(path, writer.FramesInShard, writer.EventsInShard);
            }
            catch (RecordingException e)
            {
                Report("write_failed", e.Message);
            }
            catch (Exception e)  // a game's ShardClosed handler threw
            {
                Report(ErrorCodes.CallbackFailed, "A ShardClosed handler threw " + e.GetType().Name + ": " + e.Message);
            }
        }

        void Hook(StreamDiTBehaviour to)
        {
            if (hooked != null) hooked.EventPushed -= OnSessionEvent;
            hooked = to;
            if (hooked != null) hooked.EventPushed += OnSessionEvent;
        }

        void OnSessionEvent(string type, IDictionary<string, object> payload)
        {
            PushEvent(type, payload);
        }

        void Report(string code, string message)
        {
            lastError = new ErrorInfo(code, message, 0, false, false);
            if (logErrors) Debug.LogWarning("StreamDiT recorder: " + lastError, this);
            if (ErrorOccurred == null) return;
            try
            {
                ErrorOccurred(lastError);
            }
            catch (Exception e)
            {
                if (logErrors) Debug.LogWarning("StreamDiT recorder: an ErrorOccurred handler threw " + e.GetType().Name + ": " + e.Message, this);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;

namespace StreamDiT.Core
{
    /// <summary>A recording could not be written, or was given something it cannot hold; the message says what to fix.</summary>
    public class RecordingException : StreamDiTException
    {
        /// <summary>Creates the exception with a message that says what to fix.</summary>
        public RecordingException(string message) : base(message) { }

        /// <summary>Creates the exception with a message and the I/O exception that caused it.</summary>
        public RecordingException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>
    /// Writes a recording in the project's format (docs/recording.md, version 1): a folder of shards, one per
    /// episode or play session, each holding the frames as raw RGB (frames.rgb: uint8, rows top to bottom, H*W*3
    /// bytes a frame), the events as JSON lines (events.jsonl) and a manifest.json written last.
    ///
    /// <para>A shard is written into NAME.partial/ and moved to NAME/ when it closes, so an interrupted recording
    /// keeps every shard it closed, and readers never see half a shard. A folder that already holds shards keeps
    /// them; new ones take the next free number.</para>
    ///
    /// <para>Events are stamped with the index of the next frame appended: the first frame that can show them.
    /// Frames may come bottom row first (Unity's textures) and with 4 bytes per pixel (RGBA32 readbacks); they
    /// are turned into top-first RGB here. Not thread-safe: call it from one thread (StreamDiTRecorder uses
    /// Unity's main thread). Uses only the .NET base library.</para>
    /// </summary>
    public sealed class RecordingWriter : IDisposable
    {
        /// <summary>The manifest's "format".</summary>
        public const string Format = "streamdit-recording";
        /// <summary>The format version this writer writes.</summary>
        public const int Version = 1;
        /// <summary>The manifest's "recorder": this writer and the package version.</summary>
        public const string RecorderName = "unity StreamDiTRecorder " + StreamDiTSession.PackageVersion;

        static readonly Regex ShardName = new Regex(@"^shard-(\d+)(\.partial)?$");

        readonly List<string> shards = new List<string>();
        readonly List<KeyValuePair<string, IDictionary<string, object>>> pending =
            new List<KeyValuePair<string, IDictionary<string, object>>>();
        string partial;
        FileStream framesFile;
        StreamWriter eventsFile;
        byte[] row;
        bool disposed;

        /// <summary>Creates a writer; nothing is written until the first frame.</summary>
        /// <param name="directory">The recording's folder; created when missing.</param>
        /// <param name="game">The game's name, stored in each manifest.</param>
        /// <param name="fps">Frames per second of game time between recorded frames (&gt; 0).</param>
        /// <param name="vocabulary">The vocabulary file (a name or path) the event types come from; null or "" = none.</param>
        /// <exception cref="ArgumentException">An empty directory, or fps not a finite number &gt; 0.</exception>
        public RecordingWriter(string directory, string game, double fps, string vocabulary)
        {
            if (string.IsNullOrEmpty(directory)) throw new ArgumentException("the recording needs a folder", "directory");
            if (!(fps > 0) || double.IsInfinity(fps))
                throw new ArgumentException("fps must be a finite number > 0 (frames per second of game time), got " + fps, "fps");
            Directory = directory;
            Game = game ?? "";
            Fps = fps;
            Vocabulary = string.IsNullOrEmpty(vocabulary) ? null : vocabulary;
        }

        /// <summary>The recording's folder.</summary>
        public string Directory { get; private set; }
        /// <summary>The game's name in each manifest.</summary>
        public string Game { get; private set; }
        /// <summary>Frames per second of game time.</summary>
        public double Fps { get; private set; }
        /// <summary>The vocabulary named in each manifest; null = none.</summary>
        public string Vocabulary { get; private set; }
        /// <summary>Frame width and height in pixels, fixed by the first frame (0 before it).</summary>
        public int Width { get; private set; }
        /// <summary>See <see cref="Width"/>.</summary>
        public int Height { get; private set; }
        /// <summary>Frames in the open shard (or in the last one closed, until the next frame).</summary>
        public int FramesInShard { get; private set; }
        /// <summary>Event lines in the open shard (or in the last one closed, until the next frame).</summary>
        public int EventsInShard { get; private set; }
        /// <summary>Events waiting for the next frame.</summary>
        public int PendingEvents { get { return pending.Count; } }
        /// <summary>Whether a shard is open (a frame was appended since the last close).</summary>
        public bool IsShardOpen { get { return partial != null; } }
        /// <summary>The folders of the shards this writer closed, in order.</summary>
        public ReadOnlyCollection<string> Shards { get { return shards.AsReadOnly(); } }

        /// <summary>Records an event, stamped with the next frame appended. The payload is copied.</summary>
        /// <exception cref="RecordingException">A bad type or payload (<see cref="RecordingJson.CheckEvent"/>).</exception>
        public void PushEvent(string type, IDictionary<string, object> payload)
        {
            ThrowIfDisposed();
            string problem = RecordingJson.CheckEvent(type, payload);
            if (problem != null) throw new RecordingException(problem);
            var copy = payload == null ? new Dictionary<string, object>() : new Dictionary<string, object>(payload);
            pending.Add(new KeyValuePair<string, IDictionary<string, object>>(type, copy));
        }

        /// <summary>
        /// Appends one frame and returns its index in the shard. <paramref name="pixels"/> holds
        /// <paramref name="width"/> * <paramref name="height"/> pixels of <paramref name="bytesPerPixel"/> bytes (3: RGB;
        /// 4: RGBA, alpha dropped), rows bottom first when <paramref name="bottomUp"/> (Unity's texture layout). The
        /// first frame of the recording fixes its size.
        /// </summary>
        /// <exception cref="RecordingException">A wrong byte count or frame size, or the disk refused the write.</exception>
        public int AppendFrame(byte[] pixels, int width, int height, int bytesPerPixel, bool bottomUp)
        {
            ThrowIfDisposed();
            if (bytesPerPixel != 3 && bytesPerPixel != 4)
                throw new RecordingException("bytesPerPixel must be 3 (RGB24) or 4 (RGBA32), got " + bytesPerPixel);
            if (width < 1 || height < 1 || pixels == null || pixels.Length != (long)width * height * bytesPerPixel)
                throw new RecordingException("a frame of " + width + "x" + height + " px at " + bytesPerPixel + " bytes per pixel needs " +
                                             Math.Max(0L, (long)width * height * bytesPerPixel) + " bytes, got " + (pixels == null ? 0 : pixels.Length));
            if (Width == 0)
            {
                Width = width;
                Height = height;
            }
            else if (width != Width || height != Height)
            {
                throw new RecordingException("frame " + FramesInShard + " is " + width + "x" + height + " px; this recording is " +
                                             Width + "x" + Height + ": resize it (the recorder's frame size), or start another recording");
            }
            OpenShard();
            try
            {
                foreach (var e in pending)
                {
                    eventsFile.Write(RecordingJson.EventLine(FramesInShard, e.Key, e.Value));
                    eventsFile.Write('\n');
                    EventsInShard++;
                }
                pending.Clear();
                WriteRows(pixels, width, height, bytesPerPixel, bottomUp);
            }
            catch (IOException e)
            {
                throw new RecordingException("cannot write frame " + FramesInShard + " to " + partial + " (" + e.Message +
                                             "): check that the disk is not full", e);
            }
            return FramesInShard++;
        }

        /// <summary>
        /// Closes the open shard: writes its manifest and moves NAME.partial to NAME. Events pushed since the last frame
        /// show in no frame: they are counted in the manifest (events_after_last_frame), not written. Returns the
        /// shard's folder, or null when no shard was open.
        /// </summary>
        /// <exception cref="RecordingException">The disk refused the manifest or the move; the .partial folder stays.</exception>
        public string CloseShard()
        {
            int afterLast = pending.Count;
            pending.Clear();
            if (partial == null) return null;
            string dir = partial;
            partial = null;
            try
            {
                framesFile.Flush(true);
                framesFile.Dispose();
                eventsFile.Flush();
                ((FileStream)eventsFile.BaseStream).Flush(true);
                eventsFile.Dispose();
                framesFile = null;
                eventsFile = null;
                var manifest = new List<KeyValuePair<string, object>>
                {
                    Field("format", Format), Field("version", Version), Field("game", Game), Field("fps", Fps),
                    Field("width", Width), Field("height", Height), Field("frames", FramesInShard),
                    Field("events", EventsInShard), Field("events_after_last_frame", afterLast),
                    Field("vocabulary", Vocabulary), Field("recorder", RecorderName),
                    Field("created", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + "+00:00"),
                };
                using (var file = new FileStream(Path.Combine(dir, "manifest.json"), FileMode.CreateNew))
                {
                    byte[] bytes = new UTF8Encoding(false).GetBytes(RecordingJson.Object(manifest));
                    file.Write(bytes, 0, bytes.Length);
                    file.Flush(true);
                }
                string final = dir.Substring(0, dir.Length - ".partial".Length);
                System.IO.Directory.Move(dir, final);  // the shard appears whole or not at all
                shards.Add(final);
                return final;
            }
            catch (Exception e)
            {
                if (e is IOException || e is UnauthorizedAccessException)
                    throw new RecordingException("cannot close the shard " + dir + " (" + e.Message + "): it stays .partial, " +
                                                 "and readers skip it; check the folder's permissions and free space", e);
                throw;
            }
        }

        /// <summary>Closes the open shard (see <see cref="CloseShard"/>); the writer cannot be used after.</summary>
        public void Dispose()
        {
            if (disposed) return;
            try { CloseShard(); }
            finally { disposed = true; }
        }

        void OpenShard()
        {
            if (partial != null) return;
            try
            {
                System.IO.Directory.CreateDirectory(Directory);
                int taken = -1;
                foreach (string path in System.IO.Directory.GetDirectories(Directory))
                {
                    Match m = ShardName.Match(Path.GetFileName(path));
                    if (m.Success) taken = Math.Max(taken, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                }
                string dir = Path.Combine(Directory, "shard-" + (taken + 1).ToString("D5", CultureInfo.InvariantCulture) + ".partial");
                System.IO.Directory.CreateDirectory(dir);
                framesFile = new FileStream(Path.Combine(dir, "frames.rgb"), FileMode.CreateNew, FileAccess.Write);
                eventsFile = new StreamWriter(new FileStream(Path.Combine(dir, "events.jsonl"), FileMode.CreateNew, FileAccess.Write),
                                              new UTF8Encoding(false));
                partial = dir;
            }
            catch (Exception e)
            {
                if (framesFile != null) framesFile.Dispose();
                framesFile = null;
                if (e is IOException || e is UnauthorizedAccessException)
                    throw new RecordingException("cannot create a shard in " + Directory + " (" + e.Message +
                                                 "): check that the folder is writable", e);
                throw;
            }
            FramesInShard = 0;
            EventsInShard = 0;
        }

        void WriteRows(byte[] pixels, int width, int height, int bpp, bool bottomUp)
        {
            if (bpp == 3 && !bottomUp)
            {
                framesFile.Write(pixels, 0, pixels.Length);
                return;
            }
            int rowBytes = width * 3;
            if (row == null || row.Length != rowBytes) row = new byte[rowBytes];
            for (int y = 0; y < height; y++)
            {
                int src = (bottomUp ? height - 1 - y : y) * width * bpp;
                if (bpp == 3)
                {
                    Buffer.BlockCopy(pixels, src, row, 0, rowBytes);
                }
                else
                {
                    for (int x = 0, d = 0; x < width; x++, src += 4, d += 3)
                    {
                        row[d] = pixels[src];
                        row[d + 1] = pixels[src + 1];
                        row[d + 2] = pixels[src + 2];
                    }
                }
                framesFile.Write(row, 0, rowBytes);
            }
        }

        void ThrowIfDisposed()
        {
            if (disposed) throw new ObjectDisposedException("RecordingWriter", "this recording is closed: start a new RecordingWriter");
        }

        static KeyValuePair<string, object> Field(string key, object value)
        {
            return new KeyValuePair<string, object>(key, value);
        }
    }
}

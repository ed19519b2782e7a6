using System;
using System.Collections;
using System.Collections.Generic;

namespace StreamDiT.Core
{
    /// <summary>A server message that is not a well-formed message of docs/protocol.md; the text says why.</summary>
    sealed class MalformedMessageException : StreamDiTException
    {
        public MalformedMessageException(string message) : base(message) { }

        /// <summary>The message's type when the map had one (a malformed "frame" still used a credit), else null.</summary>
        public string Type { get; set; }
    }

    /// <summary>One decoded server message: <see cref="Type"/> and the object it became (null for types this
    /// client does not use, which it ignores, as a newer minor version may add message types).</summary>
    sealed class ServerMessage
    {
        public string Type;
        /// <summary>A Frame, SessionInfo, EventAck, ErrorInfo or SessionStats; null for closed and ignored types.</summary>
        public object Body;
        public string ClosedCode;
        public string ClosedReason;
    }

    /// <summary>
    /// The msgpack form of protocol 1.0 (docs/protocol.md): builds client messages as ZeroMQ parts and decodes
    /// server messages. Field names and defaults follow the document and the Python SDK (sdk/protocol/messages.py).
    /// </summary>
    static class ProtocolCodec
    {
        public const string Version = "1.0";
        public const int Major = 1;
        public const string PixelFormat = "rgb8";

        // ------------------------------------------------------------------------------ client messages

        public static byte[][] Handshake(StreamDiTSessionOptions o, string resumeToken)
        {
            var capabilities = new Dictionary<string, object>
            {
                { "pixel_formats", new List<object> { PixelFormat } }, { "v2v", o.V2V }, { "credits", o.Credits },
            };
            var settings = new Dictionary<string, object>
            {
                { "model", o.Model ?? "" }, { "width", o.Width }, { "height", o.Height },
                { "seed", o.Seed.HasValue ? (object)o.Seed.Value : null },
                { "prompt", o.Prompt ?? "" }, { "prompt_map", o.PromptMap ?? "" }, { "strength", o.Strength },
            };
            return Parts(new Dictionary<string, object>
            {
                { "type", "handshake" }, { "protocol_version", Version },
                { "client_name", o.ClientName ?? "" }, { "client_version", o.ClientVersion ?? "" },
                { "capabilities", capabilities }, { "auth_token", o.AuthToken ?? "" }, { "settings", settings },
                { "resume_token", resumeToken ?? "" },
            });
        }

        public static byte[][] Event(long eventId, string eventType, IDictionary<string, object> payload, long clientTimeUs)
        {
            return Parts(new Dictionary<string, object>
            {
                { "type", "event" }, { "event_id", eventId }, { "event_type", eventType },
                { "payload", payload ?? new Dictionary<string, object>() }, { "client_time_us", clientTimeUs },
            });
        }

        public static byte[][] SetPrompt(long eventId, string text, double weight, int transitionSteps)
        {
            return Parts(new Dictionary<string, object>
            {
                { "type", "set_prompt" }, { "event_id", eventId }, { "text", text }, { "weight", weight },
                { "transition_steps", transitionSteps },
            });
        }

        /// <summary>A <c>source_frame</c> (video-to-video): the map, then <paramref name="rgb"/> (width * height * 3
        /// bytes, rows top to bottom) as the second part. A null <paramref name="strength"/> is sent as nil (keep the
        /// session's).</summary>
        public static byte[][] SourceFrame(long frameIndex, int width, int height, float? strength, bool anchor, byte[] rgb)
        {
            byte[] head = MsgPack.Serialize(new Dictionary<string, object>
            {
                { "type", "source_frame" }, { "frame_index", frameIndex }, { "width", width }, { "height", height },
                { "pixel_format", PixelFormat }, { "strength", strength.HasValue ? (object)strength.Value : null },
                { "anchor", anchor },
            });
            return new[] { head, rgb };
        }

        public static byte[][] Credit(int n)
        {
            return Parts(new Dictionary<string, object> { { "type", "credit" }, { "n", n } });
        }

        public static byte[][] Close(string reason)
        {
            return Parts(new Dictionary<string, object> { { "type", "close" }, { "reason", reason ?? "" } });
        }

        static byte[][] Parts(Dictionary<string, object> map)
        {
            return new[] { MsgPack.Serialize(map) };
        }

        /// <summary>Checks an event payload: string keys; values string, bool, an integer or a float (section 3).</summary>
        /// <exception cref="ArgumentException">A key is null or empty, or a value has another type.</exception>
        public static Dictionary<string, object> CheckPayload(IDictionary<string, object> payload)
        {
            var copy = new Dictionary<string, object>();
            if (payload == null) return copy;
            foreach (KeyValuePair<string, object> kv in payload)
            {
                if (string.IsNullOrEmpty(kv.Key)) throw new ArgumentException("event payload keys must be non-empty strings", "payload");
                object v = kv.Value;
                if (!(v is string || v is bool || v is int || v is long || v is float || v is double || v is short
                      || v is byte || v is sbyte || v is ushort || v is uint))
                    throw new ArgumentException("event payload value '" + kv.Key + "' is " + (v == null ? "null" : "a "
                        + v.GetType().Name) + ": the protocol allows string, bool, integer or float values", "payload");
                copy[kv.Key] = v;
            }
            return copy;
        }

        // ------------------------------------------------------------------------------ server messages

        /// <summary>Decodes the parts of one server message.</summary>
        /// <exception cref="MalformedMessageException">Not msgpack, not a map, no type, a missing or ill-typed
        /// field, or pixels of the wrong size.</exception>
        public static ServerMessage Decode(byte[][] parts)
        {
            if (parts == null || parts.Length == 0) throw new MalformedMessageException("an empty message");
            Dictionary<string, object> map;
            try
            {
                map = MsgPack.DeserializeMap(parts[0]);
            }
            catch (MsgPackException e)
            {
                throw new MalformedMessageException("the first part is not one msgpack map (" + e.Message + ")");
            }
            string type = map.ContainsKey("type") ? map["type"] as string : null;
            if (type == null) throw new MalformedMessageException("the map has no string 'type' field");
            try
            {
                return Decode(type, map, parts);
            }
            catch (MalformedMessageException e)
            {
                e.Type = type;
                throw;
            }
        }

        static ServerMessage Decode(string type, Dictionary<string, object> map, byte[][] parts)
        {
            var msg = new ServerMessage { Type = type };
            int expectParts = type == "frame" ? 2 : 1;
            bool known = true;
            switch (type)
            {
                case "frame": msg.Body = DecodeFrame(map, parts); break;
                case "handshake_reply": msg.Body = DecodeReply(map); break;
                case "event_ack": msg.Body = DecodeAck(map); break;
                case "error": msg.Body = DecodeError(map); break;
                case "stats": msg.Body = DecodeStats(map); break;
                case "closed":
                    msg.ClosedCode = Str(map, "closed", "code", false);
                    msg.ClosedReason = Str(map, "closed", "reason", false);
                    break;
                default: known = false; break;  // runtime_info, model_list, or a newer minor version's type
            }
            if (known && parts.Length != expectParts)
                throw new MalformedMessageException("a '" + type + "' message has " + expectParts + " part(s), got " + parts.Length);
            return msg;
        }

        static Frame DecodeFrame(Dictionary<string, object> m, byte[][] parts)
        {
            var f = new Frame
            {
                FrameIndex = UInt(m, "frame", "frame_index", true),
                ChunkIndex = UInt(m, "frame", "chunk_index", false),
                PtsUs = Int(m, "frame", "pts_us", false),
                EventId = UInt(m, "frame", "event_id", false),
                Width = Dimension(m, "frame", "width", true),
                Height = Dimension(m, "frame", "height", true),
                SourceIndex = m.ContainsKey("source_index") && m["source_index"] != null ? Int(m, "frame", "source_index", false) : -1,
            };
            if (f.SourceIndex < -1)
                throw new MalformedMessageException("frame: 'source_index' must be >= -1 (-1 = none), got " + f.SourceIndex);
            string format = Str(m, "frame", "pixel_format", false);
            if (format.Length > 0 && format != PixelFormat)
                throw new MalformedMessageException("frame: pixel_format '" + format + "', but this client asked for '" + PixelFormat + "'");
            if (parts.Length == 2)
            {
                long want = (long)f.Width * f.Height * 3;
                if (parts[1].Length != want)
                    throw new MalformedMessageException("frame " + f.FrameIndex + ": " + f.Width + "x" + f.Height + " rgb8 needs "
                        + want + " pixel bytes, got " + parts[1].Length);
                f.Pixels = parts[1];
            }
            return f;
        }

        static SessionInfo DecodeReply(Dictionary<string, object> m)
        {
            const string T = "handshake_reply";
            var limits = Map(m, T, "limits");
            return new SessionInfo
            {
                SessionId = Str(m, T, "session_id", true),
                ResumeToken = Str(m, T, "resume_token", false),
                ProtocolVersion = m.ContainsKey("protocol_version") && m["protocol_version"] != null
                    ? Str(m, T, "protocol_version", true) : Version,
                Model = Str(m, T, "model", false),
                Fps = Float(m, T, "fps"),
                FramesPerChunk = UInt(m, T, "frames_per_chunk", false),
                Width = Dimension(m, T, "width", false),
                Height = Dimension(m, T, "height", false),
                PixelFormat = Str(m, T, "pixel_format", false),
                Credits = UInt(m, T, "credits", false),
                Resumed = Bool(m, T, "resumed"),
                NextFrameIndex = UInt(m, T, "next_frame_index", false),
                V2V = Bool(m, T, "v2v"),
                Limits = new SessionLimits
                {
                    MaxMessageBytes = UInt(limits, T + ".limits", "max_message_bytes", false),
                    MaxEventsPerSecond = Float(limits, T + ".limits", "max_events_per_second"),
                    MaxPromptChars = UInt(limits, T + ".limits", "max_prompt_chars", false),
                    MaxSessions = UInt(limits, T + ".limits", "max_sessions", false),
                    MaxCredits = UInt(limits, T + ".limits", "max_credits", false),
                },
            };
        }

        static EventAck DecodeAck(Dictionary<string, object> m)
        {
            const string T = "event_ack";
            return new EventAck
            {
                EventId = UInt(m, T, "event_id", true), ChunkIndex = UInt(m, T, "chunk_index", false),
                FrameIndex = UInt(m, T, "frame_index", false), Prompt = Str(m, T, "prompt", false),
                InEffect = !m.ContainsKey("in_effect") || m["in_effect"] == null || Bool(m, T, "in_effect"),
                ClientTimeUs = Int(m, T, "client_time_us", false),
            };
        }

        static ErrorInfo DecodeError(Dictionary<string, object> m)
        {
            const string T = "error";
            string code = Str(m, T, "code", true);
            if (code.Length == 0) throw new MalformedMessageException("error: empty code");
            string message = Str(m, T, "message", false);
            return new ErrorInfo(code, message.Length > 0 ? message : "the runtime sent error '" + code + "' without a message",
                UInt(m, T, "event_id", false), Bool(m, T, "fatal"), true);
        }

        static SessionStats DecodeStats(Dictionary<string, object> m)
        {
            const string T = "stats";
            return new SessionStats
            {
                Fps = Float(m, T, "fps"), FramesSent = UInt(m, T, "frames_sent", false),
                FramesDropped = UInt(m, T, "frames_dropped", false), QueueDepth = UInt(m, T, "queue_depth", false),
                Credits = UInt(m, T, "credits", false), ChunkIndex = UInt(m, T, "chunk_index", false),
                StepMs = Float(m, T, "step_ms"), DecodeQueue = UInt(m, T, "decode_queue", false),
                Sessions = UInt(m, T, "sessions", false),
                SourceFramesReceived = UInt(m, T, "source_frames_received", false),
                SourceFramesDropped = UInt(m, T, "source_frames_dropped", false),
            };
        }

        // ------------------------------------------------------------------------------ typed field access

        static object Field(Dictionary<string, object> m, string type, string key, bool required)
        {
            object v;
            if (m.TryGetValue(key, out v) && v != null) return v;
            if (required) throw new MalformedMessageException(type + ": the required field '" + key + "' is missing");
            return null;
        }

        static string Str(Dictionary<string, object> m, string type, string key, bool required)
        {
            object v = Field(m, type, key, required);
            if (v == null) return "";
            var s = v as string;
            if (s == null) throw Ill(type, key, "a string", v);
            return s;
        }

        static long Int(Dictionary<string, object> m, string type, string key, bool required)
        {
            object v = Field(m, type, key, required);
            if (v == null) return 0;
            if (v is long) return (long)v;
            throw Ill(type, key, "an integer in the signed 64-bit range", v);
        }

        static long UInt(Dictionary<string, object> m, string type, string key, bool required)
        {
            long n = Int(m, type, key, required);
            if (n < 0) throw new MalformedMessageException(type + ": '" + key + "' must be >= 0, got " + n);
            return n;
        }

        static int Dimension(Dictionary<string, object> m, string type, string key, bool required)
        {
            long n = UInt(m, type, key, required);
            if (n > 16384) throw new MalformedMessageException(type + ": '" + key + "' is " + n + " pixels (at most 16384)");
            return (int)n;
        }

        static double Float(Dictionary<string, object> m, string type, string key)
        {
            object v = Field(m, type, key, false);
            if (v == null) return 0.0;
            if (v is double) return (double)v;
            if (v is float) return (float)v;
            if (v is long) return (long)v;
            if (v is ulong) return (ulong)v;
            throw Ill(type, key, "a number", v);
        }

        static bool Bool(Dictionary<string, object> m, string type, string key)
        {
            object v = Field(m, type, key, false);
            if (v == null) return false;
            if (v is bool) return (bool)v;
            throw Ill(type, key, "a bool", v);
        }

        static Dictionary<string, object> Map(Dictionary<string, object> m, string type, string key)
        {
            object v = Field(m, type, key, false);
            if (v == null) return new Dictionary<string, object>();
            var d = v as Dictionary<string, object>;
            if (d == null) throw Ill(type, key, "a map", v);
            return d;
        }

        static MalformedMessageException Ill(string type, string key, string expected, object got)
        {
            string what = got is IList ? "an array" : got is IDictionary ? "a map" : got is byte[] ? "bin" : got.GetType().Name + " " + got;
            return new MalformedMessageException(type + ": '" + key + "' must be " + expected + ", got " + what);
        }
    }
}

using System;

namespace StreamDiT.Core
{
    /// <summary>
    /// Settings of a <see cref="StreamDiTSession"/>, copied when the session is constructed (later changes have no
    /// effect). The defaults reach a runtime on this machine (<c>streamdit serve</c> binds 127.0.0.1:5557).
    /// </summary>
    public sealed class StreamDiTSessionOptions
    {
        /// <summary>Host name or IP address of the runtime. Default "127.0.0.1".</summary>
        public string Host { get; set; }
        /// <summary>The runtime's ZeroMQ port (<c>streamdit serve --zmq-port</c>). Default 5557.</summary>
        public int Port { get; set; }
        /// <summary>The base prompt; "" = the prompt map's <c>base</c> (the runtime's default map's when PromptMap is "").</summary>
        public string Prompt { get; set; }
        /// <summary>Prompt map as TOML text (docs/protocol.md section 6): one [events.TYPE] rule per event type
        /// this game pushes. "" = the runtime's default prompt map (the checkpoint's, or <c>streamdit serve --prompt-map</c>).</summary>
        public string PromptMap { get; set; }
        /// <summary>The runtime's <c>--auth-token</c>, when it has one. Default "".</summary>
        public string AuthToken { get; set; }
        /// <summary>Noise seed of the stream; null = random.</summary>
        public long? Seed { get; set; }
        /// <summary>The served model to stream from (the handshake's settings.model): a name from the runtime's
        /// ListModels, i.e. the NAME of <c>streamdit serve --model NAME=DIR</c> or the checkpoint directory's name;
        /// "" = the runtime's default model.</summary>
        public string Model { get; set; }
        /// <summary>Requested frame width, pixels; 0 = the model's (any other value must equal it).</summary>
        public int Width { get; set; }
        /// <summary>Requested frame height, pixels; 0 = the model's (any other value must equal it).</summary>
        public int Height { get; set; }
        /// <summary>Frames in flight (docs/protocol.md section 5): the runtime sends at most this many frames before
        /// the client takes some with <see cref="StreamDiTSession.TryDequeueFrame"/>. More smooths network jitter,
        /// fewer lowers latency. 1..64; default 4.</summary>
        public int Credits { get; set; }
        /// <summary>Frames kept for <see cref="StreamDiTSession.TryDequeueFrame"/>; when full, the oldest is dropped
        /// (counted in <see cref="StreamDiTSession.FramesDropped"/>). 0 = <see cref="Credits"/> (then drops happen
        /// only around a reconnect, because the runtime never has more frames in flight). Default 0.</summary>
        public int FrameQueueCapacity { get; set; }
        /// <summary>Reverse the row order of each frame on the session's background thread, so that
        /// <see cref="Frame.Pixels"/> is bottom row first, as Unity's Texture2D.LoadRawTextureData expects.
        /// Default false (the wire order, top row first).</summary>
        public bool FlipRowsBottomUp { get; set; }
        /// <summary>Sent in the handshake, for the runtime's log. Default "unity-sdk".</summary>
        public string ClientName { get; set; }
        /// <summary>Sent in the handshake, for the runtime's log. Default the package version.</summary>
        public string ClientVersion { get; set; }
        /// <summary>Time allowed from Connect (or a reconnect attempt) to the handshake reply, ms. Default 10000.</summary>
        public int HandshakeTimeoutMilliseconds { get; set; }
        /// <summary>Resume the session with its resume token after the connection drops. Default true.</summary>
        public bool Reconnect { get; set; }
        /// <summary>How long to keep trying to resume, ms; the runtime keeps a dropped session for 30 s. Default 30000.</summary>
        public int ReconnectTimeoutMilliseconds { get; set; }
        /// <summary>Wait before the first reconnect attempt, ms; doubled after each failure. Default 100.</summary>
        public int ReconnectInitialDelayMilliseconds { get; set; }
        /// <summary>Longest wait between reconnect attempts, ms. Default 2000.</summary>
        public int ReconnectMaxDelayMilliseconds { get; set; }
        /// <summary>How long the background thread waits for the runtime's <c>closed</c> after <see cref="StreamDiTSession.Close"/>, ms. Default 1000.</summary>
        public int CloseTimeoutMilliseconds { get; set; }
        /// <summary>Events and prompt changes waiting for the connection (while connecting or reconnecting);
        /// beyond it a change is dropped with a <c>queue_full</c> error. Default 256.</summary>
        public int MaxPendingChanges { get; set; }
        /// <summary>Ask for video-to-video (the handshake's <c>capabilities.v2v</c>): the game then sends its own render
        /// with <see cref="StreamDiTSession.SendFrame"/> and the runtime restyles it under the prompt
        /// (docs/protocol.md, <c>source_frame</c>). Default false.</summary>
        public bool V2V { get; set; }
        /// <summary>The session's initial video-to-video strength (the handshake's <c>settings.strength</c>), in
        /// [0, 1]: how much the model may change the source, 0 = the source back through the autoencoder, 1 =
        /// text-only generation. <see cref="StreamDiTSession.SendFrame"/> can change it live. Default 0.5.</summary>
        public float Strength { get; set; }
        /// <summary>Makes the transport of each connection attempt; null (the default) means a <see cref="ZmtpClient"/>
        /// to Host:Port with default <see cref="ZmtpClientOptions"/>. Set it to speak through another
        /// <see cref="ITransport"/>, such as a scripted fake in a test.</summary>
        public TransportFactory TransportFactory { get; set; }

        /// <summary>Creates options with the defaults.</summary>
        public StreamDiTSessionOptions()
        {
            Host = "127.0.0.1";
            Port = 5557;
            Prompt = "";
            PromptMap = "";
            AuthToken = "";
            Model = "";
            Credits = 4;
            ClientName = "unity-sdk";
            ClientVersion = StreamDiTSession.PackageVersion;
            HandshakeTimeoutMilliseconds = 10000;
            Reconnect = true;
            ReconnectTimeoutMilliseconds = 30000;
            ReconnectInitialDelayMilliseconds = 100;
            ReconnectMaxDelayMilliseconds = 2000;
            CloseTimeoutMilliseconds = 1000;
            MaxPendingChanges = 256;
            Strength = 0.5f;
        }

        /// <summary>Returns an independent copy.</summary>
        public StreamDiTSessionOptions Clone()
        {
            return (StreamDiTSessionOptions)MemberwiseClone();
        }

        /// <summary>Checks every setting.</summary>
        /// <exception cref="ArgumentException">A setting is missing or out of range; the message names it.</exception>
        public void Validate()
        {
            if (string.IsNullOrEmpty(Host)) throw new ArgumentException("Host must be a host name or IP address (127.0.0.1 for a runtime on this machine)", "Host");
            if (Port < 1 || Port > 65535) throw new ArgumentOutOfRangeException("Port", Port, "Port must be the runtime's ZeroMQ port, in 1..65535");
            Range(Credits, 1, 64, "Credits");
            Range(FrameQueueCapacity, 0, 1024, "FrameQueueCapacity");
            Range(Width, 0, 16384, "Width");
            Range(Height, 0, 16384, "Height");
            Range(HandshakeTimeoutMilliseconds, 1, int.MaxValue, "HandshakeTimeoutMilliseconds");
            Range(ReconnectTimeoutMilliseconds, 0, int.MaxValue, "ReconnectTimeoutMilliseconds");
            Range(ReconnectInitialDelayMilliseconds, 1, int.MaxValue, "ReconnectInitialDelayMilliseconds");
            Range(ReconnectMaxDelayMilliseconds, ReconnectInitialDelayMilliseconds, int.MaxValue, "ReconnectMaxDelayMilliseconds");
            Range(CloseTimeoutMilliseconds, 0, int.MaxValue, "CloseTimeoutMilliseconds");
            Range(MaxPendingChanges, 1, int.MaxValue, "MaxPendingChanges");
            if (!(Strength >= 0f && Strength <= 1f))
                throw new ArgumentOutOfRangeException("Strength", Strength, "Strength must be in [0, 1] (0 = keep the source, 1 = text-only)");
        }

        static void Range(int value, int lo, int hi, string name)
        {
            if (value < lo || value > hi)
                throw new ArgumentOutOfRangeException(name, value, name + " must be in " + lo + ".." + (hi == int.MaxValue ? "" : hi.ToString()));
        }
    }
}

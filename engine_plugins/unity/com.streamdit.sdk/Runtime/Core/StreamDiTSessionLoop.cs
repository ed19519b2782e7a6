using System;
using System.Threading;

namespace StreamDiT.Core
{
    // The background thread of StreamDiTSession: connect, handshake, dispatch, send, reconnect. Nothing here runs
    // on the caller's thread, and nothing here throws out of the thread: every failure becomes an Error event.
    public sealed partial class StreamDiTSession
    {
        enum Outcome { Continue, Finished, Lost }

        void Run()
        {
            try
            {
                Invoke(StateChanged, StreamDiTSessionState.Connecting, "StateChanged");
                RunLoop();
            }
            catch (Exception e)  // a bug here must still end the session visibly
            {
                Fail(new ErrorInfo(ErrorCodes.Internal, "StreamDiTSession failed unexpectedly (a bug in "
                    + "com.streamdit.sdk " + PackageVersion + "; please report it): " + e, 0, true, false));
            }
        }

        void RunLoop()
        {
            long resumeDeadline = 0;
            int delay = options.ReconnectInitialDelayMilliseconds;
            while (true)
            {
                ErrorInfo loss;
                bool reachedSession;
                if (Attempt(out loss, out reachedSession) == Outcome.Finished) return;
                if (info == null)
                {
                    Fail(AsFatal(loss));
                    return;
                }
                if (!options.Reconnect)
                {
                    Fail(AsFatal(loss, " (StreamDiTSessionOptions.Reconnect is off, so the session ends)"));
                    return;
                }
                if (reachedSession)
                {
                    // Frames of the lost connection give no credit back: the next connection starts afresh.
                    Interlocked.Increment(ref generation);
                    Interlocked.Exchange(ref creditsOwed, 0);
                    resumeDeadline = NowMs() + options.ReconnectTimeoutMilliseconds;
                    delay = options.ReconnectInitialDelayMilliseconds;
                    SetState(StreamDiTSessionState.Reconnecting);
                    Report(new ErrorInfo(ErrorCodes.Transport, "Lost the connection to the runtime at "
                        + Endpoint + " (" + loss.Message + "); resuming the session with its resume token", 0, false, false));
                }
                if (NowMs() + delay > resumeDeadline)
                {
                    Fail(new ErrorInfo(loss.Code, "Lost the connection to the runtime at " + Endpoint + " and could not "
                        + "resume the session within " + options.ReconnectTimeoutMilliseconds + " ms (last attempt: "
                        + loss.Message + "). Check that the runtime is still running, then create a new session", 0, true,
                        loss.FromRuntime));
                    return;
                }
                if (WaitForCloseRequest(delay))
                {
                    Finish("client_close", "closed while reconnecting", false);
                    return;
                }
                delay = (int)Math.Min(options.ReconnectMaxDelayMilliseconds, 2L * delay);
            }
        }

        /// <summary>One connection: handshake (resuming when a session exists), then stream until it ends or drops.</summary>
        Outcome Attempt(out ErrorInfo loss, out bool reachedSession)
        {
            loss = null;
            reachedSession = false;
            bool resuming = info != null;
            ITransport zc;
            if (!TryCreateTransport(out zc)) return Outcome.Finished;
            zc.Changed += () => wake.Set();
            bool streaming = false;
            long closeDeadline = 0;
            long handshakeDeadline = NowMs() + options.HandshakeTimeoutMilliseconds;
            try
            {
                zc.Send(ProtocolCodec.Handshake(options, resuming ? info.ResumeToken : ""));  // written after ZMTP READY
                zc.Connect();
                while (true)
                {
                    byte[][] parts;
                    while (zc.TryReceive(out parts))
                    {
                        Outcome o = Handle(zc, parts, resuming, ref streaming, out loss);
                        if (o != Outcome.Continue) return o;
                        reachedSession |= streaming;
                    }
                    string fault = zc.FaultMessage;
                    if (fault != null)
                    {
                        loss = new ErrorInfo(ErrorCodes.Transport, fault, 0, false, false);
                        return Outcome.Lost;
                    }
                    if (streaming && closeDeadline == 0) Flush(zc);  // changes pushed before Close still go out
                    if (closeRequested && closeDeadline == 0)
                    {
                        if (!streaming)
                        {
                            Finish("client_close", "closed before the runtime accepted the session", false);
                            return Outcome.Finished;
                        }
                        Flush(zc);  // credits and changes that came after the flush above still precede close
                        TrySend(zc, ProtocolCodec.Close(closeReason));
                        closeDeadline = NowMs() + options.CloseTimeoutMilliseconds;
                    }
                    if (closeDeadline != 0 && NowMs() >= closeDeadline)
                    {
                        Finish("client_close", "the runtime did not answer close within " + options.CloseTimeoutMilliseconds
                            + " ms; the connection was closed anyway", false);
                        return Outcome.Finished;
                    }
                    ErrorInfo deferred;
                    while (deferredErrors.TryDequeue(out deferred)) Report(deferred);
                    if (!streaming && NowMs() >= handshakeDeadline)
                    {
                        loss = new ErrorInfo(ErrorCodes.Timeout, "Connected to " + Endpoint + " but no "
                            + "handshake reply came within " + options.HandshakeTimeoutMilliseconds + " ms: check that this "
                            + "port is a StreamDiT runtime's ZeroMQ port (--zmq-port) and that the runtime speaks protocol "
                            + ProtocolVersion, 0, false, false);
                        return Outcome.Lost;
                    }
                    long wait = 1000;
                    if (!streaming) wait = Math.Min(wait, handshakeDeadline - NowMs());
                    if (closeDeadline != 0) wait = Math.Min(wait, closeDeadline - NowMs());
                    wake.WaitOne((int)Math.Max(1, wait));
                }
            }
            finally
            {
                zc.Close();
            }
        }

        Outcome Handle(ITransport zc, byte[][] parts, bool resuming, ref bool streaming, out ErrorInfo loss)
        {
            loss = null;
            ServerMessage msg;
            try
            {
                msg = ProtocolCodec.Decode(parts);
            }
            catch (MalformedMessageException e)
            {
                if (e.Type == "frame" && streaming) Interlocked.Increment(ref creditsOwed);  // it used a credit
                Report(new ErrorInfo(ErrorCodes.BadMessage, "The runtime at " + Endpoint + " sent a "
                    + "message that does not follow protocol " + ProtocolVersion + " (" + e.Message + "); it was ignored. "
                    + "If this repeats, check that the port is a StreamDiT runtime's ZeroMQ port and that the runtime's "
                    + "protocol version is " + ProtocolCodec.Major + ".x", 0, false, false));
                return Outcome.Continue;
            }
            switch (msg.Type)
            {
                case "handshake_reply":
                    return OnHandshakeReply(zc, (SessionInfo)msg.Body, ref streaming);
                case "frame":
                    if (streaming) OnFrame((Frame)msg.Body);
                    else Report(BadOrder("a frame"));
                    return Outcome.Continue;
                case "event_ack":
                    Invoke(EventApplied, (EventAck)msg.Body, "EventApplied");
                    return Outcome.Continue;
                case "stats":
                    stats = (SessionStats)msg.Body;
                    return Outcome.Continue;
                case "error":
                    return OnError((ErrorInfo)msg.Body, resuming, streaming, out loss);
                case "closed":
                    return OnClosed(msg.ClosedCode, msg.ClosedReason);
                default:
                    return Outcome.Continue;  // runtime_info, model_list, or a type of a newer minor version
            }
        }

        Outcome OnHandshakeReply(ITransport zc, SessionInfo reply, ref bool streaming)
        {
            if (streaming)
            {
                Report(BadOrder("a second handshake_reply"));
                return Outcome.Continue;
            }
            int major;
            if (!TryMajor(reply.ProtocolVersion, out major) || major != ProtocolCodec.Major)
            {
                TrySend(zc, ProtocolCodec.Close("protocol version mismatch"));
                Fail(new ErrorInfo(ErrorCodes.VersionMismatch, "The runtime at " + Endpoint + " speaks "
                    + "protocol " + reply.ProtocolVersion + " but this package (com.streamdit.sdk " + PackageVersion
                    + ") speaks " + ProtocolVersion + ": the major versions differ, so they cannot work together. Update "
                    + "the side that is behind (docs/protocol.md section 8)", 0, true, false));
                return Outcome.Finished;
            }
            streaming = true;
            if (reply.Resumed) Interlocked.Increment(ref reconnects);
            info = reply;
            SetState(StreamDiTSessionState.Streaming);
            Invoke(Connected, reply, "Connected");
            return Outcome.Continue;
        }

        Outcome OnError(ErrorInfo err, bool resuming, bool streaming, out ErrorInfo loss)
        {
            loss = null;
            if (streaming)
            {
                if (err.Fatal)
                {
                    Fail(err);  // the runtime ended the session; its closed{code: "error"} follows
                    return Outcome.Finished;
                }
                Report(err);
                return Outcome.Continue;
            }
            var refusal = new ErrorInfo(err.Code, "The runtime at " + Endpoint + " refused the " + (resuming
                ? "resume" : "handshake") + " (" + err.Code + "): " + err.Message, err.EventId, true, true);
            if (resuming && (err.Code == ErrorCodes.TooManySessions || err.Code == ErrorCodes.ShuttingDown
                || err.Code == ErrorCodes.Internal))
            {
                loss = refusal;  // may pass: try again until the resume window ends
                return Outcome.Lost;
            }
            Fail(refusal);
            return Outcome.Finished;
        }

        Outcome OnClosed(string code, string reason)
        {
            if (code == "client_close" || closeRequested)
            {
                Finish(code.Length > 0 ? code : "client_close", reason, closeRequested);
                return Outcome.Finished;
            }
            if (code == "shutdown")
                Fail(new ErrorInfo(ErrorCodes.ShuttingDown, "The runtime at " + Endpoint + " closed the "
                    + "session: " + reason + ". Start a new session when the runtime is back", 0, true, true), code, reason);
            else
                Fail(new ErrorInfo(ErrorCodes.SessionClosed, "The runtime at " + Endpoint + " closed the "
                    + "session (" + code + (code == "replaced" ? ": it was resumed on another connection" : "") + "): "
                    + reason, 0, true, true), code, reason);
            return Outcome.Finished;
        }

        void OnFrame(Frame f)
        {
            Interlocked.Increment(ref framesReceived);
            if (options.FlipRowsBottomUp)
            {
                f.Pixels = FlipRows(f.Pixels, f.Width, f.Height);
                f.BottomUp = true;
            }
            f.ReceivedUs = Frame.MonotonicUs();
            f.Generation = Volatile.Read(ref generation);
            Frame dropped = frames.Add(f);
            if (dropped != null)
            {
                Interlocked.Increment(ref framesDropped);
                if (dropped.Generation == f.Generation) Interlocked.Increment(ref creditsOwed);  // consumed, by dropping
            }
            Action handler = FrameReceived;
            if (handler != null)
            {
                try { handler(); }
                catch (Exception e) { Report(CallbackError("FrameReceived", e)); }
            }
        }

        void Flush(ITransport zc)
        {
            int n = Interlocked.Exchange(ref creditsOwed, 0);
            if (n > 0 && !TrySend(zc, ProtocolCodec.Credit(n))) return;
            PendingChange change;
            while (outbox.TryPeek(out change))
            {
                if (!TrySend(zc, change.Parts)) return;  // the connection failed: it stays queued for the resume
                outbox.TryDequeue(out change);
                Interlocked.Decrement(ref outboxCount);
            }
            FlushSources(zc);  // source frames after the changes queued before them (StreamDiTSessionV2V.cs)
        }

        static bool TrySend(ITransport zc, byte[][] parts)
        {
            try
            {
                zc.Send(parts);
                return true;
            }
            catch (StreamDiTException)
            {
                return false;  // faulted: the loop sees zc.FaultMessage next
            }
        }

        /// <summary>The transport of one attempt: options.TransportFactory's, or a ZmtpClient. A factory that throws
        /// or returns null ends the session with a fatal transport error that names the problem.</summary>
        bool TryCreateTransport(out ITransport transport)
        {
            TransportFactory factory = options.TransportFactory;
            if (factory == null)
            {
                transport = new ZmtpClient(options.Host, options.Port);
                return true;
            }
            string problem;
            try
            {
                transport = factory(options.Host, options.Port);
                problem = transport == null ? "returned null; it must return a new ITransport for each attempt" : null;
            }
            catch (Exception e)
            {
                transport = null;
                problem = "threw " + e.GetType().Name + ": " + e.Message;
            }
            if (problem == null) return true;
            Fail(new ErrorInfo(ErrorCodes.Transport, "StreamDiTSessionOptions.TransportFactory " + problem
                + " (connecting to " + Endpoint + ")", 0, true, false));
            return false;
        }

        static byte[] FlipRows(byte[] pixels, int width, int height)
        {
            int stride = width * 3;
            var flipped = new byte[pixels.Length];
            for (int y = 0; y < height; y++)
                Buffer.BlockCopy(pixels, y * stride, flipped, (height - 1 - y) * stride, stride);
            return flipped;
        }

        static bool TryMajor(string version, out int major)
        {
            major = 0;
            string[] p = (version ?? "").Split('.');
            int minor;
            return p.Length == 2 && int.TryParse(p[0], out major) && int.TryParse(p[1], out minor) && major >= 0 && minor >= 0;
        }

        ErrorInfo BadOrder(string what)
        {
            return new ErrorInfo(ErrorCodes.BadMessage, "The runtime at " + Endpoint + " sent " + what
                + " out of order (before the handshake reply or after it); it was ignored", 0, false, false);
        }

        bool WaitForCloseRequest(int milliseconds)
        {
            long end = NowMs() + milliseconds;
            while (!closeRequested)
            {
                long left = end - NowMs();
                if (left <= 0) return false;
                wake.WaitOne((int)left);
            }
            return true;
        }

        static long NowMs()
        {
            return Frame.MonotonicUs() / 1000;
        }

        static ErrorInfo AsFatal(ErrorInfo e, string suffix = "")
        {
            return new ErrorInfo(e.Code, e.Message + suffix, e.EventId, true, e.FromRuntime);
        }
    }
}

using System;

namespace StreamDiT.Core
{
    // The state and the events of StreamDiTSession, as its background thread changes and raises them: a handler that
    // throws is reported as callback_failed, and a failing Error handler is ignored (reporting it would loop).
    public sealed partial class StreamDiTSession
    {
        void SetState(StreamDiTSessionState s)
        {
            lock (gate)
            {
                if (state == s || state == StreamDiTSessionState.Closed || state == StreamDiTSessionState.Failed) return;
                state = s;
            }
            Invoke(StateChanged, s, "StateChanged");
        }

        void Report(ErrorInfo e)
        {
            lastError = e;
            Action<ErrorInfo> handler = Error;
            if (handler == null) return;
            try { handler(e); }
            catch (Exception) { /* reporting a failing error handler through itself would loop */ }
        }

        void Fail(ErrorInfo e, string code = "error", string reason = null)
        {
            closeCode = code;
            closeMessage = reason ?? e.Message;
            Report(e);
            SetState(StreamDiTSessionState.Failed);
        }

        void Finish(string code, string reason, bool confirmed)
        {
            closeCode = code;
            closeMessage = reason;
            closeConfirmed = confirmed;
            SetState(StreamDiTSessionState.Closed);
        }

        void Invoke<T>(Action<T> handler, T arg, string name)
        {
            if (handler == null) return;
            try { handler(arg); }
            catch (Exception e) { Report(CallbackError(name, e)); }
        }

        ErrorInfo CallbackError(string name, Exception e)
        {
            return new ErrorInfo(ErrorCodes.CallbackFailed, "A handler of StreamDiTSession." + name
                + " threw " + e.GetType().Name + ": " + e.Message + " (the session goes on; fix the handler)", 0, false, false);
        }
    }
}

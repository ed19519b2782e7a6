// Test program for StreamDiT.Core, compiled by Mono's mcs against StreamDiT.Core.dll as CoreTests.exe: it sees the
// public API and, through [assembly: InternalsVisibleTo("CoreTests")] in Runtime/Core/AssemblyInfo.cs, the codec internals.
//   mono CoreTests.exe unit                 unit tests: framing, decoder, msgpack, client, session (fake peers), transport (fake ITransport), recording, v2v
//   mono CoreTests.exe interop HOST PORT    echo suite against a real libzmq ROUTER (tests/test_unity_core.py)
//   mono CoreTests.exe limits HOST PORT     oversize-message and peer-closed faults against a real libzmq ROUTER
//   mono CoreTests.exe live HOST PORT       StreamDiTSession against a live `streamdit serve` (LiveTests.cs)
//   mono CoreTests.exe promptmap            prints the Crafter sample's prompt map (checked against events.py)
//   mono CoreTests.exe record DIR           writes a recording into DIR (RecordingTests.WriteFixture)
// Each mode prints one line per test and closes with "MODE: N passed, N failed"; the exit code is 0 only
// when nothing failed.
using System;
using System.Collections.Generic;
using System.Threading;
using StreamDiT.Core;

namespace StreamDiT.Tests
{
    sealed class TestFailure : Exception
    {
        public TestFailure(string message) : base(message) { }
    }

    static class Check
    {
        public static void True(bool condition, string what)
        {
            if (!condition) throw new TestFailure(what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new TestFailure(what + ": expected <" + expected + "> but got <" + actual + ">");
        }

        public static void Bytes(byte[] expected, byte[] actual, string what)
        {
            if (expected == null || actual == null || expected.Length != actual.Length)
                throw new TestFailure(what + ": expected " + Hex(expected) + " but got " + Hex(actual));
            for (int i = 0; i < expected.Length; i++)
                if (expected[i] != actual[i])
                    throw new TestFailure(what + ": first difference at byte " + i + ": expected " + Hex(expected) + " but got " + Hex(actual));
        }

        public static T Throws<T>(Action action, string what) where T : Exception
        {
            try
            {
                action();
            }
            catch (T e)
            {
                return e;
            }
            catch (Exception e)
            {
                throw new TestFailure(what + ": expected " + typeof(T).Name + " but got " + e.GetType().Name + ": " + e.Message);
            }
            throw new TestFailure(what + ": expected " + typeof(T).Name + " but nothing was thrown");
        }

        public static string Hex(byte[] b)
        {
            if (b == null) return "null";
            int n = Math.Min(b.Length, 24);
            var s = new System.Text.StringBuilder();
            for (int i = 0; i < n; i++) s.Append(b[i].ToString("x2")).Append(i + 1 < n ? " " : "");
            if (b.Length > n) s.Append(" ... (" + b.Length + " bytes)");
            return "[" + s + "]";
        }

        public static byte[] Pattern(int length, int seed)
        {
            var b = new byte[length];
            for (int i = 0; i < length; i++) b[i] = (byte)((i + seed) % 251);
            return b;
        }

        /// <summary>Polls until the condition holds or the timeout passes; returns the condition's last value.</summary>
        public static bool WaitFor(Func<bool> condition, int timeoutMs)
        {
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!condition())
            {
                if (DateTime.UtcNow > deadline) return condition();
                Thread.Sleep(5);
            }
            return true;
        }
    }

    sealed class TestRunner
    {
        readonly string mode;
        readonly List<KeyValuePair<string, Action>> tests = new List<KeyValuePair<string, Action>>();

        public TestRunner(string mode) { this.mode = mode; }

        public void Add(string name, Action test) { tests.Add(new KeyValuePair<string, Action>(name, test)); }

        /// <summary>Runs each test on its own thread with a time limit, so a hang fails the test instead of the run.</summary>
        public int Run(int timeoutMs)
        {
            int passed = 0, failed = 0;
            foreach (var t in tests)
            {
                Exception error = null;
                var thread = new Thread(() =>
                {
                    try { t.Value(); }
                    catch (Exception e) { error = e; }
                }) { IsBackground = true };
                thread.Start();
                if (!thread.Join(timeoutMs))
                    error = new TestFailure("did not finish within " + timeoutMs + " ms (hang)");
                if (error == null)
                {
                    passed++;
                    Console.WriteLine("PASS " + t.Key);
                }
                else
                {
                    failed++;
                    Console.WriteLine("FAIL " + t.Key + ": " + (error is TestFailure ? error.Message : error.ToString()));
                }
            }
            Console.WriteLine(mode + ": " + passed + " passed, " + failed + " failed");
            return failed == 0 && passed > 0 ? 0 : 1;
        }
    }

    static class TestMain
    {
        static int Main(string[] args)
        {
            string mode = args.Length > 0 ? args[0] : "";
            if (mode == "unit" && args.Length == 1)
            {
                var runner = new TestRunner("unit");
                ZmtpFramingTests.Register(runner);
                MsgPackTests.Register(runner);
                ZmtpClientTests.Register(runner);
                SessionTests.Register(runner);
                TransportTests.Register(runner);
                RecordingTests.Register(runner);
                V2VTests.Register(runner);
                return runner.Run(20000);
            }
            if (mode == "live" && args.Length == 3)
            {
                var runner = new TestRunner("live");
                LiveTests.Register(runner, args[1], int.Parse(args[2]));
                return runner.Run(90000);
            }
            if (mode == "record" && args.Length == 2)
                return RecordingTests.WriteFixture(args[1]);
            if (mode == "promptmap" && args.Length == 1)
            {
                Console.Write(StreamDiT.Samples.CrafterEvents.CrafterPromptMap.Build());
                return 0;
            }
            if ((mode == "interop" || mode == "limits") && args.Length == 3)
            {
                var runner = new TestRunner(mode);
                if (mode == "interop") InteropTests.RegisterEcho(runner, args[1], int.Parse(args[2]));
                else InteropTests.RegisterLimits(runner, args[1], int.Parse(args[2]));
                return runner.Run(30000);
            }
            Console.Error.WriteLine("usage: CoreTests.exe unit | interop HOST PORT | limits HOST PORT | live HOST PORT | promptmap | record DIR");
            return 2;
        }
    }
}

using System.Runtime.CompilerServices;

// The codec internals (msgpack, ZMTP framing and decoding) are internal: games use StreamDiTSession and
// ZmtpClient. The Mono test program (CoreTests.exe, built by tests/test_unity_core.py) tests them directly.
[assembly: InternalsVisibleTo("CoreTests")]

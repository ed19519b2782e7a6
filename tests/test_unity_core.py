"""The Unity package's C# core (engine_plugins/unity/com.streamdit.sdk/Runtime/Core), built and run with Mono.

What runs where:
- layout checks (package.json, the asmdef, a .meta beside every asset) need nothing but Python;
- the C# tests need Mono's `mcs` and `mono`, which CI installs with
  `apt-get install -y --no-install-recommends mono-mcs` (mono-mcs pulls in mono-runtime). Without them the
  tests are skipped with that reason, never passed.

The core is compiled on its own into StreamDiT.Core.dll (as Unity compiles the StreamDiT.Core asmdef), so the
test program sees its public API, and its codec internals (msgpack, ZMTP framing) only through
`[assembly: InternalsVisibleTo("CoreTests")]`: the test program must be CoreTests.exe, and any other assembly
(a game's) cannot reach them. The build fixture is session-scoped and shared with
tests/test_unity_session.py (live runtime) and tests/test_unity_layer.py (Unity layer compile check). The interop tests run the C# DEALER against a real libzmq ROUTER
(pyzmq) on a random loopback port; the server msgpack-decodes what C# encoded and sends back what Python
encoded, so each codec is checked against the other.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import msgpack
import pytest
import zmq

import sdk
import sdk.errors

ROOT = Path(__file__).resolve().parents[1]
UNITY = ROOT / "engine_plugins" / "unity"
PACKAGE = UNITY / "com.streamdit.sdk"
CORE = PACKAGE / "Runtime" / "Core"
CS_TESTS = UNITY / "tests"
# Plain C# from the sample (no UnityEngine): the live tests send this very prompt map to the runtime.
SAMPLE_PROMPT_MAP = PACKAGE / "Samples~" / "CrafterEvents" / "CrafterPromptMap.cs"
MONO_INSTALL = "apt-get install -y --no-install-recommends mono-mcs"
RUN_TIMEOUT_S = 180
MCS = ["mcs", "-langversion:7", "-warn:4", "-warnaserror+", "-debug"]  # C# 7: what every Unity and mcs accept


def _pattern(length: int, seed: int) -> bytes:
    """Mirror of Check.Pattern in TestHarness.cs."""
    return bytes((i + seed) % 251 for i in range(length))


# Mirror of InteropTests.AllTypes in InteropTests.cs: change both together.
ALL_TYPES: dict = {
    "nil": None, "t": True, "f": False,
    "fixint": 127, "u8": 255, "u16": 65535, "u32": 2**32 - 1, "u64": 2**64 - 1,
    "negfix": -32, "i8": -128, "i16": -32768, "i32": -(2**31), "i64": -(2**63),
    "f32": 1.5, "f64": 0.1,
    "str": "héllo ✓ \U0001F3AE", "str8": "a" * 200, "str16": "b" * 300,
    "bin8": _pattern(200, 0), "bin16": _pattern(300, 0),
    "arr": [1, "two", [3.25, None]],
    "map": {"k": "v", "n": {"deep": True}},
}
# Mirror of InteropTests.CheckPythonMap.
PYTHON_MAP: dict = {
    "from": "python", "u64": 2**64 - 1, "i64": -(2**63), "neg": -33, "f64": 0.1, "s": "héllo ✓",
    "b": b"\x00\xff", "list": [1, None, True, False, "x"], "nested": {"a": {"b": [1.5]}},
    "big_str": "x" * 300, "big_bin": bytes(70000),
}


# ----------------------------------------------------------------------------------------------- layout


def test_package_manifest_and_core_asmdef():
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "com.streamdit.sdk"
    assert manifest["version"] == sdk.__version__  # the one version source, sdk/_version.py
    assert manifest["unity"] == "2021.3"
    assert manifest["displayName"] and manifest["description"]
    asmdef = json.loads((CORE / "StreamDiT.Core.asmdef").read_text(encoding="utf-8"))
    assert asmdef["name"] == "StreamDiT.Core"
    assert asmdef["noEngineReferences"] is True
    assert asmdef.get("references", []) == []


def test_every_package_asset_has_a_unique_meta():
    """Unity ignores files without a .meta in a package installed from git (an immutable folder).

    Folders ending in "~" (Samples~) are hidden from Unity, so they have no .meta themselves; their contents keep
    theirs, so an imported sample has stable GUIDs."""
    guids: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.name.endswith("~"):
            assert not Path(str(path) + ".meta").exists(), f"{path} is hidden from Unity and must not have a .meta"
            continue
        if path.suffix == ".meta":
            asset = path.with_suffix("")
            assert asset.exists(), f"{path} has no asset beside it"
            match = re.search(r"^guid: ([0-9a-f]{32})$", path.read_text(encoding="utf-8"), re.M)
            assert match, f"{path} has no 32-hex-digit guid"
            assert match.group(1) not in guids, f"{path} repeats the guid of {guids.get(match.group(1))}"
            guids[match.group(1)] = path
        else:
            assert Path(str(path) + ".meta").exists(), f"{path} has no .meta file"


def test_error_codes_are_the_python_sdks():
    """ErrorCodes (ErrorInfo.cs) holds every wire error code of sdk/errors.py (its one definition), and beyond
    them only the codes the C# client detects itself."""
    text = (CORE / "ErrorInfo.cs").read_text(encoding="utf-8")
    codes = set(re.findall(r'public const string \w+ = "([a-z_]+)";', text))
    runtime = set(sdk.errors.SERVER_ERRORS)
    assert runtime <= codes, f"ErrorCodes lacks the wire codes {sorted(runtime - codes)}"
    assert codes - runtime == {"transport", "timeout", "session_closed", "queue_full", "callback_failed"}


def test_core_uses_only_the_base_library():
    for source in sorted(CORE.glob("*.cs")):
        text = source.read_text(encoding="utf-8")
        assert "UnityEngine" not in text, f"{source.name} uses UnityEngine; the core must not"
        assert "Span<" not in text and "#nullable" not in text, f"{source.name} uses syntax Mono's mcs lacks"


# ------------------------------------------------------------------------------------------- C# (Mono)


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


_BUILT: dict[str, Path] = {}  # one build per pytest run, also when other modules import the fixture


@pytest.fixture(scope="session")
def core_tests_exe(tmp_path_factory) -> Path:
    """Compiles StreamDiT.Core.dll, then CoreTests.exe against it (with the sample's prompt map); warnings are
    errors in both. Both land in the same directory."""
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        pytest.skip(f"Mono is not installed (mcs/mono not on PATH); install it with: {MONO_INSTALL}")
    if "exe" in _BUILT:
        return _BUILT["exe"]
    out = tmp_path_factory.mktemp("unity_core")
    dll = out / "StreamDiT.Core.dll"
    exe = out / "CoreTests.exe"
    core = _run([*MCS, "-target:library", f"-out:{dll}", *map(str, sorted(CORE.glob("*.cs")))])
    assert core.returncode == 0, f"mcs failed on Runtime/Core:\n{core.stdout}{core.stderr}"
    assert "warning" not in core.stdout + core.stderr
    tests = _run([*MCS, f"-r:{dll}", f"-out:{exe}", *map(str, sorted(CS_TESTS.glob("*.cs"))), str(SAMPLE_PROMPT_MAP)])
    assert tests.returncode == 0, f"mcs failed on the C# tests:\n{tests.stdout}{tests.stderr}"
    _BUILT["exe"] = exe
    return exe


def test_codec_internals_are_internal_to_other_assemblies(core_tests_exe, tmp_path):
    """A game's assembly reaches StreamDiTSession but not the msgpack or ZMTP framing classes (CS0122)."""
    dll = core_tests_exe.parent / "StreamDiT.Core.dll"
    for use, visible in (("StreamDiT.Core.MsgPack.Encode(null);", False),
                         ("new StreamDiT.Core.ZmtpDecoder(1024, true);", False),
                         ("StreamDiT.Core.ZmtpFraming.EncodeGreeting();", False),
                         ("new StreamDiT.Core.StreamDiTSessionOptions();", True)):
        source = tmp_path / "Game.cs"
        source.write_text("static class Game { static void Main() { " + use + " } }\n", encoding="utf-8")
        result = _run([*MCS, f"-r:{dll}", f"-out:{tmp_path / 'Game.exe'}", str(source)])
        if visible:
            assert result.returncode == 0, f"{use} should compile:\n{result.stdout}{result.stderr}"
        else:
            assert result.returncode != 0 and "CS0122" in result.stdout + result.stderr, (
                f"{use} compiled from another assembly; the codec classes must be internal:\n{result.stdout}")


def _run_mode(exe: Path, *args: str) -> str:
    result = _run(["mono", "--debug", str(exe), *args], cwd=exe.parent)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"C# {args[0]} tests failed (exit {result.returncode}):\n{output}"
    summary = re.search(rf"^{args[0]}: (\d+) passed, (\d+) failed$", result.stdout, re.M)
    assert summary, f"no summary line in:\n{output}"
    assert int(summary.group(2)) == 0 and int(summary.group(1)) > 0, output
    assert "FAIL" not in result.stdout
    return result.stdout


def test_csharp_unit_tests(core_tests_exe):
    stdout = _run_mode(core_tests_exe, "unit")
    for area in ("framing:", "decoder:", "msgpack:", "client:", "session:", "transport:", "recording:", "v2v:"):
        assert f"PASS {area}" in stdout, f"no {area} tests ran"


class RouterServer:
    """A pyzmq ROUTER on a random 127.0.0.1 port, serving one test on a background thread.

    Each message is [identity, tag, *rest]. "maps" is checked against ALL_TYPES and echoed with
    PYTHON_MAP appended; "oversize" gets a 100000-byte reply; "bye" closes the socket; anything else is
    echoed. Problems are collected in `errors` (a failed check still echoes, so C# does not hang).
    """

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 1000)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(50):
                    continue
                identity, tag, *rest = self.socket.recv_multipart()
                name = tag.decode()
                self.tags[name] = self.tags.get(name, 0) + 1
                if name == "bye":
                    return
                if name == "oversize":
                    self.socket.send_multipart([identity, bytes(100_000)])
                    continue
                reply = [identity, tag, *rest]
                if name == "maps":
                    self._check_maps(rest)
                    reply.append(msgpack.packb(PYTHON_MAP))
                self.socket.send_multipart(reply)
        except Exception as exc:  # reported by the test, not lost in the thread
            self.errors.append(f"server: {exc!r}")
        finally:
            self.socket.close()

    def _check_maps(self, rest: list[bytes]) -> None:
        if len(rest) != 3:
            self.errors.append(f"maps: expected 3 parts after the tag, got {len(rest)}")
            return
        one_kb, all_types, exact = rest
        if one_kb != _pattern(1024, 0):
            self.errors.append("maps: the 1 KB part differs")
        decoded = msgpack.unpackb(all_types, raw=False, strict_map_key=True)
        if decoded != ALL_TYPES:
            diff = {k: (v, decoded.get(k)) for k, v in ALL_TYPES.items() if decoded.get(k) != v}
            self.errors.append(f"maps: C# map decodes differently in Python: {diff}")
        if b"\xa3f32\xca\x3f\xc0\x00\x00" not in all_types:
            self.errors.append("maps: a C# float is not encoded as float32")
        without_f32 = {k: v for k, v in ALL_TYPES.items() if k != "f32"}
        if exact != msgpack.packb(without_f32):
            self.errors.append("maps: C# bytes differ from Python's msgpack.packb of the same map")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.context.term()


@pytest.fixture()
def router():
    server = RouterServer()
    yield server
    server.close()


def test_csharp_dealer_against_libzmq_router(core_tests_exe, router):
    _run_mode(core_tests_exe, "interop", "127.0.0.1", str(router.port))
    assert router.errors == []
    assert router.tags == {"maps": 1, "big": 1, "empty": 1, "seq": 200}


def test_csharp_dealer_limits_against_libzmq_router(core_tests_exe, router):
    _run_mode(core_tests_exe, "limits", "127.0.0.1", str(router.port))
    assert router.errors == []
    assert router.tags == {"oversize": 1, "bye": 1}

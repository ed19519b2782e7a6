"""The Unity package README's C# blocks, compiled with Mono's mcs (issue 16): what a game developer copies must
build as written.

Every ```csharp block of engine_plugins/unity/com.streamdit.sdk/README.md is a whole file. Each is compiled by
mcs (C# 7, warnings as errors) against StreamDiT.Core.dll, and the Unity examples also against the Unity layer
and the UnityEngine stand-in of engine_plugins/unity/tests/stubs (compile-checked only: nothing compiled against
the stub runs). A block with a `static void Main` (the core used without Unity) is built as a program and run by
mono against a live runtime (in process, tiny random-weight model) that has a default prompt map and gets
none from the program: only its port is changed, from the README's 5557 to the runtime's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from godot_helpers import fenced_blocks
from serving_helpers import served
from test_unity_core import MCS, PACKAGE, ROOT, _run, core_tests_exe  # noqa: F401  (the session-scoped build)
from test_unity_layer import build_layer

README = PACKAGE / "README.md"
BLOCKS = fenced_blocks(README, "csharp")
IDS = [f"README_L{line}" for line, _ in BLOCKS]
CRAFTER_MAP = ROOT / "engine_plugins" / "godot" / "sample" / "crafter_prompts.toml"


@pytest.fixture(scope="module")
def libraries(core_tests_exe, tmp_path_factory) -> list[Path]:  # noqa: F811
    """StreamDiT.Core.dll, the stub UnityEngine.dll and StreamDiT.Unity.dll."""
    core = core_tests_exe.parent / "StreamDiT.Core.dll"
    return [core, *build_layer(core, tmp_path_factory.mktemp("unity_readme"))]


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 2, f"expected the MonoBehaviour and the core examples, found {len(BLOCKS)} blocks"
    assert any("static void Main" in code for _, code in BLOCKS), "no example of the core without Unity"


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=IDS)
def test_csharp_block_compiles(libraries, tmp_path, code):
    source = tmp_path / "Snippet.cs"
    source.write_text(code, encoding="utf-8")
    program = "static void Main" in code
    target = ["-target:exe", f"-out:{tmp_path / 'Snippet.exe'}"] if program else \
        ["-target:library", f"-out:{tmp_path / 'Snippet.dll'}"]
    refs = libraries[:1] if program else libraries  # a program uses the core alone: no UnityEngine there
    result = _run([*MCS, *target, *(f"-r:{lib}" for lib in refs), str(source)])
    assert result.returncode == 0, f"the README block does not compile:\n{result.stdout}{result.stderr}"
    assert "warning" not in result.stdout + result.stderr, result.stdout


def test_core_example_runs_against_a_live_runtime(libraries, tmp_path):
    code = next(code for _, code in BLOCKS if "static void Main" in code)
    assert "Port = 5557" in code, "the example no longer names the default port"
    core = libraries[0]
    exe = tmp_path / "StreamTool.exe"
    with served(prompt_map=CRAFTER_MAP.read_text(encoding="utf-8"), prompt_map_source="test") as rt:
        port = rt.zmq_url.rsplit(":", 1)[1]
        (tmp_path / "StreamTool.cs").write_text(code.replace("Port = 5557", f"Port = {port}"), encoding="utf-8")
        built = _run([*MCS, "-target:exe", f"-out:{exe}", f"-r:{core}", str(tmp_path / "StreamTool.cs")])
        assert built.returncode == 0, built.stdout + built.stderr
        (tmp_path / core.name).write_bytes(core.read_bytes())  # mono finds the core beside the program
        proc = subprocess.run(["mono", str(exe)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    frames = re.findall(r"^(\d+) (\d+)x(\d+)( zombie)?$", proc.stdout, re.M)
    assert len(frames) == 30, output
    assert [int(f[0]) for f in frames] == sorted(int(f[0]) for f in frames), "frames out of order"
    # No map sent: the runtime's default turned the event into its Crafter prompt, and frames carried its id.
    assert re.search(r"^1: a zombie approaches$", proc.stdout, re.M), output
    assert any(f[3] for f in frames), "no frame carried the event's id"

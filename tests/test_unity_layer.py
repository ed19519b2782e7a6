"""The Unity layer (Runtime/Unity) and the sample (Samples~), compile-checked with Mono's mcs against a stub.

There is no Unity here: engine_plugins/unity/tests/stubs/*.cs declare the few UnityEngine types
these scripts use, with Unity's signatures, and are compiled into a stub UnityEngine.dll. Compiling against it
proves the scripts are well-formed C# 7 that uses StreamDiT.Core's public API correctly and only those UnityEngine
members; it does not prove they behave in Unity (nothing compiled against the stub is run). The package README
says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_unity_core import MCS, PACKAGE, UNITY, _run, core_tests_exe  # noqa: F401  (the session-scoped build)

UNITY_LAYER = PACKAGE / "Runtime" / "Unity"
SAMPLE = PACKAGE / "Samples~" / "CrafterEvents"
STUBS = sorted((UNITY / "tests" / "stubs").glob("*.cs"))  # UnityEngine (and UnityEngine.UI) stand-ins


def test_unity_asmdefs_reference_the_core():
    layer = json.loads((UNITY_LAYER / "StreamDiT.Unity.asmdef").read_text(encoding="utf-8"))
    assert layer["name"] == "StreamDiT.Unity" and layer["references"] == ["StreamDiT.Core"]
    assert layer["noEngineReferences"] is False
    sample = json.loads((SAMPLE / "StreamDiT.Samples.CrafterEvents.asmdef").read_text(encoding="utf-8"))
    assert sample["references"] == ["StreamDiT.Core", "StreamDiT.Unity"]
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert [s["path"] for s in manifest["samples"]] == ["Samples~/CrafterEvents"]


def test_unity_layer_never_throws_and_documents_its_settings():
    """Nothing may throw on Unity's main thread; every inspector field has a tooltip."""
    for source in sorted(UNITY_LAYER.glob("*.cs")) + sorted(SAMPLE.glob("*.cs")):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"\bthrow\b", text), f"{source.name} throws; report through LastError/ErrorOccurred"
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if "[SerializeField]" in line:
                above = "\n".join(lines[max(0, i - 3):i + 1])
                assert "[Tooltip(" in above, f"{source.name}:{i + 1} has no [Tooltip]: {line.strip()}"


def build_layer(core: Path, out: Path) -> tuple[Path, Path]:
    """mcs: the stub UnityEngine.dll, then StreamDiT.Unity.dll (Runtime/Unity) against it and `core`, both in
    `out`; warnings are errors. Returns (UnityEngine.dll, StreamDiT.Unity.dll)."""
    engine, layer = out / "UnityEngine.dll", out / "StreamDiT.Unity.dll"
    compile_library("the UnityEngine stub", [f"-out:{engine}", *map(str, STUBS)])
    compile_library("Runtime/Unity", [f"-r:{core}", f"-r:{engine}", f"-out:{layer}",
                                      *map(str, sorted(UNITY_LAYER.glob("*.cs")))])
    return engine, layer


def compile_library(what: str, args: list[str]) -> None:
    """mcs -target:library with `args`; fails the test with mcs's output on an error or a warning."""
    result = _run([*MCS, "-target:library", *args])
    assert result.returncode == 0, f"mcs failed on {what}:\n{result.stdout}{result.stderr}"
    assert "warning" not in result.stdout + result.stderr, f"{what}:\n{result.stdout}"


@pytest.mark.parametrize("defines", [[], ["-define:ENABLE_LEGACY_INPUT_MANAGER"]], ids=["new-input", "legacy-input"])
def test_unity_layer_and_sample_compile_against_a_unityengine_stub(core_tests_exe, tmp_path, defines):  # noqa: F811
    core = core_tests_exe.parent / "StreamDiT.Core.dll"
    engine, layer = build_layer(core, tmp_path)
    compile_library("Samples~/CrafterEvents", [f"-r:{core}", f"-r:{engine}", f"-r:{layer}",
                                               f"-out:{tmp_path / 'Sample.dll'}", *defines,
                                               *map(str, sorted(SAMPLE.glob("*.cs")))])

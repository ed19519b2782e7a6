"""The package as PyPI users get it: one version everywhere, the license, the declared dependencies, typed
exports, fresh generated protocol code, and a wheel that holds everything `streamdit demo` needs."""

from __future__ import annotations

import ast
import importlib.metadata as md
import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import sdk
from packaging_helpers import ROOT, build_wheel, copy_tree, unpack
from sdk._version import __version__

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
GODOT = ROOT / "engine_plugins/godot/addons/streamdit"
UNITY = ROOT / "engine_plugins/unity/com.streamdit.sdk"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_names(reqs: list[str]) -> set[str]:
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", r)[0]) for r in reqs}


# ----------------------------------------------------------------------------------- one version


def test_every_version_is_the_one_in_sdk_version() -> None:
    from runtime.serving.server import SERVER_VERSION
    from sdk.session import Session

    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sdk._version.__version__"}
    found = {
        "sdk.__version__": sdk.__version__,
        "installed metadata": md.version("streamdit"),
        "runtime SERVER_VERSION": SERVER_VERSION,
        "sdk.Session client_version": inspect.signature(Session).parameters["client_version"].default,
        "Godot plugin.cfg": re.search(r'^version="([^"]+)"', (GODOT / "plugin.cfg").read_text(), re.M)[1],
        "Godot CLIENT_VERSION": re.search(r'const CLIENT_VERSION := "([^"]+)"', (GODOT / "protocol.gd").read_text())[1],
        "Unity package.json": json.loads((UNITY / "package.json").read_text())["version"],
        "Unity PackageVersion": re.search(r'PackageVersion = "([^"]+)"',
                                          (UNITY / "Runtime/Core/StreamDiTSession.cs").read_text())[1],
    }
    assert {k: v for k, v in found.items() if v != __version__} == {}, f"not {__version__}: {found}"


# ----------------------------------------------------------------------------------- license


def test_the_license_is_apache_2_everywhere() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert PYPROJECT["project"]["license"] == "Apache-2.0" and PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert json.loads((UNITY / "package.json").read_text())["license"] == "Apache-2.0"
    assert (GODOT / "LICENSE").read_text() == text
    assert (UNITY / "LICENSE.md").read_text() == text
    assert "guid:" in (UNITY / "LICENSE.md.meta").read_text()  # Unity ignores a package file without a .meta


def test_requires_python_matches_the_readme() -> None:
    readme = re.search(r"Python (\d+\.\d+)\+", (ROOT / "README.md").read_text())
    assert readme, "the README should say which Python it needs (e.g. 'Python 3.11+')"
    assert PYPROJECT["project"]["requires-python"] == f">={readme[1]}"
    assert readme[1] == "3.11"  # tomllib (runtime/serving/prompt_map.py and others) is new in 3.11


# ----------------------------------------------------------------------------------- dependencies


def _imports(folder: str) -> dict[str, set[str]]:
    """Top-level modules imported by the .py files under `folder` -> the files importing them."""
    out: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                out.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return out


LOCAL = {"sdk", "runtime", "benchmarks", "samples"}
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
CORE = _dist_names(PYPROJECT["project"]["dependencies"])


def _third_party(folder: str) -> dict[str, set[str]]:
    return {m: f for m, f in _imports(folder).items() if m not in sys.stdlib_module_names and m not in LOCAL}


def test_every_imported_package_is_declared() -> None:
    dists = md.packages_distributions()
    allowed = {"sdk": CORE | _dist_names(EXTRAS["proto"]),  # sdk/protocol/generate.py: build time only
               "runtime": CORE | _dist_names(EXTRAS["runtime"]),
               "benchmarks": CORE | _dist_names(EXTRAS["runtime"]),
               "samples": CORE | _dist_names(EXTRAS["runtime"]) | _dist_names(EXTRAS.get("samples", []))}
    undeclared = {}
    for folder, ok in allowed.items():
        for module, files in _third_party(folder).items():
            # A package that is not installed here (an optional extra, e.g. vizdoom) is named by its module.
            if not {_norm(d) for d in dists.get(module, [module])} & ok:
                undeclared[module] = sorted(files)
    assert undeclared == {}, f"imported but not declared where that code is installed: {undeclared}"


def test_every_declared_package_is_imported() -> None:
    dists = md.packages_distributions()
    imported = {_norm(d) for folder in ("sdk", "runtime", "benchmarks", "samples")
                for module in _third_party(folder) for d in dists.get(module, [])}
    declared = CORE | _dist_names(EXTRAS["runtime"]) | _dist_names(EXTRAS["proto"])
    assert declared - imported == set(), "declared, but nothing imports it (drop it, or move it to its extra)"
    assert "torch" not in CORE and "grpcio-tools" not in CORE and "pillow" not in CORE and "imageio" not in CORE


# ----------------------------------------------------------------------------------- sdk as a typed library


def test_sdk_exports_are_visible_to_type_checkers() -> None:
    tree = ast.parse((ROOT / "sdk/__init__.py").read_text())
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            typed |= {a.asname or a.name for n in node.body if isinstance(n, ast.ImportFrom) for a in n.names}
        if isinstance(node, ast.ImportFrom) and node.col_offset == 0:
            typed |= {a.asname or a.name for a in node.names}
    assert set(sdk.__all__) - typed == set(), "names in sdk.__all__ that a type checker cannot see"
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None
    assert (ROOT / "sdk/py.typed").exists()


def test_generated_protocol_code_is_fresh() -> None:
    from sdk.protocol.generate import stale_files

    assert stale_files() == [], "run python -m sdk.protocol.generate after editing proto/"


# ----------------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    return build_wheel(copy_tree(tmp / "src"), tmp / "dist")


@pytest.mark.timeout(600)
def test_the_wheel_holds_the_package_data_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = z.read(meta).decode()
    for needed in ("sdk/py.typed", "sdk/_version.py", "sdk/video_io.py", "runtime/crafter_demo.py",
                   "runtime/serving/prompt_maps/crafter.toml", "runtime/checkpoints/default/model.safetensors",
                   "runtime/training/fit_teacher.toml",  # `streamdit fit`'s default teacher template
                   "runtime/checkpoints/low_latency/model.safetensors",  # `streamdit serve`'s second model
                   *(f"runtime/checkpoints/{c}/prompt_map.toml" for c in ("default", "low_latency", "teacher", "toy"))):
        assert needed in names, needed
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("samples/", "tests/", "benchmarks/")) for n in names)
    assert f"\nVersion: {__version__}\n" in metadata and "\nRequires-Python: >=3.11\n" in metadata
    core = [ln for ln in metadata.splitlines() if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    assert not any("torch" in ln for ln in core), core
    assert any(re.match(r'Requires-Dist: torch.*extra == "runtime"', ln) for ln in metadata.splitlines())


@pytest.mark.timeout(600)
def test_streamdit_demo_runs_from_the_installed_package(wheel: Path, tmp_path) -> None:
    site = unpack(wheel, tmp_path / "site")
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import runtime, runtime.crafter_demo as d; "
            "assert d.__file__.startswith(sys.path[0]), d.__file__; from runtime.cli import app; "
            "app(prog_name='streamdit')")
    env = {**os.environ, "STREAMDIT_COMPILE": "off", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    p = subprocess.run([sys.executable, "-c", code, str(site), "demo", "--seconds", "3", "--checkpoint", "toy",
                        "--out", "demo.mp4"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (work / "demo.mp4").stat().st_size > 0 and "wrote demo.mp4" in p.stdout, p.stdout

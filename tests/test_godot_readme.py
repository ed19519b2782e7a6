"""The Godot READMEs' code blocks, checked (issue 16): what a game developer copies must work as written.

- ```gdscript blocks of engine_plugins/godot/addons/streamdit/README.md (the addon's, for game developers) and
  engine_plugins/godot/README.md: parsed by gdtoolkit's gdparse (no engine needed), then loaded in the real
  engine, which parses and type-checks them against the addon's classes, and run there as nodes
  (engine_plugins/godot/tests/readme_snippets.gd: one child per $Name the snippet uses, its _on_* handlers
  called as the game would);
- ```toml blocks: valid prompt maps for the runtime's own parser;
- ```sh blocks: valid bash (`bash -n`), and the repository paths they name exist.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from godot_helpers import GODOT_DIR, ROOT, copy_project, engine_or_skip, fenced_blocks, import_project, run_godot
from runtime.serving.prompt_map import PromptMap

READMES = [GODOT_DIR / "addons" / "streamdit" / "README.md", GODOT_DIR / "README.md"]


def _blocks(language: str) -> list[tuple[str, str]]:
    """(name, code): name = README stem + line, e.g. "addon_README_L27"."""
    out = []
    for readme in READMES:
        prefix = "addon_README" if readme.parent.name == "streamdit" else "godot_README"
        out += [(f"{prefix}_L{line}", code) for line, code in fenced_blocks(readme, language)]
    return out


def test_the_readmes_have_gdscript_blocks() -> None:
    names = [name for name, _ in _blocks("gdscript")]
    assert len(names) >= 2, f"expected the usage and the recorder examples, found {names}"


@pytest.mark.parametrize("name,code", _blocks("gdscript"), ids=[n for n, _ in _blocks("gdscript")])
def test_gdscript_block_parses_with_gdparse(name: str, code: str, tmp_path: Path) -> None:
    gdparse = Path(sys.executable).parent / "gdparse"
    source = tmp_path / f"{name}.gd"
    source.write_text(code)
    proc = subprocess.run([str(gdparse), str(source)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{name} does not parse:\n{proc.stdout}{proc.stderr}"


def test_gdscript_blocks_load_and_run_in_the_engine(tmp_path: Path) -> None:
    engine_or_skip()
    project = copy_project(GODOT_DIR, tmp_path / "project", skip=("sample",))
    snippets = project / "readme_snippets"
    snippets.mkdir()
    blocks = _blocks("gdscript")
    for name, code in blocks:
        (snippets / f"{name}.gd").write_text(code)
    import_project(project)
    proc = run_godot(project, "-s", "res://tests/readme_snippets.gd", timeout=120, user_data=tmp_path / "userdata")
    output = proc.stdout + proc.stderr
    assert "SCRIPT ERROR" not in output and "Parse Error" not in output, "a README block fails (see the output)"
    assert proc.returncode == 0, f"readme_snippets.gd exited {proc.returncode}"
    results = json.loads((snippets / "results.json").read_text())
    assert sorted(results) == sorted(name for name, _ in blocks)
    for name, result in results.items():
        assert result["loaded"] and result["ran"], (name, result)
    # The usage example binds the session's texture to its TextureRect and pushes an event from a handler.
    usage = next(r for r in results.values() if "TextureRect" in r["children"])
    assert usage["children"]["StreamDiTSession"]["class"] == "StreamDiTSession"
    assert usage["children"]["TextureRect"]["texture"] is True, "the example left the TextureRect without a texture"
    assert usage["calls"], "the usage example has no _on_* handler to call"
    recorder = next(r for r in results.values() if "StreamDiTRecorder" in r["children"])
    assert recorder["children"]["StreamDiTRecorder"]["class"] == "StreamDiTRecorder"
    assert "_on_level_finished" in recorder["calls"], recorder


@pytest.mark.parametrize("name,code", _blocks("toml"), ids=[n for n, _ in _blocks("toml")])
def test_toml_block_is_a_valid_prompt_map(name: str, code: str) -> None:
    parsed = PromptMap.parse(code, fps=30.0, frames_per_chunk=4)
    assert parsed.rules, f"{name} has no [events.TYPE] rule"


@pytest.mark.parametrize("name,code", _blocks("sh"), ids=[n for n, _ in _blocks("sh")])
def test_sh_block_is_bash_and_names_real_paths(name: str, code: str) -> None:
    proc = subprocess.run(["bash", "-n"], input=code, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{name} is not valid bash: {proc.stderr}"
    for path in re.findall(r"(?<![\w/.])((?:engine_plugins|tests)/[\w./-]+)", code):
        assert (ROOT / path).exists(), f"{name} names {path}, which does not exist"

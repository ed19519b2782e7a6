"""A user's mistake on the command line ends with a message and exit status 2, never a traceback.

Options with a fixed set of values are choices that --help lists; `streamdit --version` prints the one version.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from sdk._version import __version__

pytestmark = pytest.mark.timeout(300)

BAD = [  # (arguments, a phrase the message must contain)
    (["serve", "--log-level", "verbose"], "'verbose' is not one of"),
    (["serve", "--compile", "maybe"], "'maybe' is not one of"),
    (["serve", "--grpc-port", "99999"], "--grpc-port"),
    (["serve", "--checkpoint", "no-such-model"], "neither a directory nor a shipped name"),
    (["serve", "--checkpoint", "toy", "--prompt-map", "no/such/map.toml"], "cannot read the prompt map"),
    (["train-ae", "--data", "d", "--out", "o", "--temporal-factor", "2"], "'2' is not one of"),
    (["generate", "--prompt", "x", "--frames", "0"], "--frames"),
    (["train", "--config", "no/such/config.toml"], "not found"),
    (["eval", "--rows", "bogus"], "unknown --rows"),
    (["cutscene", "no/such/cutscene.toml"], "does not exist"),
    (["demo", "--url", "http://127.0.0.1:1", "--seconds", "1"], "unsupported runtime URL"),
    (["data", "crafter", "--episodes", "1", "--out", "/proc/streamdit-cannot-write-here"], "/proc/streamdit"),
    (["no-such-command"], "No such command"),
]


@pytest.mark.parametrize("args,phrase", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_invocations_exit_2_without_a_traceback(args: list[str], phrase: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths above name nothing
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    assert phrase in " ".join(r.output.split()), r.output  # rich wraps long lines


def _exe() -> str:
    exe = Path(sys.executable).with_name("streamdit")
    return str(exe) if exe.exists() else (shutil.which("streamdit") or "streamdit")


def test_the_console_script_refuses_a_bad_choice_without_a_traceback(tmp_path) -> None:
    p = subprocess.run([_exe(), "serve", "--log-level", "verbose"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr and "verbose" in p.stderr


@pytest.mark.parametrize("command,values", [("serve", ["auto", "on", "off"]),
                                            ("serve", ["debug", "info", "warning", "error"]),
                                            ("train-ae", ["1", "4"])])
def test_help_lists_the_choices(command: str, values: list[str]) -> None:
    r = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "240"})  # rich wraps at COLUMNS
    assert r.exit_code == 0
    assert "|".join(values) in r.output, r.output


def test_version_prints_the_one_version(tmp_path) -> None:
    p = subprocess.run([_exe(), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == f"streamdit {__version__}"

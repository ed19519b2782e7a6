"""Cutscenes: the shipped intro parses, bad cues are refused with their position, a short one renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.cutscene import PANEL, STRIP, load_cutscene
from runtime.testing import save_tiny_checkpoint
from sdk.video_io import read_mp4
from sdk.errors import ConfigError

INTRO = Path(__file__).resolve().parents[1] / "samples" / "cutscenes" / "intro.toml"


def test_intro_parses_with_events_and_prompts() -> None:
    scene = load_cutscene(INTRO)
    assert scene.seconds > 0 and scene.prompt
    assert [c.at for c in scene.cues] == sorted(c.at for c in scene.cues)
    assert any(c.event for c in scene.cues) and any(c.prompt for c in scene.cues)


@pytest.mark.parametrize("cue, match", [
    ('at = 1.0\nevent = "no_such_event"', "#1: no prompt map rule"),
    ('at = 99.0\nevent = "collect_wood"', "at \\(seconds\\)"),
    ('at = 1.0\nevent = "collect_wood"\nprompt = "x"', "exactly one"),
])
def test_bad_cues_are_refused(tmp_path, cue: str, match: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(f'seconds = 2.0\n\n[[cue]]\n{cue}\n')
    with pytest.raises(ConfigError, match=match):
        load_cutscene(f)


def test_cutscene_renders_with_tiny_checkpoint(tmp_path) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    f = tmp_path / "short.toml"
    f.write_text('seconds = 1.5\nprompt = "the player stands on the grass"\n\n'
                 '[[cue]]\nat = 0.25\nevent = "collect_wood"\n\n[[cue]]\nat = 0.75\nprompt = "night falls"\n')
    out = tmp_path / "short.mp4"
    r = CliRunner().invoke(app, ["cutscene", str(f), "--checkpoint", str(ckpt), "--out", str(out)])
    assert r.exit_code == 0, r.output
    video = read_mp4(out)
    assert video.shape == (24, PANEL + STRIP, PANEL, 3)  # 1.5 s at the tiny model's 16 FPS
    assert "collect_wood -> event 1" in r.output

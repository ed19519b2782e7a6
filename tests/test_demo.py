"""`streamdit demo`: a scripted Crafter game steers the tiny model; the MP4 holds both side by side."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from runtime.cli import app
from runtime.commands.demo import load_sample
from runtime.serving.testing import save_tiny_checkpoint
from sdk.video_io import read_mp4
from sdk.errors import ConfigError


def test_demo_writes_side_by_side_mp4_and_latency_figures(tmp_path) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    out = tmp_path / "demo.mp4"
    result = CliRunner().invoke(app, ["demo", "--seconds", "3", "--checkpoint", str(ckpt), "--out", str(out),
                                      "--seed", "1"])
    assert result.exit_code == 0, result.output
    video = read_mp4(out)
    sample = load_sample()
    assert video.shape[0] >= 8
    assert video.shape[1:] == (sample.PANEL + sample.STRIP, 2 * sample.PANEL, 3)
    assert re.search(r"latency p50 \d+ ms p99 \d+ ms", result.output), result.output
    assert re.search(r"fps +\d+\.\d", result.output) and "dropped" in result.output


def test_demo_refuses_checkpoint_with_remote_url(tmp_path) -> None:
    with pytest.raises(ConfigError, match="in-process runtime only"):
        load_sample().run_demo(seconds=1, out=tmp_path / "x.mp4", checkpoint="x", url="zmq://127.0.0.1:1")

"""The `streamdit` command line: train and generate end to end on a tiny model, and clear errors."""

import re

import numpy as np
from typer.testing import CliRunner

from runtime.cli import app
from sdk.video_io import read_mp4

runner = CliRunner()


def test_train_then_generate_with_a_prompt_switch(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("""
out = "unused"
[model]
hidden_size = 32
depth = 2
num_heads = 2
in_channels = 48
patch_size = 1
window = [4, 4, 4]
[data]
kind = "toy"
size = 16
frames = 8
[autoencoder]
kind = "space_to_depth"
factor = 4
[text_encoder]
kind = "hash"
[partition]
buffer_frames = 8
[optim]
batch_size = 2
warmup_steps = 1
[sampling]
c = 2
s = 1
""")
    r = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--steps", "3", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "done: step 3" in r.output
    out = tmp_path / "v.mp4"
    r = runner.invoke(app, ["generate", "--checkpoint", str(tmp_path / "run/checkpoint"), "--prompt", "a red square moves left",
                            "--frames", "12", "--out", str(out), "--switch-prompt-at", "6", "--prompt2", "a red square moves right"])
    assert r.exit_code == 0, r.output
    video = read_mp4(out)
    assert video.shape == (12, 256, 256, 3) and video.dtype == np.uint8
    # --scroll measures the view's motion on Crafter-sized frames; 16 px frames are refused before generating
    small = tmp_path / "small.mp4"
    r = runner.invoke(app, ["generate", "--checkpoint", str(tmp_path / "run/checkpoint"), "--prompt", "x", "--frames", "4",
                            "--out", str(small), "--scroll"])
    assert r.exit_code == 2 and "too small for its 9 x 9 tile grid" in r.output and not small.exists(), r.output
    r = runner.invoke(app, ["generate", "--checkpoint", "toy", "--prompt", "a red square moves left", "--frames", "8",
                            "--out", str(small), "--scroll"])
    assert r.exit_code == 0 and small.exists(), r.output
    scroll = re.search(r"view scroll.*shift x ([-+.\d]+) y ([-+.\d]+); Farneback flow x ([-+.\d]+) y ([-+.\d]+)", r.output)
    assert scroll and all(abs(float(v)) < 32 for v in scroll.groups()), r.output  # finite, within the frame


def test_generate_errors_are_clear(tmp_path):
    r = runner.invoke(app, ["generate", "--checkpoint", str(tmp_path / "nope"), "--prompt", "x"])
    # one line on stderr and exit status 2 (runtime.cli's command group), not a traceback
    assert r.exit_code == 2 and "error: checkpoint" in r.output and "neither a directory nor a shipped name" in r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    r = runner.invoke(app, ["train", "--config", str(tmp_path / "missing.toml")])
    assert r.exit_code == 2 and "error: training config" in r.output and "not found" in r.output
    r = runner.invoke(app, ["data", "crafter", "--episodes", "1", "--max-steps", "4", "--window", "16", "--out", str(tmp_path / "d")])
    assert r.exit_code == 2 and "error: need episodes >= 1" in r.output, r.output  # a sub-group's command too

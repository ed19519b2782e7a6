"""`streamdit demo`: a scripted Crafter game steers the tiny model; the MP4 holds both side by side.

The demo is part of the installed package (runtime/crafter_demo.py), so the console script runs it from any
working directory; tests/test_packaging.py runs it from a built wheel, away from the source tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import crafter_demo
from runtime.testing import save_tiny_checkpoint
from sdk.errors import ConfigError
from sdk.video_io import read_mp4

def _exe() -> str:
    exe = Path(sys.executable).with_name("streamdit")
    return str(exe) if exe.exists() else (shutil.which("streamdit") or "streamdit")


@pytest.mark.timeout(300)
def test_demo_runs_outside_the_source_tree_and_writes_side_by_side_mp4(tmp_path) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    work = tmp_path / "elsewhere"  # not the repository: nothing relative to a checkout is there
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STREAMDIT_COMPILE": "off"}
    p = subprocess.run([_exe(), "demo", "--seconds", "3", "--checkpoint", str(ckpt), "--out", "demo.mp4",
                        "--seed", "1"], cwd=work, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    video = read_mp4(work / "demo.mp4")
    assert video.shape[0] >= 8
    assert video.shape[1:] == (crafter_demo.PANEL + crafter_demo.STRIP, 2 * crafter_demo.PANEL, 3)
    assert re.search(r"latency p50 \d+ ms p99 \d+ ms", p.stdout), p.stdout
    assert re.search(r"fps +\d+\.\d", p.stdout) and "dropped" in p.stdout


def test_demo_refuses_checkpoint_with_remote_url(tmp_path) -> None:
    with pytest.raises(ConfigError, match="in-process runtime only"):
        crafter_demo.run_demo(seconds=1, out=tmp_path / "x.mp4", checkpoint="x", url="zmq://127.0.0.1:1")

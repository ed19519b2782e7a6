"""`streamdit serve` as a real process: serves both transports, and SIGTERM closes sessions with a reason."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sdk
from runtime.cli import app
from runtime.testing import save_tiny_checkpoint
from sdk.errors import ShuttingDownError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(120)


def test_serve_refuses_a_public_address_without_a_token():
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--grpc-port", "0", "--zmq-port", "0"])
    assert r.exit_code == 2 and "--auth-token" in r.output


def test_serve_streams_and_sigterm_closes_sessions_with_a_reason(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # the console script (`python -m runtime.cli` does not register sub-commands: the module runs as __main__,
    # a second copy of the app)
    exe = Path(sys.executable).with_name("streamdit")
    exe = exe if exe.exists() else Path(shutil.which("streamdit") or "streamdit")
    proc = subprocess.Popen([str(exe), "serve", "--checkpoint", str(ckpt),
                             "--grpc-port", "0", "--zmq-port", "0", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"grpc://(\S+) and zmq://(\S+);", line)
        assert found, (line, proc.poll() is not None and proc.stderr.read())
        sessions = [sdk.Session(f"grpc://{found[1]}", prompt="a red square", timeout=30),
                    sdk.Session(f"zmq://{found[2]}", prompt="a blue circle", timeout=30)]
        for s in sessions:
            assert s.info.model == "tiny" and next(s.frames(timeout=30)).pixels.shape == (32, 32, 3)
        proc.send_signal(signal.SIGTERM)
        for s in sessions:
            with pytest.raises(ShuttingDownError, match="SIGTERM"):
                for _ in s.frames(timeout=10):
                    pass
            s.close()
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in out
        assert "warming up" in err  # the ports opened after the warm-up, which said so on stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

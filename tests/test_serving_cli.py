"""`streamdit serve` as a real process: serves both transports, and SIGTERM closes sessions with a reason."""

import signal

import pytest
from typer.testing import CliRunner

import sdk
from runtime.cli import app
from runtime.testing import save_tiny_checkpoint
from sdk.errors import ShuttingDownError
from serving_helpers import start_serve

pytestmark = pytest.mark.timeout(120)


def test_serve_refuses_a_public_address_without_a_token():
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--grpc-port", "0", "--zmq-port", "0"])
    assert r.exit_code == 2 and "--auth-token" in r.output


def test_serve_streams_and_sigterm_closes_sessions_with_a_reason(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    proc, grpc_at, zmq_at, _ = start_serve("--checkpoint", str(ckpt), env={"OMP_NUM_THREADS": "1"})
    try:
        sessions = [sdk.Session(f"grpc://{grpc_at}", prompt="a red square", timeout=30),
                    sdk.Session(f"zmq://{zmq_at}", prompt="a blue circle", timeout=30)]
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

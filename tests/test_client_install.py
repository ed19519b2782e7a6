"""The client installs without torch: a fresh venv gets `pip install .` (no extras) from a clean copy of the
tree, and the README's first SDK example runs in it against `streamdit serve` from the full venv.

This needs the package index that pip is configured with (the client's dependencies: numpy, pyzmq, grpcio,
protobuf, msgpack, imageio-ffmpeg, typer; and setuptools for the build). It takes a minute or two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import examples
from packaging_helpers import copy_tree
from sdk._version import __version__

pytestmark = pytest.mark.timeout(900)
RUNTIME_ONLY = ("torch", "safetensors", "cv2", "crafter", "transformers", "tqdm", "grpc_tools")


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("client")
    src = copy_tree(tmp / "src")
    venv = tmp / "venv"
    p = _run([sys.executable, "-m", "venv", str(venv)], timeout=300)  # no --system-site-packages: nothing leaks in
    assert p.returncode == 0, p.stderr
    p = _run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", str(src)], timeout=800)
    assert p.returncode == 0, p.stdout + p.stderr
    return venv


def test_the_client_install_has_no_runtime_dependencies(client_venv: Path) -> None:
    code = ("import importlib.util, sys; import sdk, sdk.session, sdk.transports.grpc, sdk.transports.zmq, "
            "sdk.video_io; print(sdk.__version__); "
            f"print(sorted(m for m in {RUNTIME_ONLY!r} if importlib.util.find_spec(m)))")
    p = _run([str(client_venv / "bin/python"), "-c", code], cwd=client_venv, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == [__version__, "[]"], p.stdout  # no torch, no OpenCV, ...
    site = next((client_venv / "lib").glob("python3*/site-packages"))
    assert not (site / "torch").exists() and (site / "sdk" / "py.typed").exists()


def test_the_streamdit_command_works_and_names_the_extra_it_needs(client_venv: Path) -> None:
    exe = str(client_venv / "bin/streamdit")
    p = _run([exe, "--version"], cwd=client_venv, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == f"streamdit {__version__}", p.stdout + p.stderr
    p = _run([exe, "serve", "--checkpoint", "toy"], cwd=client_venv, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    assert "pip install 'streamdit[runtime]'" in p.stderr, p.stderr


def test_the_readme_sdk_example_runs_in_the_client_venv(client_venv: Path, tmp_path) -> None:
    blocks = examples.blocks([examples.ROOT / "README.md"])
    serve = next(b for b in blocks if b.kind == "serve")
    client = next(b for b in blocks if b.kind == "client")  # the README's first SDK example
    with examples.serve(serve) as server:  # from the full venv
        out = examples.run_client(client, server, str(client_venv / "bin/python"), tmp_path)
        examples.check_client_output(client, out)
        # recording to MP4 works from the client alone (sdk.video_io: numpy + imageio-ffmpeg)
        record = examples.Block("inline", 0, "python", (
            "import sdk\n"
            "with sdk.Session('zmq://127.0.0.1:5557', prompt='a blue circle moves up') as s:\n"
            "    print(s.record('clip.mp4', frames=4))\n"), "client")
        out = examples.run_client(record, server, str(client_venv / "bin/python"), tmp_path)
        assert out.strip() == "clip.mp4" and (tmp_path / "clip.mp4").stat().st_size > 0

"""Shared by the Godot engine tests: bring the engine up, copy a project, run the engine, and the fenced code
blocks of a README.

The engine comes from engine_plugins/godot/tools/setup_godot.sh (a cached Debian unstable chroot, DESIGN
section 7); `engine_or_skip()` skips the calling test with the script's own reason when it cannot be built.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
GODOT_DIR = ROOT / "engine_plugins" / "godot"
TOOLS = GODOT_DIR / "tools"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def engine_or_skip() -> None:
    """Runs setup_godot.sh (a no-op once the chroot exists); skips the test with its last stderr line when it
    fails (not root, no mount namespace, no Debian mirror)."""
    proc = subprocess.run([str(TOOLS / "setup_godot.sh")], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        pytest.skip(f"headless Godot unavailable: {lines[-1]}")


def copy_project(src: Path, dst: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """A copy of a Godot project without its .godot/ cache, links resolved (the engine's chroot sees only the
    project directory)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".godot", "tools", *skip))
    return dst


def run_godot(project: Path, *args: str, timeout: float = 150, wrapper: str = "godot-headless",
              user_data: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The engine of the chroot on `project` with Godot's own `args`; its output is printed (pytest -s).

    `wrapper`: "godot-headless" (renders nothing) or "godot-gl" (opengl3 on Mesa's llvmpipe under Xvfb).
    `user_data`: a host folder for the engine's data (user:// is then
    USER_DATA/godot/app_userdata/PROJECT_NAME); None keeps it inside the chroot."""
    env = {**os.environ, "GODOT_USER_DATA": str(user_data)} if user_data is not None else None
    proc = subprocess.run([str(TOOLS / wrapper), "--path", str(project), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    print(proc.stdout + proc.stderr)
    return proc


def import_project(project: Path) -> None:
    """`godot --import`: scans the project once, so its class_name scripts (StreamDiTSession, ...) are known
    to scripts loaded later (.godot/global_script_class_cache.cfg)."""
    proc = run_godot(project, "--import", timeout=180)
    assert proc.returncode == 0, f"godot --import failed (exit {proc.returncode})"
    assert (project / ".godot" / "global_script_class_cache.cfg").is_file(), "the import wrote no class cache"


def script_errors(output: str) -> list[str]:
    """The engine's error lines, less the editor's complaint that the chroot has no CA bundle."""
    return [line for line in output.splitlines()
            if ("ERROR" in line) and "X509Certificate" not in line]


def fenced_blocks(markdown: Path, language: str) -> list[tuple[int, str]]:
    """(line number, code) of every ```language fenced block of a Markdown file, in order."""
    text = markdown.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text)
            if m.group(1) == language]


SERVED_URLS = {"zmq": r"zmq://127\.0\.0\.1:(\d+)", "websocket": r"ws://127\.0\.0\.1:(\d+)/v1/session"}


@contextmanager
def streamdit_serve(ckpt: Path, *args: str, want: tuple[str, ...] = ("zmq",), compile_off: bool = True,
                    timeout: float = 120) -> Iterator[dict[str, int]]:
    """`streamdit serve --checkpoint CKPT` on free loopback ports (gRPC and ZeroMQ; add "--web-port", "0" for
    WebSocket) as a subprocess; yields {transport: port} for the transports in `want` ("zmq", "websocket")
    once its "serving ..." line names them, and stops it (SIGTERM, then kill) afterwards. Fails the test when
    they are not named within `timeout` seconds."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    if compile_off:
        env["STREAMDIT_COMPILE"] = "off"
    cmd = [str(Path(sys.executable).parent / "streamdit"), "serve", "--host", "127.0.0.1", "--grpc-port", "0",
           "--zmq-port", "0", "--checkpoint", str(ckpt), *args, "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    found: dict[str, int] = {}
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < len(want) and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("serving "):
            for key in want:
                if hit := re.search(SERVED_URLS[key], line):
                    found[key] = int(hit[1])
    try:
        assert len(found) == len(want), f"streamdit serve did not start: {''.join(seen)}"
        yield found
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

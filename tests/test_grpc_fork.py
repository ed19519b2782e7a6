"""A child forked while the runtime serves gRPC starts no gRPC threads of its own.

With gRPC's fork support on (grpcio's default since 1.80), every fork() restarts gRPC's pollers in the child. A
child that goes on to exec (ffmpeg, started by imageio-ffmpeg with a preexec_fn, so by fork) closes their fds
under them, and now and then a poller aborts it before the exec: the MP4 writer then fails with "Broken pipe"
(it did in CI, in `streamdit cutscene` beside a served runtime; grpc/grpc issue 43055). Importing `sdk` or
`runtime` turns the support off unless the user set it. Each check runs in a fresh interpreter, since gRPC reads
the setting when it is first imported.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORK_AFTER_SERVING = r"""
import os, sys, time
sys.path.insert(0, {tests!r})
import {first}  # the package a user imports first
import sdk
from serving_helpers import served

with served() as s:
    with sdk.Session(s.grpc_url, prompt="a green field") as sess:
        for i, _ in enumerate(sess.frames(timeout=60.0)):
            if i >= 3:
                break
    time.sleep(0.3)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        time.sleep(0.3)  # time for any thread a fork handler starts to show
        os.write(w, str(len(os.listdir("/proc/self/task"))).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    print("child threads", os.read(r, 16).decode())
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    full.update(STREAMDIT_COMPILE="off", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("first", ["sdk", "runtime"])
def test_a_child_forked_beside_a_grpc_runtime_runs_one_thread(first):
    r = run_python(FORK_AFTER_SERVING.format(tests=str(ROOT / "tests"), first=first))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "child threads 1" in r.stdout, (r.stdout, r.stderr[-2000:])


@pytest.mark.parametrize("value", ["true", "1"])
def test_a_users_own_fork_setting_is_kept(value):
    r = run_python("import os, runtime; print(os.environ['GRPC_ENABLE_FORK_SUPPORT'])",
                   GRPC_ENABLE_FORK_SUPPORT=value)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == value

"""Helpers for the packaging tests: a clean copy of the source tree, and a wheel built from it.

Builds run in a copy (tracked and unignored files only, as a fresh clone has them), so that they never write
build/ or *.egg-info into the shared working tree and two test runs never collide.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "runs", "data", "out", "build", "*.egg-info", "__pycache__",
                              ".pytest_cache", "logs", ".godot")


def copy_tree(dst: Path) -> Path:
    """The repository's files (git's tracked and unignored ones when git is there) copied under `dst`."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        shutil.copytree(ROOT, dst, ignore=SKIP, symlinks=True)
        return dst
    for rel in filter(None, listed):
        src = ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(src.readlink())
        elif src.is_file():
            shutil.copy2(src, target)
    return dst


def build_wheel(src: Path, out: Path) -> Path:
    """`pip wheel` of the tree at `src` with this venv's setuptools (no download); returns the .whl path."""
    out.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                        "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    (wheel,) = out.glob("streamdit-*.whl")
    return wheel


def unpack(wheel: Path, dst: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(dst)
    return dst

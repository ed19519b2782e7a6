"""samples/vizdoom/turns.py: the turning prompts' pan over seeds, run on the toy checkpoint (any text works)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_turns_script_prints_the_pan_of_both_prompts_over_seeds() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "samples" / "vizdoom" / "turns.py"), "--checkpoint", "toy",
                        "--seeds", "2", "--frames", "20"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["seeds"] == 2 and line["frames"] == 20
    for prompt in ("the view turns left", "the view turns right"):
        figures = line["pan_px_per_frame"][prompt]
        assert set(figures) == {"frames_0_15", "frames_0_15_std", "frames_16_19", "frames_16_19_std"}
        assert all(isinstance(v, float) and abs(v) < 20 for v in figures.values())
    bad = subprocess.run([sys.executable, str(ROOT / "samples" / "vizdoom" / "turns.py"), "--frames", "8"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "--frames >= 17" in bad.stderr

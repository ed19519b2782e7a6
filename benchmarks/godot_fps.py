"""The Godot addon's frame rate against the Python SDK's, side by side from one paced runtime.

Each round runs tests/test_godot_e2e.py::test_engine_streams_from_a_live_runtime: the headless engine
(tests/e2e_session.tscn) and an `sdk.Session` over zmq:// take frames from the same runtime (tiny random-weight
checkpoint, 64x64 px at 30 FPS, paced) over the same seconds, and the test writes both frame rates to fps.json.
This script prints each round's figures and the median of the per-round ratio engine FPS / Python FPS (both
measured in the same window, so the ratio is interleaved by construction).

    python benchmarks/godot_fps.py --rounds 3

Needs the engine from engine_plugins/godot/tools/setup_godot.sh (the test skips without it; so does this).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TEST = "tests/test_godot_e2e.py::test_engine_streams_from_a_live_runtime"


def one_round() -> dict | None:
    """One run of the e2e test; its fps.json figures, or None when the test was skipped (no engine)."""
    base = Path(tempfile.mkdtemp(prefix="godot_fps_"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--basetemp={base}",
                           TEST], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the e2e test failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    found = sorted(base.rglob("fps.json"))
    return json.loads(found[0].read_text()) if found else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="runs of the e2e test")
    a = p.parse_args(argv)
    ratios = []
    for k in range(a.rounds):
        figures = one_round()
        if figures is None:
            raise SystemExit("the e2e test was skipped (no headless engine here): no figure")
        print(f"round {k + 1}: {json.dumps(figures)}")
        if figures["godot_over_python"] is not None:
            ratios.append(figures["godot_over_python"])
    if ratios:
        print(f"engine FPS / Python FPS, median over {len(ratios)} rounds: {statistics.median(ratios):.3f} "
              f"(per round: {ratios})")


if __name__ == "__main__":
    main()

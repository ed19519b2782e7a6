"""Crafter demo as a script: a real Crafter game steers a StreamDiT stream, recorded side by side.

The demo itself lives in the package (runtime/crafter_demo.py: `run_demo`, the side-by-side `compose`, the
figures it reports), so that `streamdit demo` works from an installed package too. This script runs it against
the in-process runtime, or against a running `streamdit serve` with --url:

    python samples/crafter_demo.py --seconds 10
    python samples/crafter_demo.py --seconds 10 --url zmq://127.0.0.1:5557
"""

from __future__ import annotations

import argparse

from runtime.crafter_demo import run_demo, summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of wall clock to play")
    p.add_argument("--out", default="out/demo.mp4", help="MP4 to write")
    p.add_argument("--checkpoint", default=None, help="checkpoint for the in-process runtime")
    p.add_argument("--url", default=None, help="zmq://HOST:PORT or grpc://HOST:PORT of a running runtime")
    p.add_argument("--seed", type=int, default=0, help="Crafter world and agent seed")
    a = p.parse_args(argv)
    r = run_demo(seconds=a.seconds, out=a.out, checkpoint=a.checkpoint, url=a.url, seed=a.seed, report=print)
    print(summary(r))


if __name__ == "__main__":
    main()

"""Crafter demo as a script: a real Crafter game steers a StreamDiT stream, recorded side by side.

The demo itself lives in the package (runtime/crafter_demo.py: `run_demo`, the side-by-side `compose`, the
figures it prints), so that `streamdit demo` works from an installed package too. This script runs it against
the in-process runtime, or against a running `streamdit serve` with --url:

    python samples/crafter_demo.py --seconds 10
    python samples/crafter_demo.py --seconds 10 --url zmq://127.0.0.1:5557
"""

from __future__ import annotations

from runtime.crafter_demo import main

if __name__ == "__main__":
    main()

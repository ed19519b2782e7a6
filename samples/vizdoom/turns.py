"""Does a fitted ViZDoom checkpoint turn the view when told to? The turning prompts over many seeds.

`streamdit fit`'s evaluation measures the pan of 8 generated clips per class, with the held-out captions as
prompts. Whole-frame shifts vary a lot between seeds, so this script streams the two turning prompts over
--seeds seeds (clips of --frames frames, all in one batch) and prints the mean pan (`pan` of
runtime/evaluation/recorded.py, px/frame, + = the content moves right) of frames 0-15 (the evaluation's
clip length) and of the frames after, with the spread over seeds. Turning left moves the content right (+),
turning right moves it left (-).

    python samples/vizdoom/turns.py [--checkpoint vizdoom] [--seeds 16] [--frames 32]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPTS = ["the view turns left", "the view turns right"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="vizdoom")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--frames", type=int, default=32, help="frames per clip (>= 17)")
    args = ap.parse_args()
    if args.frames < 17 or args.seeds < 1:
        ap.error("need --frames >= 17 and --seeds >= 1")

    import numpy as np

    from runtime.checkpoints import resolve
    from runtime.evaluation.evaluate import generate_batch
    from runtime.evaluation.recorded import pan
    from runtime.pipeline import StreamDiTPipeline

    ck = resolve(args.checkpoint)
    pipe = StreamDiTPipeline.from_checkpoint(ck)
    n = args.seeds
    vids = generate_batch(pipe, [p for p in PROMPTS for _ in range(n)], args.frames, pipe.scheme(),
                          seeds=list(range(len(PROMPTS) * n)))
    out = {}
    for i, prompt in enumerate(PROMPTS):
        clips = vids[i * n:(i + 1) * n]
        first = [pan([c[:16]]) for c in clips]
        later = [pan([c[16:]]) for c in clips]
        out[prompt] = {"frames_0_15": round(float(np.mean(first)), 3), "frames_0_15_std": round(float(np.std(first)), 3),
                       f"frames_16_{args.frames - 1}": round(float(np.mean(later)), 3),
                       f"frames_16_{args.frames - 1}_std": round(float(np.std(later)), 3)}
        print(f"{prompt:22s} frames 0-15: {np.mean(first):+.3f} (std {np.std(first):.3f})   "
              f"frames 16-{args.frames - 1}: {np.mean(later):+.3f} (std {np.std(later):.3f})")
    print(json.dumps({"checkpoint": str(ck), "seeds": n, "frames": args.frames, "pan_px_per_frame": out}))


if __name__ == "__main__":
    main()

"""What an event's guidance against the prompt before it costs: DiT step time with and without it.

While a prompt-map rule's `guidance` lasts (runtime.serving.prompt_map; the shipped Crafter map: night_falls,
1 s), the stream's step carries one more batch row, the old prompt's. This measures, in one process and
interleaved round by round (rotating order), the median wall time of one StreamingSampler.step() of the
default model with one stream, unguided and guided (a negative prompt set), and prints the ratio and the frame
rate each would sustain (frames per chunk / step time; the served rate is 16 FPS). One JSON line.

    python benchmarks/event_guidance.py [--checkpoint default] [--compile off] [--reps 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import interleaved, spread, warm_sampler  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--compile", default="off", choices=["auto", "on", "off"],
                    help="torch.compile the DiT as `streamdit serve` does (auto) or not (off)")
    ap.add_argument("--reps", type=int, default=15, help="rounds (each times every side once)")
    ap.add_argument("--steps", type=int, default=4, help="steps per timing")
    args = ap.parse_args()

    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline

    pipe = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint))
    fpc = pipe.scheme().c * pipe.temporal_factor
    samplers = {}
    for side in ("unguided", "guided"):
        smp = warm_sampler(pipe, args.compile)
        if side == "guided":
            smp.set_negative_prompt(smp.stream_ids[0], *pipe.text_encoder.encode_one(
                "the player walks right across the grass"), 1.0)
            smp.step()  # a compiled forward sees the batch of two once before timing
        samplers[side] = smp

    def timed(smp):
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                smp.step()
            return (time.perf_counter() - t0) / args.steps
        return run

    times = interleaved({k: timed(v) for k, v in samplers.items()}, args.reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [g / u for g, u in zip(times["guided"], times["unguided"])]
    print(json.dumps({"benchmark": "event_guidance", "checkpoint": args.checkpoint, "compile": args.compile,
                      "reps": args.reps, "step_ms": {k: round(v * 1e3, 2) for k, v in med.items()},
                      "step_ms_spread": {k: spread([x * 1e3 for x in v]) for k, v in times.items()},
                      "guided_over_unguided": round(statistics.median(ratios), 3),
                      "sustained_fps": {k: round(fpc / v, 1) for k, v in med.items()}}))


if __name__ == "__main__":
    main()

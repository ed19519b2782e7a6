"""Does an event's guidance make a change of walking direction show sooner? Served, in video time.

For each pair of directions (a -> b) and seed, a served session of the shipped default walks `a` (the Crafter
map's base prompt set to "the player walks a across the grass") for --before seconds of video, then gets
player_moves_b, pushed again every second as a game holds a state. Two maps, interleaved per run: the shipped
Crafter map without guidance on its four player_moves_* rules, and with `guidance = --scale` on them
(runtime.serving.prompt_map: the stream is guided away from the prompt before the event for 1 s). Measured per
run: the video frames from the event's frame until the view scrolls the new way (runtime.evaluation.response
.walk_response, the whole-frame shift, as benchmarks/latency.py's walking figure), or "missed". Unpaced (the
video is the same as paced). Prints per map the median and p90 frames (and ms at the model's rate), the
misses, the paired differences, and one JSON line.

    python benchmarks/walk_guidance.py [--checkpoint default] [--seeds 3] [--before 3.0] [--after 4.0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAIRS = [("left", "down"), ("down", "right"), ("right", "up"), ("up", "left"),
         ("left", "right"), ("right", "left"), ("up", "down"), ("down", "up")]


def with_walk_guidance(text: str, base: str, scale: float) -> str:
    """The map with `base` as its base prompt, its player_moves_* rules without guidance, and, when scale > 0,
    `guidance = scale` in each of them (the other rules as they are)."""
    text = re.sub(r'(?m)^base = ".*"$', f'base = "{base}"', text, count=1)
    lines, table = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            table = line
        if table.startswith("[events.player_moves_") and re.match(r"\s*guidance(_chunks|_seconds)?\s*=", line):
            continue
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if scale > 0:
        text = re.sub(r"(?m)^(\[events\.player_moves_(left|right|up|down)\].*)$", rf"\1\nguidance = {scale:g}",
                      text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--before", type=float, default=3.0, help="seconds of video walking `a` before the event")
    ap.add_argument("--after", type=float, default=4.0, help="seconds of video after it")
    ap.add_argument("--scale", type=float, default=1.0, help="the guidance of the guided map")
    ap.add_argument("--compile", default="off", choices=["auto", "on", "off"])
    args = ap.parse_args()

    import numpy as np

    from runtime.checkpoints import resolve
    from runtime.evaluation import response as rsp
    from runtime.evaluation.long_stream import served_locally
    from runtime.evaluation.streamed import record_stream
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    pipe = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint))
    fps = float(pipe.fps)
    shipped = default_crafter_prompt_map()
    frames = round((args.before + args.after) * fps)
    maps = {"no walk guidance": 0.0, "walk guidance": args.scale}
    out: dict[str, list] = {k: [] for k in maps}
    with served_locally(pipe, pace=False, compile_mode=args.compile, max_sessions=1) as url:
        for seed in range(args.seeds):
            for a, b in PAIRS:
                for name, scale in maps.items():
                    text = with_walk_guidance(shipped, f"the player walks {a} across the grass", scale)
                    st = record_stream(url, [(f"player_moves_{b}", {"terrain": "grass"})], frames=frames,
                                       every_s=1.0, video_time=True, prompt_map=text, seed=seed,
                                       first_at_s=args.before)
                    ev = st.events[0]["frame"]
                    r = rsp.walk_response(rsp.pair_shifts(st.frames), ev, b)
                    out[name].append(None if r is None else int(r - ev))
            print(f"seed {seed}: {', '.join(f'{a}->{b}' for a, b in PAIRS)}: "
                  + "; ".join(f"{n} {out[n][-len(PAIRS):]}" for n in maps), flush=True)

    def stats(v: list) -> dict:
        got = [x for x in v if x is not None]
        return {"runs": len(v), "missed": len(v) - len(got),
                "median_frames": float(np.median(got)) if got else None,
                "p90_frames": float(np.percentile(got, 90)) if got else None,
                "median_ms": round(1e3 * float(np.median(got)) / fps) if got else None}

    res = {n: stats(v) for n, v in out.items()}
    paired = [g - s for s, g in zip(out["no walk guidance"], out["walk guidance"]) if s is not None and g is not None]
    for n, r in res.items():
        print(f"{n}: median {r['median_frames']} frames ({r['median_ms']} ms), p90 {r['p90_frames']}, "
              f"missed {r['missed']} of {r['runs']}")
    if paired:
        print(f"paired (guided - unguided), frames: median {statistics.median(paired):+.1f}, "
              f"{sum(d < 0 for d in paired)} sooner, {sum(d > 0 for d in paired)} later, "
              f"{sum(d == 0 for d in paired)} same")
    print(json.dumps({"benchmark": "walk_guidance", "checkpoint": args.checkpoint, "seeds": args.seeds,
                      "scale": args.scale, "fps": fps, "runs": out, "stats": res,
                      "paired_median_frames": statistics.median(paired) if paired else None}))


if __name__ == "__main__":
    main()

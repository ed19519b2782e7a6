"""Do scene and time events show better when their clause joins the actor's (prompt-map clause groups)?

Each scene or time event type of the Crafter vocabulary is pushed alone into a fresh stream of the base
prompt (runtime/evaluation/event_probe.py), once under the shipped Crafter map (clause groups: "the player
walks right across the grass, night falls") and once under the same map without groups (the overlay's
prompt alone: "night falls"), interleaved per seed. Prints, per event type, the mean brightness and
blue-share changes after the event under each map beside held-out real play's, the share of real play's
change each map reaches, and one JSON line.

With --compare guidance the two maps are instead the shipped map and the same map without its events'
guidance against the prompt before them (prompt-map key `guidance`; night_falls has it): how much the
guidance adds.

With --part fresh it instead streams fresh clips of the composed night prompts, the bare clauses and the
base prompt (32 frames each, seeds 0..--seeds-1) and prints the mean brightness of frames 16-31 of each:
whether the model knows night when nothing came before, as opposed to turning a day stream into night.

    python benchmarks/prompt_groups.py [--checkpoint default] [--seeds 4] [--data data/crafter72] [--part probe]
        [--compare groups|guidance]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TYPES = ["night_falls", "night", "day_breaks", "zombie_appears", "cow_nearby", "skeleton_nearby"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="default")
    ap.add_argument("--data", default="data/crafter72", help="Crafter capture: its held-out play is the reference")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--part", choices=["probe", "fresh"], default="probe")
    ap.add_argument("--compare", choices=["groups", "guidance"], default="groups",
                    help="the two maps: with and without clause groups, or with and without the events' guidance")
    args = ap.parse_args()
    if args.part == "fresh":
        return fresh(args)

    import numpy as np

    from runtime.checkpoints import resolve, shipped_classifier
    from runtime.data.events import EVENTS
    from runtime.evaluation.classifier import load_classifier
    from runtime.evaluation.event_probe import probe_events, ungrouped, unguided
    from runtime.evaluation.per_event import real_event_rows, summary
    from runtime.model.autoencoder import frame_size
    from runtime.model.checkpoint import read_config
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.prompt_maps import default_prompt_map

    ck = resolve(args.checkpoint)
    pipe = StreamDiTPipeline.from_checkpoint(ck)
    clf = load_classifier(shipped_classifier(frame_size(read_config(ck))[0]))
    grouped = default_prompt_map(ck).text
    types = [t for t in args.types.split(",") if t]
    maps = ({"groups": grouped, "no groups": ungrouped(grouped)} if args.compare == "groups" else
            {"guidance": grouped, "no guidance": unguided(grouped)})
    first, second = maps
    rows = probe_events(pipe, clf, types, range(args.seeds),
                        prompt_maps=maps,
                        states=[t for t in types if EVENTS[t].kind == "state"])
    real = summary([r for r in real_event_rows(args.data, clf) if r["type"] in types])
    res = {name: summary(r) for name, r in rows.items()}
    print(f"| event | real: brightness, blue share (events) | {first} | {second} | {first} / real, {second} / real "
          "(brightness) |\n|---|---|---|---|---|")
    for t in types:
        r, g, u = real.get(t), res[first].get(t), res[second].get(t)
        if g is None or u is None:
            continue

        def cell(d):
            return "-" if d is None else f"{d['brightness_change']:+.1f}, {d['blue_change']:+.3f} ({d['events']})"

        share = "-"
        if r is not None and abs(r["brightness_change"]) > 1.0:
            share = (f"{g['brightness_change'] / r['brightness_change']:.2f}, "
                     f"{u['brightness_change'] / r['brightness_change']:.2f}")
        print(f"| {t} | {cell(r)} | {cell(g)} | {cell(u)} | {share} |")
    spread = {name: {t: round(float(np.std([x["brightness_change"] for x in r if x["type"] == t])), 2)
                     for t in types} for name, r in rows.items()}
    line = {"checkpoint": str(ck), "seeds": args.seeds, "real": real, "streamed": res, "brightness_std": spread}
    print(json.dumps(line))
    if args.out:
        Path(args.out).write_text(json.dumps(line, indent=1))


def fresh(args: argparse.Namespace) -> None:
    """--part fresh: mean brightness of fresh clips per prompt (module docstring)."""
    import numpy as np

    from runtime.checkpoints import resolve
    from runtime.evaluation.evaluate import generate_batch
    from runtime.evaluation.real_play import frame_brightness
    from runtime.pipeline import StreamDiTPipeline

    pipe = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint))
    base = "the player walks right across the grass"
    prompts = [base, f"{base}, it is night", f"{base}, night falls", "it is night", "night falls"]
    n = args.seeds
    vids = generate_batch(pipe, [p for p in prompts for _ in range(n)], 32, pipe.scheme(),
                          seeds=list(range(len(prompts) * n)))
    out = {}
    print("| prompt | mean brightness, frames 16-31 (spread over seeds) |\n|---|---|")
    for i, p in enumerate(prompts):
        b = [float(frame_brightness(v[16:]).mean()) for v in vids[i * n:(i + 1) * n]]
        out[p] = {"mean": round(float(np.mean(b)), 1), "std": round(float(np.std(b)), 1)}
        print(f"| {p} | {np.mean(b):.1f} ± {np.std(b):.1f} |")
    print(json.dumps({"checkpoint": str(resolve(args.checkpoint)), "seeds": n, "fresh": out}))


if __name__ == "__main__":
    main()

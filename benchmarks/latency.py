"""Benchmark the two latencies of DESIGN.md section 13 on the client: event-id and visible-response.

A checkpoint (--checkpoint, default: the shipped default model) is served by an in-process runtime over
ZeroMQ, paced at its frame rate (--no-pace: as fast as the machine goes); a separate client process pushes an
event every --event-every s of wall time (jittered by +-0.25 s, so pushes fall at every phase of a step),
alternating walking events (left, up, right, down in turn: each walk follows another direction) with other
event types the clip classifier knows. It records every frame and then measures each event:

- event_id_ms: push to the first frame whose event_id reaches the event's (the runtime reacted);
- visible_ms: push to the first frame from which the content follows the event
  (runtime/evaluation/response.py: walking by the whole-frame shift's sign, others by the classifier's
  sliding-window prediction reaching real play's adherence for that class, from --data's held-out play);
  an event whose content already followed it before the push is left out ("already"), one with no
  response before the next event's frame plus the bound is "missed";
- bound_ms: the buffer's floor, B latent frames x temporal factor / fps (the first chunk generated wholly
  under the new prompt leaves the buffer B latent frames after the boundary).

Prints one JSON line: p50 and p90 of both latencies (all events, walking, others), counts, served FPS, and
per-type figures.

--model NAME serves the checkpoint under that model name and opens the measured session with settings.model =
NAME (so the per-session model choice of `streamdit serve --model NAME=DIR` is what is measured; default: the
checkpoint directory's name, the runtime's default model). The measurement is the same either way.

    python benchmarks/latency.py [--checkpoint default] [--model NAME] [--events 44] [--event-every 3] [--no-pace]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve other threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WALKS = ["player_moves_left", "player_moves_up", "player_moves_right", "player_moves_down"]
OTHERS = ["collect_wood", "player_sleeps", "eat_cow", "drink_water", "fight_zombie", "collect_stone",
          "place_table", "defeat_zombie", "make_tool", "player_idle", "player_hurt"]


def schedule() -> list[tuple[str, dict]]:
    """Walks and other events alternating; the walks cycle through the four directions."""
    out = []
    for i in range(len(WALKS) * len(OTHERS)):
        out += [(WALKS[i % len(WALKS)], {}), (OTHERS[i % len(OTHERS)], {})]
    return out


def run_client(url: str, events: int, every: float, data: str, classifier: str, horizon_frames: int,
               model: str = "") -> dict:
    """Record the stream at `url` with `events` events, then measure both latencies of each event.

    model: the served model to stream from (settings.model; "" = the runtime's default)."""
    import numpy as np

    from runtime.evaluation import response as rsp
    from runtime.evaluation.classifier import collect_windows, load_classifier
    from runtime.evaluation.streamed import percentiles, record_stream
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    # events x every seconds at 16 FPS, plus the last event's horizon (or that long in wall time, if slower)
    fps = 16.0
    frames = int((events * every + 1.0) * fps) + horizon_frames
    st = record_stream(url, schedule(), frames=frames, every_s=every, video_time=False, jitter_s=0.25,
                       prompt_map=default_crafter_prompt_map(), first_at_s=1.0,
                       max_seconds=events * every + 1.0 + horizon_frames / fps, model=model)
    clf = load_classifier(classifier)
    wins, classes = collect_windows(data, "heldout", classes=clf.classes, max_per_class=300)
    predict = rsp.classifier_predict(clf)
    targets = rsp.real_adherence(predict, wins.frames, wins.labels, classes)
    preds = rsp.window_predictions(predict, st.frames)
    resp = rsp.response_frames(st.frames, st.events, predictions=preds, classes=classes, targets=targets,
                               horizon=horizon_frames)
    ids = st.event_id_latency_ms()
    rows = []
    for e, r, eid in zip(st.events, resp, ids):
        lookback = max(0, e["frame"] - 16)
        if r["kind"] == "walk":
            before = rsp.walk_response(rsp.pair_shifts(st.frames[lookback: e["frame"] + 8]), 0,
                                       rsp.walk_direction(e["type"]), until=e["frame"] - lookback + 8)
        elif r["kind"] == "class":
            before = rsp.class_response(preds[lookback: e["frame"] + 16], 0, classes.index(e["type"]),
                                        targets[e["type"]], until=e["frame"] - lookback + 16)
        else:
            before = None
        already = before is not None and before + lookback < e["frame"]
        rows.append({"type": e["type"], "kind": r["kind"], "event_id_ms": eid, "already": already,
                     "visible_ms": None if already else st.latency_ms(r["response"], e),
                     "visible_frames": None if already or r["response"] is None else r["response"] - e["frame"]})

    def stats(sel: list[dict]) -> dict:
        vis = [r["visible_ms"] for r in sel if not r["already"]]
        return {"events": len(sel), "already": sum(r["already"] for r in sel),
                "missed": sum(v is None for v in vis), "measured": sum(v is not None for v in vis),
                "visible_ms": percentiles(vis), "event_id_ms": percentiles([r["event_id_ms"] for r in sel]),
                "visible_frames_p50": (float(np.median([r["visible_frames"] for r in sel
                                                        if r["visible_frames"] is not None]))
                                       if any(r["visible_frames"] is not None for r in sel) else None)}

    by_type = {t: stats([r for r in rows if r["type"] == t]) for t in sorted({r["type"] for r in rows})}
    return {"frames": int(len(st.frames)), "received_fps": round(st.received_fps, 2), "dropped": st.dropped,
            "all": stats([r for r in rows if r["kind"] is not None]),
            "untargeted": sorted({r["type"] for r in rows if r["kind"] is None}),  # real play never shows them
            "walking": stats([r for r in rows if r["kind"] == "walk"]),
            "other": stats([r for r in rows if r["kind"] == "class"]), "by_type": by_type,
            "real_adherence": {k: round(v, 3) for k, v in targets.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="default", help="Checkpoint (directory or shipped name).")
    ap.add_argument("--model", default=None, metavar="NAME", help="Serve the checkpoint under this model name and "
                    "measure a session that picks it (settings.model; default: the checkpoint directory's name).")
    ap.add_argument("--events", type=int, default=44, help="Events to push (at least 40 for the headline).")
    ap.add_argument("--event-every", type=float, default=3.0, help="Seconds of wall time between events.")
    ap.add_argument("--data", default="data/crafter72", help="Crafter capture whose held-out play sets the targets.")
    ap.add_argument("--classifier", default=None, help="Clip classifier (default: the shipped one of the size).")
    ap.add_argument("--pace", action=argparse.BooleanOptionalAction, default=True, help="Pace at the frame rate.")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"], help="torch.compile the DiT.")
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)  # internal: run as the client process
    ap.add_argument("--horizon", type=int, default=16, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(run_client(args.client, args.events, args.event_every, args.data, args.classifier,
                                    args.horizon, args.model or "")))
        return

    from runtime.checkpoints import resolve, shipped_classifier
    from runtime.evaluation.response import latency_bound_frames
    from runtime.model.autoencoder import frame_size
    from runtime.model.checkpoint import read_config
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    directory = resolve(args.checkpoint)
    model = directory.name if args.model is None else args.model
    if not model.strip():
        raise SystemExit("--model needs a non-empty NAME (or leave it out to use the checkpoint's name)")
    size = frame_size(read_config(directory))[0]
    classifier = args.classifier or shipped_classifier(size)
    if classifier is None:
        raise SystemExit(f"no shipped clip classifier for {size}-px frames; pass --classifier DIR")
    pipe = StreamDiTPipeline.from_checkpoint(directory)
    scheme = pipe.scheme()
    bound = latency_bound_frames(pipe.buffer_frames, scheme.c, pipe.temporal_factor)
    rt = ServingRuntime(pipe, ServeConfig(pace=args.pace, max_sessions=1, compile=args.compile,
                                          model_name=model)).start()
    try:
        url = f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"
        if not rt.engine.warmed_up.wait(900):
            raise SystemExit(f"{directory} did not warm up within 900 s")
        t0 = time.perf_counter()
        client = subprocess.run([sys.executable, __file__, "--client", url, "--events", str(args.events),
                                 "--event-every", str(args.event_every), "--data", args.data, "--classifier",
                                 str(classifier), "--horizon", str(bound),
                                 *(["--model", model] if args.model is not None else [])], cwd=ROOT,
                                capture_output=True, text=True, timeout=args.events * args.event_every + 1800)
        if client.returncode != 0:
            raise SystemExit(f"client process failed: {client.stderr.strip()[-2000:]}")
        got = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        rt.shutdown()
    print(json.dumps({"benchmark": "latency", "checkpoint": directory.name, "model": model, "pace": args.pace,
                      "scheme": {"B": pipe.buffer_frames, "c": scheme.c, "s": scheme.s, "N": scheme.N},
                      "fps": float(pipe.fps), "bound_frames": bound, "bound_ms": round(1e3 * bound / float(pipe.fps), 1),
                      "event_every_s": args.event_every, "seconds": round(time.perf_counter() - t0, 1), **got}))


if __name__ == "__main__":
    main()

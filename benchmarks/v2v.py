"""Benchmark video-to-video end to end over ZeroMQ: FPS with v2v on beside the text-only stream, and the
source-to-restyled-frame latency (issue 20).

One in-process runtime serves the checkpoint (`ServingRuntime`, pace off: as fast as the machine goes,
torch.compile per --compile) on ZeroMQ; a separate client process opens one session per round. Rounds alternate,
text-only then v2v, --rounds times, so both sides see the same machine load (interleaved, medians reported):

- text-only round: a plain session (the shipped default prompt), frames counted for --seconds;
- v2v round: a session with v2v on at --strength, prompted "it is night"; a scripted agent plays Crafter at the
  model's size in the client, and every received frame is answered by the game's next frame (`send_frame`), so the
  game runs at the stream's rate. Source encoding happens in the runtime, inside the measured window.

Figures per round: fps (frames received per second, from the first frame), and for v2v the latency from
`send_frame(i)` to the arrival of the first frame with source_index i (milliseconds, p50 and p99), the share of
frames that name a source, and the runtime's source_frames_received / source_frames_dropped. The JSON line gives
each side's median fps, the ratio v2v / text-only per round and its median, and meets_16fps.

    python benchmarks/v2v.py [--checkpoint default] [--seconds 20] [--rounds 3] [--strength 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve other threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NIGHT = "it is night"


def run_client(url: str, seconds: float, v2v: bool, strength: float, seed: int) -> dict:
    """One session against `url` for `seconds` after its first frame (module docstring)."""
    import numpy as np

    import sdk
    from sdk.latency import percentile

    kw = {"v2v": True, "strength": strength, "prompt": NIGHT} if v2v else {"prompt": "the player walks right across the grass"}
    with sdk.Session(url, seed=seed, credits=8, timeout=300, **kw) as s:
        game = None
        if v2v:
            import crafter

            from runtime.training.data.crafter_agent import ScriptedAgent

            env = crafter.Env(area=(64, 64), size=(s.info.width, s.info.height), seed=seed)
            obs, agent = env.reset(), ScriptedAgent(seed)

            def game() -> np.ndarray:  # the game's next frame
                nonlocal obs
                obs, _r, done, _i = env.step(agent.act(env))
                if done:
                    obs = env.reset()
                return obs

            sent = {s.send_frame(obs, anchor=True): time.perf_counter()}
        frames = s.frames(timeout=300)
        next(frames)  # the first frame: the stream is warm
        n = named = 0
        latencies: list[float] = []
        seen: set[int] = set()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f = next(frames)
            now = time.perf_counter()
            n += 1
            if v2v:
                if f.source_index >= 0:
                    named += 1
                    if f.source_index not in seen and f.source_index in sent:
                        seen.add(f.source_index)
                        latencies.append(1e3 * (now - sent[f.source_index]))
                sent[s.send_frame(game())] = time.perf_counter()
        elapsed = time.perf_counter() - t0
        stats = s.stats
    out = {"v2v": v2v, "frames": n, "seconds": round(elapsed, 2), "fps": round(n / elapsed, 2)}
    if v2v:
        out.update(named_share=round(named / max(n, 1), 3), sources_sent=len(sent), sources_seen=len(seen),
                   latency_p50_ms=_r(percentile(latencies, 50)), latency_p99_ms=_r(percentile(latencies, 99)),
                   source_frames_received=stats.source_frames_received if stats else None,
                   source_frames_dropped=stats.source_frames_dropped if stats else None)
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def client_round(url: str, seconds: float, v2v: bool, strength: float, seed: int) -> dict:
    """Run one round in a separate client process; its JSON line. Raises RuntimeError when the client fails."""
    cmd = [sys.executable, __file__, "--client", url, "--seconds", str(seconds), "--strength", str(strength),
           "--seed", str(seed)] + (["--v2v"] if v2v else [])
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 600)
    if p.returncode != 0:
        raise RuntimeError(f"client process failed: {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="default", help="checkpoint directory or shipped name")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds per round, from the round's first frame")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per side, interleaved")
    ap.add_argument("--strength", type=float, default=0.5, help="v2v strength in [0, 1]")
    ap.add_argument("--compile", default="auto", choices=("auto", "on", "off"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--v2v", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.client:
        print(json.dumps(run_client(a.client, a.seconds, a.v2v, a.strength, a.seed)))
        return

    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    directory = resolve(a.checkpoint)
    pipe = StreamDiTPipeline.from_checkpoint(directory)
    rt = ServingRuntime(pipe, ServeConfig(pace=False, max_sessions=1, compile=a.compile,
                                          model_name=directory.name)).start()
    try:
        url = f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"
        if not rt.engine.warmed_up.wait(900):
            raise RuntimeError(f"{directory} did not warm up within 900 s")
        rounds = []
        for r in range(a.rounds):
            for v2v in (False, True):
                got = client_round(url, a.seconds, v2v, a.strength, a.seed + r)
                print(json.dumps({"round": r, **got}), file=sys.stderr)
                rounds.append({"round": r, **got})
                time.sleep(1.0)  # the closed session leaves the engine
    finally:
        rt.shutdown()
    text = [x for x in rounds if not x["v2v"]]
    v2v = [x for x in rounds if x["v2v"]]
    ratios = [v["fps"] / t["fps"] for t, v in zip(text, v2v) if t["fps"]]
    med = statistics.median
    p50 = [x["latency_p50_ms"] for x in v2v if x["latency_p50_ms"] is not None]
    p99 = [x["latency_p99_ms"] for x in v2v if x["latency_p99_ms"] is not None]
    print(json.dumps({
        "checkpoint": directory.name, "strength": a.strength, "seconds_per_round": a.seconds, "rounds": a.rounds,
        "text_only_fps_median": round(med(x["fps"] for x in text), 2),
        "v2v_fps_median": round(med(x["fps"] for x in v2v), 2),
        "v2v_over_text_only_median": round(med(ratios), 3) if ratios else None,
        "v2v_over_text_only_per_round": [round(x, 3) for x in ratios],
        "latency_p50_ms_median": round(med(p50), 1) if p50 else None,
        "latency_p99_ms_median": round(med(p99), 1) if p99 else None,
        "meets_16fps": med(x["fps"] for x in v2v) >= 16.0,
        "rounds_detail": rounds,
    }))


if __name__ == "__main__":
    main()

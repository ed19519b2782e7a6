"""Benchmark real-time streaming: the distilled default model end to end through ZeroMQ, against its teacher.

Prints one JSON line; everything is measured side by side in this one run, on this machine:

- for the student (--student, default: the shipped default model) and then the teacher (--teacher, default:
  the shipped teacher), each served by an in-process runtime (`ServingRuntime`, pace off: as fast as the
  machine goes, torch.compile per --compile) and watched by a separate client process over ZeroMQ:
  - fps: frames per second the client received over the timed window (--seconds for the student, at least
    60 by default; --teacher-seconds for the teacher), counted from its first frame;
  - nfe_per_chunk: model forward passes per emitted chunk over the window (a CFG pass counts 2);
  - step_ms: mean wall time of one DiT step (the engine's own clock), milliseconds;
  - decode_ms_per_frame: mean decoder time per video frame, milliseconds;
  - gflops_per_step and mfu: FLOPs of one step (torch.utils.flop_counter on the model's forward at the
    step's batch) and model FLOP utilisation = FLOPs / step time / the bf16 matmul FLOP/s measured here;
  - latency_p50_ms / latency_p99_ms: event-to-frame latency of Crafter events the client pushes every
    --event-every seconds (sdk.LatencyTracker: push to the first frame whose event_id reaches the event);
  - dropped: frame-index gaps the client saw;
- eager_step_ms and compile_speedup: the student's step without torch.compile, timed in this process after
  the served runs (median of 20 steps), over the served compiled step;
- batched_vs_sequential: the student's step for 4 streams in one batch against 4 x its one-stream step (in
  this process, same compile setting): how much batching sessions saves per session;
- speedup: student fps over teacher fps; realtime_target_fps: the model's frame rate (16); meets_target.

    python benchmarks/realtime.py [--seconds 60] [--teacher-seconds 30] [--student DIR] [--teacher DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve other threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Crafter events the client pushes in turn (rules of the default prompt map, runtime/serving/prompt_maps).
EVENTS = [("player_moves_left", {"terrain": "grass"}), ("player_moves_right", {"terrain": "grass"}),
          ("player_moves_up", {"terrain": "sand"}), ("player_moves_down", {"terrain": "grass"})]


# ----------------------------------------------------------------------------------- the client process
def run_client(url: str, seconds: float, event_every: float) -> dict:
    """Receive frames from `url` for `seconds` after the first one, pushing an event every `event_every` s."""
    import sdk
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    tracker = sdk.LatencyTracker()
    with sdk.Session(url, prompt_map=default_crafter_prompt_map(), seed=0, credits=8, timeout=300) as s:
        frames = s.frames(timeout=300)
        tracker.frame(next(frames))  # the first frame: the stream is warm
        stop = threading.Event()

        def push() -> None:
            i = 0
            while not stop.wait(event_every):
                kind, payload = EVENTS[i % len(EVENTS)]
                try:
                    tracker.ack(s.push_event(kind, payload, timeout=60))
                except Exception as e:  # noqa: BLE001 - reported, not fatal: the FPS figure still stands
                    print(f"event {kind} failed: {e}", file=sys.stderr)
                i += 1

        pusher = threading.Thread(target=push, daemon=True)
        pusher.start()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            tracker.frame(next(frames))
            n += 1
        elapsed = time.perf_counter() - t0
        stop.set()
        pusher.join(65)
        for _ in range(2 * s.frames_per_chunk):  # frames of the last events' chunks, for their latency
            tracker.frame(next(frames))
    return {"frames": n, "seconds": elapsed, "fps": n / elapsed, "events": len(tracker.acks),
            "latency_p50_ms": tracker.percentile_ms(50), "latency_p99_ms": tracker.percentile_ms(99),
            "dropped": tracker.gaps}


# ----------------------------------------------------------------------------------- the runtime side
def step_flops(pipe: object, guidance: float) -> float:
    """FLOPs of one streaming step of `pipe` for one stream: a forward at batch 1, or 2 with CFG."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    batch = 1 if guidance == 1.0 else 2
    C, h, w = pipe.latent_shape  # type: ignore[attr-defined]
    B = pipe.buffer_frames  # type: ignore[attr-defined]
    text, mask = pipe.text_encoder.encode_one("the player walks left across the grass")  # type: ignore[attr-defined]
    x = torch.zeros(batch, C, B, h, w)
    t = torch.rand(batch, B)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), FlopCounterMode(display=False) as fc:
        pipe.model(x, t, text[None].expand(batch, -1, -1), mask[None].expand(batch, -1))  # type: ignore[attr-defined]
    return float(fc.get_total_flops())


def serve_and_measure(checkpoint: str, seconds: float, event_every: float, compile_mode: str,
                      matmul_flops: float) -> tuple[dict, object]:
    """Serve `checkpoint` over ZeroMQ, run the client process against it, and combine both sides' figures."""
    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    directory = resolve(checkpoint)
    pipe = StreamDiTPipeline.from_checkpoint(directory)
    rt = ServingRuntime(pipe, ServeConfig(pace=False, max_sessions=1, compile=compile_mode,
                                          model_name=directory.name)).start()
    try:
        url = f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"
        t0 = time.perf_counter()
        rt.engine.warmed_up.wait()
        warm_s = time.perf_counter() - t0
        client = subprocess.Popen([sys.executable, __file__, "--client", url, "--seconds", str(seconds),
                                   "--event-every", str(event_every)], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        eng, smp = rt.engine, rt.engine.sampler
        while eng.chunks == 0 and client.poll() is None:  # the stream's own start-up pass: not counted
            time.sleep(0.05)
        before = (smp.model_calls, eng.chunks, eng.steps, eng.step_seconds, eng.decode_seconds, eng.frames_decoded)
        out, err = client.communicate(timeout=seconds + 900)
        after = (smp.model_calls, eng.chunks, eng.steps, eng.step_seconds, eng.decode_seconds, eng.frames_decoded)
        if client.returncode != 0:
            raise RuntimeError(f"client process failed: {err.strip()[-2000:]}")
        got = json.loads(out.strip().splitlines()[-1])
    finally:
        rt.shutdown()
    calls, chunks, steps, step_s, dec_s, frames = (a - b for a, b in zip(after, before))
    guidance = smp.guidance_scale
    flops = step_flops(pipe, guidance)
    step_ms = 1e3 * step_s / max(steps, 1)
    return {
        "checkpoint": directory.name, "scheme": {"c": smp.scheme.c, "s": smp.scheme.s, "N": smp.scheme.N},
        "cfg": guidance != 1.0, "compiled": smp.compiled, "warm_up_s": round(warm_s, 1),
        "fps": round(got["fps"], 2), "seconds": round(got["seconds"], 1), "frames": got["frames"],
        "nfe_per_chunk": round(calls * (1 if guidance == 1.0 else 2) / max(chunks, 1), 3),
        "step_ms": round(step_ms, 2), "decode_ms_per_frame": round(1e3 * dec_s / max(frames, 1), 2),
        "gflops_per_step": round(flops / 1e9, 3), "mfu": round(flops / (step_ms / 1e3) / matmul_flops, 4),
        "events": got["events"], "latency_p50_ms": _r(got["latency_p50_ms"]),
        "latency_p99_ms": _r(got["latency_p99_ms"]), "dropped": got["dropped"],
    }, pipe


def eager_step_ms(pipe: object, steps: int = 20) -> float:
    """Median wall time (ms) of one eager (not compiled) streaming step of `pipe`, one stream, bf16."""
    smp = pipe.sampler(compile="off")  # type: ignore[attr-defined]
    sid = smp.add_stream(*pipe.text_encoder.encode_one("the player walks left across the grass"), seed=0)  # type: ignore[attr-defined]
    while not smp.is_streaming(sid):
        smp.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        smp.step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def batched_speedup(pipe: object, compile_mode: str, streams: int = 4, steps: int = 10) -> dict:
    """Sessions batched into one step against the same sessions stepped one at a time, in this process.

    Times `steps` steps of one warm stream, then of `streams` streams in one batch; speed-up =
    streams x (one-stream step) / (batched step): above 1 when batching shares per-step costs."""
    smp = pipe.sampler(compile=compile_mode, max_streams=streams)  # type: ignore[attr-defined]
    prompt = pipe.text_encoder.encode_one("the player walks left across the grass")  # type: ignore[attr-defined]
    ids = [smp.add_stream(*prompt, seed=0)]

    def timed() -> float:
        while not all(smp.is_streaming(i) for i in ids):
            smp.step()
        for _ in range(2):
            smp.step()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            smp.step()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    one = timed()
    ids += [smp.add_stream(*prompt, seed=i) for i in range(1, streams)]
    many = timed()
    return {"streams": streams, "one_stream_step_ms": round(1e3 * one, 2), "batched_step_ms": round(1e3 * many, 2),
            "speedup": round(streams * one / many, 2)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--student", default="default", help="Distilled checkpoint (directory or shipped name).")
    ap.add_argument("--teacher", default="teacher", help="Teacher checkpoint (directory or shipped name).")
    ap.add_argument("--seconds", type=float, default=60.0, help="Timed window for the student, seconds.")
    ap.add_argument("--teacher-seconds", type=float, default=30.0, help="Timed window for the teacher, seconds.")
    ap.add_argument("--event-every", type=float, default=2.0, help="Seconds between the client's events.")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"], help="torch.compile the DiT.")
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)  # internal: run as the client process
    args = ap.parse_args()
    if args.client:
        print(json.dumps(run_client(args.client, args.seconds, args.event_every)))
        return

    import torch

    from benchmarks.common import matmul_flops_per_s

    matmul = matmul_flops_per_s(torch.bfloat16)
    student, pipe = serve_and_measure(args.student, args.seconds, args.event_every, args.compile, matmul)
    teacher, _ = serve_and_measure(args.teacher, args.teacher_seconds, args.event_every, args.compile, matmul)
    eager = eager_step_ms(pipe)
    batched = batched_speedup(pipe, args.compile)
    target = float(pipe.fps)  # type: ignore[attr-defined]
    print(json.dumps({
        "benchmark": "realtime", "transport": "zmq", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "bf16_matmul_gflops": round(matmul / 1e9, 1),
        "student": student, "teacher": teacher,
        "eager_step_ms": round(eager, 2), "compile_speedup": round(eager / student["step_ms"], 2),
        "speedup": round(student["fps"] / max(teacher["fps"], 1e-9), 2),
        "batched_vs_sequential": batched,
        "realtime_target_fps": target, "meets_target": student["fps"] >= target and student["nfe_per_chunk"] == 1,
    }))


if __name__ == "__main__":
    main()

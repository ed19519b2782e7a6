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
    step's batch, attention included) and model FLOP utilisation = FLOPs / mean served step time / the bf16
    matmul FLOP/s measured here;
  - latency_p50_ms / latency_p99_ms: event-to-frame latency of Crafter events the client pushes every
    --event-every seconds (sdk.LatencyTracker: push to the first frame whose event_id reaches the event);
  - dropped: frame-index gaps the client saw;
- in_process: step times in this process after the served runs, side by side (medians): the student eager,
  compiled, and compiled with 4 streams in one batch; compile_speedup = eager / compiled, and
  batched.speedup = 4 x one-stream step / batched step (how much batching sessions saves per session);
- speedup: student fps over teacher fps; realtime_target_fps: the model's frame rate (16); meets_target:
  the student's fps reaches it with exactly 1 model call per chunk.

The runtime does not pace here (it streams as fast as the machine goes), so fps is capacity, and latency is
measured with the client's credits (8 frames) as the only queue; served steps share the 2 cores with the
decoder thread and the client process, so step_ms is above the in-process step time.

    python benchmarks/realtime.py [--seconds 60] [--teacher-seconds 30] [--student DIR] [--teacher DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    """FLOPs of one streaming step of `pipe` for one stream: a forward at batch 1 (2 with CFG), the prompt
    padded to the text encoder's limit as the compiled sampler pads it (benchmarks.common.forward_flops)."""
    import torch

    from benchmarks.common import forward_flops

    batch = 1 if guidance == 1.0 else 2
    C, h, w = pipe.latent_shape  # type: ignore[attr-defined]
    B = pipe.buffer_frames  # type: ignore[attr-defined]
    text, mask = pipe.text_encoder.encode_one("the player walks left across the grass")  # type: ignore[attr-defined]
    L = max(int(getattr(pipe.text_encoder, "max_tokens", 0)), text.shape[0])  # type: ignore[attr-defined]
    tx, mk = torch.zeros(batch, L, text.shape[1]), torch.zeros(batch, L, dtype=torch.bool)
    tx[:, : text.shape[0]], mk[:, : text.shape[0]] = text, mask
    return forward_flops(pipe.model, torch.zeros(batch, C, B, h, w), torch.rand(batch, B), tx, mk)  # type: ignore[attr-defined]


def is_distilled_checkpoint(directory: Path) -> bool:
    from runtime.model.checkpoint import is_distilled, read_config

    return is_distilled(read_config(directory))


def serve_and_measure(directory: Path, seconds: float, event_every: float, compile_mode: str,
                      matmul_flops: float, warm_up_timeout: float = 900.0) -> tuple[dict, object]:
    """Serve the checkpoint at `directory` over ZeroMQ, run the client process against it, combine both sides'
    figures. Raises RuntimeError when the warm-up or the client takes too long or the client fails."""
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    pipe = StreamDiTPipeline.from_checkpoint(directory)
    rt = ServingRuntime(pipe, ServeConfig(pace=False, max_sessions=1, compile=compile_mode,
                                          model_name=directory.name)).start()
    eng, smp = rt.engine, rt.engine.sampler
    try:
        url = f"zmq://127.0.0.1:{rt.serve_zmq('127.0.0.1', 0)}"
        t0 = time.perf_counter()
        if not eng.warmed_up.wait(warm_up_timeout):
            raise RuntimeError(f"{directory} did not warm up within {warm_up_timeout:g} s")
        warm_s = time.perf_counter() - t0
        client = subprocess.Popen([sys.executable, __file__, "--client", url, "--seconds", str(seconds),
                                   "--event-every", str(event_every)], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            while eng.counters()["chunks"] == 0 and client.poll() is None:  # the stream's start-up: not counted
                time.sleep(0.05)
            before = eng.counters()
            out, err = client.communicate(timeout=seconds + 900)
            after = eng.counters()
        except subprocess.TimeoutExpired:
            client.kill()
            client.communicate()
            raise RuntimeError(f"the client process did not finish within {seconds + 900:g} s") from None
        if client.returncode != 0:
            raise RuntimeError(f"client process failed: {err.strip()[-2000:]}")
        got = json.loads(out.strip().splitlines()[-1])
    finally:
        rt.shutdown()
    d = {k: after[k] - before[k] for k in after}
    guidance = smp.guidance_scale
    flops = step_flops(pipe, guidance)
    step_ms = 1e3 * d["step_seconds"] / max(d["steps"], 1)
    return {
        "checkpoint": directory.name, "scheme": {"c": smp.scheme.c, "s": smp.scheme.s, "N": smp.scheme.N},
        "cfg": guidance != 1.0, "compiled": smp.compiled, "warm_up_s": round(warm_s, 1),
        "fps": round(got["fps"], 2), "seconds": round(got["seconds"], 1), "frames": got["frames"],
        "nfe_per_chunk": round(d["model_calls"] * (1 if guidance == 1.0 else 2) / max(d["chunks"], 1), 3),
        "step_ms": round(step_ms, 2), "decode_ms_per_frame": round(1e3 * d["decode_seconds"] / max(d["frames_decoded"], 1), 2),
        "gflops_per_step": round(flops / 1e9, 3), "mfu": round(flops / (step_ms / 1e3) / matmul_flops, 4),
        "events": got["events"], "latency_p50_ms": _r(got["latency_p50_ms"]),
        "latency_p99_ms": _r(got["latency_p99_ms"]), "dropped": got["dropped"],
    }, pipe


def in_process_steps(pipe: object, compile_mode: str, streams: int = 4, reps: int = 10) -> dict:
    """Step times in this process, side by side: eager one stream, compiled one stream, compiled `streams`
    streams in one batch (median of `reps` steps each, milliseconds). compile_speedup = eager / compiled
    (None when nothing compiled here); batched_speedup = streams x one-stream step / batched step, above 1
    when batching sessions shares per-step costs."""
    from benchmarks.common import median_time, warm_sampler

    eager = median_time(warm_sampler(pipe, "off").step, reps=reps)  # type: ignore[attr-defined]
    one_smp = warm_sampler(pipe, compile_mode)
    one = median_time(one_smp.step, reps=reps)  # type: ignore[attr-defined]
    many = median_time(warm_sampler(pipe, compile_mode, streams).step, reps=reps)  # type: ignore[attr-defined]
    compiled = bool(one_smp.compiled)  # type: ignore[attr-defined]
    return {"eager_step_ms": round(1e3 * eager, 2), "step_ms": round(1e3 * one, 2), "compiled": compiled,
            "compile_speedup": round(eager / one, 2) if compiled else None,
            "batched": {"streams": streams, "step_ms": round(1e3 * many, 2),
                        "speedup": round(streams * one / many, 2)}}


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
    from runtime.checkpoints import resolve

    student_dir, teacher_dir = resolve(args.student), resolve(args.teacher)  # fail now, not after minutes
    if not is_distilled_checkpoint(student_dir):
        raise SystemExit(f"--student {student_dir} is not a distilled checkpoint (no sampling.distilled_from); "
                         f"pass the output of `streamdit distill`")
    if is_distilled_checkpoint(teacher_dir):
        raise SystemExit(f"--teacher {teacher_dir} is a distilled student; pass its teacher")
    matmul = matmul_flops_per_s(torch.bfloat16)
    student, pipe = serve_and_measure(student_dir, args.seconds, args.event_every, args.compile, matmul)
    torch._dynamo.reset()  # the teacher compiles from scratch, as it would when served on its own
    teacher, _ = serve_and_measure(teacher_dir, args.teacher_seconds, args.event_every, args.compile, matmul)
    torch._dynamo.reset()
    local = in_process_steps(pipe, args.compile)
    target = float(pipe.fps)  # type: ignore[attr-defined]
    print(json.dumps({
        "benchmark": "realtime", "transport": "zmq", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "bf16_matmul_gflops": round(matmul / 1e9, 1),
        "student": student, "teacher": teacher, "in_process": local,
        "speedup": round(student["fps"] / max(teacher["fps"], 1e-9), 2),
        "realtime_target_fps": target, "meets_target": student["fps"] >= target and student["nfe_per_chunk"] == 1.0,
    }))


if __name__ == "__main__":
    main()

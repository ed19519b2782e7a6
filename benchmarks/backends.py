"""Benchmark the backends side by side: torch eager, torch compiled, onnxruntime (and its int8 DiT).

Prints one JSON line. Every backend serves the same checkpoint (default: the shipped default model, 72x72) in
this one process, and each round measures every backend once, in a rotated order (benchmarks.common.interleaved),
so a change of load on the shared machine hits them alike:

- step_ms: median wall time of one StreamingSampler.step() of a warm one-stream sampler (no CFG for the
  student: one model call);
- decode_ms_per_frame: median time of pipeline.decode() of one emitted chunk, divided by its frames;
- stream_fps: frames per second an in-process client (`local://`, credits 8) receives from an unpaced
  ServingRuntime of that backend over --seconds, after its first frames: DiT thread, decode thread and client
  on the same cores, as served;
- ratio_to_torch_compiled: per metric (step, decode, fps), the median over rounds of each round's ratio to
  torch compiled measured in the same round (step and decode: time / compiled time, below 1 is faster; fps:
  fps / compiled fps, above 1 is faster).
Figures are medians over --reps rounds, with [min, max] spreads. "auto" gives what `--backend auto` picks on
this machine and why (runtime.backends.select).

    python benchmarks/backends.py [--checkpoint default] [--reps 5] [--seconds 4] [--int8] [--onnx DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP workers starve other threads
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import interleaved, median_time, spread  # noqa: E402

REFERENCE = "torch-compiled"
METRICS = ("step_ms", "decode_ms_per_frame", "stream_fps")


def backend_rows(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Figures per backend from interleaved samples {backend: {metric: [value per round]}}: medians, spreads, and
    the medians of per-round ratios to torch compiled (None for every ratio when it was not measured)."""
    med = statistics.median
    ref = samples.get(REFERENCE)
    rows: dict[str, dict[str, Any]] = {}
    for name, by_metric in samples.items():
        row: dict[str, Any] = {}
        for metric in METRICS:
            vals = by_metric[metric]
            row[metric] = round(med(vals), 2)
            row[f"{metric}_spread"] = [round(min(vals), 2), round(max(vals), 2)]
        ratios = {}
        for key, metric in (("step", "step_ms"), ("decode", "decode_ms_per_frame"), ("fps", "stream_fps")):
            ratios[key] = (round(med([a / b for a, b in zip(by_metric[metric], ref[metric])]), 3)
                           if ref is not None else None)
        row["ratio_to_torch_compiled"] = ratios
        rows[name] = row
    return rows


def stream_fps(rt: Any, seconds: float) -> float:
    """Frames/s an in-process Session receives from runtime `rt` (unpaced) over `seconds`, after 4 frames."""
    import sdk
    from runtime.serving.local import install

    install(rt)
    try:
        with sdk.Session("local://", prompt="the player walks left across the grass", seed=0, credits=8,
                         timeout=120) as s:
            it = s.frames(timeout=120)
            for _ in range(4):
                next(it)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                next(it)
                n += 1
            return n / (time.perf_counter() - t0)
    finally:
        install(None)


def prepare(checkpoint: Path, int8: bool, onnx_dir: str | None) -> dict[str, dict[str, Any]]:
    """Per backend: its pipeline, a warm one-stream sampler, a latent chunk, an unpaced runtime (warm)."""
    from benchmarks.common import warm_sampler
    from runtime.backends.select import describe, ensure_export, load_pipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    export = ensure_export(checkpoint, onnx_dir, int8)
    cases = {"torch-eager": ("torch", "off", False), REFERENCE: ("torch", "on", False),
             "onnxruntime": ("onnxruntime", "off", False)}
    if int8:
        cases["onnxruntime-int8"] = ("onnxruntime", "off", True)
    out = {}
    for name, (backend, compile_mode, q) in cases.items():
        pipe = load_pipeline(checkpoint, backend=backend, compile_mode=compile_mode,
                             onnx_dir=export if backend == "onnxruntime" else None, int8=q)
        smp = warm_sampler(pipe, compile_mode)
        chunk = next(c.latent for _ in range(64) for c in smp.step())  # type: ignore[attr-defined]
        rt = ServingRuntime(pipe, ServeConfig(pace=False, max_sessions=1, compile=compile_mode,
                                              model_name=checkpoint.name)).start()
        rt.wait_warm()
        label, provider = describe(pipe, rt.engine.sampler)
        out[name] = {"pipe": pipe, "sampler": smp, "chunk": chunk, "runtime": rt, "label": label,
                     "provider": provider}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="default", help="Checkpoint directory or shipped name.")
    ap.add_argument("--reps", type=int, default=5, help="Rounds; each measures every backend once.")
    ap.add_argument("--seconds", type=float, default=4.0, help="Timed stream window of one round, seconds.")
    ap.add_argument("--int8", action="store_true", help="Also the onnxruntime DiT with int8 MatMuls.")
    ap.add_argument("--onnx", default=None, help="ONNX export directory (default: serve's cache, exported once).")
    args = ap.parse_args()

    import torch

    from runtime.backends.select import choose_backend
    from runtime.checkpoints import resolve
    from runtime.pipeline import default_device

    checkpoint = resolve(args.checkpoint)
    cases = prepare(checkpoint, args.int8, args.onnx)
    sides: dict[str, Callable[[], float]] = {}
    values: dict[str, dict[str, list[float]]] = {n: {k: [] for k in METRICS} for n in cases}

    def one_round(name: str) -> float:
        c = cases[name]
        step = median_time(c["sampler"].step, reps=5, warmup=1)
        frames = c["pipe"].decode(c["chunk"]).shape[0]
        dec = median_time(lambda: c["pipe"].decode(c["chunk"]), reps=5, warmup=1) / frames
        fps = stream_fps(c["runtime"], args.seconds)
        for metric, v in zip(METRICS, (1e3 * step, 1e3 * dec, fps)):
            values[name][metric].append(v)
        return step

    for name in cases:
        sides[name] = lambda name=name: one_round(name)
    interleaved(sides, args.reps)
    rows = backend_rows(values)
    for name, c in cases.items():
        rows[name].update(backend=c["label"], provider=c["provider"])
        c["runtime"].shutdown()
    auto = choose_backend("auto", default_device(), "auto")
    print(json.dumps({
        "benchmark": "backends", "checkpoint": checkpoint.name, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "rounds": args.reps, "stream_seconds": args.seconds, "backends": rows,
        "auto": {"backend": auto.name, "reason": auto.reason},
    }))


if __name__ == "__main__":
    main()

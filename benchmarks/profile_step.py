"""Where the time of one streaming step goes: torch.profiler over DiT steps, eager and compiled, side by side.

Prints a table per mode (self CPU time per op, milliseconds per step, grouped into matmul / attention /
element-wise / norms / copies and casts / other, then the top ops) and finally one JSON line with the
groups and each mode's wall time per step. One stream, the checkpoint's own scheme, bf16 autocast.

    python benchmarks/profile_step.py [--checkpoint default] [--steps 10] [--modes eager,compiled]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GROUPS = {  # ATen op -> group; ops not listed are "other" (compiled kernels are "fused (Inductor)")
    "matmul": ("aten::addmm", "aten::mm", "aten::linear", "mkldnn::_linear_pointwise", "aten::_weight_int4pack_mm"),
    "attention": ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_softmax", "aten::bmm",
                  "aten::isneginf", "aten::all", "aten::where", "aten::_scaled_dot_product_attention_math"),
    "element-wise": ("aten::mul", "aten::add", "aten::add_", "aten::sub", "aten::gelu", "aten::pow", "aten::div",
                     "aten::div_", "aten::silu", "aten::rsqrt", "aten::cos", "aten::sin", "aten::neg", "aten::exp",
                     "aten::mean", "aten::sum"),
    "norms": ("aten::native_layer_norm", "aten::_fused_rms_norm", "aten::layer_norm", "aten::rms_norm"),
    "copies and casts": ("aten::copy_", "aten::_to_copy", "aten::cat", "aten::clone", "aten::roll",
                         "aten::contiguous", "aten::empty_strided", "aten::empty"),
}
GROUP_OF = {op: g for g, ops in GROUPS.items() for op in ops}


def group_of(name: str) -> str:
    if name in GROUP_OF:
        return GROUP_OF[name]
    if "cpp_fused" in name or "inductor" in name.lower() or name.startswith("Torch-Compiled") or "graph_" in name:
        return "fused (Inductor)"
    return "other"


def profile(pipe: object, compile_mode: str, steps: int) -> dict:
    """Profile `steps` streaming steps of one warm stream; returns ms per step by group and top ops."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from benchmarks.common import warm_sampler

    smp = warm_sampler(pipe, compile_mode)
    for _ in range(3):
        smp.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        smp.step()
    wall_ms = 1e3 * (time.perf_counter() - t0) / steps
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            smp.step()
    groups: dict[str, float] = defaultdict(float)
    ops = []
    for ev in prof.key_averages():
        ms = ev.self_cpu_time_total / 1e3 / steps
        groups[group_of(ev.key)] += ms
        ops.append((ms, ev.key, ev.count // steps))
    ops.sort(reverse=True)
    return {"wall_ms_per_step": round(wall_ms, 2),
            "groups_ms_per_step": {g: round(v, 2) for g, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top_ops": [{"op": k, "ms_per_step": round(ms, 2), "calls_per_step": n} for ms, k, n in ops[:12]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="default", help="Checkpoint directory or shipped name.")
    ap.add_argument("--steps", type=int, default=10, help="Profiled steps per mode.")
    ap.add_argument("--modes", default="eager,compiled", help="Comma-separated: eager, compiled.")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"eager", "compiled"}:
        ap.error(f"--modes takes eager and/or compiled, got {args.modes!r}")

    import torch

    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline

    pipe = StreamDiTPipeline.from_checkpoint(resolve(args.checkpoint))
    out = {"benchmark": "profile_step", "checkpoint": args.checkpoint, "torch": torch.__version__,
           "threads": torch.get_num_threads(), "scheme": pipe.scheme().describe()}
    for mode in modes:
        res = profile(pipe, {"eager": "off", "compiled": "on"}[mode], args.steps)
        out[mode] = res
        print(f"\n{mode}: {res['wall_ms_per_step']:.1f} ms per step (wall, unprofiled)")
        print(f"  {'group':<20} ms/step (self CPU time, profiled)")
        for g, v in res["groups_ms_per_step"].items():
            print(f"  {g:<20} {v:7.2f}")
        print(f"  {'top ops':<52} ms/step  calls/step")
        for o in res["top_ops"]:
            print(f"  {o['op'][:52]:<52} {o['ms_per_step']:7.2f}  {o['calls_per_step']:5d}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

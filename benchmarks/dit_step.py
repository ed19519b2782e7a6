"""Benchmark one streaming step of the DiT: time, FLOPs, achieved FLOP/s, and model FLOP utilisation.

Prints one JSON line. For each configuration it measures, in this process and side by side, the median
wall time of one StreamingSampler.step() (bf16 autocast, one stream, no CFG), the FLOPs of that step
(torch.utils.flop_counter), the achieved FLOP/s, and the ratio to a bf16 matmul (the model FLOP utilisation,
MFU). The matmul and the steps are interleaved: every round times the matmul and each configuration once, in
a rotated order, and each round's MFU uses that round's matmul, so a change of load between the two cannot
make one case look idle and another saturated; the MFU printed is the median over rounds. MFU cannot exceed 1
(no model step runs faster than the machine's dense matmul): a median above 1 is reported as invalid.

    python benchmarks/dit_step.py [--reps 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import bounded, count_flops, interleaved, matmul_flops_per_s, median_time, spread  # noqa: E402
from runtime.model.config import PRESETS, DiTConfig  # noqa: E402
from runtime.model.dit import StreamDiT  # noqa: E402
from runtime.sampling.partition import PartitionScheme  # noqa: E402
from runtime.sampling.streaming import StreamingSampler  # noqa: E402

CASES: dict[str, tuple[DiTConfig, tuple[int, int, int], int]] = {
    # name: (model config, latent (C, h, w), buffer frames B)
    "toy_32px": (PRESETS["toy"], (48, 8, 8), 16),
    # 128x128 RGB through an 8x spatial autoencoder with 8 latent channels -> 16x16x8 per latent frame
    "crafter_128px": (PRESETS["crafter-s"], (8, 16, 16), 16),
}


def prepare_case(cfg: DiTConfig, latent: tuple[int, int, int], B: int) -> tuple[StreamingSampler, float, dict]:
    """A warm one-stream sampler of the configuration, the FLOPs of one step, and its size figures."""
    torch.manual_seed(0)
    model = StreamDiT(cfg).eval()
    sch = PartitionScheme.for_buffer(B, 2, 1)
    smp = StreamingSampler(model, sch, latent, autocast_dtype=torch.bfloat16)
    smp.add_stream(torch.randn(8, cfg.text_dim), torch.ones(8, dtype=torch.bool), seed=0)
    for _ in range(sch.steps_to_fill + 1):
        smp.step()
    flops = count_flops(smp.step)
    info = {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3), "latent": list(latent),
            "buffer_frames": B, "tokens": B * latent[1] * latent[2] // cfg.patch_size ** 2,
            "gflops_per_step": round(flops / 1e9, 3)}
    return smp, flops, info


def case_figures(flops: float, step_s: list[float], matmul_flop_s: list[float]) -> dict:
    """Figures of one configuration from interleaved rounds: step time and achieved FLOP/s (medians), and the
    MFU, the median of each round's achieved / matmul FLOP/s; an MFU above 1 is reported as invalid."""
    med = statistics.median
    t = med(step_s)
    mfu = med([flops / s / mm for s, mm in zip(step_s, matmul_flop_s)])
    fig = bounded(mfu, 1.0, "MFU", "a model step cannot do its FLOPs faster than a dense bf16 matmul of this machine")
    out = {"step_ms": round(t * 1e3, 2), "step_ms_spread": [round(x * 1e3, 2) for x in spread(step_s)],
           "achieved_gflops_s": round(flops / t / 1e9, 2)}
    if fig["value"] is None:
        return {**out, "mfu": None, "invalid": fig["invalid"], "measured_mfu": round(mfu, 4)}
    return {**out, "mfu": round(mfu, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="Rounds; each times the matmul and every case once.")
    args = ap.parse_args()
    cases = {name: prepare_case(cfg, latent, B) for name, (cfg, latent, B) in CASES.items()}
    sides = {"matmul": lambda: matmul_flops_per_s(torch.bfloat16, reps=3)}
    for name, (smp, _, _) in cases.items():
        sides[name] = lambda smp=smp: median_time(smp.step, reps=3, warmup=1)
    samples = interleaved(sides, args.reps)
    mm = samples["matmul"]
    out = {"benchmark": "dit_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "rounds": args.reps,
           "bf16_matmul_gflops_s": round(statistics.median(mm) / 1e9, 1),
           "bf16_matmul_gflops_s_spread": [round(x / 1e9, 1) for x in spread(mm)]}
    for name, (_, flops, info) in cases.items():
        out[name] = {**info, **case_figures(flops, samples[name], mm)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Benchmark one streaming step of the DiT: time, FLOPs, achieved FLOP/s, and model FLOP utilisation.

Prints one JSON line. For each configuration it measures, in this process and side by side, the median
wall time of one StreamingSampler.step() (bf16 autocast, one stream, no CFG), the FLOPs of that step
(torch.utils.flop_counter), the achieved FLOP/s, and the ratio to a bf16 matmul measured in the same run
(the model FLOP utilisation, MFU).

    python benchmarks/dit_step.py [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import count_flops, matmul_flops_per_s, median_time  # noqa: E402
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


def bench_case(cfg: DiTConfig, latent: tuple[int, int, int], B: int, reps: int) -> dict:
    torch.manual_seed(0)
    model = StreamDiT(cfg).eval()
    sch = PartitionScheme.for_buffer(B, 2, 1)
    smp = StreamingSampler(model, sch, latent, autocast_dtype=torch.bfloat16)
    smp.add_stream(torch.randn(8, cfg.text_dim), torch.ones(8, dtype=torch.bool), seed=0)
    for _ in range(sch.steps_to_fill + 1):
        smp.step()
    flops = count_flops(smp.step)
    t = median_time(smp.step, reps=reps)
    return {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3), "latent": list(latent),
            "buffer_frames": B, "tokens": B * latent[1] * latent[2] // cfg.patch_size ** 2,
            "step_ms": round(t * 1e3, 2), "gflops_per_step": round(flops / 1e9, 3),
            "achieved_gflops_s": round(flops / t / 1e9, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    matmul = matmul_flops_per_s(torch.bfloat16, reps=args.reps)
    out = {"benchmark": "dit_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "bf16_matmul_gflops_s": round(matmul / 1e9, 1)}
    for name, (cfg, latent, B) in CASES.items():
        r = bench_case(cfg, latent, B, args.reps)
        r["mfu"] = round(r["achieved_gflops_s"] * 1e9 / matmul, 4)
        out[name] = r
    print(json.dumps(out))


if __name__ == "__main__":
    main()

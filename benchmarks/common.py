"""Shared benchmark helpers: medians of repeated timings and the bf16 matmul roofline of this machine."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def median_time(fn: Callable[[], object], reps: int = 5, warmup: int = 2) -> float:
    """Median wall time of fn() in seconds over `reps` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_flops_per_s(dtype: torch.dtype = torch.bfloat16, n: int = 1024, device: str = "cpu", reps: int = 5) -> float:
    """Achieved FLOP/s of an n x n x n matmul in `dtype`, measured now, in this process."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    inner = 8

    def run() -> None:
        for _ in range(inner):
            a @ b
        if device != "cpu":
            torch.cuda.synchronize()

    return 2 * n ** 3 * inner / median_time(run, reps=reps)

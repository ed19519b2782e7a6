"""Shared benchmark helpers: medians of repeated timings, interleaved sides, physical bounds, and the bf16
matmul roofline of this machine.

Figures compared with each other are measured interleaved (`interleaved`: one repetition of every side per
round, the order rotated each round), so that a change of load on a shared machine hits every side alike, and
each figure is checked against a bound that physics sets (`bounded`): a figure beyond it says the measurement
failed (the load changed between the two sides of a ratio), and it is reported as invalid, not as a result.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

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


def count_flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call `fn()`, counted by torch.utils.flop_counter under no_grad.

    Attention runs on SDPA's math backend while counting: the flop counter has no formula for the fused CPU
    kernel (`_scaled_dot_product_flash_attention_for_cpu`) and would count attention as zero. The math
    backend does the same FLOPs.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        fn()
    return float(fc.get_total_flops())


def forward_flops(model: torch.nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one bf16-autocast forward `model(*inputs)` (see count_flops)."""
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16):
        return count_flops(lambda: model(*inputs))


def warm_sampler(pipe: object, compile_mode: str, streams: int = 1) -> object:
    """A StreamingSampler of `pipe` (a StreamDiTPipeline; compile "auto" | "on" | "off") holding `streams`
    streams of one prompt, stepped until every stream is past its start-up pass and emits chunks."""
    smp = pipe.sampler(compile=compile_mode, max_streams=max(streams, 1))  # type: ignore[attr-defined]
    prompt = pipe.text_encoder.encode_one("the player walks left across the grass")  # type: ignore[attr-defined]
    ids = [smp.add_stream(*prompt, seed=i) for i in range(streams)]
    while not all(smp.is_streaming(i) for i in ids):
        smp.step()
    return smp


def interleaved(sides: dict[str, Callable[[], float]], reps: int) -> dict[str, list[float]]:
    """Call every side once per round for `reps` rounds, rotating the order each round (round r starts with
    side r mod n); returns each side's values in round order."""
    names = list(sides)
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(float(sides[name]()))
    return out


def bounded(value: float, upper: float, what: str, why: str, **extra: Any) -> dict[str, Any]:
    """A figure with its physical bound: {"value", ...extra} when value <= upper, else {"value": None,
    "invalid": reason, "measured": value, ...extra}: a figure beyond what physics allows is a failed
    measurement, never a result. what: the figure's name; why: the bound in words."""
    if value <= upper:
        return {"value": value, **extra}
    return {"value": None, "invalid": f"{what} = {value:.4g} exceeds {upper:.4g} ({why}): the measurement failed, "
            f"most likely because the load on the machine changed during it; rerun on a quiet machine",
            "measured": value, **extra}


def spread(values: list[float]) -> list[float]:
    """[min, max] of repeated measurements (rounded), reported beside their median."""
    return [round(min(values), 3), round(max(values), 3)]

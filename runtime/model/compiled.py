"""The DiT forward pass compiled for inference: torch.compile (Inductor) with weight freezing.

Why (issue 5's profile, default model, one stream, bf16, 2-core CPU): an eager streaming step is ~1,300
small ATen calls; element-wise work (adaLN modulate, RoPE, GELU, casts) and per-call overhead take about
half of it, and every Linear re-casts its fp32 weight to bf16 under autocast. Inductor fuses the
element-wise chains, and freezing (`torch._inductor.config.freezing`) folds the weights in as constants so
the bf16 casts happen once and the Linears run on pre-packed oneDNN weights. Measured side by side:
eager 77 ms per step, compiled 58 ms, compiled and frozen 44 ms (benchmarks/realtime.py prints the current
figures).

Costs and limits:
- The first call compiles (about 20-40 s on 2 cores; Inductor caches the result on disk, so a later process
  on the same machine takes a few seconds). A new batch size compiles once more, after which the batch
  dimension is dynamic (torch.compile's automatic dynamic shapes), so sessions joining later reuse it.
- Freezing bakes the current weights in: the compiled forward does not see later changes to the
  parameters. Use it for inference only, never while training or distilling.
- Inductor on CPU needs a C++ compiler. `compile_support()` says whether one is there; callers fall back to
  eager with a logged reason when it is not.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

COMPILE_MODES = ("auto", "on", "off")
COMPILE_ENV = "STREAMDIT_COMPILE"  # "off" makes every "auto" run eagerly (tests, or a machine where compiling misbehaves)


def compile_support(device: torch.device | str = "cpu") -> str | None:
    """None when torch.compile can build kernels for `device` here, else the reason it cannot (a sentence)."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if torch.device(device).type == "cpu":
        cxx = os.environ.get("CXX") or next((c for c in ("g++", "clang++", "c++", "cl") if shutil.which(c)), None)
        if cxx is None or shutil.which(cxx) is None:
            return "no C++ compiler found (install g++ or clang++, or set CXX) for torch.compile's CPU kernels"
    return None


def resolve_compile(mode: str | bool, device: torch.device | str = "cpu") -> bool:
    """Turn a user setting ("auto", "on", "off", or a bool) into whether to compile.

    "auto" compiles when `compile_support` finds nothing missing (and the environment variable
    STREAMDIT_COMPILE is not "off") and logs why not otherwise; "on" raises
    ConfigError when compiling is impossible here, naming what is missing.
    """
    from sdk.errors import ConfigError

    if isinstance(mode, bool):
        mode = "on" if mode else "off"
    if mode not in COMPILE_MODES:
        raise ConfigError(f"compile must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "auto" and os.environ.get(COMPILE_ENV, "").strip().lower() in ("0", "off", "false", "no"):
        return False
    if mode == "off":
        return False
    reason = compile_support(device)
    if reason is None:
        return True
    if mode == "on":
        raise ConfigError(f"cannot compile the model: {reason}; or pass --compile off")
    log.warning("running the model eagerly (slower): %s", reason)
    return False


class CompiledForward:
    """A frozen, compiled stand-in for `model(x, t, text, text_mask)` (same arguments, same result).

    model: a StreamDiT in eval mode. Call it under torch.no_grad() (freezing applies to inference graphs
    only). The first call for a new input signature compiles; see the module docstring for costs.
    """

    def __init__(self, model: nn.Module) -> None:
        # Dynamo warns when it traces through functools.lru_cache; ours (RoPE tables, shifted-window masks) are
        # pure functions of shapes, so tracing through them is exact. Keep the warning out of users' logs.
        warnings.filterwarnings("ignore", message=r"Dynamo detected a call to a `functools.lru_cache`",
                                category=UserWarning)
        self.model = model.eval()
        self._compiled: Callable[..., torch.Tensor] = torch.compile(model, dynamic=None)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):  # read when a graph compiles; a no-op for cached graphs
            return self._compiled(x, t, text, text_mask)

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.null_prompt(batch)  # type: ignore[operator]

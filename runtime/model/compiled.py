"""The DiT forward pass compiled for inference: torch.compile (Inductor) with weight freezing.

Why (issue 5's profile, `benchmarks/profile_step.py`): an eager streaming step of the default model is
~1,300 small ATen calls on a 2-core CPU; element-wise work (adaLN modulate, RoPE, GELU, casts) and per-call
overhead take about half of it, and every Linear re-casts its fp32 weight to bf16 under autocast. Inductor
fuses the element-wise chains, and freezing (`torch._inductor.config.freezing`) folds the weights in as
constants, so the bf16 casts happen once and the Linears run on pre-packed oneDNN weights. Compiling
without freezing gains much less. `benchmarks/realtime.py` measures eager against compiled in one run;
docs/performance.md has the figures.

Costs and limits:
- The first call compiles (tens of seconds on 2 cores; Inductor caches the result on disk, so a later
  process on the same machine takes a few seconds). A new batch size compiles once more, after which the
  batch dimension is dynamic (torch.compile's automatic dynamic shapes), so sessions joining later reuse it.
- Freezing bakes the current weights in: the compiled forward does not see later changes to the
  parameters. Use it for inference only, never while training or distilling.
- Inductor on CPU needs a C++ compiler (and a Python that Dynamo supports). `compile_support()` says whether
  both are there; `resolve_compile` turns "auto" into eager with a logged reason when they are not, and a
  compile that still fails at run time falls back to eager with a warning (`CompiledForward`).
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
    try:
        import torch._dynamo as dynamo  # (a bare `import torch._dynamo` would make `torch` local here)

        if not dynamo.is_dynamo_supported():
            return "torch.compile does not support this Python version"
    except Exception as e:  # noqa: BLE001 - any failure to import the compiler stack means "cannot compile"
        return f"torch.compile is unavailable ({type(e).__name__}: {e})"
    if torch.device(device).type == "cpu":
        cxx = os.environ.get("CXX")  # the compiler Inductor will call: $CXX, else its platform default
        if not cxx:
            try:
                from torch._inductor.cpp_builder import get_cpp_compiler

                cxx = get_cpp_compiler()  # g++ on Linux, cl on Windows
            except Exception:  # noqa: BLE001 - it raises when it finds none
                cxx = "g++"
        if shutil.which(cxx) is None:
            return (f"the C++ compiler {cxx!r} that torch.compile's CPU kernels need is not installed (install "
                    f"g++, or point the CXX environment variable at a compiler)")
    return None


def resolve_compile(mode: str | bool, device: torch.device | str = "cpu") -> bool:
    """Turn a user setting ("auto", "on", "off", or a bool) into whether to compile.

    "auto" compiles when `compile_support` finds nothing missing (and the environment variable
    STREAMDIT_COMPILE is not "off") and logs why not otherwise. "on" (or True) raises ConfigError when
    compiling is impossible here, naming what is missing. Raises ConfigError for an unknown mode.
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
        raise ConfigError(f"cannot compile the model: {reason}; or turn compiling off (compile=\"off\", "
                          f"`--compile off` on the command line)")
    log.warning("running the model eagerly (slower): %s", reason)
    return False


class CompiledForward:
    """A frozen, compiled stand-in for `model(x, t, text, text_mask)`: same arguments, same result.

    Call it under torch.no_grad() (freezing applies to inference graphs only) with the StreamDiT.forward
    arguments: x float [B, C, F, H, W], t float [B, F], text float [B, L, D_text], text_mask bool [B, L];
    returns the velocity [B, C, F, H, W] in x's dtype. The first call for a new input signature compiles.
    If compiling or running the compiled graph raises, it logs a warning once and runs the model eagerly
    from then on (`active` turns False), so a broken compiler never takes the stream down.
    """

    def __init__(self, model: nn.Module) -> None:
        # Dynamo warns when it traces through functools.lru_cache; ours (RoPE tables, shifted-window masks) are
        # pure functions of shapes, so tracing through them is exact. Keep the warning out of users' logs.
        warnings.filterwarnings("ignore", message=r"Dynamo detected a call to a `functools.lru_cache`",
                                category=UserWarning)
        self.model = model.eval()
        self.active = True  # False after a compile failure: calls go to the eager model
        self._compiled: Callable[..., torch.Tensor] = torch.compile(model, dynamic=None)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        if self.active:
            import torch._inductor.config as inductor_config

            try:
                with inductor_config.patch(freezing=True):  # read when a graph compiles; free for cached graphs
                    return self._compiled(x, t, text, text_mask)
            except Exception as e:  # noqa: BLE001 - any compiler failure: keep streaming, eagerly
                self.active = False
                log.warning("torch.compile failed (%s: %s); running the model eagerly from now on",
                            type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return self.model(x, t, text, text_mask)

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's learned empty prompt: ([batch, 1, D_text] float, [batch, 1] bool), see StreamDiT."""
        return self.model.null_prompt(batch)  # type: ignore[operator]

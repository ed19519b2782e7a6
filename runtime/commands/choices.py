"""The fixed value sets of CLI options, as str Enums: typer turns them into click choices that --help lists
and that refuse anything else with a usage error (exit status 2), never a traceback."""

from __future__ import annotations

from enum import Enum


class CompileMode(str, Enum):
    """`--compile`: torch.compile the DiT (runtime.model.compiled.resolve_compile)."""

    auto = "auto"  # when a C++ compiler is found
    on = "on"
    off = "off"


class BackendChoice(str, Enum):
    """`--backend`: what runs the DiT step and the autoencoder (runtime.backends.select.choose_backend)."""

    auto = "auto"  # the fastest measured for the device (docs/backends.md), with the reason logged
    torch = "torch"  # eager or compiled, per --compile
    onnxruntime = "onnxruntime"  # the exported graphs (`streamdit export onnx`); CUDA/TensorRT with onnxruntime-gpu


class LogLevel(str, Enum):
    """`--log-level`: the logging module's level names, lower case."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class TemporalFactor(str, Enum):
    """`train-ae --temporal-factor`: video frames per latent frame (1, or 4 as in the paper)."""

    one = "1"
    four = "4"

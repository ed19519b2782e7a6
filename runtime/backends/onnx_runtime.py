"""The onnxruntime backend: the exported graphs (runtime.backends.onnx_manifest) run by ONNX Runtime.

Execution providers (`choose_providers`): on an NVIDIA GPU with `onnxruntime-gpu`, TensorRT (when its libraries
load) and CUDA, with IO binding (inputs and outputs stay torch CUDA tensors, on torch's current stream, so
nothing is copied to the host or synchronised per step); the CPU provider otherwise. `OnnxBackend.provider`
names the provider that the DiT session actually runs on (onnxruntime falls back silently, so it is read back
from the session, not assumed).

CPU threads: each session gets torch's thread count, and its workers sleep when idle instead of spinning
(session.intra_op.allow_spinning = 0): the DiT and decode threads share the cores, and a spinning pool starves
the other one (the same reason the CLI sets OMP_WAIT_POLICY=PASSIVE for torch).
"""

from __future__ import annotations

import ctypes.util
import importlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runtime.backends.onnx_manifest import GRAPHS, verify_export
from sdk.errors import CheckpointError, ConfigError

log = logging.getLogger("streamdit.backends")
PROVIDERS_ENV = "STREAMDIT_ORT_PROVIDERS"  # comma-separated provider names that override the choice below
_NP = {torch.float32: np.float32, torch.bool: np.bool_, torch.int64: np.int64}


def require(package: str, what: str) -> Any:
    """Import `package` (onnxruntime or onnx) or raise ConfigError naming the package and how to install it.

    what: the command or option that needs it, e.g. "--backend onnxruntime"."""
    try:
        return importlib.import_module(package)
    except ImportError as e:
        gpu = " (or onnxruntime-gpu on NVIDIA GPUs: pip install 'streamdit[gpu]')" if package == "onnxruntime" else ""
        raise ConfigError(f"{what} needs the Python package {package!r}, which cannot be imported here "
                          f"({type(e).__name__}: {e}): pip install {package}{gpu}, or pip install "
                          f"'streamdit[runtime]'" + ("; or serve with --backend torch" if package == "onnxruntime"
                                                     else "")) from None


def onnxruntime_available() -> bool:
    """True when onnxruntime can be found (not imported: cheap); False also when an import of it is blocked."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["onnxruntime"] is None (blocked)
        return False


def _tensorrt_loads() -> bool:
    """True when TensorRT's runtime library is there (onnxruntime-gpu lists its provider even without it)."""
    return importlib.util.find_spec("tensorrt") is not None or ctypes.util.find_library("nvinfer") is not None


def choose_providers(available: list[str], cuda: bool) -> list[str]:
    """Execution providers in order of preference for a machine with (`cuda`) or without a usable CUDA GPU.

    available: onnxruntime.get_available_providers(). $STREAMDIT_ORT_PROVIDERS (comma-separated) overrides;
    an unknown name there is a ConfigError listing what this onnxruntime has."""
    override = [p.strip() for p in os.environ.get(PROVIDERS_ENV, "").split(",") if p.strip()]
    if override:
        bad = [p for p in override if p not in available]
        if bad:
            raise ConfigError(f"{PROVIDERS_ENV} names {bad}, which this onnxruntime does not have; it has "
                              f"{available} (the CUDA and TensorRT providers come with onnxruntime-gpu)")
        return override
    chosen = []
    if cuda and "TensorrtExecutionProvider" in available and _tensorrt_loads():
        chosen.append("TensorrtExecutionProvider")
    if cuda and "CUDAExecutionProvider" in available:
        chosen.append("CUDAExecutionProvider")
    return chosen + ["CPUExecutionProvider"]


def wants_cuda(available: list[str]) -> bool:
    """True when a CUDA GPU is usable by torch and onnxruntime has the CUDA provider (onnxruntime-gpu)."""
    return torch.cuda.is_available() and "CUDAExecutionProvider" in available


def make_session(path: Path, providers: list[str], cache_dir: Path | None = None) -> Any:
    """An onnxruntime.InferenceSession of `path`; a graph onnxruntime cannot load is a CheckpointError."""
    ort = require("onnxruntime", "--backend onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = max(1, torch.get_num_threads())
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only: a provider that falls back is reported by OnnxBackend.provider
    opts: list[Any] = []
    for p in providers:
        if p == "CUDAExecutionProvider":
            opts.append((p, {"device_id": str(torch.cuda.current_device()),
                             "user_compute_stream": str(torch.cuda.current_stream().cuda_stream)}))
        elif p == "TensorrtExecutionProvider":
            trt = {"device_id": str(torch.cuda.current_device()), "trt_fp16_enable": "False"}
            if cache_dir is not None:
                trt.update(trt_engine_cache_enable="True", trt_engine_cache_path=str(cache_dir / "trt"))
            opts.append((p, trt))
        else:
            opts.append(p)
    try:
        return ort.InferenceSession(str(path), so, providers=opts)
    except Exception as e:  # noqa: BLE001 - onnxruntime raises several types for a bad graph
        raise CheckpointError(f"{path} cannot be loaded by onnxruntime ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); export it again with "
                              f"`streamdit export onnx`") from None


class _Graph:
    """One session and how to call it: numpy on the CPU provider, IO binding on CUDA."""

    def __init__(self, session: Any, output: str) -> None:
        self.session = session
        self.output = output
        self.inputs = [i.name for i in session.get_inputs()]
        self.cuda = session.get_providers()[0] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")

    def run(self, out_shape: tuple[int, ...], *tensors: torch.Tensor) -> torch.Tensor:
        """tensors in the graph's input order -> the output (float32, on the first input's device)."""
        if not self.cuda:
            feed = {n: t.detach().contiguous().cpu().numpy() for n, t in zip(self.inputs, tensors)}
            out = torch.from_numpy(self.session.run([self.output], feed)[0])
            return out.to(tensors[0].device)
        binding = self.session.io_binding()
        device = tensors[0].device
        keep = [t.detach().contiguous().to(device) for t in tensors]  # alive until the run ends
        for name, t in zip(self.inputs, keep):
            binding.bind_input(name, "cuda", device.index or 0, _NP[t.dtype], tuple(t.shape), t.data_ptr())
        out = torch.empty(out_shape, dtype=torch.float32, device=device)
        binding.bind_output(self.output, "cuda", device.index or 0, np.float32, tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)  # on torch's current stream (user_compute_stream)
        return out


class OnnxVelocity:
    """The exported DiT as the sampler's VelocityModel (runtime.backends.base): same arguments and result
    as StreamDiT.forward; null_prompt comes from the checkpoint's learned empty prompt ([1, 1, D_text])."""

    def __init__(self, graph: _Graph, null_text: torch.Tensor, device: torch.device) -> None:
        self.graph = graph
        self.null_text = null_text.detach().float().to(device)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        return self.graph.run(tuple(x.shape), x.float(), t.float(), text.float(), text_mask.bool())

    def null_prompt(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.null_text.expand(batch, 1, -1)
        return emb, torch.ones(batch, 1, dtype=torch.bool, device=emb.device)


class OnnxBackend:
    """An ONNX export served by onnxruntime (runtime.backends.base.Backend).

    Args:
        export_dir: the directory `streamdit export onnx` wrote; checked against `checkpoint` first
            (onnx_manifest.verify_export: corrupted or mismatched graphs are refused before anything loads).
        checkpoint: the checkpoint directory being served.
        null_text: the DiT's learned empty prompt [1, 1, D_text] (StreamDiT.null_text), for CFG.
        int8: run dit_int8.onnx (dynamically quantized MatMuls) instead of the float32 DiT.
        device: torch.device("cuda") to run on the CUDA/TensorRT providers (needs onnxruntime-gpu), else CPU.
        reason: why onnxruntime runs (the `auto` decision, or "requested").

    Raises ConfigError when onnxruntime is not importable, CheckpointError for a bad export.
    """

    name = "onnxruntime"
    compiles = False
    autocast_dtype: torch.dtype | None = None

    def __init__(self, export_dir: str | Path, checkpoint: str | Path, null_text: torch.Tensor, *,
                 int8: bool = False, device: torch.device | str = "cpu", reason: str = "requested",
                 text_tokens: int | None = None) -> None:
        ort = require("onnxruntime", "--backend onnxruntime")
        self.export_dir = Path(export_dir)
        dit = "dit_int8" if int8 else "dit"
        self.manifest = verify_export(self.export_dir, checkpoint, (dit, "decoder", "encoder"))
        self.device = torch.device(device)
        providers = choose_providers(ort.get_available_providers(), self.device.type == "cuda")
        files = {g: self.export_dir / self.manifest["graphs"][g].get("file", GRAPHS[g]) for g in (dit, "decoder", "encoder")}
        sessions = {g: make_session(p, providers, self.export_dir) for g, p in files.items()}
        _check_inputs(sessions[dit], files[dit], ["x", "t", "text", "text_mask"], self.manifest)
        self.dit = _Graph(sessions[dit], "velocity")
        self.decoder = _Graph(sessions["decoder"], "video")
        self.encoder = _Graph(sessions["encoder"], "latent")
        self.velocity_model = OnnxVelocity(self.dit, null_text, self.device)
        self.provider = sessions[dit].get_providers()[0]
        self.providers = providers
        self.int8 = int8
        self.reason = reason
        self.text_tokens = text_tokens
        ae = self.manifest.get("autoencoder_shape", {})
        self.temporal_factor = int(ae.get("temporal_factor", 1))
        self.spatial_factor = int(ae.get("spatial_factor", 1))
        if self.device.type == "cuda" and self.provider == "CPUExecutionProvider":
            log.warning("onnxruntime runs on the CPU provider although a GPU is here (providers tried: %s); "
                        "install onnxruntime-gpu for the CUDA provider", providers)

    def velocity(self, model: torch.nn.Module) -> OnnxVelocity:
        return self.velocity_model

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        B, _, F, h, w = latent.shape
        f = self.spatial_factor
        return self.decoder.run((B, 3, F * self.temporal_factor, h * f, w * f), latent.float())

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        B, _, F, H, W = video.shape
        f, tf = self.spatial_factor, self.temporal_factor
        if F % tf or H % f or W % f:
            from sdk.errors import ShapeError

            raise ShapeError(f"video [{B}, 3, {F}, {H}, {W}]: frames must be a multiple of {tf} and the frame size "
                             f"of {f}")
        C = int(self.manifest["latent_shape"][0])
        return self.encoder.run((B, C, F // tf, H // f, W // f), video.float())


def _check_inputs(session: Any, path: Path, names: list[str], manifest: dict[str, Any]) -> None:
    """The DiT graph's inputs are the ones this runtime feeds, with the latent shape the manifest records."""
    got = [i.name for i in session.get_inputs()]
    if got != names:
        raise CheckpointError(f"{path} takes inputs {got}, not {names}: it is not a StreamDiT velocity graph of "
                              f"this runtime; export it again with `streamdit export onnx`")
    shape = session.get_inputs()[0].shape  # ['batch', C, B, h, w]
    want = [int(manifest["latent_shape"][0]), int(manifest["buffer_frames"]), *map(int, manifest["latent_shape"][1:])]
    if [d if isinstance(d, int) else None for d in shape[1:]] != want:
        raise CheckpointError(f"{path} takes x of shape {shape}, but the checkpoint streams [batch, {want[0]}, "
                              f"{want[1]}, {want[2]}, {want[3]}]: a graph of another model; export it again")

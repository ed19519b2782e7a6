"""Issue 21: the ONNX Runtime backend. Export of the toy checkpoint (onnx.checker, manifest, SHA-256), parity with
torch on real buffers (velocity max abs diff <= 1e-3, decoder PSNR >= 50 dB), `serve --backend onnxruntime` over
ZeroMQ with events, damaged or mismatched exports refused before serving, a clear error without onnxruntime."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import sdk
from runtime.backends import onnx_manifest as mf
from runtime.backends import onnx_parity
from runtime.backends.select import choose_backend, load_pipeline
from runtime.checkpoints import resolve
from runtime.cli import app
from runtime.model.checkpoint import file_sha256
from runtime.testing import save_tiny_checkpoint
from sdk.errors import CheckpointError, ConfigError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
ROOT = Path(__file__).resolve().parents[1]
TOY = resolve("toy")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory) -> Path:
    """`streamdit export onnx --checkpoint toy --out DIR`, run once for the module."""
    out = tmp_path_factory.mktemp("onnx") / "toy"
    r = CliRunner().invoke(app, ["export", "onnx", "--checkpoint", "toy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "velocity max abs diff" in r.output and "parity" in r.output
    return out


def _streamdit() -> str:
    exe = Path(sys.executable).with_name("streamdit")
    return str(exe if exe.exists() else shutil.which("streamdit") or "streamdit")


def test_export_writes_checked_graphs_config_and_manifest(toy_export: Path) -> None:
    import onnx

    manifest = json.loads((toy_export / mf.MANIFEST).read_text())
    assert manifest["format"] == mf.FORMAT and manifest["checkpoint"]["name"] == "toy"
    assert (toy_export / "config.json").read_bytes() == (TOY / "config.json").read_bytes()
    for name in mf.REQUIRED:
        entry = manifest["graphs"][name]
        path = toy_export / entry["file"]
        assert entry["sha256"] == file_sha256(path)
        onnx.checker.check_model(str(path))
    dit = onnx.load(str(toy_export / "dit.onnx"), load_external_data=False)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in dit.graph.input}
    assert dims["x"] == ["batch", 48, 8, 8, 8] and dims["text"][:2] == ["batch", "tokens"]
    assert manifest["checkpoint"]["weights_sha256"]["model.safetensors"] == file_sha256(TOY / "model.safetensors")


def test_parity_with_torch_on_real_buffers(toy_export: Path) -> None:
    """The export's own parity figures, and again through the served backend at a batch the trace never saw."""
    parity = json.loads((toy_export / mf.MANIFEST).read_text())["parity"]
    assert parity["velocity_max_abs_diff"] <= 1e-3 and parity["buffers"]["batch"] == 4  # CFG: 2 streams x 2
    pipe = load_pipeline(TOY, backend="onnxruntime", onnx_dir=toy_export, device="cpu")
    calls, chunks = onnx_parity.real_buffers(pipe, "a red square moves left", streams=3, max_calls=4)
    vel = pipe.backend.velocity(pipe.model)
    worst = max(float((vel(x, t, tx, m) - v).abs().max()) for x, t, tx, m, v in calls)
    assert calls[0][0].shape[0] == 6 and worst <= 1e-3
    latent = torch.stack(chunks)
    ref = pipe.autoencoder.decode(latent).float()
    psnr = onnx_parity.psnr_db(pipe.backend.decode(latent), ref, 2.0)
    assert psnr is None or psnr >= 50.0


def test_parity_of_a_learned_conv_decoder_and_encoder(tmp_path: Path) -> None:
    """The toy's autoencoder is a lossless reshape; a (random) convolutional one goes through the same checks."""
    from runtime.backends.onnx_export import export_graphs
    from runtime.model.conv_autoencoder import AutoencoderConfig, ConvAutoencoder
    from runtime.model.config import DiTConfig
    from runtime.model.text_encoder import HashTextEncoder
    from runtime.pipeline import StreamDiTPipeline
    from runtime.testing import tiny_model

    torch.manual_seed(0)
    ae = ConvAutoencoder(AutoencoderConfig(latent_channels=8, spatial_factor=2, widths=[8, 16], temporal_stage=0,
                                           image_size=16))
    for mod in ae.modules():
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.normal_(mod.weight, std=0.2)
    ae.set_latent_stats(torch.randn(8), torch.rand(8) + 0.5)
    model = tiny_model(DiTConfig(in_channels=8, patch_size=1, hidden_size=32, depth=2, num_heads=2, window=(2, 4, 4)))
    config = {"buffer_frames": 4, "latent_size": [8, 8], "sampling": {"c": 2, "s": 2, "guidance_scale": 2.0},
              "video": {"fps": 8}}
    pipe = StreamDiTPipeline(model, ae.eval(), HashTextEncoder(), config, torch.device("cpu"))
    parity = onnx_parity.measure(pipe, export_graphs(pipe, tmp_path), "a blue circle moves up")
    assert parity["velocity_max_abs_diff"] <= 1e-3
    assert parity["decoder_psnr_db"] is not None and parity["decoder_psnr_db"] >= 50.0
    assert parity["encoder_max_abs_diff"] <= 1e-3
    onnx_parity.check(parity)
    with pytest.raises(CheckpointError, match="do not match torch"):
        onnx_parity.check({**parity, "velocity_max_abs_diff": 0.01})


def test_serve_onnxruntime_streams_over_zeromq_with_events(toy_export: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([_streamdit(), "serve", "--checkpoint", "toy", "--backend", "onnxruntime", "--onnx",
                             str(toy_export), "--grpc-port", "0", "--zmq-port", "0", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"grpc://(\S+) and zmq://(\S+);", line)
        assert found, (line, proc.poll() is not None and proc.stderr.read())
        with sdk.Session(f"zmq://{found[2]}", prompt="a red square moves left", timeout=60) as s:
            frames = s.frames(timeout=60)
            first = next(frames)
            assert first.pixels.shape == (32, 32, 3) and first.event_id == 0
            ack = s.push_event("move", {"color": "blue", "shape": "circle", "direction": "up"})
            assert ack.prompt == "a blue circle moves up"
            hit = next(f for _, f in zip(range(64), frames) if f.event_id == ack.event_id)
            assert hit.chunk == ack.chunk_index
            (info,) = s.runtime_info().models
            assert (info.backend, info.provider) == ("onnxruntime", "CPUExecutionProvider")
        with sdk.Session(f"grpc://{found[1]}", prompt="a red square", timeout=60) as g:  # protobuf carries it too
            assert g.runtime_info().models[0].backend == "onnxruntime"
        proc.terminate()
        out, err = proc.communicate(timeout=20)
        assert "backend: onnxruntime on CPUExecutionProvider (requested" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_corrupted_export_is_refused_before_serving(toy_export: Path, tmp_path: Path) -> None:
    bad = shutil.copytree(toy_export, tmp_path / "bad")
    data = bytearray((bad / "dit.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "dit.onnx").write_bytes(bytes(data))
    r = subprocess.run([_streamdit(), "serve", "--checkpoint", "toy", "--backend", "onnxruntime", "--onnx", str(bad),
                        "--grpc-port", "0", "--zmq-port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "serving" not in r.stdout and "Traceback" not in r.stderr
    assert re.search(r"error: .*dit\.onnx is corrupted.*streamdit export onnx", r.stderr), r.stderr
    # (the flipped byte sits in the weights: onnxruntime would load and run that graph; the SHA-256 refused it)
    # bytes that match the manifest but are no graph: onnxruntime's refusal, named
    (bad / "dit.onnx").write_bytes(b"not an ONNX graph" * 64)
    manifest = json.loads((bad / mf.MANIFEST).read_text())
    manifest["graphs"]["dit"]["sha256"] = file_sha256(bad / "dit.onnx")
    (bad / mf.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="cannot be loaded by onnxruntime"):
        load_pipeline(TOY, backend="onnxruntime", onnx_dir=bad, device="cpu")
    (bad / mf.MANIFEST).write_text("{not json")
    with pytest.raises(CheckpointError, match="manifest.json is unreadable or corrupted"):
        load_pipeline(TOY, backend="onnxruntime", onnx_dir=bad, device="cpu")


def test_an_export_of_another_checkpoint_is_refused(toy_export: Path, tmp_path: Path) -> None:
    other = save_tiny_checkpoint(tmp_path / "tiny")
    with pytest.raises(CheckpointError, match=r"mismatched: it was exported from checkpoint 'toy'.*export onnx"):
        load_pipeline(other, backend="onnxruntime", onnx_dir=toy_export, device="cpu")
    with pytest.raises(ConfigError, match="holds no ONNX export"):
        load_pipeline(other, backend="onnxruntime", onnx_dir=tmp_path, device="cpu")


def test_export_never_replaces_a_directory_of_something_else(tmp_path: Path) -> None:
    from runtime.backends.onnx_export import export_onnx

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not an ONNX export"):
        export_onnx(TOY, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("blocked,argv,named", [
    ("onnxruntime", ["serve", "--checkpoint", "toy", "--backend", "onnxruntime", "--grpc-port", "0", "--zmq-port", "0"],
     "pip install onnxruntime"),
    ("onnx", ["export", "onnx", "--checkpoint", "toy", "--out", "{tmp}/x"], "pip install onnx"),
])
def test_a_missing_package_is_a_clear_error_that_names_it(blocked: str, argv: list[str], named: str, tmp_path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = (f"import sys; sys.modules[{blocked!r}] = None; sys.argv = ['streamdit', *{argv!r}]; "
            f"from runtime.cli import app; app()")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"needs the Python package {blocked!r}" in r.stderr and named in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()


def test_auto_says_why_and_follows_the_device(monkeypatch) -> None:
    from runtime.backends import select

    monkeypatch.delenv("STREAMDIT_COMPILE", raising=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_backend("torch", cpu).reason.startswith("requested")
    assert choose_backend("auto", cuda).name == "torch"
    off = choose_backend("auto", cpu, "off")
    assert off.name == "torch" and "turned off" in off.reason and "onnxruntime" in off.reason
    monkeypatch.setattr(select, "compile_support", lambda device: "no C++ compiler")
    no_cxx = choose_backend("auto", cpu, "auto")
    assert no_cxx.name == "onnxruntime" and "no C++ compiler" in no_cxx.reason
    monkeypatch.setattr(select, "compile_support", lambda device: None)
    assert choose_backend("auto", cpu, "auto").name == "torch"
    monkeypatch.setenv("STREAMDIT_BACKEND", "onnxruntime")
    assert choose_backend(None, cpu).name == "onnxruntime"
    with pytest.raises(ConfigError, match="backend must be one of auto, torch, onnxruntime"):
        choose_backend("tensorflow", cpu)
    with pytest.raises(ConfigError, match="--int8 .* --backend onnxruntime"):
        load_pipeline(TOY, backend="torch", int8=True)


def test_local_runtime_takes_the_backend(toy_export: Path, tmp_path: Path, monkeypatch) -> None:
    """local://?checkpoint=toy&backend=onnxruntime serves the export in the cache (copied there: no re-export)."""
    from runtime.serving import local

    monkeypatch.setenv(mf.CACHE_ENV, str(tmp_path))
    shutil.copytree(toy_export, mf.default_export_dir(TOY))
    try:
        with sdk.Session(f"local://?checkpoint={TOY}&backend=onnxruntime", prompt="a red square", timeout=60) as s:
            assert s.runtime_info().models[0].backend == "onnxruntime"
            assert next(s.frames(timeout=60)).pixels.shape == (32, 32, 3)
    finally:
        for key in [k for k in local._by_checkpoint if k.endswith("backend=onnxruntime")]:
            local._by_checkpoint.pop(key).shutdown()  # only the onnxruntime one: the torch one is shared

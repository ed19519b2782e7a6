"""Issue 18, defects 2 and 3: checkpoint config values are validated on load, weights are checked against the
SHA-256 recorded in config.json, and a runtime whose warm-up fails exits non-zero without "serving"."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from runtime.checkpoints import resolve
from runtime.model.checkpoint import load_model, read_config, save_checkpoint
from runtime.model.config import DiTConfig
from runtime.pipeline import StreamDiTPipeline
from runtime.serving.config import ServeConfig
from runtime.serving.server import ServingRuntime
from runtime.testing import save_tiny_checkpoint, tiny_pipeline
from sdk.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def toy(tmp_path):
    d = tmp_path / "toy"
    shutil.copytree(resolve("toy"), d)
    return d


def edit(directory, fn):
    path = directory / "config.json"
    cfg = json.loads(path.read_text())
    fn(cfg)
    path.write_text(json.dumps(cfg))


def setter(section, key, value):
    def fn(cfg):
        if section is None:
            cfg[key] = value
        else:
            cfg[section][key] = value
    return fn


@pytest.mark.parametrize("fn,needle", [
    pytest.param(setter("video", "fps", 0), "video.fps = 0", id="fps-0"),
    pytest.param(setter("video", "fps", -8), "video.fps = -8", id="fps-negative"),
    pytest.param(setter("sampling", "c", 0), "sampling.c = 0", id="c-0"),
    pytest.param(setter(None, "latent_size", [0, 0]), "latent_size.0 = 0", id="latent-size-0"),
    pytest.param(setter("text_encoder", "max_tokens", 0), "text_encoder.max_tokens = 0", id="max-tokens-0"),
    pytest.param(setter(None, "buffer_frames", 1e9), "buffer_frames = 1000000000.0", id="buffer-frames-float"),
    pytest.param(setter(None, "buffer_frames", 10**9), "buffer_frames = 1000000000", id="buffer-frames-huge"),
    pytest.param(setter("model", "hidden_size", "128"), "model.hidden_size = '128'", id="hidden-size-string"),
    pytest.param(lambda cfg: cfg.pop("model"), "model: missing", id="no-model-section"),
    pytest.param(setter("sampling", "c", 3), "sampling.c = 3 must divide buffer_frames", id="c-does-not-divide"),
    pytest.param(setter("autoencoder", "factor", 2), "model.in_channels = 48 must equal", id="channels-disagree"),
])
def test_bad_config_values_are_refused_on_load_naming_the_field(toy, fn, needle):
    edit(toy, fn)
    with pytest.raises(CheckpointError) as e:
        StreamDiTPipeline.from_checkpoint(toy, device="cpu")
    msg = str(e.value)
    assert needle in msg and "config.json" in msg, msg
    assert "Input should" in msg or "must" in msg or "missing" in msg  # what is allowed


def test_shipped_checkpoints_pass_validation_and_record_their_weights():
    for name in ("toy", "default", "low_latency", "teacher"):
        cfg = read_config(resolve(name))
        assert set(cfg["weights_sha256"]) >= {"model.safetensors"}


def test_flipped_weight_bytes_are_refused_by_sha256(toy):
    path = toy / "model.safetensors"
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    for i in range(header, len(data), 97):  # every 97th data byte, as the tester did
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted: its SHA-256"):
        load_model(toy)
    with pytest.raises(CheckpointError, match="model.safetensors is corrupted"):
        StreamDiTPipeline.from_checkpoint(toy, device="cpu")


def test_saved_checkpoints_record_sha256_and_old_ones_still_load(tmp_path):
    cfg = DiTConfig(in_channels=8, patch_size=1, hidden_size=32, depth=1, num_heads=2, window=(2, 2, 2))
    torch.manual_seed(0)
    from runtime.model.dit import StreamDiT

    d = save_checkpoint(tmp_path / "ck", {"model": cfg.to_dict()}, {"model": StreamDiT(cfg).state_dict()})
    assert len(read_config(d)["weights_sha256"]["model.safetensors"]) == 64
    load_model(d)
    edit(d, lambda c: c.pop("weights_sha256"))  # written before the record existed: no check, still loads
    load_model(d)


def test_a_failed_warm_up_is_raised_not_served():
    pipe = tiny_pipeline()

    def boom(*a, **k):
        raise RuntimeError("injected warm-up failure")

    rt = ServingRuntime(pipe, ServeConfig())
    rt.engine.sampler.step = boom
    rt.start()
    try:
        with pytest.raises(CheckpointError, match="injected warm-up failure"):
            rt.wait_warm()
    finally:
        rt.shutdown()


def test_serve_exits_non_zero_with_the_reason_when_the_warm_up_fails(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import sys\n"
        "from runtime.sampling.streaming import StreamingSampler\n"
        "def boom(self):\n"
        "    raise RuntimeError('injected warm-up failure')\n"
        "StreamingSampler.step = boom\n"
        "from runtime.cli import app\n"
        f"app(['serve', '--checkpoint', {str(ckpt)!r}, '--grpc-port', '0', '--zmq-port', '0', '--compile', 'off'])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this source tree, whatever the venv's editable install names
    proc = subprocess.Popen([sys.executable, str(driver)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"serve kept running after a failed warm-up; stdout: {out[-500:]}")
    assert proc.returncode != 0
    assert "serving" not in out
    assert "injected warm-up failure" in err and "error:" in err


def test_the_shipped_low_latency_student_streams_one_call_per_chunk_from_half_the_defaults_buffer():
    """runtime/checkpoints/low_latency: the default's frame size, chunk, autoencoder and prompt map, with a buffer of
    8 latent frames (N = 4) instead of 16, one call per emitted chunk, no CFG at run time; distilled for that
    buffer from the shipped teacher, whose sha256 its config records."""
    import hashlib

    low, default = read_config(resolve("low_latency")), read_config(resolve("default"))
    assert (low["buffer_frames"], default["buffer_frames"]) == (8, 16)
    assert low["latent_size"] == default["latent_size"] and low["autoencoder"] == default["autoencoder"]
    assert (low["sampling"]["c"], low["sampling"]["s"], low["sampling"]["guidance_scale"]) == (2, 1, 1.0)
    teacher = hashlib.sha256((resolve("teacher") / "model.safetensors").read_bytes()).hexdigest()
    assert low["sampling"]["distilled_from"]["teacher_sha256"] == teacher
    assert low["sampling"]["distilled_from"]["scheme"]["N"] == 4
    assert (resolve("low_latency") / "prompt_map.toml").read_text() == (resolve("default") / "prompt_map.toml").read_text()
    pipe = StreamDiTPipeline.from_checkpoint(resolve("low_latency"), device="cpu")
    smp = pipe.sampler()
    sid = smp.add_stream(*pipe.text_encoder.encode_one("the player walks left across the grass"), seed=0)
    while not smp.is_streaming(sid):
        smp.step()
    calls = smp.model_calls
    (chunk,) = smp.step()
    assert smp.model_calls == calls + 1 and pipe.decode(chunk.latent).shape == (2, 72, 72, 3)

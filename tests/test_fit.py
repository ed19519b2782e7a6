"""`streamdit fit` end to end at toy sizes (issue 17): record -> import -> fit -> serve -> stream with the SDK."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sdk
from runtime.data.importer import import_recording
from runtime.model.ae_checkpoint import save_autoencoder
from runtime.model.conv_autoencoder import AutoencoderConfig, ConvAutoencoder
from runtime.training.fit import FitOptions, fit, plan
from sdk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
VOCAB = """
base = "a grey room"
[events.goes_left]
prompt = "the bright bar slides left"
[events.goes_right]
prompt = "the bright bar slides right"
"""
TEMPLATE = """
[model]
preset = "toy"
in_channels = 4
patch_size = 1
hidden_size = 32
depth = 2
num_heads = 2
window = [4, 2, 2]
text_dim = 32
[data]
frames = 8
[autoencoder]
[text_encoder]
kind = "hash"
dim = 32
max_tokens = 16
[partition]
buffer_frames = 8
chunk_sizes = [1, 2, 4, 8]
chunk_probs = [1, 1, 1, 1]
[optim]
steps = 6
batch_size = 2
lr = 1e-3
warmup_steps = 2
checkpoint_every_steps = 100
[sampling]
c = 2
s = 2
guidance_scale = 2.0
fps = 16
"""


def _record(path: Path) -> None:
    """A bar that moves left for a while, then right: two event types, both with windows in every shard."""
    with sdk.Recorder(path, game="bars", fps=16) as rec:
        for shard in range(6):
            x = 8
            for i in range(48):
                d = -1 if (i // 12) % 2 == 0 else 1
                if i % 12 == 0:
                    rec.event("goes_left" if d < 0 else "goes_right")
                x = (x + d) % 16
                f = np.full((16, 16, 3), 40, np.uint8)
                f[:, x] = 250
                rec.frame(f)
            rec.new_shard()


def test_budget_too_small_is_refused_with_the_minimum(tmp_path):
    with pytest.raises(ConfigError, match=r"autoencoder stage .* give --budget-minutes 0\.50 or more"):
        fit(tmp_path, tmp_path / "run", FitOptions(budget_minutes=0.1))
    assert not (tmp_path / "run").exists()  # refused before anything ran
    assert sum(plan(10).values()) == pytest.approx(10)


def test_shares_split_the_budget_and_bad_ones_are_named():
    from runtime.training.fit import parse_shares

    m = plan(100, autoencoder=False, shares=parse_shares("teacher=0.45,distill=0.45,evaluate=0.1"))
    assert m == pytest.approx({"teacher": 45.0, "distill": 45.0, "evaluate": 10.0})
    m = plan(100, shares=parse_shares("distill=0.6"))  # the others keep 0.1/0.5/0.1, all scaled to sum to 1
    assert m["distill"] == pytest.approx(100 * 0.6 / 1.3) and sum(m.values()) == pytest.approx(100)
    assert plan(100, autoencoder=False) == pytest.approx({"teacher": 60.0, "distill": 30.0, "evaluate": 10.0})
    with pytest.raises(ConfigError, match="STAGE one of autoencoder, teacher, distill, evaluate"):
        parse_shares("student=0.5")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        parse_shares("distill=1.5")
    with pytest.raises(ConfigError, match="must be a number"):
        parse_shares("distill=lots")


def test_fit_end_to_end_then_serve(tmp_path):
    torch.manual_seed(0)
    ae = save_autoencoder(tmp_path / "ae", ConvAutoencoder(AutoencoderConfig(widths=[8, 8, 8, 8], latent_channels=4,
                                                                             image_size=16)), dtype=torch.float32)
    _record(tmp_path / "rec")
    (tmp_path / "vocab.toml").write_text(VOCAB)
    import_recording(tmp_path / "rec", tmp_path / "vocab.toml", tmp_path / "data", ae_dir=ae, window=8, progress=False)
    (tmp_path / "teacher.toml").write_text(TEMPLATE)
    opts = FitOptions(budget_minutes=2.0, template=tmp_path / "teacher.toml", init_from=None, distill_micro_steps=2,
                      distill_batch_size=2, distill_steps=3, eval_classifier_steps=5, eval_per_class=2,
                      eval_min_windows=2, heldout_fraction=0.34)
    ckpt = fit(tmp_path / "data", tmp_path / "run", opts, progress=False)
    assert (ckpt / "prompt_map.toml").read_text() == VOCAB
    ev = json.loads((ckpt / "eval.json").read_text())
    assert {r["name"] for r in ev["rows"]} == {"real (held out)", "fitted", "untrained"}
    assert ev["classes"] == ["goes_left", "goes_right"] and len(ev["direction"]) == 2
    assert "streamdit fit" in (ckpt / "TRAINING.md").read_text()
    stages = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "run" / "stages").glob("*.json")}
    assert set(stages) == {"autoencoder", "latents", "teacher", "distill", "evaluate", "package"}
    assert stages["teacher"]["step"] == 6
    # the autoencoder was fine-tuned from the import's (a new weights file), and the teacher trained on its latents
    assert stages["autoencoder"]["step"] >= 1 and stages["autoencoder"]["source"] == str(ae)
    assert stages["latents"]["latent_frames"] == 6 * 48
    tuned = json.loads((tmp_path / "run" / "latents" / "manifest.json").read_text())
    assert tuned["ae_dir"] == str(tmp_path / "run" / "autoencoder") and tuned["ae_sha256"] != json.loads(
        (tmp_path / "data" / "manifest.json").read_text())["ae_sha256"]
    fit(tmp_path / "data", tmp_path / "run", opts, progress=False)  # resumes: every stage skipped
    assert json.loads((tmp_path / "run" / "stages" / "teacher.json").read_text()) == stages["teacher"]

    exe = Path(sys.executable).with_name("streamdit")
    exe = exe if exe.exists() else Path(shutil.which("streamdit") or "streamdit")
    proc = subprocess.Popen([str(exe), "serve", "--checkpoint", str(ckpt), "--compile", "off", "--grpc-port", "0",
                             "--zmq-port", "0", "--log-level", "warning"], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"zmq://(\S+);", line)
        assert found, (line, proc.poll() is not None and proc.stderr.read())
        with sdk.Session(f"zmq://{found[1]}", timeout=60) as s:  # no prompt, no map: the checkpoint's vocabulary
            assert next(s.frames(timeout=60)).pixels.shape == (16, 16, 3)
            assert s.push_event("goes_left", timeout=60).prompt == "the bright bar slides left"
    finally:
        proc.kill()
        proc.wait()


def test_training_md_gives_the_exact_fit_command(tmp_path):
    from runtime.training.fit import FitOptions, fit_command

    assert fit_command(Path("data/g"), Path("runs/g"), FitOptions(budget_minutes=30)) == (
        "streamdit fit data/g --out runs/g --budget-minutes 30")
    opts = FitOptions(budget_minutes=105, autoencoder=False, init_from="runtime/checkpoints/vizdoom",
                      shares={"teacher": 0.35, "distill": 0.55, "evaluate": 0.1}, eval_per_class=8)
    line = fit_command(Path("data/g"), Path("runs/g"), opts)
    assert line == ("streamdit fit data/g --out runs/g --budget-minutes 105 --keep-autoencoder --init-from "
                    "runtime/checkpoints/vizdoom --shares teacher=0.35,distill=0.55,evaluate=0.1 --eval-per-class 8")
    from typer.testing import CliRunner

    from runtime.cli import app

    res = CliRunner().invoke(app, line.split()[1:] + ["--help"])  # every option it writes exists
    assert res.exit_code == 0, res.output
    assert fit_command(Path("d"), Path("r"), FitOptions(budget_minutes=5, init_from=None)).endswith("--init-from none")

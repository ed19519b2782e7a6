"""Buffered flow matching with mixed partitioning: loss, draws, the loop, resume, and DDP on 2 processes."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from runtime.model.config import DiTConfig
from runtime.training.config import OptimConfig, PartitionConfig, TrainConfig, load_train_config
from runtime.training.flow_matching import MixedPartitioning, flow_matching_loss, interpolate
from runtime.training.trainer import Trainer
from sdk.errors import CheckpointError, ConfigError

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(out, steps=6, **optim) -> TrainConfig:
    return TrainConfig(
        model=DiTConfig(hidden_size=32, depth=2, num_heads=2, window=(4, 4, 4)),
        data={"kind": "toy", "size": 16, "frames": 8, "colors": ["red"], "shapes": ["square"], "directions": ["left", "right"]},
        autoencoder={"kind": "space_to_depth", "factor": 4}, text_encoder={"kind": "hash"},
        optim=OptimConfig(steps=steps, batch_size=4, warmup_steps=2, log_every=1, checkpoint_every_steps=3, **optim),
        partition=PartitionConfig(buffer_frames=8, chunk_sizes=[1, 2, 4, 8, 16]), out=str(out))


def test_interpolation_endpoints():
    x1, x0 = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    lv = torch.tensor([[0.0, 1.0, 0.5, 0.25]] * 2)
    xt, v = interpolate(x1, x0, lv, sigma_min=0.0)
    torch.testing.assert_close(xt[:, :, 0], x0[:, :, 0])
    torch.testing.assert_close(xt[:, :, 1], x1[:, :, 1])
    torch.testing.assert_close(v, x1 - x0)
    # the velocity carries x_t to x_1: x_t + (1 - t) v = x1 when sigma_min = 0
    torch.testing.assert_close(xt + (1 - lv)[:, None, :, None, None] * v, x1)


def test_mixed_partitioning_draws_every_allowed_chunk_size(rng):
    mp = MixedPartitioning(8, (1, 2, 4, 8, 16), (1, 1, 1, 1, 1))
    sizes = {mp.draw(rng).c for _ in range(300)}
    assert sizes == {1, 2, 4, 8}  # 16 > B is capped away
    only = MixedPartitioning(8, (1, 2, 4, 8, 16), (0, 1, 0, 0, 0))
    levels, mask, cs = only.sample(50, rng)
    assert set(cs) == {2} and mask.all()
    assert (levels[:, 0::2] == levels[:, 1::2]).all()  # chunk frames share a level
    ref = MixedPartitioning(8, (1, 2, 4), reference_prob=1.0, reference_frames=2)
    levels, mask, _ = ref.sample(20, rng)
    assert (levels[:, :2] == 1).all() and (mask[:, :2] == 0).all() and (mask[:, 2:] == 1).all()
    with pytest.raises(ConfigError, match="no chunk size"):
        MixedPartitioning(6, (4, 8))


def test_loss_ignores_reference_frames(rng):
    class Echo(torch.nn.Module):
        def forward(self, x, t, text, mask):
            return torch.zeros_like(x)

    x1 = torch.randn(2, 3, 4, 2, 2)
    lv = torch.rand(2, 4)
    m_all, m_ref = torch.ones(2, 4), torch.tensor([[0.0, 1, 1, 1]] * 2)
    a = flow_matching_loss(Echo(), x1, None, None, lv, m_all, generator=torch.Generator().manual_seed(1))
    x1b = x1.clone()
    x1b[:, :, 0] += 100.0  # a huge error on the reference frame only
    b = flow_matching_loss(Echo(), x1b, None, None, lv, m_ref, generator=torch.Generator().manual_seed(1))
    c = flow_matching_loss(Echo(), x1, None, None, lv, m_ref, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(b, c)
    assert a != c


def test_training_runs_logs_and_resumes(tmp_path):
    r = Trainer(tiny_config(tmp_path, steps=6)).run(progress=False)
    assert r.step == 6 and (tmp_path / "checkpoint/model.safetensors").exists()
    log = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in log] == [1, 2, 3, 4, 5, 6] and all("lr" in rec and "loss" in rec for rec in log)
    t2 = Trainer(tiny_config(tmp_path, steps=9))
    assert t2.step == 6  # resumed
    before = {k: v.clone() for k, v in t2.model.state_dict().items()}
    t2.run(progress=False)
    assert t2.step == 9 and any(not torch.equal(before[k], v) for k, v in t2.model.state_dict().items())


def test_loss_goes_down(tmp_path):
    t = Trainer(tiny_config(tmp_path, steps=60, lr=2e-3))
    t.run(progress=False)
    log = [json.loads(l)["loss"] for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sum(log[-10:]) / 10 < 0.9 * sum(log[:10]) / 10


def test_resume_refuses_a_corrupted_checkpoint_without_touching_it(tmp_path):
    Trainer(tiny_config(tmp_path, steps=3)).run(progress=False)
    w = tmp_path / "checkpoint/model.safetensors"
    w.write_bytes(w.read_bytes()[:500])
    damaged = w.read_bytes()
    with pytest.raises(CheckpointError, match="corrupted"):
        Trainer(tiny_config(tmp_path, steps=6))
    assert w.read_bytes() == damaged


def test_config_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[model]\npreset = "huge"\n[data]\nkind="toy"\n[autoencoder]\nkind="space_to_depth"\n[text_encoder]\nkind="hash"\n')
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        load_train_config(p)
    with pytest.raises(ConfigError, match=r"unknown keys \['stepz'\] in \[optim\]"):
        load_train_config(ROOT / "configs/toy.toml", {"optim.stepz": 3})
    cfg = load_train_config(ROOT / "configs/toy.toml", {"optim.steps": 7})
    assert cfg.optim.steps == 7 and cfg.model.hidden_size == 128


DDP_SCRIPT = textwrap.dedent("""
    import hashlib, os, sys, torch
    sys.path.insert(0, {tests!r})
    from test_training import tiny_config
    from runtime.training.trainer import Trainer
    t = Trainer(tiny_config({out!r}, steps=4))
    t.run(progress=False)
    h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in t.model.parameters())).hexdigest()
    open(os.path.join({out!r}, f"params-{{t.rank}}.txt"), "w").write(f"{{t.world}} {{h}}")
""")


def test_ddp_two_processes_on_cpu_stay_in_sync(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    h0, h1 = (tmp_path / "params-0.txt").read_text(), (tmp_path / "params-1.txt").read_text()
    assert h0.startswith("2 ") and h0 == h1  # both ranks ran with world size 2 and hold identical weights
    assert (tmp_path / "checkpoint/model.safetensors").exists()


def test_warm_start_from_another_checkpoint(tmp_path):
    first = Trainer(tiny_config(tmp_path / "a", steps=3))
    first.run(progress=False)
    warm = Trainer(tiny_config(tmp_path / "b", steps=3), init_from=tmp_path / "a/checkpoint")
    assert warm.step == 0
    for k, v in first.ema.state_dict().items():  # EMA weights, stored in bf16
        torch.testing.assert_close(warm.model.state_dict()[k], v.to(torch.bfloat16).float())
    other = tiny_config(tmp_path / "c", steps=3)
    other.model = DiTConfig(hidden_size=64, depth=2, num_heads=2, window=(4, 4, 4))
    with pytest.raises(CheckpointError, match="differs"):
        Trainer(other, init_from=tmp_path / "a/checkpoint")
    shifted = tiny_config(tmp_path / "d", steps=3)  # only the window shift changes: no weights do
    shifted.model = dataclasses.replace(shifted.model, window_shift=(1, 0, 0))
    refit = Trainer(shifted, init_from=tmp_path / "a/checkpoint")
    assert refit.model.blocks[1].attn.shift == (1, 0, 0)
    torch.testing.assert_close(refit.model.state_dict(), warm.model.state_dict())

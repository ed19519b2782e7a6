"""Checkpoint I/O: round trip, refusal of mismatched or corrupted checkpoints, atomic writes."""

import json

import pytest
import torch

from runtime.model.checkpoint import load_model, save_checkpoint
from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from sdk.errors import CheckpointError

CFG = DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2)


def _save(path, model, cfg=CFG, **kw):
    return save_checkpoint(path, {"model": cfg.to_dict(), "note": "test"}, {"model": model.state_dict()}, **kw)


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    m = StreamDiT(CFG)
    torch.nn.init.normal_(m.final.linear.weight)
    _save(tmp_path / "ck", m, dtype=torch.float32)
    loaded = load_model(tmp_path / "ck")
    assert loaded.config["note"] == "test" and loaded.model.cfg == CFG
    for k, v in m.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[k], v)


def test_bf16_storage_halves_the_size(tmp_path):
    m = StreamDiT(CFG)
    _save(tmp_path / "a", m, dtype=torch.float32)
    _save(tmp_path / "b", m)
    a, b = (tmp_path / "a/model.safetensors").stat().st_size, (tmp_path / "b/model.safetensors").stat().st_size
    assert b < 0.6 * a


def test_mismatched_config_is_refused(tmp_path):
    _save(tmp_path / "ck", StreamDiT(CFG))
    cfg_path = tmp_path / "ck/config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"]["hidden_size"] = 64
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match the weights.*shape mismatch"):
        load_model(tmp_path / "ck")
    cfg["model"]["hidden_size"] = 32
    cfg["model"]["depth"] = 3
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path / "ck")


@pytest.mark.parametrize("damage", ["truncate", "garbage_config", "no_config", "no_dir"])
def test_damaged_checkpoint_is_refused_by_name(tmp_path, damage):
    _save(tmp_path / "ck", StreamDiT(CFG))
    w, c = tmp_path / "ck/model.safetensors", tmp_path / "ck/config.json"
    if damage == "truncate":
        w.write_bytes(w.read_bytes()[:1000])
    elif damage == "garbage_config":
        c.write_text("{not json")
    elif damage == "no_config":
        c.unlink()
    target = tmp_path / ("missing" if damage == "no_dir" else "ck")
    with pytest.raises(CheckpointError) as e:
        load_model(target)
    assert str(target) in str(e.value) or "model.safetensors" in str(e.value)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    m = StreamDiT(CFG)
    _save(tmp_path / "ck", m)
    before = (tmp_path / "ck/model.safetensors").read_bytes()

    class Boom(dict):
        def items(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(tmp_path / "ck", {"model": CFG.to_dict()}, {"model": Boom()})
    assert (tmp_path / "ck/model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temporary leftovers
    load_model(tmp_path / "ck")


def test_atomic_directory_carries_over_other_files_only_when_asked(tmp_path):
    from runtime.model.checkpoint import atomic_directory

    d = tmp_path / "ck"
    with atomic_directory(d) as tmp:
        (tmp / "weights.bin").write_text("v1")
    (d / "log.jsonl").write_text("line\n")
    with atomic_directory(d, carry_over=True) as tmp:
        (tmp / "weights.bin").write_text("v2")
    assert (d / "weights.bin").read_text() == "v2" and (d / "log.jsonl").read_text() == "line\n"
    with atomic_directory(d) as tmp:
        (tmp / "weights.bin").write_text("v3")
    assert sorted(p.name for p in d.iterdir()) == ["weights.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_frame_size_is_read_from_the_config_without_weights():
    from runtime.checkpoints import resolve
    from runtime.model.autoencoder import frame_size
    from runtime.model.checkpoint import read_config
    from sdk.errors import ConfigError

    assert frame_size(read_config(resolve("toy"))) == (32, 32)  # 8x8 latents, space-to-depth factor 4
    conv = {"autoencoder": {"kind": "conv", "config": {"spatial_factor": 8}}, "latent_size": [9, 8]}
    assert frame_size(conv) == (72, 64)
    with pytest.raises(ConfigError, match="unknown autoencoder kind 'vq'"):
        frame_size({"autoencoder": {"kind": "vq"}, "latent_size": [8, 8]})


def test_shipped_classifier_is_found_by_frame_size():
    import json as _json

    from runtime.checkpoints import shipped_classifier

    for size in (64, 72):
        found = shipped_classifier(size)
        assert found is not None and _json.loads((found / "config.json").read_text())["size"] == size
    assert shipped_classifier(33) is None


def test_atomic_files_are_readable_by_others(tmp_path):
    """Files written atomically (JSON, PNG, weights) and MP4s get mode 0644, not mkstemp's private 0600."""
    import numpy as np

    from runtime.model.checkpoint import write_json_atomic
    from sdk.video_io import write_mp4

    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_mp4(tmp_path / "v.mp4", [np.zeros((16, 16, 3), np.uint8)] * 2, 8.0)
    assert [(tmp_path / n).stat().st_mode & 0o777 for n in ("a.json", "v.mp4")] == [0o644, 0o644]

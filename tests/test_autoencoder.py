"""The convolutional autoencoder, its checkpoint directory, train-ae, and the Crafter latent source."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("crafter")

from runtime.cli import app  # noqa: E402
from runtime.model.autoencoder import build_autoencoder, unit_to_video, video_to_unit  # noqa: E402
from runtime.model.ae_checkpoint import load_autoencoder, save_autoencoder  # noqa: E402
from runtime.model.conv_autoencoder import AE_WEIGHTS, AutoencoderConfig, ConvAutoencoder  # noqa: E402
from runtime.evaluation.autoencoder import psnr  # noqa: E402
from runtime.training.ae_trainer import measure_latent_stats  # noqa: E402
from runtime.training.data.capture import capture_crafter  # noqa: E402
from runtime.training.data.dataset import CrafterClips  # noqa: E402
from runtime.data.latents import LatentClips  # noqa: E402
from runtime.data.recording import read_shard  # noqa: E402
from runtime.training.latents import encode_latents  # noqa: E402
from runtime.training.sources import build_source  # noqa: E402
from sdk.errors import CheckpointError, ConfigError, DataError, ShapeError  # noqa: E402

SMALL = [8, 16, 16, 16]


def small_ae(tf: int = 1, widths: list[int] = SMALL, seed: int = 0) -> ConvAutoencoder:
    torch.manual_seed(seed)
    return ConvAutoencoder(AutoencoderConfig(temporal_factor=tf, widths=widths, image_size=64))


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crafter")
    capture_crafter(2, 64, root, seed=3, max_steps=40, window=16, progress=False)
    return root


@pytest.mark.parametrize("tf", [1, 4])
def test_encode_decode_shapes(tf: int):
    ae = small_ae(tf).eval()
    video = torch.rand(2, 3, 8, 64, 48) * 2 - 1
    with torch.no_grad():
        z = ae.encode(video)
        assert z.shape == (2, 8, 8 // tf, 8, 6) and z.dtype == torch.float32
        assert ae.decode(z).shape == video.shape
    assert (ae.kind, ae.latent_channels, ae.spatial_factor, ae.temporal_factor) == ("conv", 8, 8, tf)
    json.dumps(ae.spec())  # JSON-able
    with pytest.raises(ShapeError, match="frame size 60x64"):
        ae.encode(torch.zeros(1, 3, 4, 60, 64))
    with pytest.raises(ShapeError, match="channels"):
        ae.decode(torch.zeros(1, 3, 1, 8, 8))
    if tf == 4:
        with pytest.raises(ShapeError, match="not a multiple of the temporal factor 4"):
            ae.encode(torch.zeros(1, 3, 6, 64, 64))


def test_config_is_checked():
    with pytest.raises(ConfigError, match="widths"):
        AutoencoderConfig(widths=[32, 64])
    with pytest.raises(ConfigError, match="temporal_factor"):
        AutoencoderConfig(temporal_factor=3)


def test_short_overfit_round_trip_beats_untrained(capture: Path):
    torch.manual_seed(0)
    clip = CrafterClips(capture, 4, heldout_fraction=0.0)[2][0]  # (4, 64, 64, 3) uint8
    frames = torch.from_numpy(clip[None, :, :32, :32].copy())  # a 32 px crop keeps the test fast
    x = video_to_unit(frames)
    ae = small_ae(4, [16, 32, 32, 32])
    with torch.no_grad():
        before = psnr(unit_to_video(ae.decode(ae.encode(x))), frames)
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    for _ in range(100):
        loss = (ae.decode_raw(ae.encode_raw(x)) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = psnr(unit_to_video(ae.decode(ae.encode(x))), frames)
    assert after > before + 7 and after > 16, (before, after)


def test_normalisation_stats_are_applied_and_stored():
    ae = small_ae(1).eval()
    x = torch.rand(4, 3, 2, 32, 32) * 2 - 1
    clips = unit_to_video(x).numpy()
    mean, std = measure_latent_stats(ae, clips)
    ae.set_latent_stats(mean, std)
    with torch.no_grad():
        x = video_to_unit(torch.from_numpy(clips))
        raw, z = ae.encode_raw(x), ae.encode(x)
        assert torch.allclose(z, (raw - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1), atol=1e-5)
        per_channel = z.transpose(0, 1).flatten(1)
        assert per_channel.mean(1).abs().max() < 1e-4 and (per_channel.std(1) - 1).abs().max() < 1e-3
        assert torch.allclose(ae.decode(z), ae.decode_raw(raw), atol=1e-4)
    rebuilt = ConvAutoencoder.from_spec(json.loads(json.dumps(ae.spec())))
    assert torch.allclose(rebuilt.latent_mean, mean, atol=1e-5) and torch.allclose(rebuilt.latent_std, std, atol=1e-5)
    with pytest.raises(ConfigError, match="std > 0"):
        ae.set_latent_stats(mean, torch.zeros_like(std))


def test_checkpoint_round_trip_and_refusals(tmp_path: Path):
    ae = small_ae(4).eval()
    ae.set_latent_stats(torch.arange(8.0), torch.full((8,), 2.0))
    (tmp_path / "ae").mkdir()
    (tmp_path / "ae" / "log.jsonl").write_text("{}\n")
    d = save_autoencoder(tmp_path / "ae", ae, {"training": {"step": 1}}, dtype=torch.float32)
    assert (d / "log.jsonl").read_text() == "{}\n"  # other files survive the atomic swap
    spec = json.loads((d / "config.json").read_text())["autoencoder"]
    loaded = build_autoencoder(spec, d)
    z = torch.randn(1, 8, 1, 4, 4)
    with torch.no_grad():
        assert torch.allclose(loaded.decode(z), ae.decode(z), atol=1e-5)
    assert torch.equal(load_autoencoder(d).latent_std, ae.latent_std)
    with pytest.raises(ConfigError, match="checkpoint directory"):
        build_autoencoder(spec)
    other = dict(spec, config=dict(spec["config"], widths=[8, 16, 16, 32]))
    with pytest.raises(CheckpointError, match="does not match"):
        build_autoencoder(other, d)
    (d / AE_WEIGHTS).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupted"):
        build_autoencoder(spec, d)
    with pytest.raises(CheckpointError, match="missing"):
        build_autoencoder(spec, tmp_path / "nowhere")


def test_latent_source_shapes_captions_and_split(capture: Path, tmp_path: Path):
    ae = small_ae(4)
    ae.set_latent_stats(torch.zeros(8), torch.full((8,), 0.5))
    ae_dir = save_autoencoder(tmp_path / "ae", ae)
    out = tmp_path / "latents"
    m = encode_latents(ae_dir, capture, out, clip_frames=16, progress=False)
    assert m["episodes"] == 2 and m["latent_frames"] == 2 * 10 and m["encoded_now"] == 2
    assert encode_latents(ae_dir, capture, out, clip_frames=16, progress=False)["encoded_now"] == 0
    with pytest.raises(ConfigError, match="clip_frames"):
        encode_latents(ae_dir, capture, out, clip_frames=8, progress=False)

    src = build_source({"kind": "crafter_latents", "root": str(out), "frames": 4, "heldout_fraction": 0.5})
    assert src.latent and src.latent_size == (8, 8) and src.temporal_factor == 4 and src.size == 64
    z, captions = src.batch(3, torch.Generator().manual_seed(0))
    assert z.shape == (3, 8, 4, 8, 8) and z.dtype == torch.float32 and len(captions) == 3
    assert all(isinstance(c, str) and c for c in captions)
    train_eps = CrafterClips(capture, 16, split="train", heldout_fraction=0.5).episodes
    held_eps = CrafterClips(capture, 16, split="heldout", heldout_fraction=0.5).episodes
    assert src.episodes == train_eps
    assert LatentClips(out, 4, split="heldout", heldout_fraction=0.5).episodes == held_eps
    # the stored latents are what encode() gives, and the caption is the middle latent frame's
    frames = torch.from_numpy(np.array(read_shard(capture / train_eps[0]).frames()[:16]))
    with torch.no_grad():
        ref = ae.encode(video_to_unit(frames[None]))[0]  # (C, 4, 8, 8)
    clip, caption = src.clip(0)
    assert torch.allclose(clip, ref, atol=0.02)
    meta = json.loads((out / f"{train_eps[0]}.json").read_text())
    assert caption == meta["captions"][2] and len(meta["captions"]) == 10
    with pytest.raises(DataError, match="streamdit data import"):
        LatentClips(tmp_path / "none", 4)
    with pytest.raises(ConfigError, match="crafter_latents"):
        build_source({"kind": "crafter_latents", "root": str(out), "frames": 4, "bogus": 1})


def test_train_ae_cli_resumes_and_reports(capture: Path, tmp_path: Path):
    out = tmp_path / "run"
    args = ["train-ae", "--data", str(capture), "--out", str(out), "--steps", "2", "--widths", "8,8,8,8",
            "--batch-frames", "4", "--no-progress"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "held-out PSNR" in r.output and "ms per video frame" in r.output
    spec = json.loads((out / "config.json").read_text())["autoencoder"]
    assert build_autoencoder(spec, out).kind == "conv" and math.isfinite(spec["stats"]["std"][0])
    r = CliRunner().invoke(app, args[:6] + ["4"] + args[7:])
    assert r.exit_code == 0 and "starting at step 2" in r.output, r.output
    lines = [json.loads(s) for s in (out / "log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in lines if rec.get("event") == "end"] == [2, 4]
    r = CliRunner().invoke(app, args[:8] + ["8,8,8,16"] + args[9:])
    assert r.exit_code == 2 and "another --out" in r.output


def test_train_ae_init_from_fine_tunes_another_size_and_refuses_other_shapes(capture: Path, tmp_path: Path):
    from runtime.training.ae_trainer import AETrainConfig, AETrainer

    source = small_ae(seed=5)
    src = save_autoencoder(tmp_path / "src", source, dtype=torch.float32)
    # the capture is 64 px; training at 32 px stands in for "another size" (the weights do not depend on it)
    cfg = AETrainConfig(data=str(capture), out=str(tmp_path / "run"), size=32, widths=SMALL, steps=1,
                        batch_frames=4, init_from=str(src))
    trainer = AETrainer(cfg)
    assert trainer.step == 0 and trainer.ae.cfg.image_size == 32
    for k, v in source.state_dict().items():
        assert torch.equal(trainer.ae.state_dict()[k], v), k
    fresh = AETrainer(AETrainConfig(data=str(capture), out=str(tmp_path / "run2"), size=32, widths=SMALL, steps=1,
                                    batch_frames=4))
    assert not torch.equal(fresh.ae.state_dict()["encoder.stem.weight"], source.state_dict()["encoder.stem.weight"])
    with pytest.raises(CheckpointError, match="--widths"):
        AETrainer(AETrainConfig(data=str(capture), out=str(tmp_path / "run3"), size=32, widths=[8, 8, 8, 8],
                                steps=1, batch_frames=4, init_from=str(src)))


def test_shift_residual_sees_whole_cell_scrolls_only_when_tiles_match_cells(tmp_path: Path):
    """A space-to-depth encoder with 8-px cells is exactly equivariant to 8-px shifts: at 72x72 (8-px tiles)
    a walk is a one-cell latent shift; at 64x64 (7-px tiles) it is not."""
    from runtime.model.autoencoder import SpaceToDepthAutoencoder
    from runtime.evaluation.autoencoder import shift_residual

    ae = SpaceToDepthAutoencoder(factor=8)
    ratios = {}
    for size in (64, 72):
        root = tmp_path / f"c{size}"
        capture_crafter(4, size, root, seed=1, max_steps=60, window=16, progress=False)
        r = shift_residual(ae, root, size, heldout_fraction=0.5)
        assert r["moves"] >= 3 and r["tile_px"] == size // 9 and r["cell_px"] == 8, r
        ratios[size] = r["ratio"]
    assert ratios[72] < 0.05 and ratios[64] > 0.5, ratios

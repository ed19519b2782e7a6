"""Vocabularies and `streamdit data import` (issue 17): a small recording made in the test, never committed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sdk
from runtime.data.importer import import_recording
from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary
from runtime.model.ae_checkpoint import save_autoencoder
from runtime.model.conv_autoencoder import AutoencoderConfig, ConvAutoencoder
from runtime.serving.prompt_map import PromptMap
from runtime.data.latents import LatentClips
from sdk.errors import ConfigError, DataError

VOCAB = """
base = "a quiet room"
[events.turns_left]
prompt = "the view turns left"
priority = 20
[events.walks]
prompt = "the view walks forward"
priority = 10
[events.shoots]
prompt = "the player fires the {weapon}"
duration_seconds = 0.25
priority = 30
"""


def _record(path: Path, shards: int = 3, frames: int = 24, size: int = 16) -> None:
    rng = np.random.default_rng(0)
    with sdk.Recorder(path, game="fixture", fps=16, vocabulary="vocab.toml") as rec:
        for k in range(shards):
            for i in range(frames):
                if i == 0:
                    rec.event("walks")
                if i == 8:
                    rec.event("turns_left", {"degrees": 3.5})
                if i == 12:
                    rec.event("shoots", {"weapon": "pistol"})
                rec.frame(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            rec.new_shard()


def _vocab(tmp_path: Path, text: str = VOCAB) -> Path:
    p = tmp_path / "vocab.toml"
    p.write_text(text)
    return p


def test_vocabulary_is_a_prompt_map_and_captions_windows(tmp_path):
    _record(tmp_path / "rec", shards=1)
    shard = read_recording(tmp_path / "rec").shards[0]
    vocab = Vocabulary.load(_vocab(tmp_path), fps=shard.fps)
    assert set(PromptMap.parse(vocab.text, fps=16, frames_per_chunk=2).rules) == set(vocab.event_types)
    vocab.check_shard(shard)
    caps = vocab.window_captions(shard.events, shard.num_frames, 4, [0, 8, 12, 20])
    assert caps[0] == ("the view walks forward", ["walks"])
    assert caps[1] == ("the view turns left", ["turns_left"])
    assert caps[2] == ("the player fires the pistol", ["shoots"])  # a moment: 0.25 s = 4 frames at 16 FPS
    assert caps[3] == ("the view turns left", ["turns_left"])  # the state holds until replaced


def test_a_grouped_vocabulary_captions_one_clause_per_group(tmp_path):
    """With clause groups, a window's caption is the prompt the runtime composes for the events in effect."""
    _record(tmp_path / "rec", shards=1)
    shard = read_recording(tmp_path / "rec").shards[0]
    grouped = ('groups = ["motion", "action"]\n' + VOCAB).replace('priority = 20', 'priority = 20\ngroup = "motion"')
    grouped = grouped.replace('priority = 10', 'priority = 10\ngroup = "motion"')
    grouped = grouped.replace('priority = 30', 'priority = 30\ngroup = "action"')
    vocab = Vocabulary.parse(grouped, fps=shard.fps)
    caps = vocab.window_captions(shard.events, shard.num_frames, 4, [0, 8, 12, 20])
    assert caps[0] == ("the view walks forward", ["walks"])
    assert caps[2] == ("the view turns left, the player fires the pistol", ["turns_left", "shoots"])
    assert caps[3] == ("the view turns left", ["turns_left"])
    pm = PromptMap.parse(grouped, fps=16, frames_per_chunk=1)  # the runtime composes the same prompt
    sched = pm.schedule()
    for i, (t, payload) in enumerate([("turns_left", {}), ("shoots", {"weapon": "pistol"})], 1):
        sched.apply(pm.change_for_event(i, t, payload, max_chars=200), 0)
    assert sched.at(0).spec == ((caps[2][0], 1.0),)


def test_vocabulary_names_missing_event_types_and_refuses_empty(tmp_path):
    _record(tmp_path / "rec", shards=1)
    shard = read_recording(tmp_path / "rec").shards[0]
    vocab = Vocabulary.parse(VOCAB.replace("[events.turns_left]", "[events.turns_right]"), fps=16)
    with pytest.raises(DataError, match=r"shard-00000: event types \['turns_left'\] are not in the vocabulary"):
        vocab.check_shard(shard)
    vocab = Vocabulary.parse(VOCAB.replace("{weapon}", "{gun}"), fps=16)
    with pytest.raises(DataError, match="frame 12.*gun"):
        vocab.check_shard(shard)
    with pytest.raises(ConfigError, match="empty"):
        Vocabulary.parse('base = "a room"\n', fps=16)
    with pytest.raises(ConfigError, match="not a valid prompt map"):
        Vocabulary.parse('base = "a"\n[events.x]\nprompt = ""\n', fps=16)
    with pytest.raises(ConfigError, match="cannot be read"):
        Vocabulary.load(tmp_path / "nope.toml", fps=16)


@pytest.fixture
def tiny_ae(tmp_path) -> Path:
    torch.manual_seed(0)
    ae = ConvAutoencoder(AutoencoderConfig(widths=[8, 8, 8, 8], latent_channels=4, image_size=16))
    return save_autoencoder(tmp_path / "ae", ae, dtype=torch.float32)


def test_import_small_recording_and_resume(tmp_path, tiny_ae):
    _record(tmp_path / "rec", shards=4)
    with open(tmp_path / "rec" / "shard-00002" / "frames.rgb", "r+b") as f:
        f.truncate(100)  # a bad shard: skipped by name, the others imported
    out = tmp_path / "data"
    m = import_recording(tmp_path / "rec", _vocab(tmp_path), out, ae_dir=tiny_ae, window=4, progress=False)
    assert m["capture_episodes"] == ["shard-00000", "shard-00001", "shard-00003"] and m["imported_now"] == 3
    assert len(m["skipped"]) == 1 and "shard-00002" in m["skipped"][0] and "truncated" in m["skipped"][0]
    meta = json.loads((out / "shard-00001.json").read_text())
    assert meta["latent_frames"] == 24 and meta["captions"][0] == "the view walks forward"
    assert meta["captions"][9] == "the view turns left" and meta["event_types"][13] == ["shoots"]
    assert np.load(out / "shard-00001.npy").shape == (24, 4, 2, 2)
    assert (out / "vocabulary.toml").read_text() == VOCAB
    clips = LatentClips(out, frames=8, split="train", heldout_fraction=0.34)
    z, caps = clips.batch(2, torch.Generator().manual_seed(0))
    assert z.shape == (2, 4, 8, 2, 2) and all(isinstance(c, str) and c for c in caps)
    again = import_recording(tmp_path / "rec", _vocab(tmp_path), out, ae_dir=tiny_ae, window=4, progress=False)
    assert again["imported_now"] == 0 and again["latent_frames"] == 72
    with pytest.raises(ConfigError, match="another clip_frames"):
        import_recording(tmp_path / "rec", _vocab(tmp_path), out, ae_dir=tiny_ae, window=6, progress=False)


def test_import_refuses_a_frame_size_the_autoencoder_cannot_take(tmp_path, tiny_ae):
    _record(tmp_path / "rec", shards=1, size=24)
    with pytest.raises(DataError, match="24x24 px; the autoencoder .* takes 16x16"):
        import_recording(tmp_path / "rec", _vocab(tmp_path), tmp_path / "d", ae_dir=tiny_ae, progress=False)


def test_cli_import_reports_a_bad_vocabulary_without_a_traceback(tmp_path, tiny_ae):
    from typer.testing import CliRunner

    from runtime.cli import app

    _record(tmp_path / "rec", shards=1)
    empty = _vocab(tmp_path, 'base = "a room"\n')
    r = CliRunner().invoke(app, ["data", "import", str(tmp_path / "rec"), "--vocab", str(empty), "--out",
                                 str(tmp_path / "d"), "--ae", str(tiny_ae), "--no-progress"])
    assert r.exit_code == 2 and "error:" in r.output and "empty" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["data", "import", str(tmp_path / "rec"), "--vocab", str(_vocab(tmp_path)), "--out",
                                 str(tmp_path / "d"), "--ae", str(tiny_ae), "--window", "4", "--no-progress"])
    assert r.exit_code == 0 and "1 shards, 24 latent frames" in r.output


def test_caption_weights_draw_the_weighted_captions_more_often(tmp_path, tiny_ae):
    _record(tmp_path / "rec", shards=3)
    out = tmp_path / "data"
    import_recording(tmp_path / "rec", _vocab(tmp_path), out, ae_dir=tiny_ae, window=4, progress=False)
    plain = LatentClips(out, frames=4, split="train", heldout_fraction=0.34)
    weighted = LatentClips(out, frames=4, split="train", heldout_fraction=0.34,
                           caption_weights={"fires the": 10.0})
    g = torch.Generator().manual_seed(0)
    base = plain.share("fires the")
    assert 0 < base < 0.5
    assert weighted.share("fires the") == pytest.approx(10 * base / (10 * base + 1 - base))
    caps = weighted.batch(400, g)[1]
    assert abs(sum("fires the" in c for c in caps) / 400 - weighted.share("fires the")) < 0.08
    # without weights the draws are those of earlier runs (torch.randint)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    picks = torch.randint(0, len(plain), (5,), generator=g2).tolist()
    assert plain.batch(5, g1)[1] == [plain.clip(i)[1] for i in picks]
    with pytest.raises(ConfigError, match="no train clip's caption contains 'walks rihgt'"):
        LatentClips(out, frames=4, split="train", heldout_fraction=0.34, caption_weights={"walks rihgt": 3.0})
    with pytest.raises(ConfigError, match="weight > 0"):
        LatentClips(out, frames=4, split="train", heldout_fraction=0.34, caption_weights={"fires the": 0.0})


def test_distill_parses_caption_weights():
    import typer

    from runtime.commands.distill import parse_caption_weights

    assert parse_caption_weights(["walks right=3", "a=b=0.5"]) == {"walks right": 3.0, "a=b": 0.5}
    for bad in ("walks right", "x=0", "=2", "x=two"):
        with pytest.raises(typer.BadParameter, match="TEXT=WEIGHT"):
            parse_caption_weights([bad])

"""The Crafter capture is a recording (issue 17): one writer (sdk.Recorder), one reader, one importer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary
from runtime.training.data.capture import STATE, VOCABULARY, capture_crafter, read_episode
from runtime.training.data.captioner import caption_window
from runtime.training.data.dataset import CrafterClips
from sdk.errors import DataError


def test_a_crafter_capture_is_a_recording_captioned_by_the_shipped_map(tmp_path):
    capture_crafter(2, 64, tmp_path / "cap", seed=7, max_steps=32, window=16, progress=False)
    report = read_recording(tmp_path / "cap", multiple_of=8)
    assert [s.name for s in report.shards] == ["episode_00000", "episode_00001"] and not report.skipped
    manifest = report.shards[0].manifest
    assert manifest["game"] == "crafter" and manifest["vocabulary"] == str(VOCABULARY)
    vocab = Vocabulary.load(VOCABULARY, fps=report.shards[0].fps)
    for s in report.shards:
        vocab.check_shard(s)  # every event the captioner emits has a rule in the shipped map
    caps = vocab.window_captions(report.shards[0].events, report.shards[0].num_frames, 16, [0, 16])
    assert all(c for c, _ in caps)


def test_the_events_log_gives_back_the_captioners_captions(tmp_path):
    """The events read back from events.jsonl caption every window exactly as the captioner did at capture time
    (crafter.json keeps its captions), so nothing is lost by going through the recording format."""
    capture_crafter(1, 64, tmp_path / "cap", seed=3, max_steps=64, window=16, progress=False)
    shard, meta, events = read_episode(tmp_path / "cap" / "episode_00000")
    assert len(events) == shard.num_frames == meta["steps"] and sum(map(len, events)) == len(shard.events) > 0
    assert [caption_window(events[w["start"]: w["start"] + 16]) for w in meta["windows"]] == \
        [w["caption"] for w in meta["windows"]]
    assert len(meta["actions"]) == len(meta["daylight"]) == len(meta["player_pos"]) == shard.num_frames


def test_a_crafter_shard_without_its_state_is_skipped_by_name(tmp_path):
    capture_crafter(3, 64, tmp_path / "cap", seed=1, max_steps=24, window=8, progress=False)
    (tmp_path / "cap" / "episode_00001" / STATE).unlink()
    with pytest.warns(RuntimeWarning, match=f"episode_00001.*{STATE}"):
        clips = CrafterClips(tmp_path / "cap", 8, split="train", heldout_fraction=0.0)
    assert clips.skipped == ["episode_00001"] and clips.episodes == ["episode_00000", "episode_00002"]
    again = capture_crafter(3, 64, tmp_path / "cap", seed=1, max_steps=24, window=8, progress=False)
    assert again.captured == 1 and again.episodes == 3  # the damaged episode is recorded again, in its place
    assert json.loads((tmp_path / "cap" / "episode_00001" / STATE).read_text())["episode"] == 1


def test_an_old_layout_capture_is_refused_with_the_fix(tmp_path):
    (tmp_path / "old").mkdir()
    np.savez_compressed(tmp_path / "old" / "episode_00000.npz", frames=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="old layout.*streamdit data crafter --out NEW_DIR"):
        CrafterClips(tmp_path / "old", 1)

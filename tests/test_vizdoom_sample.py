"""samples/vizdoom/record.py records through sdk.Recorder (issue 17); skipped without the `samples` extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary

pytest.importorskip("vizdoom")
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "vizdoom"


def test_vizdoom_recording_reads_back_with_its_vocabulary(tmp_path):
    spec = importlib.util.spec_from_file_location("vizdoom_record", SAMPLE / "record.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--episodes", "2", "--max-frames", "120", "--out", str(tmp_path / "rec")]) == 0
    report = read_recording(tmp_path / "rec", multiple_of=8)
    assert report.skipped == [] and len(report.shards) == 2
    shard = report.shards[0]
    assert shard.size == (72, 72) and shard.fps == 17.5 and 2 <= shard.num_frames <= 120
    vocab = Vocabulary.load(SAMPLE / "vocabulary.toml", fps=shard.fps)
    for s in report.shards:
        vocab.check_shard(s)  # every event type the player produced has a caption
    types = {e.type for s in report.shards for e in s.events}
    assert types & {"player_walks_forward", "player_turns_left", "player_turns_right"}

"""The recording format (docs/recording.md): sdk.Recorder writes it, runtime.data.recording reads and checks it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sdk
from runtime.data.recording import read_recording, read_shard
from sdk.errors import ConfigError, DataError, ShapeError


def _frames(n: int, h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _record(path, episodes=((5, 2), (3, 1))):
    """Write one shard per (frames, events) pair; returns the frames written per shard."""
    written = []
    with sdk.Recorder(path, game="test game", fps=12, vocabulary="vocab.toml") as rec:
        for k, (n, ne) in enumerate(episodes):
            fr = _frames(n, seed=k)
            for i in range(n):
                if i < ne:
                    rec.event("player_turns_left", {"degrees": 30, "k": k})
                rec.frame(fr[i])
            rec.event("never_shown")  # after the last frame of the shard: left out, counted
            rec.new_shard()
            written.append(fr)
    return written


def test_round_trip(tmp_path):
    written = _record(tmp_path / "rec")
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00000", "shard-00001"] and not report.skipped
    for shard, fr in zip(report.shards, written):
        np.testing.assert_array_equal(shard.frames(), fr)
        assert shard.size == (16, 24) and shard.fps == 12.0
        assert shard.manifest["game"] == "test game" and shard.manifest["vocabulary"] == "vocab.toml"
        assert shard.manifest["events_after_last_frame"] == 1
    ev = report.shards[0].events
    assert [(e.frame, e.type, e.payload) for e in ev] == [
        (0, "player_turns_left", {"degrees": 30, "k": 0}), (1, "player_turns_left", {"degrees": 30, "k": 0})]
    assert report.num_frames == 8


def test_new_recorder_appends_next_shard_number(tmp_path):
    _record(tmp_path / "rec", episodes=((2, 0),))
    _record(tmp_path / "rec", episodes=((2, 0),))
    assert [s.name for s in read_recording(tmp_path / "rec").shards] == ["shard-00000", "shard-00001"]


def test_interrupted_shard_is_skipped_by_name_and_others_survive(tmp_path):
    _record(tmp_path / "rec", episodes=((3, 1),))
    rec = sdk.Recorder(tmp_path / "rec", game="g", fps=12)
    rec.frame(_frames(1)[0])  # never closed: stays .partial
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00000"]
    (name, why), = report.skipped
    assert name == "shard-00001.partial" and "interrupted" in why and "delete" in why


def test_truncated_frames_file_is_skipped_with_a_clear_error(tmp_path):
    _record(tmp_path / "rec", episodes=((4, 1), (3, 1), (2, 0)))
    f = tmp_path / "rec" / "shard-00001" / "frames.rgb"
    f.write_bytes(f.read_bytes()[:-100])
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00000", "shard-00002"]
    (name, why), = report.skipped
    assert name == "shard-00001" and "truncated" in why and "3 frames" in why


def test_event_past_the_last_frame_is_skipped_with_a_clear_error(tmp_path):
    _record(tmp_path / "rec", episodes=((4, 1), (3, 1)))
    e = tmp_path / "rec" / "shard-00000" / "events.jsonl"
    e.write_text(json.dumps({"frame": 9, "type": "player_turns_left", "payload": {}}) + "\n")
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00001"]
    (name, why), = report.skipped
    assert name == "shard-00000" and "frame 9" in why and "4 frames" in why


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "manifest.json").write_text("{not json"), "not readable JSON"),
    (lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
    (lambda d: (d / "events.jsonl").write_text('{"frame": 0, "type": "bad name!", "payload": {}}\n'), "line 1"),
    (lambda d: (d / "events.jsonl").write_text(""), "truncated"),
])
def test_damaged_shards_are_named(tmp_path, damage, words):
    _record(tmp_path / "rec", episodes=((2, 1), (2, 1)))
    damage(tmp_path / "rec" / "shard-00000")
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00001"]
    assert report.skipped[0][0] == "shard-00000" and words in report.skipped[0][1]


def test_frame_size_the_autoencoder_cannot_take(tmp_path):
    _record(tmp_path / "rec", episodes=((2, 0),))  # 24x16 px
    with pytest.raises(DataError, match=r"shard-00000.*multiples of 5"):
        read_shard(tmp_path / "rec" / "shard-00000", multiple_of=5)
    assert read_shard(tmp_path / "rec" / "shard-00000", multiple_of=8).num_frames == 2


def test_no_good_shard_is_an_error_listing_why(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_recording(tmp_path / "missing")
    _record(tmp_path / "rec", episodes=((2, 0),))
    (tmp_path / "rec" / "shard-00000" / "manifest.json").unlink()
    with pytest.raises(DataError, match="no usable shard.*no manifest.json"):
        read_recording(tmp_path / "rec")


def test_recorder_refuses_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="fps"):
        sdk.Recorder(tmp_path / "r", game="g", fps=0)
    rec = sdk.Recorder(tmp_path / "r", game="g", fps=10)
    with pytest.raises(ShapeError, match="uint8"):
        rec.frame(np.zeros((8, 8, 3), np.float32))
    rec.frame(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ShapeError, match="8x8"):
        rec.frame(np.zeros((8, 16, 3), np.uint8))
    with pytest.raises(ConfigError, match="not a name"):
        rec.event("two words")
    with pytest.raises(ConfigError, match="payload"):
        rec.event("ok", {"k": [1, 2]})
    assert [p.name for p in rec.close()] == ["shard-00000"]
    with pytest.raises(ConfigError, match="closed"):
        rec.frame(np.zeros((8, 8, 3), np.uint8))


def test_named_shards_and_attached_files_travel_with_the_shard(tmp_path):
    rec = sdk.Recorder(tmp_path / "rec", game="g", fps=12)
    rec.name_shard("episode_00003")
    rec.frame(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ConfigError, match="is open: call new_shard"):
        rec.name_shard("episode_00004")
    rec.attach("state.json", b'{"hp": [3]}')
    assert not (tmp_path / "rec" / "episode_00003").exists()  # still .partial: nothing shows before the close
    with pytest.raises(ConfigError, match="already attached"):
        rec.attach("state.json", b"{}")
    for bad in ("manifest.json", "frames.rgb", "../x.json", "noext", "a.b.c"):
        with pytest.raises(ConfigError, match="attached file name"):
            rec.attach(bad, b"")
    rec.new_shard()
    with pytest.raises(ConfigError, match="record a frame first"):
        rec.attach("state.json", b"{}")
    with pytest.raises(ConfigError, match="already exists"):
        rec.name_shard("episode_00003")
    with pytest.raises(ConfigError, match="shard name"):
        rec.name_shard("../up")
    rec.frame(np.zeros((8, 8, 3), np.uint8))  # unnamed: the next free shard-NNNNN
    rec.close()
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["episode_00003", "shard-00000"] and not report.skipped
    assert (tmp_path / "rec" / "episode_00003" / "state.json").read_bytes() == b'{"hp": [3]}'

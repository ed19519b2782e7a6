"""The recording format (docs/recording.md): sdk.Recorder writes it, runtime.data.recording reads and checks it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import sdk
from runtime.data.recording import read_recording, read_shard
from sdk.errors import ConfigError, DataError, ShapeError


def _frames(n: int, h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _record(path: Path, shards: list[np.ndarray]) -> list[Path]:
    with sdk.Recorder(path, game="test game", fps=16, vocabulary="vocab.toml") as rec:
        for k, frames in enumerate(shards):
            for i, f in enumerate(frames):
                if i % 3 == 0:
                    rec.event("player_moves", {"step": i, "shard": k, "fast": i % 2 == 0})
                rec.frame(f)
            rec.event("after_last", {})  # no frame follows: left out, counted
            rec.new_shard()
    return rec.shards


def test_round_trip(tmp_path):
    shards = [_frames(7, seed=1), _frames(5, seed=2)]
    written = _record(tmp_path / "rec", shards)
    assert [p.name for p in written] == ["shard-00000", "shard-00001"]
    assert not list((tmp_path / "rec").glob("*.partial"))
    report = read_recording(tmp_path / "rec", multiple_of=8)
    assert report.skipped == [] and len(report.shards) == 2 and report.num_frames == 12
    for k, (shard, frames) in enumerate(zip(report.shards, shards)):
        assert np.array_equal(np.asarray(shard.frames()), frames)
        assert shard.size == (16, 24) and shard.fps == 16.0
        assert [e.frame for e in shard.events] == list(range(0, len(frames), 3))
        assert shard.events[1].payload == {"step": 3, "shard": k, "fast": False}
        assert shard.manifest["vocabulary"] == "vocab.toml" and shard.manifest["game"] == "test game"
        assert shard.manifest["events_after_last_frame"] == 1


def test_recorder_reopens_with_next_number_and_refuses_bad_input(tmp_path):
    _record(tmp_path / "rec", [_frames(2)])
    with sdk.Recorder(tmp_path / "rec", game="g", fps=8) as rec:
        rec.frame(_frames(1)[0])
        with pytest.raises(ShapeError, match="this recording is 24x16"):
            rec.frame(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(ShapeError, match="uint8"):
            rec.frame(np.zeros((16, 24, 3), np.float32))
        with pytest.raises(ConfigError, match="not a name"):
            rec.event("bad type!", {})
        with pytest.raises(ConfigError, match="payload"):
            rec.event("ok", {"x": [1, 2]})
    assert [p.name for p in rec.shards] == ["shard-00001"]
    with pytest.raises(ConfigError, match="closed"):
        rec.frame(_frames(1)[0])
    with pytest.raises(ConfigError, match="fps"):
        sdk.Recorder(tmp_path / "x", game="g", fps=0)


def test_interrupted_recording_keeps_closed_shards(tmp_path):
    rec = sdk.Recorder(tmp_path / "rec", game="g", fps=16)
    for f in _frames(3):
        rec.frame(f)
    rec.new_shard()
    rec.frame(_frames(1)[0])  # the process dies here: shard-00001 stays .partial
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00000"]
    assert report.skipped[0][0] == "shard-00001.partial" and "interrupted" in report.skipped[0][1]


def test_truncated_and_mismatched_shards_are_skipped_by_name(tmp_path):
    _record(tmp_path / "rec", [_frames(6, seed=s) for s in range(4)])
    root = tmp_path / "rec"
    with open(root / "shard-00001" / "frames.rgb", "r+b") as f:  # truncated frames file
        f.truncate(16 * 24 * 3 * 4 + 100)
    ev = root / "shard-00002" / "events.jsonl"  # an event past the last frame
    lines = ev.read_text().splitlines()
    lines[-1] = json.dumps({"frame": 6, "type": "player_moves", "payload": {}})
    ev.write_text("\n".join(lines) + "\n")
    report = read_recording(root)
    assert [s.name for s in report.shards] == ["shard-00000", "shard-00003"]
    skipped = dict(report.skipped)
    assert "truncated" in skipped["shard-00001"] and "record the shard again" in skipped["shard-00001"]
    assert "shard-00001" in skipped["shard-00001"]
    assert "past the last frame" in skipped["shard-00002"] and "line 2" in skipped["shard-00002"]
    assert np.array_equal(np.asarray(report.shards[1].frames()), _frames(6, seed=3))


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "manifest.json").write_text("{not json"), "not readable JSON"),
    (lambda d: (d / "manifest.json").write_text(json.dumps({**json.loads((d / "manifest.json").read_text()),
                                                             "version": 99})), "version 99"),
    (lambda d: os.remove(d / "manifest.json"), "no manifest.json"),
    (lambda d: (d / "events.jsonl").write_text("{oops\n"), "line 1 is not JSON"),
])
def test_bad_manifest_or_events_named(tmp_path, damage, message):
    _record(tmp_path / "rec", [_frames(3), _frames(3)])
    damage(tmp_path / "rec" / "shard-00000")
    report = read_recording(tmp_path / "rec")
    assert [s.name for s in report.shards] == ["shard-00001"]
    assert report.skipped[0][0] == "shard-00000" and message in report.skipped[0][1]


def test_frame_size_the_autoencoder_cannot_take(tmp_path):
    _record(tmp_path / "rec", [_frames(2, h=20, w=24)])
    with pytest.raises(DataError, match=r"multiples of 8 px.*record at a size such as 24x16"):
        read_shard(tmp_path / "rec" / "shard-00000", multiple_of=8)
    with pytest.raises(DataError, match="no usable shard"):
        read_recording(tmp_path / "rec", multiple_of=8)
    with pytest.raises(DataError, match="does not exist"):
        read_recording(tmp_path / "missing")

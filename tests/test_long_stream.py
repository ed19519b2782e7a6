"""Long steered streams (runtime/evaluation/long_stream.py, `streamdit eval --minutes`) and the per-event
table (runtime/evaluation/per_event.py): synthetic streams with known answers, and the command on the toy
model for a few seconds of video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.evaluation import long_stream as ls
from runtime.evaluation import per_event
from runtime.evaluation.classifier import ClipClassifier, save_classifier
from runtime.evaluation.real_play import RealReference, frame_blue_share
from runtime.evaluation.streamed import ReceivedStream
from sdk.errors import ConfigError

CLASSES = ["player_idle", "player_moves_left", "player_moves_right", "player_moves_up", "player_moves_down"]


def reference(n: int = 64) -> RealReference:
    rng = np.random.default_rng(0)
    return RealReference(CLASSES, rng.normal(size=(n, 128)).astype(np.float32), {"player_idle": 0.5},
                         saturation_p1=20.0, contrast_p1=5.0, flicker=3.0, frames=100, windows=n)


def test_minute_schedule_repeats_the_same_events_every_minute() -> None:
    """Every minute gets the same events at the same video times, so minutes differ only by drift."""
    full = [t for t, _ in ls.vocabulary_schedule(0)]
    two = [t for t, _ in ls.minute_schedule(2.0, 0)]
    assert len(two) == 30 and two == full[:30]  # 30 slots a minute, 33 types: the first 30 of the order
    one = [t for t, _ in ls.minute_schedule(1.0, 0)]
    assert len(one) == 60 and one[:len(full)] == full and one[len(full):] == full[:60 - len(full)]
    assert [t for t, _ in ls.minute_schedule(7.0, 0)] == full  # no whole number a minute: the whole order
    times = [2.0 * (i + 1) for i in range(300)]  # record_stream: event i at (i + 1) * every_s
    per_minute = [[two[i % 30] for i, t in enumerate(times) if m * 60 <= t < (m + 1) * 60] for m in range(4)]
    assert per_minute[1] == per_minute[2] == per_minute[3] and sorted(per_minute[1]) == sorted(two)


def test_minute_rows_count_washed_out_frames_and_events_per_minute() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (80, 32, 32, 3)).astype(np.uint8)  # saturated noise
    frames[40:60] = 128  # grey: no saturation, no contrast: washed out
    events = [{"type": "player_idle", "frame": f} for f in (8, 35, 50)]
    stream = ReceivedStream(frames, np.arange(80, dtype=np.int64) * 62_500, np.zeros(80, np.int64), events)
    clf = ClipClassifier(CLASSES, 32).eval()
    rows = ls.minute_rows(stream, reference(), clf, offset=4, minute_frames=40, length=8)
    assert [r["frames"] for r in rows] == [40, 40] and [r["events"] for r in rows] == [2, 1]
    assert rows[0]["washed_out"] == 0.0 and rows[1]["washed_out"] == 0.5
    assert rows[1]["flicker"] < rows[0]["flicker"]
    assert rows[0]["frechet"] is not None and rows[0]["frechet_floor"] is not None
    # every event has 8 frames before it and its clip inside the stream, and player_idle is a class
    assert rows[0]["adherence_events"] == 2 and rows[1]["adherence_events"] == 1
    md = ls.markdown(rows, ls.real_row(reference(), []))
    assert md.count("\n") == 2 + len(rows) + 1 and "50.0 %" in md


def test_washed_out_frames_are_listed_with_the_event_in_effect() -> None:
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (60, 32, 32, 3)).astype(np.uint8)
    frames[[3, 20, 21, 45]] = 128  # grey frames: washed out
    events = [{"type": "player_sleeps", "frame": 18}, {"type": "night_falls", "frame": 40},
              {"type": "player_idle", "frame": 10}]  # not in frame order
    stream = ReceivedStream(frames, np.arange(60, dtype=np.int64) * 62_500, np.zeros(60, np.int64), events)
    w = ls.washed_out_frames(stream, reference())
    assert (w["frames"], w["of"]) == (4, 60) and w["share"] == pytest.approx(4 / 60, abs=1e-4)
    assert [(r["frame"], r["event"], r["since"]) for r in w["list"]] == [
        (3, "none", None), (20, "player_sleeps", 2), (21, "player_sleeps", 3), (45, "night_falls", 5)]
    assert list(w["by_event"].items()) == [("player_sleeps", 2), ("night_falls", 1), ("none", 1)]
    real = ls.real_row(reference(), [])
    text = ls.markdown_washed_out(w, {**real, "washed_out": 0.015})
    assert "4 of 60 (6.67 %; real held-out play: 1.50 %" in text and "player_sleeps 2, night_falls 1" in text


def test_real_plays_own_washed_out_share_is_measured_under_its_thresholds(tmp_path: Path) -> None:
    """About 1-2 % of real play's frames fall below its own 1st percentiles (either of two): the share a
    generated stream's washed-out frames are read against."""
    pytest.importorskip("crafter")
    from runtime.evaluation.real_play import real_reference
    from runtime.training.data.capture import capture_crafter

    data = tmp_path / "capture"
    capture_crafter(12, 32, data, seed=3, max_steps=200, window=16, progress=False)
    ref = real_reference(data, ClipClassifier(CLASSES, 32).eval())
    assert 0.01 - 1.0 / ref.frames <= ref.washed_out_share <= 0.02 + 1.0 / ref.frames
    assert ls.real_row(ref, [])["washed_out"] == round(ref.washed_out_share, 4)


def test_event_rows_see_a_blue_and_a_dark_change() -> None:
    frames = np.full((64, 32, 32, 3), 150, np.uint8)
    frames[40:, :8] = (32, 96, 160)  # water comes into view at frame 40
    frames[40:, 8:] = 40  # and the rest goes dark
    clf = ClipClassifier(CLASSES, 32).eval()
    rows = per_event.event_rows(frames, [{"type": "drink_water", "frame": 36}, {"type": "night_falls", "frame": 60}],
                                clf, offset=4, length=16)
    assert len(rows) == 1  # the second event's clip runs past the end
    assert rows[0]["adherent"] is None  # drink_water is not a class of this classifier
    assert rows[0]["blue_change"] == pytest.approx(float(frame_blue_share(frames[40:41])[0]))
    assert rows[0]["brightness_change"] < -50
    table = per_event.markdown(per_event.summary(rows), {}, ["drink_water", "night_falls"])
    assert "| drink_water | 1 / - |" in table and "| night_falls | - / - |" in table


def test_eval_minutes_on_the_toy_model(tmp_path: Path) -> None:
    """`streamdit eval --minutes` streams the toy model through a served session for 6 s of video, an event
    every 0.5 s, and writes the per-minute and per-event tables."""
    pytest.importorskip("crafter")
    from typer.testing import CliRunner

    from runtime.checkpoints import resolve
    from runtime.cli import app
    from runtime.training.data.capture import capture_crafter

    data = tmp_path / "capture"
    capture_crafter(4, 32, data, seed=7, max_steps=160, window=16, progress=False)
    save_classifier(ClipClassifier(CLASSES, 32).eval(), tmp_path / "clf")
    out = tmp_path / "out"
    args = ["eval", "--checkpoint", "toy", "--data", str(data), "--classifier", str(tmp_path / "clf"),
            "--rows", "real", "--minutes", "0.1", "--event-every", "0.5", "--no-pace", "--compile", "off", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rep = json.loads((out / "long_stream.json").read_text())
    fps = 8  # the toy model's frame rate
    assert rep["stream"]["frames"] == round(0.1 * 60 * fps) and rep["stream"]["dropped"] == 0
    print(rep["stream"], rep["minutes"])
    assert 10 <= rep["stream"]["events"] <= 12  # one every 4 frames of 48, the first at frame 4
    (row,) = rep["minutes"]  # a tenth of a minute: one short "minute"
    assert row["frames"] == rep["stream"]["frames"] and row["events"] == rep["stream"]["events"]
    assert 0.0 <= row["washed_out"] <= 1.0 and row["frechet"] > 0
    assert set(rep["per_event"]["stream"]) <= {t for t, _ in ls.vocabulary_schedule(0)}
    md = (out / "long_stream.md").read_text()
    assert "| real held-out play |" in md and "| night_falls |" in md
    assert f"Washed-out frames: {rep['washed_out']['frames']} of {rep['stream']['frames']}" in md
    assert rep["real"]["washed_out"] is not None and "% under 1st percentiles" in md
    assert "--minutes 0.1" in rep["command"]


def test_probe_events_streams_each_event_alone_under_each_map() -> None:
    """event_probe on the toy model: one row per (type, seed, map), measured from the bound after the event;
    ungrouped() strips clause groups and nothing else."""
    from runtime.checkpoints import resolve
    from runtime.evaluation.event_probe import LENGTH, probe_events, ungrouped
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.prompt_map import PromptMap
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    pipe = StreamDiTPipeline.from_checkpoint(resolve("toy"))
    toy_map = (resolve("toy") / "prompt_map.toml").read_text()
    clf = ClipClassifier(["move", "other"], 32).eval()
    rows = probe_events(pipe, clf, ["move"], [3], prompt_maps={"a": toy_map, "b": toy_map}, states=["move"],
                        before_s=(LENGTH + 8) / pipe.fps,
                        payloads={"move": {"color": "blue", "shape": "circle", "direction": "up"}})
    assert [len(r) for r in rows.values()] == [1, 1]
    assert rows["a"][0]["seed"] == 3 and rows["a"][0]["adherent"] is not None
    # the same map and seed: the same stream. Not bit for bit: in a full `make test` run the two streams once
    # differed in the fourth digit (brightness change -3.93 against -3.82 levels). Two candidates, neither
    # pinned down: bf16 rounding when a step batches streams differently
    # (test_generate_batch_streams_every_prompt_like_a_lone_stream), or timing: record_stream pushes a
    # video-time event from a thread while the unpaced runtime runs up to 8 credits ahead, so the chunk where
    # the event applies can differ between runs.
    a, b = rows["a"][0], rows["b"][0]
    assert a["type"] == b["type"] and a["seed"] == b["seed"] and a["adherent"] == b["adherent"], (a, b)
    assert a["brightness_change"] == pytest.approx(b["brightness_change"], abs=0.5), (a, b)
    assert a["blue_change"] == pytest.approx(b["blue_change"], abs=0.01), (a, b)
    with pytest.raises(ConfigError, match="before_s"):
        probe_events(pipe, clf, ["move"], [0], prompt_maps={"a": toy_map}, before_s=1.0)

    grouped = default_crafter_prompt_map()
    plain = PromptMap.parse(ungrouped(grouped), fps=16.0, frames_per_chunk=2)
    full = PromptMap.parse(grouped, fps=16.0, frames_per_chunk=2)
    assert plain.groups == () and full.groups and set(plain.rules) == set(full.rules)
    assert all(plain.rules[t].template == r.template and plain.rules[t].group is None for t, r in full.rules.items())

"""The Godot StreamDiTRecorder in the real engine (issue 17), read back with the project's reader.

engine_plugins/godot/tests/recorder_scene.tscn plays a small game (a 128x96 SubViewport whose background
colour says which events have happened, and a white square that moves 1 px per drawn frame) at a fixed
64 drawn frames per second of game time (`--fixed-fps 64`). A StreamDiTRecorder records it at 16 FPS,
scaled to 64x48, with the events the scene pushes through a StreamDiTSession and through the recorder, in
two shards. The recording lands in the engine's user:// folder (GODOT_USER_DATA points it at the test's tmp
dir), and `runtime.data.recording.read_recording` (docs/recording.md) reads it back.

- Rendered: tools/godot-gl runs the engine with the opengl3 driver on Mesa's llvmpipe under Xvfb, and the
  recorder captures the viewport's pixels itself.
- Headless: the engine renders nothing; the recorder says so (no_renderer), and the scene passes an Image
  it draws to record_image, the fallback the addon's README describes.

In both, each event's recorded frame is the first frame that shows it (its background colour), the frames
before do not, the square moves between frames, and the shards, counts and manifests match what the scene
did. The engine tests of the writer alone are GDScript suites (tests/test_recording_writer.gd, run by
tests/test_godot_zmtp.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from godot_helpers import GODOT_DIR, copy_project, engine_or_skip, import_project, run_godot
from runtime.data.recording import read_recording

pytestmark = pytest.mark.timeout(300)

COLOURS = {  # as COLOURS in recorder_scene.gd
    "start": (128, 128, 128), "zombie_appears": (0, 0, 255), "night_falls": (0, 160, 0), "cow_nearby": (255, 0, 0),
}
PROJECT_NAME = "StreamDiT addon tests"  # application/config/name of engine_plugins/godot/project.godot


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    engine_or_skip()
    path = copy_project(GODOT_DIR, tmp_path_factory.mktemp("godot_recorder") / "project", skip=("sample",))
    import_project(path)
    return path


def _record(project: Path, tmp_path: Path, mode: str) -> tuple[dict, Path]:
    """Runs the scene; returns its result.json and the recording's folder on the host."""
    data = tmp_path / "userdata"
    wrapper = "godot-gl" if mode == "viewport" else "godot-headless"
    proc = run_godot(project, "--fixed-fps", "64", "res://tests/recorder_scene.tscn", "--", f"--mode={mode}",
                     f"--out=out_{mode}", wrapper=wrapper, user_data=data, timeout=120)
    output = proc.stdout + proc.stderr
    assert "SCRIPT ERROR" not in output, "a GDScript error (see the output)"
    assert proc.returncode == 0, f"the recorder scene exited {proc.returncode}"
    result = json.loads((project / f"out_{mode}" / "result.json").read_text())
    return result, data / "godot" / "app_userdata" / PROJECT_NAME / "recordings" / mode


def _background(frame: np.ndarray) -> tuple[int, int, int]:
    """The colour of the frame's top-left corner (the square moves along y = 40..48 of 96, scaled by 1/2)."""
    return tuple(int(c) for c in frame[2, 2])


def _square_x(frame: np.ndarray) -> float:
    """Mean column of the white square's pixels (white: every channel > 230)."""
    cols = np.nonzero((frame > 230).all(axis=2))[1]
    assert cols.size, "no white square in the frame"
    return float(cols.mean())


def _check_recording(result: dict, folder: Path, *, renderer: bool) -> None:
    report = read_recording(folder)
    assert report.skipped == [], report.skipped
    assert not list(folder.glob("*.partial")), "a shard was left .partial"
    assert [s.name for s in report.shards] == ["shard-00000", "shard-00001"]
    counters = result["counters"]
    assert report.num_frames == counters["frames_recorded"] > 16
    assert [[Path(p).name, n, e] for p, n, e in result["shards"]] == \
        [[s.name, s.num_frames, len(s.events)] for s in report.shards]
    for shard in report.shards:
        m = shard.manifest
        assert (m["width"], m["height"], m["fps"], m["game"]) == (64, 48, 16.0, "recorder test"), m
        assert m["vocabulary"] == "test_prompts.toml" and m["recorder"].startswith("godot StreamDiTRecorder ")

    # Each event is stamped with the first frame recorded after the push: that frame shows it, the one
    # before does not. Frame indices are per shard.
    offsets = [0, report.shards[0].num_frames]
    events = [(i, e) for i, s in enumerate(report.shards) for e in s.events]
    assert [(e.type, e.payload) for _, e in events] == \
        [("zombie_appears", {"zone": "forest"}), ("night_falls", {"hour": 22}), ("cow_nearby", {})]
    for (shard_index, event), pushed in zip(events, result["pushed"]):
        assert pushed["type"] == event.type and pushed["shard"] == shard_index
        assert event.frame == pushed["frames_recorded_before"] - offsets[shard_index], (event, pushed)
        frames = report.shards[shard_index].frames()
        shown = _background(frames[event.frame])
        assert np.allclose(shown, COLOURS[event.type], atol=3), f"{event.type} frame shows {shown}"
        if event.frame > 0:
            before = _background(frames[event.frame - 1])
            assert not np.allclose(before, COLOURS[event.type], atol=3), f"{event.type} shows before its frame"
    assert np.allclose(_background(report.shards[0].frames()[0]), COLOURS["start"], atol=3)

    # The square moves between recorded frames, except where the recorder wrote a frame again because
    # the game drew slower than 16 FPS (the scene's slow frame): exactly frames_repeated repeats.
    repeats = 0
    for shard in report.shards:
        frames = np.asarray(shard.frames())
        same = [bool(np.array_equal(a, b)) for a, b in zip(frames[:-1], frames[1:])]
        repeats += sum(same)
        xs = [_square_x(f) for f, again in zip(frames[1:], same) if not again]
        assert all(b != a for a, b in zip(xs, xs[1:])), f"the square did not move in {shard.name}"
    assert repeats == counters["frames_repeated"]
    assert (repeats >= 1) is renderer, "the slow frame must be repeated when the recorder captures"


def test_recorder_captures_the_rendered_viewport(project: Path, tmp_path: Path) -> None:
    result, folder = _record(project, tmp_path, "viewport")
    assert (result["renderer"], result["display"]) == ("opengl3", "X11"), result
    assert "llvmpipe" in result["adapter"], result["adapter"]
    # test_prompts.toml (the vocabulary) has zombie_appears only: the other two are reported, and recorded.
    assert result["errors"] == ["unknown_event", "unknown_event"], result["errors"]
    _check_recording(result, folder, renderer=True)


def test_headless_recorder_records_the_images_it_is_given(project: Path, tmp_path: Path) -> None:
    result, folder = _record(project, tmp_path, "image")
    assert result["display"] == "headless"
    assert result["errors"] == ["no_renderer", "unknown_event", "unknown_event"], result["errors"]
    _check_recording(result, folder, renderer=False)

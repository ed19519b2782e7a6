"""The Unity package's recording writer (StreamDiT.Core's RecordingWriter, issue 17) under Mono, read back with the
project's reader.

The writer's unit tests run in `mono CoreTests.exe unit` (tests/test_unity_core.py; engine_plugins/unity/tests/
RecordingTests.cs). Here `mono CoreTests.exe record DIR` writes a recording the way StreamDiTRecorder does: shard 0
from RGBA32 frames bottom row first (an AsyncGPUReadback), shard 1 from RGB24 top row first, events before, between
and after frames, and a third shard left open, as a crashed game leaves it. `runtime.data.recording.read_recording`
(docs/recording.md) must accept the two closed shards as written, skip the open one by name, and see the pixels
top row first in RGB. The StreamDiTRecorder MonoBehaviour itself is compile-checked only (tests/test_unity_layer.py).
"""

from __future__ import annotations

import numpy as np

from runtime.data.recording import read_recording
from test_unity_core import _run, core_tests_exe  # noqa: F401  (the session-scoped build)

W, H = 8, 6  # as RecordingTests.WriteFixture


def _frame(f: int) -> np.ndarray:
    """Mirror of RecordingTests.Frame: pixel (x, y), top row 0, of frame f is (x*30 + f, y*40 + f, 7*f + 1)."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(x * 30 + f) % 256, (y * 40 + f) % 256, np.full_like(x, 7 * f + 1)], axis=-1).astype(np.uint8)


def test_mono_recording_reads_back_with_the_project_reader(core_tests_exe, tmp_path):  # noqa: F811
    folder = tmp_path / "recording"
    result = _run(["mono", str(core_tests_exe), "record", str(folder)], cwd=core_tests_exe.parent)
    assert result.returncode == 0, result.stdout + result.stderr

    report = read_recording(folder)
    assert [s.name for s in report.shards] == ["shard-00000", "shard-00001"]
    assert [name for name, _ in report.skipped] == ["shard-00002.partial"]
    assert "incomplete" in report.skipped[0][1], report.skipped

    first, second = report.shards
    for shard in report.shards:
        m = shard.manifest
        assert (m["format"], m["version"], m["game"], m["fps"]) == ("streamdit-recording", 1, "unity fixture", 12.5)
        assert (m["width"], m["height"]) == (W, H) and m["vocabulary"] == "fixture_vocab.toml"
        assert m["recorder"].startswith("unity StreamDiTRecorder ") and m["created"].endswith("+00:00")
    assert (first.num_frames, second.num_frames) == (3, 3)
    assert first.manifest["events_after_last_frame"] == 1 and second.manifest["events_after_last_frame"] == 0

    # Bottom-up RGBA and top-down RGB both come out top row first, RGB.
    for shard in report.shards:
        frames = np.asarray(shard.frames())
        for f in range(3):
            np.testing.assert_array_equal(frames[f], _frame(f), err_msg=f"{shard.name} frame {f}")

    assert [(e.frame, e.type, e.payload) for e in first.events] == [
        (0, "zombie_appears", {"zone": 'forest "deep"', "hp": 3}),
        (2, "night_falls", {"hour": 22.5, "boss": False}),
    ]
    assert [(e.frame, e.type, e.payload) for e in second.events] == [(2, "cow_nearby", {})]

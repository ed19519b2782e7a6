"""The Crafter capture writes the recording format (issue 17): one data path into `streamdit data import`."""

from __future__ import annotations

import numpy as np

from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary
from runtime.training.data.capture import capture_crafter
from runtime.training.data.crafter_recording import VOCABULARY, write_recording


def test_crafter_capture_as_a_recording_captioned_by_the_shipped_map(tmp_path):
    capture_crafter(2, 64, tmp_path / "cap", seed=7, max_steps=32, window=16, progress=False)
    shards = write_recording(tmp_path / "cap", tmp_path / "rec")
    report = read_recording(tmp_path / "rec", multiple_of=8)
    assert [s.name for s in report.shards] == [p.name for p in shards] and len(shards) == 2 and not report.skipped
    with np.load(tmp_path / "cap" / "episode_00000.npz") as npz:
        assert np.array_equal(np.asarray(report.shards[0].frames()), npz["frames"])
    vocab = Vocabulary.load(VOCABULARY, fps=report.shards[0].fps)
    for s in report.shards:
        vocab.check_shard(s)  # every event the captioner emits has a rule in the shipped map
    caps = vocab.window_captions(report.shards[0].events, report.shards[0].num_frames, 16, [0, 16])
    assert all(c for c, _ in caps)

"""Partition arithmetic: B = K + N*c, T = s*N, levels per position and micro-step, training draws."""

import pytest
import torch

from runtime.sampling.partition import PartitionScheme
from sdk.errors import ConfigError


def test_arithmetic_and_validation():
    p = PartitionScheme(K=0, N=8, c=2, s=16)
    assert (p.B, p.T) == (16, 128)
    assert PartitionScheme(K=2, N=7, c=2, s=1, B=16, T=7).B == 16
    with pytest.raises(ConfigError, match=r"B = 15 but K \+ N\*c = 0 \+ 8\*2 = 16"):
        PartitionScheme(K=0, N=8, c=2, s=1, B=15)
    with pytest.raises(ConfigError, match=r"T = 10 but s\*N"):
        PartitionScheme(K=0, N=8, c=2, s=1, T=10)
    with pytest.raises(ConfigError, match="c must be an integer >= 1"):
        PartitionScheme(K=0, N=8, c=0, s=1)
    with pytest.raises(ConfigError, match="multiple of c"):
        PartitionScheme.for_buffer(16, 3, 1)
    assert PartitionScheme.for_buffer(16, 4, 2, K=4).N == 3


def test_levels_run_from_clean_to_noise_and_advance_by_one_step():
    p = PartitionScheme(K=0, N=4, c=2, s=3)
    table = p.level_table()  # (s, B)
    assert table.shape == (3, 8)
    assert table[0].tolist() == [9 / 12] * 2 + [6 / 12] * 2 + [3 / 12] * 2 + [0.0] * 2
    # monotone: oldest (position 0) cleanest; one micro-step adds exactly dtau = 1/T
    assert (table[:, :-1] >= table[:, 1:]).all()
    torch.testing.assert_close(table[1] - table[0], p.step_sizes())
    # after s micro-steps the oldest chunk is clean and each chunk has the level of its older neighbour
    last = table[-1] + p.step_sizes()
    assert last[0] == pytest.approx(1.0)
    torch.testing.assert_close(last[2:], table[0][:-2])
    with pytest.raises(ConfigError, match=r"micro_step must be in \[0, s\)"):
        p.levels(3)


def test_reference_frames_are_clean_and_do_not_move():
    p = PartitionScheme(K=2, N=3, c=2, s=2)
    assert p.levels(0)[:2].tolist() == [1.0, 1.0]
    assert p.step_sizes()[:2].tolist() == [0.0, 0.0]
    assert p.chunk_of(0) == -1 and p.chunk_of(2) == 0 and p.chunk_of(7) == 2


def test_training_draw_lies_in_each_chunks_interval(rng):
    p = PartitionScheme(K=0, N=4, c=2, s=1)
    lv = p.sample_train_levels(2000, rng)  # (batch, B)
    for pos in range(8):
        i = 4 - pos // 2  # chunk i counted from the newest (i = 1)
        assert lv[:, pos].min() >= (i - 1) / 4 and lv[:, pos].max() <= i / 4
    assert (lv[:, 0] == lv[:, 1]).all()  # frames of a chunk share the level
    assert abs(lv[:, 7].mean().item() - 0.125) < 0.01  # uniform inside [0, 1/4)


def test_uniform_scheme_is_one_chunk():
    p = PartitionScheme.for_buffer(16, 16, 32)
    assert (p.N, p.T, p.steps_to_fill) == (1, 32, 0)
    assert (p.levels(5) == 5 / 32).all()

"""The moving buffer and the streaming sampler: bookkeeping, startup, batching, CFG, prompt changes."""

import pytest
import torch

from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from runtime.sampling.euler import euler_sample
from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler
from runtime.testing import tiny_model
from sdk.errors import ConfigError, ShapeError

LATENT = (4, 8, 8)


@pytest.fixture(scope="module")
def model() -> StreamDiT:
    return tiny_model(DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2, window=(2, 4, 4)))


def prompt(seed: int, n: int = 5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 384, generator=g), torch.ones(n, dtype=torch.bool)


@pytest.mark.parametrize("K,N,c,s", [(0, 4, 2, 3), (0, 8, 1, 2), (2, 3, 2, 2), (0, 1, 8, 4)])
def test_every_pushed_chunk_is_emitted_once_and_clean(model, K, N, c, s):
    sch = PartitionScheme(K=K, N=N, c=c, s=s)
    smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
    a = smp.add_stream(*prompt(0), seed=1)
    seen: dict[int, list[int]] = {a: []}
    for step in range(sch.steps_to_fill + 6 * sch.s + 3):
        if step == 4:
            seen[smp.add_stream(*prompt(1), seed=2)] = []  # joins mid-way, warms up in the same batches
        for ch in smp.step():
            assert ch.level == pytest.approx(1.0, abs=1e-9)
            assert ch.latent.shape == (LATENT[0], c, *LATENT[1:])
            seen[ch.stream_id].append(ch.chunk_index)
        for sid in seen:
            if smp.is_streaming(sid):
                ids, tau, j = smp.buffer_state(sid)
                assert ids == sorted(ids) and len(ids) == N
                torch.testing.assert_close(tau, sch.levels(j))  # bookkeeping matches the scheme
    for sid, idx in seen.items():
        assert idx == list(range(len(idx))) and len(idx) >= 3  # in order, none skipped or repeated
    assert smp.model_calls == sch.steps_to_fill + 6 * sch.s + 3  # one batched call per step


def test_uniform_scheme_equals_plain_euler(model):
    T = 6
    sch = PartitionScheme.for_buffer(8, 8, T)  # c = B, s = T
    text, mask = prompt(0)
    smp = StreamingSampler(model, sch, LATENT, guidance_scale=1.5, autocast_dtype=None)
    smp.add_stream(text, mask, seed=3)
    out = [ch for _ in range(T) for ch in smp.step()]
    assert len(out) == 1
    noise = torch.randn(LATENT[0], 8, *LATENT[1:], generator=torch.Generator().manual_seed(3))[None]
    ref = euler_sample(model, noise, text[None], mask[None], T, guidance_scale=1.5)
    torch.testing.assert_close(out[0].latent, ref[0], atol=1e-5, rtol=1e-5)


def test_startup_fills_each_position_from_the_uniform_pass(model):
    sch = PartitionScheme(K=0, N=4, c=2, s=2)
    text, mask = prompt(0)
    smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
    sid = smp.add_stream(text, mask, seed=5)
    for _ in range(sch.steps_to_fill):
        assert not smp.is_streaming(sid)
        assert smp.step() == []
    assert smp.is_streaming(sid)
    noise = torch.randn(LATENT[0], 8, *LATENT[1:], generator=torch.Generator().manual_seed(5))[None]
    traj = euler_sample(model, noise, text[None], mask[None], sch.T, return_trajectory=True)
    buf = smp._streams[sid].x
    for p in range(sch.N):
        k = (sch.N - 1 - p) * sch.s
        torch.testing.assert_close(buf[:, 2 * p: 2 * p + 2], traj[k][0, :, 2 * p: 2 * p + 2], atol=1e-5, rtol=1e-5)


def test_batched_streams_match_solo_streams(model):
    sch = PartitionScheme(K=0, N=4, c=2, s=2)
    solo = {}
    for seed in (1, 2):
        smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
        smp.add_stream(*prompt(seed), seed=seed)
        solo[seed] = [ch.latent for _ in range(12) for ch in smp.step()]
    smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
    ids = {smp.add_stream(*prompt(seed, n=3 + seed), seed=seed): seed for seed in (1, 2)}  # different lengths
    both = {1: [], 2: []}
    for _ in range(12):
        for ch in smp.step():
            both[ids[ch.stream_id]].append(ch.latent)
    for seed in (1, 2):
        smp_solo = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
        smp_solo.add_stream(*prompt(seed, n=3 + seed), seed=seed)
        ref = [ch.latent for _ in range(12) for ch in smp_solo.step()]
        assert len(ref) == len(both[seed]) > 0
        for a, b in zip(ref, both[seed]):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(both[1][0], both[2][0])


def test_new_prompt_takes_effect_from_the_next_step(model):
    sch = PartitionScheme(K=0, N=4, c=2, s=2)
    runs = []
    for change in (False, True):
        smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
        sid = smp.add_stream(*prompt(0), seed=1)
        states = []
        for step in range(10):
            if change and step == 8:
                smp.set_prompt(sid, *prompt(9))
            smp.step()
            states.append(smp._streams[sid].x.clone())
        runs.append(states)
    for step in range(8):
        torch.testing.assert_close(runs[0][step], runs[1][step])
    assert (runs[0][8] - runs[1][8]).abs().max() > 1e-4


def test_guidance_one_is_plain_conditional(model):
    sch = PartitionScheme(K=0, N=2, c=4, s=2)
    outs = []
    for g in (1.0, 3.0):
        smp = StreamingSampler(model, sch, LATENT, guidance_scale=g, autocast_dtype=None)
        smp.add_stream(*prompt(0), seed=1)
        outs.append([ch.latent for _ in range(6) for ch in smp.step()])
    assert not torch.allclose(outs[0][0], outs[1][0])


def test_bad_input_is_refused(model):
    sch = PartitionScheme(K=0, N=2, c=4, s=2)
    with pytest.raises(ShapeError, match="latent_shape"):
        StreamingSampler(model, sch, (3, 8, 8))
    smp = StreamingSampler(model, sch, LATENT, max_streams=1)
    with pytest.raises(ShapeError, match="prompt embedding"):
        smp.add_stream(torch.zeros(3, 10), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ShapeError, match="at least one True"):
        smp.add_stream(torch.zeros(3, 384), torch.zeros(3, dtype=torch.bool))
    smp.add_stream(*prompt(0))
    with pytest.raises(ConfigError, match="max_streams"):
        smp.add_stream(*prompt(1))
    with pytest.raises(ConfigError, match="no stream with id 7"):
        smp.set_prompt(7, *prompt(0))

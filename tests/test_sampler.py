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


@pytest.mark.parametrize("cfg", [1.0, 2.0])
def test_a_negative_prompt_guides_the_velocity_away_from_it(model, cfg):
    """Uniform scheme (c = B, s = T): the stream is plain Euler, so a guided stream must equal Euler on
    v + g (v - v_neg), with v and v_neg each CFG-guided at `cfg`; the unguided stream beside it in the same
    batch is unchanged, and every step is still one batched model call."""
    from runtime.sampling.euler import guided_velocity

    T, g = 5, 1.5
    sch = PartitionScheme.for_buffer(8, 8, T)
    (text, mask), (neg, neg_mask), (other, other_mask) = prompt(0), prompt(1, n=3), prompt(2, n=7)
    smp = StreamingSampler(model, sch, LATENT, guidance_scale=cfg, autocast_dtype=None)
    a = smp.add_stream(text, mask, seed=3)
    b = smp.add_stream(other, other_mask, seed=4)
    smp.set_negative_prompt(a, neg, neg_mask, g)
    out = {ch.stream_id: ch.latent for _ in range(T) for ch in smp.step()}
    assert smp.model_calls == T
    x = torch.randn(LATENT[0], 8, *LATENT[1:], generator=torch.Generator().manual_seed(3))[None]
    L = 7  # the batch pads every prompt to its longest (stream b's); padding with a False mask changes nothing
    pad = lambda e, m: (torch.cat([e, e.new_zeros(L - len(e), e.shape[1])])[None],  # noqa: E731
                        torch.cat([m, m.new_zeros(L - len(m))])[None])
    (pt, pm), (nt, nm) = pad(text, mask), pad(neg, neg_mask)
    with torch.no_grad():
        for k in range(T):
            t = torch.full((1, 8), k / T)
            v = guided_velocity(model, x, t, pt, pm, cfg)
            v_neg = guided_velocity(model, x, t, nt, nm, cfg)
            x = x + (v + g * (v - v_neg)) / T
    torch.testing.assert_close(out[a], x[0], atol=1e-4, rtol=1e-4)
    solo = StreamingSampler(model, sch, LATENT, guidance_scale=cfg, autocast_dtype=None)
    solo.add_stream(other, other_mask, seed=4)
    ref = [ch.latent for _ in range(T) for ch in solo.step()][0]
    torch.testing.assert_close(out[b], ref, atol=1e-5, rtol=1e-5)


def test_a_cleared_or_zero_negative_prompt_changes_nothing(model):
    sch = PartitionScheme(K=0, N=2, c=4, s=2)
    runs = []
    for mode in ("none", "cleared", "zero", "on"):
        smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None)
        sid = smp.add_stream(*prompt(0), seed=1)
        if mode != "none":
            smp.set_negative_prompt(sid, *prompt(1), 0.0 if mode == "zero" else 2.0)
        if mode == "cleared":
            smp.clear_negative_prompt(sid)
        runs.append(torch.cat([ch.latent for _ in range(6) for ch in smp.step()], dim=1))
    torch.testing.assert_close(runs[1], runs[0])
    torch.testing.assert_close(runs[2], runs[0])
    assert not torch.allclose(runs[3], runs[0], atol=1e-3)
    smp = StreamingSampler(model, sch, LATENT)
    sid = smp.add_stream(*prompt(0))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="finite number >= 0"):
            smp.set_negative_prompt(sid, *prompt(1), bad)
    with pytest.raises(ShapeError, match="prompt embedding"):
        smp.set_negative_prompt(sid, torch.zeros(3, 10), torch.ones(3, dtype=torch.bool), 1.0)

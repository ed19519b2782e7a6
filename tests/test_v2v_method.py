"""Video-to-video in the moving buffer (runtime/sampling/v2v.py): the two exact ends of the strength, where a
source chunk enters, and the source back within 1 dB of the autoencoder's own PSNR on the default model."""

from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.sampling.partition import PartitionScheme
from runtime.sampling.v2v import V2VStream, entry
from runtime.testing import tiny_pipeline
from sdk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _stream(pipe, strength, source, seed=3, chunks=6, anchor=True):
    """Emit `chunks` chunks of a stream restyling the fixed source chunk; returns the latents decoded and the
    source index per frame (the v2v path when strength is not None, else the text-only path)."""
    smp = pipe.sampler()
    text, mask = pipe.text_encoder.encode_one("a red square")
    fpc = smp.scheme.c * pipe.temporal_factor
    v = None if strength is None else V2VStream(smp.scheme, fpc, strength, seed=seed)
    start = v.start_args(source, list(range(fpc))) if v is not None and anchor else {}
    sid = smp.add_stream(text, mask, seed=seed, **start)
    out, idx = [], []
    while len(out) < chunks:
        for ch in smp.step():
            lat, ix = (ch.latent, [-1] * fpc) if v is None else v.emitted(ch.latent)
            out.append(lat.clone())
            idx.append(ix)
            if v is not None:
                v.boundary(smp, sid, source, list(range(10 * len(out), 10 * len(out) + fpc)))
    return torch.stack(out), idx


def _source(pipe, seed=0):
    C, h, w = pipe.latent_shape
    return torch.randn(C, pipe.scheme().c, h, w, generator=torch.Generator().manual_seed(seed))


def test_entry_positions():
    sch = PartitionScheme.for_buffer(16, 2, 1)  # the default student: N = 8
    assert [entry(s, sch).steps for s in (0, 0.25, 0.5, 0.75, 1)] == [0, 2, 4, 6, 8]
    e = entry(0.5, sch)
    assert (e.position, e.level, e.effective) == (3, 0.5, 0.5)
    assert sch.levels(0)[e.position * sch.c].item() == e.level  # the level the model is told there
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        entry(1.5, sch)


def test_strength_one_is_the_text_only_path_bit_for_bit():
    pipe = tiny_pipeline()
    src = _source(pipe)
    text_only, _ = _stream(pipe, None, src)
    v2v, idx = _stream(pipe, 1.0, src)
    assert torch.equal(text_only, v2v)
    assert all(i == -1 for ix in idx for i in ix)  # no output frame restyles a source at strength 1
    half, _ = _stream(pipe, 0.5, src)
    assert not torch.equal(text_only, half)  # the source does enter below strength 1


def test_strength_zero_emits_the_source_latent_and_names_it():
    pipe = tiny_pipeline()
    src = _source(pipe)
    out, idx = _stream(pipe, 0.0, src)
    assert all(torch.equal(o, src) for o in out)
    assert idx[0] == [0, 1] and idx[2] == [20, 21]  # the anchor, then the chunk written at the boundary before


def test_a_source_chunk_leaves_after_its_entry_steps():
    pipe = tiny_pipeline(buffer_frames=8, chunk=2, micro_steps=1)  # N = 4
    out, idx = _stream(pipe, 0.5, _source(pipe), chunks=6, anchor=False)  # n = 2: written at position 1
    # without an anchor the first chunks are text-only; the chunk emitted after boundary j restyles the
    # source written at boundary j - 2 (it spends 2 steps in the buffer)
    firsts = [ix[0] for ix in idx]
    assert firsts[:2] == [-1, -1] and firsts[2:] == [10, 20, 30, 40]


@pytest.mark.skipif(not (ROOT / "runtime/checkpoints/default/config.json").exists(), reason="no default checkpoint")
def test_strength_near_zero_gives_the_source_back_within_1_db_of_the_autoencoder():
    from runtime.evaluation.autoencoder import psnr
    from runtime.pipeline import StreamDiTPipeline
    from runtime.data.frames import FrameBank  # noqa: F401  (the data layer imports cleanly)

    pipe = StreamDiTPipeline.from_checkpoint(ROOT / "runtime/checkpoints/default", "cpu")
    rng = np.random.default_rng(0)
    frames = _crafter_like_frames(rng)  # (2, 72, 72, 3) uint8
    z = pipe.encode(frames)  # (C, 2, 9, 9)
    ae = pipe.decode(z)  # the autoencoder's own reconstruction
    out, _ = _stream(pipe, 0.05, z, chunks=2)  # round(0.05 * 8) = 0 steps
    got = pipe.decode(out[-1])
    ref = torch.from_numpy(frames).float()
    own = psnr(torch.from_numpy(ae).float(), ref)
    assert abs(psnr(torch.from_numpy(got).float(), ref) - own) < 1.0


def _crafter_like_frames(rng):
    """Two 72x72 frames of a Crafter-like tile map: 8 px tiles of a few flat colours (grass, water, sand)."""
    colours = np.array([[90, 160, 60], [60, 90, 200], [200, 190, 120], [120, 120, 120]], np.uint8)
    tiles = rng.integers(0, len(colours), (9, 9))
    img = colours[tiles].repeat(8, 0).repeat(8, 1)  # (72, 72, 3)
    return np.stack([img, np.roll(img, 8, axis=1)])

"""The compiled forward pass (runtime.model.compiled): the user setting, and compiled == eager streaming."""

import logging

import pytest
import torch

from runtime.model.compiled import compile_support, resolve_compile
from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler
from runtime.testing import tiny_model
from sdk.errors import ConfigError

LATENT = (4, 8, 8)


def _model() -> StreamDiT:
    return tiny_model(DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2, window=(2, 4, 4)))


def _stream(model: StreamDiT, steps: int = 6, join_at: int | None = None, **kw) -> torch.Tensor:
    """Chunks of stream 0 over the start-up pass plus `steps` steps, float32; a second stream joins at
    step `join_at` after the start-up pass (a new batch size)."""
    sch = PartitionScheme(K=0, N=4, c=2, s=1)
    g = torch.Generator().manual_seed(3)
    text, mask = torch.randn(5, 384, generator=g), torch.ones(5, dtype=torch.bool)
    smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None, **kw)
    smp.add_stream(text, mask, seed=1)
    out = []
    for step in range(sch.steps_to_fill + steps):
        if join_at is not None and step == sch.steps_to_fill + join_at:
            smp.add_stream(text, mask, seed=2)
        out += [ch.latent for ch in smp.step() if ch.stream_id == 0]
    return torch.stack(out)


def test_off_and_bools_never_compile():
    assert resolve_compile("off") is False
    assert resolve_compile(False) is False
    with pytest.raises(ConfigError, match="auto, on, off"):
        resolve_compile("fast")
    if compile_support("cpu") is None:
        assert resolve_compile(True) is True


def test_environment_turns_auto_off_but_not_on(monkeypatch):
    monkeypatch.setenv("STREAMDIT_COMPILE", "off")
    assert resolve_compile("auto") is False
    if compile_support("cpu") is None:
        assert resolve_compile("on") is True  # an explicit request wins over the environment


def test_missing_compiler_is_named(monkeypatch, caplog):
    monkeypatch.setenv("STREAMDIT_COMPILE", "")
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++")
    assert "C++ compiler" in compile_support("cpu")
    with pytest.raises(ConfigError, match="C\\+\\+ compiler.*compile=.off"):
        resolve_compile("on")
    with caplog.at_level(logging.WARNING):
        assert resolve_compile("auto") is False  # falls back to eager, and says why
    assert "C++ compiler" in caplog.text


def test_padding_prompts_to_a_fixed_length_changes_nothing():
    """The compiled sampler pads prompts to the text encoder's limit; padded tokens are masked out."""
    model = _model()
    torch.testing.assert_close(_stream(model, text_tokens=16), _stream(model), rtol=1e-5, atol=1e-5)


def test_a_failing_compile_falls_back_to_eager(caplog):
    """A compiler that breaks at run time costs a warning, not the stream."""
    model = _model()
    reference = _stream(model)
    sch = PartitionScheme(K=0, N=4, c=2, s=1)
    smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None, compile=True)

    def broken(*args, **kwargs):
        raise RuntimeError("InductorError: no compiler for you")

    smp.forward._compiled = broken
    assert smp.compiled
    g = torch.Generator().manual_seed(3)
    smp.add_stream(torch.randn(5, 384, generator=g), torch.ones(5, dtype=torch.bool), seed=1)
    with caplog.at_level(logging.WARNING):
        out = [ch.latent for _ in range(sch.steps_to_fill + 6) for ch in smp.step()]
    assert not smp.compiled and "running the model eagerly" in caplog.text
    torch.testing.assert_close(torch.stack(out), reference)


@pytest.mark.skipif(compile_support("cpu") is not None, reason="torch.compile cannot build CPU kernels here")
def test_compiled_sampler_streams_what_the_eager_one_streams():
    """Same buffers, same chunks, in float32 (no bf16 rounding): compiled and eager agree to float tolerance,
    including after a second stream joins (a new batch size: the batch dimension becomes dynamic)."""
    model = _model()
    eager = _stream(model, join_at=2, text_tokens=8)
    compiled = _stream(model, join_at=2, text_tokens=8, compile=True)
    assert compiled.shape == eager.shape and eager.shape[0] >= 6
    torch.testing.assert_close(compiled, eager, rtol=1e-3, atol=1e-3)

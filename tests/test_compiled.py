"""The compiled forward pass (runtime.model.compiled): the user setting, and compiled == eager streaming."""

import logging

import pytest
import torch

from runtime.model.compiled import compile_support, resolve_compile
from runtime.model.config import DiTConfig
from runtime.model.dit import StreamDiT
from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler
from sdk.errors import ConfigError

LATENT = (4, 8, 8)


def test_off_and_bools_never_compile(monkeypatch):
    assert resolve_compile("off") is False
    assert resolve_compile(False) is False
    with pytest.raises(ConfigError, match="auto, on, off"):
        resolve_compile("fast")


def test_environment_turns_auto_off_but_not_on(monkeypatch):
    monkeypatch.setenv("STREAMDIT_COMPILE", "off")
    assert resolve_compile("auto") is False
    if compile_support("cpu") is None:
        assert resolve_compile("on") is True  # an explicit request wins over the environment


def test_missing_compiler_is_named(monkeypatch, caplog):
    monkeypatch.setenv("STREAMDIT_COMPILE", "")
    monkeypatch.setenv("CXX", "/nonexistent/bin/g++")
    assert "C++ compiler" in compile_support("cpu")
    with pytest.raises(ConfigError, match="C\\+\\+ compiler.*--compile off"):
        resolve_compile("on")
    with caplog.at_level(logging.WARNING):
        assert resolve_compile("auto") is False  # falls back to eager, and says why
    assert "C++ compiler" in caplog.text


@pytest.mark.skipif(compile_support("cpu") is not None, reason="torch.compile cannot build CPU kernels here")
def test_compiled_sampler_streams_what_the_eager_one_streams():
    """Same buffers, same chunks, in float32 (no bf16 rounding): compiled and eager agree to float tolerance,
    including after a second stream joins (a new batch size: the batch dimension becomes dynamic)."""
    torch.manual_seed(0)
    model = StreamDiT(DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2, window=(2, 4, 4))).eval()
    for blk in model.blocks:
        torch.nn.init.normal_(blk.adaLN_modulation[-1].weight, std=0.05)
    torch.nn.init.normal_(model.final.linear.weight, std=0.05)
    sch = PartitionScheme(K=0, N=4, c=2, s=1)
    g = torch.Generator().manual_seed(3)
    text, mask = torch.randn(5, 384, generator=g), torch.ones(5, dtype=torch.bool)
    runs = {}
    for compiled in (False, True):
        smp = StreamingSampler(model, sch, LATENT, autocast_dtype=None, compile=compiled, text_tokens=8)
        assert smp.compiled is compiled
        smp.add_stream(text, mask, seed=1)
        out = []
        for step in range(sch.steps_to_fill + 6):
            if step == sch.steps_to_fill + 2:
                smp.add_stream(text, mask, seed=2)
            out += [ch.latent for ch in smp.step() if ch.stream_id == 0]
        runs[compiled] = torch.stack(out)
    assert runs[True].shape == runs[False].shape and runs[False].shape[0] >= 6
    torch.testing.assert_close(runs[True], runs[False], rtol=1e-3, atol=1e-3)

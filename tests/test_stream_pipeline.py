"""The pipeline that Engine and ServingRuntime take is the StreamPipeline Protocol (issue 19, item 2)."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Mapping, Sequence

import torch

from runtime.serving.engine import Engine
from runtime.serving.server import Pipelines, ServingRuntime
from runtime.serving.stream_pipeline import StreamPipeline
from runtime.testing import tiny_pipeline


def test_the_tiny_pipeline_is_a_stream_pipeline() -> None:
    pipe = tiny_pipeline()
    assert isinstance(pipe, StreamPipeline)
    frames = pipe.decode(torch.zeros(pipe.latent_shape[0], 2, *pipe.latent_shape[1:]))  # a chunk of c = 2
    assert frames.shape == (2 * pipe.temporal_factor, 32, 32, 3) and frames.dtype.name == "uint8"


def test_something_without_decode_is_not_one() -> None:
    pipe = tiny_pipeline()
    members = {k: getattr(pipe, k) for k in ("config", "device", "latent_shape", "fps", "temporal_factor",
                                             "autoencoder", "text_encoder", "backend", "decode_autocast",
                                             "scheme", "sampler")}
    assert not isinstance(types.SimpleNamespace(**members), StreamPipeline)
    assert isinstance(types.SimpleNamespace(**members, decode=pipe.decode), StreamPipeline)


def test_engine_and_runtime_are_typed_with_it() -> None:
    """Engine takes one StreamPipeline; ServingRuntime one, or several by name (runtime.serving.server.Pipelines),
    each of them a StreamPipeline too, never Any."""
    assert inspect.signature(Engine.__init__).parameters["pipeline"].annotation == "StreamPipeline"
    assert inspect.signature(ServingRuntime.__init__).parameters["pipeline"].annotation == "Pipelines"
    assert set(typing.get_args(Pipelines)) == {StreamPipeline, Mapping[str, StreamPipeline],
                                              Sequence[tuple[str, StreamPipeline]]}

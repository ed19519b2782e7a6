"""Checkpoints carry their default prompt map: a session that sends none gets the runtime's, and says which.

The shipped `default` and `teacher` carry the Crafter map and `toy` one of its shapes and directions;
`streamdit serve --prompt-map FILE` overrides the checkpoint's; `local://` runtimes behave the same.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from typer.testing import CliRunner

import sdk
from runtime.checkpoints import ROOT as CHECKPOINTS
from runtime.cli import app
from runtime.serving import local
from runtime.serving.prompt_map import PromptMap
from runtime.serving.prompt_maps import CHECKPOINT_FILE, default_crafter_prompt_map, default_prompt_map
from runtime.serving.server import ServingRuntime
from runtime.serving.config import ServeConfig
from runtime.testing import save_tiny_checkpoint, tiny_pipeline
from runtime.training.toy_data import ToyShapesConfig
from sdk.errors import ConfigError, UnknownEventError
from serving_helpers import PROMPT_MAP, served

pytestmark = pytest.mark.timeout(180)
SHA = hashlib.sha256(PROMPT_MAP.encode()).hexdigest()


@pytest.mark.parametrize("name", ["default", "teacher"])
def test_crafter_checkpoints_carry_the_crafter_map(name: str) -> None:
    pm = default_prompt_map(CHECKPOINTS / name)
    assert pm.source == f"checkpoint:{name}"
    assert pm.text == default_crafter_prompt_map()


def test_the_toy_map_renders_every_caption_the_toy_model_was_trained_on() -> None:
    data = json.loads((CHECKPOINTS / "toy" / "config.json").read_text())["training"]["data"]
    cfg = ToyShapesConfig(**{k: v for k, v in data.items() if k != "kind"})
    pm = PromptMap.parse(default_prompt_map(CHECKPOINTS / "toy").text, fps=8.0, frames_per_chunk=2)
    assert pm.base in cfg.captions()
    rendered = {pm.change_for_event(1, "move", {"color": c, "shape": s, "direction": d}, max_chars=400).text
                for c, s, d in itertools.product(cfg.colors, cfg.shapes, cfg.directions)}
    assert rendered == set(cfg.captions())


def test_default_prompt_map_sources(tmp_path) -> None:
    assert default_prompt_map(tmp_path).source == "" and default_prompt_map(tmp_path).text == ""
    (tmp_path / CHECKPOINT_FILE).write_text(PROMPT_MAP)
    assert default_prompt_map(tmp_path) .source == f"checkpoint:{tmp_path.name}"
    other = tmp_path / "other.toml"
    other.write_text('base = "x"\n')
    assert default_prompt_map(tmp_path, other).source == f"file:{other}"
    assert default_prompt_map(tmp_path, other).text == 'base = "x"\n'
    with pytest.raises(ConfigError, match="cannot read the prompt map"):
        default_prompt_map(tmp_path, tmp_path / "missing.toml")


@pytest.mark.parametrize("transport", ["zmq", "grpc"])
def test_a_session_without_a_map_gets_the_runtimes_map_and_is_told_which(transport: str) -> None:
    with served(prompt_map=PROMPT_MAP, prompt_map_source="file:maps/test.toml") as srv:
        with sdk.Session(srv.url(transport), timeout=30) as s:  # no prompt, no map: both from the runtime's
            assert (s.info.prompt_map, s.info.prompt_map_sha256) == ("file:maps/test.toml", SHA)
            ack = s.push_event("boss", {"color": "red"})
            assert ack.prompt == "a red boss in the field"
            frames = s.frames(timeout=30)
            assert any(f.event_id == ack.event_id for f in itertools.islice(frames, 40))
            model = s.runtime_info().models[0]
            assert (model.prompt_map, model.prompt_map_sha256) == ("file:maps/test.toml", SHA)
        own = 'base = "a lake"\n[events.rain]\nprompt = "rain on the lake"\n'
        with sdk.Session(srv.url(transport), prompt_map=own, timeout=30) as s:  # its own map, alone
            assert s.info.prompt_map == "session"
            assert s.info.prompt_map_sha256 == hashlib.sha256(own.encode()).hexdigest()
            assert s.push_event("rain").prompt == "rain on the lake"
            with pytest.raises(UnknownEventError, match="boss"):
                s.push_event("boss", {"color": "red"})


def test_a_runtime_without_a_map_says_none() -> None:
    with served() as srv:
        with sdk.Session(srv.zmq_url, prompt="a green field", timeout=30) as s:
            assert (s.info.prompt_map, s.info.prompt_map_sha256) == ("", "")
            assert s.runtime_info().models[0].prompt_map == ""


def test_a_bad_default_map_is_refused_before_serving_naming_its_file() -> None:
    with pytest.raises(ConfigError, match=r"file:bad\.toml: .*unknown keys"):
        ServingRuntime(tiny_pipeline(), ServeConfig(prompt_map='[events.x]\nprompt = "y"\nlength = 3\n',
                                                    prompt_map_source="file:bad.toml"))


def test_local_runtime_serves_the_checkpoints_map(tmp_path) -> None:
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    (ckpt / CHECKPOINT_FILE).write_text(PROMPT_MAP)
    try:
        with sdk.Session(f"local://?checkpoint={ckpt}", timeout=60) as s:
            assert (s.info.prompt_map, s.info.prompt_map_sha256) == ("checkpoint:tiny", SHA)
            assert s.info.model == "tiny"
            assert s.push_event("night", timeout=60).prompt == "the field at night"
    finally:
        assert local.shutdown(str(ckpt), grace_s=0.2) == 1  # its runtime (the key carries the backend)


def test_serve_refuses_an_unreadable_prompt_map_file(tmp_path) -> None:
    r = CliRunner().invoke(app, ["serve", "--checkpoint", "toy", "--prompt-map", str(tmp_path / "nope.toml"),
                                 "--grpc-port", "0", "--zmq-port", "0"])
    assert r.exit_code == 2 and "cannot read the prompt map" in r.output and "Traceback" not in r.output

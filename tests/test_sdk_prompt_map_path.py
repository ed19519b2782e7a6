"""Issue 18, defect 9: Session(url, prompt_map="x.toml") reads the file (it used to send the path itself as
TOML text); a path that names no file is a ConfigError before anything is sent."""

from pathlib import Path

import pytest

import sdk
from sdk.errors import ConfigError
from serving_helpers import PROMPT_MAP, served

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def srv():
    with served() as s:
        yield s


@pytest.mark.parametrize("kind", ["str", "relative-str", "Path"])
def test_a_path_string_to_a_toml_file_is_read(srv, tmp_path, monkeypatch, kind):
    f = tmp_path / "x.toml"
    f.write_text(PROMPT_MAP)
    monkeypatch.chdir(tmp_path)
    arg = {"str": str(f), "relative-str": "x.toml", "Path": Path(f)}[kind]
    with sdk.Session(srv.zmq_url, prompt_map=arg) as s:
        assert s.info.prompt_map == "session"
        ack = s.push_event("night")
        assert ack.prompt == "the field at night"


def test_a_missing_toml_path_is_a_clear_error(srv, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        sdk.Session(srv.zmq_url, prompt_map=str(tmp_path / "missing.toml"))


def test_toml_text_is_still_sent_as_it_is(srv):
    with sdk.Session(srv.grpc_url, prompt_map=PROMPT_MAP) as s:
        assert s.push_event("night").prompt == "the field at night"
    one_line = 'base = "a meadow.toml"'  # one line, but TOML: it does not end in .toml
    with sdk.Session(srv.grpc_url, prompt_map=one_line) as s:
        assert s.info.prompt_map == "session"

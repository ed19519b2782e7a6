"""Shipped prompt maps (TOML, docs/protocol.md section 6), and the default prompt map of a checkpoint.

`crafter.toml` (package data next to this module) maps every event type of the Crafter vocabulary
(`runtime.data.events.EVENTS`) to its caption, so a Crafter game steers the default model with the
phrasings it was trained on. A checkpoint directory may hold its own `prompt_map.toml` (the shipped `default`
and `teacher` carry the Crafter map, `toy` one of its shapes and directions): the runtime serving it gives
that map to every session whose handshake sends none (`default_prompt_map`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sdk.errors import ConfigError


def _read(name: str) -> str:
    try:
        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"the shipped prompt map {name!r} is missing from {__package__}; reinstall the "
                          f"package (it ships runtime/serving/prompt_maps/*.toml as package data)") from None


def default_crafter_prompt_map() -> str:
    """The default Crafter prompt map as TOML text (pass it as `sdk.Session(..., prompt_map=...)`).

    Base prompt "the player walks right across the grass"; one `[events.TYPE]` rule per Crafter event type,
    prompt = the event's caption template, durations in seconds of video (states 2 s, moments 1 s).
    """
    return _read("crafter.toml")


CHECKPOINT_FILE = "prompt_map.toml"  # a checkpoint's default prompt map, beside its config.json


@dataclass(frozen=True)
class DefaultPromptMap:
    """The prompt map a runtime gives the sessions whose handshake sends none.

    text: TOML ("" = none: every event is refused with unknown_event); source: "checkpoint:NAME" (the
    checkpoint's prompt_map.toml), "file:PATH" (`streamdit serve --prompt-map PATH`) or "" (none).
    """

    text: str = ""
    source: str = ""

    @property
    def sha256(self) -> str:
        return prompt_map_sha256(self.text)


def prompt_map_sha256(text: str) -> str:
    """Hex SHA-256 of a prompt map's TOML text (UTF-8), as handshake_reply and model_info report it; "" for none."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else ""


def default_prompt_map(checkpoint: str | Path, override: str | Path | None = None) -> DefaultPromptMap:
    """The runtime's default prompt map for the checkpoint directory `checkpoint`.

    `override` (a TOML file, `streamdit serve --prompt-map`) wins; else the checkpoint's prompt_map.toml;
    else none. Raises ConfigError when `override` cannot be read. The text is validated by the runtime,
    which knows the model's frame rate (runtime.serving.server.ServingRuntime).
    """
    if override is not None:
        path = Path(override)
        try:
            return DefaultPromptMap(path.read_text(encoding="utf-8"), f"file:{path}")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the prompt map {path} ({e}): pass --prompt-map a readable TOML "
                              f"file (docs/protocol.md section 6)") from None
    path = Path(checkpoint) / CHECKPOINT_FILE
    if not path.is_file():
        return DefaultPromptMap()
    try:
        return DefaultPromptMap(path.read_text(encoding="utf-8"), f"checkpoint:{Path(checkpoint).name}")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the checkpoint's prompt map {path} ({e}): fix or delete it, or pass "
                          f"--prompt-map FILE") from None

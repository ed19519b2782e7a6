"""Shipped prompt maps (TOML, docs/protocol.md section 6), installed as package data next to this module.

`crafter.toml` maps every event type of the Crafter vocabulary (`runtime.training.data.events.EVENTS`) to
its caption, so a Crafter game steers the default model with the phrasings it was trained on.
"""

from __future__ import annotations

from importlib import resources

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

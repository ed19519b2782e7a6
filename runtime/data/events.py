"""The event vocabulary: what can happen in a Crafter game, and the caption each event becomes.

This table is the contract between three parts of the product:
- the captioner (`runtime/training/data/captioner.py`) emits these event types while recording gameplay for training;
- the default model learns the captions, so its prompts are exactly these phrasings;
- at serve time a game pushes the same event types on the wire, and the prompt map turns them into the
  same captions (base prompt + one rule per event type).

Keep it small and regular: a small text-to-video model has to learn every phrasing. This module imports
neither torch nor crafter.

Each entry has
- `type`: snake_case name used on the wire (`push_event("zombie_appears")`);
- `template`: the caption, with `{key}` placeholders filled from the event payload;
- `defaults`: every payload key the template uses, with the value used when the payload lacks it;
- `priority`: higher wins when one caption must describe a window of frames;
- `kind`: "moment" (emitted once, on the step it happens) or "state" (emitted on every step it holds;
  a live game pushes a state when it starts);
- `group`: the caption clause it fills: "actor" (what the player does), "scene" (who is around) or
  "time" (time of day). A window caption has at most one clause per group, in that order;
- `subject`: the creature an event is about, so "the player fights a zombie" is not followed by the
  redundant "a zombie approaches";
- `held_priority`: for states, the priority when the state holds on at least half of a window. Walking
  one way for half a window scrolls the whole view, which is what the frames show, so it then beats
  single actions such as "the player collects wood".
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

from sdk.errors import ConfigError

Kind = Literal["moment", "state"]
Group = Literal["actor", "scene", "time"]

#: Caption clause order within a window caption.
GROUPS: tuple[Group, ...] = ("actor", "scene", "time")

#: Crafter's walkable materials as they are named in captions (`{terrain}` payload values).
TERRAIN_WORDS: Mapping[str, str] = MappingProxyType({
    "grass": "grass",
    "sand": "sand",
    "path": "cave floor",
})

#: Crafter's tool items as they are named in captions (`{tool}` payload values of `make_tool`).
TOOL_WORDS: Mapping[str, str] = MappingProxyType({
    "wood_pickaxe": "wood pickaxe",
    "stone_pickaxe": "stone pickaxe",
    "iron_pickaxe": "iron pickaxe",
    "wood_sword": "wood sword",
    "stone_sword": "stone sword",
    "iron_sword": "iron sword",
})


@dataclass(frozen=True)
class EventSpec:
    """One event type of the vocabulary; see the module docstring for the meaning of each field."""

    type: str
    template: str
    priority: int
    kind: Kind
    group: Group
    defaults: Mapping[str, str] = field(default_factory=dict)
    subject: str | None = None
    held_priority: int | None = None
    doc: str = ""


_T = "grass"  # default terrain
_SPECS: tuple[EventSpec, ...] = (
    # --- actor: movement. "walks left" means the player steps to -x; the view scrolls right. -----------
    EventSpec("player_moves_left", "the player walks left across the {terrain}", 20, "state", "actor",
              {"terrain": _T}, held_priority=60, doc="player_pos x - 1; the view scrolls right"),
    EventSpec("player_moves_right", "the player walks right across the {terrain}", 20, "state", "actor",
              {"terrain": _T}, held_priority=60, doc="player_pos x + 1; the view scrolls left"),
    EventSpec("player_moves_up", "the player walks up across the {terrain}", 20, "state", "actor",
              {"terrain": _T}, held_priority=60, doc="player_pos y - 1 (y points down); view scrolls down"),
    EventSpec("player_moves_down", "the player walks down across the {terrain}", 20, "state", "actor",
              {"terrain": _T}, held_priority=60, doc="player_pos y + 1; the view scrolls up"),
    EventSpec("player_idle", "the player stands on the {terrain}", 10, "state", "actor",
              {"terrain": _T}, doc="the player did not move this step (and is not asleep)"),
    EventSpec("player_sleeps", "the player sleeps", 60, "state", "actor",
              doc="the player is asleep; the view is grey"),
    EventSpec("player_wakes", "the player wakes up", 55, "moment", "actor"),
    # --- actor: gathering ---------------------------------------------------------------------------------
    EventSpec("collect_wood", "the player collects wood", 50, "moment", "actor", doc="a tree is chopped"),
    EventSpec("collect_stone", "the player mines stone", 50, "moment", "actor"),
    EventSpec("collect_coal", "the player mines coal", 50, "moment", "actor"),
    EventSpec("collect_iron", "the player mines iron", 50, "moment", "actor"),
    EventSpec("collect_diamond", "the player finds a diamond", 50, "moment", "actor"),
    EventSpec("collect_sapling", "the player picks a sapling", 45, "moment", "actor"),
    EventSpec("drink_water", "the player drinks water", 45, "moment", "actor"),
    EventSpec("eat_cow", "the player eats a cow", 55, "moment", "actor", subject="cow"),
    EventSpec("eat_plant", "the player eats a plant", 50, "moment", "actor"),
    # --- actor: building and crafting ---------------------------------------------------------------------
    EventSpec("place_table", "the player places a table", 50, "moment", "actor"),
    EventSpec("place_stone", "the player places a stone", 50, "moment", "actor"),
    EventSpec("place_furnace", "the player places a furnace", 50, "moment", "actor"),
    EventSpec("place_plant", "the player plants a sapling", 50, "moment", "actor"),
    EventSpec("make_tool", "the player crafts a {tool}", 50, "moment", "actor",
              {"tool": "wood pickaxe"}, doc="any make_* action; tool is a TOOL_WORDS value"),
    # --- actor: danger -------------------------------------------------------------------------------------
    EventSpec("fight_zombie", "the player fights a zombie", 70, "state", "actor", subject="zombie",
              doc="a zombie stands next to the player"),
    EventSpec("defeat_zombie", "the player defeats a zombie", 75, "moment", "actor", subject="zombie"),
    EventSpec("defeat_skeleton", "the player defeats a skeleton", 75, "moment", "actor",
              subject="skeleton"),
    EventSpec("player_hurt", "the player is hurt", 40, "moment", "actor",
              doc="health went down; barely visible (the health counter), so it ranks below actions"),
    EventSpec("player_dies", "the player dies", 90, "moment", "actor", doc="health reached zero"),
    EventSpec("achievement", "the player unlocks the {name} achievement", 5, "moment", "actor",
              {"name": "collect wood"},
              doc="first unlock of a Crafter achievement; too low a priority to win a window caption, "
                  "it exists for live games"),
    # --- scene: creatures in view ----------------------------------------------------------------------
    EventSpec("cow_nearby", "a cow grazes nearby", 20, "state", "scene", subject="cow"),
    EventSpec("zombie_appears", "a zombie approaches", 40, "state", "scene", subject="zombie",
              doc="a zombie is in view"),
    EventSpec("skeleton_nearby", "a skeleton lurks nearby", 35, "state", "scene", subject="skeleton"),
    # --- time of day -------------------------------------------------------------------------------------
    EventSpec("night_falls", "night falls", 50, "moment", "time", doc="daylight fell below the night mark"),
    EventSpec("day_breaks", "day breaks", 50, "moment", "time", doc="daylight rose above the day mark"),
    EventSpec("night", "it is night", 10, "state", "time", doc="the view is dark"),
)

#: The vocabulary, keyed by event type; read-only.
EVENTS: Mapping[str, EventSpec] = MappingProxyType({spec.type: spec for spec in _SPECS})


def _check_table() -> None:
    """Fail at import when an entry is malformed, so a bad edit cannot ship."""
    assert len(EVENTS) == len(_SPECS), "duplicate event type in the vocabulary"
    for spec in _SPECS:
        keys = {name for _, name, _, _ in string.Formatter().parse(spec.template) if name}
        assert keys == set(spec.defaults), f"{spec.type}: template keys {keys} != defaults"
        assert spec.group in GROUPS and spec.kind in ("moment", "state"), spec.type
        assert spec.held_priority is None or spec.kind == "state", spec.type
        assert spec.type.replace("_", "").isalnum() and spec.type.islower(), spec.type


_check_table()


def spec_for(event_type: str) -> EventSpec:
    """The vocabulary entry of `event_type`.

    Raises:
        ConfigError: the type is not in the vocabulary; the message lists the known types.
    """
    try:
        return EVENTS[event_type]
    except KeyError:
        known = ", ".join(sorted(EVENTS))
        raise ConfigError(
            f"unknown event type {event_type!r}; known event types are: {known}"
        ) from None


def caption_for(event_type: str, payload: Mapping[str, Any] | None = None) -> str:
    """Fill the caption template of `event_type` with `payload`.

    Payload keys the template does not use are ignored; missing ones take the entry's defaults. Values are
    converted with `str()`.

    Raises:
        ConfigError: the event type is unknown (the message lists the known types).
    """
    spec = spec_for(event_type)
    values = dict(spec.defaults)
    for key in spec.defaults:
        if payload is not None and key in payload and payload[key] is not None:
            values[key] = str(payload[key])
    return spec.template.format(**values)


def event_types() -> tuple[str, ...]:
    """All event types, in table order (movement first)."""
    return tuple(spec.type for spec in _SPECS)

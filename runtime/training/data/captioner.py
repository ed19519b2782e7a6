"""Turn Crafter's per-step info dicts into events, and windows of events into one caption.

`Captioner.update` runs after every `env.step`, live (the demo pushes each event through the SDK) or
offline over recorded info dicts. `caption_window` picks the caption of a window of frames. Both use
only the vocabulary of `events.py`.

Crafter conventions (crafter 1.8): positions are (x, y) cells of a 64x64 world, x grows to the right and
y grows downwards, so "up" is y - 1. The rendered view shows 9 x 7 cells centred on the player (the two
bottom rows of the image are the inventory). `info["semantic"]` is the whole world as int ids
(materials, then creatures drawn over them), not just the view.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from runtime.data.events import EVENTS, GROUPS, TERRAIN_WORDS, TOOL_WORDS, caption_for

#: Semantic ids of crafter 1.8 (`env._world._mat_ids` then `env._sem_view._obj_ids`), used when no env
#: is given. A test checks this against a live env.
CRAFTER_SEMANTIC_NAMES: tuple[str | None, ...] = (
    None, "water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron", "diamond", "table",
    "furnace", "player", "cow", "zombie", "skeleton", "arrow", "plant",
)

VIEW_HALF = (4, 3)  # the view spans x - 4 .. x + 4 and y - 3 .. y + 3 around the player
NIGHT_BELOW = 0.35  # daylight under this starts the night ...
DAY_ABOVE = 0.5  # ... and only daylight over this ends it (hysteresis)
MOVES = {  # player position change (dx, dy) in tiles -> its event type
    (-1, 0): "player_moves_left", (1, 0): "player_moves_right", (0, -1): "player_moves_up", (0, 1): "player_moves_down"}
_COLLECT_ITEMS = ("wood", "stone", "coal", "iron", "diamond", "sapling")
_COUNTED = {  # achievement counters whose increments are events of their own
    "place_table": "place_table", "place_stone": "place_stone", "place_furnace": "place_furnace",
    "place_plant": "place_plant", "eat_cow": "eat_cow", "eat_plant": "eat_plant",
    "defeat_zombie": "defeat_zombie", "defeat_skeleton": "defeat_skeleton", "wake_up": "player_wakes",
}


@dataclass(frozen=True)
class Event:
    """One thing that happened at one env step.

    Attributes:
        type: an event type of the vocabulary (`events.EVENTS`).
        payload: values for the caption template, e.g. {"terrain": "grass"}; JSON-serialisable strings.
        step: the env step (1 = the first `env.step` after reset) at which it happened.
    """

    type: str
    payload: Mapping[str, str] = field(default_factory=dict)
    step: int = 0

    @property
    def caption(self) -> str:
        """The caption of this single event, e.g. "the player walks left across the grass"."""
        return caption_for(self.type, self.payload)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for JSON shards: {"type", "payload", "step"}."""
        return {"type": self.type, "payload": dict(self.payload), "step": self.step}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Event":
        """Inverse of `to_json`."""
        return cls(str(data["type"]), dict(data.get("payload", {})), int(data.get("step", 0)))


def crafter_daylight(step: int) -> float:
    """Crafter 1.8's daylight in [0, 1] at env step `step` (1 = noon-ish bright, 0 = darkest night).

    The day lasts 300 steps; night is roughly steps 160..260 of each day.
    """
    progress = (step / 300) % 1 + 0.3
    return float(1 - abs(math.cos(math.pi * progress)) ** 3)


def looks_asleep(obs: np.ndarray) -> bool:
    """Whether a Crafter frame shows the sleeping view (grey, R == G everywhere in the local view).

    Args:
        obs: uint8 [H, W, 3] frame as returned by `env.step`.
    """
    view = obs[: obs.shape[0] * 7 // 9 - 1].astype(np.int16)  # local view, above the inventory rows
    grey = np.abs(view[..., 0] - view[..., 1]).mean() < 0.5  # the sleep filter desaturates, then tints blue
    return bool(grey and view[..., 2].mean() > view[..., 0].mean())


class Captioner:
    """Derives events from successive Crafter info dicts; one instance per episode.

    Call `update` once after every `env.step`, in order. Events come from: movement (player_pos deltas),
    terrain (most common walkable material around the player), creatures in the 9 x 7 view, inventory
    increments (collect_*, drink_water), achievement counters (place_*, make_tool, eat_*, defeat_*,
    player_wakes, achievement), daylight with hysteresis (night_falls, day_breaks, night), health drops
    (player_hurt, player_dies) and sleep.

    Live, pass `env` (a `crafter.Env`) so daylight and sleep are read from the game. Offline, daylight is
    taken from `info["daylight"]` when present, else computed from the step count (so start the
    captioner right after reset); sleep from `info["sleeping"]` when present, else from the frame.
    """

    def __init__(self, semantic_names: Sequence[str | None] = CRAFTER_SEMANTIC_NAMES) -> None:
        self._names = tuple(semantic_names)
        self._ids = {name: i for i, name in enumerate(self._names)}
        self._prev: Mapping[str, Any] | None = None
        self._step = 0
        self._night = False

    @classmethod
    def for_env(cls, env: Any) -> "Captioner":
        """A captioner for a live `crafter.Env`: semantic ids from the env, and, when created right after
        `env.reset()`, the player's starting state, so the first step's events are complete too."""
        names: list[str | None] = [None] * (len(env._world._mat_ids) + len(env._sem_view._obj_ids))
        for name, i in env._world._mat_ids.items():
            names[i] = name
        for klass, i in env._sem_view._obj_ids.items():
            names[i] = klass.__name__.lower()
        captioner = cls(names)
        player = env._player
        captioner.prime({"inventory": player.inventory, "achievements": player.achievements,
                         "player_pos": player.pos}, step=int(env._step or 0))
        return captioner

    def prime(self, info: Mapping[str, Any], step: int = 0) -> None:
        """Set the state before the next `update` (inventory, achievements, player_pos of the previous
        step). Without it, the first `update` only sets this baseline: it reports no movement or deltas."""
        self._prev = {"inventory": dict(info["inventory"]), "achievements": dict(info["achievements"]),
                      "player_pos": np.array(info["player_pos"], dtype=np.int64)}
        self._step = step

    def reset(self) -> None:
        """Forget the episode; to reuse the instance after `env.reset()`, call this, then `prime`."""
        self._prev, self._step, self._night = None, 0, False

    def update(self, info: Mapping[str, Any], obs: np.ndarray | None = None, env: Any = None) -> list[Event]:
        """Events of one env step.

        Args:
            info: Crafter's info dict of this step (inventory, achievements, semantic [64, 64] int ids,
                player_pos (x, y) cells); optional extra keys "daylight" (float) and "sleeping" (bool).
            obs: the uint8 [H, W, 3] frame of this step, used only to detect sleep offline.
            env: the live `crafter.Env`, if any.

        Returns:
            The events of this step, actor events first; always exactly one of player_moves_*,
            player_idle or player_sleeps.
        """
        self._step += 1
        step = self._step
        prev = self._prev if self._prev is not None else info
        events: list[Event] = []

        def emit(event_type: str, **payload: str) -> None:
            events.append(Event(event_type, payload, step))

        inv, prev_inv = info["inventory"], prev["inventory"]
        pos = np.asarray(info["player_pos"], dtype=np.int64)
        semantic = np.asarray(info["semantic"])
        terrain = TERRAIN_WORDS.get(self._terrain(semantic, pos), "grass")

        # Health first: the most important actor events.
        if inv["health"] < prev_inv["health"]:
            emit("player_dies" if inv["health"] <= 0 else "player_hurt")

        sleeping = self._sleeping(info, obs, env)
        delta = tuple(int(v) for v in pos - np.asarray(prev["player_pos"], dtype=np.int64))
        if sleeping:
            emit("player_sleeps")
        elif delta in MOVES:
            emit(MOVES[delta], terrain=terrain)
        else:
            emit("player_idle", terrain=terrain)

        for item in _COLLECT_ITEMS:
            if inv[item] > prev_inv[item]:
                emit(f"collect_{item}")
        if inv["drink"] > prev_inv["drink"]:
            emit("drink_water")
        ach, prev_ach = info["achievements"], prev["achievements"]
        for name, event_type in _COUNTED.items():
            if ach.get(name, 0) > prev_ach.get(name, 0):
                emit(event_type)
        for tool, word in TOOL_WORDS.items():
            if ach.get(f"make_{tool}", 0) > prev_ach.get(f"make_{tool}", 0):
                emit("make_tool", tool=word)

        creatures = self._creatures_in_view(semantic, pos)
        if creatures["zombie_adjacent"]:
            emit("fight_zombie")
        for name in sorted(ach):
            if ach[name] > 0 and prev_ach.get(name, 0) == 0:
                emit("achievement", name=name.replace("_", " "))

        for creature, event_type in (("zombie", "zombie_appears"), ("skeleton", "skeleton_nearby"),
                                     ("cow", "cow_nearby")):
            if creatures[creature]:
                emit(event_type)

        daylight = self._daylight(info, env)
        if not self._night and daylight < NIGHT_BELOW:
            self._night = True
            emit("night_falls")
        elif self._night and daylight > DAY_ABOVE:
            self._night = False
            emit("day_breaks")
        if self._night:
            emit("night")

        self._prev = {"inventory": dict(inv), "achievements": dict(ach), "player_pos": pos.copy()}
        return events

    # --- helpers ---------------------------------------------------------------------------------------
    def _terrain(self, semantic: np.ndarray, pos: np.ndarray) -> str:
        """Most common walkable material among the 8 cells around the player (ties: grass, sand, path)."""
        x, y = int(pos[0]), int(pos[1])
        patch = semantic[max(x - 1, 0): x + 2, max(y - 1, 0): y + 2].ravel()
        counts = Counter(self._names[i] if 0 <= i < len(self._names) else None for i in patch.tolist())
        best = max(TERRAIN_WORDS, key=lambda name: counts.get(name, 0))
        return best if counts.get(best, 0) > 0 else "grass"

    def _creatures_in_view(self, semantic: np.ndarray, pos: np.ndarray) -> dict[str, bool]:
        x, y = int(pos[0]), int(pos[1])
        hx, hy = VIEW_HALF
        view = semantic[max(x - hx, 0): x + hx + 1, max(y - hy, 0): y + hy + 1]
        found = {name: bool((view == self._ids[name]).any()) if name in self._ids else False
                 for name in ("cow", "zombie", "skeleton")}
        zombie = self._ids.get("zombie")
        found["zombie_adjacent"] = zombie is not None and any(
            0 <= x + dx < semantic.shape[0] and 0 <= y + dy < semantic.shape[1]
            and semantic[x + dx, y + dy] == zombie
            for dx, dy in MOVES)
        return found

    def _daylight(self, info: Mapping[str, Any], env: Any) -> float:
        if env is not None:
            return float(env._world.daylight)
        if "daylight" in info:
            return float(info["daylight"])
        return crafter_daylight(self._step)

    def _sleeping(self, info: Mapping[str, Any], obs: np.ndarray | None, env: Any) -> bool:
        if env is not None:
            return bool(env._player.sleeping)
        if "sleeping" in info:
            return bool(info["sleeping"])
        return obs is not None and looks_asleep(obs)


def new_events(previous: Iterable[Event], current: Iterable[Event]) -> list[Event]:
    """The events of `current` a live game should push: every moment, and states that were not held
    (same type and payload) at the previous step."""
    held = {(e.type, tuple(sorted(e.payload.items()))) for e in previous}
    return [e for e in current
            if EVENTS[e.type].kind == "moment" or (e.type, tuple(sorted(e.payload.items()))) not in held]


def dominant_events(events_per_step: Sequence[Sequence[Event]], min_state_share: float = 0.5) -> list[Event]:
    """The events that describe a window of frames, at most one per group (actor, scene, time), in order.

    In each group, the candidates are the moments that happen in the window and the states held on at
    least `min_state_share` of its steps; the one with the highest (priority, number of steps) wins, where
    a held state counts with its `held_priority` when it has one (a long walk beats a single action). If no
    actor qualifies, the most frequent actor state does (e.g. a window of mixed moves). A scene event about
    the same creature as the actor event is dropped. The payload is the most common one of the winner.

    Args:
        events_per_step: one list of events per frame of the window (as `Captioner.update` returns them).
    """
    n_steps = max(len(events_per_step), 1)
    counts: Counter[str] = Counter()
    payloads: dict[str, Counter[tuple]] = {}
    for step_events in events_per_step:
        for event_type in {e.type for e in step_events}:
            counts[event_type] += 1
        for e in step_events:
            payloads.setdefault(e.type, Counter())[tuple(sorted(e.payload.items()))] += 1
    need = math.ceil(min_state_share * n_steps)
    chosen: list[Event] = []
    subject: str | None = None
    for group in GROUPS:
        in_group = [t for t in counts if EVENTS[t].group == group]
        eligible = [t for t in in_group if EVENTS[t].kind == "moment" or counts[t] >= need]
        eligible = [t for t in eligible if subject is None or EVENTS[t].subject != subject]
        if not eligible and group == "actor":
            eligible = [max((t for t in in_group if EVENTS[t].kind == "state"),
                            key=lambda t: (counts[t], EVENTS[t].priority), default=None)]
            eligible = [t for t in eligible if t is not None]
        if not eligible:
            continue
        def rank(t: str) -> tuple[int, int, str]:
            spec = EVENTS[t]
            held = spec.held_priority is not None and counts[t] >= need
            return (spec.held_priority if held else spec.priority), counts[t], t  # type: ignore[return-value]

        best = max(eligible, key=rank)
        payload = dict(payloads[best].most_common(1)[0][0])
        chosen.append(Event(best, payload, 0))
        if group == "actor":
            subject = EVENTS[best].subject
    return chosen


def caption_window(events_per_step: Sequence[Sequence[Event]]) -> str:
    """One caption for a window of frames, e.g. "the player walks left across the grass, a zombie
    approaches, it is night": the captions of `dominant_events`, joined by ", ".

    Returns "" only for a window without any event.
    """
    return ", ".join(e.caption for e in dominant_events(events_per_step))

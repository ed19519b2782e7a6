"""Prompt maps: from game events to the prompt in effect for each chunk (docs/protocol.md section 6).

A prompt map is TOML: a `base` prompt and one `[events.TYPE]` rule per event type, with a `prompt` template
filled from the event's payload, a duration (`duration_chunks` or `duration_seconds`), a `priority` and
`transition_steps`. `PromptMap.parse` validates it; `PromptMap.change_for_event` turns an event into a
`Change` (checked on the input thread); `PromptSchedule` lives on the engine thread and answers "which prompt,
decided by which event, for chunk k?".

A prompt is a `PromptSpec`: a tuple of (text, weight) pairs whose embeddings are mixed (SetPrompt with
weight < 1 mixes the new text into the current base prompt).

A map may declare clause `groups` (e.g. ["actor", "scene", "time"]), and each of its rules then names its
`group`. The prompt in effect is then composed: in each group the active overlay of the highest priority
gives a clause, the base prompt stands in for the first group's, and the clauses are joined in group order
by `separator` (default ", "). That is how a captioner that writes one clause per group captions its
training windows ("the player walks left across the grass, a zombie approaches, night falls"), so a scene
or time event adds its clause to what the player does instead of replacing the whole prompt with a clause
the model never saw alone.

A rule may also set `guidance` (g > 0): for `guidance_seconds` (or `guidance_chunks`; default 1 s) from the
chunk where its event takes effect, the stream is guided away from the prompt in effect before the event
(runtime.sampling.streaming.StreamingSampler.set_negative_prompt: v + g (v - v_before)). The moving buffer
carries the old prompt's look into every new chunk (its clean frames condition the noisy ones), so a change
of the whole picture, as night falling, shows slowly; the guidance pushes the new chunks along what the event
changed. It costs one more batch row per guided stream for that while.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sdk.errors import InvalidArgumentError, PromptTooLongError, UnknownEventError
from sdk.protocol.limits import (INT32_MAX, INT32_MIN, MAX_DURATION_CHUNKS, MAX_DURATION_SECONDS, MAX_GUIDANCE,
                                 MAX_RULES, MAX_TRANSITION_STEPS, shown)

PromptSpec = tuple[tuple[str, float], ...]
MAX_MIX = 4  # a base prompt mixes at most this many texts; the lightest are folded away
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_KEYS = {"prompt", "duration_chunks", "duration_seconds", "priority", "transition_steps", "group", "guidance",
              "guidance_chunks", "guidance_seconds"}
DEFAULT_GUIDANCE_SECONDS = 1.0
_TOP_KEYS = {"base", "events", "groups", "separator"}
MAX_GROUPS = 8


def describe(spec: PromptSpec) -> str:
    """A prompt spec as text: the text itself, or `0.50*'a' + 0.50*'b'` for a mix."""
    if len(spec) == 1 and spec[0][1] == 1.0:
        return spec[0][0]
    return " + ".join(f"{w:.2f}*{t!r}" for t, w in spec)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _chunks(where: str, body: dict[str, Any], key: str, fps: float, fpc: int) -> int | None:
    """A rule's length in chunks from its `<key>_chunks` or `<key>_seconds` (rounded up to whole chunks; not
    both); None when it has neither. Raises InvalidArgumentError naming the key and the allowed range."""
    if f"{key}_chunks" in body and f"{key}_seconds" in body:
        raise InvalidArgumentError(f"{where}: give {key}_chunks or {key}_seconds, not both")
    if f"{key}_chunks" in body:
        n = body[f"{key}_chunks"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_DURATION_CHUNKS:
            raise InvalidArgumentError(f"{where}: {key}_chunks must be an integer >= 1 and <= "
                                       f"{MAX_DURATION_CHUNKS}, got {shown(n)}")
        return n
    if f"{key}_seconds" in body:
        sec = body[f"{key}_seconds"]
        if (not isinstance(sec, (int, float)) or isinstance(sec, bool) or not math.isfinite(sec)
                or not 0 < sec <= MAX_DURATION_SECONDS):
            raise InvalidArgumentError(f"{where}: {key}_seconds must be a finite number > 0 and <= "
                                       f"{MAX_DURATION_SECONDS:g}, got {shown(sec)}")
        return min(MAX_DURATION_CHUNKS, max(1, math.ceil(sec * fps / fpc - 1e-9)))
    return None


def _guidance(where: str, body: dict[str, Any], fps: float, fpc: int) -> tuple[float, int]:
    """A rule's (guidance, guidance_chunks) from its `guidance` and `guidance_chunks` / `guidance_seconds` keys
    (module docstring; default DEFAULT_GUIDANCE_SECONDS). Raises InvalidArgumentError naming the key and the
    allowed range."""
    g = body.get("guidance", 0.0)
    if not isinstance(g, (int, float)) or isinstance(g, bool) or not math.isfinite(g) or not 0 <= g <= MAX_GUIDANCE:
        raise InvalidArgumentError(f"{where}: guidance must be a number >= 0 and <= {MAX_GUIDANCE:g} (the scale "
                                   f"against the prompt before the event; 1.0 is a good start), got {shown(g)}")
    if "guidance_chunks" in body and "guidance_seconds" in body:
        raise InvalidArgumentError(f"{where}: give guidance_chunks or guidance_seconds, not both")
    if ("guidance_chunks" in body or "guidance_seconds" in body) and not g:
        raise InvalidArgumentError(f"{where}: guidance_chunks or guidance_seconds needs guidance > 0 (the scale)")
    n = _chunks(where, body, "guidance", fps, fpc)
    if n is None:
        n = _chunks(where, {"guidance_seconds": DEFAULT_GUIDANCE_SECONDS}, "guidance", fps, fpc)
    return (float(g), int(n)) if g else (0.0, 0)


@dataclass(frozen=True)
class EventRule:
    """One `[events.TYPE]` table. duration_chunks None = until replaced; group None = the map has no groups."""

    event_type: str
    template: str
    fields: tuple[str, ...]
    duration_chunks: int | None
    priority: int
    transition_steps: int
    group: str | None = None
    guidance: float = 0.0  # scale against the prompt before the event (module docstring); 0 = none
    guidance_chunks: int = 0  # for this many chunks from the one where the event takes effect

    def render(self, payload: dict[str, Any]) -> str:
        """Fill the template; a missing payload value is an InvalidArgumentError naming it."""
        missing = [f for f in self.fields if f not in payload]
        if missing:
            raise InvalidArgumentError(f"event {shown(self.event_type)} needs payload values {shown(missing, 200)} "
                                       f"for its prompt template {shown(self.template)}; got keys "
                                       f"{shown(sorted(payload), 200)}")
        return self.template.format_map({k: _fmt(payload[k]) for k in self.fields})


@dataclass(frozen=True)
class Change:
    """A prompt change waiting for the next chunk boundary (made on the input thread, applied on the engine's).

    kind "event": an overlay from `rule`; kind "prompt": a new base prompt mixed in with `weight`.
    """

    kind: str
    event_id: int
    text: str
    rule: EventRule | None = None
    weight: float = 1.0
    transition_steps: int = 0
    client_time_us: int = 0


@dataclass
class PromptMap:
    """A parsed prompt map. `rules` maps an event type to its rule; `groups` is the clause order (() = none:
    the winning overlay's prompt is the whole prompt), `separator` joins the clauses."""

    base: str = ""
    rules: dict[str, EventRule] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    separator: str = ", "

    def schedule(self, base: str | None = None, base_event_id: int = 0) -> "PromptSchedule":
        """A PromptSchedule for a session of this map (base: the session's base prompt, default the map's)."""
        return PromptSchedule(self.base if base is None else base, base_event_id, groups=self.groups,
                              separator=self.separator)

    @classmethod
    def parse(cls, text: str, *, fps: float, frames_per_chunk: int) -> "PromptMap":
        """TOML text -> PromptMap. durations in seconds become whole chunks (rounded up) at `fps` frames/s.

        Raises InvalidArgumentError naming the table and key at fault.
        """
        if not text.strip():
            return cls()
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise InvalidArgumentError(f"prompt map is not valid TOML: {e}") from None
        unknown = sorted(set(raw) - _TOP_KEYS)
        if unknown:
            raise InvalidArgumentError(f"prompt map: unknown top-level keys {shown(unknown)}; allowed: 'base', "
                                       f"'groups', 'separator', [events.TYPE]")
        base = raw.get("base", "")
        if not isinstance(base, str):
            raise InvalidArgumentError(f"prompt map: base must be a string, got {type(base).__name__}")
        events = raw.get("events", {})
        if not isinstance(events, dict) or len(events) > MAX_RULES:
            raise InvalidArgumentError(f"prompt map: [events] must hold at most {MAX_RULES} [events.TYPE] tables")
        groups = raw.get("groups", [])
        if (not isinstance(groups, list) or len(groups) > MAX_GROUPS or len(set(map(str, groups))) != len(groups)
                or not all(isinstance(g, str) and _NAME.match(g) for g in groups)):
            raise InvalidArgumentError(f"prompt map: groups must be a list of at most {MAX_GROUPS} distinct names "
                                       f"like \"actor\", in clause order, got {shown(groups)}")
        separator = raw.get("separator", ", ")
        if not isinstance(separator, str) or len(separator) > 8:
            raise InvalidArgumentError(f"prompt map: separator must be a string of at most 8 characters, got "
                                       f"{shown(separator)}")
        rules = {name: cls._rule(name, body, fps, frames_per_chunk) for name, body in events.items()}  # limits: sdk.protocol.limits
        for name, rule in rules.items():
            where = f"prompt map [events.{shown(name, quote=False)}]"
            if groups and rule.group not in groups:
                raise InvalidArgumentError(f"{where}: the map declares groups {shown(groups)}, so every rule names "
                                           f"one: add group = \"{groups[0]}\" (or another of them)"
                                           if rule.group is None else
                                           f"{where}: group {shown(rule.group)} is not one of the map's groups "
                                           f"{shown(groups)}; add it to groups or pick one of them")
            if not groups and rule.group is not None:
                raise InvalidArgumentError(f"{where}: group {shown(rule.group)} needs a top-level groups list "
                                           f"(e.g. groups = [\"{rule.group}\"]) giving the clause order")
        return cls(base=base, rules=rules, groups=tuple(groups), separator=separator)

    @staticmethod
    def _rule(name: str, body: Any, fps: float, fpc: int) -> EventRule:
        where = f"prompt map [events.{shown(name, quote=False)}]"
        if not isinstance(body, dict):
            raise InvalidArgumentError(f"{where} must be a table")
        unknown = sorted(set(body) - _RULE_KEYS)
        if unknown:
            raise InvalidArgumentError(f"{where}: unknown keys {shown(unknown)}; allowed: {sorted(_RULE_KEYS)}")
        template = body.get("prompt")
        if not isinstance(template, str) or not template.strip():
            raise InvalidArgumentError(f"{where}: prompt must be a non-empty string template")
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as e:
            raise InvalidArgumentError(f"{where}: bad template {shown(template)} ({e}); write literal braces as "
                                       f"{{{{ }}}}")
        names = []
        for _, fname, spec, conv in parsed:
            if fname is None:
                continue
            if not _NAME.match(fname) or spec or conv:
                raise InvalidArgumentError(f"{where}: template field {{{shown(fname, quote=False)}}} must be a plain name like "
                                           f"{{zone}} (no attributes, indexes, conversions or format specs)")
            names.append(fname)
        duration = _chunks(where, body, "duration", fps, fpc)
        priority = body.get("priority", 0)
        steps = body.get("transition_steps", 0)
        for key, v, lo, hi in (("priority", priority, INT32_MIN, INT32_MAX),
                               ("transition_steps", steps, 0, MAX_TRANSITION_STEPS)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise InvalidArgumentError(f"{where}: {key} must be an integer >= {lo} and <= {hi}, got {shown(v)}")
        group = body.get("group")
        if group is not None and not (isinstance(group, str) and _NAME.match(group)):
            raise InvalidArgumentError(f"{where}: group must be a name like \"scene\", got {shown(group)}")
        guidance, guidance_chunks = _guidance(where, body, fps, fpc)
        return EventRule(name, template, tuple(dict.fromkeys(names)), duration, priority, steps, group, guidance,
                         guidance_chunks)

    def change_for_event(self, event_id: int, event_type: str, payload: dict[str, Any], *, max_chars: int,
                         client_time_us: int = 0) -> Change:
        """Validate an event against the map -> its Change. Raises UnknownEventError, InvalidArgumentError,
        PromptTooLongError."""
        rule = self.rules.get(event_type)
        if rule is None:
            known = shown(sorted(self.rules), 200) if self.rules else "none: the session has no prompt map"
            raise UnknownEventError(f"no prompt map rule for event type {shown(event_type)}; add an "
                                    f"[events.{shown(event_type, quote=False)}] table to the session's prompt map "
                                    f"(rules: {known})")
        text = rule.render(payload)
        check_prompt(text, max_chars, f"the prompt of event {event_type!r}")
        return Change("event", event_id, text, rule=rule, transition_steps=rule.transition_steps,
                      client_time_us=client_time_us)


def check_prompt(text: str, max_chars: int, what: str = "the prompt") -> str:
    if not text.strip():
        raise InvalidArgumentError(f"{what} is empty; give a non-empty prompt")
    if len(text) > max_chars:
        raise PromptTooLongError(f"{what} has {len(text)} characters; the runtime accepts at most {max_chars} "
                                 f"(shorten it, or start the runtime with a larger limit)")
    return text


@dataclass
class _Overlay:
    event_id: int
    text: str
    start: int  # first chunk
    end: int | None  # first chunk after it; None = until replaced
    priority: int
    seq: int
    transition_steps: int
    group: str | None = None
    guidance: float = 0.0
    guidance_chunks: int = 0


@dataclass(frozen=True)
class Decision:
    """The prompt in effect for a chunk: its spec, the id of the event that decided it (0 = none; with groups,
    the newest of the events whose clauses it holds), and the chunks over which to blend into it when it
    differs from the previous chunk's. event_ids: every event whose prompt or clause is in effect. guidance,
    guidance_chunks: the rule's, at the chunk where its event takes effect (the newest such event's)."""

    spec: PromptSpec
    event_id: int
    transition_steps: int
    event_ids: tuple[int, ...] = ()
    guidance: float = 0.0  # > 0 only at the chunk where an event with guidance takes effect (module docstring)
    guidance_chunks: int = 0

    def in_effect(self, event_id: int) -> bool:
        """Whether the event `event_id` decides the prompt, or a clause of it."""
        return event_id == self.event_id or event_id in self.event_ids


class PromptSchedule:
    """Per-session overlays and base prompt; `at(chunk)` is evaluated once per chunk, in chunk order.

    groups: the map's clause order (PromptMap.groups; () = the winning overlay is the whole prompt).
    """

    def __init__(self, base: str, base_event_id: int = 0, *, groups: tuple[str, ...] = (),
                 separator: str = ", ") -> None:
        self.groups, self.separator = tuple(groups), separator
        self.base: PromptSpec = ((base, 1.0),)
        self.base_event_id = base_event_id
        self.base_transition = 0
        self.overlays: dict[str, _Overlay] = {}
        self._seq = 0
        self._last: Decision | None = None
        self._last_overlay = False  # did an overlay decide the last chunk?
        self._base_dirty = False  # did set_prompt change the base since the last chunk?

    def apply(self, change: Change, chunk: int) -> None:
        """Apply a change from `chunk` on (the engine calls this at chunk boundaries only)."""
        self._seq += 1
        if change.kind == "prompt":
            w = min(1.0, max(0.0, change.weight))
            mixed = [(t, x * (1 - w)) for t, x in self.base if t != change.text] + [(change.text, w)]
            mixed = sorted((p for p in mixed if p[1] > 1e-3), key=lambda p: -p[1])[:MAX_MIX]
            total = sum(x for _, x in mixed)
            self.base = tuple((t, x / total) for t, x in mixed)
            self.base_event_id, self.base_transition = change.event_id, change.transition_steps
            self._base_dirty = True
            return
        rule = change.rule
        assert rule is not None
        end = chunk + rule.duration_chunks if rule.duration_chunks is not None else None
        self.overlays[rule.event_type] = _Overlay(change.event_id, change.text, chunk, end, rule.priority, self._seq,
                                                  rule.transition_steps, rule.group, rule.guidance,
                                                  rule.guidance_chunks)

    def at(self, chunk: int) -> Decision:
        """The decision for `chunk`; drops overlays that have ended."""
        ended = [o for o in self.overlays.values() if o.end is not None and o.end <= chunk]
        self.overlays = {k: o for k, o in self.overlays.items() if o.end is None or o.end > chunk}
        active = [o for o in self.overlays.values() if o.start <= chunk]
        if self.groups:
            return self._composed(chunk, active, ended)
        prev = self._last
        if active:
            win = max(active, key=lambda o: (o.priority, o.seq))
            g = (win.guidance, win.guidance_chunks) if win.start == chunk else (0.0, 0)
            d = Decision(((win.text, 1.0),), win.event_id, win.transition_steps, (), *g)
        else:
            steps = self.base_transition
            if prev is not None and self._last_overlay and not self._base_dirty:
                steps = prev.transition_steps  # an overlay ended: blend back out over its own steps
            d = Decision(self.base, self.base_event_id, steps)
        self._last, self._last_overlay, self._base_dirty = d, bool(active), False
        return d

    def _composed(self, chunk: int, active: list[_Overlay], ended: list[_Overlay]) -> Decision:
        """`at` for a map with groups: one clause per group, joined in group order (module docstring).
        active: the overlays in effect at `chunk`; ended: those that ended at it.

        The blend steps of a change are those of the overlay that started at this chunk (the newest), else of
        the overlays that ended here (the longest), else the base prompt's."""
        winners = [max((o for o in active if o.group == g), key=lambda o: (o.priority, o.seq), default=None)
                   for g in self.groups]
        tail = [o.text for o in winners[1:] if o is not None]
        head = winners[0]
        if head is not None:
            spec: PromptSpec = ((self.separator.join([head.text] + tail), 1.0),)
        else:
            spec = tuple((self.separator.join([t] + tail), w) for t, w in self.base)
        deciding = [o for o in winners if o is not None]
        newest = max(deciding, key=lambda o: o.seq, default=None)
        started = [o for o in deciding if o.start == chunk]
        if started:
            steps = max(started, key=lambda o: o.seq).transition_steps
        elif ended:
            steps = max(o.transition_steps for o in ended)
        elif self._base_dirty or newest is None:
            steps = self.base_transition
        else:
            steps = self._last.transition_steps if self._last is not None else 0
        ids = tuple(o.event_id for o in deciding) + (() if head is not None else (self.base_event_id,))
        guided = max((o for o in started if o.guidance > 0), key=lambda o: o.seq, default=None)
        g = (guided.guidance, guided.guidance_chunks) if guided is not None else (0.0, 0)
        d = Decision(spec, newest.event_id if newest is not None else self.base_event_id, steps, ids, *g)
        self._last, self._last_overlay, self._base_dirty = d, bool(active), False
        return d

"""Vocabularies: a game's event types and their captions, in the shape of a prompt map (docs/recording.md).

A vocabulary is a prompt map TOML file (docs/protocol.md section 6), parsed by
`runtime.serving.prompt_map.PromptMap`, so the one file both captions the training windows and maps a game's
events to prompts when the fitted checkpoint is served (it is copied to `<checkpoint>/prompt_map.toml`):

    base = "a first person view walking through a corridor"     # windows no event covers
    [events.player_turns_left]                                  # a state: no duration
    prompt = "the view turns left"
    priority = 20
    [events.player_shoots]                                      # a moment: a duration
    prompt = "the player fires the {weapon}"
    duration_seconds = 0.5
    priority = 30

Captioning (`Vocabulary.window_captions`): a **state** event (a rule without a duration) holds from its frame
until the next state event; a **moment** (a rule with `duration_seconds` / `duration_chunks`) holds for that
long. A window's caption is the rendered prompt of the highest-priority event that covers at least
`min_share` of the window's frames (ties: the one covering more frames, then the earlier); a window no event
covers that much takes the state covering most of it, else `base`. A vocabulary that declares clause `groups`
(docs/protocol.md section 6) captions each window with one clause per group, chosen that way within the group
(the base prompt, or the state covering most of the window, stands in for the first group's), joined in
group order: the prompt the runtime composes when those events are in effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from runtime.data.recording import RecordedEvent, Shard
from runtime.serving.prompt_map import EventRule, PromptMap
from sdk.errors import ConfigError, DataError, InvalidArgumentError


@dataclass(frozen=True)
class Vocabulary:
    """A parsed vocabulary: a prompt map whose rules caption recorded events.

    Attributes: path (the file, or None), text (its TOML), prompt_map (parsed at `fps` and
    `frames_per_chunk`), fps (frames per second of the recordings it captions), frames_per_chunk.
    """

    path: Path | None
    text: str
    prompt_map: PromptMap
    fps: float
    frames_per_chunk: int

    @classmethod
    def load(cls, path: str | Path, *, fps: float, frames_per_chunk: int = 1) -> "Vocabulary":
        """Read and validate a vocabulary file.

        Args:
            path: the TOML file.
            fps: frames per second of the recording it captions (turns duration_seconds into frames).
            frames_per_chunk: video frames per chunk of the model (turns duration_chunks into frames).

        Raises:
            ConfigError: the file is missing, not a valid prompt map, has no [events.TYPE] table (an empty
                vocabulary), or has an empty base prompt.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"vocabulary {path} cannot be read ({e}): give the TOML file the game's events "
                              f"are captioned with (docs/recording.md)") from None
        return cls.parse(text, fps=fps, frames_per_chunk=frames_per_chunk, path=path)

    @classmethod
    def parse(cls, text: str, *, fps: float, frames_per_chunk: int = 1, path: Path | None = None) -> "Vocabulary":
        """TOML text -> Vocabulary; see `load` for the errors."""
        where = f"vocabulary {path}" if path else "vocabulary"
        if not fps > 0 or frames_per_chunk < 1:
            raise ConfigError(f"{where}: fps must be > 0 and frames_per_chunk >= 1, got {fps}, {frames_per_chunk}")
        try:
            pmap = PromptMap.parse(text, fps=fps, frames_per_chunk=frames_per_chunk)
        except InvalidArgumentError as e:
            raise ConfigError(f"{where} is not a valid prompt map: {e}") from None
        if not pmap.rules:
            raise ConfigError(f"{where} is empty: it needs one [events.TYPE] table with a prompt per event type "
                              f"the game records (docs/recording.md)")
        if not pmap.base.strip():
            raise ConfigError(f"{where} needs a non-empty base prompt: it captions the windows no event covers")
        return cls(path, text, pmap, float(fps), int(frames_per_chunk))

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(sorted(self.prompt_map.rules))

    def duration_frames(self, rule: EventRule) -> int | None:
        """Frames a moment holds (None for a state)."""
        return None if rule.duration_chunks is None else rule.duration_chunks * self.frames_per_chunk

    def check_shard(self, shard: Shard) -> None:
        """Every event of the shard has a rule and the payload its template needs.

        Raises:
            DataError: naming the shard, the missing event types (all of them) and the fix, or the first event
                whose payload lacks a template field.
        """
        missing = sorted({e.type for e in shard.events} - set(self.prompt_map.rules))
        if missing:
            raise DataError(f"shard {shard.name}: event types {missing} are not in the vocabulary "
                            f"{self.path or ''} (it has {list(self.event_types)}): add an [events.TYPE] table "
                            f"with a prompt for each, or import with the vocabulary the shard was recorded with "
                            f"({shard.manifest.get('vocabulary')})")
        for e in shard.events:
            try:
                self.prompt_map.rules[e.type].render(e.payload)
            except InvalidArgumentError as err:
                raise DataError(f"shard {shard.name}, event at frame {e.frame}: {err}") from None

    def frame_events(self, events: Sequence[RecordedEvent], num_frames: int) -> list[list[int]]:
        """For each frame, the indexes (into `events`) of the events holding on it (states and moments)."""
        held: list[list[int]] = [[] for _ in range(num_frames)]
        states = [i for i, e in enumerate(events) if self.prompt_map.rules[e.type].duration_chunks is None]
        for k, i in enumerate(states):
            end = events[states[k + 1]].frame if k + 1 < len(states) else num_frames
            for f in range(events[i].frame, end):
                held[f].append(i)
        for i, e in enumerate(events):
            dur = self.duration_frames(self.prompt_map.rules[e.type])
            if dur is not None:
                for f in range(e.frame, min(e.frame + dur, num_frames)):
                    held[f].append(i)
        return held

    def window_captions(self, events: Sequence[RecordedEvent], num_frames: int, window: int,
                        starts: Sequence[int], *, min_share: float = 0.25) -> list[tuple[str, list[str]]]:
        """(caption, event types behind it) of each window [s, s + window) of a shard's frames.

        Args:
            events: the shard's events (checked with `check_shard`).
            num_frames: frames in the shard.
            window: frames per window (>= 1).
            starts: first frame of each window.
            min_share: the share of the window an event must cover to caption it, in (0, 1].

        Returns:
            One (caption text, [event type] or [] for the base prompt) per start; with groups, the event types
            of the clauses in group order.
        """
        if window < 1 or not 0 < min_share <= 1:
            raise ConfigError(f"window must be >= 1 and min_share in (0, 1]; got {window}, {min_share}")
        held = self.frame_events(events, num_frames)
        rules = self.prompt_map.rules
        pm = self.prompt_map
        need = math.ceil(min_share * window)

        def pick(cover: dict[int, int], fallback: bool) -> int | None:
            strong = [i for i, c in cover.items() if c >= need]
            if strong:
                return max(strong, key=lambda i: (rules[events[i].type].priority, cover[i], -i))
            states = [i for i in cover if rules[events[i].type].duration_chunks is None] if fallback else []
            return max(states, key=lambda i: (cover[i], -i)) if states else None

        out = []
        for s in starts:
            cover: dict[int, int] = {}
            for f in range(max(s, 0), min(s + window, num_frames)):
                for i in held[f]:
                    cover[i] = cover.get(i, 0) + 1
            if not pm.groups:
                best = pick(cover, True)
                out.append((pm.base, []) if best is None else
                           (rules[events[best].type].render(events[best].payload), [events[best].type]))
                continue
            clauses, types = [], []  # one clause per group, in order; the base prompt stands in for the first
            for k, group in enumerate(pm.groups):
                best = pick({i: c for i, c in cover.items() if rules[events[i].type].group == group}, k == 0)
                if best is None:
                    if k == 0:
                        clauses.append(pm.base)
                    continue
                clauses.append(rules[events[best].type].render(events[best].payload))
                types.append(events[best].type)
            out.append((pm.separator.join(clauses), types))
        return out


"""Cutscenes: a TOML timeline of prompts and events, rendered to an MP4 through a StreamDiT session.

    seconds = 10.0                      # length, seconds of video
    prompt = "the player stands on the grass"   # base prompt at t = 0 (default: the prompt map's base)
    prompt_map = "crafter"              # "crafter" (the shipped map), a .toml path relative to this file, the
                                        # prompt map's TOML text itself (a multi-line string), or "" (none)

    [[cue]]                             # an event at 1 s of video, steered by the prompt map
    at = 1.0
    event = "player_moves_right"
    payload = { terrain = "grass" }     # template values; Crafter events default to the vocabulary's

    [[cue]]                             # a new base prompt, blended in over 2 chunks
    at = 9.0
    prompt = "the player sleeps"
    transition_steps = 2

By default a cue fires when the stream reaches its time in video frames (frame index >= at * fps), so the
result does not depend on how fast the runtime is; `live=True` fires cues at wall-clock times, as a game would.
"""

from __future__ import annotations

import logging
import queue
import textwrap
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sdk.errors import ConfigError, StreamDiTError

log = logging.getLogger(__name__)

PANEL = 256  # pixels: frames are scaled (nearest) to PANEL x PANEL
STRIP = 32  # pixels: caption strip under each frame


@dataclass(frozen=True)
class Cue:
    """One timeline entry at `at` seconds: an event (`event`, `payload`) or a base prompt (`prompt`)."""

    at: float
    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    transition_steps: int = 0
    weight: float = 1.0


@dataclass(frozen=True)
class Cutscene:
    """A parsed cutscene: `seconds` of video, a base `prompt`, the prompt map TOML text and cues sorted by time."""

    seconds: float
    prompt: str
    prompt_map: str
    cues: tuple[Cue, ...]


def load_cutscene(path: str | Path) -> Cutscene:
    """Parse and check a cutscene TOML file. Raises ConfigError naming the file, cue and key at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"cutscene file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the cutscene file {path} ({type(e).__name__}: {e})") from None
    return parse_cutscene(text, where=str(path), base_dir=path.parent)


def parse_cutscene(text: str, *, where: str = "cutscene", base_dir: str | Path | None = None) -> Cutscene:
    """Parse and check a cutscene's TOML text (the format above); `streamdit cutscene` and the viewer page's
    editor both use this. A prompt_map path is read relative to `base_dir`; None (text that has no file, e.g.
    from the viewer) refuses paths: such a cutscene gives its map as "crafter" or as TOML text.

    Raises ConfigError naming `where`, the cue and the key at fault.
    """
    from runtime.serving.prompt_map import PromptMap
    from runtime.serving.prompt_maps import default_crafter_prompt_map
    from sdk.errors import ServerError

    path = where
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cutscene {path} is not valid TOML: {e}") from None
    unknown = sorted(set(raw) - {"seconds", "prompt", "prompt_map", "cue"})
    if unknown:
        raise ConfigError(f"cutscene {path}: unknown keys {unknown}; allowed: seconds, prompt, prompt_map, [[cue]]")
    seconds = raw.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        raise ConfigError(f"cutscene {path}: seconds (length, seconds of video) must be a number > 0, got {seconds!r}")
    map_ref = raw.get("prompt_map", "crafter")
    if not isinstance(map_ref, str):
        raise ConfigError(f"cutscene {path}: prompt_map must be a string (\"crafter\", a .toml path, or TOML text)")
    if map_ref == "crafter":
        map_text = default_crafter_prompt_map()
    elif "\n" in map_ref:  # the prompt map's TOML text itself
        map_text = map_ref
    elif map_ref and base_dir is None:
        raise ConfigError(f"cutscene {path}: prompt_map {map_ref!r} names a file, but this cutscene has no "
                          f"directory to read it from: give \"crafter\" or the prompt map's TOML text")
    elif map_ref:
        map_path = Path(base_dir) / map_ref
        if not map_path.is_file():
            raise ConfigError(f"cutscene {path}: prompt_map {map_ref!r} is neither \"crafter\" nor a file "
                              f"({map_path} does not exist)")
        map_text = map_path.read_text(encoding="utf-8")
    else:
        map_text = ""
    try:
        pm = PromptMap.parse(map_text, fps=16.0, frames_per_chunk=1)
    except ServerError as e:
        raise ConfigError(f"cutscene {path}: its prompt map is invalid: {e}") from None
    prompt = raw.get("prompt", pm.base)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"cutscene {path}: give a non-empty base prompt (prompt = \"...\") or a prompt map with a base")
    cues = []
    for i, c in enumerate(raw.get("cue", [])):
        where = f"cutscene {path} [[cue]] #{i + 1}"
        if not isinstance(c, dict):
            raise ConfigError(f"{where} must be a table")
        bad = sorted(set(c) - {"at", "event", "payload", "prompt", "transition_steps", "weight"})
        if bad:
            raise ConfigError(f"{where}: unknown keys {bad}")
        at = c.get("at")
        if not isinstance(at, (int, float)) or isinstance(at, bool) or not 0 <= at < seconds:
            raise ConfigError(f"{where}: at (seconds) must be a number in [0, {seconds:g}), got {at!r}")
        if ("event" in c) == ("prompt" in c):
            raise ConfigError(f"{where}: give exactly one of event = \"TYPE\" or prompt = \"TEXT\"")
        if "event" in c:
            etype, payload = c["event"], c.get("payload", {})
            if not isinstance(payload, dict):
                raise ConfigError(f"{where}: payload must be an inline table, e.g. payload = {{ terrain = \"sand\" }}")
            payload = {**event_defaults(etype), **payload}
            try:
                pm.change_for_event(1, etype, payload, max_chars=10**6)
            except ServerError as e:
                raise ConfigError(f"{where}: {e}") from None
            cues.append(Cue(float(at), event=etype, payload=payload))
        else:
            steps, weight = c.get("transition_steps", 0), c.get("weight", 1.0)
            if not isinstance(c["prompt"], str) or not c["prompt"].strip():
                raise ConfigError(f"{where}: prompt must be a non-empty string")
            if not isinstance(steps, int) or steps < 0 or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
                raise ConfigError(f"{where}: transition_steps (chunks) must be an integer >= 0 and weight in (0, 1]")
            cues.append(Cue(float(at), prompt=c["prompt"], transition_steps=steps, weight=float(weight)))
    return Cutscene(float(seconds), prompt, map_text, tuple(sorted(cues, key=lambda q: q.at)))


def event_defaults(event_type: str) -> dict[str, Any]:
    """The payload values a cue of `event_type` gets when it leaves them out: the Crafter event vocabulary's
    defaults for its event types, none for other types."""
    from runtime.data.events import EVENTS

    spec = EVENTS.get(event_type)
    return dict(spec.defaults) if spec is not None else {}


def _labelled(pixels: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = np.zeros((PANEL + STRIP, PANEL, 3), np.uint8)
    out[:PANEL] = cv2.resize(pixels, (PANEL, PANEL), interpolation=cv2.INTER_NEAREST)
    for i, line in enumerate(textwrap.wrap(text, 46, max_lines=2, placeholder=" ...") or [""]):
        cv2.putText(out, line, (4, PANEL + 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.37, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def render_cutscene(scene: Cutscene, out: str | Path, *, url: str = "local://", live: bool = False,
                    seed: int = 0, report: Callable[[str], None] = log.info, model: str = "") -> Path:
    """Stream `scene` from the runtime at `url` and write it to `out` (MP4, PANEL x (PANEL + STRIP) pixels, the
    prompt in effect under each frame). Cues fire at video time (frame index), or wall-clock time when `live`.
    model: the served model to stream from (settings.model; "" = the runtime's default).

    Returns the MP4 path. Raises the sdk's errors when the runtime refuses a cue or fails.
    """
    import sdk
    from sdk.video_io import write_mp4

    session = sdk.Session(url, prompt=scene.prompt, prompt_map=scene.prompt_map or None, seed=seed, model=model)
    fps = session.fps
    total = max(1, round(scene.seconds * fps))
    texts: dict[int, str] = {0: scene.prompt}
    todo: queue.Queue = queue.Queue()
    errors: list[StreamDiTError] = []

    def push() -> None:
        while (cue := todo.get()) is not None:
            try:
                if cue.event is not None:
                    ack = session.push_event(cue.event, cue.payload)
                    texts[ack.event_id] = ack.prompt or _render_text(scene, cue)  # composed with groups
                else:
                    ack = session.set_prompt(cue.prompt, transition_steps=cue.transition_steps, weight=cue.weight)
                    texts[ack.event_id] = cue.prompt
                report(f"t={cue.at:5.2f}s  {cue.event or 'prompt'} -> event {ack.event_id} at chunk {ack.chunk_index}")
            except StreamDiTError as e:
                errors.append(e)
                return

    pusher = threading.Thread(target=push, name="cutscene-cues", daemon=True)
    pusher.start()
    pending = list(scene.cues)
    frames: list[tuple[np.ndarray, int]] = []
    start = time.monotonic()
    try:
        for frame in session.frames(timeout=30.0):
            now = (time.monotonic() - start) if live else frame.index / fps
            while pending and pending[0].at <= now:
                todo.put(pending.pop(0))
            if errors:
                raise errors[0]
            frames.append((frame.pixels, frame.event_id))
            if len(frames) >= total:
                break
    finally:
        todo.put(None)
        pusher.join(timeout=5.0)
        session.close("cutscene finished")
    if errors:
        raise errors[0]
    path = write_mp4(out, [_labelled(px, texts.get(eid, f"event {eid}")) for px, eid in frames], fps)
    report(f"wrote {path} ({len(frames)} frames, {fps:g} FPS, {len(scene.cues) - len(pending)} cues)")
    return Path(path)


def _render_text(scene: Cutscene, cue: Cue) -> str:
    from runtime.serving.prompt_map import PromptMap

    pm = PromptMap.parse(scene.prompt_map, fps=16.0, frames_per_chunk=1)
    return pm.change_for_event(0, cue.event or "", cue.payload, max_chars=10**6).text

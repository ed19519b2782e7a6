"""Record captioned Crafter gameplay as a recording (docs/recording.md), one shard per episode.

The capture is one writer of the recording format, through `sdk.Recorder`: the scripted agent plays, the
captioner turns each step into events, and every step's events are recorded before its frame. So a Crafter
capture is a recording like any game's: `runtime.data.recording` validates it, `streamdit data import`
captions it with the shipped Crafter vocabulary (runtime/checkpoints/default/prompt_map.toml), and the
training readers (`CrafterClips`, `encode_latents`, `FrameBank`) read it through that one reader.

    data/crafter72/
      episode_00007/        a shard (named by episode, so a rerun records a missing one in its place)
        frames.rgb          uint8 RGB frames [T, S, S, 3]; frame t is the observation after action t
        events.jsonl        the captioner's events of step t, stamped with frame t
        manifest.json       the recording manifest (game "crafter", fps 16, the vocabulary)
        crafter.json        the capture's own state (`Recorder.attach`): {"format", "episode", "seed",
                            "world_seed", "agent_seed", "size", "max_steps", "steps", "window", "stride",
                            "actions", "daylight", "player_pos", "windows": [{"start", "caption",
                            "event_types"}], "achievements", "agent_tasks", "died"}
      capture.json          totals over the complete shards: episodes, frames, size, seed, caption histogram

A shard appears whole or not at all (`NAME.partial/` renamed on close), so an interrupted capture keeps its
complete episodes; a rerun removes the `.partial` leftovers and records only what is missing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from runtime.data.recording import Shard, read_shard
from runtime.training.data.captioner import Captioner, Event, caption_window, dominant_events
from sdk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FORMAT = "streamdit.crafter.v2"  # crafter.json inside a recording shard (v1 was episode_NNNNN.npz + .json)
STATE = "crafter.json"
MANIFEST = "capture.json"
GAME = "crafter"
FPS = 16.0  # the default model's frame rate: one env step per frame
VOCABULARY = Path(__file__).resolve().parents[2] / "checkpoints" / "default" / "prompt_map.toml"


@dataclass
class CaptureSummary:
    """What a capture directory holds after `capture_crafter`.

    Attributes:
        root: the capture directory.
        episodes: complete episode shards in the directory (captured now or before).
        captured: episodes recorded by this call (the others were already complete and skipped).
        frames: frames over all complete shards.
        seconds: wall time of this call, in seconds.
        frames_per_second: frames recorded by this call per second of wall time (env + agent + captioner
            + compression), 0.0 when nothing was captured.
        caption_histogram: window caption -> number of windows, over all complete shards.
        event_histogram: event type -> number of steps it occurred on, over all complete shards.
    """

    root: Path
    episodes: int
    captured: int
    frames: int
    seconds: float
    frames_per_second: float
    caption_histogram: dict[str, int] = field(default_factory=dict)
    event_histogram: dict[str, int] = field(default_factory=dict)


def crafter_view(size: int) -> tuple[int, tuple[int, int, int, int]]:
    """Where a Crafter frame of size x size pixels shows the world: (world rows, player box).

    Crafter (`crafter.Env.render`) draws a 9 x 9 grid of `unit = size // 9` pixel tiles, centred with a
    border of (size - 9 * unit) // 2 pixels: the world in the top 7 tile rows, the inventory in the 2 below,
    and the player on tile (column 4, row 3), fixed on screen. The player box (y0, y1, x0, x1) is that tile
    with a 1-pixel margin. Both stay put while the view scrolls, so the scroll search leaves them out.
    At 64x64: 7-pixel tiles, world rows 0-48, player box (20, 29, 27, 36).

    Raises ConfigError for frames smaller than 18 pixels (2-pixel tiles).
    """
    if size < 18:
        raise ConfigError(f"a Crafter frame of {size} px is too small for its 9 x 9 tile grid (need >= 18 px)")
    unit = size // 9
    border = (size - 9 * unit) // 2
    y0, x0 = border + 3 * unit, border + 4 * unit
    return border + 7 * unit, (y0 - 1, y0 + unit + 1, x0 - 1, x0 + unit + 1)


def shard_name(episode: int) -> str:
    """The folder name of an episode's shard, e.g. "episode_00007"."""
    return f"episode_{episode:05d}"


def windows(steps: int, window: int) -> Iterator[int]:
    """Start indices of the caption windows: `window` frames, stride window // 2, complete ones only."""
    stride = max(window // 2, 1)
    return iter(range(0, steps - window + 1, stride))


def _episode_seeds(seed: int, episode: int) -> tuple[int, int]:
    """(world seed, agent seed) of an episode; independent of how many episodes are captured."""
    state = np.random.SeedSequence([seed, episode]).generate_state(2)
    return int(state[0] % (2**31 - 1)), int(state[1])


def _write_json(path: Path, data: Any) -> None:
    """Write JSON to a temporary file next to `path`, then rename it to `path`."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps(data, indent=1).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check_not_v1(root: Path) -> None:
    """Refuse a capture directory of the old layout (episode_NNNNN.npz + .json), naming the fix."""
    if root.is_dir() and any(root.glob("episode_*.npz")):
        raise DataError(f"{root} holds a Crafter capture of the old layout (episode_*.npz, streamdit.crafter.v1); "
                        f"captures are recordings now (docs/recording.md): capture again into a new folder with "
                        f"`streamdit data crafter --out NEW_DIR`")


def read_episode(shard_dir: Path) -> tuple[Shard, dict[str, Any], list[list[Event]]]:
    """One Crafter shard: (the validated recording shard, its crafter.json, the captioner's events per step).

    events[t] are the events recorded with frame t (the step that led to frame t). Raises DataError, naming the
    shard and the fix, when the shard is not a valid recording shard (`read_shard`), has no readable
    crafter.json, or the two disagree on the number of frames.
    """
    shard = read_shard(shard_dir)
    try:
        meta = json.loads((shard_dir / STATE).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"Crafter shard {shard_dir.name}: its {STATE} is missing or unreadable ({e}); delete the "
                        f"shard and rerun the capture to record it again") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"Crafter shard {shard_dir.name}: {STATE} is not a {FORMAT} file; capture again")
    if meta.get("steps") != shard.num_frames:
        raise DataError(f"Crafter shard {shard_dir.name}: {STATE} says {meta.get('steps')} steps, frames.rgb holds "
                        f"{shard.num_frames} frames; delete the shard and rerun the capture")
    events: list[list[Event]] = [[] for _ in range(shard.num_frames)]
    for e in shard.events:
        events[e.frame].append(Event(e.type, {k: str(v) for k, v in e.payload.items()}, e.frame + 1))
    return shard, meta, events


def episode_shards(root: Path) -> list[Path]:
    """The shard folders of a capture directory that look complete (episode_NNNNN/ with a manifest), sorted."""
    return sorted(p for p in Path(root).glob("episode_*") if p.is_dir() and not p.name.endswith(".partial"))


def _record_episode(episode: int, size: int, seed: int, max_steps: int) -> tuple[dict[str, np.ndarray],
                                                                                 list[list[Event]], dict]:
    """Play one episode with the scripted agent; returns arrays, events per step and extra metadata.

    The same (episode, size, seed, max_steps) give the same episode in any process (`ReproducibleEnv`)."""
    from runtime.training.data.crafter_agent import ScriptedAgent
    from runtime.training.data.crafter_env import ReproducibleEnv  # lazy: crafter loads its textures at import

    world_seed, agent_seed = _episode_seeds(seed, episode)
    env = ReproducibleEnv(area=(64, 64), size=(size, size), length=max_steps, seed=world_seed)
    env.reset()
    agent, captioner = ScriptedAgent(agent_seed), Captioner.for_env(env)
    frames = np.empty((max_steps, size, size, 3), np.uint8)
    actions = np.empty(max_steps, np.int16)
    daylight = np.empty(max_steps, np.float32)
    pos = np.empty((max_steps, 2), np.int16)
    events: list[list[Event]] = []
    done, t, info = False, 0, {}
    while not done and t < max_steps:
        action = agent.act(env)
        obs, _, done, info = env.step(action)
        frames[t], actions[t], daylight[t], pos[t] = obs, action, env._world.daylight, info["player_pos"]
        events.append(captioner.update(info, obs, env))
        t += 1
    arrays = {"frames": frames[:t], "actions": actions[:t], "daylight": daylight[:t], "player_pos": pos[:t]}
    extra = {"world_seed": world_seed, "agent_seed": agent_seed,
             "died": bool(info["inventory"]["health"] <= 0),
             "achievements": sorted(k for k, v in info["achievements"].items() if v > 0),
             "agent_tasks": dict(agent.tasks)}
    return arrays, events, extra


def _write_episode(rec: Any, episode: int, size: int, seed: int, max_steps: int,
                   window: int) -> dict[str, Any]:
    """Record one episode into its own shard of `rec` (an sdk.Recorder); returns its crafter.json."""
    arrays, events, extra = _record_episode(episode, size, seed, max_steps)
    rec.name_shard(shard_name(episode))
    for frame, step_events in zip(arrays["frames"], events):
        for e in step_events:
            rec.event(e.type, {k: str(v) for k, v in e.payload.items()})
        rec.frame(frame)
    wins = []
    for start in windows(len(events), window):
        chunk = events[start: start + window]
        wins.append({"start": start, "caption": caption_window(chunk),
                     "event_types": [e.type for e in dominant_events(chunk)]})
    meta = {"format": FORMAT, "episode": episode, "seed": seed, "size": size, "max_steps": max_steps,
            "steps": len(events), "window": window, "stride": max(window // 2, 1), **extra,
            "actions": arrays["actions"].tolist(), "daylight": [round(float(d), 5) for d in arrays["daylight"]],
            "player_pos": arrays["player_pos"].tolist(), "windows": wins}
    rec.attach(STATE, json.dumps(meta, separators=(",", ":")).encode())
    rec.new_shard()
    return meta


def _complete(root: Path, episode: int, settings: dict[str, int]) -> bool:
    """Whether the episode's shard is complete; raises ConfigError if it was made with other settings.
    A damaged shard is deleted (with a warning) so that the capture records it again."""
    path = root / shard_name(episode)
    if not path.exists():
        return False
    try:
        _, meta, _ = read_episode(path)
    except DataError as e:
        log.warning("re-recording %s: %s", path.name, e)
        shutil.rmtree(path)
        return False
    other = {k: meta.get(k) for k in settings if meta.get(k) != settings[k]}
    if other:
        raise ConfigError(
            f"{root} already holds {path.name} made with {other}, but this capture asks for "
            f"{ {k: settings[k] for k in other} }; use another --out directory or the same settings")
    return True


class _Totals:
    """Running totals over complete shards, written as manifest.json."""

    def __init__(self) -> None:
        self.episodes, self.frames = 0, 0
        self.sizes: set[int] = set()
        self.seeds: set[int] = set()
        self.captions: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def add(self, meta: dict[str, Any], events: list[list[Event]]) -> None:
        self.episodes += 1
        self.frames += int(meta["steps"])
        self.sizes.add(int(meta["size"]))
        self.seeds.add(int(meta["seed"]))
        self.captions.update(w["caption"] for w in meta["windows"])
        for step in events:
            self.events.update({e.type for e in step})

    def write(self, root: Path) -> CaptureSummary:
        captions, events = dict(self.captions.most_common()), dict(self.events.most_common())
        _write_json(root / MANIFEST, {
            "format": FORMAT + ".capture", "episodes": self.episodes, "frames": self.frames, "size": sorted(self.sizes),
            "seed": sorted(self.seeds), "windows": sum(captions.values()),
            "caption_histogram": captions, "event_histogram": events})
        return CaptureSummary(root, self.episodes, 0, self.frames, 0.0, 0.0, captions, events)


def summarize(root: Path) -> CaptureSummary:
    """Totals over the complete shards of a capture directory; rewrites its manifest.json atomically.

    Incomplete or corrupted shards are left out with a warning.
    """
    root = Path(root)
    totals = _Totals()
    for path in episode_shards(root):
        try:
            _, meta, events = read_episode(path)
            totals.add(meta, events)
        except DataError as e:
            log.warning("leaving %s out of the totals: %s", path.name, e)
    return totals.write(root)


def capture_crafter(episodes: int, size: int, out: Path, *, seed: int = 0, max_steps: int = 1000,
                    window: int = 16, progress: bool = True) -> CaptureSummary:
    """Play `episodes` Crafter episodes with the scripted agent and write captioned shards to `out`.

    Args:
        episodes: number of episodes (episode indices 0 .. episodes - 1); complete shards are skipped,
            so rerunning after an interruption, or with a larger count, only records what is missing.
        size: frame side in pixels (frames are uint8 [T, size, size, 3]); 64 or 128 for the default model.
        out: capture directory, created if missing.
        seed: base seed; episode i plays world and agent seeds derived from (seed, i).
        max_steps: episode length cap in env steps (an episode also ends when the player dies).
        window: frames per caption window; windows overlap by half.
        progress: show a tqdm bar (on stderr).

    Returns:
        A `CaptureSummary` over all complete shards in `out`.

    Raises:
        ConfigError: an argument is out of range, or `out` holds shards made with other settings.
    """
    if episodes < 1 or size < 9 or max_steps < window or window < 2:
        raise ConfigError(f"need episodes >= 1, size >= 9, window >= 2 and max_steps >= window; got "
                          f"episodes={episodes}, size={size}, window={window}, max_steps={max_steps}")
    from tqdm import tqdm

    import sdk

    root = Path(out)
    check_not_v1(root)
    root.mkdir(parents=True, exist_ok=True)
    for stale in list(root.glob("*.tmp")) + list(root.glob("episode_*.partial")):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()  # what an interrupted capture left
    settings = {"seed": seed, "size": size, "max_steps": max_steps, "window": window}
    todo = [ep for ep in range(episodes) if not _complete(root, ep, settings)]
    totals = _Totals()
    for path in episode_shards(root):
        if path.name not in {shard_name(ep) for ep in todo}:
            try:
                _, meta, events = read_episode(path)
                totals.add(meta, events)
            except DataError as e:
                log.warning("leaving %s out of the totals: %s", path.name, e)
    start, recorded, captured = time.perf_counter(), 0, 0
    bar = tqdm(total=len(todo), unit="ep", desc="crafter capture", disable=not progress)
    rec = sdk.Recorder(root, game=GAME, fps=FPS, vocabulary=str(VOCABULARY))
    try:
        for ep in todo:
            meta = _write_episode(rec, ep, size, seed, max_steps, window)
            totals.add(meta, read_episode(root / shard_name(ep))[2])
            totals.write(root)
            recorded += meta["steps"]
            captured += 1
            elapsed = time.perf_counter() - start
            bar.set_postfix(frames=recorded, fps=f"{recorded / elapsed:.0f}")
            bar.update(1)
    finally:
        bar.close()
    rec.close()  # only after a clean run: an episode cut off stays .partial, and the next run removes it
    summary = totals.write(root)
    summary.seconds = time.perf_counter() - start
    summary.captured = captured
    summary.frames_per_second = recorded / summary.seconds if recorded else 0.0
    log.info("captured %d episodes (%d frames) in %.1f s", captured, recorded, summary.seconds)
    return summary

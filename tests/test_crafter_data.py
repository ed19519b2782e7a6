"""Crafter data capture: event vocabulary, captioner, scripted agent, sharded capture and the clip reader."""

from __future__ import annotations

import json
import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

crafter = pytest.importorskip("crafter")

from runtime.training.data.capture import STATE, capture_crafter, read_episode  # noqa: E402
from runtime.training.data.captioner import (  # noqa: E402
    CRAFTER_SEMANTIC_NAMES, Captioner, Event, caption_window, dominant_events, new_events)
from runtime.training.data.crafter_agent import ACTIONS, ScriptedAgent  # noqa: E402
from runtime.training.data.dataset import CrafterClips, split_episodes  # noqa: E402
from runtime.data.events import EVENTS, caption_for  # noqa: E402
from sdk.errors import ConfigError, DataError  # noqa: E402


def _env(seed: int = 3) -> "crafter.Env":
    env = crafter.Env(size=(64, 64), seed=seed, length=10_000)
    env.reset()
    return env


def _clear_row_left(env: "crafter.Env", cells: int) -> None:
    """Make the cells left of the player plain grass without creatures, so a leftward walk cannot stall."""
    x, y = (int(v) for v in env._player.pos)
    for dx in range(1, cells + 1):
        _, obj = env._world[(x - dx, y)]
        if obj is not None:
            env._world.remove(obj)
        env._world[(x - dx, y)] = "grass"


# --- vocabulary ------------------------------------------------------------------------------------------
def test_caption_for_fills_templates_and_defaults():
    assert caption_for("player_moves_left", {"terrain": "sand"}) == "the player walks left across the sand"
    assert caption_for("player_moves_left") == "the player walks left across the grass"
    assert caption_for("make_tool", {"tool": "stone sword", "x": 1}) == "the player crafts a stone sword"
    assert caption_for("zombie_appears") == "a zombie approaches"


def test_caption_for_unknown_type_names_it_and_lists_known_types():
    with pytest.raises(ConfigError) as info:
        caption_for("dragon_attacks", {})
    message = str(info.value)
    assert "'dragon_attacks'" in message
    assert "zombie_appears" in message and "collect_wood" in message


def test_vocabulary_is_importable_without_torch_or_crafter():
    import subprocess
    import sys

    code = ("import sys; import runtime.data.events as e; "
            "assert 'torch' not in sys.modules and 'crafter' not in sys.modules; print(len(e.EVENTS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(EVENTS) >= 20


# --- captioner on real env steps ---------------------------------------------------------------------------
def test_semantic_ids_match_crafter():
    env = _env()
    assert Captioner.for_env(env)._names == CRAFTER_SEMANTIC_NAMES


def test_leftward_walk_gives_player_moves_left_live_and_offline():
    env = _env()
    _clear_row_left(env, 10)
    live, offline = Captioner.for_env(env), Captioner()
    infos, live_events = [], []
    for _ in range(8):
        obs, _, _, info = env.step(ACTIONS["move_left"])
        infos.append((info, obs))
        live_events.append(live.update(info, obs, env))
    offline_events = [offline.update(info, obs) for info, obs in infos]
    for events, first in ((live_events, "player_moves_left"), (offline_events, "player_idle")):
        # Offline, the first recorded step is only the baseline: nothing says where the player started.
        movement = [[e for e in step if e.type.startswith("player_") and e.type != "player_hurt"][0]
                    for step in events]
        assert [e.type for e in movement] == [first] + ["player_moves_left"] * 7
        assert all(e.payload == {"terrain": "grass"} for e in movement)
    assert caption_window(live_events).startswith("the player walks left across the grass")
    # Standing still afterwards is idle, not movement.
    _, _, _, info = env.step(ACTIONS["noop"])
    assert "player_idle" in {e.type for e in live.update(info, None, env)}


def test_chopping_a_tree_gives_collect_wood_and_the_achievement():
    env = _env()
    captioner = Captioner.for_env(env)
    x, y = (int(v) for v in env._player.pos)
    env._world[(x, y + 1)] = "tree"  # the player starts facing down
    _, _, _, info = env.step(ACTIONS["noop"])
    assert "collect_wood" not in {e.type for e in captioner.update(info, None, env)}
    _, _, _, info = env.step(ACTIONS["do"])
    events = captioner.update(info, None, env)
    assert info["inventory"]["wood"] == 1
    assert "collect_wood" in {e.type for e in events}
    assert Event("achievement", {"name": "collect wood"}, 2) in events


def test_night_falls_when_daylight_crosses_with_hysteresis():
    env = _env()
    captioner = Captioner.for_env(env)
    falls, nights = [], 0
    for step in range(1, 200):
        env._player.health = 9  # keep the idle player alive through the dusk's zombies
        _, _, done, info = env.step(ACTIONS["noop"])
        types = {e.type for e in captioner.update(info, None, env)}
        falls += [step] if "night_falls" in types else []
        nights += "night" in types
        assert not done
    assert len(falls) == 1 and 150 <= falls[0] <= 180 and nights == 200 - falls[0]
    # Daylight wobbling around the night mark does not flap between night and day.
    info = {k: info[k] for k in ("inventory", "achievements", "semantic", "player_pos")}
    wobble = Captioner()
    seen = [e.type for d in (0.6, 0.34, 0.36, 0.34, 0.45, 0.49, 0.51, 0.4)
            for e in wobble.update({**info, "daylight": d}) if e.type in ("night_falls", "day_breaks")]
    assert seen == ["night_falls", "day_breaks"]


def test_synthetic_deltas_give_collect_hurt_and_creatures():
    env = _env()
    captioner = Captioner.for_env(env)
    _, _, _, info = env.step(ACTIONS["noop"])
    captioner.update(info, None)
    inventory = {**info["inventory"], "stone": 1, "health": info["inventory"]["health"] - 2}
    later = {**info, "inventory": inventory}
    semantic = info["semantic"].copy()
    x, y = (int(v) for v in info["player_pos"])
    semantic[x + 1, y] = CRAFTER_SEMANTIC_NAMES.index("zombie")
    semantic[x - 3, y + 2] = CRAFTER_SEMANTIC_NAMES.index("cow")
    types = {e.type for e in captioner.update({**later, "semantic": semantic}, None)}
    assert {"collect_stone", "player_hurt", "fight_zombie", "zombie_appears", "cow_nearby"} <= types


# --- window captions ---------------------------------------------------------------------------------
def _steps(*types: str, n: int = 16) -> list[list[Event]]:
    return [[Event(t, {"terrain": "grass"} if t.startswith("player_") else {}, i) for t in types]
            for i in range(n)]


def test_caption_window_prefers_priority_and_frequency():
    walk = _steps("player_moves_left")
    assert caption_window(walk) == "the player walks left across the grass"
    mixed = _steps("player_idle")[:10] + _steps("player_moves_up")[:6]
    mixed[3].append(Event("collect_wood", {}, 3))
    assert caption_window(mixed) == "the player collects wood"  # a moment beats a short walk
    long_walk = _steps("player_moves_right", "cow_nearby", "night")
    long_walk[5].append(Event("collect_wood", {}, 5))
    assert caption_window(long_walk) == ("the player walks right across the grass, a cow grazes nearby, "
                                         "it is night")
    fight = _steps("player_idle", "fight_zombie", "zombie_appears")
    assert caption_window(fight) == "the player fights a zombie"  # the scene clause would repeat the zombie
    assert [e.type for e in dominant_events(fight)] == ["fight_zombie"]
    assert caption_window([[] for _ in range(16)]) == ""


def test_new_events_pushes_state_changes_and_all_moments():
    before = [Event("player_moves_left", {"terrain": "grass"}), Event("cow_nearby")]
    after = before + [Event("collect_wood")]
    assert [e.type for e in new_events(before, after)] == ["collect_wood"]
    assert [e.type for e in new_events([], before)] == ["player_moves_left", "cow_nearby"]


# --- scripted agent ----------------------------------------------------------------------------------------
def test_agent_plays_varied_gameplay():
    env = _env(seed=1)
    agent, captioner = ScriptedAgent(seed=1), Captioner.for_env(env)
    counts: Counter[str] = Counter()
    for _ in range(300):
        _, _, done, info = env.step(agent.act(env))
        counts.update(e.type for e in captioner.update(info, None, env))
        if done:
            break
    moves = {t: counts[t] for t in ("player_moves_left", "player_moves_right", "player_moves_up",
                                     "player_moves_down")}
    assert min(moves.values()) >= 5, moves
    assert counts["player_idle"] < sum(moves.values()), counts
    assert counts["collect_wood"] >= 1 and counts["drink_water"] + counts["eat_cow"] >= 1, counts


# --- capture and reader ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("crafter") / "capture"
    summary = capture_crafter(3, 64, root, seed=7, max_steps=48, window=16, progress=False)
    assert summary.episodes == summary.captured == 3
    return root


def test_capture_writes_shards_manifest_and_resumes(captured: Path):
    manifest = json.loads((captured / "capture.json").read_text())
    episodes = [read_episode(captured / f"episode_{i:05d}") for i in range(3)]
    metas = [meta for _, meta, _ in episodes]
    assert manifest["episodes"] == 3 and manifest["frames"] == sum(m["steps"] for m in metas)
    assert sum(manifest["caption_histogram"].values()) == sum(len(m["windows"]) for m in metas)
    shard, meta, events = episodes[0]
    frames = np.asarray(shard.frames())
    assert frames.dtype == np.uint8 and frames.shape == (meta["steps"], 64, 64, 3)
    assert len(meta["actions"]) == meta["steps"] and len(events) == meta["steps"]
    assert frames.std() > 10  # the game rendered something
    assert not list(captured.glob("*.tmp")) and not list(captured.glob("*.partial"))
    again = capture_crafter(3, 64, captured, seed=7, max_steps=48, window=16, progress=False)
    assert again.captured == 0 and again.frames == manifest["frames"]
    with pytest.raises(ConfigError, match="use another --out"):
        capture_crafter(3, 32, captured, seed=7, max_steps=48, window=16, progress=False)


def test_reader_round_trip_matches_capture(captured: Path):
    clips = CrafterClips(captured, 16, split="train", heldout_fraction=0.0)
    metas = {f"episode_{i:05d}": read_episode(captured / f"episode_{i:05d}")[1] for i in range(3)}
    assert len(clips) == sum(len(m["windows"]) for m in metas.values())
    frames, caption, types = clips[0]
    assert frames.dtype == np.uint8 and frames.shape == (16, 64, 64, 3)
    first = metas[clips.episodes[0]]
    assert caption == first["windows"][0]["caption"] and types == first["windows"][0]["event_types"]
    np.testing.assert_array_equal(frames, read_episode(captured / clips.episodes[0])[0].frames()[:16])
    assert clips[-1][0].shape == (16, 64, 64, 3)
    with pytest.raises(IndexError):
        clips[len(clips)]


def test_split_is_by_episode_and_deterministic(captured: Path):
    train = CrafterClips(captured, 16, split="train", heldout_fraction=0.34)
    held = CrafterClips(captured, 16, split="heldout", heldout_fraction=0.34)
    assert len(held.episodes) == 1 and set(train.episodes).isdisjoint(held.episodes)
    assert len(train.episodes) + len(held.episodes) == 3
    names = [f"episode_{i:05d}" for i in range(50)]
    tr, ho = split_episodes(names, 0.1)
    assert (tr, ho) == split_episodes(names[::-1], 0.1) and len(ho) == 5 and not set(tr) & set(ho)


def test_corrupted_shard_is_skipped_with_a_warning(captured: Path, tmp_path: Path):
    root = tmp_path / "copy"
    shutil.copytree(captured, root)
    rgb = root / "episode_00001" / "frames.rgb"
    rgb.write_bytes(rgb.read_bytes()[: rgb.stat().st_size // 2])  # truncated
    with pytest.warns(RuntimeWarning, match="episode_00001.*truncated"):
        clips = CrafterClips(root, 16, split="train", heldout_fraction=0.0)
    assert clips.episodes == ["episode_00000", "episode_00002"] and clips.skipped == ["episode_00001"]
    assert all(frames.shape == (16, 64, 64, 3) for frames, _, _ in clips)
    (root / "episode_00000" / STATE).write_text("{not json")
    (root / "episode_00002" / "frames.rgb").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="streamdit data crafter"):
            CrafterClips(root, 16, split="train", heldout_fraction=0.0)
    # A rerun of the capture records exactly the broken shards again.
    again = capture_crafter(3, 64, root, seed=7, max_steps=48, window=16, progress=False)
    assert again.captured == 3 and again.episodes == 3


def test_missing_root_raises_data_error(tmp_path: Path):
    with pytest.raises(DataError, match="streamdit data crafter"):
        CrafterClips(tmp_path / "nothing", 16)


def _capture_bytes(root: Path) -> dict[str, bytes]:
    """Every file of a capture, by relative path; the shard manifests without their creation time."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k != "created"}).encode()
        files[str(path.relative_to(root))] = data
    return files


def test_capture_is_byte_identical_whatever_order_crafter_keeps_objects_in(tmp_path: Path, monkeypatch):
    """crafter keeps each chunk's objects in a set, ordered by memory address, so each process lists them in
    its own order. One capture lists every chunk's objects in the order they were added, the other in the
    reverse order (without the fix the two despawn different creatures and episode 1's frames differ);
    their files must be the same bytes."""
    from crafter.engine import World

    def ordered(reverse: bool) -> property:
        def chunks(world: World) -> dict:
            index = lambda obj: int(world._obj_map[tuple(obj.pos)])  # noqa: E731
            return {k: sorted(v, key=index, reverse=reverse) for k, v in world._chunks.items()}
        return property(chunks)

    for name, reverse in (("a", False), ("b", True)):
        monkeypatch.setattr(World, "chunks", ordered(reverse))
        capture_crafter(2, 32, tmp_path / name, seed=0, max_steps=160, window=16, progress=False)
    a, b = _capture_bytes(tmp_path / "a"), _capture_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and "episode_00001/frames.rgb" in a
    assert [k for k in a if a[k] != b[k]] == []


def test_cli_runs_a_tiny_capture(tmp_path: Path):
    from typer.testing import CliRunner

    from runtime.commands.data import app as data_app

    result = CliRunner().invoke(data_app, ["crafter", "--episodes", "1", "--size", "32", "--max-steps", "20",
                                           "--out", str(tmp_path / "cli"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 episodes, 20 frames of 32x32" in result.output
    from runtime.data.recording import content_fingerprint

    fp = content_fingerprint(tmp_path / "cli")
    assert f"content fingerprint: {fp}" in result.output
    # The capture is the same bytes on every machine (ReproducibleEnv; crafter 1.8.3, numpy 2.4, Pillow 13): the value
    # printed by two processes on 2026-12-08. If crafter, numpy or Pillow change what a capture holds, this
    # fails, and figures measured on a capture (docs/results.md names its fingerprint) are no longer reproducible.
    assert fp == "sha256:5d9ae596734e96a2"
    bad = CliRunner().invoke(data_app, ["crafter", "--episodes", "1", "--max-steps", "4", "--out",
                                        str(tmp_path / "bad"), "--no-progress"])
    assert bad.exit_code == 2 and "max_steps >= window" in bad.output

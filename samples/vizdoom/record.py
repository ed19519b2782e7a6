"""Record ViZDoom footage with a scripted player, through sdk.Recorder (docs/recording.md, issue 17).

    python samples/vizdoom/record.py --episodes 20 --out recordings/vizdoom

The player (a small state machine, not a learned agent) walks forward, turns left and right in spells,
backs off and turns when it is stuck, and fires when a monster is near the middle of the view. It plays
Freedoom's `deathmatch` map from the scenarios the `vizdoom` package ships (monsters, weapons, health and
ammo pickups), so it meets monsters, takes damage and picks things up.

The events come from the game's own state variables, compared between recorded frames: ANGLE (turns),
POSITION_X/Y (walking, standing), AMMO (shots), HEALTH (damage), ITEMCOUNT and HEALTH/AMMO gains (pickups),
KILLCOUNT (kills), the labels buffer (monsters in view) and is_player_dead. Their captions are
samples/vizdoom/vocabulary.toml. One shard per episode; frames are the 160x120 screen resized to --size
(72x72 by default, the shipped 8x autoencoder's frame size), 2 game tics per frame = 17.5 FPS.

Needs the `samples` extra: `pip install -e '.[samples]'` (vizdoom, opencv).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import sdk  # noqa: E402

TICS_PER_FRAME = 2
FPS = 35 / TICS_PER_FRAME
VOCABULARY = Path(__file__).with_name("vocabulary.toml")
MONSTERS = {"Zombieman", "ShotgunGuy", "ChaingunGuy", "DoomImp", "Demon", "Spectre", "Cacodemon", "LostSoul",
            "HellKnight", "BaronOfHell", "Revenant", "Arachnotron", "Fatso", "PainElemental", "Archvile",
            "WolfensteinSS", "Cyberdemon", "SpiderMastermind"}
WEAPONS = {0: "fist", 1: "fist", 2: "pistol", 3: "shotgun", 4: "chaingun", 5: "rocket launcher", 6: "plasma gun",
           7: "bfg"}
# buttons: MOVE_FORWARD, MOVE_BACKWARD, TURN_LEFT, TURN_RIGHT, ATTACK
FORWARD, BACK, LEFT, RIGHT, SHOOT = (np.eye(5, dtype=int)[i].tolist() for i in range(5))


def make_game(seed: int):
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.load_config(os.path.join(vzd.scenarios_path, "deathmatch.cfg"))
    game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_window_visible(False)
    game.set_sound_enabled(False)
    game.set_labels_buffer_enabled(True)
    game.set_render_hud(False)
    game.set_episode_timeout(35 * 60)
    game.set_available_buttons([vzd.Button.MOVE_FORWARD, vzd.Button.MOVE_BACKWARD, vzd.Button.TURN_LEFT,
                                vzd.Button.TURN_RIGHT, vzd.Button.ATTACK])
    V = vzd.GameVariable
    game.set_available_game_variables([V.ANGLE, V.POSITION_X, V.POSITION_Y, V.HEALTH, V.AMMO2, V.SELECTED_WEAPON_AMMO,
                                       V.SELECTED_WEAPON, V.KILLCOUNT, V.ITEMCOUNT])
    game.set_seed(seed)
    game.init()
    return game


class Player:
    """The scripted policy: spells of walking and turning; fire at a monster near the view's middle."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mode, self.left = "walk", 20
        self.stuck = 0

    def act(self, monster_x: float | None, moved: float) -> list[int]:
        if monster_x is not None and abs(monster_x - 80) < 20 and self.rng.random() < 0.7:
            return SHOOT
        self.stuck = self.stuck + 1 if moved < 0.5 and self.mode == "walk" else 0
        self.left -= 1
        if self.stuck > 6:
            self.mode, self.left, self.stuck = "back", 6, 0
        elif self.left <= 0:
            if self.mode in ("walk", "back"):
                self.mode = "left" if self.rng.random() < 0.5 else "right"
                self.left = int(self.rng.integers(6, 20))
            else:
                self.mode, self.left = "walk", int(self.rng.integers(15, 45))
        return {"walk": FORWARD, "back": BACK, "left": LEFT, "right": RIGHT}[self.mode]


def _angle_delta(a: float, b: float) -> float:
    return (b - a + 180.0) % 360.0 - 180.0  # degrees, + = counter-clockwise = turning left


def record_episode(game, rec: "sdk.Recorder", rng: np.random.Generator, size: int, max_frames: int) -> int:
    import cv2

    game.new_episode()
    player, prev, frames = Player(rng), None, 0
    walk_state = None
    while not game.is_episode_finished() and frames < max_frames:
        state = game.get_state()
        v = dict(zip(("angle", "x", "y", "health", "ammo", "wammo", "weapon", "kills", "items"), state.game_variables))
        monsters = [lab for lab in state.labels if lab.object_name in MONSTERS]
        if prev is not None:
            turn = _angle_delta(prev["angle"], v["angle"])
            moved = math.hypot(v["x"] - prev["x"], v["y"] - prev["y"])
            motion = ("player_turns_left" if turn > 2 else "player_turns_right" if turn < -2
                      else "player_walks_forward" if moved > 1.0 else "player_stands")
            if motion != walk_state:  # states are pushed when they start
                payload = {"degrees": round(abs(turn), 1)} if "turns" in motion else {}
                rec.event(motion, payload)
                walk_state = motion
            if v["wammo"] < prev["wammo"] and v["weapon"] == prev["weapon"]:
                rec.event("player_shoots", {"weapon": WEAPONS.get(int(v["weapon"]), "gun")})
            if v["health"] < prev["health"]:
                rec.event("player_takes_damage", {"amount": int(prev["health"] - v["health"])})
            if v["items"] > prev["items"] or v["health"] > prev["health"] or v["ammo"] > prev["ammo"]:
                rec.event("player_picks_up", {})
            if v["kills"] > prev["kills"]:
                rec.event("monster_killed", {})
            if monsters and not prev["monsters"]:
                rec.event("monster_in_view", {"monster": _spaced(monsters[0].object_name)})
        else:
            moved = 1.0
        v["monsters"] = bool(monsters)
        prev = v
        rec.frame(cv2.resize(state.screen_buffer, (size, size), interpolation=cv2.INTER_AREA))
        frames += 1
        mx = None if not monsters else min((lab.x + lab.width / 2 for lab in monsters), key=lambda x: abs(x - 80))
        game.make_action(player.act(mx, moved), TICS_PER_FRAME)
        if game.is_player_dead():
            rec.event("player_dies", {})
            rec.frame(rec_last := cv2.resize(state.screen_buffer, (size, size), interpolation=cv2.INTER_AREA))
            del rec_last
            frames += 1
            break
    return frames


def _spaced(name: str) -> str:
    out = "".join(" " + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
    return out.replace("doom imp", "imp")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=20, help="episodes to record (one shard each)")
    ap.add_argument("--out", type=Path, required=True, help="the recording folder (shards are added to it)")
    ap.add_argument("--size", type=int, default=72, help="frame side in pixels (a multiple of 8)")
    ap.add_argument("--max-frames", type=int, default=1000, help="frames per episode at most")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from tqdm import tqdm

    game = make_game(args.seed)
    rng = np.random.default_rng(args.seed)
    with sdk.Recorder(args.out, game="vizdoom deathmatch (freedoom)", fps=FPS, vocabulary=str(VOCABULARY)) as rec:
        for _ in tqdm(range(args.episodes), desc="episodes", unit="ep"):
            record_episode(game, rec, rng, args.size, args.max_frames)
            rec.new_shard()
    game.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

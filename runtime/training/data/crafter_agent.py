"""A scripted Crafter agent that plays varied, captionable gameplay.

Random play mostly stands still and dies; a text-to-video model learns nothing from it. This agent
explores with long straight walks in all four directions (balanced, so "walks left/right/up/down" are
all well represented), chops trees, places a table, crafts pickaxes and swords, mines stone and coal,
drinks, hunts cows, fights zombies (flees when weak), dodges skeleton arrows, plants saplings, sleeps by
day when tired and waits out the night away from grass, where zombies swarm. It reads the env's
internals (`env._world`, `env._player`) to navigate by breadth-first search, and a seeded RNG picks its
goals, so episodes differ but replay exactly.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any, Callable, Iterator

import numpy as np

import crafter.constants as cc
from runtime.training.data.crafter_nav import DIRS, Pos, Snapshot, add, bfs, dist

ACTIONS: dict[str, int] = {name: i for i, name in enumerate(cc.actions)}
TOOLS = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword")
Task = Iterator[str]  # a task yields action names until it is done


class ScriptedAgent:
    """Goal-driven Crafter player. `act(env)` returns the action index for the next `env.step`.

    Args:
        seed: seeds the goal choices; the same seed on the same world replays the same episode.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._task: Task | None = None
        self._task_name = ""
        self._snap: Snapshot | None = None
        self.walked: Counter[str] = Counter()  # steps of straight walks per direction name
        self.tasks: Counter[str] = Counter()  # how often each task was chosen

    def act(self, env: Any) -> int:
        """The next action index (into `crafter.constants.actions`) for the live `env`."""
        self._snap = snap = Snapshot(env)
        action = self._react(snap)
        if action is not None:
            self._task = None
            return ACTIONS[action]
        for _ in range(4):
            if self._task is None:
                self._task_name, self._task = self._choose(snap)
                self.tasks[self._task_name] += 1
            action = next(self._task, None)
            if action is not None:
                return ACTIONS[action]
            self._task = None
        return ACTIONS[self._step_aside(snap) or "noop"]  # nothing to do: step anywhere

    # --- reflexes -----------------------------------------------------------------------------------------
    def _react(self, s: Snapshot) -> str | None:
        """Fight an adjacent zombie or skeleton, or flee when weak."""
        if s.player.sleeping:
            return None
        adjacent = s.near("zombie", 1) + s.near("skeleton", 1)  # fleeing from contact rarely works
        if adjacent:
            facing = [p for p in adjacent if p == add(s.pos, s.facing)]
            p = (facing or adjacent)[0]  # keep hitting the one in front instead of turning back and forth
            return self._face_or_do(s, (p[0] - s.pos[0], p[1] - s.pos[1]))
        if s.pos in s.firing:  # a skeleton can shoot here: step out of its lines and range
            options = [d for d in DIRS if add(s.pos, d) not in s.firing and s.is_walkable(add(s.pos, d))]
            if options:
                return DIRS[options[0]]
            near = s.near("skeleton", 8)
            if near:
                return self._escape(s, near[0])
        if s.inv["health"] <= 4 and s.near("zombie", 3):  # weak: keep away (zombies chase a bit slower)
            return self._escape(s, *s.near("zombie", 8))
        return None

    def _escape(self, s: Snapshot, *threats: Pos) -> str | None:
        """The step that keeps the nearest threat farthest away (then all threats)."""
        options = [d for d in DIRS if s.is_walkable(add(s.pos, d))]
        if not options:
            return None
        def score(d: Pos) -> tuple[int, int]:
            dists = [dist(add(s.pos, d), t) for t in threats]
            return min(dists), sum(dists)
        return DIRS[max(options, key=score)]

    def _step_aside(self, s: Snapshot) -> str | None:
        """A random step onto a free neighbouring cell, or None when boxed in."""
        options = [d for d in DIRS if s.is_walkable(add(s.pos, d))]
        return DIRS[options[int(self._rng.integers(len(options)))]] if options else None

    @staticmethod
    def _face_or_do(s: Snapshot, d: Pos) -> str:
        return "do" if s.facing == d else DIRS[d]  # moving into a blocked cell only turns the player

    # --- goal choice ------------------------------------------------------------------------------------
    def _choose(self, s: Snapshot) -> tuple[str, Task]:
        inv, rng = s.inv, self._rng
        missing = [t for t in TOOLS if inv[t] == 0]
        # Sleep by day: zombies crowd the dark and hit a sleeper for 7; at night only when exhausted.
        tired = (inv["energy"] <= 3 and s.daylight >= 0.5) or inv["energy"] <= 1
        if tired and not s.near("zombie", 6):
            return "sleep", self._sleep()
        # Needs first; when nothing is in reach, explore instead of waiting.
        if inv["drink"] <= 4:
            return "water", chain(self._gather("water", until=lambda v: v["drink"] >= 9, radius=30),
                                  self._walk())
        if inv["food"] <= 4:
            return "cow", chain(self._hunt("cow", budget=80, radius=30), self._walk())
        if s.daylight < 0.45 and not s.player.sleeping:
            return "shelter", self._shelter()
        table_near = bfs(s, lambda p: s.has_near(p, "table"), radius=10) is not None
        options: dict[str, tuple[float, Callable[[], Task]]] = {
            "walk": (5.0, self._walk),
            "idle": (0.6, lambda: self._idle(int(rng.integers(4, 16)))),
            "water": (1.5 if inv["drink"] <= 7 else 0.0,
                      lambda: self._gather("water", until=lambda v: v["drink"] >= 9)),
            "cow": (1.5 if inv["food"] <= 7 else 0.4, lambda: self._hunt("cow", budget=60)),
            "wood": (4.0 if missing and inv["wood"] < 5 else 0.5 if inv["wood"] < 9 else 0.0,
                     lambda: self._gather("tree", until=lambda v, w=inv["wood"]: v["wood"] > w)),
            "table": (5.0 if missing and inv["wood"] >= 3 and not table_near else 0.0,
                      lambda: self._place("place_table")),
            "craft": (8.0 if table_near and self._craftable(inv) else 0.0, lambda: self._craft(missing)),
            "stone": ((3.0 if inv["stone"] < 4 else 0.4) if inv["wood_pickaxe"] else 0.0,
                      lambda: self._gather("stone", until=lambda v, n=inv["stone"]: v["stone"] > n)),
            "coal": (0.8 if inv["wood_pickaxe"] and inv["coal"] < 2 else 0.0,
                     lambda: self._gather("coal", until=lambda v, n=inv["coal"]: v["coal"] > n, radius=10)),
            "place_stone": (0.4 if inv["stone"] >= 2 else 0.0, lambda: self._place("place_stone")),
            "sapling": (0.4 if inv["sapling"] == 0 else 0.3, self._sapling),
            "zombie": (2.0 if s.near("zombie", 6) and inv["health"] >= 6 else 0.0,
                       lambda: self._hunt("zombie", budget=30)),
        }
        names = [n for n, (w, _) in options.items() if w > 0]
        weights = np.array([options[n][0] for n in names])
        name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        return name, options[name][1]()

    @staticmethod
    def _craftable(inv: dict[str, int]) -> bool:
        return (inv["wood"] >= 1 and (not inv["wood_pickaxe"] or not inv["wood_sword"])) or (
            inv["wood"] >= 1 and inv["stone"] >= 1 and (not inv["stone_pickaxe"] or not inv["stone_sword"]))

    # --- tasks (generators of action names) -------------------------------------------------------------
    def _walk(self) -> Task:
        """A long straight walk, preferring the direction walked least so far."""
        s = self._snap
        runs = {d: s.run_length(d) for d in DIRS}
        ok = [d for d, n in runs.items() if n >= 6]
        if not ok:
            yield from self._wander()
            return
        if self._rng.uniform() < 0.6:
            d = min(ok, key=lambda d: (self.walked[DIRS[d]], self._rng.uniform()))
        else:
            d = ok[int(self._rng.integers(len(ok)))]
        for _ in range(min(runs[d], int(self._rng.integers(8, 33)))):
            if not self._snap.is_free(add(self._snap.pos, d)):
                return
            self.walked[DIRS[d]] += 1
            yield DIRS[d]

    def _wander(self) -> Task:
        """Walk to a random reachable cell 6..14 steps away (gets out of dead ends)."""
        s, rng = self._snap, self._rng
        goal = (s.pos[0] + int(rng.integers(-14, 15)), s.pos[1] + int(rng.integers(-14, 15)))
        path = bfs(s, lambda p: dist(p, goal) <= 3, radius=20, dig=True)
        yield from self._follow(path or [])

    def _follow(self, path: list[Pos]) -> Task:
        """Walk a path from `bfs`, mining diggable cells on the way; stops where it is blocked."""
        for p in path:
            for _ in range(3):
                s = self._snap
                d = (p[0] - s.pos[0], p[1] - s.pos[1])
                if d not in DIRS or not s.diggable(p):
                    break
                yield self._face_or_do(s, d)
            d = (p[0] - self._snap.pos[0], p[1] - self._snap.pos[1])
            if d not in DIRS or not self._snap.is_free(p):
                return
            yield DIRS[d]

    def _idle(self, steps: int) -> Task:
        yield from ["noop"] * steps

    def _goto_and_do(self, is_target: Callable[[Pos], bool], done: Callable[[dict[str, int]], bool],
                     budget: int, radius: int = 18, max_do: int = 12) -> Task:
        """Walk next to a target cell, face it and press 'do' until `done(inventory)`."""
        path: list[Pos] = []
        hits = 0
        for _ in range(budget):
            s = self._snap
            if done(s.inv) or hits >= max_do:
                return
            here = [d for d in DIRS if is_target(add(s.pos, d))]
            if here:
                d = s.facing if s.facing in here else here[0]
                hits += s.facing == d
                yield self._face_or_do(s, d)
                continue
            if not path or not (s.is_free(path[0]) or s.diggable(path[0])) or dist(path[0], s.pos) != 1:
                path = bfs(s, lambda p: any(is_target(add(p, d)) for d in DIRS), radius, dig=True) or []
                if not path:
                    return
            step = path[0]
            if s.diggable(step):
                yield self._face_or_do(s, (step[0] - s.pos[0], step[1] - s.pos[1]))
                continue
            path.pop(0)
            yield DIRS[(step[0] - s.pos[0], step[1] - s.pos[1])]

    def _gather(self, material: str, until: Callable[[dict[str, int]], bool], radius: int = 18) -> Task:
        s = self._snap
        target = s.ids.get(material)
        yield from self._goto_and_do(lambda p: s.inside(p) and self._snap.mat[p] == target, until, 120,
                                     radius)

    def _hunt(self, kind: str, budget: int, radius: int = 12) -> Task:
        start = len(self._snap.objects.get(kind, []))
        yield from self._goto_and_do(
            lambda p: p in self._snap.objects.get(kind, ()),
            lambda inv: len(self._snap.objects.get(kind, [])) < start, budget, radius=radius)

    def _place(self, action: str) -> Task:
        """Place a table, stone or plant on the cell in front, stepping aside until one is placeable."""
        where = cc.place[action[len("place_"):]]["where"]
        for _ in range(6):
            s = self._snap
            front = add(s.pos, s.facing)
            if s.material(front) in where and front not in s.occupied:
                yield action
                return
            aside = self._step_aside(s)
            if aside is None:
                return
            yield aside

    def _craft(self, missing: list[str]) -> Task:
        """Walk next to a table (a 3 x 3 square around the player counts), then make what is affordable."""
        yield from self._follow(bfs(self._snap, lambda p: self._snap.has_near(p, "table"), radius=10) or [])
        for tool in sorted(missing, key=lambda t: "sword" not in t):  # a sword first: nights are long
            if all(self._snap.inv[k] >= v for k, v in cc.make[tool]["uses"].items()):
                yield f"make_{tool}"

    def _sapling(self) -> Task:
        """Pull grass until a sapling drops (10 % per try), then plant it."""
        for _ in range(24):
            s = self._snap
            if s.inv["sapling"] > 0:
                yield from self._place("place_plant")
                return
            front = add(s.pos, s.facing)
            if s.material(front) == "grass" and front not in s.occupied:
                yield "do"
                continue
            aside = self._step_aside(s)
            if aside is None:
                return
            yield aside

    def _go_to_safe_spot(self) -> Task:
        """Walk to the nearest safe spot (see `Snapshot.safe_spot`), best tier first, and shield the front."""
        s = self._snap
        path = None
        for tier in range(3):
            if s.safe_spot(s.pos, tier):
                path = []
                break
            path = bfs(s, lambda p: s.safe_spot(p, tier), radius=30)
            if path is not None:
                break
        yield from self._follow(path or [])
        s = self._snap
        if s.inv["stone"] > 0 and s.is_free(add(s.pos, s.facing)):
            yield "place_stone"

    def _shelter(self) -> Task:
        """Spend the night at a safe spot: zombies crowd grass in the dark. Sleep only when exhausted."""
        yield from self._go_to_safe_spot()
        if not self._snap.safe_spot(self._snap.pos, 2):  # none in reach: keep moving rather than wait
            yield from self._walk()
            return
        while self._snap.daylight < 0.45:
            s = self._snap
            if s.inv["drink"] <= 4 or s.inv["food"] <= 4:
                return
            if s.inv["energy"] <= 2 or s.player.sleeping:
                yield "sleep"
            else:
                yield "noop"

    def _sleep(self) -> Task:
        """Sleep at a safe spot until rested or woken."""
        yield from self._go_to_safe_spot()
        slept = False
        for _ in range(300):
            s = self._snap
            if s.player.sleeping:
                slept = True
            elif slept or s.inv["energy"] >= cc.items["energy"]["max"]:
                return  # rested, or woken up (by a hit): let the reflexes and goals take over
            yield "sleep"

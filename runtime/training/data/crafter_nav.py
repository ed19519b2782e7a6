"""What the scripted Crafter agent sees: a per-step snapshot of the world, and path finding.

Reads crafter 1.8 internals (`env._world`, `env._player`). Positions are (x, y) cells; x grows to the
right, y grows downwards.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import numpy as np

DIRS: dict[tuple[int, int], str] = {(-1, 0): "move_left", (1, 0): "move_right",
                                     (0, -1): "move_up", (0, 1): "move_down"}
SAFE_GROUND = ("grass", "sand", "path")  # never lava (death), never water
Pos = tuple[int, int]


class Snapshot:
    """What the agent knows about the world at one step (read from env internals)."""

    def __init__(self, env: Any) -> None:
        world, player = env._world, env._player
        self.player = player
        self.pos: Pos = (int(player.pos[0]), int(player.pos[1]))
        self.facing: Pos = (int(player.facing[0]), int(player.facing[1]))
        self.inv: dict[str, int] = dict(player.inventory)
        self.mat = world._mat_map  # [64, 64] uint8 material ids, indexed [x, y]
        self.ids: dict[str | None, int] = dict(world._mat_ids)
        self.names = {i: name for name, i in self.ids.items()}
        walk = [self.ids[name] for name in SAFE_GROUND if name in self.ids]
        self.shape = self.mat.shape
        self.free = (np.isin(self.mat, walk) & (world._obj_map == 0)).tolist()
        self.objects: dict[str, list[Pos]] = {}
        for obj in world.objects:
            self.objects.setdefault(type(obj).__name__.lower(), []).append((int(obj.pos[0]), int(obj.pos[1])))
        self.occupied = {p for ps in self.objects.values() for p in ps}
        self.firing: set[Pos] = set()  # cells near a skeleton or in its lines of fire
        for sx, sy in self.objects.get("skeleton", []):
            self.firing |= {(sx + dx, sy + dy) for dx in range(-3, 4) for dy in range(-3, 4)}
            self.firing |= {(sx + k * dx, sy + k * dy) for k in range(1, 8) for dx, dy in DIRS}
        for x, y in self.firing:
            if self.inside((x, y)):
                self.free[x][y] = False  # plan routes out of arrow range
        self.daylight = float(world.daylight)

    def far_from(self, material: str, p: Pos, k: int) -> bool:
        """No `material` within the (2k+1)^2 square around p."""
        x, y = p
        patch = self.mat[max(x - k, 0): x + k + 1, max(y - k, 0): y + k + 1]
        return not (patch == self.ids.get(material)).any()

    def safe_spot(self, p: Pos, tier: int) -> bool:
        """A place to spend the night: away from grass (zombies) and paths (skeletons), with walls."""
        if tier == 0:
            return self.far_from("grass", p, 3) and self.far_from("path", p, 4) and self.blocked_sides(p) >= 2
        if tier == 1:
            return self.far_from("grass", p, 3) and self.blocked_sides(p) >= 2
        return self.far_from("grass", p, 2)

    def blocked_sides(self, p: Pos) -> int:
        return sum(not self.is_free(add(p, d)) for d in DIRS)

    def inside(self, p: Pos) -> bool:
        return 0 <= p[0] < self.shape[0] and 0 <= p[1] < self.shape[1]

    def diggable(self, p: Pos) -> bool:
        return self.inv["wood_pickaxe"] > 0 and self.material(p) in ("stone", "coal") and p not in self.firing

    def is_walkable(self, p: Pos) -> bool:
        """Safe ground without a creature, ignoring danger zones."""
        return self.material(p) in SAFE_GROUND and p not in self.occupied

    def is_free(self, p: Pos) -> bool:
        return self.inside(p) and self.free[p[0]][p[1]]

    def material(self, p: Pos) -> str | None:
        return self.names.get(int(self.mat[p])) if self.inside(p) else None

    def has_near(self, p: Pos, material: str, k: int = 1) -> bool:
        """`material` within the (2k+1)^2 square around p (k = 1 is Crafter's 'nearby' for crafting)."""
        return not self.far_from(material, p, k)

    def near(self, kind: str, radius: int) -> list[Pos]:
        """Creatures of `kind` within Manhattan distance `radius`, nearest first."""
        found = [p for p in self.objects.get(kind, []) if dist(p, self.pos) <= radius]
        return sorted(found, key=lambda p: dist(p, self.pos))

    def run_length(self, d: Pos, limit: int = 40) -> int:
        """Free cells in a straight line from the player in direction d."""
        n, p = 0, self.pos
        while n < limit:
            p = (p[0] + d[0], p[1] + d[1])
            if not self.is_free(p):
                break
            n += 1
        return n


def dist(a: Pos, b: Pos) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def add(a: Pos, d: Pos) -> Pos:
    return (a[0] + d[0], a[1] + d[1])


def bfs(snap: Snapshot, is_goal: Callable[[Pos], bool], radius: int = 18,
        dig: bool = False) -> list[Pos] | None:
    """Shortest walk (list of cells, start excluded) to a free cell where `is_goal` holds, or None.

    With `dig`, cells the player can mine (stone, coal with a pickaxe) count as passable: tunnelling out of
    a cave is how the agent reaches water it cannot walk to.
    """
    passable = snap.is_free if not dig else (lambda p: snap.is_free(p) or snap.diggable(p))
    start = snap.pos
    if is_goal(start):
        return []
    parents: dict[Pos, Pos | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for d in DIRS:
            nxt = add(cur, d)
            if nxt in parents or dist(nxt, start) > radius or not passable(nxt):
                continue
            parents[nxt] = cur
            if is_goal(nxt):
                path = [nxt]
                while parents[path[-1]] != start:
                    path.append(parents[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            queue.append(nxt)
    return None

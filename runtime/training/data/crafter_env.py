"""A `crafter.Env` whose episodes replay exactly from its seed.

crafter 1.8 keeps each chunk's objects in a `set` (`World._chunks`), and objects hash by identity, so the
set's order follows their memory addresses, which differ from one process to the next. Every 10 steps
`Env._balance_object` lists a chunk's creatures in that order and despawns `creatures[random.randint(n)]`:
the world RNG draws the same index in every run, but which creature it names depends on the addresses. One
different despawn changes the world, and from there the episode (the agent reacts to what it sees). This
Env hands the balancing the chunk's objects in the order they were added to the world instead; crafter's
own RNG draws and its rules are unchanged.

Imported lazily (crafter loads its textures at import).
"""

from __future__ import annotations

from typing import Any, Iterable

import crafter


class ReproducibleEnv(crafter.Env):
    """`crafter.Env` (same arguments) that balances creatures in a fixed order: the same seed and actions
    give the same episode in any process."""

    def _balance_object(self, chunk: Any, objs: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        obj_map = self._world._obj_map  # a live object's index in World._objects: the order it was added in
        ordered = sorted(objs, key=lambda obj: int(obj_map[tuple(obj.pos)]))
        super()._balance_object(chunk, ordered, *args, **kwargs)

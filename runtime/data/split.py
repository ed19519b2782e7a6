"""The one split of recorded shards into training and held-out ones, used by every reader (the autoencoder's
frames, the latents, the importer and the evaluation), so every stage holds out the same footage."""

from __future__ import annotations

import zlib


def split_episodes(names: list[str], heldout_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic (train, heldout) split of shard names by episode.

    Episodes are ranked by the CRC-32 of their name; the first round(fraction * n) go to heldout (at least
    one when there are two or more episodes and the fraction is positive). The split depends only on the
    set of names, not on their order or on the machine.
    """
    ranked = sorted(names, key=lambda n: (zlib.crc32(n.encode()), n))
    n_held = round(heldout_fraction * len(ranked))
    if heldout_fraction > 0 and len(ranked) >= 2:
        n_held = max(n_held, 1)
    n_held = min(n_held, len(ranked) - 1) if heldout_fraction < 1 else len(ranked)
    held = set(ranked[:n_held])
    return sorted(n for n in names if n not in held), sorted(held)

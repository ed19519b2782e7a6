"""The Crafter capture as a writer of the recording format (docs/recording.md; issue 17).

`write_recording(capture, out)` replays the complete episodes of a Crafter capture (`capture.py`: frames and
the captioner's per-step events) through `sdk.Recorder`: one shard per episode, each step's events pushed
before its frame. The vocabulary is the shipped Crafter prompt map (`VOCABULARY`, generated from the
captioner's vocabulary), so `streamdit data import` captions Crafter recordings like any other game's.

    streamdit data crafter --episodes 100 --size 72 --out data/crafter72 --recording data/crafter72_rec
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.training.data.capture import read_shard_meta
from sdk.errors import DataError

VOCABULARY = Path(__file__).resolve().parents[2] / "checkpoints" / "default" / "prompt_map.toml"
GAME = "crafter"
FPS = 16.0


def write_recording(capture: str | Path, out: str | Path, *, fps: float = FPS) -> list[Path]:
    """Write every complete episode of `capture` as a shard of the recording `out`; returns the new shards.

    Shards already in `out` are kept and the new ones numbered after them, so write into an empty folder.
    Damaged or incomplete episodes are left out (the capture's own reader reports them).

    Raises: DataError when the capture has no episode at all.
    """
    import sdk

    capture, out = Path(capture), Path(out)
    names = sorted(p.stem for p in capture.glob("episode_*.json"))
    if not names:
        raise DataError(f"no Crafter episodes in {capture}: capture with `streamdit data crafter --out {capture}`")
    with sdk.Recorder(out, game=GAME, fps=fps, vocabulary=str(VOCABULARY)) as rec:
        for name in names:
            try:
                meta = read_shard_meta(capture / f"{name}.json")
                with np.load(capture / f"{name}.npz") as npz:
                    frames = npz["frames"]
            except (DataError, OSError, ValueError, KeyError):
                continue  # incomplete or damaged: the capture's own reader reports it
            for step_events, frame in zip(meta["events"], frames):
                for e in step_events:
                    rec.event(e["type"], {k: str(v) for k, v in e.get("payload", {}).items()})
                rec.frame(frame)
            rec.new_shard()
    return rec.shards

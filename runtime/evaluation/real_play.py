"""Held-out real play as the reference of the stream measures (DESIGN.md section 9): what a generated stream is
compared with in the visible-response latency, the long-stream measures and the per-event table.

The held-out split is the one every reader uses (`runtime.data.split.split_episodes`, fraction 0.1) of a
Crafter capture (`streamdit data crafter --episodes 40 --size 72 --out data/crafter72`; docs/recording.md).
`RealReference` holds, from those episodes only:

- classifier windows (WINDOW frames, stride 4, labelled with their caption's actor type) and their features,
  for the Frechet distance, and each class's adherence (the share of its windows the classifier names);
- the 1st percentiles of per-frame mean saturation and contrast (`frame_saturation`, `frame_contrast`): a
  generated frame below either is washed out; `washed_out_share` is the share of real play's own frames below
  either (1-2 % by construction: its darkest and greyest frames, nights, sleeps, stone);
- the flicker of real clips (`flicker` over every held-out episode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from runtime.evaluation.classifier import ClipClassifier, clip_scores, collect_windows
from runtime.training.metrics import flicker
from sdk.errors import DataError

HELDOUT_FRACTION = 0.1  # the split CrafterClips and the evaluation use


def frame_saturation(frames: np.ndarray) -> np.ndarray:
    """Mean HSV saturation of each frame of uint8 [F, H, W, 3] (RGB), float32 [F] in [0, 255]."""
    return np.asarray([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)[..., 1].mean() for f in frames], np.float32)


def frame_contrast(frames: np.ndarray) -> np.ndarray:
    """Standard deviation of each frame's grey levels, uint8 [F, H, W, 3] -> float32 [F], 8-bit levels."""
    return np.asarray([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).std() for f in frames], np.float32)


def frame_brightness(frames: np.ndarray) -> np.ndarray:
    """Mean grey level of each frame, uint8 [F, H, W, 3] -> float32 [F], 8-bit levels (night: low)."""
    return np.asarray([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).mean() for f in frames], np.float32)


def frame_blue_share(frames: np.ndarray, margin: int = 40) -> np.ndarray:
    """Share of each frame's pixels that are water-blue (blue above both red and green by `margin` levels;
    Crafter's water is about (32, 96, 160)), uint8 [F, H, W, 3] -> float32 [F] in [0, 1]."""
    f = frames.astype(np.int16)
    blue = f[..., 2] - np.maximum(f[..., 0], f[..., 1]) > margin
    return blue.reshape(len(frames), -1).mean(axis=1).astype(np.float32)


def heldout_shards(data: str | Path) -> list:
    """The held-out shards (runtime.data.recording.Shard) of the capture `data`, in name order.
    Raises DataError when `data` holds no recording or no held-out shard, naming the command that makes one."""
    from runtime.data.recording import read_recording
    from runtime.data.split import split_episodes

    try:
        shards = read_recording(data).shards
    except (DataError, OSError) as e:
        raise DataError(f"cannot read the held-out real play {data}: {e}; make it with `streamdit data crafter "
                        f"--episodes 40 --size 72 --out {data}`") from e
    _, held = split_episodes([s.name for s in shards], HELDOUT_FRACTION)
    out = [s for s in shards if s.name in set(held)]
    if not out:
        raise DataError(f"{data} has no held-out episode (it needs at least two); make it with `streamdit data "
                        f"crafter --episodes 40 --size 72 --out {data}`")
    return out


@dataclass
class RealReference:
    """Held-out real play's figures (module docstring); per-class adherence is a share in [0, 1]."""

    classes: list[str]
    features: np.ndarray  # float32 [windows, FEATURE_DIM]
    adherence: dict[str, float]
    saturation_p1: float
    contrast_p1: float
    flicker: float
    frames: int
    windows: int
    episodes: list[str] = field(default_factory=list)
    washed_out_share: float | None = None  # of real play's own frames, under the same rule; None when unknown

    def washed_out(self, frames: np.ndarray) -> np.ndarray:
        """bool [F]: mean saturation or contrast of the frame below real play's 1st percentile."""
        return self.below_thresholds(frame_saturation(frames), frame_contrast(frames))

    def below_thresholds(self, saturation: np.ndarray, contrast: np.ndarray) -> np.ndarray:
        """bool [F] from per-frame saturation and contrast (float [F] each, 8-bit levels): the washed-out rule."""
        return (saturation < self.saturation_p1) | (contrast < self.contrast_p1)


def real_reference(data: str | Path, classifier: ClipClassifier, max_per_class: int = 300) -> RealReference:
    """Measure held-out real play of the capture `data` with `classifier` (module docstring).
    Raises DataError when `data` has no held-out play (see heldout_shards)."""
    shards = heldout_shards(data)
    wins, classes = collect_windows(data, "heldout", classes=classifier.classes, max_per_class=max_per_class)
    logp, feats = clip_scores(classifier, list(wins.frames))
    pred = logp.argmax(-1)
    adherence = {c: round(float((pred[wins.labels == k] == k).mean()), 3)
                 for k, c in enumerate(classes) if (wins.labels == k).any()}
    sat, con, flick, n = [], [], [], 0
    for s in shards:
        f = np.asarray(s.frames())
        sat.append(frame_saturation(f))
        con.append(frame_contrast(f))
        flick.append((flicker(f), len(f)))
        n += len(f)
    sat_all, con_all = np.concatenate(sat), np.concatenate(con)
    sat_p1, con_p1 = float(np.percentile(sat_all, 1)), float(np.percentile(con_all, 1))
    ref = RealReference(list(classes), feats, adherence, sat_p1, con_p1,
                        float(sum(v * k for v, k in flick) / max(sum(k for _, k in flick), 1)), n,
                        int(len(wins.labels)), [s.name for s in shards])
    ref.washed_out_share = float(ref.below_thresholds(sat_all, con_all).mean())
    return ref

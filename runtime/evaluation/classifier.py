"""The evaluation's small clip classifier: what the player does in a few frames of Crafter gameplay.

No pretrained video feature extractor can be downloaded here (DESIGN.md section 9), so quality is measured
in the feature space of this classifier, trained on the captioned training split of the Crafter capture:

- its penultimate features (`ClipClassifier.features`, `FEATURE_DIM` floats per window) are where the
  Frechet distance between real and generated video is computed;
- its prediction of the clip's *actor* event (the first clause of the caption: walks left / right / up /
  down, stands, sleeps, collects wood, fights a zombie, ...) is what prompt adherence checks.

A window is `WINDOW` consecutive frames; the network sees the frames and their differences stacked along
channels (early fusion), so it can tell which way the view scrolls. A longer clip is scored by averaging
the log-probabilities of its non-overlapping windows.

Classes are the actor event types with at least `min_clips` training clips; the rest of the clips are left
out of training (they would only blur the classes the evaluation asks about).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from runtime.model.checkpoint import atomic_directory, write_json_atomic
from sdk.errors import CheckpointError, ConfigError, ShapeError

WINDOW = 8  # frames per classifier window
FEATURE_DIM = 128
FORMAT = "streamdit-clip-classifier"


class ClipClassifier(nn.Module):
    """Early-fusion 2-D CNN over a window of frames.

    Input: uint8 or float frames [B, WINDOW, H, W, 3] (H = W = `size`, RGB; uint8 is scaled to [-1, 1]).
    `features()` gives float32 [B, FEATURE_DIM]; `forward()` gives logits float32 [B, len(classes)].
    """

    def __init__(self, classes: Sequence[str], size: int = 64, width: int = 48) -> None:
        super().__init__()
        if len(classes) < 2:
            raise ConfigError(f"a classifier needs at least two classes, got {list(classes)}")
        self.classes, self.size, self.width = list(classes), int(size), int(width)
        cin = 3 * WINDOW + 3 * (WINDOW - 1)
        w = width

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.GroupNorm(8, b), nn.SiLU(),
                                 nn.Conv2d(b, b, 3, padding=1), nn.GroupNorm(8, b), nn.SiLU())

        self.body = nn.Sequential(block(cin, w), block(w, 2 * w), block(2 * w, FEATURE_DIM),
                                  block(FEATURE_DIM, FEATURE_DIM))
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(FEATURE_DIM, len(self.classes))

    def _inputs(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 5 or frames.shape[1] != WINDOW or frames.shape[-1] != 3:
            raise ShapeError(f"classifier input must be [B, {WINDOW}, H, W, 3], got {tuple(frames.shape)}")
        x = frames.float()
        if frames.dtype == torch.uint8:
            x = x / 127.5 - 1.0
        x = x.permute(0, 1, 4, 2, 3)  # B, T, 3, H, W
        diff = (x[:, 1:] - x[:, :-1]) * 2.0
        return torch.cat([x.flatten(1, 2), diff.flatten(1, 2)], dim=1)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """[B, WINDOW, H, W, 3] -> float32 [B, FEATURE_DIM] (global average of the last block)."""
        return self.body(self._inputs(frames)).mean(dim=(2, 3))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(frames)))

    def config(self) -> dict:
        return {"format": FORMAT, "classes": self.classes, "size": self.size, "width": self.width,
                "window": WINDOW, "feature_dim": FEATURE_DIM}


def windows(video: np.ndarray) -> np.ndarray:
    """uint8 [F, H, W, 3] -> its non-overlapping windows, uint8 [F // WINDOW, WINDOW, H, W, 3].

    Raises ShapeError for a clip shorter than one window.
    """
    if video.ndim != 4 or video.shape[0] < WINDOW:
        raise ShapeError(f"need a video [F >= {WINDOW}, H, W, 3], got {video.shape}")
    n = video.shape[0] // WINDOW
    return video[: n * WINDOW].reshape(n, WINDOW, *video.shape[1:])


@torch.no_grad()
def clip_scores(model: ClipClassifier, videos: Sequence[np.ndarray], batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Score whole clips.

    Returns (log_probs float32 [len(videos), classes], the mean of each clip's windows; features float32
    [total windows, FEATURE_DIM], every window of every clip, in order).
    """
    model.eval()
    per_clip = [windows(v) for v in videos]
    flat = np.concatenate(per_clip)
    feats, logps = [], []
    for i in range(0, len(flat), batch):
        x = torch.from_numpy(flat[i: i + batch])
        f = model.features(x)
        feats.append(f.numpy())
        logps.append(F.log_softmax(model.head(f), dim=-1).numpy())
    feats_a, logp_a = np.concatenate(feats), np.concatenate(logps)
    out, k = [], 0
    for w in per_clip:
        out.append(logp_a[k: k + len(w)].mean(axis=0))
        k += len(w)
    return np.stack(out).astype(np.float32), feats_a.astype(np.float32)


def save_classifier(model: ClipClassifier, directory: str | Path, extra: dict | None = None) -> Path:
    """Atomically write `classifier.safetensors` + `config.json` (fp32, under 2 MB) to `directory`."""
    with atomic_directory(directory, carry_over=True) as tmp:
        save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()},
                  str(tmp / "classifier.safetensors"), metadata={"format": FORMAT})
        write_json_atomic(tmp / "config.json", {**model.config(), **(extra or {})})
    return Path(directory)


def load_classifier(directory: str | Path) -> ClipClassifier:
    """Load a classifier written by `save_classifier`.

    Raises CheckpointError when the directory, its config or its weights are missing, unreadable or do not
    match each other (nothing is half-loaded).
    """
    directory = Path(directory)
    try:
        cfg = json.loads((directory / "config.json").read_text())
        if cfg.get("format") != FORMAT or cfg.get("window") != WINDOW:
            raise CheckpointError(f"{directory}/config.json is not a {FORMAT} config with window {WINDOW}")
        model = ClipClassifier(cfg["classes"], cfg["size"], cfg["width"])
        state = load_file(str(directory / "classifier.safetensors"))
        model.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as e:  # missing file, bad JSON, bad safetensors header, shape mismatch
        raise CheckpointError(f"cannot load the clip classifier from {directory}: {e}; train one with "
                              f"`streamdit eval --retrain-classifier`") from e
    return model.eval()


@dataclass
class LabelledWindows:
    """Training windows of one split: frames uint8 [N, WINDOW, H, W, 3] and class indices int64 [N]."""

    frames: np.ndarray
    labels: np.ndarray


def actor_type(event_types: Sequence[str]) -> str | None:
    """The actor event type of a caption's event types (the first in caption order), or None."""
    from runtime.data.events import EVENTS

    for t in event_types:
        if t in EVENTS and EVENTS[t].group == "actor":
            return t
    return None


def collect_windows(root: str | Path, split: str, min_clips: int = 150, classes: Sequence[str] | None = None,
                    stride: int = 4, max_per_class: int = 4000, seed: int = 0) -> tuple[LabelledWindows, list[str]]:
    """Label every WINDOW-frame window of a split with its actor event type.

    classes: keep these types (in this order); None picks every actor type with >= min_clips windows,
    sorted by name. At most max_per_class windows per class are kept (random, seeded).
    Returns (windows, classes). Raises ConfigError when fewer than two classes qualify.
    """
    from runtime.training.data.dataset import CrafterClips

    ds = CrafterClips(root, WINDOW, split=split, stride=stride, cache_episodes=2)  # type: ignore[arg-type]
    by_type: dict[str, list[int]] = {}
    for i in range(len(ds)):
        t = actor_type(ds.caption(i)[1])
        if t is not None:
            by_type.setdefault(t, []).append(i)
    if classes is None:
        classes = sorted(t for t, idx in by_type.items() if len(idx) >= min_clips)
    if len(classes) < 2:
        raise ConfigError(f"only {len(classes)} actor event types have >= {min_clips} windows in {root} "
                          f"({ {t: len(v) for t, v in by_type.items()} }); capture more episodes")
    rng = np.random.default_rng(seed)
    picks: list[tuple[int, int]] = []
    for k, t in enumerate(classes):
        idx = by_type.get(t, [])
        if len(idx) > max_per_class:
            idx = list(rng.choice(idx, max_per_class, replace=False))
        picks.extend((i, k) for i in idx)
    picks.sort()  # episode order: the shard cache stays warm
    frames = np.stack([ds[i][0] for i, _ in picks]) if picks else np.zeros((0, WINDOW, 1, 1, 3), np.uint8)
    labels = np.asarray([k for _, k in picks], np.int64)
    return LabelledWindows(frames, labels), list(classes)


def train_classifier(train: LabelledWindows, classes: Sequence[str], *, steps: int = 1500, batch: int = 64,
                     lr: float = 1e-3, seed: int = 0, heldout: LabelledWindows | None = None,
                     on_step: Callable[[int, float], None] | None = None) -> tuple[ClipClassifier, dict]:
    """Train a ClipClassifier on labelled windows with class-balanced batches, AdamW and a cosine schedule.

    No flips or crops: they would change which way the view scrolls, which is what the labels say.
    Returns (model in eval mode, report dict: train_loss, heldout_balanced_accuracy when `heldout` is
    given (mean per-class accuracy on single windows), seconds, steps, train_windows)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    size = train.frames.shape[2]
    model = ClipClassifier(classes, size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    by_class = [np.flatnonzero(train.labels == k) for k in range(len(classes))]
    by_class = [b for b in by_class if len(b)]
    t0, loss_ema = time.time(), math.nan
    model.train()
    for step in range(steps):
        ks = rng.integers(0, len(by_class), batch)
        idx = np.asarray([rng.choice(by_class[k]) for k in ks])
        x = torch.from_numpy(train.frames[idx])
        y = torch.from_numpy(train.labels[idx])
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        loss_ema = lv if math.isnan(loss_ema) else 0.98 * loss_ema + 0.02 * lv
        if on_step:
            on_step(step, loss_ema)
    model.eval()
    report = {"train_loss": round(loss_ema, 4), "seconds": round(time.time() - t0, 1), "steps": steps,
              "train_windows": int(len(train.labels))}
    if heldout is not None and len(heldout.labels):
        report["heldout_balanced_accuracy"] = round(balanced_accuracy(model, heldout), 4)
    return model, report


@torch.no_grad()
def balanced_accuracy(model: ClipClassifier, data: LabelledWindows, batch: int = 128) -> float:
    """Mean over classes of the per-class accuracy on single windows."""
    model.eval()
    pred = np.concatenate([model(torch.from_numpy(data.frames[i: i + batch])).argmax(-1).numpy()
                           for i in range(0, len(data.labels), batch)])
    accs = [float((pred[data.labels == k] == k).mean()) for k in np.unique(data.labels)]
    return float(np.mean(accs))

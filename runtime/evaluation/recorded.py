"""Evaluation against held-out recorded footage, for any game (issue 17; DESIGN.md section 11).

The data is an import (`runtime.data.importer`): its manifest names the recording, its vocabulary captions
the windows. Classes are the vocabulary's event types: each classifier window (WINDOW frames) is labelled with
the event type behind its caption, and types with at least `min_windows` training windows are kept. Then:

- a `ClipClassifier` is trained on the training shards' windows (`train_classifier`), checked on the held-out
  shards' (balanced accuracy);
- each model (the fitted student, the same network untrained) streams one clip per held-out prompt (the
  caption of a held-out window, balanced over classes), and `measure` gives the Frechet distance of its
  windows' classifier features to the held-out real windows', prompt adherence (the classifier names the
  prompt's class), dynamic degree, seam ratio and flicker;
- direction: for every class, the mean whole-frame horizontal shift (px/frame, + = content moves right) of
  the real held-out windows of that class and of the clips generated from its prompts; a class "pans the
  right way" when both move the same way by more than `min_pan` px/frame.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from runtime.data.recording import read_recording
from runtime.data.vocabulary import Vocabulary
from runtime.evaluation.classifier import WINDOW, LabelledWindows, clip_scores, train_classifier
from runtime.data.split import split_episodes
from runtime.training.metrics import mean_shift
from sdk.errors import ConfigError


def labelled_windows(data: str | Path, split: str, *, heldout_fraction: float = 0.1, stride: int = 4,
                     classes: list[str] | None = None, min_windows: int = 20, max_per_class: int = 2000,
                     seed: int = 0) -> tuple[LabelledWindows, list[str], list[str]]:
    """Labelled WINDOW-frame windows of one split of an import.

    Returns (windows: frames uint8 [N, WINDOW, H, W, 3] + labels int64 [N], classes, captions [N]).
    Raises ConfigError when fewer than two event types have `min_windows` windows (record more footage).
    """
    data = Path(data)
    manifest = json.loads((data / "manifest.json").read_text())
    train, held = split_episodes(list(manifest["capture_episodes"]), heldout_fraction)
    names = set(train if split == "train" else held)
    vocab = Vocabulary.parse((data / "vocabulary.toml").read_text(), fps=float(manifest["fps"]),
                             frames_per_chunk=int(manifest["temporal_factor"]))
    by_type: dict[str, list[tuple[np.ndarray, str]]] = {}
    for shard in read_recording(manifest["recording"]).shards:
        if shard.name not in names:
            continue
        frames = shard.frames()
        starts = list(range(0, shard.num_frames - WINDOW + 1, stride))
        for s, (cap, types) in zip(starts, vocab.window_captions(shard.events, shard.num_frames, WINDOW, starts)):
            if types:
                by_type.setdefault(types[0], []).append((np.array(frames[s: s + WINDOW]), cap))
    if classes is None:
        classes = sorted(t for t, v in by_type.items() if len(v) >= min_windows)
    if len(classes) < 2:
        raise ConfigError(f"only {len(classes)} event types have >= {min_windows} windows in the {split} shards of "
                          f"{data} ({ {t: len(v) for t, v in by_type.items()} }): record more footage")
    rng = np.random.default_rng(seed)
    picks: list[tuple[np.ndarray, str, int]] = []
    for k, t in enumerate(classes):
        items = by_type.get(t, [])
        if len(items) > max_per_class:
            items = [items[i] for i in rng.choice(len(items), max_per_class, replace=False)]
        picks.extend((f, c, k) for f, c in items)
    frames = np.stack([p[0] for p in picks]) if picks else np.zeros((0, WINDOW, 1, 1, 3), np.uint8)
    return LabelledWindows(frames, np.asarray([p[2] for p in picks], np.int64)), list(classes), [p[1] for p in picks]


def pan(videos: list[np.ndarray]) -> float:
    """Mean horizontal whole-frame shift of clips uint8 [F, H, W, 3], px/frame (+ = content moves right)."""
    if not videos:
        return float("nan")
    return float(np.mean([mean_shift(v, max_shift=max(1, min(9, v.shape[1] // 4, v.shape[2] // 4)))[0]
                          for v in videos]))


def evaluate_fit(checkpoint: str | Path, data: str | Path, out: str | Path, *, classifier_steps: int = 600,
                 per_class: int = 4, frames: int = 16, heldout_fraction: float = 0.1, min_windows: int = 20,
                 min_pan: float = 0.1, seed: int = 0) -> dict[str, Any]:
    """Train the clip classifier on the import's training shards and evaluate `checkpoint` on the held-out ones.

    Args:
        checkpoint: a servable checkpoint directory (the fitted student).
        data: the import it was fitted on. out: where eval.json and contact_sheet.png are written.
        classifier_steps: classifier optimizer steps. per_class: generated clips per class.
        frames: video frames per generated clip (>= WINDOW).

    Returns: the eval.json dict: rows (real, fitted, untrained), chance, classifier report, direction table.
    Raises: ConfigError (too few classes, frames < WINDOW), CheckpointError (a bad checkpoint).
    """
    from runtime.evaluation.classifier import save_classifier
    from runtime.evaluation.evaluate import Row, calls_per_frame, contact_sheet, generate_batch, measure, save_report
    from runtime.evaluation.evaluate import untrained_like
    from runtime.pipeline import StreamDiTPipeline

    if frames < WINDOW:
        raise ConfigError(f"frames must be >= the classifier window {WINDOW}, got {frames}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train, classes, _ = labelled_windows(data, "train", heldout_fraction=heldout_fraction, min_windows=min_windows,
                                         seed=seed)
    held, _, held_caps = labelled_windows(data, "heldout", heldout_fraction=heldout_fraction, classes=classes,
                                          seed=seed)
    clf, clf_report = train_classifier(train, classes, steps=classifier_steps, heldout=held, seed=seed)
    save_classifier(clf, out / "classifier", {"classes": classes, "data": str(data)})
    rng = np.random.default_rng(seed)
    prompts: list[tuple[str, int, np.ndarray]] = []
    for k in range(len(classes)):
        idx = np.flatnonzero(held.labels == k)
        for i in rng.choice(idx, min(per_class, len(idx)), replace=False) if len(idx) else []:
            prompts.append((held_caps[i], k, held.frames[i]))
    if not prompts:
        raise ConfigError(f"no held-out windows of the classes {classes} in {data}: record more footage")
    _, ref_feats = clip_scores(clf, list(held.frames))
    pipe = StreamDiTPipeline.from_checkpoint(checkpoint)
    scheme = pipe.scheme()
    tf = int(pipe.autoencoder.temporal_factor) if hasattr(pipe.autoencoder, "temporal_factor") else 1
    rows, videos = [], {}
    real = [p[2] for p in prompts]
    labels = [p[1] for p in prompts]
    rows.append(measure("real (held out)", "-", real, labels, clf, ref_feats, scheme.c))
    for name, model in (("fitted", pipe), ("untrained", untrained_like(pipe, seed))):
        t = time.time()
        vids = generate_batch(model, [p[0] for p in prompts], frames, scheme, seeds=list(range(len(prompts))))
        videos[name] = vids
        rows.append(measure(name, scheme.describe(), vids, labels, clf, ref_feats, scheme.c,
                            calls_per_frame(scheme, tf), time.time() - t))
    direction = []
    for k, c in enumerate(classes):
        r = pan([held.frames[i] for i in np.flatnonzero(held.labels == k)])
        g = pan([v for v, lab in zip(videos["fitted"], labels) if lab == k])
        follows = bool(abs(r) > min_pan and abs(g) > min_pan and np.sign(r) == np.sign(g))
        direction.append({"class": c, "real_pan_px_per_frame": round(r, 3), "fitted_pan_px_per_frame": round(g, 3),
                          "pans_the_right_way": follows})
    contact_sheet([("real (held out)", real[:8]), ("fitted", videos["fitted"][:8]),
                   ("untrained", videos["untrained"][:8])], out / "contact_sheet.png")
    chance = 1.0 / len(classes)
    fd = {r.name: r.frechet for r in rows}
    extra = {"checkpoint": str(checkpoint), "data": str(data), "classes": classes, "chance": round(chance, 4),
             "classifier": clf_report, "direction": direction,
             "fd_ratio_untrained_over_fitted": round(fd["untrained"] / max(fd["fitted"], 1e-9), 3),
             "adherence_over_chance": round(next(r.adherence for r in rows if r.name == "fitted") / chance, 3),
             "seconds": round(time.time() - t0, 1)}
    save_report(out, rows, extra)
    return {"rows": [r.__dict__ for r in rows if isinstance(r, Row)], **extra}

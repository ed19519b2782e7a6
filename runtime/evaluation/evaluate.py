"""`streamdit eval`: DESIGN.md section 9 against held-out real Crafter gameplay.

Prompts come from held-out clips: for every classifier class (an actor event type, e.g. walking left),
`per_class` held-out clips of that class are drawn, and their captions become the prompts. Every row of
the table generates one clip per prompt and is measured the same way:

- Frechet distance: between the classifier features of the row's windows and those of a disjoint set of
  held-out real windows (the reference). The real row gets the same treatment, so its value is the floor
  set by sampling noise at this number of clips;
- prompt adherence: the share of clips whose classifier prediction (mean log-probability over the clip's
  windows) is the prompted class; chance is one over the number of classes (the prompts are balanced);
- dynamic degree: mean Farneback flow magnitude, pixels per frame;
- seam ratio: mean frame difference across chunk boundaries over that within chunks (for the real row,
  measured as if the clip came in chunks of the teacher's size: a real clip has no seams, so ~1.0);
- flicker: mean absolute difference of consecutive frames, 8-bit levels.

Rows: real held-out clips; the teacher streaming with its default scheme (c = 2); the same checkpoint with
diagonal c = 1 sampling (FIFO-style); chunked extension (N = 1, K reference frames); the FIFO-style baseline
(a checkpoint trained on uniform noise only, c = B, sampled diagonally); an untrained model of the same size
(for the Frechet distance). Every generated row spends the same model calls per frame. All streams of a row
run as one batch in one StreamingSampler.

Spread: every figure of a row also gets its bootstrap standard deviation over the row's clips (`SPREAD_RESAMPLES`
resamples of the clips with replacement, the reference set fixed): how much the figure moves when other clips
of the same kind are drawn, so that a difference of one clip is not read as a result.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from runtime.evaluation.classifier import ClipClassifier, actor_type, clip_scores
from runtime.training.data.capture import crafter_view
from runtime.pipeline import StreamDiTPipeline
from runtime.sampling.partition import PartitionScheme
from runtime.training.metrics import flicker, frechet_distance, mean_flow, mean_shift, seam_ratio
from sdk.errors import ConfigError, DataError


@dataclass
class EvalPrompt:
    """One prompt of the evaluation: a held-out clip's caption, its class, and the real clip itself."""

    caption: str
    label: int
    real: np.ndarray  # uint8 [frames, H, W, 3]


@dataclass
class Row:
    """One line of the table. Frechet distance is lower-better; adherence is a share in [0, 1]."""

    name: str
    scheme: str
    clips: int
    frechet: float
    adherence: float
    dynamic_degree: float
    seam_ratio: float | None  # None for one-frame chunks (no within-chunk pairs to compare with)
    flicker: float
    calls_per_frame: float | None = None
    seconds: float = 0.0
    per_class: dict = field(default_factory=dict)
    spread: dict = field(default_factory=dict)  # bootstrap std over clips: frechet, adherence, dynamic_degree, flicker


SPREAD_RESAMPLES = 200
"""Bootstrap resamples of a row's clips for `Row.spread`."""


def bootstrap_spread(window_features: np.ndarray, windows_per_clip: Sequence[int], correct: np.ndarray,
                     dynamic: np.ndarray, flick: np.ndarray, reference_features: np.ndarray,
                     resamples: int = SPREAD_RESAMPLES, seed: int = 0) -> dict[str, float]:
    """Bootstrap standard deviation of a row's figures over its clips (Efron's bootstrap).

    window_features: float32 [total windows, D], every window of every clip in clip order; windows_per_clip:
    [clips] ints; correct: bool [clips] (classifier prediction == prompted class); dynamic, flick: float
    [clips], per-clip dynamic degree (px/frame) and flicker (levels). Each resample draws `clips` clips with
    replacement (with all their windows) and recomputes the Frechet distance against the fixed reference
    set, the adherence, the dynamic degree and the flicker. Returns {"frechet", "adherence",
    "dynamic_degree", "flicker"}: the standard deviations over resamples (same units as the figures).
    Deterministic for a given seed.
    """
    n = len(windows_per_clip)
    starts = np.concatenate([[0], np.cumsum(windows_per_clip)[:-1]]).astype(int)
    rng = np.random.default_rng(seed)
    fd, ad, dd, fl = [], [], [], []
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        rows = np.concatenate([np.arange(starts[i], starts[i] + windows_per_clip[i]) for i in pick])
        fd.append(frechet_distance(window_features[rows], reference_features))
        ad.append(correct[pick].mean())
        dd.append(dynamic[pick].mean())
        fl.append(flick[pick].mean())
    return {"frechet": round(float(np.std(fd)), 2), "adherence": round(float(np.std(ad)), 3),
            "dynamic_degree": round(float(np.std(dd)), 3), "flicker": round(float(np.std(fl)), 2)}


def pick_prompts(root: str | Path, classes: Sequence[str], per_class: int, frames: int, n_reference: int,
                 seed: int = 0) -> tuple[list[EvalPrompt], np.ndarray]:
    """Balanced prompts from held-out clips of `frames` frames, and disjoint reference clips.

    Returns (prompts, reference clips uint8 [n, frames, H, W, 3]); the reference clips are held-out clips
    of any class that are not among the prompts' clips and do not overlap them in time. A class with fewer
    than per_class held-out clips gets no prompts (RuntimeWarning naming it).
    Raises DataError when fewer than two classes get prompts or too few reference clips remain.
    """
    from runtime.training.data.dataset import CrafterClips

    ds = CrafterClips(root, frames, split="heldout", stride=frames // 2, cache_episodes=2)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    captions: dict[int, str] = {}
    for i in range(len(ds)):
        caption, types = ds.caption(i)
        t = actor_type(types)
        if t in classes:
            by_class.setdefault(classes.index(t), []).append(i)
            captions[i] = caption
    chosen: list[tuple[int, int]] = []
    short = []
    for k, t in enumerate(classes):
        idx = by_class.get(k, [])
        if len(idx) < per_class:
            short.append(f"{t} ({len(idx)})")
            continue
        chosen.extend((int(i), k) for i in rng.choice(idx, per_class, replace=False))
    if short:
        warnings.warn(f"held-out data has fewer than {per_class} clips of {frames} frames for {', '.join(short)}; "
                      f"those classes get no prompts (lower --per-class or --frames, or capture more episodes)",
                      RuntimeWarning, stacklevel=2)
    if len({k for _, k in chosen}) < 2:
        raise DataError(f"held-out data in {root} has prompts for fewer than two classes at --per-class "
                        f"{per_class} and --frames {frames}; lower them or capture more episodes")
    used = {ds.location(i) for i, _ in chosen}

    def overlaps(i: int) -> bool:
        name, start = ds.location(i)
        return any(name == other and abs(start - t) < frames for other, t in used)

    rest = [i for i in range(len(ds)) if not overlaps(i)]
    rest = list(rng.choice(rest, min(n_reference, len(rest)), replace=False)) if rest else []
    if len(rest) < 2:
        raise DataError("too few held-out clips left for the Frechet reference set; capture more episodes")
    prompts = [EvalPrompt(captions[i], k, ds[i][0]) for i, k in chosen]
    reference = np.stack([ds[int(i)][0] for i in sorted(rest)])
    return prompts, reference


@torch.no_grad()
def generate_batch(pipe: StreamDiTPipeline, prompts: Sequence[str], frames: int, scheme: PartitionScheme, *,
                   seeds: Sequence[int] | None = None, skip_frames: int = 0, guidance_scale: float | None = None,
                   on_step: Callable[[int, int], None] | None = None,
                   starts: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Stream one clip per prompt, all as one batch of streams in one StreamingSampler.

    Each stream drops its first `skip_frames` video frames and keeps the next `frames`.
    starts: optional uint8 video [B * tf, H, W, 3] per prompt (B the scheme's buffer in latent frames, tf the
    autoencoder's temporal factor): the stream's buffer is filled from it without a model call, each chunk noised
    to its staircase level (`StreamingSampler.add_stream` with start_step = steps_to_fill), so the stream
    continues that footage; its first B * tf emitted frames still carry it.
    Returns a list of uint8 [frames, H, W, 3]. on_step(frames_done_by_slowest, frames) reports progress.
    Raises ConfigError when `starts` does not give one clip per prompt, ShapeError for a clip of the wrong shape.
    """
    smp = pipe.sampler(scheme, guidance_scale)
    seeds = list(seeds) if seeds is not None else list(range(len(prompts)))
    if starts is not None and len(starts) != len(prompts):
        raise ConfigError(f"starts gives {len(starts)} clips for {len(prompts)} prompts; give one per prompt")
    start_kw = ([{"start": pipe.encode(v), "start_step": scheme.steps_to_fill} for v in starts]
                if starts is not None else [{}] * len(prompts))
    ids = [smp.add_stream(*pipe.text_encoder.encode_one(p), seed=s, **kw)
           for p, s, kw in zip(prompts, seeds, start_kw)]
    out: dict[int, list[np.ndarray]] = {i: [] for i in ids}
    need = frames + skip_frames

    def done(i: int) -> int:
        return sum(len(f) for f in out[i])

    while min(done(i) for i in ids) < need:
        for chunk in smp.step():
            if done(chunk.stream_id) < need:
                out[chunk.stream_id].append(pipe.decode(chunk.latent))
        if on_step:
            on_step(max(0, min(done(i) for i in ids) - skip_frames), frames)
    return [np.concatenate(out[i])[skip_frames: need] for i in ids]


def measure(name: str, scheme: str, videos: Sequence[np.ndarray], labels: Sequence[int], classifier: ClipClassifier,
            reference_features: np.ndarray, chunk_frames: int, calls_per_frame: float | None = None,
            seconds: float = 0.0) -> Row:
    """The five measures of one row (see the module docstring), each with its bootstrap spread over clips.

    videos: uint8 [F, H, W, 3] clips, one per prompt; labels: the prompted class of each; reference_features:
    float32 [windows, D] of the real reference set; chunk_frames: video frames per chunk (c * temporal factor).
    """
    from runtime.evaluation.classifier import windows

    logp, feats = clip_scores(classifier, videos)
    pred = logp.argmax(-1)
    labels_a = np.asarray(labels)
    per_class = {classifier.classes[k]: round(float((pred[labels_a == k] == k).mean()), 3)
                 for k in np.unique(labels_a)}
    dynamic = np.array([mean_flow(v).magnitude for v in videos], np.float64)
    flick = np.array([flicker(v) for v in videos], np.float64)
    spread = bootstrap_spread(feats, [len(windows(v)) for v in videos], pred == labels_a, dynamic, flick,
                              reference_features)
    return Row(
        name=name, scheme=scheme, clips=len(videos),
        frechet=round(frechet_distance(feats, reference_features), 2),
        adherence=round(float((pred == labels_a).mean()), 3),
        dynamic_degree=round(float(dynamic.mean()), 3),
        seam_ratio=(round(float(np.mean([seam_ratio(v, chunk_frames) for v in videos])), 3)
                    if chunk_frames >= 2 else None),  # c = 1: every pair crosses a boundary, no ratio
        flicker=round(float(flick.mean()), 2),
        calls_per_frame=calls_per_frame, seconds=round(seconds, 1), per_class=per_class, spread=spread)


def untrained_like(pipe: StreamDiTPipeline, seed: int = 0) -> StreamDiTPipeline:
    """The same pipeline with a freshly initialised DiT of the same config (autoencoder and text encoder kept)."""
    from runtime.model.dit import StreamDiT

    torch.manual_seed(seed)
    model = StreamDiT(pipe.model.cfg).to(pipe.device).eval()
    return StreamDiTPipeline(model, pipe.autoencoder, pipe.text_encoder, pipe.config, pipe.device)


def calls_per_frame(scheme: PartitionScheme, temporal_factor: int = 1) -> float:
    """Model calls (one batched CFG pass each) per emitted video frame once streaming: s / (c * tf)."""
    return scheme.s / (scheme.c * temporal_factor)


SCROLL_KEYS = ("shift_dx", "shift_dy", "flow_dx", "flow_dy")


def scroll_measure(video: np.ndarray) -> dict[str, float]:
    """Which way a Crafter clip's view scrolls, uint8 [F, S, S, 3] -> pixels per frame (+x: content moves
    right, +y: down).

    shift_*: mean whole-frame integer shift (`mean_shift`); flow_*: mean Farneback flow. Both read only the
    world rows, without the player sprite (`crafter_view`): the inventory bar and the player stay put on
    screen and would pin the estimate to zero.
    """
    rows, player = crafter_view(int(video.shape[1]))
    view = video[:, :rows]
    dx, dy = mean_shift(view, ignore=player)
    f = mean_flow(view)
    return dict(zip(SCROLL_KEYS, (dx, dy, f.dx, f.dy)))


WALK_AXIS = {"left": ("shift_dx", +1), "right": ("shift_dx", -1), "up": ("shift_dy", +1), "down": ("shift_dy", -1)}
"""Walking direction -> (the shift that should follow it, its sign): the view follows the player, so walking
left moves the content right (+dx), walking up moves it down (+dy)."""


def direction_clips(pipe: StreamDiTPipeline, frames: int = 96, seeds: Sequence[int] = (0,), terrain: str = "grass",
                    on_step: Callable[[int, int], None] | None = None,
                    starts: dict[str, Sequence[np.ndarray]] | None = None) -> list[tuple[str, int, np.ndarray]]:
    """One clip of `frames` generated frames per (walking prompt, seed), all streams in one batch:
    [(prompt, seed, uint8 [frames, H, W, 3])], prompts "the player walks {left,right,up,down} across the
    {terrain}" in that order, each with every seed.

    starts: optional {direction: one uint8 clip [B * tf, H, W, 3] per seed} (`real_walk_starts`): each stream then
    continues real footage of its own walk (its buffer filled from the clip, see `generate_batch`), and the
    returned frames are the `frames` after the B * tf frames that still carry the clip, so they are generated
    from fresh noise under the prompt alone. That tells "cannot start a scroll" from "cannot keep one going".
    Raises ConfigError when starts lacks a direction or a clip for a seed.
    """
    prompts = [f"the player walks {d} across the {terrain}" for d in WALK_AXIS for _ in seeds]
    seed_list = [s for _ in WALK_AXIS for s in seeds]
    scheme, clips, skip = pipe.scheme(), None, 0
    if starts is not None:
        short = [d for d in WALK_AXIS if len(starts.get(d, ())) < len(seeds)]
        if short:
            raise ConfigError(f"starts has fewer clips than the {len(seeds)} seeds for {short}; "
                              f"pass fewer seeds or capture more held-out walking clips")
        clips = [starts[d][k] for d in WALK_AXIS for k in range(len(seeds))]
        skip = scheme.B * pipe.temporal_factor
    vids = generate_batch(pipe, prompts, frames, scheme, seeds=seed_list, on_step=on_step, starts=clips,
                          skip_frames=skip)
    return list(zip(prompts, seed_list, vids))


def direction_table(clips: Sequence[tuple[str, int, np.ndarray]]) -> list[dict]:
    """Does "the player walks left" scroll the view right? `scroll_measure` of each clip of `direction_clips`.
    Returns one dict per (prompt, seed): prompt, seed, frames and the SCROLL_KEYS in px/frame."""
    return [{"prompt": p, "seed": s, "frames": len(v), **{k: round(x, 3) for k, x in scroll_measure(v).items()}}
            for p, s, v in clips]


def direction_summary(table: Sequence[dict]) -> list[dict]:
    """Per walking direction, the mean of `direction_table` rows over seeds, and whether it follows the prompt:
    `follows` is True when the shift along the walk's axis has the sign of real play (WALK_AXIS) and is
    larger than the shift across it. Returns [{"direction", "seeds", "shift_dx", "shift_dy", "along",
    "across", "follows"}], px/frame."""
    out = []
    for d, (key, sign) in WALK_AXIS.items():
        rows = [r for r in table if r["prompt"].startswith(f"the player walks {d} ")]
        if not rows:
            continue
        dx, dy = (float(np.mean([r[k] for r in rows])) for k in ("shift_dx", "shift_dy"))
        along, across = (dx, dy) if key == "shift_dx" else (dy, dx)
        out.append({"direction": d, "seeds": len(rows), "shift_dx": round(dx, 3), "shift_dy": round(dy, 3),
                    "along": round(sign * along, 3), "across": round(abs(across), 3),
                    "follows": bool(sign * along > abs(across))})
    return out


def real_direction_table(root: str | Path, frames: int = 32, max_clips: int = 40) -> list[dict]:
    """The same measure on held-out real clips captioned with each walking direction (the reference):
    the mean of `scroll_measure` over up to max_clips clips per direction."""
    from runtime.training.data.dataset import CrafterClips

    ds = CrafterClips(root, frames, split="heldout", stride=frames // 2, cache_episodes=2)
    acc: dict[str, list[dict[str, float]]] = {}
    for i in range(len(ds)):
        t = actor_type(ds.caption(i)[1])
        if t is None or not t.startswith("player_moves_") or len(acc.get(t, [])) >= max_clips:
            continue  # decided from the caption alone: only walking clips' frames are read
        acc.setdefault(t, []).append(scroll_measure(ds[i][0]))
    return [{"event": t, "clips": len(v), **{k: round(float(np.mean([r[k] for r in v])), 3) for k in SCROLL_KEYS}}
            for t, v in sorted(acc.items())]


def real_walk_starts(root: str | Path, frames: int, clips: int, seed: int = 0,
                     min_shift: float = 1.0) -> tuple[dict[str, list[np.ndarray]], list[dict]]:
    """Held-out real clips of each walking direction, to start `direction_clips` from (its `starts`).

    root: a Crafter capture; frames: video frames per clip (the buffer, B * tf); clips: clips per direction.
    Only clips captioned with the walk whose view really scrolls that way (`scroll_measure` along WALK_AXIS at
    least `min_shift` px/frame) are kept, so the start is a walk in progress; `seed` picks which of them
    (a seeded shuffle). Returns ({direction: [uint8 [frames, H, W, 3]] * clips}, [{"direction", "clips",
    "shift_dx", "shift_dy"}] the mean scroll of the kept clips in px/frame).
    Raises ConfigError when a direction has fewer than `clips` such clips.
    """
    from runtime.evaluation.response import walk_direction
    from runtime.training.data.dataset import CrafterClips

    ds = CrafterClips(root, frames, split="heldout", stride=max(1, frames // 2), cache_episodes=2)
    found: dict[str, list[tuple[np.ndarray, dict[str, float]]]] = {d: [] for d in WALK_AXIS}
    for i in range(len(ds)):
        t = actor_type(ds.caption(i)[1])
        d = walk_direction(t) if t is not None else None
        if d is None:
            continue
        video = ds[i][0]
        m = scroll_measure(video)
        key, sign = WALK_AXIS[d]
        if sign * m[key] >= min_shift:
            found[d].append((video, m))
    short = {d: len(v) for d, v in found.items() if len(v) < clips}
    if short:
        raise ConfigError(f"the held-out part of {root} has too few walking clips that scroll at least {min_shift} "
                          f"px/frame: {short} (need {clips} each); pass fewer --direction-seeds or capture more "
                          f"episodes (streamdit data crafter --episodes N)")
    rng = np.random.default_rng(seed)
    starts, summary = {}, []
    for d, v in found.items():
        pick = [v[j] for j in sorted(rng.choice(len(v), size=clips, replace=False))]
        starts[d] = [video for video, _ in pick]
        summary.append({"direction": d, "clips": clips, "candidates": len(v),
                        **{k: round(float(np.mean([m[k] for _, m in pick])), 3) for k in ("shift_dx", "shift_dy")}})
    return starts, summary


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]]], path: str | Path, frames_shown: int = 8,
                  scale: int = 2) -> Path:
    """A PNG grid: one band per row name, one line per clip, `frames_shown` evenly spaced frames each.

    rows: (label, clips uint8 [F, H, W, 3]). Written atomically. Returns the path.
    """
    import cv2

    from runtime.model.checkpoint import write_bytes_atomic

    bands = []
    for label, clips in rows:
        lines = []
        for v in clips:
            idx = np.linspace(0, len(v) - 1, frames_shown).round().astype(int)
            lines.append(np.concatenate([np.pad(v[i], ((1, 1), (1, 1), (0, 0))) for i in idx], axis=1))
        band = np.concatenate(lines, axis=0)
        band = np.repeat(np.repeat(band, scale, 0), scale, 1)
        head = np.full((22, band.shape[1], 3), 255, np.uint8)
        cv2.putText(head, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        bands.append(np.concatenate([head, band], axis=0))
    width = max(b.shape[1] for b in bands)
    sheet = np.concatenate([np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255)
                            for b in bands], axis=0)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ConfigError(f"could not encode the contact sheet {path}")
    write_bytes_atomic(Path(path), png.tobytes())
    return Path(path)


def markdown_table(rows: Sequence[Row], chance: float) -> str:
    """The evaluation table as Markdown; a figure with a bootstrap spread is written `value ± std`."""
    def fig(r: Row, key: str, fmt: str) -> str:
        v = f"{getattr(r, key):{fmt}}"
        return v if key not in r.spread else f"{v} ± {r.spread[key]:{fmt}}"

    head = ("| row | scheme | clips | Frechet distance (lower is better) | prompt adherence (chance "
            f"{chance:.3f}) | dynamic degree (px/frame) | seam ratio | flicker (levels) | model calls per frame |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {r.name} | {r.scheme} | {r.clips} | {fig(r, 'frechet', '.2f')} | {fig(r, 'adherence', '.3f')} | "
                   f"{fig(r, 'dynamic_degree', '.3f')} | "
                   f"{'n/a (c = 1)' if r.seam_ratio is None else f'{r.seam_ratio:.3f}'} | "
                   f"{fig(r, 'flicker', '.2f')} | "
                   f"{'-' if r.calls_per_frame is None else f'{r.calls_per_frame:g}'} |\n" for r in rows)
    return head + body


def save_report(out: Path, rows: Sequence[Row], extra: dict) -> None:
    """Write eval.json (rows + extra) atomically."""
    from runtime.model.checkpoint import write_json_atomic

    write_json_atomic(out / "eval.json", {"rows": [asdict(r) for r in rows], **extra,
                                          "written": time.strftime("%Y-%m-%d %H:%M:%S")})


SEED_FIGURES = ("frechet", "adherence", "dynamic_degree", "seam_ratio", "flicker")
"""The figures `seed_summary` averages over runs."""


def seed_summary(reports: Sequence[dict], names: Sequence[str] | None = None) -> list[dict]:
    """Mean and sample standard deviation of every row's figures over several `streamdit eval` runs.

    reports: parsed eval.json files (usually one per --seed and per row set; each run's prompts, streams and
    reference set follow its seed). names: what to call each report in errors (default "eval report k").
    Rows are matched by name and scheme (so two students of other buffers stay apart); a row missing from some
    runs is averaged over the runs that have it; a row that two runs measured at the same seed (the real row
    of every run of a seed) counts once. Returns one dict per row, in first-seen order: {"name", "scheme",
    "runs", "seeds", and per figure in SEED_FIGURES "<figure>": mean, "<figure>_std": std (None for one run or
    a figure that is None, as the c = 1 seam ratio)}.
    Raises DataError when a report has no rows (an unfinished or foreign file), when the reports name
    different data fingerprints (measured on different captures: figures compare only within one), or when
    one row at one seed has other figures in two runs.
    """
    names = list(names) if names is not None else [f"eval report {k}" for k in range(len(reports))]
    prints = {n: rep["data_fingerprint"] for n, rep in zip(names, reports) if rep.get("data_fingerprint")}
    if len(set(prints.values())) > 1:
        raise DataError("these runs were measured on different data: "
                        + "; ".join(f"{n}: {fp}" for n, fp in prints.items())
                        + " (figures compare only within one capture: measure every row on the same --data)")
    by_key: dict[tuple[str, str], dict[Any, tuple[str, dict]]] = {}  # (name, scheme) -> seed -> (run, row)
    for n, rep in zip(names, reports):
        if not rep.get("rows"):
            raise DataError(f"{n} has no rows: pass the eval.json of a finished `streamdit eval` run")
        seed = rep.get("seed")
        for row in rep["rows"]:
            runs = by_key.setdefault((row["name"], row["scheme"]), {})
            key = seed if seed is not None else ("run", n)
            if key in runs:
                first, kept = runs[key]
                diff = [f for f in SEED_FIGURES if kept.get(f) != row.get(f)]
                if diff:
                    raise DataError(f"{row['name']!r} at seed {seed} reads other {', '.join(diff)} in {first} "
                                    f"and {n}: were they measured on the same data, classifier and checkpoint?")
                continue
            runs[key] = (n, row)
    out = []
    for (name, scheme), runs in by_key.items():
        rows = [r for _, r in runs.values()]
        seeds = [None if isinstance(k, tuple) else k for k in runs]
        entry: dict = {"name": name, "scheme": scheme, "runs": len(rows), "seeds": seeds}
        for f in SEED_FIGURES:
            vals = [r[f] for r in rows if r.get(f) is not None]
            entry[f] = round(float(np.mean(vals)), 3) if vals else None
            entry[f"{f}_std"] = round(float(np.std(vals, ddof=1)), 3) if len(vals) > 1 else None
        out.append(entry)
    return out


def seed_summary_markdown(summary: Sequence[dict]) -> str:
    """`seed_summary` as a Markdown table, each figure `mean ± std` over the runs."""
    def fig(e: dict, f: str) -> str:
        if e[f] is None:
            return "n/a"
        return f"{e[f]:.3f}" if e[f + "_std"] is None else f"{e[f]:.3f} ± {e[f + '_std']:.3f}"

    head = ("| row | scheme | runs (seeds) | Frechet distance | prompt adherence | dynamic degree (px/frame) | "
            "seam ratio | flicker (levels) |\n|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {e['name']} | {e['scheme']} | {e['runs']} ({', '.join(str(s) for s in e['seeds'])}) | "
        + " | ".join(fig(e, f) for f in SEED_FIGURES) + " |\n" for e in summary)

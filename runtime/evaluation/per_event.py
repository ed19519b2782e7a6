"""Does every event show? Per event type of the Crafter vocabulary, the streamed model against real play
(issue 23 item 5).

For each event (an event pushed into a stream, or an event of a held-out real episode: a moment where it
happens, a state where it starts to hold), a clip of `length` frames after it is measured:

- adherence: whether the clip classifier names the event's type for the clip (mean log-probability over
  its windows, as `streamdit eval` scores clips); only for types that are classifier classes;
- brightness: mean grey level after the event minus before it (night falls: real nights go dark);
- blue share: share of water-blue pixels after minus before (drink water: water in view).

The clip after a streamed event starts at `offset` frames (the visible-response bound: the first chunk
generated wholly under the event's prompt leaves the buffer B latent frames after it); a real event shows
at once (offset 0). "Before" is the `length` frames before the event. No sprite detector exists in the
project, so zombies and cows are judged by the classifier's fight_zombie / defeat_zombie / eat_cow classes
only; zombie_appears and cow_nearby (scene clauses, no class) get the plain signals alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from runtime.evaluation.classifier import ClipClassifier, clip_scores
from runtime.evaluation.real_play import frame_blue_share, frame_brightness, heldout_shards


def event_rows(frames: np.ndarray, events: Sequence[dict[str, Any]], classifier: ClipClassifier, *,
               offset: int = 0, length: int = 32) -> list[dict[str, Any]]:
    """One row per event of one video uint8 [F, H, W, 3]; events: dicts with "type" and "frame".

    Returns [{"type", "adherent" (bool | None: not a class), "brightness_change", "blue_change"}]; events
    whose clip or "before" span does not fit inside the video are left out.
    """
    rows, clips, labels = [], [], []
    for e in events:
        f = int(e["frame"])
        a, b = f + offset, f + offset + length
        if f - length < 0 or b > len(frames):
            continue
        after, before = frames[a:b], frames[f - length: f]
        rows.append({"type": e["type"], "adherent": None,
                     "brightness_change": float(frame_brightness(after).mean() - frame_brightness(before).mean()),
                     "blue_change": float(frame_blue_share(after).mean() - frame_blue_share(before).mean())})
        if e["type"] in classifier.classes:
            clips.append(after)
            labels.append((len(rows) - 1, classifier.classes.index(e["type"])))
    if clips:
        pred = clip_scores(classifier, clips)[0].argmax(-1)
        for (i, k), p in zip(labels, pred):
            rows[i]["adherent"] = bool(p == k)
    return rows


def real_event_rows(data: str, classifier: ClipClassifier, *, length: int = 32, max_per_type: int = 40) -> list[dict]:
    """`event_rows` of the held-out real episodes of the capture `data` (offset 0), at most `max_per_type`
    events per type; a state event counts where it starts (not on every frame it holds)."""
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for shard in heldout_shards(data):
        last: dict[str, int] = {}
        picked = []
        for e in shard.events:
            onset = last.get(e.type, -10) < e.frame - 1
            last[e.type] = e.frame
            if onset and seen.get(e.type, 0) < max_per_type:
                seen[e.type] = seen.get(e.type, 0) + 1
                picked.append({"type": e.type, "frame": e.frame})
        rows += event_rows(np.asarray(shard.frames()), picked, classifier, length=length)
    return rows


def summary(rows: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Per event type: events, adherence (share, None without a class), mean brightness and blue changes."""
    out: dict[str, dict[str, Any]] = {}
    for t in sorted({r["type"] for r in rows}):
        rs = [r for r in rows if r["type"] == t]
        adh = [r["adherent"] for r in rs if r["adherent"] is not None]
        out[t] = {"events": len(rs), "adherence": round(float(np.mean(adh)), 3) if adh else None,
                  "brightness_change": round(float(np.mean([r["brightness_change"] for r in rs])), 2),
                  "blue_change": round(float(np.mean([r["blue_change"] for r in rs])), 4)}
    return out


def markdown(streamed: dict[str, dict], real: dict[str, dict], types: Sequence[str]) -> str:
    """The per-event table as Markdown: one line per event type, the stream beside real play."""
    def cell(d: dict | None, key: str, fmt: str) -> str:
        v = None if d is None else d.get(key)
        return "-" if v is None else format(v, fmt)

    head = ("| event | events (stream / real) | classifier adherence, stream | real | brightness change, stream "
            "| real | blue-share change, stream | real |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for t in types:
        s, r = streamed.get(t), real.get(t)
        lines.append(f"| {t} | {cell(s, 'events', 'd')} / {cell(r, 'events', 'd')} | {cell(s, 'adherence', '.3f')} | "
                     f"{cell(r, 'adherence', '.3f')} | {cell(s, 'brightness_change', '+.1f')} | "
                     f"{cell(r, 'brightness_change', '+.1f')} | {cell(s, 'blue_change', '+.3f')} | "
                     f"{cell(r, 'blue_change', '+.3f')} |\n")
    return head + "".join(lines)

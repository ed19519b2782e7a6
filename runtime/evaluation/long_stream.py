"""Long streams: does a steered stream drift over minutes? (issue 23 item 4; `streamdit eval --minutes M`)

`stream_for_minutes` serves a pipeline in this process (`ServingRuntime`, paced at the model's frame rate by
default, as `streamdit serve` streams) and reads M minutes of frames through an `sdk.Session` (`local://`),
pushing an event of the Crafter vocabulary every `every_s` seconds of video (`minute_schedule`: the types
in a seeded order with the vocabulary's default payloads, one minute long and repeated, so that every minute
gets the same events at the same times and the minutes differ only by drift and sampling noise).
`minute_rows` measures each minute of video against held-out real play (`RealReference`):

- frechet: Frechet distance of the minute's classifier windows (non-overlapping) to real play's windows;
  `frechet_floor` is real play against itself at the same number of windows (the sampling-noise floor);
- adherence: the share of the minute's events of a classifier class whose clip (`per_event.event_rows`,
  from the visible-response bound on) the classifier names as the event;
- flicker: mean absolute difference of consecutive frames, 8-bit levels;
- washed_out: the share of frames whose mean saturation or contrast is below real play's 1st percentile
  (real play's own share under that rule is 1-2 %); `washed_out_frames` lists each such frame of the stream
  with the last event pushed before it, to tell a dark sleep or night from a drifting picture;
- saturation, brightness: the minute's means (colour drift shows here first).
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from typing import Any, Iterator, Sequence

import numpy as np

from runtime.evaluation.classifier import ClipClassifier, clip_scores
from runtime.evaluation.per_event import event_rows
from runtime.evaluation.real_play import RealReference, frame_brightness, frame_saturation
from runtime.evaluation.streamed import ReceivedStream, record_stream
from runtime.training.metrics import flicker, frechet_distance
from sdk.errors import ConfigError


def vocabulary_schedule(seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """Every event type of the Crafter vocabulary once, in a seeded random order, with empty payloads (the
    stream fills in the vocabulary's defaults)."""
    from runtime.data.events import event_types

    types = list(event_types())
    np.random.default_rng(seed).shuffle(types)
    return [(t, {}) for t in types]


def minute_schedule(every_s: float, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """The events of one minute of video, an event every `every_s` s, to be cycled (record_stream).

    When `every_s` divides 60 s into n slots, the schedule has exactly n events: `vocabulary_schedule(seed)`
    cut to n types (every 2 s: 30 of the vocabulary's 33) or cycled to fill n, so that the stream repeats it
    every minute. Otherwise (no whole number of events per minute) it is the whole `vocabulary_schedule`.
    """
    types = vocabulary_schedule(seed)
    n = 60.0 / every_s
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        return types
    return [types[i % len(types)] for i in range(int(round(n)))]


@contextmanager
def served_locally(pipe: Any, *, pace: bool = True, compile_mode: str = "auto", max_sessions: int = 1) -> Iterator[str]:
    """Serve `pipe` (a StreamPipeline) in this process as `local://` while the block runs (warmed up first);
    yields the URL. `streamdit serve`'s runtime (ServingRuntime), paced at the model's frame rate by default."""
    from runtime.serving import local
    from runtime.serving.config import ServeConfig
    from runtime.serving.server import ServingRuntime

    rt = ServingRuntime(pipe, ServeConfig(pace=pace, max_sessions=max_sessions, compile=compile_mode))
    local.install(rt)
    try:
        rt.wait_warm()
        yield "local://"
    finally:
        local.install(None)
        rt.shutdown()


def stream_for_minutes(pipe: Any, minutes: float, *, every_s: float = 2.0, pace: bool = True, seed: int = 0,
                       prompt_map: str | None = None, compile_mode: str = "auto",
                       schedule: Sequence[tuple[str, dict]] | None = None) -> ReceivedStream:
    """Serve `pipe` (a StreamPipeline) in this process and receive `minutes` minutes of video from it.

    pace: stream at the model's frame rate (False: as fast as the machine goes; the video is the same,
    events fire at video time either way). prompt_map: TOML (None = the shipped Crafter map). schedule: the
    events, cycled (default `minute_schedule`). Returns the ReceivedStream. Raises ConfigError for minutes <= 0.
    """
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    if not minutes > 0:
        raise ConfigError(f"minutes must be > 0, got {minutes}")
    frames = max(2, round(minutes * 60 * float(pipe.fps)))
    with served_locally(pipe, pace=pace, compile_mode=compile_mode) as url:
        return record_stream(url, list(schedule or minute_schedule(every_s, seed)), frames=frames,
                             every_s=every_s, video_time=True,
                             prompt_map=prompt_map if prompt_map is not None else default_crafter_prompt_map(),
                             seed=seed)


def frechet_floor(ref: RealReference, windows: int, seed: int = 0) -> float | None:
    """Frechet distance of `windows` random real windows to the other real windows (None when too few)."""
    n = len(ref.features)
    if windows < 2 or n - windows < 2:
        return None
    idx = np.random.default_rng(seed).permutation(n)
    return round(frechet_distance(ref.features[idx[:windows]], ref.features[idx[windows:]]), 2)


def minute_rows(stream: ReceivedStream, ref: RealReference, classifier: ClipClassifier, *, offset: int,
                minute_frames: int | None = None, length: int = 32) -> list[dict[str, Any]]:
    """The measures of every whole minute of `stream` (module docstring); a trailing part of at least two
    classifier windows counts as a last, shorter "minute" (its `frames` says how long).

    offset: frames from an event to the clip that shows it (the visible-response bound). minute_frames:
    frames per minute (default 60 * fps). Returns one dict per minute: minute, frames, events, frechet,
    frechet_floor, adherence (None without class events), flicker, washed_out, saturation, brightness.
    """
    per = minute_frames or round(60 * stream.fps)
    rows = []
    for m, a in enumerate(range(0, len(stream.frames), per)):
        v = stream.frames[a: a + per]
        if len(v) < 16:
            break
        _, feats = clip_scores(classifier, [v])
        evs = [e for e in stream.events if a <= e["frame"] < a + per]
        # an event's clip may run into the next minute: it is measured on the whole stream
        er = event_rows(stream.frames, evs, classifier, offset=offset, length=length)
        adh = [r["adherent"] for r in er if r["adherent"] is not None]
        rows.append({"minute": m + 1, "frames": int(len(v)), "events": len(evs),
                     "frechet": round(frechet_distance(feats, ref.features), 2) if len(feats) >= 2 else None,
                     "frechet_floor": frechet_floor(ref, len(feats)),
                     "adherence": round(float(np.mean(adh)), 3) if adh else None,
                     "adherence_events": len(adh), "flicker": round(flicker(v), 2),
                     "washed_out": round(float(ref.washed_out(v).mean()), 4),
                     "saturation": round(float(frame_saturation(v).mean()), 1),
                     "brightness": round(float(frame_brightness(v).mean()), 1)})
    return rows


def washed_out_frames(stream: ReceivedStream, ref: RealReference) -> dict[str, Any]:
    """The stream's washed-out frames (`RealReference.washed_out`), each with the event in effect: the last event
    pushed at or before it (its type, and video frames since; "none" before the first event).

    Returns {"frames": count, "of": frames in the stream, "share", "by_event": {type: count, most first},
    "list": [{"frame", "event", "since"}]}.
    """
    flagged = np.flatnonzero(ref.washed_out(stream.frames))
    at = np.asarray([e["frame"] for e in stream.events], np.int64)
    order = np.argsort(at, kind="stable")
    at, types = at[order], [stream.events[i]["type"] for i in order]
    rows = []
    for f in flagged:
        k = int(np.searchsorted(at, f, side="right")) - 1
        rows.append({"frame": int(f), "event": types[k] if k >= 0 else "none",
                     "since": int(f - at[k]) if k >= 0 else None})
    by = Counter(r["event"] for r in rows)
    n = int(len(stream.frames))
    return {"frames": len(rows), "of": n, "share": round(len(rows) / max(n, 1), 5),
            "by_event": dict(sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))), "list": rows}


def real_row(ref: RealReference, real_events: Sequence[dict]) -> dict[str, Any]:
    """Real play's line of the per-minute table: the adherence of its events' clips (`real_event_rows`, scored
    as the stream's are), its flicker, the washed-out thresholds and its own share of frames below them."""
    adh = [r["adherent"] for r in real_events if r["adherent"] is not None]
    return {"adherence": round(float(np.mean(adh)), 3) if adh else None, "adherence_events": len(adh),
            "flicker": round(ref.flicker, 2), "saturation_p1": round(ref.saturation_p1, 1),
            "contrast_p1": round(ref.contrast_p1, 1), "frames": ref.frames, "windows": ref.windows,
            "washed_out": None if ref.washed_out_share is None else round(ref.washed_out_share, 4)}


def markdown(rows: Sequence[dict], real: dict) -> str:
    """The per-minute table as Markdown, real play's line last."""
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = ("| minute | frames | events | Frechet distance (real floor) | adherence | flicker (levels) | washed-out "
            "frames | mean saturation | mean brightness |\n|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(f"| {r['minute']} | {r['frames']} | {r['events']} | {f(r['frechet'], '.2f')} "
                   f"({f(r['frechet_floor'], '.2f')}) | {f(r['adherence'], '.3f')} ({r['adherence_events']}) | "
                   f"{r['flicker']:.2f} | {100 * r['washed_out']:.1f} % | {r['saturation']:.1f} | "
                   f"{r['brightness']:.1f} |\n" for r in rows)
    own = "" if real.get("washed_out") is None else f"{100 * real['washed_out']:.1f} % under "
    tail = (f"| real held-out play | {real['frames']} | - | - | {f(real['adherence'], '.3f')} ({real['adherence_events']}) | "
            f"{real['flicker']:.2f} | {own}1st percentiles: saturation {real['saturation_p1']:.1f}, contrast "
            f"{real['contrast_p1']:.1f} | - | - |\n")
    return head + body + tail


def markdown_washed_out(w: dict[str, Any], real: dict) -> str:
    """One paragraph: how many frames of the stream are washed out, real play's own share, and the events in
    effect when they were."""
    own = "" if real.get("washed_out") is None else f"; real held-out play: {100 * real['washed_out']:.2f} % of its own frames"
    text = f"Washed-out frames: {w['frames']:,} of {w['of']:,} ({100 * w['share']:.2f} %{own})."
    if w["by_event"]:
        text += " The last event before them: " + ", ".join(f"{k} {v}" for k, v in w["by_event"].items()) + "."
    return text + "\n"


def long_stream_report(pipe: Any, classifier: ClipClassifier, data: str, minutes: float, *, every_s: float = 2.0,
                       pace: bool = True, seed: int = 0, compile_mode: str = "auto",
                       minute_frames: int | None = None) -> dict[str, Any]:
    """Stream `minutes` of `pipe` and measure it against the held-out real play of the capture `data`:
    the per-minute table and the per-event table (runtime/evaluation/per_event.py) of the same stream.

    Returns {"minutes": rows, "real": real line, "per_event": {"stream", "real"}, "washed_out":
    `washed_out_frames`, "stream": served figures,
    "bound_frames", "markdown_minutes", "markdown_events"}. Raises DataError without held-out play in `data`.
    """
    from runtime.data.events import event_types
    from runtime.evaluation import per_event
    from runtime.evaluation.real_play import real_reference
    from runtime.evaluation.response import latency_bound_frames

    ref = real_reference(data, classifier)  # before streaming: a missing capture fails in seconds
    real_events = per_event.real_event_rows(data, classifier)
    tf = int(getattr(pipe, "temporal_factor", 1))
    bound = latency_bound_frames(int(pipe.buffer_frames), int(pipe.scheme().c), tf)
    stream = stream_for_minutes(pipe, minutes, every_s=every_s, pace=pace, seed=seed, compile_mode=compile_mode)
    rows = minute_rows(stream, ref, classifier, offset=bound, minute_frames=minute_frames)
    real = real_row(ref, real_events)
    s_events = per_event.summary(per_event.event_rows(stream.frames, stream.events, classifier, offset=bound))
    r_events = per_event.summary(real_events)
    washed = washed_out_frames(stream, ref)
    return {"minutes": rows, "real": real, "per_event": {"stream": s_events, "real": r_events},
            "washed_out": washed,
            "stream": {"frames": int(len(stream.frames)), "events": len(stream.events),
                       "received_fps": round(stream.received_fps, 2), "dropped": stream.dropped, "pace": pace,
                       "every_s": every_s},
            "bound_frames": bound, "markdown_minutes": markdown(rows, real) + "\n" + markdown_washed_out(washed, real),
            "markdown_events": per_event.markdown(s_events, r_events, event_types())}

"""Does one event show when nothing else happens? Each event type pushed alone into a stream (issue 23 item 5).

The long stream (runtime/evaluation/long_stream.py) pushes an event every 2 s, so the clip measured after one
event also holds the next. `probe_events` isolates them: for each event type and seed, a fresh session
streams the base prompt for `before_s` seconds of video, then gets the event (a state is pushed again every
`repeat_s` seconds, as a game pushes a state while it holds; a moment once), and the clip from the
visible-response bound on (B latent frames after the event) is measured against the clip before the event
with `per_event.event_rows`: the brightness change (night: real nights go dark), the blue-share change (water)
and, for the classifier's classes, whether the classifier names the event. `per_event.real_event_rows` gives
real play's figures for the same event types.
"""

from __future__ import annotations

from typing import Any, Sequence

from runtime.evaluation.classifier import ClipClassifier
from runtime.evaluation.per_event import event_rows
from sdk.errors import ConfigError

LENGTH = 32  # frames measured before and after the event (2 s at 16 FPS), as in per_event


def probe_events(pipe: Any, classifier: ClipClassifier, event_types: Sequence[str], seeds: Sequence[int], *,
                 prompt_maps: dict[str, str], states: Sequence[str] = (), before_s: float = 4.0,
                 repeat_s: float = 1.0, payloads: dict[str, dict[str, Any]] | None = None,
                 compile_mode: str = "off") -> dict[str, list[dict[str, Any]]]:
    """Stream every (event type, seed) alone under each prompt map; rows per map, interleaved.

    Args:
        pipe: a StreamPipeline (served in this process, unpaced: the video is the same as paced).
        classifier: the clip classifier (its classes get an adherence verdict).
        event_types: the types to probe. seeds: stream seeds (each type gets each seed under each map).
        prompt_maps: {name: prompt map TOML}; the maps are run in turn for each (type, seed), so machine
            load falls on them alike.
        states: the types pushed again every `repeat_s` s of video (the others are pushed once).
        before_s: seconds of video of the base prompt before the event (>= LENGTH frames, after startup).
        payloads: {type: payload} (default: the Crafter vocabulary's defaults, `runtime.cutscene.event_defaults`).

    Returns {map name: [event_rows row + {"seed"}]}. Raises ConfigError when before_s is too short.
    """
    from runtime.evaluation.long_stream import served_locally
    from runtime.evaluation.response import latency_bound_frames
    from runtime.evaluation.streamed import record_stream

    fps = float(pipe.fps)
    if before_s * fps < LENGTH + 8:
        raise ConfigError(f"before_s must give at least {LENGTH + 8} frames before the event, got {before_s} s at "
                          f"{fps:g} FPS")
    tf = int(getattr(pipe, "temporal_factor", 1))
    bound = latency_bound_frames(int(pipe.buffer_frames), int(pipe.scheme().c), tf)
    seconds = before_s + (bound + LENGTH + 4) / fps
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in prompt_maps}
    with served_locally(pipe, pace=False, compile_mode=compile_mode, max_sessions=2) as url:  # one runtime, warmed once
        for t in event_types:
            for seed in seeds:
                for name, text in prompt_maps.items():
                    stream = record_stream(url, [(t, dict((payloads or {}).get(t, {})))],
                                           frames=max(2, round(seconds * fps)),
                                           every_s=repeat_s if t in states else 10 * seconds, video_time=True,
                                           prompt_map=text, seed=seed, first_at_s=before_s)
                    rows = event_rows(stream.frames, stream.events[:1], classifier, offset=bound, length=LENGTH)
                    out[name] += [{**r, "seed": seed} for r in rows]
    return out


def ungrouped(text: str) -> str:
    """A prompt map's TOML without clause groups (its `groups` line and each rule's `group` key): the winning
    overlay's prompt is then the whole prompt, as before groups existed (for comparisons)."""
    keep = [line for line in text.splitlines()
            if not line.lstrip().startswith(("groups =", "groups=", "group =", "group="))]
    return "\n".join(keep) + "\n"


def unguided(text: str) -> str:
    """A prompt map's TOML without its rules' guidance against the prompt before the event (the `guidance`,
    `guidance_chunks` and `guidance_seconds` keys; runtime.serving.prompt_map), for comparisons."""
    keep = [line for line in text.splitlines()
            if not line.lstrip().replace(" ", "").startswith(("guidance=", "guidance_chunks=", "guidance_seconds="))]
    return "\n".join(keep) + "\n"

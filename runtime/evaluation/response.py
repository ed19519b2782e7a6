"""Visible-response latency (DESIGN.md section 13): from an event to the first frame from which the content
follows it, measured on frames a client received.

Two detectors, one per kind of event:

- walking events: the whole-frame shift of the world view (`pair_shifts`: `global_shift` on the rows above
  the inventory, without the player sprite, as `streamdit eval`'s walking verdicts read it). The response
  frame is the first frame f at or after the event such that the step into f moves the view the way the
  walk does (`WALK_AXIS`: walking left moves the content right) and so does the mean shift over the
  `window` steps from f on, by at least `min_shift` px/frame and by more than the shift across the walk;
- other events: the clip classifier's sliding-window prediction (`window_predictions`: one classifier
  window centred on every frame). The response frame is the first frame f at or after the event whose
  window names the event's class and from which the share of windows naming it over the next `span`
  frames reaches `target`, real play's adherence for that class (`real_adherence`).

Both look forward from f, so for content that switches abruptly at frame k the response frame is k (the
synthetic tests in tests/test_response_latency.py check it within a frame), not k plus a window's lag.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from runtime.evaluation.classifier import WINDOW
from runtime.training.metrics import global_shift
from sdk.errors import ConfigError, ShapeError

WALK_AXIS = {"left": (0, +1), "right": (0, -1), "up": (1, +1), "down": (1, -1)}
"""Walking direction -> (axis of `pair_shifts`: 0 = dx, 1 = dy; the sign the shift takes): the view follows the
player, so walking left moves the content right (+dx), walking up moves it down (+dy); the same as
runtime.evaluation.evaluate.WALK_AXIS."""


def walk_direction(event_type: str) -> str | None:
    """"player_moves_left" -> "left" (any key of WALK_AXIS); None for other event types."""
    prefix = "player_moves_"
    d = event_type[len(prefix):] if event_type.startswith(prefix) else None
    return d if d in WALK_AXIS else None


def pair_shifts(frames: np.ndarray, *, crafter: bool = True, max_shift: int | None = None) -> np.ndarray:
    """The whole-frame shift into every frame of uint8 [F, H, W, 3]: float32 [F, 2] of (dx, dy), px, row 0 = (0, 0).

    crafter: read only the world rows without the player sprite (`crafter_view`), as the scroll measure of
    `streamdit eval` does; False reads the whole frame. max_shift: default one tile plus one pixel (H // 9 + 1).
    Raises ShapeError for a video that is not uint8 [F >= 2, H, W, 3].
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise ShapeError(f"frames must be uint8 [F >= 2, H, W, 3], got {frames.dtype} {list(frames.shape)}")
    size = int(frames.shape[1])
    r = max_shift if max_shift is not None else size // 9 + 1
    view, ignore = frames, None
    if crafter:
        from runtime.training.data.capture import crafter_view

        rows, ignore = crafter_view(size)
        view = frames[:, :rows]
    out = np.zeros((len(frames), 2), np.float32)
    out[1:] = global_shift(view, max_shift=r, ignore=ignore)
    return out


def walk_response(shifts: np.ndarray, event_frame: int, direction: str, *, window: int = 8,
                  min_shift: float = 0.5, until: int | None = None) -> int | None:
    """The first frame f in [event_frame, until) from which the view scrolls the walk's way (module docstring).

    shifts: float [F, 2] from `pair_shifts`; direction: a key of WALK_AXIS; window: steps averaged from f on;
    min_shift: px/frame the mean must reach along the walk. until: default F. Returns None when no frame qualifies.
    Raises ConfigError for an unknown direction or window < 1.
    """
    if direction not in WALK_AXIS or window < 1:
        raise ConfigError(f"direction must be one of {', '.join(WALK_AXIS)} and window >= 1; got {direction!r}, {window}")
    axis, sign = WALK_AXIS[direction]
    along, across = sign * shifts[:, axis], np.abs(shifts[:, 1 - axis])
    end = min(len(shifts), until if until is not None else len(shifts))
    for f in range(max(event_frame, 1), end - window + 1):
        a, c = float(along[f: f + window].mean()), float(across[f: f + window].mean())
        if along[f] > 0 and a >= min_shift and a > c:
            return f
    return None


def window_predictions(predict: Callable[[np.ndarray], np.ndarray], frames: np.ndarray, batch: int = 64) -> np.ndarray:
    """The class of the WINDOW-frame window centred on every frame: int64 [F] (-1 where no whole window fits).

    predict: uint8 [n, WINDOW, H, W, 3] -> class indices [n] (e.g. `classifier_predict(model)`). The window of
    frame f is frames [f - WINDOW // 2, f + WINDOW // 2).
    """
    half = WINDOW // 2
    out = np.full(len(frames), -1, np.int64)
    starts = np.arange(0, len(frames) - WINDOW + 1)
    for i in range(0, len(starts), batch):
        s = starts[i: i + batch]
        out[s + half] = np.asarray(predict(np.stack([frames[j: j + WINDOW] for j in s])))
    return out


def classifier_predict(model: object) -> Callable[[np.ndarray], np.ndarray]:
    """A `predict` for `window_predictions` from a ClipClassifier (argmax of its logits, no grad)."""
    import torch

    def predict(windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(windows))).argmax(-1).numpy()  # type: ignore[operator]

    return predict


def class_response(predictions: np.ndarray, event_frame: int, label: int, target: float, *, span: int = 16,
                   until: int | None = None) -> int | None:
    """The first frame f in [event_frame, until) whose window names `label` and from which the share of the
    next `span` frames' windows naming it reaches `target` (module docstring); None when none does.

    predictions: int [F] from `window_predictions`. Raises ConfigError for target outside (0, 1] or span < 1.
    """
    if not 0.0 < target <= 1.0 or span < 1:
        raise ConfigError(f"target must be in (0, 1] and span >= 1, got {target}, {span}")
    hit = predictions == label
    end = min(len(predictions), until if until is not None else len(predictions))
    for f in range(max(event_frame, 0), end - span + 1):
        if hit[f] and float(hit[f: f + span].mean()) >= target - 1e-9:
            return f
    return None


def real_adherence(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, labels: np.ndarray,
                   classes: Sequence[str]) -> dict[str, float]:
    """Real play's adherence per class: the share of held-out real windows (uint8 [N, WINDOW, H, W, 3],
    labels int [N]) of each class that the classifier names correctly; classes with no window are left out."""
    pred = np.concatenate([np.asarray(predict(windows[i: i + 64])) for i in range(0, len(windows), 64)])
    return {c: float((pred[labels == k] == k).mean()) for k, c in enumerate(classes) if (labels == k).any()}


def response_frames(frames: np.ndarray, events: Sequence[dict], *, predictions: np.ndarray | None = None,
                    classes: Sequence[str] = (), targets: dict[str, float] | None = None, window: int = 8,
                    span: int = 16, horizon: int | None = None) -> list[dict]:
    """The response frame of every event of a received stream.

    frames: uint8 [F, H, W, 3]; events: dicts with "type" and "frame" (index of the first frame received
    after the push), in frame order; predictions/classes/targets: for non-walking events (types not among
    the classes, or without a target, get None: also a class real play itself never shows, target 0). A response
    must come before the next event's frame plus
    `horizon` frames (default: no limit but the stream's end).
    Returns one dict per event: type, frame, response (frame index or None), kind ("walk" | "class" | None).
    """
    shifts = pair_shifts(frames) if any(walk_direction(e["type"]) for e in events) else None
    out = []
    for i, e in enumerate(events):
        nxt = events[i + 1]["frame"] if i + 1 < len(events) else len(frames)
        until = len(frames) if horizon is None else min(len(frames), nxt + horizon)
        d, resp, kind = walk_direction(e["type"]), None, None
        if d is not None and shifts is not None:
            resp, kind = walk_response(shifts, e["frame"], d, window=window, until=until), "walk"
        elif predictions is not None and e["type"] in classes and targets and targets.get(e["type"], 0.0) > 0:
            resp = class_response(predictions, e["frame"], list(classes).index(e["type"]), targets[e["type"]],
                                  span=span, until=until)
            kind = "class"
        out.append({"type": e["type"], "frame": int(e["frame"]), "response": resp, "kind": kind})
    return out


def latency_bound_frames(buffer_frames: int, chunk: int, temporal_factor: int = 1) -> int:
    """Video frames from an event's chunk boundary until the first chunk generated wholly under the new prompt
    is emitted: that chunk enters the buffer as noise at the boundary and leaves it B latent frames later,
    so B * temporal_factor video frames (DESIGN.md section 13); `chunk` only sets the granularity."""
    if buffer_frames < 1 or chunk < 1 or buffer_frames % chunk:
        raise ConfigError(f"need B >= 1 a multiple of c >= 1, got B = {buffer_frames}, c = {chunk}")
    return buffer_frames * temporal_factor

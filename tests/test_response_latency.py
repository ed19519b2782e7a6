"""Visible-response latency (runtime/evaluation/response.py) on synthetic frames whose scroll or class flips
at a known frame: the measured response frame must be that frame, within one."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.evaluation import response as rsp
from runtime.evaluation.classifier import WINDOW
from sdk.errors import ConfigError, ShapeError

SIZE = 72


def scrolling(moves: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """Frames of a random non-periodic world scrolled by moves[i] = (dx, dy) px into frame i + 1 (content moves
    by +dx right, +dy down), with a fixed 'player' square drawn on top, as in Crafter."""
    rng = np.random.default_rng(seed)
    pad = 8 * len(moves) + SIZE
    world = rng.integers(0, 256, (pad * 2 + SIZE, pad * 2 + SIZE, 3)).astype(np.uint8)
    world = np.repeat(np.repeat(world[::4, ::4], 4, 0), 4, 1)[: pad * 2 + SIZE, : pad * 2 + SIZE]
    x = y = pad
    out = []
    for i in range(len(moves) + 1):
        f = world[y: y + SIZE, x: x + SIZE].copy()
        f[24:32, 32:40] = 255  # the player, fixed on screen
        out.append(f)
        if i < len(moves):
            dx, dy = moves[i]
            x, y = x - dx, y - dy  # the view moves against the content
    return np.stack(out)


@pytest.mark.parametrize("flip", [12, 23])
def test_walk_response_finds_the_flip_frame(flip: int) -> None:
    # walking right (content moves left, -dx) until frame `flip`, then walking left (content moves right)
    moves = [(-8, 0)] * (flip - 1) + [(8, 0)] * (48 - flip)
    frames = scrolling(moves)
    shifts = rsp.pair_shifts(frames)
    assert shifts[flip - 1, 0] == -8 and shifts[flip, 0] == 8  # the step into `flip` is the first new one
    got = rsp.walk_response(shifts, 2, "left")
    assert got is not None and abs(got - flip) <= 1
    assert rsp.walk_response(shifts, 2, "right") == 2  # the old direction already holds from the start
    assert rsp.walk_response(shifts, 2, "up") is None  # no vertical scroll at all


def test_walk_response_with_pauses_like_crafter() -> None:
    # Crafter steps a tile, then may stand: a tile every other frame still reads as walking
    moves = [(0, 0)] * 10 + [(0, 8), (0, 0)] * 15
    frames = scrolling(moves, seed=1)
    got = rsp.walk_response(rsp.pair_shifts(frames), 0, "up")
    assert got is not None and abs(got - 11) <= 1
    assert rsp.walk_response(rsp.pair_shifts(frames), 0, "up", until=10) is None  # before the walk starts


def colour_classifier(windows: np.ndarray) -> np.ndarray:
    """A stand-in classifier: class 1 when the window is mostly red, else 0."""
    red = windows[..., 0].astype(float).mean(axis=(1, 2, 3))
    return (red > 127.5).astype(np.int64)


@pytest.mark.parametrize("flip,target", [(20, 0.4), (33, 1.0)])
def test_class_response_finds_the_flip_frame(flip: int, target: float) -> None:
    frames = np.zeros((64, 16, 16, 3), np.uint8)
    frames[flip:, ..., 0] = 255
    pred = rsp.window_predictions(colour_classifier, frames)
    assert pred.shape == (64,) and (pred[: WINDOW // 2] == -1).all()
    got = rsp.class_response(pred, 5, 1, target)
    assert got is not None and abs(got - flip) <= 1
    assert rsp.class_response(pred, 5, 1, target, until=flip - 2) is None


def test_response_frames_and_bad_input() -> None:
    moves = [(-8, 0)] * 19 + [(0, 8)] * 28
    frames = scrolling(moves, seed=2)
    red = frames.copy()
    events = [{"type": "player_moves_up", "frame": 4}, {"type": "collect_wood", "frame": 24},
              {"type": "night_falls", "frame": 40}]
    pred = np.where(np.arange(len(frames)) >= 28, 1, 0)
    got = rsp.response_frames(red, events, predictions=pred, classes=["player_idle", "collect_wood"],
                              targets={"collect_wood": 0.5})
    assert [g["kind"] for g in got] == ["walk", "class", None]
    assert abs(got[0]["response"] - 20) <= 1 and got[1]["response"] == 28 and got[2]["response"] is None
    assert rsp.latency_bound_frames(16, 2) == 16 and rsp.latency_bound_frames(8, 2, 4) == 32
    with pytest.raises(ConfigError):
        rsp.latency_bound_frames(15, 2)
    with pytest.raises(ConfigError):
        rsp.class_response(pred, 0, 1, 0.0)
    with pytest.raises(ConfigError):
        rsp.walk_response(np.zeros((10, 2)), 0, "sideways")
    with pytest.raises(ShapeError):
        rsp.pair_shifts(np.zeros((1, SIZE, SIZE, 3), np.uint8))


def test_a_class_real_play_never_shows_has_no_target_and_no_response():
    from runtime.evaluation.response import response_frames

    frames = np.zeros((40, 16, 16, 3), np.uint8)
    preds = np.zeros(40, np.int64)  # every window names class 0
    events = [{"type": "eat_cow", "frame": 5}]
    got = response_frames(frames, events, predictions=preds, classes=["eat_cow"], targets={"eat_cow": 0.0})
    assert got == [{"type": "eat_cow", "frame": 5, "response": None, "kind": None}]

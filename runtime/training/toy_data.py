"""A toy video data set the project generates itself: coloured shapes moving on a torus.

Captions read "a red square moves left". Each clip moves one shape at a constant speed in one direction,
wrapping around the frame edges, so a clip can continue without end (like a stream). Clips are rendered
on the fly from a seeded generator, so nothing is stored and every run can reproduce its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sdk.errors import ConfigError

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.15, 0.1), "green": (0.15, 0.8, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1),
}
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SHAPES = ("square", "circle")
BACKGROUND = (0.08, 0.08, 0.1)


@dataclass
class ToyShapesConfig:
    """Toy clip settings. size: frame side in pixels; frames: clip length; speed: pixels per frame."""

    size: int = 32
    frames: int = 16
    speed: int = 2
    radius: int = 5  # half side of a square / radius of a circle, pixels
    center_cross_axis: bool = False  # start on the centre line across the motion (fewer layouts to learn)
    colors: list[str] = field(default_factory=lambda: list(COLORS))
    shapes: list[str] = field(default_factory=lambda: list(SHAPES))
    directions: list[str] = field(default_factory=lambda: list(DIRECTIONS))

    def __post_init__(self) -> None:
        for name, allowed in (("colors", COLORS), ("shapes", SHAPES), ("directions", DIRECTIONS)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad or not getattr(self, name):
                raise ConfigError(f"toy {name} must be a non-empty subset of {list(allowed)}, got {getattr(self, name)}")
        if self.size < 8 or self.frames < 1 or self.speed < 0:
            raise ConfigError(f"toy size >= 8, frames >= 1, speed >= 0 required; got {self.size}, {self.frames}, {self.speed}")

    def captions(self) -> list[str]:
        """Every caption the configuration can produce."""
        return [caption(c, s, d) for c in self.colors for s in self.shapes for d in self.directions]


def caption(color: str, shape: str, direction: str) -> str:
    return f"a {color} {shape} moves {direction}"


def render_clips(cfg: ToyShapesConfig, color: list[str], shape: list[str], direction: list[str],
                 start: torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """Render clips. start: float [B, 2] (x, y) in pixels. Returns float32 [B, 3, F, size, size] in [-1, 1]."""
    B, F, S = len(color), frames or cfg.frames, cfg.size
    f = torch.arange(F, dtype=torch.float32)
    vel = torch.tensor([DIRECTIONS[d] for d in direction], dtype=torch.float32) * cfg.speed  # (B, 2)
    centre = start[:, None, :] + vel[:, None, :] * f[None, :, None]  # (B, F, 2)
    coords = torch.arange(S, dtype=torch.float32) + 0.5
    dx = (coords[None, None, None, :] - centre[..., 0, None, None] + S / 2) % S - S / 2  # (B, F, 1, S)
    dy = (coords[None, None, :, None] - centre[..., 1, None, None] + S / 2) % S - S / 2  # (B, F, S, 1)
    r = float(cfg.radius)
    is_circle = torch.tensor([s == "circle" for s in shape])[:, None, None, None]
    # anti-aliased coverage in [0, 1]: sub-pixel positions render smoothly, which makes motion learnable
    square = (r + 0.5 - dx.abs()).clamp(0, 1) * (r + 0.5 - dy.abs()).clamp(0, 1)
    circle = (r + 0.5 - (dx ** 2 + dy ** 2).sqrt()).clamp(0, 1)
    inside = torch.where(is_circle, circle, square)  # (B, F, S, S)
    col = torch.tensor([COLORS[c] for c in color])[:, :, None, None, None]  # (B, 3, 1, 1, 1)
    bg = torch.tensor(BACKGROUND)[None, :, None, None, None]
    video = bg + inside[:, None] * (col - bg)  # (B, 3, F, S, S) in [0, 1]
    return video * 2 - 1


class ToyShapes:
    """Random toy clips: `batch(n, generator)` -> (float32 [n, 3, F, size, size] in [-1, 1], captions)."""

    def __init__(self, cfg: ToyShapesConfig) -> None:
        self.cfg = cfg

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
        cfg = self.cfg

        def pick(options: list[str]) -> list[str]:
            idx = torch.randint(len(options), (n,), generator=generator)
            return [options[i] for i in idx.tolist()]

        color, shape, direction = pick(cfg.colors), pick(cfg.shapes), pick(cfg.directions)
        start = torch.rand(n, 2, generator=generator) * cfg.size
        if cfg.center_cross_axis:
            horizontal = torch.tensor([DIRECTIONS[d][1] == 0 for d in direction])
            start[:, 1] = torch.where(horizontal, torch.full((n,), cfg.size / 2), start[:, 1])
            start[:, 0] = torch.where(horizontal, start[:, 0], torch.full((n,), cfg.size / 2))
        video = render_clips(cfg, color, shape, direction, start)
        return video, [caption(c, s, d) for c, s, d in zip(color, shape, direction)]

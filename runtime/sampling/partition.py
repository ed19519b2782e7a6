"""Partitioning schemes of the moving buffer (StreamDiT, arXiv 2507.03745, section 3.2, figure 2).

A buffer of B latent frames holds K clean reference frames followed by N chunks of c frames:
B = K + N*c. All frames of a chunk share one flow time tau, and a chunk stays s micro-steps at one position
before the buffer moves by one chunk, so a chunk is denoised over T = s*N steps from entering (pure
noise) to leaving (clean). Conventions (flow matching, DESIGN.md): tau 0 is noise, tau 1 is data; the methods call a
buffer position's tau its level.

Special cases: c = B (N = 1, s = T) is ordinary text-to-video sampling (uniform noise); c = 1 is the
diagonal, FIFO-Diffusion-style scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sdk.errors import ConfigError

CHUNK_SIZES: tuple[int, ...] = (1, 2, 4, 8, 16)  # the paper's mixed-partitioning menu


@dataclass(frozen=True)
class PartitionScheme:
    """One partitioning of the buffer: K reference frames, N chunks of c frames, s micro-steps per chunk.

    Args:
        K: clean reference frames at the start of the buffer (>= 0; the paper uses 0).
        N: number of chunks (>= 1).
        c: frames per chunk (>= 1).
        s: micro-steps a chunk spends at each buffer position (>= 1).
        B: optional buffer length; when given it must equal K + N*c.
        T: optional total denoising steps per chunk; when given it must equal s*N.

    Raises ConfigError naming the value and the allowed range.
    """

    K: int
    N: int
    c: int
    s: int
    B: int | None = None
    T: int | None = None

    def __post_init__(self) -> None:
        for name, lo in (("K", 0), ("N", 1), ("c", 1), ("s", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                raise ConfigError(f"partition {name} must be an integer >= {lo}, got {v!r}")
        B, T = self.K + self.N * self.c, self.s * self.N
        if self.B is not None and self.B != B:
            raise ConfigError(
                f"inconsistent partition: B = {self.B} but K + N*c = {self.K} + {self.N}*{self.c} = {B}; "
                f"B must equal K + N*c"
            )
        if self.T is not None and self.T != T:
            raise ConfigError(
                f"inconsistent partition: T = {self.T} but s*N = {self.s}*{self.N} = {T}; T must equal s*N"
            )
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "T", T)

    @classmethod
    def for_buffer(cls, B: int, c: int, s: int, K: int = 0) -> "PartitionScheme":
        """The scheme with chunks of c frames over a buffer of B frames (N = (B - K) / c)."""
        if B - K < 1 or (B - K) % c:
            raise ConfigError(
                f"buffer of B = {B} frames with K = {K} reference frames cannot be cut into chunks of c = {c}: "
                f"B - K must be a positive multiple of c (allowed c: divisors of {B - K})"
            )
        return cls(K=K, N=(B - K) // c, c=c, s=s)

    @property
    def steps_to_fill(self) -> int:
        """Uniform-noise startup steps needed before streaming: (N-1)*s, or T when there are reference frames."""
        return self.T if self.K else (self.N - 1) * self.s

    def chunk_of(self, position: int) -> int:
        """Chunk index (0 = oldest) of a buffer frame position, or -1 for a reference frame."""
        if not 0 <= position < self.B:
            raise ConfigError(f"buffer position must be in [0, {self.B}), got {position}")
        return -1 if position < self.K else (position - self.K) // self.c

    def levels(self, micro_step: int) -> torch.Tensor:
        """Flow time tau of every buffer position at a micro-step, float64 [B].

        Chunk p (0 = oldest) at micro-step j has taken (N-1-p)*s + j of its T steps, so its level is
        ((N-1-p)*s + j) / T. Reference frames are clean (1.0). micro_step must be in [0, s).
        """
        if not 0 <= micro_step < self.s:
            raise ConfigError(f"micro_step must be in [0, s) = [0, {self.s}), got {micro_step}")
        chunk_levels = torch.tensor(
            [((self.N - 1 - p) * self.s + micro_step) / self.T for p in range(self.N)], dtype=torch.float64
        )
        return torch.cat([torch.ones(self.K, dtype=torch.float64), chunk_levels.repeat_interleave(self.c)])

    def level_table(self) -> torch.Tensor:
        """Levels of every position at every micro-step, float64 [s, B]."""
        return torch.stack([self.levels(j) for j in range(self.s)])

    def step_sizes(self) -> torch.Tensor:
        """dtau of one micro-step per position, float64 [B]: 1/T for chunk frames, 0 for reference frames."""
        return torch.cat([torch.zeros(self.K, dtype=torch.float64),
                          torch.full((self.N * self.c,), 1.0 / self.T, dtype=torch.float64)])

    def sample_train_levels(self, batch: int, generator: torch.Generator | None = None,
                            device: torch.device | str = "cpu") -> torch.Tensor:
        """Training levels, float32 [batch, B]: chunk i (1 = newest) draws U[(i-1)/N, i/N] (section 3.2).

        Counting from the newest chunk, levels therefore rise monotonically towards the oldest chunk, as at
        inference. Reference frames get level 1 (clean).
        """
        u = torch.rand(batch, self.N, generator=generator, device=device)  # (batch, N)
        i = torch.arange(self.N, 0, -1, device=device, dtype=torch.float32)  # oldest chunk is i = N
        chunk = (i - 1 + u) / self.N  # (batch, N)
        ref = torch.ones(batch, self.K, device=device)
        return torch.cat([ref, chunk.repeat_interleave(self.c, dim=1)], dim=1)

    def to_dict(self) -> dict[str, int]:
        return {"K": self.K, "N": self.N, "c": self.c, "s": self.s}

    def describe(self) -> str:
        return f"K={self.K} N={self.N} c={self.c} s={self.s} (B={self.B}, T={self.T})"

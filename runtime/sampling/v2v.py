"""Video-to-video in the moving buffer: restyle source frames under a prompt (DESIGN.md section 4).

The method is SDEdit (Meng et al. 2021, "SDEdit: Guided Image Synthesis and Editing with Stochastic
Differential Equations", arXiv 2108.01073) run inside StreamDiT's moving buffer (arXiv 2507.03745, the
video-to-video part of section 4: "encode the source frames, noise each to its position's level, fill the
buffer, denoise under the new prompt"). SDEdit noises a clean source to an intermediate time and solves the
generative ODE from there: the more noise, the more the prompt decides; the less, the more the source does.

Conventions (flow matching, DESIGN.md): level 0 is noise, level 1 is data, and a clean latent z noised to
level t with noise e is x_t = t*z + (1 - (1 - sigma_min) t) e. A strength sigma in [0, 1] is SDEdit's
amount of noise: the source enters at level 1 - sigma and is denoised from there.

Where a source chunk enters (the distilled student). The student takes one model call per chunk and its
chunks enter the buffer at one fixed level (pure noise, the newest position); chunk position p (0 = oldest)
sits at level (N-1-p)/N at every chunk boundary and leaves the buffer, clean, after p+1 more steps. So a
source chunk noised to level (N-1-p)/N and written at position p is denoised for exactly the p+1 steps SDEdit
asks for, at the level the model is told: n = round(sigma*N) steps, position p = n-1, level 1 - n/N. Of the
two choices (write the noised chunk at the position whose level matches, or blend the source into the chunk
entering at level 0), the first is taken because:
  - it is in distribution: the student was distilled on clean windows noised to exactly these segment-start
    levels (runtime.distillation.target.segment_start), so a noised real source at position p is the kind of
    input it was trained on; a blend into a level-0 chunk would be told "pure noise" while holding signal;
  - it costs nothing: the buffer keeps its shape and levels, so sessions with and without v2v share one
    batched forward pass; the positions newer than p (noisier than the entry level) are rewritten every
    boundary with the newest source at their own levels, so they are look-ahead context that agrees with
    the game's current view;
  - its two ends are exact: sigma = 1 (n = N, level 0) writes nothing, so the stream is the text-only
    path bit for bit for the same seed; sigma = 0 (n = 0) hands the source latent itself to the decoder,
    the source back through the autoencoder.
The cost of the choice: strength is quantised to steps of 1/N (1/8 for the default model; `effective`),
and a source frame reaches the output after p+1 steps (its latency, n chunks).

Start from a frame, and re-anchor. An anchor restarts the stream from the source: the startup pass
(StreamingSampler.add_stream) begins part-way, at level 1 - n/N, from the source chunk tiled over the buffer
and noised there with the stream's own initial noise, and its snapshots fill the buffer as at a text-only
start. So the stream continues the game's current view instead of inventing one, and at sigma = 1 the start
is again exactly text-only.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import torch

from runtime.sampling.partition import PartitionScheme
from runtime.sampling.streaming import StreamingSampler
from sdk.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class Entry:
    """Where a source chunk enters the buffer for a strength.

    steps: denoising steps the source gets, n = round(strength * N) in [0, N]; position: the chunk position it
    is written at, n - 1 (-1: none, the source latent is emitted as it is); level: its flow time there at a chunk
    boundary, 1 - n/N; effective: the strength actually applied, n / N.
    """

    steps: int
    position: int
    level: float
    effective: float


def entry(strength: float, scheme: PartitionScheme) -> Entry:
    """The Entry of `strength` in [0, 1] for a scheme (see the module docstring). Raises ConfigError."""
    if not 0.0 <= float(strength) <= 1.0:
        raise ConfigError(f"strength must be in [0, 1] (0 = the source, 1 = text-only), got {strength}")
    n = int(round(float(strength) * scheme.N))
    return Entry(steps=n, position=n - 1, level=1.0 - n / scheme.N, effective=n / scheme.N)


def noise_to(z: torch.Tensor, level: torch.Tensor | float, noise: torch.Tensor, sigma_min: float = 1e-5) -> torch.Tensor:
    """Clean latent z noised to flow time `level`: level*z + (1 - (1 - sigma_min) level) * noise.

    z, noise: float32 [C, F, H, W]; level: a float or float [F] (per frame). Returns float32 [C, F, H, W].
    """
    t = torch.as_tensor(level, dtype=torch.float32, device=z.device)
    t = t.view(1, -1, 1, 1) if t.ndim == 1 else t  # (1, F, 1, 1) per frame
    return t * z + (1 - (1 - sigma_min) * t) * noise


def tile_chunk(z: torch.Tensor, scheme: PartitionScheme) -> torch.Tensor:
    """A clean source chunk [C, c, H, W] -> a whole buffer [C, B, H, W]: every chunk position holds it, and the
    K reference frames hold its last frame."""
    C, c, H, W = z.shape
    if c != scheme.c:
        raise ShapeError(f"a source chunk has c = {scheme.c} latent frames, got {c}")
    ref = z[:, -1:].expand(C, scheme.K, H, W)
    return torch.cat([ref, z.repeat(1, scheme.N, 1, 1)], dim=1)


class V2VStream:
    """The video-to-video state of one stream of a StreamingSampler (owned by the thread that steps it).

    Lifecycle: `start_args(latent, indices)` gives add_stream's start arguments for an anchor; then, per chunk,
    `emitted(chunk_latent)` when the stream emits (returns the latent to decode and the source frame index of
    each of its frames), and `boundary(sampler, stream_id, latent, indices)` before the next step, which writes
    the newest source chunk into the buffer at the strength's entry position.

    Args:
        scheme: the sampler's partitioning. frames_per_chunk: video frames per chunk (c x the autoencoder's
        temporal factor). strength: the initial strength in [0, 1]. seed: seeds the noise of written chunks
        (its own generator: the stream's generator, and so the text-only path, is untouched).
        sigma_min: the checkpoint's flow sigma_min.
    """

    def __init__(self, scheme: PartitionScheme, frames_per_chunk: int, strength: float, *, seed: int | None = None,
                 sigma_min: float = 1e-5, device: torch.device | str = "cpu") -> None:
        self.scheme, self.frames_per_chunk, self.sigma_min = scheme, int(frames_per_chunk), float(sigma_min)
        self.entry = entry(strength, scheme)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed) % 2**63 if seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))
        self.levels = scheme.levels(0)[scheme.K:].view(scheme.N, scheme.c)[:, 0].tolist()  # level per chunk position
        none = [-1] * self.frames_per_chunk
        # per chunk position (0 = oldest): the source frame index of each of its video frames, and the latent
        # written there when it is emitted as it is (strength 0)
        self.indices: collections.deque[list[int]] = collections.deque([none] * scheme.N, maxlen=scheme.N)
        self.bypass: collections.deque[torch.Tensor | None] = collections.deque([None] * scheme.N, maxlen=scheme.N)
        self.latent: torch.Tensor | None = None  # the newest source chunk [C, c, H, W] (kept between sources)
        self.latent_indices: list[int] = none

    def set_strength(self, strength: float) -> None:
        """From the next boundary on (ConfigError outside [0, 1])."""
        self.entry = entry(strength, self.scheme)

    def start_args(self, latent: torch.Tensor, indices: list[int]) -> dict:
        """add_stream keyword arguments that start the stream from the source chunk `latent` [C, c, H, W] (an
        anchor): its startup pass begins at level 1 - n/N (module docstring). At strength 1 it is {} (text-only)."""
        self.remember(latent, indices)
        e, sch = self.entry, self.scheme
        if e.steps == sch.N:
            return {}
        k0 = (sch.N - e.steps) * sch.s  # warm-up step at level 1 - n/N
        for p in range(sch.N):  # every chunk starts as this source (positions noisier than the entry are rewritten)
            self.indices[p] = list(indices)
        self.bypass[0] = latent if e.steps == 0 else None
        return {"start": tile_chunk(latent, sch), "start_step": k0, "sigma_min": self.sigma_min}

    def emitted(self, chunk: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """The stream emitted `chunk` [C, c, H, W] from position 0: (the latent to decode, the source frame index
        of each of its frames, -1 for none). At strength 0 the latent is the source chunk written there."""
        idx, src = self.indices.popleft(), self.bypass.popleft()
        self.indices.append([-1] * self.frames_per_chunk)
        self.bypass.append(None)
        return (chunk if src is None else src), idx

    def boundary(self, sampler: StreamingSampler, stream_id: int, latent: torch.Tensor | None = None,
                 indices: list[int] | None = None) -> None:
        """At a chunk boundary of a streaming stream: write the newest source chunk (this `latent` [C, c, H, W]
        with its frame `indices`, or the last one given) noised to each level at chunk positions from the entry
        position on, except the newest (level 0, where the source would weigh nothing). Nothing at strength 1,
        or before any source."""
        if latent is not None:
            self.remember(latent, indices if indices is not None else [-1] * self.frames_per_chunk)
        e, sch, z = self.entry, self.scheme, self.latent
        first = max(e.position, 0)
        if z is None or e.steps == sch.N or first >= sch.N - 1:
            return
        n = sch.N - 1 - first  # positions first .. N-2 (the newest keeps the stream's fresh noise)
        lv = torch.tensor(self.levels[first:first + n], dtype=torch.float32).repeat_interleave(sch.c)  # (n*c,)
        zz = z.repeat(1, n, 1, 1)  # (C, n*c, H, W)
        noise = torch.randn(zz.shape, generator=self.generator, device=self.generator.device).to(zz)
        sampler.write_chunks(stream_id, first, noise_to(zz, lv.to(zz.device), noise, self.sigma_min))
        for p in range(first, first + n):
            self.indices[p] = list(self.latent_indices)
        self.bypass[0] = z if e.steps == 0 else None  # emitted next, as it is
        if e.steps == 0:
            self.indices[0] = list(self.latent_indices)

    def remember(self, latent: torch.Tensor, indices: list[int]) -> None:
        """Keep `latent` [C, c, H, W] (frame `indices`) as the newest source chunk, written at the next boundary."""
        C, c, H, W = latent.shape
        if c != self.scheme.c or len(indices) != self.frames_per_chunk:
            raise ShapeError(f"a source chunk is [C, {self.scheme.c}, H, W] with {self.frames_per_chunk} frame "
                             f"indices, got {list(latent.shape)} and {len(indices)}")
        self.latent, self.latent_indices = latent, list(indices)

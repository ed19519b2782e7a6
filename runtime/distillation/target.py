"""The distillation target: s guided teacher micro-steps folded into one conditional student step.

StreamDiT, arXiv 2507.03745, section 3.4 ("multistep distillation"): the teacher's trajectory of T = s*N
micro-steps is cut into N segments, one per buffer position, and step distillation is done inside each
segment, from s micro-steps to one, with classifier-free guidance distilled in at the same time. The paper
gives no exact loss; this module fixes one.

Training pair. A buffer state x (float32 [b, C, B, h, w], K = 0) sits at the levels of micro-step 0 of
the teacher scheme: chunk p (0 = oldest) at level (N-1-p)/N, the start of its segment. The teacher runs
its s guided Euler micro-steps on the whole buffer, exactly as StreamingSampler.step does (every chunk
advances by 1/T = 1/(s*N) per micro-step, velocity v_u + g (v_c - v_u)), and lands on x_end, where every
chunk is at the start of its next segment (the oldest one is clean). The student makes one Euler step of
size 1/N, so its target velocity is the mean velocity of the segment:

    v* = (x_end - x) * N,     loss = MSE(student(x, t, text), v*)   over every frame

so that x + v* / N = x_end exactly: a student that fits v* reproduces the teacher's guided segment with
one conditional forward pass. This is a plain regression onto the teacher's s-step endpoint inside each
segment (step distillation from s to 1 in one go, not in halving rounds as in progressive distillation).
The levels are not jittered: the student is trained only at the segment starts, which are the only
levels it meets when it streams with s = 1.

Conventions (flow matching, DESIGN.md section 4): level 0 is noise, level 1 is data;
x_t = t * x1 + (1 - (1 - sigma_min) t) * x0 frame-wise (runtime.training.flow_matching.interpolate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from runtime.model.dit import StreamDiT
from runtime.sampling.euler import guided_velocity
from runtime.sampling.partition import PartitionScheme
from runtime.training.flow_matching import interpolate
from sdk.errors import ConfigError, ShapeError


def teacher_scheme(buffer_frames: int, c: int = 2, s: int = 16) -> PartitionScheme:
    """The teacher's partitioning: K = 0, chunks of c frames, s micro-steps per position (paper: c=2, N=8, s=16)."""
    return PartitionScheme.for_buffer(buffer_frames, c, s, K=0)


def student_scheme(teacher: PartitionScheme) -> PartitionScheme:
    """The student's partitioning: the teacher's K, N and c with s = 1 (one model call per emitted chunk)."""
    return PartitionScheme(K=teacher.K, N=teacher.N, c=teacher.c, s=1)


def segment_start(x1: torch.Tensor, noise: torch.Tensor, scheme: PartitionScheme,
                  sigma_min: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise clean latents to the levels of micro-step 0 of `scheme` (each chunk at its segment start).

    x1, noise: float32 [b, C, B, h, w] (clean latents, x0 ~ N(0, I)). Returns (x float32 [b, C, B, h, w],
    t float32 [b, B]) with t[:, frame] = scheme.levels(0)[frame].
    """
    if x1.shape != noise.shape or x1.ndim != 5 or x1.shape[2] != scheme.B:
        raise ShapeError(f"x1 and noise must both be [b, C, B={scheme.B}, h, w], got {list(x1.shape)} "
                         f"and {list(noise.shape)}")
    t = scheme.levels(0).to(x1.device).float().expand(x1.shape[0], -1).contiguous()  # (b, B)
    x, _ = interpolate(x1.float(), noise.float(), t, sigma_min)  # (b, C, B, h, w)
    return x, t


@torch.no_grad()
def teacher_segment(teacher: StreamDiT, x: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                    scheme: PartitionScheme, guidance_scale: float,
                    autocast_dtype: torch.dtype | None = torch.bfloat16) -> torch.Tensor:
    """Run the teacher's s guided micro-steps over a buffer at micro-step 0; returns x_end.

    x: float32 [b, C, B, h, w] at scheme.levels(0); text [b, L, D_text]; text_mask [b, L] bool. Each
    micro-step j is one (CFG-batched) call at levels scheme.levels(j) and the per-frame Euler update
    x <- x + v * scheme.step_sizes(), the same arithmetic as StreamingSampler.step. Returns float32
    [b, C, B, h, w], every chunk one segment (1/N) further on.
    """
    b, _, B = x.shape[:3]
    if B != scheme.B:
        raise ShapeError(f"buffer has {B} frames but the scheme needs B = {scheme.B}")
    dt = scheme.step_sizes().to(x.device).float()[None, None, :, None, None]  # (1, 1, B, 1, 1)
    for j in range(scheme.s):
        t = scheme.levels(j).to(x.device).float().expand(b, -1)  # (b, B)
        with torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            v = guided_velocity(teacher, x, t, text, text_mask, guidance_scale)  # (b, C, B, h, w) float32
        x = x + v * dt
    return x


def target_velocity(x: torch.Tensor, x_end: torch.Tensor, scheme: PartitionScheme) -> torch.Tensor:
    """v* = (x_end - x) * N: the velocity whose one Euler step of size 1/N lands on x_end. float32 [b, C, B, h, w]."""
    return (x_end - x) * scheme.N


@dataclass
class DistillBatch:
    """One training pair. x: float32 [b, C, B, h, w] at the segment starts; t: float32 [b, B] its levels;
    text: [b, L, D_text]; text_mask: [b, L] bool; target: float32 [b, C, B, h, w], the velocity v*."""

    x: torch.Tensor
    t: torch.Tensor
    text: torch.Tensor
    text_mask: torch.Tensor
    target: torch.Tensor


def make_pair(teacher: StreamDiT, x1: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
              scheme: PartitionScheme, guidance_scale: float, generator: torch.Generator | None = None,
              sigma_min: float = 1e-5, autocast_dtype: torch.dtype | None = torch.bfloat16) -> DistillBatch:
    """Build a DistillBatch from clean latents x1 (float32 [b, C, B, h, w]) and their captions' embeddings.

    text [b, L, D_text], text_mask [b, L] bool (all conditional: guidance is folded into the target);
    generator: a CPU generator for the noise x0.
    """
    if scheme.K:
        raise ConfigError(f"distillation uses K = 0 reference frames, got {scheme.describe()}")
    noise = torch.randn(x1.shape, generator=generator, dtype=torch.float32).to(x1.device)  # CPU generator
    x, t = segment_start(x1, noise, scheme, sigma_min)
    x_end = teacher_segment(teacher, x, text, text_mask, scheme, guidance_scale, autocast_dtype)
    return DistillBatch(x, t, text, text_mask, target_velocity(x, x_end, scheme))


def distillation_loss(student: StreamDiT | torch.nn.Module, batch: DistillBatch) -> torch.Tensor:
    """MSE between the student's conditional velocity and v*, over every frame (scalar float32).

    Call it under the autocast the loop wants; the error is computed in float32.
    """
    v = student(batch.x, batch.t, batch.text, batch.text_mask)  # (b, C, B, h, w)
    return (v.float() - batch.target).pow(2).mean()

"""Multistep distillation (StreamDiT, arXiv 2507.03745, section 3.4): one model call per emitted chunk.

The teacher streams with c = 2, N = B / c chunks (8 for the paper's B = 16) and s = 16 micro-steps per
chunk position, with classifier-free guidance: T = s*N = 128 steps per chunk, and 2 model evaluations per
micro-step. Its trajectory is cut into N segments (one per buffer position), and each segment of s guided
micro-steps is distilled into one conditional step. The student has the same architecture, starts from the
teacher's weights, and streams with the same c and N but s = 1 and no CFG, so every step is one forward
pass and emits one chunk (NFE = N per chunk lifetime). The loss (runtime.distillation.target): from a
buffer x at the segment starts, the teacher's s micro-steps reach x_end; the student regresses
v* = (x_end - x) * N, the velocity whose one Euler step of size 1/N lands on x_end.

Usage:

    streamdit distill --teacher default --out runs/distill            # the shipped default teacher
    streamdit distill --teacher runtime/checkpoints/toy --out runs/toy-distill --steps 500 --batch-size 4
    streamdit generate --checkpoint runs/distill/checkpoint -p "the player walks left across the grass"

The training clips are the teacher's own training data (its config's training.data section); pass
--data DIR (latents from `streamdit encode-latents`) when the teacher has none or they moved. Options
--chunk, --micro-steps and --guidance set the teacher's scheme (defaults 2, 16 and the teacher's
guidance_scale). The run writes OUT/checkpoint (the EMA student in bf16 and the teacher's autoencoder, so
StreamDiTPipeline.from_checkpoint(OUT/checkpoint).scheme() is the one-call scheme, s = 1 and guidance 1)
and OUT/log.jsonl (step, loss, lr, seconds); rerunning the same command resumes, and more --steps
continue a finished run. A checkpoint from another teacher or target is refused: choose another --out.

Folding guidance into a student (`--fold-guidance G`, DistillConfig.fold_guidance): the teacher is then a
distilled student itself, run with CFG at scale G (one micro-step, its own c and N), and each target is
its guided velocity v_u + G (v_c - v_u) at the segment-start levels. The new student starts from its
weights and regresses that with one conditional call, so it streams at the same cost (one call per chunk,
no CFG) with the guidance folded in; its config keeps the multistep teacher in sampling.distilled_from and
names the folded student in sampling.guidance_folded:

    streamdit distill --teacher default --fold-guidance 1.5 --out runs/fold15 --max-minutes 30

In Python: `Distiller(DistillConfig(teacher=..., out=...)).run()`.
"""

from runtime.distillation.distiller import DistillConfig, Distiller, DistillResult
from runtime.distillation.target import (DistillBatch, distillation_loss, make_pair, segment_start, student_scheme,
                                         target_velocity, teacher_scheme, teacher_segment)

__all__ = ["DistillBatch", "DistillConfig", "DistillResult", "Distiller", "distillation_loss", "make_pair",
           "segment_start", "student_scheme", "target_velocity", "teacher_scheme", "teacher_segment"]

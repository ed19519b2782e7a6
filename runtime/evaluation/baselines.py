"""The checkpoints and the generated rows of `streamdit eval` (DESIGN.md section 9, paper section 4).

The table compares, at an equal number of model calls per video frame, the teacher streaming with its own
scheme against the paper's two baselines run on the same checkpoint: diagonal sampling (c = 1, FIFO-style)
and chunked extension (N = 1 with K reference frames carried from one clip into the next), the FIFO-style
baseline (a checkpoint of the same architecture trained on uniform noise only, c = B, and sampled diagonally
as FIFO-Diffusion does; paper Table 2), plus the distilled student (its own one-call-per-chunk scheme) and
an untrained model of the same size (a floor for the Frechet distance). The command
(runtime/commands/evaluate.py) runs and prints; this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdk.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from runtime.pipeline import StreamDiTPipeline
    from runtime.sampling.partition import PartitionScheme


@dataclass
class EvalCheckpoints:
    """The teacher and the optional distilled student of one evaluation, with their configs.

    size: the frame side in pixels that both stream (the reference set and the classifier must match it).
    """

    teacher_dir: Path
    teacher_config: dict
    student_dir: Path | None
    student_config: dict | None
    size: int
    fifo_dir: Path | None = None
    fifo_config: dict | None = None


def uniform_noise_only(config: dict) -> bool:
    """Whether a checkpoint was trained on uniform noise only: the partitioning its config records
    (`training.partition`, built as the trainer builds it) draws c = B (every frame of a clip at one noise
    level) and nothing else, without reference frames. False when the config records no valid partition."""
    from runtime.training.config import PartitionConfig
    from runtime.training.flow_matching import MixedPartitioning

    part = config.get("training", {}).get("partition")
    if not part:
        return False
    try:
        mp = MixedPartitioning.from_config(PartitionConfig(**part))
    except (ConfigError, TypeError):
        return False
    return mp.reference_prob == 0 and mp.drawn_sizes() == [mp.buffer_frames]


def eval_checkpoints(checkpoint: str | None, student: str | None, want_student: bool,
                     fifo: str | None = None) -> EvalCheckpoints:
    """Resolve and check the checkpoints before anything slow runs.

    checkpoint: the teacher (directory or shipped name; None: the shipped teacher, else the default model).
    student: the distilled student (None: the shipped default model when it is distilled, else no student).
    want_student: whether the table has a 'distilled' row; without one no student is resolved.
    fifo: the FIFO-style baseline's checkpoint (the 'fifo' row), or None for no such row.
    Raises ConfigError when the teacher is a distilled student, when a named student is not distilled, when
    the FIFO baseline is distilled, was not trained on uniform noise only (`uniform_noise_only`) or has
    another buffer length, or when any two stream frames of different sizes; CheckpointError when a named
    checkpoint is missing.
    """
    from runtime.checkpoints import default_teacher, resolve
    from runtime.model.autoencoder import frame_size
    from runtime.model.checkpoint import is_distilled, read_config

    teacher_dir = resolve(checkpoint if checkpoint is not None else default_teacher())
    teacher_config = read_config(teacher_dir)
    if is_distilled(teacher_config):
        raise ConfigError(f"--checkpoint {teacher_dir} is a distilled student; the teacher rows need a teacher "
                          f"(the shipped one is `--checkpoint teacher`); give the student as --student")
    student_dir, student_config = None, None
    if want_student:
        try:
            student_dir = resolve(student if student is not None else "default")
        except CheckpointError:
            if student is not None:
                raise
        student_config = read_config(student_dir) if student_dir is not None else None
        if student_config is not None and not is_distilled(student_config):
            if student is not None:
                raise ConfigError(f"--student {student_dir} is not a distilled checkpoint (its config has no "
                                  f"sampling.distilled_from); pass the output of `streamdit distill`")
            student_dir, student_config = None, None
    size = frame_size(teacher_config)[0]
    student_size = frame_size(student_config)[0] if student_config is not None else size
    if student_size != size:
        raise ConfigError(f"--student {student_dir} streams {student_size}-px frames and the teacher {teacher_dir} "
                          f"{size}-px ones; evaluate a student with its own teacher")
    fifo_dir, fifo_config = None, None
    if fifo is not None:
        fifo_dir = resolve(fifo)
        fifo_config = read_config(fifo_dir)
        if is_distilled(fifo_config):
            raise ConfigError(f"--fifo {fifo_dir} is a distilled student; the FIFO-style baseline is a checkpoint "
                              f"trained on uniform noise only (configs/crafter72_fifo.toml)")
        if not uniform_noise_only(fifo_config):
            part = fifo_config.get("training", {}).get("partition", {})
            raise ConfigError(f"--fifo {fifo_dir} was not trained on uniform noise only (its training drew chunk "
                              f"sizes {part.get('chunk_sizes')}); train one with [partition] chunk_sizes = [B], "
                              f"as configs/crafter72_fifo.toml does")
        if frame_size(fifo_config)[0] != size or int(fifo_config["buffer_frames"]) != int(teacher_config["buffer_frames"]):
            raise ConfigError(f"--fifo {fifo_dir} streams {frame_size(fifo_config)[0]}-px frames with a buffer of "
                              f"{fifo_config['buffer_frames']} and the teacher {teacher_dir} {size}-px ones with "
                              f"{teacher_config['buffer_frames']}; the baseline must match the teacher")
    return EvalCheckpoints(teacher_dir, teacher_config, student_dir, student_config, size, fifo_dir, fifo_config)


class EqualBudgetRows:
    """The generated rows of the table, each a (pipeline, scheme, name), at the teacher's model calls per frame.

    The teacher's budget is s / (c * tf) calls per video frame (`calls_per_frame`). Diagonal sampling (c = 1)
    gets s = round(budget * tf) micro-steps per position, chunked extension (c = B - K, N = 1) gets
    s = round(budget * (B - K) * tf), so every baseline spends what the teacher spends. The student keeps its
    own scheme (one call per chunk): its row shows what distillation saves. The FIFO-style baseline samples
    diagonally (c = 1) with the diagonal row's micro-steps, under its own CFG scale.

    pipe: the teacher's pipeline; student: the distilled student's, or None; chunked_k: reference frames K of
    the chunked row (default B / 2); fifo: the FIFO-style baseline's pipeline (trained on uniform noise only),
    or None. Raises ConfigError when chunked_k is not in [1, B - 1].
    """

    KEYS = ("teacher", "distilled", "diagonal", "chunked", "fifo", "untrained")

    def __init__(self, pipe: StreamDiTPipeline, student: StreamDiTPipeline | None = None,
                 chunked_k: int | None = None, fifo: StreamDiTPipeline | None = None) -> None:
        from runtime.evaluation.evaluate import calls_per_frame

        tf = pipe.temporal_factor
        B = pipe.buffer_frames
        k = B // 2 if chunked_k is None else chunked_k
        if not 0 < k < B:
            raise ConfigError(f"--chunked-k must be in [1, {B - 1}] for a buffer of B = {B} latent frames, got {k}")
        self.pipe, self.student, self.fifo, self.chunked_k = pipe, student, fifo, k
        self.teacher = pipe.scheme()
        self.budget = calls_per_frame(self.teacher, tf)  # equal model calls per frame in every generated row
        self._schemes: dict[str, PartitionScheme] = {
            "teacher": self.teacher,
            "diagonal": pipe.scheme(1, max(1, round(self.budget * tf))),
            "chunked": pipe.scheme(B - k, max(1, round(self.budget * (B - k) * tf)), k),
            "untrained": self.teacher,
        }
        self._names = {"teacher": f"teacher (c = {self.teacher.c})", "diagonal": "diagonal c = 1 (FIFO-style sampling)",
                       "chunked": f"chunked extension (N = 1, K = {k})", "untrained": "untrained model, same size"}
        if student is not None:
            st = self._schemes["distilled"] = student.scheme()
            sampling = student.config.get("sampling", {})
            g = float(sampling.get("guidance_scale", 1.0))
            folded = (sampling.get("guidance_folded") or {}).get("guidance_scale")
            cfg_text = 'no CFG' if g == 1.0 else f'CFG {g:g}'
            if folded is not None:
                cfg_text += f", CFG {folded:g} folded in"
            self._names["distilled"] = f"distilled student ({st.s} call{'s' if st.s > 1 else ''} per chunk, {cfg_text})"
        if fifo is not None:
            d = self._schemes["diagonal"]
            self._schemes["fifo"] = fifo.scheme(d.c, d.s)
            self._names["fifo"] = "FIFO-style baseline (trained on uniform noise only, c = B; diagonal sampling)"

    def _check(self, key: str) -> None:
        if key not in self._schemes:
            raise ConfigError(f"no {key!r} row: choose from {', '.join(k for k in self.KEYS if k in self._schemes)}"
                              + {"distilled": " (pass --student DIR for a distilled row)",
                                 "fifo": " (pass --fifo DIR for the FIFO-style row)"}.get(key, ""))

    def scheme(self, key: str) -> PartitionScheme:
        """The partition scheme of row `key` (one of KEYS). Raises ConfigError for a row it does not have."""
        self._check(key)
        return self._schemes[key]

    def name(self, key: str) -> str:
        """The row's name in the table, e.g. 'chunked extension (N = 1, K = 4)'."""
        self._check(key)
        return self._names[key]

    def pipeline(self, key: str, seed: int = 0) -> StreamDiTPipeline:
        """The pipeline that generates row `key`; 'untrained' builds a freshly initialised DiT of the teacher's
        config (seeded with `seed`) on each call, so build it only when the row runs."""
        self._check(key)
        if key == "untrained":
            from runtime.evaluation.evaluate import untrained_like

            return untrained_like(self.pipe, seed)
        return {"distilled": self.student, "fifo": self.fifo}.get(key) or self.pipe

"""Multistep distillation (runtime.distillation) on the toy checkpoint: the target, the loop, the student
checkpoint, resume and refusals. Tiny schemes (s = 2) and batches keep every test to a few seconds."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from runtime.checkpoints import resolve
from runtime.cli import app
from runtime.distillation import (DistillConfig, Distiller, distillation_loss, segment_start, student_scheme,
                                  target_velocity, teacher_scheme, teacher_segment)
from runtime.model.checkpoint import load_model, save_checkpoint
from runtime.pipeline import StreamDiTPipeline
from runtime.sampling.streaming import StreamingSampler
from sdk.errors import CheckpointError, ConfigError

TOY = resolve("toy")


def tiny(out: Path, steps: int = 2, **kw) -> DistillConfig:
    """A distillation run on the toy teacher: s = 2 micro-steps, one clip per step."""
    return DistillConfig(**{"teacher": str(TOY), "out": str(out), "micro_steps": 2, "batch_size": 1,
                            "steps": steps, "warmup_steps": 1, "log_every": 1, **kw})


def test_target_step_lands_on_the_streaming_samplers_segment_endpoint():
    pipe = StreamDiTPipeline.from_checkpoint(TOY, device="cpu")
    g = float(pipe.config["sampling"]["guidance_scale"])
    sch = teacher_scheme(pipe.buffer_frames, c=2, s=2)  # N = 4 chunks of 2 frames, T = 8
    smp = StreamingSampler(pipe.model, sch, pipe.latent_shape, guidance_scale=g, autocast_dtype=None)
    text, mask = pipe.text_encoder.encode_one("a red square moves left")
    sid = smp.add_stream(text, mask, seed=3)
    while not smp.is_streaming(sid):
        assert smp.step() == []
    _, tau, micro = smp.buffer_state(sid)
    assert micro == 0 and torch.equal(tau, sch.levels(0))  # chunk p at (N-1-p)/N: the segment starts
    x = smp._streams[sid].x.clone()[None]  # (1, C, B, h, w)

    x_end = teacher_segment(pipe.model, x, text[None], mask[None], sch, g, autocast_dtype=None)
    emitted = [chunk for _ in range(sch.s) for chunk in smp.step()]
    assert len(emitted) == 1
    torch.testing.assert_close(emitted[0].latent, x_end[0, :, : sch.c], rtol=0, atol=1e-5)  # the clean chunk
    torch.testing.assert_close(smp._streams[sid].x[:, : sch.B - sch.c], x_end[0, :, sch.c:], rtol=0, atol=1e-5)

    # one student Euler step of size 1/N with v* lands on the teacher's s-micro-step endpoint
    stu = student_scheme(sch)
    assert (stu.N, stu.c, stu.s, stu.T) == (sch.N, sch.c, 1, sch.N)
    v = target_velocity(x, x_end, sch)
    torch.testing.assert_close(x + v * stu.step_sizes().float()[None, None, :, None, None], x_end, rtol=0, atol=1e-5)


def test_segment_start_noises_each_chunk_to_its_level():
    sch = teacher_scheme(8, c=2, s=16)
    x1, noise = torch.randn(2, 3, 8, 4, 4), torch.randn(2, 3, 8, 4, 4)
    x, t = segment_start(x1, noise, sch, sigma_min=0.0)
    assert t.dtype == torch.float32 and torch.equal(t[1], sch.levels(0).float())
    torch.testing.assert_close(x[:, :, -2:], noise[:, :, -2:])  # newest chunk: pure noise
    torch.testing.assert_close(x[:, :, :2], 0.75 * x1[:, :, :2] + 0.25 * noise[:, :, :2])  # oldest: (N-1)/N


def test_a_few_steps_overfit_one_batch(tmp_path):
    d = Distiller(tiny(tmp_path, lr=1e-3))
    batch = d.make_batch(torch.Generator().manual_seed(0))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = float(distillation_loss(d.student, batch))
    losses = [d.train_step(batch)[0] for _ in range(30)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        after = float(distillation_loss(d.student, batch))
    assert before > 0 and after < before / 3, (before, losses, after)
    assert not (tmp_path / "checkpoint").exists()  # only run() writes


def test_student_checkpoint_streams_with_one_call_per_chunk(tmp_path):
    result = Distiller(tiny(tmp_path)).run(progress=False)
    assert result.step == 2 and result.checkpoint == tmp_path / "checkpoint"
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and {"loss", "lr", "seconds"} <= set(log[0])

    pipe = StreamDiTPipeline.from_checkpoint(result.checkpoint, device="cpu")
    sampling = pipe.config["sampling"]
    assert sampling["guidance_scale"] == 1.0
    assert sampling["distilled_from"]["scheme"] == {"K": 0, "N": 4, "c": 2, "s": 2}
    assert sampling["distilled_from"]["guidance_scale"] == 4.0
    scheme = pipe.scheme()
    assert (scheme.c, scheme.s, scheme.N) == (2, 1, 4)
    smp = pipe.sampler()
    assert smp.guidance_scale == 1.0
    sid = smp.add_stream(*pipe.text_encoder.encode_one("a blue circle moves up"), seed=0)
    while not smp.is_streaming(sid):
        smp.step()
    for _ in range(5):
        calls = smp.model_calls
        assert len(smp.step()) == 1 and smp.model_calls == calls + 1
    frames = pipe.decode(smp.step()[0].latent)
    assert frames.shape == (2, 32, 32, 3)
    with pytest.raises(ConfigError, match="already a distilled student"):  # a student is no teacher
        Distiller(tiny(tmp_path / "again", teacher=str(result.checkpoint)))


def test_resume_continues_and_refuses_a_damaged_or_foreign_checkpoint(tmp_path):
    Distiller(tiny(tmp_path, steps=2)).run(progress=False)
    d = Distiller(tiny(tmp_path, steps=3))
    assert d.step == 2
    assert d.run(progress=False).step == 3
    assert [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == [1, 2, 3]

    with pytest.raises(CheckpointError, match="guidance_scale"):  # another target
        Distiller(tiny(tmp_path, steps=4, guidance_scale=2.0))
    other = tmp_path / "teacher2"  # another teacher: same architecture, other weights
    loaded = load_model(TOY)
    sd = {k: v + 0.01 if v.is_floating_point() else v for k, v in loaded.model.state_dict().items()}
    save_checkpoint(other, {k: v for k, v in loaded.config.items() if k not in ("format", "version")}, {"model": sd})
    with pytest.raises(CheckpointError, match="teacher_sha256"):
        Distiller(tiny(tmp_path, steps=4, teacher=str(other)))

    ckpt = tmp_path / "checkpoint"
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated: damaged
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "teacher2" not in p.parts}
    with pytest.raises(CheckpointError, match="model.safetensors is corrupted"):
        Distiller(tiny(tmp_path, steps=4))
    after = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "teacher2" not in p.parts}
    assert after == before  # nothing was overwritten


def test_cli_teacher_without_training_data_needs_data(tmp_path):
    teacher = tmp_path / "teacher"
    shutil.copytree(TOY, teacher)
    config = json.loads((teacher / "config.json").read_text())
    del config["training"]
    (teacher / "config.json").write_text(json.dumps(config))
    res = CliRunner().invoke(app, ["distill", "--teacher", str(teacher), "--out", str(tmp_path / "run"),
                                   "--steps", "1", "--no-progress"])
    assert res.exit_code == 2 and "--data DIR" in res.output and "training data" in res.output, res.output
    res = CliRunner().invoke(app, ["distill", "--teacher", "toy", "--out", str(tmp_path / "run"), "--chunk", "3",
                                   "--no-progress"])
    assert res.exit_code == 2 and "cannot be cut into chunks of c = 3" in res.output, res.output
    res = CliRunner().invoke(app, ["distill", "--teacher", "toy", "--out", str(tmp_path / "run"), "--buffer-frames",
                                   "5", "--no-progress"])
    assert res.exit_code == 2 and "multiple of --chunk" in res.output, res.output
    assert not (tmp_path / "run").exists()


def test_init_from_starts_the_student_from_a_distilled_student_and_refuses_a_teacher(tmp_path):
    first = Distiller(tiny(tmp_path / "first", steps=2)).run(progress=False).checkpoint
    start = load_model(first).model.state_dict()
    assert any(not torch.equal(v, load_model(TOY).model.state_dict()[k]) for k, v in start.items())

    d = Distiller(tiny(tmp_path / "second", steps=1, init_from=str(first)))
    assert d.step == 0 and d.init_id["checkpoint"] == str(first)
    assert all(torch.equal(v, start[k]) for k, v in d.student.state_dict().items())  # not the teacher's
    assert all(torch.equal(v, start[k]) for k, v in d.ema.state_dict().items())
    out = d.run(progress=False).checkpoint
    config = json.loads((out / "config.json").read_text())
    assert config["distillation"]["init_from"]["checkpoint"] == str(first)
    assert Distiller(tiny(tmp_path / "second", steps=2, init_from=str(first))).step == 1  # a resume ignores it

    with pytest.raises(CheckpointError, match="not a distilled student"):  # a teacher is no student
        Distiller(tiny(tmp_path / "third", init_from=str(TOY)))
    with pytest.raises(CheckpointError, match="--chunk 2"):  # another c: the student's chunk positions differ
        Distiller(tiny(tmp_path / "fourth", chunk=1, init_from=str(first)))
    assert not (tmp_path / "third").exists() and not (tmp_path / "fourth").exists()


def test_fold_guidance_targets_the_students_own_guided_velocity_and_records_the_lineage(tmp_path):
    """--fold-guidance: the teacher is a distilled student run with CFG; the target of each pair is its own
    guided velocity at the segment-start levels (one micro-step of 1/N), and the folded student streams with
    one call per chunk and no CFG, its config naming both the multistep teacher and the folded student."""
    from runtime.sampling.euler import guided_velocity

    first = Distiller(tiny(tmp_path / "first", steps=2)).run(progress=False).checkpoint
    fold = DistillConfig(teacher=str(first), out=str(tmp_path / "fold"), micro_steps=1, guidance_scale=2.5,
                         fold_guidance=True, batch_size=2, steps=2, warmup_steps=1, log_every=1)
    d = Distiller(fold)
    assert (d.scheme.c, d.scheme.s, d.scheme.N) == (2, 1, 4) and d.guidance_scale == 2.5
    batch = d.make_batch(torch.Generator().manual_seed(0))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        guided = guided_velocity(d.teacher, batch.x, batch.t, batch.text, batch.text_mask, 2.5)
        plain = guided_velocity(d.teacher, batch.x, batch.t, batch.text, batch.text_mask, 1.0)
    assert torch.allclose(batch.target, guided, atol=1e-3), (batch.target - guided).abs().max()
    assert (batch.target - plain).abs().mean() > 1e-3  # the guidance is really in the target
    out = d.run(progress=False).checkpoint
    config = json.loads((out / "config.json").read_text())
    first_config = json.loads((first / "config.json").read_text())
    sampling = config["sampling"]
    assert sampling["distilled_from"] == first_config["sampling"]["distilled_from"]  # the multistep teacher
    assert sampling["guidance_folded"]["teacher"] == str(first) and sampling["guidance_folded"]["guidance_scale"] == 2.5
    assert config["distillation"]["before_folding"] == first_config["distillation"]
    pipe = StreamDiTPipeline.from_checkpoint(out, device="cpu")
    assert pipe.sampler().guidance_scale == 1.0 and (pipe.scheme().s, pipe.scheme().c) == (1, 2)
    assert Distiller(DistillConfig(**{**fold.__dict__, "steps": 3})).step == 2  # it resumes
    with pytest.raises(CheckpointError, match="guidance_scale"):  # another scale is another target
        Distiller(DistillConfig(**{**fold.__dict__, "guidance_scale": 2.0}))
    with pytest.raises(ConfigError, match="not one"):  # a multistep teacher has nothing to fold into
        Distiller(DistillConfig(**{**fold.__dict__, "teacher": str(TOY), "out": str(tmp_path / "x")}))
    with pytest.raises(ConfigError, match="other than 1"):
        DistillConfig(teacher=str(first), out=str(tmp_path / "y"), micro_steps=1, fold_guidance=True)
    with pytest.raises(ConfigError, match="--micro-steps 1"):
        DistillConfig(teacher=str(first), out=str(tmp_path / "y"), guidance_scale=2.0, fold_guidance=True)
    res = CliRunner().invoke(app, ["distill", "--teacher", str(first), "--fold-guidance", "1.5", "--out",
                                   str(tmp_path / "cli"), "--steps", "1", "--batch-size", "1", "--no-progress"])
    assert res.exit_code == 0 and "folded into the student" in res.output, res.output
    cli_cfg = json.loads((tmp_path / "cli" / "checkpoint" / "config.json").read_text())
    assert cli_cfg["sampling"]["guidance_folded"]["scheme"] == {"K": 0, "N": 4, "c": 2, "s": 1}
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_smaller_buffer_makes_a_student_that_streams_with_it_and_is_refused_where_it_does_not_fit(tmp_path):
    """--buffer-frames 4 on the toy teacher (B = 8): the teacher runs its micro-steps on 4-frame buffers (N = 2
    chunks of 2), the clips drawn are 4 frames long, and the student's checkpoint streams with B = 4, one call
    per chunk; a resume under another buffer, a fold into another buffer and a warm start from a student of
    another buffer are refused before anything is written."""
    d = Distiller(tiny(tmp_path / "b4", buffer_frames=4))
    assert (d.buffer_frames, d.teacher_buffer) == (4, 8) and (d.scheme.N, d.scheme.c, d.scheme.B) == (2, 2, 4)
    batch = d.make_batch(torch.Generator().manual_seed(0))
    assert batch.x.shape[2] == 4 and batch.target.shape == batch.x.shape
    torch.testing.assert_close(batch.t[0], teacher_scheme(4, c=2, s=2).levels(0).float())  # levels 1/2, 0
    out = d.run(progress=False).checkpoint
    config = json.loads((out / "config.json").read_text())
    assert config["buffer_frames"] == 4 and config["sampling"]["distilled_from"]["scheme"]["N"] == 2
    pipe = StreamDiTPipeline.from_checkpoint(out, device="cpu")
    assert (pipe.buffer_frames, pipe.scheme().N, pipe.scheme().s) == (4, 2, 1)
    smp = pipe.sampler()
    sid = smp.add_stream(*pipe.text_encoder.encode_one("a red square moves left"), seed=0)
    while not smp.is_streaming(sid):
        smp.step()
    calls = smp.model_calls
    assert len(smp.step()) == 1 and smp.model_calls == calls + 1

    with pytest.raises(CheckpointError, match="another teacher or target"):  # another buffer is another N
        Distiller(tiny(tmp_path / "b4", steps=3))
    fold = Distiller(DistillConfig(teacher=str(out), out=str(tmp_path / "fold4"), micro_steps=1, guidance_scale=2.0,
                                   fold_guidance=True, batch_size=1))  # folds into the 4-frame student's own buffer
    assert fold.buffer_frames == 4 and fold.make_batch(torch.Generator().manual_seed(0)).x.shape[2] == 4
    with pytest.raises(ConfigError, match="folding guidance keeps"):
        Distiller(DistillConfig(teacher=str(out), out=str(tmp_path / "fold"), micro_steps=1, guidance_scale=2.0,
                                fold_guidance=True, buffer_frames=8))
    with pytest.raises(CheckpointError, match="--buffer-frames 4"):
        Distiller(tiny(tmp_path / "warm", init_from=str(out)))
    with pytest.raises(ConfigError, match="multiple of --chunk"):
        tiny(tmp_path / "odd", buffer_frames=5)
    assert not any((tmp_path / name).exists() for name in ("fold", "warm", "odd"))

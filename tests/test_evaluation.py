"""`streamdit eval` parts: the clip classifier, the Frechet distance, batched generation, contact sheets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.checkpoints import resolve
from runtime.evaluation import classifier as clf
from runtime.evaluation import evaluate as ev
from runtime.training.data.capture import crafter_view
from runtime.training.metrics import frechet_distance, global_shift
from sdk.errors import CheckpointError, ConfigError, DataError, ShapeError


def _scroll_windows(n: int, direction: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """n windows of a random blocky texture scrolling 4 px per frame left (-1) or right (+1)."""
    out = []
    for _ in range(n):
        base = (rng.random((size // 4, size * 3 // 4, 3)) * 255).astype(np.uint8)
        base = np.repeat(np.repeat(base, 4, 0), 4, 1)
        out.append(np.stack([np.roll(base, 4 * direction * i, axis=1)[:, :size] for i in range(clf.WINDOW)]))
    return np.stack(out)


def test_classifier_learns_scroll_direction_and_round_trips(tmp_path: Path):
    rng = np.random.default_rng(0)
    # enough distinct textures that memorising them does not pay: the scroll direction is what generalises
    frames = np.concatenate([_scroll_windows(400, -1, rng), _scroll_windows(400, 1, rng)])
    labels = np.repeat(np.arange(2), 400)
    model, report = clf.train_classifier(clf.LabelledWindows(frames, labels), ["left", "right"], steps=100,
                                         batch=32, heldout=clf.LabelledWindows(
                                             np.concatenate([_scroll_windows(16, -1, rng), _scroll_windows(16, 1, rng)]),
                                             np.repeat(np.arange(2), 16)))
    assert report["heldout_balanced_accuracy"] >= 0.9, report
    # whole clips: windows are averaged; features are FEATURE_DIM per window
    clip = np.concatenate(list(_scroll_windows(3, 1, rng)))  # 24 frames scrolling right
    logp, feats = clf.clip_scores(model, [clip, clip[:8]])
    assert logp.shape == (2, 2) and logp[0].argmax() == 1 and feats.shape == (4, clf.FEATURE_DIM)
    clf.save_classifier(model, tmp_path / "c", {"report": report})
    again = clf.load_classifier(tmp_path / "c")
    x = torch.from_numpy(frames[:4])
    torch.testing.assert_close(again.features(x), model.features(x))
    assert json.loads((tmp_path / "c" / "config.json").read_text())["classes"] == ["left", "right"]


def test_classifier_refuses_bad_files_and_shapes(tmp_path: Path):
    model = clf.ClipClassifier(["a", "b", "c"], 32)
    clf.save_classifier(model, tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["classes"] = ["a", "b"]  # the head no longer matches the weights
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="cannot load the clip classifier"):
        clf.load_classifier(tmp_path / "c")
    with pytest.raises(CheckpointError):
        clf.load_classifier(tmp_path / "missing")
    with pytest.raises(ShapeError):
        model.features(torch.zeros(1, 3, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ShapeError):
        clf.windows(np.zeros((4, 32, 32, 3), np.uint8))


def test_frechet_distance_matches_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4)) * 2.0 + 1.0
    assert abs(frechet_distance(a, a)) < 1e-9
    # mean term 4 * 1, covariance term 4 * (1 + 4 - 2 * 2) = 4
    assert frechet_distance(a, b) == pytest.approx(8.0, rel=0.05)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    with pytest.raises(ShapeError):
        frechet_distance(a, b[:, :3])


def test_generate_batch_streams_every_prompt_like_a_lone_stream():
    from runtime.pipeline import StreamDiTPipeline

    pipe = StreamDiTPipeline.from_checkpoint(resolve("toy"), device="cpu")
    prompts = ["a red square moves right", "a blue circle moves up"]
    scheme = pipe.scheme()
    vids = ev.generate_batch(pipe, prompts, 8, scheme, seeds=[5, 6], skip_frames=4, guidance_scale=1.0)
    assert [v.shape[0] for v in vids] == [8, 8] and vids[0].dtype == np.uint8
    alone = pipe.generate(prompts[1], 12, seed=6, scheme=scheme, guidance_scale=1.0)[4:]
    # the same stream, batched with another or alone: equal up to bf16 rounding of the batched matmuls
    assert np.abs(vids[1].astype(int) - alone.astype(int)).mean() < 2.0
    assert np.abs(vids[0].astype(int) - vids[1].astype(int)).mean() > 5.0  # different prompts, different clips


def test_generate_batch_continues_the_footage_it_starts_from():
    """A stream started from clean footage (its buffer filled from the clip, no model call) emits frames that
    carry that footage: a stream started from a red clip emits redder first frames than one started from a
    blue clip under the same prompt and seed, and both differ from the text-only start."""
    from runtime.pipeline import StreamDiTPipeline

    pipe = StreamDiTPipeline.from_checkpoint(resolve("toy"), device="cpu")
    scheme = pipe.scheme()
    n = scheme.B * pipe.temporal_factor
    red, blue = (np.zeros((n, 32, 32, 3), np.uint8) for _ in range(2))
    red[..., 0], blue[..., 2] = 220, 220
    prompt = "a green triangle moves left"
    from_red, from_blue, from_noise = ev.generate_batch(pipe, [prompt] * 3, 2, scheme, seeds=[3, 3, 3],
                                                        guidance_scale=1.0, starts=[red, blue, red])[:2] + \
        ev.generate_batch(pipe, [prompt], 2, scheme, seeds=[3], guidance_scale=1.0)

    def redness(v: np.ndarray) -> float:
        return float(v[..., 0].astype(int).mean() - v[..., 2].astype(int).mean())

    assert redness(from_red) > redness(from_blue) + 50, (redness(from_red), redness(from_blue))
    assert np.abs(from_red.astype(int) - from_noise.astype(int)).mean() > 10.0
    with pytest.raises(ConfigError, match="one per prompt"):
        ev.generate_batch(pipe, [prompt] * 2, 2, scheme, starts=[red])
    with pytest.raises(ConfigError, match="fewer clips than the 2 seeds"):
        ev.direction_clips(pipe, 2, seeds=(0, 1), starts={d: [red] for d in ev.WALK_AXIS})


def _walk_clip(d: str, rng: np.random.Generator, size: int = 72, frames: int = 8, step: int = 8) -> np.ndarray:
    """A clip whose whole view scrolls as a walk `d` scrolls real Crafter (WALK_AXIS), `step` px per frame."""
    key, sign = ev.WALK_AXIS[d]
    base = rng.integers(0, 255, (size + frames * step, size + frames * step, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base[::4, ::4], 4, 0), 4, 1)[: size + frames * step, : size + frames * step]
    axis, move = (1, sign) if key == "shift_dx" else (0, sign)
    out = []
    for i in range(frames):
        o = (frames * step if move > 0 else 0) - move * i * step  # content moves +move * step px per frame
        out.append(base[o: o + size, :size] if axis == 0 else base[:size, o: o + size])
    return np.stack(out)


def test_real_walk_starts_keeps_only_clips_that_scroll_the_captioned_way(monkeypatch):
    """Held-out clips captioned with a walk are kept as starts only when their view scrolls that way (a
    caption of "walks right" over a clip that scrolls as a left walk is left out); too few is refused."""
    import runtime.training.data.dataset as dataset

    rng = np.random.default_rng(0)
    opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}
    items = []
    for d in ev.WALK_AXIS:
        items += [(_walk_clip(d, rng), ["player_moves_" + d])] * 3
        items.append((_walk_clip(opposite[d], rng), ["player_moves_" + d]))  # captioned one way, scrolls the other
    items.append((_walk_clip("left", rng), ["night"]))  # no walk in the caption

    class FakeClips:
        def __init__(self, root, clip_frames, split="train", stride=None, cache_episodes=4):
            assert split == "heldout" and clip_frames == 8

        def __len__(self):
            return len(items)

        def caption(self, i):
            return "", items[i][1]

        def __getitem__(self, i):
            return items[i][0], "", items[i][1]

    monkeypatch.setattr(dataset, "CrafterClips", FakeClips)
    starts, summary = ev.real_walk_starts("unused", 8, 3, seed=1)
    assert list(starts) == list(ev.WALK_AXIS) and all(len(v) == 3 for v in starts.values())
    for r in summary:
        key, sign = ev.WALK_AXIS[r["direction"]]
        assert r["candidates"] == 3 and sign * r[key] == pytest.approx(8.0), r  # the opposite clip is left out
    assert all(v.shape == (8, 72, 72, 3) for vs in starts.values() for v in vs)
    with pytest.raises(ConfigError, match="too few walking clips"):
        ev.real_walk_starts("unused", 8, 4)


def test_contact_sheet_lays_out_rows(tmp_path: Path):
    import cv2

    clip = np.zeros((10, 16, 16, 3), np.uint8)
    path = ev.contact_sheet([("real", [clip, clip]), ("generated", [clip])], tmp_path / "s.png", frames_shown=4,
                            scale=1)
    img = cv2.imread(str(path))
    assert img.shape == (2 * 22 + 3 * 18, 4 * 18, 3)


def test_calls_per_frame_are_equal_across_the_table_schemes():
    from runtime.sampling.partition import PartitionScheme

    teacher = PartitionScheme.for_buffer(16, 2, 8)
    diagonal = PartitionScheme.for_buffer(16, 1, 4)
    chunked = PartitionScheme.for_buffer(16, 8, 32, K=8)
    assert {ev.calls_per_frame(s) for s in (teacher, diagonal, chunked)} == {4.0}


def test_eval_refuses_a_student_of_another_frame_size_before_anything_runs(tmp_path: Path):
    """A student whose frames differ in size from its teacher's cannot share a reference set: refused with
    both sizes named, before any data is read or output written."""
    from typer.testing import CliRunner

    from runtime.cli import app

    student = tmp_path / "student"
    shutil.copytree(resolve("toy"), student)
    cfg = json.loads((student / "config.json").read_text())
    cfg["sampling"].update(s=1, guidance_scale=1.0, distilled_from={"teacher": "toy"})
    cfg["latent_size"] = [16, 16]
    (student / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", "--checkpoint", "toy", "--student", str(student), "--data",
                                      str(tmp_path / "no_capture"), "--rows", "real,distilled", "--out", str(out)])
    assert result.exit_code == 2 and "64-px frames" in result.output and "32-px" in result.output
    assert not out.exists()


def test_eval_command_end_to_end_on_a_tiny_capture(tmp_path: Path, monkeypatch):
    """`streamdit eval` trains a classifier on a tiny capture, generates rows with the toy model, and writes
    the table, the JSON report and the contact sheet; an unknown row is refused with the allowed names."""
    pytest.importorskip("crafter")
    from typer.testing import CliRunner

    from runtime.cli import app
    from runtime.training.data.capture import capture_crafter

    data = tmp_path / "capture"
    # 256 steps leave the held-out episode room for prompts and a reference set
    capture_crafter(5, 64, data, seed=7, max_steps=256, window=16, progress=False)
    out = tmp_path / "eval"
    # A stand-in student: the toy weights under a distilled config (one call per chunk, no CFG); the row's
    # plumbing is what is tested here, distillation itself in test_distillation.py.
    student = tmp_path / "student"
    shutil.copytree(resolve("toy"), student)
    cfg = json.loads((student / "config.json").read_text())
    cfg["sampling"].update(s=1, guidance_scale=1.0, distilled_from={"teacher": "toy"},
                           guidance_folded={"teacher": "toy-student", "guidance_scale": 1.5})
    (student / "config.json").write_text(json.dumps(cfg))
    # A stand-in FIFO-style baseline: the toy weights under a config that records uniform-noise-only training
    fifo = tmp_path / "fifo"
    shutil.copytree(resolve("toy"), fifo)
    fcfg = json.loads((fifo / "config.json").read_text())
    fcfg["training"]["partition"].update(chunk_sizes=[fcfg["buffer_frames"]], chunk_probs=[1])
    (fifo / "config.json").write_text(json.dumps(fcfg))
    args = ["eval", "--checkpoint", "toy", "--student", str(student), "--fifo", str(fifo), "--data", str(data),
            "--classifier", str(tmp_path / "clf"), "--classifier-steps", "3", "--min-class-windows", "1",
            "--per-class", "1", "--frames", "16", "--reference", "8", "--rows", "real,teacher,distilled,chunked,fifo",
            "--direction-frames", "8", "--direction-seeds", "2", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval.json").read_text())
    assert report["complete"] is True  # the partial reports written after each row were replaced
    from runtime.data.recording import content_fingerprint

    assert report["data_fingerprint"] == content_fingerprint(data) and report["data"] == str(data)
    names = [r["name"] for r in report["rows"]]
    assert names[0] == "real held-out clips" and names[1].startswith("teacher") and names[3].startswith("chunked")
    assert names[2].startswith("distilled") and report["rows"][2]["calls_per_frame"] == 1 / cfg["sampling"]["c"]
    assert names[2].endswith("(1 call per chunk, no CFG, CFG 1.5 folded in)"), names[2]
    teacher = report["rows"][1]
    assert teacher["calls_per_frame"] == 4.0 and teacher["clips"] == report["rows"][0]["clips"] >= 2
    # adherence is the share of clips classified as their prompt's class: one clip per class here, so it is the
    # mean of the per-class hits (each 0 or 1), and the table prints the JSON's figures
    hits = teacher["per_class"]
    assert len(hits) == teacher["clips"] and set(hits.values()) <= {0.0, 1.0}, hits
    assert teacher["adherence"] == round(sum(hits.values()) / len(hits), 3)
    # The Frechet distance of every row is a finite positive number. Which row is closer to real play is not
    # asserted here: about 20 windows against a reference of 16 in 128-d features give a covariance term that
    # is mostly sampling noise (the toy's row read below the real row's in 2 of the last runs, with a
    # classifier of 3 and of 40 steps); test_frechet_distance_matches_gaussians checks the distance itself.
    assert all(np.isfinite(r["frechet"]) and r["frechet"] > 0 for r in report["rows"]), report["rows"]
    fifo_row = report["rows"][4]  # diagonal sampling of the uniform-noise checkpoint at the teacher's budget
    assert fifo_row["name"].startswith("FIFO-style baseline") and fifo_row["scheme"].startswith("K=0 N=8 c=1 s=4")
    assert fifo_row["calls_per_frame"] == 4.0 and fifo_row["seam_ratio"] is None and report["fifo"] == str(fifo)
    for row in report["rows"]:  # every figure has its bootstrap spread over the row's clips
        assert set(row["spread"]) == {"frechet", "adherence", "dynamic_degree", "flicker"}, row
        assert all(v >= 0 for v in row["spread"].values()), row
    table = (out / "table.md").read_text()
    assert "| real held-out clips |" in table
    sp = teacher["spread"]
    assert (f"| {teacher['frechet']:.2f} ± {sp['frechet']:.2f} | {teacher['adherence']:.3f} ± {sp['adherence']:.3f} |"
            in table), table
    assert (out / "contact_sheet.png").stat().st_size > 1000 and (tmp_path / "clf" / "config.json").exists()
    walks = report["directions_generated"]  # 4 walking prompts x seeds 0 and 1, for the teacher and the student
    assert [(r["prompt"].split()[3], r["seed"], r["frames"]) for r in walks[:3]] == [("left", 0, 8), ("left", 1, 8),
                                                                                     ("right", 0, 8)]
    assert len(walks) == len(report["directions_distilled"]) == 8
    assert [r["direction"] for r in report["directions_generated_summary"]] == ["left", "right", "up", "down"]
    assert all(r["seeds"] == 2 for r in report["directions_distilled_summary"])
    lines = result.output.splitlines()
    for name in ("generated", "distilled"):  # the printed verdict is the report's, direction by direction
        for r in report[f"directions_{name}_summary"]:
            line = next(x for x in lines if x.strip().startswith(f"{name} walks {r['direction']}: "))
            assert f"{r['along']:+.2f} px/frame along" in line, line
            assert line.endswith("follows the prompt" if r["follows"] else "does not follow"), line
    assert Path(report["directions_contact_sheet"]).stat().st_size > 1000
    student_only = list(args)  # without a teacher row the walks are the student's alone
    student_only[student_only.index("--rows") + 1] = "real,distilled"
    student_only[student_only.index("--out") + 1] = str(tmp_path / "eval_student")
    result = CliRunner().invoke(app, student_only)
    assert result.exit_code == 0, result.output
    alone = json.loads((tmp_path / "eval_student" / "eval.json").read_text())
    assert "directions_generated" not in alone and len(alone["directions_distilled"]) == 8
    assert alone["directions_distilled"] == report["directions_distilled"]  # the same seeds stream the same walks
    # --direction-start real: the walks continue held-out walking clips (here stand-ins at the toy's 32 px)
    rng = np.random.default_rng(2)
    fake = {d: [_walk_clip(d, rng, size=32, frames=8, step=2) for _ in range(2)] for d in ev.WALK_AXIS}
    summary = [{"direction": d, "clips": 2, "candidates": 2, "shift_dx": 0.0, "shift_dy": 0.0} for d in fake]
    asked = []
    monkeypatch.setattr(ev, "real_walk_starts", lambda root, frames, clips, seed=0: (asked.append((frames, clips)),
                                                                                      (fake, summary))[1])
    from_real = student_only + ["--direction-start", "real"]
    from_real[from_real.index("--out") + 1] = str(tmp_path / "eval_real_start")
    result = CliRunner().invoke(app, from_real)
    assert result.exit_code == 0, result.output
    cont = json.loads((tmp_path / "eval_real_start" / "eval.json").read_text())
    assert asked == [(8, 2)] and cont["direction_start"] == "real" and cont["direction_starts"] == summary
    assert len(cont["directions_distilled"]) == 8 and alone["direction_start"] == "noise"
    assert cont["directions_distilled"] != alone["directions_distilled"]  # the starts change the walks
    assert "start clips, real walks right (2 of 2)" in result.output
    bad_start = CliRunner().invoke(app, student_only + ["--direction-start", "sideways"])
    assert bad_start.exit_code == 2 and "--direction-start must be noise or real" in bad_start.output
    bad_args = list(args)
    bad_args[bad_args.index("--rows") + 1] = "real,bogus"
    bad = CliRunner().invoke(app, bad_args)
    assert bad.exit_code == 2 and "error: " in bad.output and "bogus" in bad.output
    not_distilled = list(args)
    not_distilled[not_distilled.index("--student") + 1] = "toy"
    refused = CliRunner().invoke(app, not_distilled)
    assert refused.exit_code == 2 and "not a distilled checkpoint" in refused.output
    mixed = list(args)
    mixed[mixed.index("--fifo") + 1] = "toy"  # trained with mixed partitioning: not a FIFO-style baseline
    refused = CliRunner().invoke(app, mixed)
    assert refused.exit_code == 2 and "not trained on uniform noise only" in refused.output
    no_fifo = [a for i, a in enumerate(args) if a != "--fifo" and (i == 0 or args[i - 1] != "--fifo")]
    refused = CliRunner().invoke(app, no_fifo)
    assert refused.exit_code == 2 and "no --fifo checkpoint" in refused.output


def test_bootstrap_spread_is_zero_for_identical_clips_and_grows_with_their_differences():
    """The spread of a row's figures over its clips: resampling identical clips changes nothing; clips that
    differ give a spread of the size the bootstrap predicts (the adherence of a half-right row of n clips
    has a standard deviation near sqrt(0.25 / n))."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(64, 4)).astype(np.float32)
    same = np.tile(rng.normal(size=(2, 4)).astype(np.float32), (40, 1))  # 40 clips of the same 2 windows
    flat = ev.bootstrap_spread(same, [2] * 40, np.ones(40, bool), np.full(40, 0.5), np.full(40, 7.0), ref)
    assert flat == {"frechet": 0.0, "adherence": 0.0, "dynamic_degree": 0.0, "flicker": 0.0}
    varied = rng.normal(size=(80, 4)).astype(np.float32)
    correct = np.arange(40) % 2 == 0
    dyn, fl = rng.uniform(0, 2, 40), rng.uniform(4, 9, 40)
    got = ev.bootstrap_spread(varied, [2] * 40, correct, dyn, fl, ref)
    assert abs(got["adherence"] - (0.25 / 40) ** 0.5) < 0.03, got
    assert abs(got["dynamic_degree"] - dyn.std() / 40 ** 0.5) < 0.05, got
    assert got["frechet"] > 0 and got["flicker"] > 0
    assert got == ev.bootstrap_spread(varied, [2] * 40, correct, dyn, fl, ref)  # seeded: the same figures


@pytest.mark.parametrize("size", [64, 72])
def test_scroll_measure_reads_a_real_crafter_walk_tile_for_tile(size):
    """Real Crafter frames of a scripted walk: each step's measured scroll is minus the player's move times
    the tile size (the world moves against the player), blocked steps included. Over plain grass, which
    repeats every tile, a step can be misread (documented in docs/results.md), so 17 of 20 must agree."""
    crafter = pytest.importorskip("crafter")
    env = crafter.Env(size=size, seed=3)
    frames = [env.reset()]
    pos = [env._player.pos.copy()]
    for action in [1] * 6 + [2] * 6 + [3] * 4 + [4] * 4:  # left, right, up, down (some moves are blocked)
        obs, _, _, info = env.step(action)
        frames.append(obs)
        pos.append(info["player_pos"].copy())
    moves = np.diff(np.array(pos), axis=0)  # (20, 2): the player's (x, y) change in tiles
    assert (moves != 0).any(axis=1).sum() >= 12  # the walk really moved
    unit = size // 9
    video = np.stack(frames)
    rows, player = crafter_view(size)
    measured = global_shift(video[:, :rows], ignore=player)  # what scroll_measure averages
    assert (measured == -moves * unit).all(axis=1).sum() >= 17, np.c_[moves, measured]
    left = ev.scroll_measure(video[:5])  # the first four steps walk left over varied ground
    assert moves[:4, 0].tolist() == [-1] * 4 and left["shift_dx"] == unit and left["shift_dy"] == 0
    assert rows == 7 * unit + (size - 9 * unit) // 2 and player[1] - player[0] == player[3] - player[2] == unit + 2
    with pytest.raises(ConfigError, match="too small"):
        crafter_view(16)


def test_direction_summary_averages_seeds_and_judges_sign_and_axis():
    rows = [{"prompt": "the player walks left across the grass", "seed": 0, "shift_dx": 1.0, "shift_dy": 0.2},
            {"prompt": "the player walks left across the grass", "seed": 1, "shift_dx": 0.4, "shift_dy": -0.2},
            {"prompt": "the player walks right across the grass", "seed": 0, "shift_dx": 0.5, "shift_dy": 0.0},
            {"prompt": "the player walks up across the grass", "seed": 0, "shift_dx": 0.9, "shift_dy": 0.5},
            {"prompt": "the player walks down across the grass", "seed": 0, "shift_dx": 0.1, "shift_dy": -0.6}]
    got = {r["direction"]: r for r in ev.direction_summary(rows)}
    assert got["left"]["seeds"] == 2 and got["left"]["shift_dx"] == 0.7 and got["left"]["follows"]
    assert got["right"]["along"] == -0.5 and not got["right"]["follows"]  # content moved the wrong way
    assert got["up"]["along"] == 0.5 and got["up"]["across"] == 0.9 and not got["up"]["follows"]  # mostly sideways
    assert got["down"]["follows"]


def test_eval_seeds_averages_rows_over_runs_and_refuses_what_is_not_a_report(tmp_path: Path):
    """`streamdit eval-seeds`: mean ± sample std of each row over runs, rows matched by name; a row seen in one
    run has no spread; a c = 1 row's missing seam ratio stays n/a; a missing or foreign file is refused."""
    from typer.testing import CliRunner

    from runtime.cli import app

    def row(name, fd, ad, seam=1.0):
        return {"name": name, "scheme": "K=0 N=8 c=2 s=8", "frechet": fd, "adherence": ad, "dynamic_degree": 0.5,
                "seam_ratio": seam, "flicker": 6.0}

    for seed, fd, ad in ((0, 3.0, 0.25), (1, 5.0, 0.35)):
        d = tmp_path / f"s{seed}"
        d.mkdir()
        rows = [row("teacher (c = 2)", fd, ad)] + ([row("diagonal c = 1", 4.0, 0.3, None)] if seed == 0 else [])
        (d / "eval.json").write_text(json.dumps({"seed": seed, "rows": rows}))
    got = ev.seed_summary([json.loads((tmp_path / f"s{s}" / "eval.json").read_text()) for s in (0, 1)])
    teacher, diagonal = got
    assert teacher["runs"] == 2 and teacher["seeds"] == [0, 1] and teacher["frechet"] == 4.0
    assert teacher["frechet_std"] == round(2 ** 0.5, 3) and teacher["adherence"] == 0.3
    assert diagonal["runs"] == 1 and diagonal["frechet_std"] is None and diagonal["seam_ratio"] is None
    out = tmp_path / "seeds.md"
    result = CliRunner().invoke(app, ["eval-seeds", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| teacher (c = 2) | K=0 N=8 c=2 s=8 | 2 (0, 1) | 4.000 ± 1.414 | 0.300 ± 0.071 |" in out.read_text()
    assert json.loads(out.with_suffix(".json").read_text())["rows"] == got
    missing = CliRunner().invoke(app, ["eval-seeds", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "bad.json").write_text("{}")
    foreign = CliRunner().invoke(app, ["eval-seeds", str(tmp_path / "bad.json")])
    assert foreign.exit_code == 2 and "has no rows" in foreign.output


def test_eval_seeds_counts_a_row_once_per_seed_keeps_schemes_apart_and_refuses_mixed_data(tmp_path: Path):
    """The real row of two runs at one seed counts once; two students of other buffers (same name, other
    scheme) stay two rows; runs on different captures (data fingerprints) or one row at one seed with other
    figures are refused, naming the runs."""
    def row(name, scheme, fd):
        return {"name": name, "scheme": scheme, "frechet": fd, "adherence": 0.3, "dynamic_degree": 0.5,
                "seam_ratio": 1.0, "flicker": 6.0}

    real = lambda seed: row("real held-out clips", "-", 1.5 + seed)  # noqa: E731
    reps = [{"seed": 0, "data_fingerprint": "sha256:a", "rows": [real(0), row("student", "B=16", 3.0)]},
            {"seed": 0, "data_fingerprint": "sha256:a", "rows": [real(0), row("student", "B=8", 4.0)]},
            {"seed": 1, "data_fingerprint": "sha256:a", "rows": [real(1), row("student", "B=16", 5.0)]}]
    got = {(e["name"], e["scheme"]): e for e in ev.seed_summary(reps)}
    assert got[("real held-out clips", "-")]["runs"] == 2 and got[("real held-out clips", "-")]["frechet"] == 2.0
    assert got[("student", "B=16")]["seeds"] == [0, 1] and got[("student", "B=16")]["frechet"] == 4.0
    assert got[("student", "B=8")]["runs"] == 1 and got[("student", "B=8")]["frechet"] == 4.0
    other = [*reps[:2], {**reps[2], "data_fingerprint": "sha256:b"}]
    with pytest.raises(DataError, match="different data: r0: sha256:a; r1: sha256:a; r2: sha256:b"):
        ev.seed_summary(other, ["r0", "r1", "r2"])
    clash = [reps[0], {**reps[1], "rows": [{**real(0), "frechet": 9.9}]}]
    with pytest.raises(DataError, match="'real held-out clips' at seed 0 reads other frechet in r0 and r1"):
        ev.seed_summary(clash, ["r0", "r1"])


def test_content_fingerprint_follows_the_frames_and_events_not_the_path_or_manifest(tmp_path: Path):
    from runtime.data.recording import content_fingerprint

    for root in ("a", "b"):
        for ep in ("episode_00000", "episode_00001"):
            d = tmp_path / root / ep
            d.mkdir(parents=True)
            (d / "frames.rgb").write_bytes(bytes(range(256)) * 3)
            (d / "events.jsonl").write_text('{"frame": 0, "type": "night_falls", "payload": {}}\n')
            (d / "manifest.json").write_text(json.dumps({"created": root, "vocabulary": str(tmp_path / root)}))
    a, b = content_fingerprint(tmp_path / "a"), content_fingerprint(tmp_path / "b")
    assert a == b and a.startswith("sha256:") and len(a) == len("sha256:") + 16
    (tmp_path / "b" / "episode_00001" / "frames.rgb").write_bytes(bytes(range(256)) * 2 + bytes([1]) * 256)
    assert content_fingerprint(tmp_path / "b") != a
    (tmp_path / "b" / "episode_00001" / "frames.rgb").write_bytes(bytes(range(256)) * 3)
    (tmp_path / "b" / "episode_00001").rename(tmp_path / "b" / "episode_00002")  # another episode, same bytes
    assert content_fingerprint(tmp_path / "b") != a
    with pytest.raises(DataError, match="holds no shard"):
        content_fingerprint(tmp_path / "nowhere")

"""`streamdit eval-table` (runtime/evaluation/table_runs.py): the paper's comparison as resumable eval runs.

The runs here are stand-in processes that write an eval.json as `streamdit eval` does; test_evaluation.py runs
`streamdit eval` itself on a tiny capture.
"""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runtime.evaluation import table_runs as tr
from sdk.errors import ConfigError, DataError

FP = "sha256:0123456789abcdef"


def test_plan_has_one_run_per_row_and_seed_costliest_first_and_walks_once():
    runs = tr.plan_table(["default", "teacher"], [0, 1], walk_seeds=3)
    assert [r.name for r in runs] == ["teacher_s0", "teacher_s1", "default_s0", "default_s1"]
    by = {r.name: r.args for r in runs}
    assert by["teacher_s1"] == ("--rows", "real,teacher", "--no-directions", "--seed", "1", "--per-class", "4",
                                "--frames", "16")
    assert by["default_s0"][:4] == ("--rows", "real,distilled", "--student", "default")
    assert "--direction-seeds" in by["default_s0"] and "--no-directions" in by["default_s1"]
    fifo = tr.plan_table(["fifo"], [2], fifo="runs/fifo/checkpoint")[0]
    assert fifo.name == "fifo_s2" and fifo.args[2:4] == ("--fifo", "runs/fifo/checkpoint")
    with pytest.raises(ConfigError, match="unknown table rows.*bogus"):
        tr.plan_table(["teacher", "bogus"], [0])
    with pytest.raises(ConfigError, match="--fifo DIR"):
        tr.plan_table(["fifo"], [0])
    with pytest.raises(ConfigError, match="at least one seed"):
        tr.plan_table(["teacher"], [])


def _report(d: Path, complete=True, fingerprint=FP, seed=0, fd=3.0):
    d.mkdir(parents=True, exist_ok=True)
    (d / "eval.json").write_text(json.dumps({
        "complete": complete, "data_fingerprint": fingerprint, "seed": seed,
        "rows": [{"name": "real held-out clips", "scheme": "-", "frechet": 1.0 + seed, "adherence": 0.3,
                  "dynamic_degree": 1.2, "seam_ratio": 1.0, "flicker": 7.0},
                 {"name": "teacher (c = 2)", "scheme": "K=0 N=8 c=2 s=8", "frechet": fd, "adherence": 0.25,
                  "dynamic_degree": 0.5, "seam_ratio": 1.0, "flicker": 5.0}]}))


def test_run_state_tells_done_from_todo_and_refuses_runs_on_other_data(tmp_path):
    assert tr.run_state(tmp_path / "none", FP) == "todo"
    _report(tmp_path / "half", complete=False)
    assert tr.run_state(tmp_path / "half", FP) == "todo"
    _report(tmp_path / "done")
    assert tr.run_state(tmp_path / "done", FP) == "done"
    _report(tmp_path / "older", fingerprint=None)  # runs before fingerprints: taken as they are
    assert tr.run_state(tmp_path / "older", FP) == "done"
    _report(tmp_path / "other", fingerprint="sha256:ffffffffffffffff")
    with pytest.raises(DataError, match="measured on other data.*move that folder away"):
        tr.run_state(tmp_path / "other", FP)


WRITER = """
import json, sys
from pathlib import Path
out, seed, fd = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if fd < 0:
    sys.exit("this run fails")
rows = [{"name": "real held-out clips", "scheme": "-", "frechet": 1.0 + seed, "adherence": 0.3,
         "dynamic_degree": 1.2, "seam_ratio": 1.0, "flicker": 7.0},
        {"name": "teacher (c = 2)", "scheme": "K=0 N=8 c=2 s=8", "frechet": fd, "adherence": 0.25,
         "dynamic_degree": 0.5, "seam_ratio": 1.0, "flicker": 5.0}]
(out / "eval.json").write_text(json.dumps({"complete": True, "data_fingerprint": sys.argv[4], "seed": seed,
                                           "rows": rows}))
"""


def test_run_plan_runs_what_is_left_skips_what_is_done_and_reports_failures(tmp_path):
    writer = tmp_path / "writer.py"
    writer.write_text(WRITER)
    runs = tr.plan_table(["teacher"], [0, 1, 2])
    _report(tmp_path / "out" / "teacher_s0", seed=0, fd=3.0)  # finished in an earlier sitting
    fds = {1: 5.0, 2: -1.0}  # seed 2's run fails
    events = []
    progress = tr.run_plan(runs, tmp_path / "out", tmp_path, FP, jobs=2, poll_s=0.05,
                           command=lambda r, d: [sys.executable, str(writer), str(d), str(r.seed),
                                                 str(fds[r.seed]), FP],
                           on_event=lambda kind, r: events.append((kind, r.name)))
    assert progress.skipped == ["teacher_s0"] and progress.ran == ["teacher_s1"]
    assert [n for n, _ in progress.failed] == ["teacher_s2"]
    assert "this run fails" in (tmp_path / "out" / "teacher_s2" / "eval.log").read_text()
    assert ("skip", "teacher_s0") in events and ("start", "teacher_s1") in events
    assert json.loads((tmp_path / "out" / "teacher_s1" / "eval.json").read_text())["rows"][1]["frechet"] == 5.0


def test_a_finished_run_on_other_data_stops_the_table_before_anything_starts(tmp_path):
    runs = tr.plan_table(["teacher"], [0, 1])
    _report(tmp_path / "out" / "teacher_s1", fingerprint="sha256:ffffffffffffffff", seed=1)
    started = []
    with pytest.raises(DataError, match="teacher_s1 was measured on other data"):
        tr.run_plan(runs, tmp_path / "out", tmp_path, FP, command=lambda r, d: started.append(r) or ["true"])
    assert started == [] and not (tmp_path / "out" / "teacher_s0").exists()


def test_eval_table_command_averages_the_runs_over_seeds(tmp_path, monkeypatch):
    from runtime.cli import app
    from runtime.data.recording import content_fingerprint

    data = tmp_path / "capture"
    (data / "episode_00000").mkdir(parents=True)
    (data / "episode_00000" / "frames.rgb").write_bytes(bytes(72 * 72 * 3))
    (data / "episode_00000" / "events.jsonl").write_text("")
    fp = content_fingerprint(data)
    writer = tmp_path / "writer.py"
    writer.write_text(WRITER)
    monkeypatch.setattr(tr, "eval_command", lambda r, d, data, threads: [
        sys.executable, str(writer), str(d), str(r.seed), str(3.0 + 2 * r.seed), fp])
    out = tmp_path / "table"
    args = ["eval-table", "--rows", "teacher", "--seeds", "0,1", "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "| teacher (c = 2) | K=0 N=8 c=2 s=8 | 2 (0, 1) | 4.000 ± 1.414 |" in table
    assert "| real held-out clips | - | 2 (0, 1) | 1.500 ± 0.707 |" in table
    assert json.loads((out / "table.json").read_text())["data_fingerprint"] == fp
    again = CliRunner().invoke(app, args)  # everything finished: nothing runs again
    assert again.exit_code == 0 and "ran 0, kept 2 finished before, 0 failed" in again.output
    more = CliRunner().invoke(app, [*args[:4], "2", *args[5:]])  # another seed later: the table holds all three
    assert more.exit_code == 0 and "ran 1, kept 0" in more.output
    assert "| teacher (c = 2) | K=0 N=8 c=2 s=8 | 3 (0, 1, 2) | 5.000 ± 2.000 |" in (out / "table.md").read_text()
    bad = CliRunner().invoke(app, [*args[:4], "0,x", *args[5:]])
    assert bad.exit_code == 2 and "comma-separated integers" in bad.output

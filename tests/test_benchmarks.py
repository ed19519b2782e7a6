"""Issue 18, defect 12: benchmarks interleave the sides they compare, take medians, and report a figure beyond
its physical bound as invalid instead of printing it (no transport beats a raw socket; no MFU exceeds 1)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import backends, common, dit_step, transport  # noqa: E402


def test_interleaved_runs_every_side_once_per_round_in_rotated_order():
    calls = []
    sides = {n: (lambda n=n: calls.append(n) or len(calls)) for n in "abc"}
    out = common.interleaved(sides, 4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert {k: len(v) for k, v in out.items()} == {"a": 4, "b": 4, "c": 4}


def test_a_transport_faster_than_raw_tcp_is_invalid_not_a_figure():
    row = transport.transport_row(512, {"raw_tcp": [64.0, 66.0, 68.0], "zmq": [1253.0, 1500.0, 1759.0],
                                        "grpc": [30.0, 33.0, 31.0]})
    assert row["zmq"].get("fps") is None and "invalid" in row["zmq"] and "raw TCP" in row["zmq"]["invalid"]
    assert row["zmq"]["measured"]["ratio_to_raw_tcp"] > 1
    assert row["grpc"]["ratio_to_raw_tcp"] == pytest.approx(0.5, abs=0.05) and row["grpc"]["fps"] == 31.0
    assert row["raw_tcp"]["spread_fps"] == [64.0, 68.0]


def test_transport_ratios_are_medians_of_per_round_ratios():
    # the load changed in round 2 for both sides alike: the per-round ratio stays 0.5
    row = transport.transport_row(128, {"raw_tcp": [1000.0, 100.0, 1000.0], "grpc": [500.0, 50.0, 500.0]})
    assert row["grpc"]["ratio_to_raw_tcp"] == 0.5


def test_an_mfu_above_one_is_invalid():
    flops = 1e9
    ok = dit_step.case_figures(flops, step_s=[0.01, 0.012, 0.011], matmul_flop_s=[2e11, 2e11, 2e11])
    assert ok["mfu"] == pytest.approx(1e9 / 0.011 / 2e11, rel=1e-3) and "invalid" not in ok
    # matmul measured while the machine was busy, steps while it was idle: an impossible MFU
    bad = dit_step.case_figures(flops, step_s=[0.001, 0.001, 0.001], matmul_flop_s=[5e11, 5e11, 5e11])
    assert bad["mfu"] is None and "invalid" in bad and bad["measured_mfu"] > 1


def test_bounded_keeps_a_valid_value():
    assert common.bounded(0.9, 1.0, "x", "y") == {"value": 0.9}
    assert common.bounded(1.1, 1.0, "x", "y")["value"] is None


def test_backend_ratios_are_medians_of_per_round_ratios_to_torch_compiled():
    # round 2 was slow for every backend alike: the per-round ratio stays 2 for eager, 0.5 for onnxruntime's fps
    samples = {"torch-compiled": {"step_ms": [10.0, 40.0, 10.0], "decode_ms_per_frame": [1.0, 4.0, 1.0],
                                  "stream_fps": [20.0, 5.0, 20.0]},
               "torch-eager": {"step_ms": [20.0, 80.0, 20.0], "decode_ms_per_frame": [1.0, 4.0, 1.0],
                               "stream_fps": [10.0, 2.5, 10.0]},
               "onnxruntime": {"step_ms": [15.0, 60.0, 15.0], "decode_ms_per_frame": [2.0, 8.0, 2.0],
                               "stream_fps": [10.0, 2.5, 10.0]}}
    rows = backends.backend_rows(samples)
    assert rows["torch-eager"]["ratio_to_torch_compiled"] == {"step": 2.0, "decode": 1.0, "fps": 0.5}
    assert rows["onnxruntime"]["ratio_to_torch_compiled"] == {"step": 1.5, "decode": 2.0, "fps": 0.5}
    assert rows["onnxruntime"]["step_ms"] == 15.0 and rows["onnxruntime"]["step_ms_spread"] == [15.0, 60.0]
    assert rows["torch-compiled"]["ratio_to_torch_compiled"]["step"] == 1.0


def test_backend_ratios_are_none_without_torch_compiled():
    rows = backends.backend_rows({"onnxruntime": {"step_ms": [1.0], "decode_ms_per_frame": [1.0], "stream_fps": [1.0]}})
    assert rows["onnxruntime"]["ratio_to_torch_compiled"] == {"step": None, "decode": None, "fps": None}


def test_the_walk_guidance_benchmark_guides_only_the_four_walks_of_its_map():
    from benchmarks.walk_guidance import with_walk_guidance
    from runtime.serving.prompt_map import PromptMap
    from runtime.serving.prompt_maps import default_crafter_prompt_map

    shipped = default_crafter_prompt_map()
    for scale, guided in ((0.0, {"night_falls"}), (1.5, {"night_falls", "player_moves_left", "player_moves_right",
                                                         "player_moves_up", "player_moves_down"})):
        pm = PromptMap.parse(with_walk_guidance(shipped, "the player walks up across the grass", scale), fps=16.0,
                             frames_per_chunk=2)
        assert pm.base == "the player walks up across the grass"
        assert {t for t, r in pm.rules.items() if r.guidance} == guided
        assert all(pm.rules[t].guidance == 1.5 for t in guided if t.startswith("player_moves")) or scale == 0

"""The Unity package's StreamDiTSession (C#, run by Mono) against a live `streamdit serve`, and the frame rate it
receives next to the Python SDK's from the same server in the same run.

One `streamdit serve` process (the tiny random-weight checkpoint, 32x32 px, 16 FPS, paced) serves the module.
`mono CoreTests.exe live HOST PORT` handshakes, pushes Crafter events, receives 73 frames, checks event ids, frame
size and content, closes cleanly, resumes a session through a TCP proxy whose connection it cuts, and streams
video-to-video (issue 20): it sends source frames with SendFrame at the model's rate and takes frames until 24 of
them name a source frame it sent (see engine_plugins/unity/tests/LiveTests.cs). Then `sdk.Session("zmq://...")`
takes frames from the same server and both rates are measured the same way: 64 frame intervals after 8 warm-up
frames, on receive-thread timestamps.
The figures are printed (run with -s to see them) and written to unity_frame_rates.json in the test's tmp dir.
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest

import sdk
from runtime.serving.prompt_map import PromptMap
from runtime.testing import save_tiny_checkpoint
from runtime.data.events import EVENTS
from godot_helpers import streamdit_serve
from test_unity_core import _run, _run_mode, core_tests_exe  # noqa: F401  (the session-scoped build fixture)

WARM_UP_FRAMES = 8  # as LiveTests.WarmUpFrames
MEASURED_FRAMES = 64  # as LiveTests.MeasuredFrames
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def crafter_map(core_tests_exe) -> str:  # noqa: F811
    """The sample's prompt map, as the C# CrafterPromptMap.Build() writes it."""
    result = _run(["mono", str(core_tests_exe), "promptmap"], cwd=core_tests_exe.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def zmq_port(core_tests_exe, tmp_path_factory) -> int:  # noqa: F811
    """`streamdit serve` on free loopback ports, as a real process; SIGTERM at the end."""
    ckpt = save_tiny_checkpoint(tmp_path_factory.mktemp("unity_live") / "tiny")
    with streamdit_serve(ckpt, compile_off=False) as found:  # compiled, as `streamdit serve` runs by default
        yield found["zmq"]


def _python_rate(port: int, prompt_map: str) -> dict:
    """The Python SDK's received frame rate, measured as LiveTests.cs measures the Mono client's."""
    received: list[int] = []
    with sdk.Session(f"zmq://127.0.0.1:{port}", prompt_map=prompt_map, seed=1, timeout=30,
                     client_name="python-rate-test") as s:
        s.push_event("zombie_appears")
        for frame in s.frames(timeout=30):
            received.append(frame.received_us)
            if len(received) > WARM_UP_FRAMES + MEASURED_FRAMES:
                break
        size = (s.info.width, s.info.height)
    seconds = (received[WARM_UP_FRAMES + MEASURED_FRAMES] - received[WARM_UP_FRAMES]) / 1e6
    return {"client": "python", "warm_up_frames": WARM_UP_FRAMES, "frames": MEASURED_FRAMES,
            "seconds": round(seconds, 3), "fps": round(MEASURED_FRAMES / seconds, 2), "width": size[0], "height": size[1]}


def test_mono_session_against_live_runtime_and_frame_rates(core_tests_exe, zmq_port, crafter_map, tmp_path):  # noqa: F811
    stdout = _run_mode(core_tests_exe, "live", "127.0.0.1", str(zmq_port))
    found = re.search(r"^LIVE_JSON (\{.*\})$", stdout, re.M)
    assert found, stdout
    mono = json.loads(found[1])
    v2v = re.search(r"^LIVE_V2V_JSON (\{.*\})$", stdout, re.M)
    assert v2v and "PASS live: v2v:" in stdout, stdout
    v2v = json.loads(v2v[1])
    python = _python_rate(zmq_port, crafter_map)
    figures = {
        "server": "streamdit serve, tiny random-weight checkpoint (save_tiny_checkpoint), paced, loopback",
        "model_fps": mono["model_fps"], "mono": mono, "python": python, "mono_v2v": v2v,
        "command": ".venv/bin/python -m pytest -s tests/test_unity_session.py",
    }
    out = tmp_path / "unity_frame_rates.json"
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nreceived frame rate, same server, same run: Mono {mono['fps']:.2f} FPS, Python {python['fps']:.2f} FPS "
          f"(model {mono['model_fps']} FPS, {mono['width']}x{mono['height']} px)")
    print(f"Mono v2v: {v2v['source_frames_sent']} source frames sent, {v2v['frames_naming_a_source']} frames named one "
          f"({v2v['distinct_source_indices']} distinct), source-to-output latency p50 {v2v['latency_ms_p50']} ms")
    print(f"{out}:\n{out.read_text()}")
    assert v2v["frames_naming_a_source"] >= 24 and v2v["distinct_source_indices"] >= 12, v2v
    assert mono["frames"] == python["frames"] == MEASURED_FRAMES
    assert (mono["width"], mono["height"]) == (python["width"], python["height"])
    # Both are paced by the runtime; a client that loses credits or frames would fall far behind the other.
    assert mono["fps"] > 0.5 * python["fps"], figures


def test_crafter_prompt_map_matches_the_event_vocabulary(crafter_map):
    """The sample's prompt map is the vocabulary the default model learned, and the runtime accepts it."""
    parsed = tomllib.loads(crafter_map)
    rules = parsed["events"]
    assert set(rules) == set(EVENTS), set(rules) ^ set(EVENTS)
    for name, rule in rules.items():
        assert rule["prompt"] == EVENTS[name].template, name
        assert rule["priority"] == EVENTS[name].priority, name
        assert rule["duration_seconds"] == (1.0 if EVENTS[name].kind == "state" else 2.0), name
    assert parsed["base"] == EVENTS["player_idle"].template.format(terrain="grass")
    assert set(PromptMap.parse(crafter_map, fps=16.0, frames_per_chunk=2).rules) == set(EVENTS)

"""Video-to-video from the Godot addon (issue 20, client side), headless in the real engine against a real
`streamdit serve`, over ZeroMQ and over WebSocket: the scene (engine_plugins/godot/tests/v2v_session.gd) turns
v2v on, draws an Image every third game frame (the headless engine renders nothing; at twice the stream's size, RGBA8, so
send_frame converts and resizes it) and sends it; the runtime counts the frames it got (stats
source_frames_received) and the output frames name the source frames they restyle (info.source_index), each one
a frame the scene sent, and later outputs restyle later frames. A StreamDiTFrameSender in the same headless scene
reports no_renderer once and sends nothing. Under tools/godot-gl (opengl3 on Mesa's llvmpipe under Xvfb) the
StreamDiTFrameSender sends a SubViewport's render itself, at its send_rate_hz, and the outputs name those frames.

The engine comes from engine_plugins/godot/tools/setup_godot.sh; when it cannot be built here, the test is
skipped with the script's reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from godot_helpers import GODOT_DIR, copy_project, engine_or_skip, run_godot, streamdit_serve
from runtime.testing import save_tiny_checkpoint

pytestmark = pytest.mark.timeout(300)
SIZE, FPS = 32, 16.0


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`streamdit serve` with a tiny checkpoint on free loopback ports; yields {"zmq": port, "websocket": port}."""
    engine_or_skip()
    ckpt = save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", size=SIZE, fps=FPS)
    with streamdit_serve(ckpt, "--web-port", "0", want=("zmq", "websocket")) as found:
        yield found


@pytest.mark.parametrize("transport", ["zmq", "websocket"])
def test_the_engine_sends_frames_and_outputs_name_them(ports: dict[str, int], transport: str,
                                                      tmp_path: Path) -> None:
    result = _run_scene(tmp_path, "image", transport, ports[transport], "godot-headless")
    assert result["display"] == "headless"
    _check_stream(result)
    # The frame sender cannot capture a headless engine: it says so once, and sends nothing.
    assert result["sender_errors"] == ["no_renderer"] and result["sender_frames_sent"] == 0, result


def test_the_frame_sender_sends_the_rendered_viewport_at_its_rate(ports: dict[str, int], tmp_path: Path) -> None:
    rate = 8.0  # half the stream's 16 FPS
    result = _run_scene(tmp_path, "viewport", "zmq", ports["zmq"], "godot-gl", f"--rate={rate}")
    assert (result["renderer"], result["display"]) == ("opengl3", "X11"), result
    assert result["sender_errors"] == [], result["sender_errors"]
    # What it captures is the render: the background's colour at a corner, the white square at its centre.
    assert result["viewport_pixels"] == [[40, 120, 40], [255, 255, 255]], result["viewport_pixels"]
    assert result["sender_frames_sent"] == result["source_frames_sent"] == len(result["sent"]), result
    _check_stream(result)
    # One frame per period at most (the first at once), and not far fewer on a game that runs at 60 FPS.
    expected = result["streaming_s"] * rate
    assert 0.5 * expected <= len(result["sent"]) <= expected + 2, (len(result["sent"]), result["streaming_s"])


def _run_scene(tmp_path: Path, mode: str, transport: str, port: int, wrapper: str, *extra: str) -> dict:
    project = copy_project(GODOT_DIR, tmp_path / "project", skip=("sample",))
    proc = run_godot(project, "res://tests/v2v_session.tscn", "--", f"--mode={mode}", f"--transport={transport}",
                     f"--port={port}", "--out=v2v_out", "--min-frames=16", *extra, wrapper=wrapper)
    output = proc.stdout + proc.stderr
    assert "SCRIPT ERROR" not in output, "a GDScript error (see the output)"
    result = json.loads((project / "v2v_out" / "result.json").read_text())
    assert proc.returncode == 0 and result["ok"], f"v2v scene exited {proc.returncode}: {result['why']}"
    assert result["v2v"] is True and result["transport"] == transport and result["mode"] == mode
    return result


def _check_stream(result: dict) -> None:
    """The source frames went out numbered 0, 1, 2, ..., the runtime counted them, and the output frames name
    them."""
    sent, named = result["sent"], result["named"]
    assert sent == list(range(len(sent))) and result["source_frames_sent"] == len(sent)
    assert 0 < result["stats"]["source_frames_received"] <= len(sent)
    # Every named index is a frame the scene sent, and later outputs restyle later frames. Not strictly
    # in order: at a chunk boundary with no newly encoded chunk the runtime goes on with the last one, so
    # its indices can come again (runtime/serving/source.py).
    assert len(named) >= 16 and set(named) <= set(sent), (named, sent)
    assert len(set(named)) >= 4 and named[-1] > named[0], named
    assert not [e for e in result["errors"] if not e.startswith("connection")], result["errors"]

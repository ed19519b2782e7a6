"""The Godot addon over WebSocket (`transport = "websocket"`, the engine's own WebSocketPeer, what a web export
uses), headless in the real engine against a real `streamdit serve --web-port`: the e2e scene connects, pushes
an event and sees it acknowledged and carried by a frame, takes frames, loses its connection (dropped under it,
no close message) and resumes the same session; the saved frame is the runtime's picture.

The engine comes from engine_plugins/godot/tools/setup_godot.sh (a cached Debian unstable chroot); when it cannot
be built here, the test is skipped with the script's reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from PIL import Image

from godot_helpers import GODOT_DIR, copy_project, engine_or_skip, run_godot, streamdit_serve
from runtime.testing import save_tiny_checkpoint

pytestmark = pytest.mark.timeout(300)
PROMPT_MAP = GODOT_DIR / "sample" / "crafter_prompts.toml"
SIZE, FPS = 64, 30.0
FRAMES = 40


@pytest.fixture(scope="module")
def web_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`streamdit serve --web-port 0` with a tiny checkpoint on loopback; yields the WebSocket port."""
    engine_or_skip()
    ckpt = save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny64", size=SIZE, fps=FPS)
    with streamdit_serve(ckpt, "--web-port", "0", "--prompt-map", str(PROMPT_MAP), want=("websocket",)) as found:
        yield found["websocket"]


def test_the_engine_streams_over_websocket_and_resumes(web_port: int, tmp_path: Path) -> None:
    project = copy_project(GODOT_DIR, tmp_path / "project", skip=("sample",))
    proc = run_godot(project, "res://tests/e2e_session.tscn", "--", "--transport=websocket", f"--port={web_port}",
                     "--out=e2e_out", f"--min-frames={FRAMES}")
    output = proc.stdout + proc.stderr
    assert "SCRIPT ERROR" not in output, "a GDScript error (see the output)"
    result = json.loads((project / "e2e_out" / "result.json").read_text())
    assert proc.returncode == 0 and result["ok"], f"e2e scene exited {proc.returncode}: {result['why']}"
    assert result["transport"] == "websocket"

    info, drop = result["session_info"], result["drop"]
    assert (info["width"], info["height"], info["fps"], info["protocol_version"]) == (SIZE, SIZE, FPS, "1.0")
    assert result["measure"]["frames_received"] >= FRAMES
    assert result["event_frame"]["event_id"] == result["event_id"] > 0, "no frame carried the event's id"
    assert result["ack_prompt"] == "a zombie approaches"  # the runtime's default map (serve --prompt-map)
    assert result["texture_size"] == [SIZE, SIZE]
    # the drop: reported once, the same session resumed over a new WebSocket, numbering continues
    assert [e.split(":")[0] for e in result["errors"]] == ["connection_lost"], result["errors"]
    assert drop["resumed"] is True and drop["session_id_after"] == drop["session_id_before"], drop
    assert drop["first_index_after"] > drop["last_index_before"], drop

    with Image.open(project / "e2e_out" / "frame.png") as im:
        assert im.size == (SIZE, SIZE) and im.mode == "RGB"
        pixels = np.asarray(im, dtype=np.float64)
    assert pixels.std() > 4.0, f"the saved frame is blank (pixel std {pixels.std():.2f})"


def test_a_refused_websocket_is_reported_and_retried(web_port: int, tmp_path: Path) -> None:
    """Pointed at a port where nothing listens, the node reports connect_failed and keeps the game running."""
    project = copy_project(GODOT_DIR, tmp_path / "project", skip=("sample",))
    script = project / "tests" / "ws_refused.gd"
    script.write_text(
        "extends SceneTree\n"
        "const Session := preload(\"res://addons/streamdit/session.gd\")\n"
        "var s := Session.new()\n"
        "var codes: Array[String] = []\n"
        "func _initialize() -> void:\n"
        "\ts.transport = \"websocket\"\n"
        "\ts.port = 1\n"
        "\ts.reconnect_delay_min = 0.1\n"
        "\ts.error.connect(func(code: String, _m: String) -> void: codes.append(code))\n"
        "\troot.add_child(s)\n"
        "func _process(_d: float) -> bool:\n"
        "\tif codes.size() > 0 and s.reconnects > 0:\n"
        "\t\tprint(\"WSREFUSED \", codes[0], \" \", Session.State.keys()[s.state])\n"
        "\t\treturn true\n"
        "\treturn Time.get_ticks_msec() > 20000\n")
    proc = run_godot(project, "--script", "res://tests/ws_refused.gd", timeout=120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WSREFUSED")), "")
    assert line.split()[1:] in (["connect_failed", "WAITING_TO_RETRY"], ["connect_failed", "CONNECTING"]), \
        proc.stdout

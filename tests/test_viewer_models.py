"""The viewer page picks the served model (settings.model), over the helper channel's "models" request.

Two tiny models as in tests/test_serving_models.py: "main" (the default) streams 32x32 frames, "fast" 16x16, so
the page's model line and the frames' size say which model streams. The helper channel is checked directly
over WebSocket; the page in Debian's chromium (Playwright).
"""

import json

import pytest
from websockets.sync.client import connect

from browser_helpers import browser_page, chromium_path
from runtime.serving.config import ServeConfig
from runtime.serving.server import ServingRuntime
from runtime.testing import tiny_pipeline
from serving_helpers import PROMPT_MAP, one_torch_thread

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def port():
    with one_torch_thread():
        pipes = {"main": tiny_pipeline(size=32, buffer_frames=8, chunk=2, fps=16.0),
                 "fast": tiny_pipeline(size=16, buffer_frames=4, chunk=1, fps=16.0, seed=1)}
        rt = ServingRuntime(pipes, ServeConfig(pace=True, max_sessions=4, prompt_map=PROMPT_MAP)).start()
        try:
            assert rt.wait_warm()
            yield rt.serve_ws("127.0.0.1", 0)
        finally:
            rt.shutdown("test over", grace_s=0.5)


def tools(port, body):
    with connect(f"ws://127.0.0.1:{port}/v1/tools") as ws:
        ws.send(json.dumps(body))
        return json.loads(ws.recv(timeout=30))


def test_the_helper_channel_lists_the_models_and_describes_a_map_for_one(port):
    got = tools(port, {"type": "models"})
    assert got["default"] == "main"
    assert [(i["name"], i["width"], i["buffer_frames"]) for i in got["models"]] == [("main", 32, 8), ("fast", 16, 4)]
    fast = tools(port, {"type": "prompt_map", "text": "", "model": "fast"})
    assert fast["type"] == "prompt_map" and [e["type"] for e in fast["events"]] == ["night", "boss", "slow"]
    bad = tools(port, {"type": "prompt_map", "text": "", "model": "nope"})
    assert bad["type"] == "error" and "no model 'nope'" in bad["message"] and "main, fast" in bad["message"]
    unknown = tools(port, {"type": "bogus"})
    assert unknown["type"] == "error" and "'models'" in unknown["message"]


@pytest.mark.skipif(chromium_path() is None, reason="no chromium (apt-get install chromium; .ci/run installs it)")
def test_the_page_streams_the_model_picked_and_starts_on_the_one_its_address_names(port):
    pytest.importorskip("playwright")
    with browser_page() as page:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#status.ok", timeout=30_000)
        names = page.eval_on_selector_all("#model-pick option", "els => els.map(e => e.value)")
        assert names == ["main", "fast"] and page.input_value("#model-pick") == "main"
        assert page.inner_text("#model").startswith("main: 32x32")
        page.select_option("#model-pick", "fast")
        page.wait_for_function("document.getElementById('model').textContent.startsWith('fast: 16x16')",
                               timeout=30_000)
        page.wait_for_function("Number(document.getElementById('frame').textContent) >= 2", timeout=30_000)
        # 16-px frames scaled by a whole factor up to 512 px
        assert page.evaluate("document.getElementById('stream').width") == 512
        assert page.eval_on_selector_all("#events button[id^=event-]", "els => els.length") == 3
    with browser_page() as page:
        page.goto(f"http://127.0.0.1:{port}/#model=fast")
        page.wait_for_selector("#status.ok", timeout=30_000)
        assert page.input_value("#model-pick") == "fast" and page.inner_text("#model").startswith("fast: 16x16")

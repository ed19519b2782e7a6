"""The viewer page in a real browser (Debian's chromium, driven by Playwright) against a live runtime over
WebSocket: the canvas changes, an event button is acknowledged and changes the prompt label, a two-event
cutscene is checked by the runtime's parser, played live and recorded to WebM, and the timeline saved from the
page plays with `streamdit cutscene` against the same runtime.
"""

import tomllib

import pytest
from typer.testing import CliRunner

from browser_helpers import browser_page, chromium_path
from serving_helpers import PROMPT_MAP, served

pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(chromium_path() is None, reason="no chromium (apt-get install chromium; .ci/run "
                                 "installs it)")]
pytest.importorskip("playwright")

TIMELINE = """
seconds = 2.5
prompt = "a green field"
prompt_map = '''
{map}'''

[[cue]]
at = 0.5
event = "night"

[[cue]]
at = 1.25
event = "boss"
payload = {{ color = "red" }}
"""


@pytest.fixture(scope="module")
def runtime():
    with served(prompt_map=PROMPT_MAP) as s:
        port = s.runtime.serve_ws("127.0.0.1", 0)
        yield s, port


@pytest.fixture(scope="module")
def page(runtime):
    _, port = runtime
    with browser_page() as p:
        p.goto(f"http://127.0.0.1:{port}/")
        p.wait_for_selector("#status.ok", timeout=30_000)
        yield p


def frame_index(page) -> int:
    text = page.inner_text("#frame")
    return int(text) if text.isdigit() else -1


def test_the_canvas_changes_as_frames_arrive(page):
    page.wait_for_function("Number(document.getElementById('frame').textContent) >= 2", timeout=30_000)
    first = page.evaluate("document.getElementById('stream').toDataURL()")
    start = frame_index(page)
    page.wait_for_function(f"Number(document.getElementById('frame').textContent) >= {start + 6}", timeout=30_000)
    later = page.evaluate("document.getElementById('stream').toDataURL()")
    assert first != later
    # scaled by a whole factor (nearest neighbour): 32 px frames on a 512 px canvas
    assert page.evaluate("document.getElementById('stream').width") == 512
    assert float(page.inner_text("#fps")) > 0


def test_one_button_per_event_and_a_click_is_acknowledged_and_changes_the_prompt(page):
    buttons = page.eval_on_selector_all("#events button[id^=event-]", "els => els.map(e => e.id)")
    assert buttons == ["event-night", "event-boss", "event-slow"]
    assert page.inner_text("#prompt") == "a green field"
    page.click("#event-night")
    page.wait_for_selector("#acks li.ack", timeout=30_000)
    assert "the field at night" in page.inner_text("#acks li.ack")
    page.wait_for_function("document.getElementById('prompt').textContent === 'the field at night'", timeout=30_000)
    page.wait_for_function("document.getElementById('latency').textContent.includes('ms')", timeout=10_000)


def test_the_free_prompt_box_sets_the_prompt(page):
    page.fill("#prompt-text", "a quiet lake")
    page.click("#prompt-send")
    # the night overlay (priority 1) still decides; the ack says so
    page.wait_for_function("[...document.querySelectorAll('#acks li')].some(li => li.textContent.includes("
                           "'set_prompt'))", timeout=30_000)


def test_a_bad_timeline_is_refused_by_the_runtimes_parser(page):
    page.fill("#cutscene-toml", 'seconds = 2.0\nprompt = "x"\nprompt_map = """\n[events.a]\nprompt = "a"\n"""\n'
              '[[cue]]\nat = 0.5\nevent = "dragon"\n')
    page.click("#cutscene-check")
    page.wait_for_selector("#cutscene-status.error", timeout=10_000)
    assert "dragon" in page.inner_text("#cutscene-status")


def test_a_two_event_cutscene_plays_records_and_saves_for_the_cli(page, runtime, tmp_path):
    srv, port = runtime
    page.fill("#cutscene-toml", TIMELINE.format(map=PROMPT_MAP.lstrip()))
    page.check("#cutscene-record")
    page.click("#cutscene-play")
    page.wait_for_function("document.getElementById('cutscene-status').textContent.startsWith('played')",
                           timeout=60_000)
    assert "2 of 2 cues acknowledged" in page.inner_text("#cutscene-status")
    assert page.get_attribute("#cue-0", "class") == "fired" and page.get_attribute("#cue-1", "class") == "fired"
    acks = page.eval_on_selector_all("#acks li", "els => els.map(e => e.textContent)")
    assert any("night" in a and "the field at night" in a for a in acks)
    assert any("boss" in a and "a red boss in the field" in a for a in acks)

    page.wait_for_selector("#cutscene-webm:not([hidden])", timeout=10_000)
    with page.expect_download() as dl:
        page.click("#cutscene-webm")
    webm = dl.value.path().read_bytes()
    assert webm[:4] == b"\x1a\x45\xdf\xa3" and len(webm) > 1000  # an EBML (WebM) file with frames in it

    with page.expect_download() as dl:
        page.click("#cutscene-save")
    saved = tmp_path / "cutscene.toml"
    saved.write_bytes(dl.value.path().read_bytes())
    played = page.evaluate("Cutscene.scene")

    from runtime.cli import app
    from runtime.cutscene import load_cutscene

    scene = load_cutscene(saved)  # the parser the page's check used
    assert tomllib.loads(saved.read_text())["seconds"] == 2.5
    assert [(c.at, c.event, c.payload) for c in scene.cues] == [(c["at"], c["event"], c["payload"])
                                                               for c in played["cues"]]
    assert scene.prompt_map == played["prompt_map"] and scene.prompt == played["prompt"]
    out = tmp_path / "cli.mp4"
    r = CliRunner().invoke(app, ["cutscene", str(saved), "--out", str(out), "--url",
                                 f"ws://127.0.0.1:{port}/v1/session"])
    assert r.exit_code == 0, r.output
    assert "night -> event 1" in r.output and "boss -> event 2" in r.output and "2 cues" in r.output
    assert out.stat().st_size > 0

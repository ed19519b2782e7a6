"""Helpers for the real-browser tests: Debian's chromium driven by Playwright (never a downloaded browser).

    python tests/browser_helpers.py docs/images/viewer.png     # the README's screenshot, of the toy checkpoint

`.ci/run` installs chromium (apt); where it is missing the browser tests skip and say why.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    """The system chromium (Debian's package), or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def browser_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    """A Playwright page in a fresh chromium profile (its own user-data-dir, removed afterwards); downloads on."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no chromium: apt-get install chromium (.ci/run does)")
    with tempfile.TemporaryDirectory(prefix="streamdit-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                   accept_downloads=True,
                                                   viewport={"width": viewport[0], "height": viewport[1]})
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            yield page
        finally:
            ctx.close()


def screenshot(out: Path) -> None:
    """Serve the shipped toy checkpoint in process, open the viewer, steer it once and write a screenshot."""
    import os

    os.environ.setdefault("STREAMDIT_COMPILE", "off")
    from runtime.checkpoints import resolve
    from runtime.pipeline import StreamDiTPipeline
    from runtime.serving.config import ServeConfig
    from runtime.serving.prompt_maps import default_prompt_map
    from runtime.serving.server import ServingRuntime

    directory = resolve("toy")
    pmap = default_prompt_map(directory, None)
    cfg = ServeConfig(model_name="toy", prompt_map=pmap.text, prompt_map_source=pmap.source)
    rt = ServingRuntime(StreamDiTPipeline.from_checkpoint(directory), cfg).start()
    try:
        rt.wait_warm()
        port = rt.serve_ws("127.0.0.1", 0)
        with browser_page((1180, 860)) as page:
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#status.ok", timeout=60_000)
            for field, value in (("color", "blue"), ("shape", "circle"), ("direction", "up")):
                page.fill(f"#events input[data-field={field}]", value)
            page.click("#event-move")
            page.wait_for_function("document.getElementById('prompt').textContent.includes('blue circle')",
                                   timeout=60_000)
            page.click("#cutscene-new")
            page.click("#cutscene-check")
            page.wait_for_selector("#cutscene-status.ok", timeout=30_000)
            page.wait_for_timeout(2500)  # a few seconds of the new prompt
            page.screenshot(path=str(out))
    finally:
        rt.shutdown("screenshot taken", grace_s=0.5)


if __name__ == "__main__":
    screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images/viewer.png"))

"""Every code example in README.md and docs/*.md runs as written, or is checked as far as a test can.

The marker before each block says how (tests/examples.py lists the kinds). The README's `serve` block is
started once, as written except for free ports and STREAMDIT_COMPILE=off; every `client` block then runs
against it with the venv's Python and a timeout, and its output is checked (frames printed; the README's
first example also ends at the first frame that carries its event's id, the event echo). Long-running
`commands` blocks are parsed by the real command line instead of being run. A block without a marker fails.
"""

from __future__ import annotations

import re
import sys

import pytest

import examples
from runtime.serving.prompt_map import PromptMap

pytestmark = pytest.mark.timeout(600)
BLOCKS = examples.blocks()


def test_every_block_is_classified() -> None:
    unmarked = [f"{b.path}:{b.line}" for b in BLOCKS if b.kind is None]
    assert not unmarked, (f"code blocks without an `<!-- example: KIND -->` marker on the line before the fence "
                          f"(kinds: {', '.join(examples.KINDS)}; see tests/examples.py): {unmarked}")
    unknown = [b.id for b in BLOCKS if b.kind not in examples.KINDS]
    assert not unknown, f"unknown example kinds: {unknown}"
    assert not examples.orphan_markers(), f"markers not followed by a block: {examples.orphan_markers()}"
    assert [b.path for b in BLOCKS if b.kind == "serve"] == ["README.md"], "one serve block, in the README"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "commands"], ids=lambda b: b.id)
def test_commands_exist_with_every_option(block: examples.Block) -> None:
    lines = examples.shell_lines(block.text)
    assert lines, block.id
    for argv in lines:
        examples.check_command(argv)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "prompt-map"], ids=lambda b: b.id)
def test_prompt_map_examples_parse(block: examples.Block) -> None:
    pm = PromptMap.parse(block.text, fps=16.0, frames_per_chunk=2)
    assert pm.base and pm.rules


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "fragment"], ids=lambda b: b.id)
def test_fragments_compile_against_the_sdk(block: examples.Block) -> None:
    examples.check_fragment(block)


@pytest.fixture(scope="module")
def server():
    (serve,) = [b for b in BLOCKS if b.kind == "serve"]
    with examples.serve(serve) as srv:
        yield srv


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "client"], ids=lambda b: b.id)
def test_client_examples_run_against_the_served_runtime(block: examples.Block, server, tmp_path) -> None:
    out = examples.run_client(block, server, sys.executable, tmp_path)
    examples.check_client_output(block, out)


def test_a_commands_check_can_fail() -> None:
    """The commands check refuses what does not exist (so its passes mean something)."""
    for bad in (["streamdit", "serve", "--no-such-option"], ["streamdit", "no-such-command"],
                ["streamdit", "serve", "--log-level", "verbose"], ["streamdit", "train", "--config",
                                                                   "configs/no_such.toml"]):
        with pytest.raises(AssertionError):
            examples.check_command(bad)
    with pytest.raises(AssertionError, match="Makefile"):
        examples.check_command(["make", "no-such-target"])
    with pytest.raises(AssertionError, match="no extra"):
        examples.check_command(["pip", "install", ".[no-such-extra]"])


def test_no_link_leaves_the_repository() -> None:
    """Every relative link of the README, docs/ and the engine READMEs names a file of the repository."""
    pages = [*examples.doc_files(), *examples.ROOT.glob("engine_plugins/**/README.md")]
    bad = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if "../shared" in text or "shared/DESIGN" in text:
            bad.append(f"{page.relative_to(examples.ROOT)}: names a design file outside the repository")
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", text):
            resolved = (page.parent / target).resolve()
            if not resolved.exists() or examples.ROOT not in (resolved, *resolved.parents):
                bad.append(f"{page.relative_to(examples.ROOT)}: ({target})")
    assert bad == [], bad

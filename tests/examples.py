"""The code examples of README.md and docs/*.md: extraction, classification, and how each kind is checked.

Every fenced block carries a marker on the line before its fence, `<!-- example: KIND [expect=WHAT] -->`:

    serve       a `streamdit serve ...` line: the tests start it as written, except that the ports become free
                ones (so that test runs and a runtime already on 50051/5557 do not collide) and the environment
                has STREAMDIT_COMPILE=off (a first start would otherwise compile the model for a minute)
    client      Python run against that server (its ports substituted the same way), with a timeout;
                expect=event-echo: frame lines, then the first frame that carries the pushed event's id;
                expect=frames: frame lines
                expect=v2v: lines of index, source frames sent, source_index, the later ones naming sent frames
    commands    long-running shell lines (training, `make demo`, benchmarks): not run; each `streamdit`
                line is parsed by the real command line (every sub-command, option and value must exist and
                convert), each `make` target must exist, each script or repository path it names must exist
                (a `.sh` script must be executable),
                each `pip install .[EXTRA]` extra must exist
    prompt-map  TOML parsed by the runtime's prompt map parser
    fragment    Python that uses names the text around it defines (e.g. a game's `pixels`): compiled, and
                every `sdk.NAME` it uses must exist; not run
    diagram     a picture in text, not code

A block without a marker fails tests/test_readme_examples.py, so no block is silently left out.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("serve", "client", "commands", "prompt-map", "fragment", "diagram")
MARKER = re.compile(r"^<!--\s*example:\s*([a-z-]+)((?:\s+\w+=\S+)*)\s*-->\s*$")
README_PORTS = {"grpc": 50051, "zmq": 5557, "web": 8765}
INPUT_DIRS = ("configs/", "samples/", "runtime/", "docs/", "benchmarks/", "engine_plugins/", "proto/")


@dataclass
class Block:
    """One fenced block: its file (relative to the repository), the line of its fence, language and text."""

    path: str
    line: int
    lang: str
    text: str
    kind: str | None = None  # None: no marker
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}:{self.kind}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")


def _marker(lines: list[str], start: int) -> tuple[str | None, dict[str, str]]:
    prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
    found = MARKER.match(prev.strip())
    return (found[1], dict(kv.split("=", 1) for kv in found[2].split())) if found else (None, {})


def blocks(paths: list[Path] | None = None) -> list[Block]:
    """Every code block of README.md and docs/*.md, fenced or indented by 4 spaces, with its marker (if any).

    An indented block starts after a blank line whose previous text is not a list item (list items indent
    their continuation lines, which are not code).
    """
    out: list[Block] = []
    for path in paths or doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        rel = str(path.relative_to(ROOT))
        i, in_list = 0, False
        while i < len(lines):
            line = lines[i]
            fence = re.match(r"^(```+|~~~+)\s*(\S*)", line)
            if fence:
                start, lang = i, fence[2]
                i += 1
                body = []
                while i < len(lines) and not lines[i].startswith(fence[1]):
                    body.append(lines[i])
                    i += 1
                i += 1
                out.append(Block(rel, start + 1, lang, "\n".join(body) + "\n", *_marker(lines, start)))
                in_list = False
                continue
            if line.startswith("    ") and line.strip() and i > 0 and not lines[i - 1].strip() and not in_list:
                start = i
                body = []
                while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                    body.append(lines[i][4:])
                    i += 1
                out.append(Block(rel, start + 1, "", "\n".join(body).rstrip() + "\n", *_marker(lines, start)))
                continue
            if line.strip():
                in_list = bool(LIST_ITEM.match(line)) or (in_list and line.startswith((" ", "\t")))
            i += 1
    return out


def orphan_markers(paths: list[Path] | None = None) -> list[str]:
    """Markers that no block follows: "file:line"."""
    marked = {(b.path, b.line) for b in blocks(paths) if b.kind is not None}
    bad = []
    for path in paths or doc_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, text in enumerate(lines):
            if MARKER.match(text.strip()):
                nxt = next((k for k in range(n + 1, len(lines)) if lines[k].strip()), None)
                if nxt is None or (str(path.relative_to(ROOT)), nxt + 1) not in marked:
                    bad.append(f"{path.relative_to(ROOT)}:{n + 1}")
    return bad


def shell_lines(text: str) -> list[list[str]]:
    """A shell block -> one argv per command (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


# ----------------------------------------------------------------------------------- commands blocks


def check_streamdit(args: list[str]) -> None:
    """Parse `streamdit ARGS` with the real command line, without running it. Raises AssertionError naming
    the unknown command, option or bad value (typer's own click does the parsing and conversion)."""
    import typer
    import typer.main

    from runtime.cli import app

    cmd = typer.main.get_command(app)
    ctx = typer.Context(cmd, info_name="streamdit")
    rest = list(args)
    while hasattr(cmd, "list_commands"):  # a group
        assert rest, f"`streamdit {' '.join(args)}` names no command"
        name = rest.pop(0)
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} in `streamdit {' '.join(args)}`"
        cmd, ctx = sub, typer.Context(sub, info_name=name, parent=ctx)
    try:
        cmd.make_context(ctx.info_name, rest, parent=ctx.parent)  # parses and converts every option and value
    except (typer.Exit, typer.Abort) as e:  # --help and the like: not in an example
        raise AssertionError(f"`streamdit {' '.join(args)}` exits while parsing ({e!r})") from None
    except Exception as e:  # click's UsageError family (typer vendors its own click)
        raise AssertionError(f"`streamdit {' '.join(args)}`: {type(e).__name__}: {e}") from None


def check_command(argv: list[str]) -> None:
    """One line of a `commands` block: the command, its options and the repository paths it reads exist."""
    for token in argv:
        for piece in token.split(","):
            if piece.startswith(INPUT_DIRS) and not (ROOT / piece).exists():
                raise AssertionError(f"{' '.join(argv)}: {piece} does not exist in the repository")
    exe = Path(argv[0]).name
    if exe == "streamdit":
        check_streamdit(argv[1:])
    elif exe == "torchrun":
        assert "-m" in argv, argv
        module = argv[argv.index("-m") + 1]
        assert module == "runtime.cli", f"torchrun runs {module}, not runtime.cli"
        check_streamdit(argv[argv.index("-m") + 2:])
    elif exe == "make":
        targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
        missing = [t for t in argv[1:] if t not in targets]
        assert not missing, f"make targets {missing} are not in the Makefile ({sorted(targets)})"
    elif exe.startswith("python"):
        assert (ROOT / argv[1]).is_file(), f"{argv[1]} does not exist"
    elif exe.endswith(".sh"):
        assert (ROOT / argv[0]).is_file() and os.access(ROOT / argv[0], os.X_OK), f"{argv[0]} is no executable script"
    elif exe == "pip":
        assert argv[1] == "install", argv
        extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
        for spec in [a for a in argv[2:] if not a.startswith("-")]:
            found = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", spec)
            if found and found[1]:
                missing = set(found[1].split(",")) - extras
                assert not missing, f"pip install {spec}: no extra {sorted(missing)} in pyproject.toml"
    else:
        raise AssertionError(f"{' '.join(argv)}: tests/examples.py has no rule for {argv[0]!r}; add one")


def check_fragment(block: Block) -> None:
    """Compile a `fragment` block and check that every `sdk.NAME` it uses exists. Raises AssertionError."""
    import ast

    import sdk

    tree = ast.parse(block.text, filename=block.id)
    used = {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "sdk"}
    missing = sorted(name for name in used if not hasattr(sdk, name))
    assert not missing, f"{block.id} uses sdk.{missing}, which the sdk package does not have"


# ----------------------------------------------------------------------------------- serve and client blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    ports: dict[int, int]  # the block's port -> the one used
    output: list[str]

    def substitute(self, text: str) -> str:
        for old, new in self.ports.items():
            text = re.sub(rf"(127\.0\.0\.1|localhost):{old}\b", rf"\g<1>:{new}", text)
        return text


def streamdit_exe() -> str:
    exe = Path(sys.executable).with_name("streamdit")
    return str(exe) if exe.exists() else "streamdit"


@contextmanager
def serve(block: Block, timeout: float = 240.0) -> Iterator[Server]:
    """Start a `serve` block (free ports, STREAMDIT_COMPILE=off); yield once it prints `serving ...`."""
    (argv,) = shell_lines(block.text)
    assert argv[:2] == ["streamdit", "serve"], argv
    ports: dict[int, int] = {}
    argv = [streamdit_exe(), *argv[1:]]
    for flag in ("--grpc-port", "--zmq-port", "--web-port"):
        if flag in argv:
            k = argv.index(flag) + 1
            ports[int(argv[k])] = free_port()
            argv[k] = str(ports[int(argv[k])])
    env = {**os.environ, "STREAMDIT_COMPILE": "off", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("serving "):
                break
        else:
            raise AssertionError(f"no `serving` line within {timeout:g} s: {''.join(output)}")
        assert output and output[-1].startswith("serving "), "".join(output)
        yield Server(proc, ports, output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_client(block: Block, server: Server, python: str, workdir: Path, timeout: float = 180.0) -> str:
    """Run a `client` block against `server` with the interpreter `python`; returns its stdout.

    Raises AssertionError with the output when it fails or runs past `timeout` seconds.
    """
    script = workdir / f"example_{Path(block.path).stem}_{block.line}.py"
    script.write_text(server.substitute(block.text))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        p = subprocess.run([python, str(script)], cwd=workdir, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{block.id} ran past {timeout:g} s; output so far: {e.stdout!r} {e.stderr!r}") from None
    assert p.returncode == 0, f"{block.id} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


FRAME_LINE = re.compile(r"^(\d+) (\d+) (\d+) (\d+)$")
V2V_LINE = re.compile(r"^(\d+) (\d+) (-1|\d+)$")  # frame index, source frames sent, source_index


def check_client_output(block: Block, out: str) -> None:
    """The output an `expect=` option promises: frame lines (index chunk pts_us event_id), and the echo; for
    expect=v2v, lines (index, source frames sent, source_index) whose later frames name frames that were sent."""
    if block.options.get("expect") == "v2v":
        rows = [tuple(map(int, f.groups())) for line in out.splitlines() if (f := V2V_LINE.match(line.strip()))]
        assert len(rows) >= 16, f"{block.id} printed {len(rows)} v2v lines:\n{out}"
        named = [r for r in rows if r[2] >= 0]
        assert len(named) >= len(rows) // 2, out  # once the buffer holds the game's frames, frames name them
        assert all(r[2] < r[1] for r in named), out  # a frame restyles a source frame that was sent
        assert "v2v: True" in out, out
        return
    frames = [tuple(map(int, f.groups())) for line in out.splitlines() if (f := FRAME_LINE.match(line.strip()))]
    expect = block.options.get("expect")
    assert frames, f"{block.id} printed no frame lines:\n{out}"
    indexes = [f[0] for f in frames]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes), out
    if expect == "frames":
        assert len(frames) == 8, out
    elif expect == "event-echo":
        found = re.search(r"^event (\d+) applies at chunk (\d+)", out, re.M)
        assert found, f"{block.id} printed no ack line:\n{out}"
        event_id, chunk = int(found[1]), int(found[2])
        assert event_id >= 1
        assert frames[-1][3] == event_id and frames[-1][1] >= chunk, out  # the echo, from the event's chunk on
        assert all(f[3] == 0 for f in frames[:-1]), out  # before it: the base prompt; it ends at the first echo
        assert len(frames) >= 5, out  # four frames of the base prompt, then the echo
        assert "prompt map: checkpoint:toy" in out, out
    else:
        raise AssertionError(f"{block.id}: unknown expect={expect!r}")

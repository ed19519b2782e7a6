"""The import graph, read from the source (issue 19): no circle of imports inside `runtime/`, and `sdk/` never
imports `runtime` except in `sdk/transports/local.py` (the in-process `local://` transport, lazily, by design).

Every import statement counts, at module level or inside a function, including `if TYPE_CHECKING:` blocks:
a circle that only type checkers see is still a knot for the reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_SDK_TO_RUNTIME = {"sdk/transports/local.py"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under runtime/ and sdk/."""
    out = {}
    for top in ("runtime", "sdk"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in `path`; `from a import b` yields a, and a.b when a.b is a
    module. Relative imports are resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out += [(mod, node.lineno)] + [(f"{mod}.{a.name}", node.lineno) for a in node.names]
    return out


def graph() -> tuple[dict[str, set[str]], list[str]]:
    """(runtime module -> the runtime modules it imports, sdk files importing runtime as 'file:line -> mod')."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods if m.split(".")[0] == "runtime"}
    sdk_to_runtime = []
    for name, path in mods.items():
        for target, line in imports(name, path):
            top = target.split(".")[0]
            if name.split(".")[0] == "sdk" and top == "runtime":
                sdk_to_runtime.append(f"{path.relative_to(ROOT).as_posix()}:{line} -> {target}")
            elif name in edges and target in edges and target != name:
                edges[name].add(target)
    return edges, sdk_to_runtime


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    u = stack.pop()
                    on_stack.discard(u)
                    comp.append(u)
                    if u == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_checker_finds_a_circle_and_a_back_edge() -> None:
    """The checker itself can fail: a made-up two-module circle is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    name = "runtime.serving.connection"
    found = {t for t, _ in imports(name, modules()[name])}
    assert "runtime.serving.session" in found and "runtime.serving.context" in found  # absolute imports are read


def test_runtime_has_no_import_cycle() -> None:
    edges, _ = graph()
    assert len(edges) > 50, "the runtime's modules were not found"
    assert cycles(edges) == [], "import circles in runtime/ (each list is one circle's modules)"


def test_sdk_imports_runtime_only_in_the_local_transport() -> None:
    _, sdk_to_runtime = graph()
    outside = [e for e in sdk_to_runtime if e.split(":")[0] not in ALLOWED_SDK_TO_RUNTIME]
    assert outside == [], "sdk/ must not import runtime (the sdk installs without torch)"
    assert any(e.startswith("sdk/transports/local.py") for e in sdk_to_runtime)  # the local:// transport, lazily

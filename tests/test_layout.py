"""The package's layout: imports flow one way, with no cycle, and every module imports on its own.

The import graph is read from the source with :mod:`ast` (module-level imports; those under
``if TYPE_CHECKING:`` are for type checkers only and are left out). The layers, bottom to top::

    errors, fileio                      (nothing of gankit)
    divergences, data, models, losses   (math, data and networks)
    metrics          training           (scores of samples; configs, phases, loop, checkpoints)
    runs                                (a whole run: start, resume, sample, score, its folder)
    experiments, bench                  (the tutorial's experiments; speed measurements)
    cli                                 (one module per subcommand)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "gankit"

# part -> the parts it must never import (anywhere, module level or inside a function)
FORBIDDEN = {
    "errors": {"divergences", "data", "models", "losses", "metrics", "training", "runs", "experiments", "bench", "cli"},
    "fileio": {"divergences", "data", "models", "losses", "metrics", "training", "runs", "experiments", "bench", "cli"},
    "divergences": {"data", "models", "losses", "metrics", "training", "runs", "experiments", "bench", "cli"},
    "data": {"models", "losses", "metrics", "training", "runs", "experiments", "bench", "cli"},
    "models": {"losses", "metrics", "training", "runs", "experiments", "bench", "cli"},
    "losses": {"metrics", "training", "runs", "experiments", "bench", "cli"},
    "metrics": {"training", "runs", "experiments", "bench", "cli"},
    "training": {"runs", "experiments", "bench", "cli"},
    "runs": {"experiments", "bench", "cli"},
    "experiments": {"bench", "cli"},
    "bench": {"experiments", "cli"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, current: str) -> list[str]:
    """The gankit modules an import statement loads (a package's ``__init__`` included)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative import
            package = current if MODULES[current].name == "__init__.py" else current.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}".strip(".")
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    out = []
    for name in names:
        if not name.startswith("gankit"):
            continue
        parts = name.split(".")
        # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c; a module's own ancestor packages
        # are already being imported when it runs, so passing through them is no edge of its own
        # (but taking a name from one is: that name may not be defined yet)
        out += [prefix for i in range(1, len(parts) + 1)
                if (prefix := ".".join(parts[:i])) in MODULES
                and (prefix == name or not current.startswith(prefix + "."))]
    return out


def imports(name: str, *, module_level_only: bool) -> set[str]:
    """The gankit modules ``name`` imports (at module level only, or anywhere)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_targets(node, name))
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif not module_level_only:
                visit([child for child in ast.walk(node) if isinstance(child, ast.Import | ast.ImportFrom)])

    visit(tree.body)
    found.discard(name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_no_import_cycle():
    graph = {name: imports(name, module_level_only=True) for name in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def part_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "gankit"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_flow_one_way(name):
    part = part_of(name)
    wrong = sorted(t for t in imports(name, module_level_only=False) if part_of(t) in FORBIDDEN.get(part, set()))
    assert not wrong, f"{name} ({part}) imports {wrong}, a layer above it"


def test_no_local_gankit_imports_outside_the_cli():
    """Imports inside functions exist only where they are deliberate: the CLI's lazy subcommands."""
    local = {}
    for name in MODULES:
        if part_of(name) == "cli" or name == "gankit":
            continue
        inner = imports(name, module_level_only=False) - imports(name, module_level_only=True)
        if inner:
            local[name] = sorted(inner)
    assert not local, f"function-level gankit imports: {local}"


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter():
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    failures = []
    for name in sorted(set(MODULES) - {"gankit.__main__"}):  # importing __main__ runs the command line
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, timeout=120)
        if done.returncode:
            failures.append(f"{name}: {done.stderr.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_import_gankit_does_not_import_torch():
    code = "import sys, gankit; gankit.__version__; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"

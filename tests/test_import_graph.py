"""The registry's modules import each other without a circle.

``fxcore.plugins`` registers the built-ins (``fxcore.builtins``), which include the annotators
(``fxcore.label.annotators``); those read files. They used to read them through
``fxcore.config``, which imports ``fxcore.plugins``: a circle that only held because two of the
imports sat inside functions. File reading now lives in ``fxcore.files``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "fxcore"
MODULES = ["fxcore.plugins", "fxcore.builtins", "fxcore.label.annotators", "fxcore.config",
           "fxcore.hookspecs", "fxcore.contracts", "fxcore.files"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The fxcore modules ``path`` imports anywhere (module level or inside functions; not in
    ``if TYPE_CHECKING:``), with the packages each import runs."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(
        ".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b too
                if ".".join(parts[:i]) in known:
                    found.add(".".join(parts[:i]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module_name(path))
    found.discard("fxcore")  # the package itself: __version__ and hookimpl, imports nothing
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    return {name: imports_of(path, known) for name, path in files.items()}


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A path ``start -> ... -> goal`` (``None`` when there is none)."""
    stack, seen = [[start]], {start}
    while stack:
        path = stack.pop()
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == goal:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append([*path, nxt])
    return None


def test_the_graph_sees_the_imports() -> None:
    edges = graph()
    assert "fxcore.builtins" in edges["fxcore.plugins"]  # inside Registry.load
    assert "fxcore.label.annotators" in edges["fxcore.builtins"]  # inside a hook
    assert "fxcore.plugins" in edges["fxcore.config"]


@pytest.mark.parametrize("module", ["fxcore.plugins", "fxcore.config"])
def test_no_import_leads_back(module: str) -> None:
    """Not even through an import inside a function (they run on first use)."""
    circle = reaches(graph(), module, module)
    assert circle is None, " -> ".join(circle)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    code = (f"import {module}\n"
            "from fxcore.plugins import Registry\n"
            "reg = Registry.load(strict=True, entry_points=[])\n"
            "print(' '.join(reg.names('annotator')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert {"fxcore/file", "fxcore/prompt", "fxcore/simulate"} <= set(out.stdout.split())

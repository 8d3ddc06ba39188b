"""Every hook spec appears in docs/plugins.md with its exact signature."""

from __future__ import annotations

import inspect
from pathlib import Path

import fxcore.hookspecs as hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def signature(name: str) -> str:
    sig = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
    return f"def {name}{sig}"


def test_every_hookspec_is_documented_with_its_signature() -> None:
    text = DOC.read_text()
    specs = [n for n in dir(hookspecs) if n.startswith("fxcore_register_")]
    assert sorted(specs) == sorted(hookspecs.HOOK_BY_KIND.values())
    missing = [signature(n) for n in specs if signature(n) not in text]
    assert not missing, f"docs/plugins.md lacks: {missing}"


def test_every_hookspec_has_a_docstring_with_an_example() -> None:
    for name in hookspecs.HOOK_BY_KIND.values():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert "Example::" in doc and "register(" in doc, name

"""docs/howto.md runs as written: its blocks are executed in order, in one namespace, in an empty
folder — ```python blocks run, ```toml blocks whose first line is ``# file: NAME`` are written to
NAME, and the ``fx`` lines of ```bash blocks run as commands (leading ``VAR=value`` set in their
environment; ``# exit N`` says the exit status expected, default 0). A block preceded by
``<!-- needs: module ... -->`` is skipped when one of those modules is not installed."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "howto.md"
BLOCK = re.compile(r"(?:<!-- needs: ([^>]*?) -->\n)?```(python|toml|bash)\n(.*?)```", re.S)
BLOCKS = [(kind, code, (needs or "").split()) for needs, kind, code in
          BLOCK.findall(DOC.read_text(encoding="utf-8"))]
FX = [sys.executable, "-c", "import sys, fxcore.cli; sys.exit(fxcore.cli.main(sys.argv[1:]))"]


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"__name__": "howto_doc", "_cwd": tmp_path_factory.mktemp("howto-doc")}


def test_the_page_covers_the_issue() -> None:
    text = DOC.read_text(encoding="utf-8")
    for needle in ('"folder"', '"csv"', "TorchClassifier(", "components=", "FXCORE_ALLOW_PYTHON",
                   "api.label(", "api.explore(", "| input | shape | dtype | values |"):
        assert needle in text
    assert "howto.md" in (DOC.parent / "api.md").read_text(encoding="utf-8")


def run_bash(code: str, cwd: Path) -> None:
    for line in code.splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        env = {k: v for k, v in os.environ.items() if k != "FXCORE_ALLOW_PYTHON"}
        while words and re.match(r"^[A-Z_]+=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words or words[0] != "fx":
            continue
        expected = re.search(r"exit (\d+)", comment)
        out = subprocess.run(FX + words[1:], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=600)
        want = int(expected.group(1)) if expected else 0
        assert out.returncode == want, f"{line}\n{out.stdout}\n{out.stderr}"
        said = comment.partition(": ")[2].strip().strip(".")
        for part in (p.strip() for p in said.split("...") if p.strip()):
            assert part in out.stderr, f"{line}: {part!r} not in {out.stderr!r}"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_block(index: int, namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    kind, code, needs = BLOCKS[index]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (pip install ./plugins/...)")
    if namespace.get("_failed"):
        pytest.skip("an earlier block failed")
    cwd = namespace["_cwd"]
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("FXCORE_ALLOW_PYTHON", raising=False)
    namespace["_failed"] = True
    if kind == "python":
        exec(compile(code, f"{DOC}:block{index}", "exec"), namespace)  # noqa: S102
    elif kind == "toml":
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            (cwd / first.removeprefix("# file: ").strip()).write_text(code, encoding="utf-8")
    elif kind == "bash":
        run_bash(code, cwd)
    namespace["_failed"] = False

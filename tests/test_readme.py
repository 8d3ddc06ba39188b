"""The README's fresh-machine commands: exactly two, demo then tests, and CI runs the second."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_two_commands() -> None:
    lines = first_block()
    assert len(lines) == 2
    assert lines[0].endswith("fx demo")
    assert lines[1].endswith("nox")
    head = (ROOT / "README.md").read_text().split("```bash")[0]
    assert head.count("\n") < 6, "the commands must be in the README's first lines"


def test_ci_runs_the_readme_test_command() -> None:
    script = ROOT / ".ci" / "run"
    extract = script.read_text().split("cmd=$(", 1)[1].split(")\n", 1)[0]
    out = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == first_block()[1]

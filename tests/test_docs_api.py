"""docs/api.md runs as written: its Python blocks are executed in order, in one namespace, in an
empty folder (blocks from the first that uses the MNIST plugin on need that plugin)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
FIRST_MNIST = next(i for i, b in enumerate(BLOCKS) if "fxcore_mnist" in b)


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"__name__": "api_doc", "_cwd": tmp_path_factory.mktemp("api-doc")}


def test_the_page_has_a_block_per_job() -> None:
    text = "\n".join(BLOCKS)
    for call in ("api.bench(", "api.label(", "api.explore(", "api.mds("):
        assert call in text


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_block(index: int, namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    if index >= FIRST_MNIST and importlib.util.find_spec("fxcore_mnist") is None:
        pytest.skip("needs the MNIST plugin (pip install ./plugins/fxcore-mnist)")
    if namespace.get("_failed"):
        pytest.skip("an earlier block failed")
    monkeypatch.chdir(namespace["_cwd"])
    namespace["_failed"] = True
    exec(compile(BLOCKS[index], f"{DOC}:block{index}", "exec"), namespace)  # noqa: S102
    namespace["_failed"] = False

"""Data sets are registered components (kind ``dataset``): configs name them and never code.

A config that still names ``module:function`` (label's ``data.loader``, mds's ``ensemble.data``)
is refused with exit 2 before anything is imported or called.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from label_helpers import DIGITS, config, make_plugin, one_torch_thread  # noqa: F401

import fxcore
from fxcore.cli import main
from fxcore.config import validate_config
from fxcore.errors import ConfigError
from fxcore.label.items import load_items
from fxcore.label.job import run_label
from fxcore.plugins import Registry
from fxcore.schemas.label import LabelConfig


class Digits:
    """scikit-learn's digits saved to ``path`` (the file this data set reads)."""

    classes = DIGITS
    splits = ("all", "test")

    def __init__(self, path: str) -> None:
        self.files = (Path(path),)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        d = np.load(self.files[0])
        n = len(d["labels"]) if which == "all" else 300
        return d["images"][-n:], d["labels"][-n:]


def _registry() -> Registry:
    from pydantic import BaseModel, ConfigDict

    class DigitsParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        path: str

    mod = ModuleType("dataset_test_plugin")

    @fxcore.hookimpl
    def fxcore_register_datasets(register):  # type: ignore[no-untyped-def]
        register("digits", Digits, DigitsParams)

    mod.fxcore_register_datasets = fxcore_register_datasets  # type: ignore[attr-defined]
    sys.modules.setdefault(mod.__name__, mod)
    return Registry.load(entry_points=[], modules={"t": make_plugin(), "d": mod})


def _config(reg: Registry, path: Path, **data: object) -> LabelConfig:
    spec = {"dataset": {"name": "d/digits", "params": {"path": str(path)}}, **data}
    return validate_config(config(path, data=spec, annotator="file"), LabelConfig, reg)


def test_label_reads_a_registered_data_set_and_its_split(npz: Path) -> None:
    reg = _registry()
    items = load_items(_config(reg, npz, split="test").data, registry=reg)
    assert len(items) == 300 and items.classes == DIGITS
    assert items.files == {"data.dataset d/digits[0]": npz}
    with pytest.raises(ConfigError, match=r"'train' is not a split of the data set \(it has: "
                                          r"all, test\)"):
        load_items(_config(reg, npz, split="train").data, registry=reg)
    with pytest.raises(ConfigError, match=r"data.dataset.name: no dataset named 'nope'"):
        validate_config(config(npz, data={"dataset": "nope"}), LabelConfig, reg)


def test_a_changed_data_set_file_is_refused_on_resume(tmp_path: Path, npz: Path) -> None:
    reg, mine = _registry(), tmp_path / "digits.npz"
    mine.write_bytes(npz.read_bytes())
    cfg, out = _config(reg, mine), tmp_path / "run"
    assert run_label(cfg, out, registry=reg)["status"] == "waiting"
    mine.write_bytes(npz.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match=r"^data.dataset d/digits\[0\] .* changed since"):
        run_label(cfg, out, resume=True, registry=reg)


LABEL = """
target_accuracy = 0.9
classifiers = ["mnist/linear"]
[data]
loader = "os:system"
params = {{ command = "touch {marker}" }}
"""

ENSEMBLE = """
generator = "mnist/cvae"
classifiers = ["mnist/linear", "mnist/mlp"]
[ensemble]
data = "os:system"
data_args = {{ command = "touch {marker}" }}
"""


@pytest.mark.parametrize(("command", "text"), [("label", LABEL), ("mds", ENSEMBLE)])
def test_a_config_naming_code_runs_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, text: str
) -> None:
    marker = tmp_path / "ran"
    cfg = tmp_path / "job.toml"
    cfg.write_text(text.format(marker=marker))
    extra = ["--ensemble"] if command == "mds" else []
    assert main([command, str(cfg), *extra, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert not marker.exists() and not (tmp_path / "run").exists()
    assert len(err.splitlines()) == 1 and "'os:system' is refused" in err, err
    assert "configs can no longer run code" in err and 'dataset = "mnist/mnist"' in err


def test_an_old_npz_data_key_says_it_is_now_path() -> None:
    from fxcore.schemas.mds import EnsembleConfig

    with pytest.raises(ValueError, match="data = 'd.npz' is now written path = 'd.npz'"):
        EnsembleConfig.model_validate({"data": "d.npz"})
    assert EnsembleConfig.model_validate({"path": "d.npz"}).path == Path("d.npz")

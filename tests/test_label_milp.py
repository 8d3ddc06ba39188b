"""The label job with the ``opal-milp`` labeller of fxcore-highs (skipped without the plugin)."""

from __future__ import annotations

import numpy as np
import pytest
from label_helpers import config, digits_npz, make_plugin, one_torch_thread  # noqa: F401

from fxcore.config import validate_config
from fxcore.label.job import run_label
from fxcore.plugins import Registry
from fxcore.schemas.label import LabelConfig

highs = pytest.importorskip("fxcore_highs")


@pytest.fixture(scope="module")
def reg():
    r = Registry.load(entry_points=[], modules={"t": make_plugin(), "highs": highs})
    if "highs/opal-milp" not in r.names("labeller"):
        pytest.skip("fxcore_highs registers no opal-milp labeller yet")
    return r


@pytest.mark.parametrize("params", [{"condition": "all"}, {"condition": "majority"},
                                    {"guarantee": 0.05}])
def test_opal_milp_end_to_end(tmp_path, reg, params) -> None:
    npz = digits_npz(tmp_path / "d.npz")
    cfg = validate_config(config(npz, labeller={"name": "opal-milp", "params": params}),
                          LabelConfig, reg)
    s = run_label(cfg, tmp_path / "run", registry=reg)
    assert s["status"] == "complete"
    assert s["solver"]["status"] in {"optimal", "gap_limit", "time_limit"}
    assert s["n_manual"] == s["n_finetune"] + s["n_optimisation"] + s["n_queue"]
    probs = np.load(tmp_path / "run" / "artefacts" / "probs.npy")
    assert probs.shape == (3, 1797, 10)
    assert s["auto_labelled"] > 0 and s["rest_accuracy"] > 0.9

"""Garbage from any component ends an explore or mds run with a RunError naming it, and nothing
is recorded for the bad output (the components: ``tests/garbage_components.py``)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import garbage_components as garbage
import pytest

from fxcore import plugins
from fxcore.cli import main
from fxcore.config import validate_config
from fxcore.errors import RunError
from fxcore.explore import explore
from fxcore.mds.run import run_mds
from fxcore.schemas import ExploreConfig
from fxcore.schemas.mds import MdsConfig
from fxcore.store import RunStore

GEN = r"generator 'garbage/gen' \(plugin garbage\)"
CLF = r"classifier 'garbage/clf' \(plugin garbage\)"
FIL = r"filter 'garbage/filter' \(plugin garbage\)"
SEL = r"selector 'garbage/sel' \(plugin garbage\)"
ON = r" on subdomain \S+ \(.*\); nothing was recorded for it"
AT = r" at step 1; nothing was recorded for this step"

#: (kind, mode) -> what the error says after "<component> returned "
CASES: dict[tuple[str, str], str] = {
    ("generator", "nan"): "NaN/inf images",
    ("generator", "inf"): "NaN/inf images",
    ("generator", "negative"): r"images outside \[0, 1\] \(min -0.5",
    ("generator", "x255"): r"images outside \[0, 1\] \(min 0, max \d+",
    ("generator", "short"): r"shape \(3, 1, 8, 8\) for n=6, expected \(6, C, H, W\)",
    ("generator", "long"): r"shape \(12, 1, 8, 8\) for n=6",
    ("generator", "uint8"): r"torch.uint8 images, expected floats in \[0, 1\]",
    ("generator", "numpy"): r"a ndarray of float32, expected a float tensor \(6, C, H, W\)",
    ("generator", "3d"): r"shape \(6, 8, 8\) for n=6",
    ("classifier", "nan"): r"NaN confidences \(first at item 0\)",
    ("classifier", "inf"): r"inf confidences \(first at item 0\)",
    ("classifier", "zeros"): r"confidences whose rows do not sum to 1 \(item 0 sums to 0;",
    ("classifier", "half"): r"confidences whose rows do not sum to 1 \(item 0 sums to 0.5;",
    ("classifier", "negative"): r"confidences outside \[0, 1\]",
    ("classifier", "x1000"): r"confidences outside \[0, 1\] \(min .*, max \d+",
    ("classifier", "logits"): r"confidences outside \[0, 1\]",
    ("classifier", "short"): r"shape \(3, 10\) for 6 inputs, expected \(6, 10\)",
    ("classifier", "long"): r"shape \(12, 10\) for 6 inputs",
    ("classifier", "columns"): r"shape \(6, 9\) for 6 inputs, expected \(6, 10\)",
    ("classifier", "string"): r"a str, expected \(6, 10\) probabilities",
    ("filter", "short-mask"): r"a mask of shape \(5,\) for 6 images, expected \(6,\)",
    ("filter", "long-mask"): r"a mask of shape \(12,\) for 6 images",
    ("filter", "int-mask"): r"a mask that is a Tensor of torch.int64, expected bool",
    ("filter", "float-mask"): r"a mask that is a Tensor of torch.float32, expected bool",
    ("filter", "nan-scores"): r"NaN/inf scores \(first at image 0\)",
    ("filter", "short-scores"): r"scores of shape \(5,\) for 6 images",
    ("filter", "mask-only"): r"a Tensor of torch.bool, expected \(mask, scores\)",
    ("selector", "floats"): r"float64 rows \[2.5, 3.5\], expected integer row indices",
    ("selector", "whole-floats"): r"float64 rows \[2.0, 3.0\], expected integer row indices",
    ("selector", "bools"): r"bool rows \[True, True\]",
    ("selector", "duplicates"): r"row 2 more than once",
    ("selector", "too-many"): r"3 rows, expected at most 2",
    ("selector", "evaluated"): r"row 0, which is not one of the 4 candidates",
    ("selector", "out-of-range"): r"row 1000000, which is not one of the 4 candidates",
    ("selector", "negative"): r"row -1, which is not one of",
    ("selector", "empty"): r"no rows, expected 1 to 2 of the 4 candidates",
}
WHO = {"generator": GEN, "classifier": CLF, "filter": FIL, "selector": SEL}
MODES = {"generator": garbage.GENERATOR_MODES, "classifier": garbage.CLASSIFIER_MODES,
         "filter": garbage.FILTER_MODES, "selector": garbage.SELECTOR_MODES}


def test_every_garbage_mode_has_a_case():
    assert {(k, m) for k, modes in MODES.items() for m in modes} == set(CASES)


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(entry_points=[], modules={"garbage": garbage})


def config_dict(kind: str = "", mode: str = "ok") -> dict[str, Any]:
    """6 subdomains in batches of 2; ``kind``'s component turns bad after one good call, so
    the first subdomain (or, for the selector, the first batch) is evaluated and recorded."""
    spec = {k: {"name": f"garbage/{n}", "params": {}} for k, n in
            [("generator", "gen"), ("classifier", "clf"), ("filter", "filter"),
             ("selector", "sel")]}
    if kind:
        spec[kind]["params"] = {"mode": mode, "after": 1}
    return {
        "seed": 1, "budget": 6, "batch_size": 2, "images_per_subdomain": 6, "max_attempts": 1,
        **spec,
        "domain": {
            "name": "digits",
            "prompt_template": "a {rotation} {true_class}",
            "true_class": "{digit}",
            "attributes": {"digit": ["1", "3", "8"], "rotation": ["0", "30"]},
        },
    }


def expected(kind: str, mode: str) -> str:
    where = AT if kind == "selector" else ON
    return rf"^{WHO[kind]} returned {CASES[kind, mode]}.*{where}"


def recorded(out: Path) -> tuple[list[dict[str, Any]], int]:
    store = RunStore(out)
    try:
        return store.records("evaluation"), store.count("proposal")
    finally:
        store.close()


def assert_nothing_recorded_for_the_bad_output(out: Path, kind: str) -> None:
    evaluations, proposals = recorded(out)
    if kind == "selector":  # the first batch only; the bad proposal is not recorded
        assert proposals == 1 and [e["index"] for e in evaluations] == [0, 1]
    else:  # the first subdomain only; the second is where the garbage came
        assert [e["index"] for e in evaluations] == [0]
    for e in evaluations:
        assert e["status"] == "ok" and 0 <= e["accuracy"] <= 1
        assert 0 <= e["mean_confidence"] <= 1 and math.isfinite(e["accuracy_low"])
    assert json.loads((out / "run.json").read_text())["status"] == "running"


def test_good_components_run_to_the_end(registry, tmp_path):
    config = validate_config(config_dict(), ExploreConfig, registry)
    result = explore(config, tmp_path / "run", registry=registry, show_progress=False)
    assert len(result.evaluations) == 6 and all(e.status == "ok" for e in result.evaluations)


@pytest.mark.parametrize("kind, mode", sorted(CASES))
def test_garbage_ends_the_run_and_records_nothing_for_it(registry, tmp_path, kind, mode):
    config = validate_config(config_dict(kind, mode), ExploreConfig, registry)
    with pytest.raises(RunError, match=expected(kind, mode)):
        explore(config, tmp_path / "run", registry=registry, show_progress=False)
    assert_nothing_recorded_for_the_bad_output(tmp_path / "run", kind)


@pytest.mark.parametrize("strict", ["0", "1"])
@pytest.mark.parametrize("kind, mode", [("classifier", "nan"), ("classifier", "x1000"),
                                        ("classifier", "short"), ("generator", "inf"),
                                        ("filter", "short-mask"), ("selector", "floats")])
def test_cli_exits_1_with_one_line_naming_the_component(
    tmp_path, monkeypatch, capsys, kind, mode, strict
):
    monkeypatch.setenv("FXCORE_PLUGINS_STRICT", strict)
    registry = plugins.Registry.load(entry_points=[], modules={"garbage": garbage})
    assert registry.strict == (strict == "1")
    monkeypatch.setattr(plugins, "_DEFAULT", registry)
    cfg = tmp_path / "garbage.json"
    cfg.write_text(json.dumps(config_dict(kind, mode)))
    out = tmp_path / "run"
    assert main(["explore", str(cfg), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("[explore]")]  # progress
    assert len(lines) == 1 and lines[0].startswith("fx: error: "), err
    assert "internal error" not in err
    assert re.match(expected(kind, mode), lines[0].removeprefix("fx: error: "))
    assert_nothing_recorded_for_the_bad_output(out, kind)


# ---------------------------------------------------------------- mds


def mds_config(registry: plugins.Registry, kind: str, mode: str, after: int) -> MdsConfig:
    bad = {"name": "garbage/latent" if kind == "generator" else "garbage/clf",
           "params": {"mode": mode, "after": after}}
    return validate_config({
        "generator": bad if kind == "generator" else "garbage/latent",
        "classifiers": ["garbage/clf", bad if kind == "classifier" else "garbage/clf"],
        "divergence": "js", "starts": 4, "chunk": 2, "steps": 3, "record_every": 1,
    }, MdsConfig, registry, source="mds.toml")


#: (kind, mode) -> what the error says after "<component> returned " (chunks of 2 starts)
MDS_CASES: dict[tuple[str, str], str] = {
    ("generator", "nan"): "NaN/inf images",
    ("generator", "x255"): r"images outside \[0, 1\]",
    ("generator", "short"): r"shape \(0, 1, 8, 8\) for n=[12], expected",
    ("generator", "numpy"): r"a ndarray of float32, expected a float tensor",
    ("classifier", "nan"): r"NaN confidences \(first at item 0\)",
    ("classifier", "zeros"): r"confidences whose rows do not sum to 1",
    ("classifier", "x1000"): r"confidences outside \[0, 1\]",
    ("classifier", "short"): r"shape \(0, 10\) for [12] inputs, expected \([12], 10\)",
    ("classifier", "columns"): r"shape \([12], 9\) for [12] inputs",
}
MDS_WHO = {"generator": r"latent-generator 'garbage/latent' \(plugin garbage\)",
           "classifier": r"classifier 'garbage/clf\(after=\d,mode=\w+\)' \(plugin garbage\)"}


@pytest.mark.parametrize("kind, mode", MDS_CASES)
def test_mds_garbage_during_a_run_keeps_only_the_finished_chunk(registry, tmp_path, kind, mode):
    # call 1 is the gradient probe, calls 2-5 the 4 forward passes of chunk 0 (steps 0..3)
    problem = MDS_CASES[kind, mode]
    with pytest.raises(RunError, match=rf"^{MDS_WHO[kind]} returned {problem}.* at step 0\b"):
        run_mds(mds_config(registry, kind, mode, after=5), tmp_path / "run", registry=registry,
                show_progress=False)
    store = RunStore(tmp_path / "run")
    assert store.count("chunk") == 1 and store.count("start") == 2
    store.close()


@pytest.mark.parametrize("kind, mode", MDS_CASES)
def test_mds_garbage_at_the_probe_writes_nothing(registry, tmp_path, kind, mode):
    problem = MDS_CASES[kind, mode]
    with pytest.raises(RunError, match=rf"^{MDS_WHO[kind]} returned {problem}.* \(the gradient "
                                       r"probe('s image)?\)$"):
        run_mds(mds_config(registry, kind, mode, after=0), tmp_path / "run", registry=registry,
                show_progress=False)
    assert not (tmp_path / "run").exists()

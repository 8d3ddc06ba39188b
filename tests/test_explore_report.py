"""fx report: per-attribute accuracy, heatmaps, worst subdomains, trace, HTML; table export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import explore_digits
import numpy as np
import pytest

from fxcore import plugins
from fxcore.cli import main
from fxcore.config import validate_config
from fxcore.domain import SubdomainSpace
from fxcore.explore import explore
from fxcore.explore.report import load_run, mean_interval
from fxcore.schemas import ExploreConfig

DOMAIN = {
    "name": "digits-words",
    "prompt_template": "a {rotation} {true_class} ({noise}, occlusion {occlusion})",
    "true_class": "{digit}",
    # word values: fx bench takes only non-numeric columns as attributes
    "attributes": {
        "digit": ["one", "three", "eight"],
        "rotation": ["upright", "tilted", "sideways"],
        "noise": ["clean", "noisy"],
        "occlusion": ["none", "top", "all"],
    },
    "invalid": [{"digit": "one", "occlusion": "all"}],
}


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(modules={"digits": explore_digits})


@pytest.fixture(scope="module")
def full_run(registry, tmp_path_factory) -> Path:
    """Every subdomain of the domain (selector exhaustive), as for an exported table."""
    data = {
        "seed": 1, "budget": 1000, "batch_size": 8, "images_per_subdomain": 10,
        "generator": "digits/render", "classifier": "digits/softmax",
        "filter": "digits/ink", "selector": "exhaustive", "domain": DOMAIN,
        "true_classes": {"one": ["1"], "three": ["3"], "eight": ["8"]},
    }
    config = validate_config(data, ExploreConfig, registry)
    out = tmp_path_factory.mktemp("explore") / "run"
    explore(config, out, registry=registry, show_progress=False)
    return out


def test_report_numbers_match_the_evaluations(full_run, capsys):
    assert main(["report", str(full_run), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    run = load_run(full_run)
    ok = run.ok
    assert doc["n_evaluated"] == len(SubdomainSpace(run.config.domain)) == 48
    assert doc["n_no_valid_images"] == 12 == len(doc["no_valid_images"])  # occlusion all
    # per-attribute means (Fig. 5) recomputed by hand
    tilted = np.array([e.accuracy for e in ok if e.values["rotation"] == "tilted"])
    row = next(r for r in doc["attributes"]["rotation"] if r["value"] == "tilted")
    assert row["n"] == len(tilted) and row["mean_accuracy"] == pytest.approx(tilted.mean())
    assert row["low"] <= row["mean_accuracy"] <= row["high"]
    assert next(r for r in doc["attributes"]["occlusion"] if r["value"] == "all")["n"] == 0
    # pairwise heatmap (Fig. 6) cell
    pair = next(p for p in doc["pairs"] if (p["a"], p["b"]) == ("digit", "rotation"))
    cell = [e.accuracy for e in ok if e.values["digit"] == "eight"
            and e.values["rotation"] == "sideways"]
    assert pair["mean_accuracy"][2][2] == pytest.approx(np.mean(cell))
    assert len(doc["pairs"]) == 6
    # worst subdomains are sorted and come with their images
    acc = [w["accuracy"] for w in doc["worst"]]
    assert acc == sorted(acc) and acc[0] == min(e.accuracy for e in ok)
    assert all(w["image"] and len(w["predicted"]) == 8 for w in doc["worst"])
    assert [t["index"] for t in doc["trace"]] == [e.index for e in run.evaluations]


def test_report_files_and_self_contained_html(full_run):
    assert main(["report", str(full_run)]) == 0
    folder = full_run / "report"
    for name in ("report.json", "attributes.png", "pairs.png", "trace.png", "worst_01.png"):
        assert (folder / name).read_bytes()[:4] in (b"\x89PNG", b"{\n  ")
    page = (folder / "index.html").read_text()
    assert "index.html" in (folder / "report.html").read_text()  # the old name forwards
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) >= 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "Worst subdomains" in page and "sideways" in page


def test_export_table_loads_in_the_replay_benchmark(full_run, tmp_path, capsys):
    from fxcore.bench.table import load_table

    table = tmp_path / "digits.csv"
    assert main(["report", str(full_run), "--export-table", str(table), "--json"]) == 0
    export = json.loads(capsys.readouterr().out)["export"]
    assert export["n_rows"] == 36 and export["n_no_valid_images"] == 12
    assert export["full_domain"] and export["prefixed"] == []
    loaded = load_table(table)
    assert loaded.n_rows == 36 and loaded.domain.attribute_names[:2] == ["digit", "rotation"]
    run = load_run(full_run)
    for e in run.ok:
        row = loaded.space.index_of(e.values)
        assert loaded.targets[row] == pytest.approx(e.accuracy)
    header = table.read_text().splitlines()[0]
    assert header == ",digit,rotation,noise,occlusion,accuracy,average_confidence," \
        "n_correct,n_kept,n_generated"


def test_report_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_mean_interval_is_a_t_interval():
    m, lo, hi = mean_interval(np.array([0.2, 0.4, 0.6]))
    assert m == pytest.approx(0.4)
    assert hi - m == pytest.approx(4.302653 * 0.2 / np.sqrt(3), rel=1e-5)
    assert mean_interval(np.array([0.5]))[1:] == (None, None)


def test_numeric_attribute_values_are_prefixed_for_the_benchmark(registry, tmp_path):
    from fxcore.bench.table import load_table
    from fxcore.explore.export import export_table

    domain = {**DOMAIN, "attributes": {"digit": ["1", "3"], "noise": ["0", "0.3"],
                                       "rotation": ["upright", "tilted"]},
              "invalid": [], "prompt_template": "{true_class} {noise} {rotation}"}
    data = {"budget": 100, "images_per_subdomain": 4, "generator": "digits/render",
            "classifier": "digits/softmax", "selector": "exhaustive", "domain": domain}
    config = validate_config(data, ExploreConfig, registry)
    explore(config, tmp_path / "run", registry=registry, show_progress=False)
    export = export_table(tmp_path / "run", tmp_path / "t.csv")
    assert export["prefixed"] == ["digit", "noise"] and export["full_domain"]
    table = load_table(tmp_path / "t.csv")
    assert table.domain.attribute_names == ["digit", "noise", "rotation"]
    assert table.domain.attributes[1].values == ["noise_0", "noise_0.3"]

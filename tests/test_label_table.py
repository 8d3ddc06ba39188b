"""``fx label --table``: the feature-table path on a real table (Wisconsin breast cancer)."""

from __future__ import annotations

import csv
import json

import pytest
from sklearn.datasets import load_breast_cancer

from fxcore.cli import main
from fxcore.errors import ConfigError
from fxcore.label.table import load_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = load_breast_cancer()
    path = tmp_path_factory.mktemp("t") / "cancer.csv"
    names = [n.replace(" ", "_") for n in d.feature_names]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", *names, "diagnosis"])
        for i, (x, y) in enumerate(zip(d.data, d.target, strict=True)):
            w.writerow([f"c{i}", *x, d.target_names[y]])
    return path


def test_table_cli_json_keys(tmp_path, table, capsys) -> None:
    out = tmp_path / "out.json"
    rc = main(["label", "--table", str(table), "--label-column", "diagnosis",
               "--features", "mean_radius,mean_texture,worst_area,worst_concave_points",
               "--id-column", "case", "--classifiers", "lr,rf", "--labeller", "threshold",
               "--target-accuracy", "0.95", "--annotator", "simulate",
               "--out", str(tmp_path / "run"), "--json", str(out)])
    assert rc == 0
    s = json.loads(out.read_text())
    assert {"accuracy", "manual_effort", "auto_labelled", "solver"} <= set(s)
    assert {"status", "gap", "seconds"} <= set(s["solver"])
    assert s["n_items"] == 569 and s["auto_labelled"] > 150 and s["accuracy"] > 0.95
    # the default run is certified: the summary says what was
    assert s["certificate"]["certified"] and s["certificate"]["auto"] == s["auto_labelled"]
    labels = (tmp_path / "run" / "artefacts" / "labels.csv").read_text().splitlines()
    assert labels[1].startswith("c0,")  # ids from --id-column


def test_table_errors(tmp_path, table, capsys) -> None:
    with pytest.raises(ConfigError, match=r"--table: .*missing.csv not found"):
        load_table(tmp_path / "missing.csv", "label")
    with pytest.raises(ConfigError, match="--label-column 'label' is not a column"):
        load_table(table, "label")
    with pytest.raises(ConfigError, match=r"--features names missing columns \['nope'\]"):
        load_table(table, "diagnosis", ["mean_radius", "nope"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,x\n3,nan,y\n")
    with pytest.raises(ConfigError, match=r"bad.csv: line 3, column 'b': 'nan' is not a finite"):
        load_table(bad, "y")
    bad.write_text("a,b,y\n1,2,x\n3,oops,y\n")
    with pytest.raises(ConfigError, match=r"line 3, column 'b': 'oops' is not a number"):
        load_table(bad, "y")
    bad.write_text("a,y\n1,x\n2,x\n")
    with pytest.raises(ConfigError, match="single class"):
        load_table(bad, "y")
    rc = main(["label", "--table", str(table), "--label-column", "diagnosis",
               "--target-accuracy", "1.2", "--labeller", "threshold"])
    assert rc == 2 and "--target-accuracy" in capsys.readouterr().err
    rc = main(["label", "--table", str(table), "--target-accuracy", "0.9"])
    assert rc == 2 and "--label-column" in capsys.readouterr().err


def test_resume_refuses_a_changed_table(tmp_path, table, capsys) -> None:
    """The table's content is part of the run's identity: flipped labels or dropped rows are
    refused on --resume (before: exit 0 mixing old answers, or an IndexError)."""
    mine = tmp_path / "t.csv"
    mine.write_bytes(table.read_bytes())
    args = ["label", "--table", str(mine), "--label-column", "diagnosis", "--id-column", "case",
            "--features", "mean_radius,mean_texture,worst_area", "--classifiers", "lr",
            "--labeller", "threshold", "--target-accuracy", "0.95", "--annotator", "file",
            "--out", str(tmp_path / "run")]
    assert main(args) == 0  # waiting for the first answers
    assert "waiting" in capsys.readouterr().out
    rows = list(csv.reader(mine.read_text().splitlines()))
    flip = {"malignant": "benign", "benign": "malignant"}
    for changed in ([rows[0]] + [[*r[:-1], flip[r[-1]]] for r in rows[1:]],
                    rows[: len(rows) // 2]):
        mine.write_text("\n".join(",".join(r) for r in changed) + "\n")
        assert main([*args, "--resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--table {mine} changed since the run started (sha256 " in err, err
        assert "start a new run or restore the file" in err and len(err.splitlines()) == 1
    mine.write_bytes(table.read_bytes())  # restored: the run goes on
    assert main([*args, "--resume"]) == 0

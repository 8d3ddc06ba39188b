"""The certified label run end to end (the job's default): the certificate in the summary,
active-learning rounds, resume in the middle of a round, and the table's --nonfinite modes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from label_helpers import config, one_torch_thread  # noqa: F401

from fxcore.config import validate_config
from fxcore.errors import ConfigError
from fxcore.label.job import run_label, run_table
from fxcore.schemas.label import LabelConfig, LabelTableConfig
from fxcore.store import RunStore


def _cfg(reg, npz, **over):
    base = {"certify": {"delta": 0.05}, "split": {"fraction": 0.1, "representation": "pixels"},
            "active": {"batch": 0.05}, "target_accuracy": 0.95}
    base.update(over)
    return validate_config(config(npz, **base), LabelConfig, reg)


def _labels(out):
    return {r["item"]: (int(r["label"]), r["source"])
            for r in csv.DictReader(open(out / "artefacts" / "labels.csv"))}


def test_certified_run_reports_what_it_certified(tmp_path, npz, reg) -> None:
    s = run_label(_cfg(reg, npz), tmp_path / "run", registry=reg)
    cert = s["certificate"]
    assert s["status"] == "complete" and cert["certified"] and s["auto_labelled"] == cert["auto"]
    assert cert["alpha"] == 0.95 and cert["delta"] == 0.05 and cert["budget"] == 89
    assert cert["p_value"] <= 0.05 and cert["errors_upper"] <= cert["budget"]
    assert "with probability ≥ 95% at most 89 of the 1797 final labels are wrong" in (
        cert["statement"])
    assert s["active_rounds"] >= 1 and s["target_met"] and s["accuracy"] >= 0.95
    assert s["n_manual"] + s["auto_labelled"] == 1797
    with RunStore(tmp_path / "run") as store:
        plan = store.get_state("certify")
        picks = store.get_state("active_picks")
    # the certificate's sample is random among the candidates, apart from the AL picks
    sample = set(plan["sample"])
    assert sample <= set(plan["candidates"]) and len(sample) == cert["sample"]
    assert not sample & {i for p in picks for i in p}
    labels = _labels(tmp_path / "run")
    assert all(labels[str(i)][1] == "manual" for i in sample)


def test_resume_in_the_middle_of_an_active_learning_round(tmp_path, npz, reg) -> None:
    """A person answers part of a round through files; each --resume goes on from there, and
    the result equals the uninterrupted simulated run with the same seed."""
    truth = np.load(npz)["labels"]
    whole = run_label(_cfg(reg, npz), tmp_path / "whole", registry=reg)
    cfg = _cfg(reg, npz, annotator={"name": "file"})
    out = tmp_path / "files"
    s = run_label(cfg, out, registry=reg)
    folder = out / "artefacts" / "annotation"
    stages = []
    for _ in range(100):
        if s["status"] == "complete":
            break
        queue = [r["item"] for r in csv.DictReader(open(folder / "queue.csv"))]
        # answer half of what a step asks first (a person stopping mid-round), then the rest
        half = queue if stages[-1:] == [s["waiting_for"]] else queue[: max(1, len(queue) // 2)]
        stages.append(s["waiting_for"])
        with open(folder / "answers.csv", "w") as fh:
            fh.write("item,label\n" + "".join(f"{i},{truth[int(i)]}\n" for i in half))
        s = run_label(cfg, out, resume=True, registry=reg)
    assert s["status"] == "complete", stages
    assert any(w.startswith("active-learning round 0") for w in stages)
    assert stages.count("active-learning round 0") >= 2  # resumed inside the round
    assert _labels(out) == _labels(tmp_path / "whole")
    assert s["certificate"] == whole["certificate"]
    journal = (out / "answers.jsonl").read_text().splitlines()
    assert len(journal) == s["n_manual"]  # every answer once, none lost or doubled


def test_plain_opal_has_no_certificate(tmp_path, npz, reg) -> None:
    s = run_label(_cfg(reg, npz, certify={"enabled": False}, active=None), tmp_path / "p",
                  registry=reg)
    assert s["certificate"] is None


def _table(path, inf_rows=()):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(int)
    with open(path, "w") as fh:
        fh.write("a,b,kl,valid\n")
        for i in range(400):
            kl = "inf" if i in inf_rows else f"{x[i, 2]:.4f}"
            fh.write(f"{x[i, 0]:.4f},{x[i, 1]:.4f},{kl},{y[i]}\n")
    return path


def _table_cfg(path, **over):
    data = {"table": str(path), "label_column": "valid", "target_accuracy": 0.9,
            "labeller": "threshold", "split": {"fraction": 0.2}, "active": {"batch": 0.05}}
    data.update(over)
    return validate_config(data, LabelTableConfig)


def test_nonfinite_modes(tmp_path) -> None:
    path = _table(tmp_path / "t.csv", inf_rows=(3, 10, 11))
    with pytest.raises(ConfigError, match=r"t.csv: line 5, column 'kl': 'inf' is not a finite "
                                          r"number \(--nonfinite clip or drop to go on\)"):
        run_table(_table_cfg(path), tmp_path / "e")
    assert not (tmp_path / "e").exists()
    clipped = run_table(_table_cfg(path, nonfinite="clip"), tmp_path / "c")
    assert clipped["table_notes"] == {"values_clipped": 3} and clipped["n_items"] == 400
    dropped = run_table(_table_cfg(path, nonfinite="drop"), tmp_path / "d")
    assert dropped["table_notes"] == {"rows_dropped_nonfinite": 3}
    assert dropped["n_items"] == 397
    nan = tmp_path / "nan.csv"
    nan.write_text(path.read_text().replace("inf", "nan", 1))
    with pytest.raises(ConfigError, match="'nan' is not a finite number$"):
        run_table(_table_cfg(nan, nonfinite="clip"), tmp_path / "n")


def test_clip_maps_infinities_to_the_column_extremes(tmp_path) -> None:
    from fxcore.label.table import load_table

    path = tmp_path / "t.csv"
    path.write_text("a,kl,valid\n1,0.5,0\n2,inf,1\n3,-inf,0\n4,2.5,1\n")
    items = load_table(path, "valid", nonfinite="clip")
    assert items.x[:, 1].tolist() == [0.5, 2.5, 0.5, 2.5] and items.notes == {
        "values_clipped": 2}


def test_table_cli_certificate_and_nonfinite(tmp_path) -> None:
    from click.testing import CliRunner

    from fxcore.cli import cli

    path = _table(tmp_path / "t.csv", inf_rows=(7,))
    res = CliRunner().invoke(cli, [
        "label", "--table", str(path), "--label-column", "valid", "--target-accuracy", "0.9",
        "--labeller", "threshold", "--nonfinite", "clip", "--batch", "0.05", "--fraction",
        "0.2", "--out", str(tmp_path / "run"), "--json", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["certificate"]["delta"] == 0.05 and s["table_notes"] == {"values_clipped": 1}
    assert "certified: with probability ≥ 95%" in res.output or s["certificate"]["auto"] == 0


def test_json_directory_is_refused_before_the_run(tmp_path) -> None:
    from fxcore.cli import main

    path = _table(tmp_path / "t.csv")
    rc = main(["label", "--table", str(path), "--label-column", "valid", "--target-accuracy",
               "0.9", "--labeller", "threshold", "--out", str(tmp_path / "run"),
               "--json", str(tmp_path)])
    assert rc == 2 and not (tmp_path / "run").exists()


def test_damaged_cached_probabilities_and_foreign_journal_lines_are_refused(tmp_path, npz,
                                                                            reg) -> None:
    cfg = _cfg(reg, npz, certify={"enabled": False}, active=None)
    out = tmp_path / "run"
    run_label(cfg, out, registry=reg)
    # a probs.npy of the wrong shape: one line naming the file, nothing overwritten
    probs = out / "artefacts" / "probs.npy"
    good = probs.read_bytes()
    np.save(probs, np.zeros((3, 10, 10)))
    with RunStore(out) as store:  # as if killed before the end
        store.set_state("status", "running")
        store.set_state("final", None)
    info = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**info, "status": "running"}))
    with pytest.raises(ConfigError, match=r"probs.npy is damaged: shape \(3, 10, 10\)"):
        run_label(cfg, out, resume=True, registry=reg)
    probs.write_bytes(good)
    # a journal line for an item this run does not have
    with open(out / "answers.jsonl", "a") as fh:
        fh.write(json.dumps({"item": "nope", "label": 1, "source": "manual"}) + "\n")
    with pytest.raises(ConfigError, match=r"answers.jsonl: answers for 1 items that are not "
                                          r"items of this run \(first: 'nope'\)"):
        run_label(cfg, out, resume=True, registry=reg)


def test_npz_with_object_arrays_is_not_loaded(tmp_path, reg) -> None:
    bad = tmp_path / "obj.npz"
    np.savez(bad, images=np.array([object()] * 4, dtype=object), labels=np.arange(4))
    cfg = validate_config(config(bad), LabelConfig, reg)
    with pytest.raises(ConfigError, match="obj.npz holds object arrays, which fxcore does not"):
        run_label(cfg, tmp_path / "run", registry=reg)
    assert not (tmp_path / "run").exists()

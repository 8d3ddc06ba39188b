"""The label job end to end on real data (scikit-learn's 8×8 digits) with small torch
classifiers: policy conditions, effort accounting, resume, the file round trip, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from label_helpers import DIGITS, config, digits_npz, one_torch_thread  # noqa: F401

from fxcore.config import validate_config
from fxcore.errors import ConfigError, RunError
from fxcore.label.baselines import ThresholdLabeller, agreed_scores
from fxcore.label.job import run_label
from fxcore.schemas.label import LabelConfig
from fxcore.store import RunStore


def _cfg(reg, npz, **over):
    return validate_config(config(npz, **over), LabelConfig, reg)


def test_opal_end_to_end_effort_and_decisions(tmp_path, npz, reg) -> None:
    out = tmp_path / "run"
    s = run_label(_cfg(reg, npz), out, registry=reg)
    assert s["status"] == "complete" and s["n_items"] == 1797
    # effort counts fine-tuning + optimisation + queued items
    assert s["n_manual"] == s["n_finetune"] + s["n_optimisation"] + s["n_queue"]
    assert s["manual_effort"] == pytest.approx(s["n_manual"] / 1797)
    assert s["auto_labelled"] + s["n_manual"] == 1797 and s["auto_labelled"] > 500
    assert s["accuracy"] >= s["rest_accuracy"] > 0.9
    with RunStore(out) as store:
        decisions = store.records("decision")
        assert len(decisions) == 1797
        assert sum(d["auto"] for d in decisions) == s["auto_labelled"]
    probs = np.load(out / "artefacts" / "probs.npy")
    truth = np.load(npz)["labels"]
    rows = list(csv.DictReader(open(out / "artefacts" / "labels.csv")))
    auto = np.array([r["source"] == "auto" for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    # Condition 1 (all agree) holds for every auto-labelled item, with the agreed label
    pred = probs.argmax(axis=2)
    assert np.all(pred[:, auto] == labels[auto])
    assert (labels == truth).mean() == pytest.approx(s["accuracy"])


def test_policy_conditions_all_versus_majority() -> None:
    # three classifiers, four items: agree / 2-of-3 / all differ / agree but unsure
    p = np.zeros((3, 4, 3))
    p[:, 0, 0] = 0.9
    p[:, 1, 1] = [0.9, 0.9, 0.0]
    p[2, 1, 2] = 0.9
    p[0, 2, 0], p[1, 2, 1], p[2, 2, 2] = 0.9, 0.9, 0.9
    p[:, 3, 2] = 0.4
    p[:, 3, 0] = 0.35
    p += (1 - p.sum(axis=2, keepdims=True)) / 3
    lab_all, _ = agreed_scores(p, "all")
    lab_maj, _ = agreed_scores(p, "majority")
    assert lab_all.tolist() == [0, -1, -1, 2] and lab_maj.tolist() == [0, 1, -1, 2]
    truth = np.array([0, 1, 0, 0])  # item 3's confident-ish agreement is wrong
    pol = ThresholdLabeller("majority").fit(p, truth, 0.75)
    auto, labels = pol.decide(p)
    assert auto.tolist() == [True, True, False, True] and labels[3] == 2  # 3/4 correct ≥ 0.75
    pol = ThresholdLabeller("majority").fit(p, truth, 1.0)
    auto, _ = pol.decide(p)
    assert auto.tolist() == [True, True, False, False]  # α = 1: the wrong one goes to a person


def test_opal_al_rounds_move_items_into_the_optimisation_set(tmp_path, npz, reg) -> None:
    cfg = _cfg(reg, npz, active={"beta": 40, "pick": "uncertain"}, target_accuracy=0.99)
    s = run_label(cfg, tmp_path / "al", registry=reg)
    assert s["status"] == "complete" and s["rounds"] >= 2
    with RunStore(tmp_path / "al") as store:
        rounds = store.records("round")
        assert [r["optimisation"] for r in rounds] == sorted(r["optimisation"] for r in rounds)
        assert rounds[1]["optimisation"] == rounds[0]["optimisation"] + 40
        picks = store.get_state("active_picks")
    assert all(len(p) == 40 for p in picks)
    assert s["n_manual"] == s["n_finetune"] + s["n_optimisation"] + s["n_queue"]


def test_file_round_trip_with_label_studio_and_resume(tmp_path, npz, reg) -> None:
    cfg = _cfg(reg, npz, annotator={"name": "file"})
    out = tmp_path / "run"
    first = run_label(cfg, out, registry=reg)
    assert first["status"] == "waiting" and first["pending"] == 540  # the 30 % labelled first
    folder = out / "artefacts" / "annotation"
    tasks = json.loads((folder / "label-studio-tasks.json").read_text())
    assert len(tasks) == 540 and tasks[0]["data"]["image"].startswith("data:image/png;base64,")
    assert '<Choice value="7"/>' in (folder / "label-studio-config.xml").read_text()
    truth = np.load(npz)["labels"]
    # answer as Label Studio's JSON export does
    export = [{"id": t["id"], "data": t["data"], "annotations": [{"was_cancelled": False,
              "result": [{"from_name": "label", "to_name": "image", "type": "choices",
                          "value": {"choices": [DIGITS[truth[int(t["data"]["item"])]]]}}]}]}
              for t in tasks]
    (folder / "answers.json").write_text(json.dumps(export))
    second = run_label(cfg, out, resume=True, registry=reg)
    assert second["status"] == "waiting"  # now the queue
    queue = list(csv.DictReader(open(folder / "queue.csv")))
    assert len(queue) == second["pending"] and "suggestion_t/tiny(hidden=0)" in queue[0]
    tasks = json.loads((folder / "label-studio-tasks.json").read_text())
    assert len(tasks[0]["predictions"]) == 3 and 0 <= tasks[0]["predictions"][0]["score"] <= 1
    with open(folder / "answers.csv", "w") as fh:
        fh.write("item,label\n" + "".join(f"{r['item']},{truth[int(r['item'])]}\n"
                                          for r in queue))
    third = run_label(cfg, out, resume=True, registry=reg)
    assert third["status"] == "complete" and third["n_queue"] == second["pending"]
    journal = (out / "answers.jsonl").read_text().splitlines()
    assert len(journal) == third["n_manual"]
    again = run_label(cfg, out, resume=True, registry=reg)  # a finished run just reports
    assert again["accuracy"] == third["accuracy"] and again["resumed"]


def test_bad_answer_files_name_file_and_line(tmp_path, npz, reg) -> None:
    cfg = _cfg(reg, npz, annotator={"name": "file"})
    out = tmp_path / "run"
    run_label(cfg, out, registry=reg)
    folder = out / "artefacts" / "annotation"
    (folder / "answers.csv").write_text("item,label\n0,3\n1,eleven\n")
    with pytest.raises(ConfigError, match=r"answers.csv: line 3: label 'eleven' is not one"):
        run_label(cfg, out, resume=True, registry=reg)
    (folder / "answers.csv").write_text("item,label\n0,3\n99999,1\n")
    with pytest.raises(ConfigError, match=r"line 3: item '99999' is not an item of this run"):
        run_label(cfg, out, resume=True, registry=reg)
    (folder / "answers.csv").write_text("id,answer\n0,3\n")
    with pytest.raises(ConfigError, match=r"answers.csv: line 1: the header must"):
        run_label(cfg, out, resume=True, registry=reg)
    (folder / "answers.csv").unlink()
    (folder / "answers.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"answers.json: not valid JSON"):
        run_label(cfg, out, resume=True, registry=reg)


def test_prompt_annotator_journals_each_answer(tmp_path, npz, reg) -> None:
    import io

    from fxcore.label.annotators import PromptAnnotator

    cfg = _cfg(reg, npz, annotator={"name": "prompt"})
    truth = np.load(npz)["labels"]
    from fxcore.label.items import load_items
    from fxcore.label.split import split_items

    items = load_items(cfg.data, 0)
    sp = split_items(items.pixels(), 0.3, seed=0)
    first = np.sort(np.concatenate([sp.finetune, sp.optimisation]))
    answers = "".join(f"{DIGITS[truth[i]]}\n" for i in first[:5]) + "x\nq\n"
    out_text = io.StringIO()
    ann = PromptAnnotator(stdin=io.StringIO(answers), stdout=out_text)
    s = run_label(cfg, tmp_path / "p", registry=reg, annotator=ann)
    assert s["status"] == "waiting" and s["answered"] == 5
    assert "is not one of the classes" in out_text.getvalue()  # the 'x' was refused
    assert len((tmp_path / "p" / "answers.jsonl").read_text().splitlines()) == 5


def test_bad_input_errors(tmp_path, npz, reg) -> None:
    # labels outside the class set
    bad = tmp_path / "bad.npz"
    d = np.load(npz)
    labels = d["labels"].copy()
    labels[5] = 12
    np.savez(bad, images=d["images"], labels=labels, classes=d["classes"])
    with pytest.raises(ConfigError, match="label 12 of item 5 is outside the class set"):
        run_label(_cfg(reg, bad), tmp_path / "a", registry=reg)
    assert not (tmp_path / "a").exists()  # nothing half-written
    # NaN confidences
    cfg = config(npz, classifiers=[{"name": "t/tiny", "params": {"nan": True}}])
    with pytest.raises(RunError, match="NaN confidences"):
        run_label(validate_config(cfg, LabelConfig, reg), tmp_path / "b", registry=reg)
    # α outside (0, 1]
    for alpha in (0, 1.01, -0.5):
        with pytest.raises(ConfigError, match="target_accuracy"):
            validate_config(config(npz, target_accuracy=alpha), LabelConfig, reg)
    # fewer items than the split needs
    small = digits_npz(tmp_path / "small.npz", n=3)
    with pytest.raises(ConfigError, match="each needs at least 1"):
        run_label(_cfg(reg, small), tmp_path / "c", registry=reg)
    # a labeller that is not installed names the field and the plugin
    with pytest.raises(ConfigError, match="labeller.name: no labeller named 'nope'"):
        validate_config(config(npz, labeller="nope"), LabelConfig, reg)


def test_resume_refuses_a_changed_npz(tmp_path, npz, reg) -> None:
    mine = tmp_path / "items.npz"
    mine.write_bytes(npz.read_bytes())
    cfg = _cfg(reg, mine, annotator={"name": "file"})
    out = tmp_path / "run"
    assert run_label(cfg, out, registry=reg)["status"] == "waiting"
    d = np.load(npz)
    np.savez(mine, images=d["images"], labels=(d["labels"] + 1) % 10, classes=d["classes"])
    with pytest.raises(ConfigError, match=rf"^data.path {mine} changed since the run started "
                                          r"\(sha256 \w+… then, \w+… now\); start a new run"):
        run_label(cfg, out, resume=True, registry=reg)
    mine.write_bytes(npz.read_bytes())
    assert run_label(cfg, out, resume=True, registry=reg)["status"] == "waiting"


def test_conflicting_answers_in_two_files_name_both_and_the_item(tmp_path, npz, reg) -> None:
    cfg = _cfg(reg, npz, annotator={"name": "file"})
    out = tmp_path / "run"
    run_label(cfg, out, registry=reg)
    folder = out / "artefacts" / "annotation"
    item = next(csv.DictReader(open(folder / "queue.csv")))["item"]
    (folder / "answers.csv").write_text(f"item,label\n{item},3\n")
    (folder / "answers.json").write_text(json.dumps({item: "5"}))
    with pytest.raises(ConfigError, match=rf"conflicting answers for item '{item}': "
                       r".*answers.csv: line 2 says '3', .*answers.json: key .* says '5'"):
        run_label(cfg, out, resume=True, registry=reg)
    (folder / "answers.json").write_text(json.dumps({item: "3"}))  # agreeing answers are fine
    assert run_label(cfg, out, resume=True, registry=reg)["answered"] == 1

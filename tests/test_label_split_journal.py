"""OPAL step 1 (split) and the answer journal's crash safety."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fxcore.errors import ConfigError, RunError
from fxcore.label.journal import AnswerJournal
from fxcore.label.split import draw_equally, optimisation_size, pca2, split_items

CLASSES = ["a", "b", "c"]


def _blobs(n: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10, size=(4, 8))
    return centres[np.arange(n) % 4] + rng.normal(size=(n, 8))


def test_split_sizes_and_disjoint_parts() -> None:
    x = _blobs(600)
    s = split_items(x, fraction=0.2, seed=3, n_clusters=4)
    assert len(s.optimisation) == optimisation_size(600, 0.2, 1000) == 60
    assert len(s.finetune) == 60 and len(s.rest) == 480
    allidx = np.concatenate([s.finetune, s.optimisation, s.rest])
    assert sorted(allidx.tolist()) == list(range(600))
    # equal draw: each of the 4 well separated clusters gives 30 of the 120 selected
    sel = np.concatenate([s.finetune, s.optimisation])
    assert sorted(np.bincount(s.clusters[sel]).tolist()) == [30, 30, 30, 30]
    again = split_items(x, fraction=0.2, seed=3, n_clusters=4)
    assert np.array_equal(again.optimisation, s.optimisation)


def test_m_is_capped_and_dbscan_runs() -> None:
    assert optimisation_size(10_000, 0.45, 1000) == 1000
    s = split_items(_blobs(400), fraction=0.5, method="dbscan", max_optimisation=50)
    assert len(s.optimisation) == 50 and len(s.finetune) == 150
    assert len(np.unique(s.clusters)) >= 4


def test_draw_equally_with_a_small_cluster() -> None:
    clusters = np.array([0] * 50 + [1] * 3 + [2] * 50)
    picked = draw_equally(clusters, 21, np.random.default_rng(0))
    counts = np.bincount(clusters[picked], minlength=3)
    assert counts.tolist() == [9, 3, 9]  # the small cluster is exhausted, the others share


def test_pca2_recovers_the_main_axis() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=300)
    x = np.outer(t, [3.0, 4.0, 0.0]) + 0.01 * rng.normal(size=(300, 3))
    z = pca2(x)
    assert abs(np.corrcoef(z[:, 0], t)[0, 1]) > 0.999


def test_too_few_items_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="optimisation set of 0"):
        split_items(_blobs(3), fraction=0.3)


# --------------------------------------------------------------------------------- journal
def test_journal_round_trip_and_last_answer_wins(tmp_path) -> None:
    j = AnswerJournal(tmp_path / "answers.jsonl", CLASSES)
    assert j.append([("x", 0), ("y", 2)]) == 2
    j.append([("x", 1)])
    got = j.read()
    assert got.answers == {"x": 1, "y": 2} and got.partial is None and got.lines == 3
    rec = json.loads((tmp_path / "answers.jsonl").read_text().splitlines()[0])
    assert rec["class"] == "a"


def test_truncated_last_line_is_reported_then_cut(tmp_path) -> None:
    path = tmp_path / "answers.jsonl"
    j = AnswerJournal(path, CLASSES)
    j.append([("x", 0), ("y", 1)])
    with open(path, "ab") as fh:
        fh.write(b'{"item": "z", "lab')  # a write interrupted by a crash
    got = j.read()
    assert got.answers == {"x": 0, "y": 1}
    assert got.partial is not None and "line 3 is incomplete" in got.partial
    j.append([("z", 2)])  # the partial line is cut before appending
    again = j.read()
    assert again.answers == {"x": 0, "y": 1, "z": 2} and again.partial is None


def test_corrupted_middle_line_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "answers.jsonl"
    path.write_text('{"item": "x", "label": 0}\nnot json\n{"item": "y", "label": 1}\n')
    with pytest.raises(RunError, match=r"answers.jsonl: line 2"):
        AnswerJournal(path, CLASSES).read()
    path.write_text('{"item": "x", "label": 7}\n')
    with pytest.raises(RunError, match=r"line 1: label 7"):
        AnswerJournal(path, CLASSES).read()


_WRITER = """
import sys
from fxcore.label.journal import AnswerJournal
j = AnswerJournal(sys.argv[1], ["a", "b", "c"])
i = 0
while True:
    j.append([(f"item{i}", i % 3)])
    print(i, flush=True)
    i += 1
"""


def test_killed_writer_loses_no_acknowledged_answer(tmp_path) -> None:
    path = tmp_path / "answers.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    acked = -1
    assert proc.stdout is not None
    deadline = time.time() + 20
    while acked < 30 and time.time() < deadline:
        acked = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    got = AnswerJournal(path, CLASSES).read()
    # every answer the writer acknowledged (append returned) is there, in full
    for i in range(acked + 1):
        assert got.answers[f"item{i}"] == i % 3
    assert all(k.startswith("item") for k in got.answers)

"""``fx mds`` and ``fx mds --ensemble`` end to end on real MNIST-5k, at a small size.

Skipped without the ``fxcore-mnist`` plugin (which provides ``mnist/cvae`` and the classifiers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fxcore_mnist.cvae")

from fxcore.cli import main  # noqa: E402
from fxcore.models import torch_threads  # noqa: E402
from fxcore.store import RunStore  # noqa: E402

SMALL = """
seed = 1
generator = { name = "mnist/cvae", params = { epochs = 10 } }
classifiers = [
  { name = "mnist/mlp", params = { epochs = 3 } },
  { name = "mnist/linear", params = { epochs = 3 } },
]
starts = 8
chunk = 4
steps = 12
record_every = 4
show = 4
"""

ENSEMBLE = """
seed = 0
generator = { name = "mnist/cvae", params = { epochs = 10 } }
classifiers = [
  { name = "mnist/linear", params = { pretrained = false, seed = 0 } },
  { name = "mnist/linear", params = { pretrained = false, seed = 1 } },
  { name = "mnist/linear", params = { pretrained = false, seed = 2 } },
]
starts = 30
chunk = 30
steps = 15
lr = 0.05
show = 4

[ensemble]
dataset = "mnist/mnist"
min_samples = 3
examples_per_cluster = 3
"""


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    with torch_threads(1):
        yield


def write(tmp_path: Path, text: str, name: str = "mds.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fx_mds_json_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, out = write(tmp_path, SMALL), tmp_path / "run"
    assert main(["mds", str(cfg), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["starts"] == 8 and summary["hierarchy"] == "mnist-digits"
    assert summary["divergence_final"] > summary["divergence_init"]
    assert summary["classifiers"] == ["mnist/mlp", "mnist/linear"]
    for name in ("before_after.png", "divergence.png", "dz.png", "curves.json", "samples.json"):
        assert (out / "artefacts" / name).is_file()
    store = RunStore(out)
    assert store.count("chunk") == 2 and store.count("start") == 8
    rec = store.records("start")[0]
    assert rec["steps"] == [0, 4, 8, 12] and len(rec["top"][0]["mnist/mlp"]["classes"]) == 3
    store.close()
    # a finished run resumes to the same summary; a changed config is refused
    assert main(["mds", str(cfg), "--out", str(out), "--resume", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["divergence_final"] == summary["divergence_final"]
    assert main(["report", str(out), "--json"]) == 0  # fx report: a self-contained page
    assert json.loads(capsys.readouterr().out)["starts"] == 8
    page = (out / "report" / "index.html").read_text()
    assert page.count("data:image/png") == 3 + 2 * 4  # two curves, the grid, show = 4 pairs
    changed = write(tmp_path, SMALL.replace("steps = 12", "steps = 13"), "changed.toml")
    assert main(["mds", str(changed), "--out", str(out), "--resume"]) == 2
    assert "config changed" in capsys.readouterr().err


def test_resume_skips_finished_chunks(tmp_path: Path) -> None:
    from fxcore.config import load_config
    from fxcore.mds.run import run_mds
    from fxcore.schemas.mds import MdsConfig

    cfg = load_config(write(tmp_path, SMALL), MdsConfig)
    out = tmp_path / "run"
    full = run_mds(cfg, out, show_progress=False)
    store = RunStore(out)
    with store.transaction():  # forget chunk 1 as if the run had been killed during it
        store.db.execute("DELETE FROM records WHERE kind = 'start' AND key IN ('4','5','6','7')")
        store.db.execute("DELETE FROM records WHERE kind = 'chunk' AND key = '1'")
    first = store.records("start")[0]
    left = store.db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    store.close()
    info = json.loads((out / "run.json").read_text())
    info.update(status="running", records=left)  # run.json counts the records it has seen
    (out / "run.json").write_text(json.dumps(info))
    resumed = run_mds(cfg, out, resume=True, show_progress=False)
    store = RunStore(out)
    assert store.records("start")[0] == first  # chunk 0 was not redone
    assert store.count("start") == 8
    store.close()
    assert resumed["divergence_final"] == pytest.approx(full["divergence_final"], rel=1e-5)


def test_bad_configs_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    one = SMALL.replace('  { name = "mnist/linear", params = { epochs = 3 } },\n', "")
    assert main(["mds", str(write(tmp_path, one)), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "classifiers" in err and "at least 2" in err and len(err.splitlines()) == 1
    bad = SMALL.replace("seed = 1", 'seed = 1\nconditions = ["7", "x"]')
    assert main(["mds", str(write(tmp_path, bad)), "--out", str(tmp_path / "b")]) == 2
    assert "conditions: 'x' is not a condition of mnist/cvae" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert main(["mds", str(write(tmp_path, ENSEMBLE)), "--out", str(tmp_path / "c")]) == 2
    assert "fx mds --ensemble" in capsys.readouterr().err
    assert main(["mds", "--ensemble", str(write(tmp_path, SMALL)), "--out",
                 str(tmp_path / "d")]) == 2
    assert "needs an [ensemble] table" in capsys.readouterr().err


def test_fx_mds_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ens"
    assert main(["mds", "--ensemble", str(write(tmp_path, ENSEMBLE)), "--out", str(out),
                 "--json"]) == 0
    ens = json.loads(capsys.readouterr().out)["ensemble"]
    assert ens["test"]["n"] == 1000 and ens["mds"]["n"] == 30
    assert ens["test"]["accuracy"] > 0.8  # three bagged softmax regressions on real MNIST
    assert ens["mds"]["accuracy"] < ens["test"]["accuracy"]
    assert ens["accuracy_drop_points"] == pytest.approx(
        100 * (ens["test"]["accuracy"] - ens["mds"]["accuracy"]))
    assert 0.5 < ens["test"]["auc_macro_ovr"] <= 1 and 0 <= ens["mds"]["f1_macro"] <= 1
    grid = ens["clusters"]["grid"]
    assert [r["eps"] for r in grid] == sorted(r["eps"] for r in grid)
    assert sum(c["size"] for c in ens["clusters"]["clusters"]) == 30
    for name in ("ensemble.json", "ensemble_clusters.png", "ensemble_cluster_examples.png"):
        assert (out / "artefacts" / name).is_file()


@pytest.mark.slow
def test_demo(tmp_path: Path) -> None:
    from fxcore.mds.demo import run_demo

    lines = run_demo(tmp_path / "mds")
    assert any(line.startswith("divergence ") for line in lines)
    assert (tmp_path / "mds" / "artefacts" / "before_after.png").is_file()

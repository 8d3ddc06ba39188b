"""The replay harness and ``fx bench`` on the paper's table and small hand-made tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fxcore.bench import OracleSelector, load_table, make_selector, parse_selector, replay
from fxcore.cli import main
from fxcore.contracts import Observations
from fxcore.errors import ConfigError, RunError
from fxcore.plugins import Registry

#: the built-in selectors only: no plugin imports (fast, independent of what is installed)
BUILTINS = Registry.load(entry_points=[])


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fx bench`` discovers plugins: let it see the built-ins only."""
    import fxcore.plugins

    monkeypatch.setenv("FXCORE_PLUGINS_ALLOW", "fxcore")
    monkeypatch.setattr(fxcore.plugins, "_DEFAULT", None)


@pytest.fixture(scope="module")
def paper():  # type: ignore[no-untyped-def]
    return load_table("lecoz2024-dog")


def test_oracle_needs_worst_k_evaluations_on_the_papers_table(paper) -> None:  # type: ignore[no-untyped-def]
    trace = replay(make_selector("oracle", paper), paper, seed=0, budget=150, name="oracle")
    assert trace.worst_k == 103
    assert trace.evals_to_full_coverage == 103
    assert trace.coverage_after(103) == 1.0
    assert np.all(np.diff(trace.targets) >= 0)  # lowest first


def test_random_replay_has_no_repeats_and_is_seeded(paper) -> None:  # type: ignore[no-untyped-def]
    a = replay(make_selector("random", paper, BUILTINS), paper, seed=3, budget=200, batch_size=7)
    b = replay(make_selector("random", paper, BUILTINS), paper, seed=3, budget=200, batch_size=7)
    c = replay(make_selector("random", paper, BUILTINS), paper, seed=4, budget=200, batch_size=7)
    assert len(a.rows) == 200 and len(set(a.rows.tolist())) == 200
    assert a.proposals == 29  # ⌈200 / 7⌉
    assert a.rows.tolist() == b.rows.tolist() != c.rows.tolist()
    assert a.targets.tolist() == paper.targets[a.rows].tolist()


def test_full_replay_covers_everything(paper) -> None:  # type: ignore[no-untyped-def]
    trace = replay(make_selector("exhaustive", paper, BUILTINS), paper, seed=0)
    assert sorted(trace.rows.tolist()) == list(range(paper.n_rows))
    assert trace.coverage[-1] == 1.0
    assert trace.summary()["mean_accuracy"][-1] == pytest.approx(paper.targets.mean(), abs=1e-6)


class Repeater:
    def setup(self, space, seed):  # type: ignore[no-untyped-def]
        pass

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        return np.array([0])


def test_a_selector_proposing_an_evaluated_row_is_a_run_error(paper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunError, match="not candidates"):
        replay(Repeater(), paper, seed=0, budget=5)


def test_selector_specs() -> None:
    spec = parse_selector("sklearn/surrogate:model=rf,n_init=5,beta=2.5,interactions=true")
    assert spec.name == "sklearn/surrogate"
    assert spec.params == {"model": "rf", "n_init": 5, "beta": 2.5, "interactions": True}
    with pytest.raises(ConfigError, match="key=value"):
        parse_selector("random:oops")


def test_oracle_takes_no_params_and_ties_break_by_row(paper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="oracle takes no parameters"):
        make_selector("oracle:k=1", paper)
    sel = OracleSelector(np.array([0.5, 0.1, 0.1, 0.3]))
    assert sel.propose(Observations(), np.array([3, 2, 1, 0]), 3).tolist() == [1, 2, 3]


def small_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["shape,colour,size,accuracy"]
    for s in ("disc", "square", "star", "ring"):
        for c in ("red", "blue", "green"):
            for z in ("small", "large"):
                lines.append(f"{s},{c},{z},{rng.uniform():.3f}")
    path = tmp_path / "shapes.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fx_bench_json_keys_and_plot(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["bench", "--table", str(small_table(tmp_path)), "--selector", "oracle",
               "--selector", "random", "--repeats", "2", "--json", str(out), "--plot", str(png),
               "--quiet"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["table"] == "shapes" and doc["n_rows"] == 24 and doc["worst_k"] == 2
    for name in ("oracle", "random"):
        res = doc["selectors"][name]
        assert len(res["evals_to_full_coverage"]) == 2
        assert len(res["coverage"]) == 2 and len(res["coverage"][0]) == 24
        assert len(res["mean_accuracy"][0]) == 24
        for key in ("coverage_at_worst_k", "rolling_accuracy", "seconds",
                    "evals_to_full_coverage_median", "coverage_at_worst_k_median"):
            assert key in res
    assert doc["selectors"]["oracle"]["evals_to_full_coverage"] == [2, 2]
    assert png.stat().st_size > 10_000
    assert "oracle" in capsys.readouterr().out


def test_fx_bench_errors_exit_2_and_write_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    table = small_table(tmp_path)
    out = tmp_path / "r.json"
    assert main(["bench", "--table", str(table), "--selector", "random", "--target", "acc",
                 "--json", str(out)]) == 2
    assert "no target column 'acc'" in capsys.readouterr().err
    assert main(["bench", "--table", str(table), "--selector", "no-such-selector",
                 "--json", str(out)]) == 2
    assert main(["bench", "--table", str(table), "--selector", "random", "--budget", "99",
                 "--json", str(out)]) == 2
    assert not out.exists()


def test_fx_bench_lists_shipped_tables(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["bench", "--list-tables"]) == 0
    assert "lecoz2024-dog: 1032 rows" in capsys.readouterr().out

"""Multi-fidelity: the sequential test, exact staged hypergeometric draws, and the images metric
of ``fx bench`` on hand-made tables where the answer is known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fxcore.bench import ReplayFidelity, load_table, make_selector, replay
from fxcore.cli import main
from fxcore.contracts import Observations
from fxcore.fidelity import (
    FidelityObservations,
    Stages,
    failing_count,
    hypergeom_sf,
    rank_threshold,
    staged_draws,
)
from fxcore.plugins import Registry

BUILTINS = Registry.load(entry_points=[])


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import fxcore.plugins

    monkeypatch.setenv("FXCORE_PLUGINS_ALLOW", "fxcore")
    monkeypatch.setattr(fxcore.plugins, "_DEFAULT", None)


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize(("total", "good", "drawn"), [(50, 29, 10), (50, 2, 10), (10, 4, 5),
                                                      (200, 120, 73)])
def test_hypergeometric_tail_matches_scipy(total: int, good: int, drawn: int) -> None:
    for x in range(-1, drawn + 2):
        assert hypergeom_sf(x, total, good, drawn) == pytest.approx(
            stats.hypergeom.sf(x - 1, total, good, drawn), abs=1e-12)


def test_failing_count_is_robust_to_float_targets() -> None:
    assert failing_count(0.6, 50) == 29
    assert failing_count(0.5999999642372131, 50) == 29
    assert failing_count(0.06, 50) == 2
    assert failing_count(0.6, 50, inclusive=True) == 30
    assert failing_count(0.0, 50) == -1


def test_stages_validate_and_spend_the_error_evenly() -> None:
    assert Stages((10, 20, 30, 40, 50), 0.04).alpha == pytest.approx(0.01)
    for bad in [(), (10, 10), (20, 10), (0, 10)]:
        with pytest.raises(ValueError):
            Stages(bad)
    with pytest.raises(ValueError):
        Stages((10, 50), error=1.0)
    s = Stages((10, 50), 0.05)
    assert s.stop(10, 10, 0.6) and s.stop(9, 10, 0.6) and not s.stop(8, 10, 0.6)
    assert not s.stop(10, 10, None)          # no threshold known: nothing stops
    assert not s.stop(50, 50, 0.6)           # full fidelity is never "stopped early"


@pytest.mark.parametrize("sizes", [(10, 50), (10, 20, 30, 40, 50), (5, 10, 20, 30, 40, 50)])
def test_a_failure_at_the_boundary_stops_early_with_probability_at_most_error(sizes) -> None:  # type: ignore[no-untyped-def]
    """Exact: P(stop) summed over the stages for the hardest failure (c = c*)."""
    stages = Stages(sizes, 0.05)
    c = failing_count(0.6, 50)
    rng = np.random.default_rng(0)
    stops = 0
    n = 20_000
    for _ in range(n):
        counts = staged_draws(rng, c, 50, sizes)
        stops += any(stages.stop(x, s, 0.6) for x, s in zip(counts[:-1], sizes[:-1], strict=False))
    assert stops / n <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n)


# ---------------------------------------------------------------- the draws


def test_staged_draws_are_exact_hypergeometric_and_consistent() -> None:
    rng = np.random.default_rng(1)
    c, n = 31, 50
    draws = np.array([staged_draws(rng, c, n, (10, 20, 50)) for _ in range(20_000)])
    assert np.all(draws[:, -1] == c)                           # all images: every correct one
    assert np.all(np.diff(draws, axis=1) >= 0)                 # cumulative
    assert np.all(draws[:, 1] - draws[:, 0] <= 10)
    for j, k in enumerate((10, 20)):
        assert draws[:, j].mean() == pytest.approx(k * c / n, abs=0.05)
        var = k * (c / n) * (1 - c / n) * (n - k) / (n - 1)    # hypergeometric, not binomial
        assert draws[:, j].var() == pytest.approx(var, rel=0.05)
    # the first stage is the same draw whatever follows it
    a = staged_draws(np.random.default_rng(7), c, n, (10,))
    b = staged_draws(np.random.default_rng(7), c, n, (10, 50))
    assert a[0] == b[0]


def test_rank_threshold_is_none_until_enough_rows_then_an_order_statistic() -> None:
    assert rank_threshold([0.1] * 10, 100) is None
    y = np.linspace(0, 1, 11)
    assert rank_threshold(y, 100) == pytest.approx(1.0)        # rank 10 of 11 values
    assert rank_threshold(y, 50) == pytest.approx(0.5)


def test_fidelity_observations_are_observations() -> None:
    o = FidelityObservations(np.array([1, 2]), np.array([0.5, 1.0]), np.array([50, 10]))
    assert isinstance(o, Observations) and len(o) == 2 and o.n_images.tolist() == [50, 10]


# ---------------------------------------------------------------- the images metric


def _table(tmp_path: Path, acc: dict[int, float], n_images: int | None = None) -> Path:
    """A 4 x 5 table, rows in space order, accuracy 1.0 except ``acc``."""
    lines = ["a,b,accuracy" + (",n_kept" if n_images else "")]
    i = 0
    for a in range(4):
        for b in range(5):
            extra = f",{n_images}" if n_images else ""
            lines.append(f"a{a},b{b},{acc.get(i, 1.0)}{extra}")
            i += 1
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_images_metric_on_a_hand_made_table(tmp_path: Path) -> None:
    """Worst rows 3 and 7 (0 of 10 correct), the rest 10 of 10. Exhaustive (space order) needs
    8 evaluations: 80 images at full fidelity; in stages 5 -> 10 with failures below 0.5, every
    good row stops after 5 images (5 of 5 correct cannot come from <= 4 of 10) and the worst go
    to 10: 6 * 5 + 2 * 10 = 50. The oracle needs 2 * 10 = 20."""
    table = load_table(_table(tmp_path, {3: 0.0, 7: 0.0}))
    assert np.flatnonzero(table.targets < 1).tolist() == [3, 7]
    ten = np.full(table.n_rows, 10)
    full = replay(make_selector("exhaustive", table, BUILTINS), table, 0,
                  fidelity=ReplayFidelity(ten))
    assert full.evals_to_full_coverage == 8 and full.images_to_full_coverage == 80
    staged = replay(make_selector("exhaustive", table, BUILTINS), table, 0,
                    fidelity=ReplayFidelity(ten, (5, 10), 0.05, threshold=0.5))
    assert staged.evals_to_full_coverage == 8 and staged.images_to_full_coverage == 50
    assert staged.n_images is not None and staged.stopped is not None
    assert staged.n_images[:8].tolist() == [5, 5, 5, 10, 5, 5, 5, 10]
    assert staged.worst_stopped == 0 and staged.sweep_images == 0
    oracle = replay(make_selector("oracle", table), table, 0,
                    fidelity=ReplayFidelity(ten, (5, 10), threshold=0.5))
    assert oracle.images_to_full_coverage == 20


def test_a_worst_row_stopped_early_is_found_only_by_the_sweep(tmp_path: Path) -> None:
    """Worst rows 3 and 7 have 4 of 10 correct; with failures below 0.05 (0 correct) every row
    stops after 8 images (at least 2 correct of them), the worst rows included. They are found
    after the sweep: 20 * 8 images, then 2 more for each worst row (lowest accuracy first)."""
    table = load_table(_table(tmp_path, {3: 0.4, 7: 0.4}))
    fid = ReplayFidelity(np.full(table.n_rows, 10), (8, 10), 0.05, threshold=0.05)
    trace = replay(make_selector("exhaustive", table, BUILTINS), table, 0, fidelity=fid)
    assert trace.evals_to_full_coverage == 8                 # evaluations: unchanged metric
    assert trace.worst_stopped == 2 and trace.sweep_images == 4
    assert trace.images_to_full_coverage == 20 * 8 + 4
    # with a budget below every row there is no sweep: never found
    short = replay(make_selector("exhaustive", table, BUILTINS), table, 0, budget=10,
                   fidelity=fid)
    assert short.images_to_full_coverage is None


def test_staged_replay_is_the_same_for_every_selector_at_a_seed(tmp_path: Path) -> None:
    """A row's draws depend on (seed, row) only: common random numbers across selectors."""
    rng = np.random.default_rng(0)
    acc = {i: round(float(v), 1) for i, v in enumerate(rng.integers(0, 11, 20) / 10)}
    table = load_table(_table(tmp_path, acc))
    fid = ReplayFidelity(np.full(table.n_rows, 10), (4, 10), 0.1)
    a = replay(make_selector("exhaustive", table, BUILTINS), table, 3, fidelity=fid)
    b = replay(make_selector("random", table, BUILTINS), table, 3, fidelity=fid)
    seen_a = dict(zip(a.rows.tolist(), a.n_images.tolist(), strict=False))  # type: ignore[union-attr]
    assert a.images is not None and a.images[-1] >= 0
    assert sorted(seen_a) == sorted(b.rows.tolist())


def test_selectors_see_image_counts_only_with_stages(tmp_path: Path) -> None:
    table = load_table(_table(tmp_path, {3: 0.0, 7: 0.0}))
    seen: list[Observations] = []

    class Spy:
        def setup(self, space, seed):  # type: ignore[no-untyped-def]
            pass

        def propose(self, observed, candidates, k):  # type: ignore[no-untyped-def]
            seen.append(observed)
            return np.sort(candidates)[:k]

    ten = np.full(table.n_rows, 10)
    replay(Spy(), table, 0, budget=5, fidelity=ReplayFidelity(ten))
    assert not isinstance(seen[-1], FidelityObservations)
    seen.clear()
    replay(Spy(), table, 0, budget=5, fidelity=ReplayFidelity(ten, (5, 10), threshold=0.5))
    last = seen[-1]
    assert isinstance(last, FidelityObservations)
    assert last.n_images.tolist() == [5, 5, 5, 10]
    assert last.accuracy.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_fx_bench_images_options_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _table(tmp_path, {3: 0.0, 7: 0.0}, n_images=10)
    out = tmp_path / "b.json"
    code = main(["bench", "--table", str(path), "--selector", "exhaustive", "--selector",
                 "oracle", "--repeats", "2", "--images-per-row", "n_kept", "--stages", "5,10",
                 "--fidelity-threshold", "0.5", "--quiet", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["fidelity"]["stages"] == [5, 10] and doc["fidelity"]["oracle_images"] == 20
    res = doc["selectors"]["exhaustive"]
    assert res["images_to_full_coverage"] == [50, 50]
    assert res["images_to_full_coverage_median"] == 50
    assert res["evals_to_full_coverage_median"] == 8
    captured = capsys.readouterr()
    assert "images to find every worst row" in captured.out + captured.err


@pytest.mark.parametrize(("args", "message"), [
    (["--stages", "5,10"], "--stages needs --images-per-row"),
    (["--images-per-row", "nope"], "not a number nor a numeric column"),
    (["--images-per-row", "7"], "is not a count of 7 images"),
    (["--images-per-row", "10", "--stages", "10,5"], "increasing"),
])
def test_fx_bench_images_option_errors_exit_2(tmp_path: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture) -> None:
    path = _table(tmp_path, {3: 0.0, 7: 0.3})
    code = main(["bench", "--table", str(path), "--selector", "oracle", "--quiet", *args])
    assert code == 2
    assert message in capsys.readouterr().err

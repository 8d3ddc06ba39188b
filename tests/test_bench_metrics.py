"""Replay metrics on hand-made numbers and on the paper's table."""

from __future__ import annotations

import numpy as np
import pytest

from fxcore.bench import load_table, metrics


def test_worst_set_of_the_papers_table_is_103_rows_below_060() -> None:
    table = load_table("lecoz2024-dog")
    y = table.targets
    assert table.n_rows == 1032
    assert np.sort(y)[103] == pytest.approx(0.60, abs=1e-6)  # rank ⌊0.1·1032⌋ = 103
    worst = metrics.worst_mask(y)
    assert worst.sum() == 103
    assert y[worst].max() < 0.60 - 1e-6 <= y[~worst].min() + 1e-6


def test_worst_set_is_strictly_below_the_rank_value_with_ties() -> None:
    # N = 20: rank ⌊2⌋ → the third smallest value, 0.2; rows strictly below it: 0.1, 0.15
    y = np.array([0.9] * 15 + [0.2, 0.1, 0.2, 0.15, 0.3])
    assert metrics.worst_mask(y).nonzero()[0].tolist() == [16, 18]


def test_coverage_by_hand() -> None:
    worst = np.zeros(10, dtype=bool)
    worst[[2, 5, 7]] = True
    cov = metrics.coverage_curve(np.array([0, 5, 1, 7, 3, 2, 4]), worst)
    assert cov.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert metrics.evals_to_full_coverage(cov) == 6
    assert metrics.coverage_after(cov, 4) == pytest.approx(2 / 3)
    assert metrics.coverage_after(cov, 50) == 1.0
    assert metrics.evals_to_full_coverage(cov[:5]) is None
    with pytest.raises(ValueError, match="empty"):
        metrics.coverage_curve(np.array([0]), np.zeros(3, dtype=bool))


def test_cumulative_and_rolling_means_by_hand() -> None:
    v = np.array([1.0, 0.0, 0.5, 0.5, 1.0])
    assert metrics.cumulative_mean(v).tolist() == pytest.approx([1, 0.5, 0.5, 0.5, 0.6])
    assert metrics.rolling_mean(v, window=3).tolist() == pytest.approx(
        [1, 0.5, 0.5, 1 / 3, 2 / 3])
    assert metrics.rolling_mean(np.arange(12.0))[-1] == pytest.approx(np.mean(np.arange(2, 12)))


def test_spearman_and_censored_median() -> None:
    assert metrics.spearman(np.array([1, 2, 3, 4]), np.array([10, 30, 20, 40])) == \
        pytest.approx(0.8)
    assert metrics.spearman(np.ones(5), np.arange(5)) is None
    assert metrics.median_censored([3, 5, None]) == 5
    assert metrics.median_censored([3, None, None]) is None
    assert metrics.median_censored([2, 4]) == 3

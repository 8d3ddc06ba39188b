"""The accuracy certificate (fxcore.label.certify): exact p-values, sample planning, and the
guarantee itself checked by simulation on populations whose errors are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import hypergeom

from fxcore.label.certify import (
    certify,
    error_budget,
    errors_upper,
    grid,
    p_value,
    sample_size,
)


def test_budget_counts_every_item() -> None:
    assert error_budget(0.99, 1000) == 10
    assert error_budget(0.95, 1797) == 89
    assert error_budget(1.0, 500) == 0


def test_p_value_against_direct_sums() -> None:
    # P(X ≤ e) for X ~ Hypergeom(A, B+1, a), summed by hand from the pmf
    for a_items, budget, a, e in [(700, 10, 190, 0), (700, 10, 300, 1), (50, 3, 20, 2)]:
        k = budget + 1
        direct = sum(hypergeom.pmf(x, a_items, k, a) for x in range(e + 1))
        assert p_value(a_items, budget, a, e) == pytest.approx(direct)
    assert p_value(10, 10, 0, 0) == 0.0  # at most B items cannot hold more than B errors
    assert p_value(11, 10, 0, 0) == 1.0  # nothing sampled: nothing shown


def test_errors_upper_is_the_largest_plausible_count() -> None:
    up = errors_upper(700, 190, 0, 0.05)
    assert hypergeom.cdf(0, 700, up, 190) > 0.05 >= hypergeom.cdf(0, 700, up + 1, 190)
    assert errors_upper(100, 100, 3, 0.05) == 3  # everything seen: exact


def test_sample_size_is_the_smallest_that_certifies() -> None:
    r = sample_size(700, 10, 0.0, 0.05)
    assert p_value(700, 10, r, 0) <= 0.05 < p_value(700, 10, r - 1, 0)
    assert sample_size(8, 10, 5.0, 0.05) == 0  # fewer candidates than the budget
    assert sample_size(700, 10, 30.0, 0.05) == 700  # hopeless: everything


def test_grid_is_most_conservative_first_and_ends_at_the_lowest_score() -> None:
    s = np.random.default_rng(0).random(1000)
    g = grid(s, 50)
    assert np.all(np.diff(g) < 0) and g[-1] == s.min() and len(g) <= 50


def _population(rng: np.random.Generator, n: int, errors: int, spread: float):
    """Scores of n candidates and which are wrong; errors concentrate at low scores."""
    score = np.sort(rng.random(n))[::-1]
    p = np.exp(-spread * score)
    wrong = np.zeros(n, dtype=bool)
    wrong[rng.choice(n, size=errors, replace=False, p=p / p.sum())] = True
    return score, wrong


def _draws(n_draws: int, seed: int, n: int, n_items: int, errors: int, sample: int,
           alpha: float, delta: float) -> tuple[float, float, float]:
    """(share of draws whose final labels met α, mean auto-labelled, share that certified)."""
    rng = np.random.default_rng(seed)
    score, wrong = _population(rng, n, errors, spread=4.0)
    budget = error_budget(alpha, n_items)
    met, auto, any_auto = [], [], []
    for _ in range(n_draws):
        sampled = np.zeros(n, dtype=bool)
        sampled[rng.choice(n, size=sample, replace=False)] = True
        cert = certify(score, sampled, wrong, alpha, delta, n_items)
        chosen = (score >= cert.threshold) & ~sampled
        final_errors = int((chosen & wrong).sum())  # manual labels are correct
        met.append(final_errors <= budget)
        auto.append(int(chosen.sum()))
        any_auto.append(cert.certified)
        assert cert.auto == chosen.sum()
    return float(np.mean(met)), float(np.mean(auto)), float(np.mean(any_auto))


@pytest.mark.parametrize("errors", [12, 20])
def test_guarantee_holds_in_simulation(errors: int) -> None:
    # 900 candidates of 1000 items, α = 0.99: B = 10 errors allowed. The population holds
    # 12 or 20 errors, so auto-labelling every candidate would break the promise; the test
    # must stop in time in ≥ 1 − δ of the draws.
    met, auto, certified = _draws(200, errors, n=900, n_items=1000, errors=errors,
                                  sample=300, alpha=0.99, delta=0.05)
    assert met >= 0.95
    assert certified > 0.5 and auto > 100  # not vacuous: it does auto-label


def test_a_naive_threshold_breaks_the_promise_on_the_same_draws() -> None:
    # the same population and samples, choosing the lowest threshold whose *sample* error
    # rate is ≤ 1 − α (no confidence bound): misses α more often than δ allows
    rng = np.random.default_rng(20)
    score, wrong = _population(rng, 900, 20, spread=4.0)
    misses = 0
    for _ in range(200):
        sampled = np.zeros(900, dtype=bool)
        sampled[rng.choice(900, size=300, replace=False)] = True
        ok = [t for t in grid(score) if (wrong & sampled & (score >= t)).sum()
              <= 0.01 * (sampled & (score >= t)).sum()]
        t = min(ok) if ok else np.inf
        misses += int((((score >= t) & ~sampled) & wrong).sum() > 10)
    assert misses / 200 > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("alpha,n_items,errors,sample", [
    (0.99, 1000, 11, 250), (0.99, 1000, 15, 400), (0.95, 1000, 60, 150),
    (0.99, 10000, 120, 1500),
])
def test_guarantee_holds_in_simulation_many_draws(alpha, n_items, errors, sample) -> None:
    met, _, _ = _draws(1000, 1, n=int(0.9 * n_items), n_items=n_items, errors=errors,
                       sample=sample, alpha=alpha, delta=0.05)
    assert met >= 0.95

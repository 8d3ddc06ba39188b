"""The additive-kernel GP surrogate: kernel, evidence gradient, posterior."""

from __future__ import annotations

import itertools

import numpy as np
from fxcore_sklearn.models import AdditiveGPSurrogate
from scipy.optimize import approx_fprime
from scipy.special import comb


def full_grid(levels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of every combination and their full one-hot rows."""
    codes = np.array(list(itertools.product(*[range(k) for k in levels])))
    x = np.hstack([np.eye(k)[codes[:, j]] for j, k in enumerate(levels)])
    return codes, x


def test_kernel_is_the_sum_over_orders_of_attribute_subsets() -> None:
    """k(x, x') = Σ_o s_o/C(A,o) Σ_{|S|=o} Π_{a∈S} δ(x_a = x'_a), written out by brute force."""
    levels = [2, 3, 2, 2]
    codes, x = full_grid(levels)
    gp = AdditiveGPSurrogate()
    gp.fit(x, np.random.default_rng(0).random(len(x)), np.random.default_rng(0))
    scales = np.exp(gp.log_params[:-1])
    a = len(levels)
    for i, j in [(0, 0), (0, 5), (3, 17), (10, 23)]:
        same = codes[i] == codes[j]
        brute = sum(scales[o] / comb(a, o) * sum(np.prod(same[list(sub)])
                                                  for sub in itertools.combinations(range(a), o))
                    for o in range(a + 1))
        assert np.isclose(gp.f[int(same.sum())], brute)


def test_evidence_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    codes, x = full_grid([3, 2, 4])
    rows = rng.choice(len(x), 15, replace=False)
    gp = AdditiveGPSurrogate()
    gp.n_attributes = 3
    gp.table = gp._order_table(3)
    z = rng.standard_normal(15)
    matches = np.rint(x[rows] @ x[rows].T).astype(np.int64)
    theta = np.log(np.array([0.3, 0.8, 0.2, 0.05, 0.1]))
    _, grad = gp._neg_log_evidence(theta, matches, z)
    numeric = approx_fprime(theta, lambda t: gp._neg_log_evidence(t, matches, z)[0], 1e-6)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_posterior_learns_an_interaction_and_knows_what_it_saw() -> None:
    """y = main effect + a pairwise interaction; trained on 70 % of the grid, the GP predicts the
    rest well, puts weight on order 2, and is surer where it has data."""
    rng = np.random.default_rng(2)
    codes, x = full_grid([4, 4, 3, 3])
    y = 0.9 - 0.1 * codes[:, 0] - 0.4 * ((codes[:, 1] == 2) & (codes[:, 2] == 0))
    y = y + 0.01 * rng.standard_normal(len(y))
    train = rng.random(len(y)) < 0.7
    gp = AdditiveGPSurrogate()
    gp.fit(x[train], y[train], rng)
    mean, std = gp.predict(x[~train])
    assert np.abs(mean - y[~train]).max() < 0.08
    scales = np.exp(gp.log_params[:-1])
    assert scales[2] > 0.01  # pairwise order used
    _, std_seen = gp.predict(x[train])
    assert std_seen.mean() < std.mean()
    draws = gp.draw(x[~train][:20], rng, 500)
    assert np.allclose(draws.mean(0), mean[:20], atol=0.02)

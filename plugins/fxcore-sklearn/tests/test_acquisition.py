"""Acquisition formulas against hand computation, and the surrogates' uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fxcore_sklearn import acquisition as acq
from fxcore_sklearn.models import BayesianRidgeSurrogate, BootstrapSurrogate, ForestSurrogate
from sklearn.linear_model import BayesianRidge


def phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def Phi(z: float) -> float:  # noqa: N802 - the usual symbol
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_expected_improvement_by_hand() -> None:
    # μ = 0.5, σ = 0.1, f* = 0.4: z = −1, EI = −0.1 Φ(−1) + 0.1 φ(−1)
    ei = acq.expected_improvement(np.array([0.5, 0.3, 0.3]), np.array([0.1, 0.0, 0.2]), 0.4)
    assert ei[0] == pytest.approx(-0.1 * Phi(-1) + 0.1 * phi(-1), rel=1e-9)
    assert ei[0] == pytest.approx(0.0083316, abs=1e-6)
    assert ei[1] == pytest.approx(0.1)  # σ = 0: the sure improvement
    assert ei[2] == pytest.approx(0.1 * Phi(0.5) + 0.2 * phi(0.5), rel=1e-9)
    with_xi = acq.expected_improvement(np.array([0.5]), np.array([0.1]), 0.4, xi=0.05)
    assert with_xi[0] == pytest.approx(-0.15 * Phi(-1.5) + 0.1 * phi(-1.5), rel=1e-9)


def test_lcb_pf_and_greedy_by_hand() -> None:
    assert acq.lower_confidence_bound(np.array([0.5]), np.array([0.1]), 4.0)[0] == \
        pytest.approx(-(0.5 - 2 * 0.1))
    pf = acq.probability_below(np.array([0.5, 0.7, 0.7]), np.array([0.3, 0.0, 0.0]), 0.6,
                               noise_var=0.16 - 0.09)
    assert pf[0] == pytest.approx(Phi(0.1 / 0.4))
    assert pf[1] == pytest.approx(Phi(-0.1 / math.sqrt(0.07)))
    assert acq.probability_below(np.array([0.5, 0.7]), np.zeros(2), 0.6).tolist() == [1.0, 0.0]
    assert acq.greedy(np.array([0.2, 0.1])).argmax() == 1


def data(n: int = 60, d: int = 6):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(n, d)).astype(float)
    y = x @ rng.normal(size=d) * 0.1 + rng.normal(scale=0.02, size=n)
    return x, y


def test_bayesian_ridge_sigma_is_the_epistemic_part_of_sklearns_std() -> None:
    x, y = data()
    sur = BayesianRidgeSurrogate()
    sur.fit(x, y, np.random.default_rng(0))
    mean, std = sur.predict(x[:10])
    ref_mean, ref_std = BayesianRidge().fit(x, y).predict(x[:10], return_std=True)
    assert mean == pytest.approx(ref_mean)
    assert std**2 + sur.noise_var == pytest.approx(ref_std**2, rel=1e-6)
    draws = sur.draw(x[:10], np.random.default_rng(1), 4000)
    assert draws.mean(0) == pytest.approx(mean, abs=4 * std.max() / math.sqrt(4000) + 1e-9)
    assert draws.std(0) == pytest.approx(std, rel=0.1)


def test_forest_and_bootstrap_uncertainty() -> None:
    x, y = data()
    forest = ForestSurrogate(n_estimators=20)
    forest.fit(x, y, np.random.default_rng(0))
    mean, std = forest.predict(x[:5])
    per_tree = np.stack([t.predict(x[:5]) for t in forest.forest.estimators_])  # type: ignore[union-attr]
    assert mean == pytest.approx(per_tree.mean(0)) and std == pytest.approx(per_tree.std(0))
    from sklearn.linear_model import LinearRegression

    boot = BootstrapSurrogate(LinearRegression(), n_members=8)
    boot.fit(x, y, np.random.default_rng(0))
    mean, std = boot.predict(x[:5])
    assert mean == pytest.approx(LinearRegression().fit(x, y).predict(x[:5]))
    assert np.all(std > 0) and boot.draw(x[:5], np.random.default_rng(0), 3).shape == (3, 5)

"""Surrogates: a scikit-learn regressor plus a predictive uncertainty and posterior draws.

Where each surrogate's uncertainty comes from:

- ``rf``: random forest; μ = mean of the trees, σ = standard deviation across the trees
  (each tree is fitted on a bootstrap sample); a posterior draw is one tree.
- ``lasso``, ``linear``, ``svr``: the regressor fitted on all data gives μ; an ensemble of the
  same regressor fitted on B bootstrap resamples gives σ (their standard deviation) and the draws
  (one member each).
- ``bayesian-ridge``: Bayesian linear regression (``BayesianRidge``); μ and the epistemic σ from
  the Gaussian posterior of the weights, w ~ N(m, S): σ²(x) = (x − x̄)ᵀ S (x − x̄) (the observation
  noise 1/α is left out: acquisitions rank the unknown function, not a noisy measurement);
  a draw is x ↦ (x − x̄)ᵀ w̃ + ȳ with w̃ ~ N(m, S).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import BayesianRidge, Lasso, LinearRegression
from sklearn.svm import SVR

MODELS = ("rf", "lasso", "linear", "svr", "bayesian-ridge")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


class Surrogate:
    """``fit(X, y, rng)``, ``predict(X) -> (μ, σ)``, ``draw(X, rng, n) -> (n, len(X))``;
    ``noise_var``: the estimated variance of a measurement around the function."""

    noise_var: float = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def draw(self, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


class ForestSurrogate(Surrogate):
    """Random forest; σ is the spread of the per-tree predictions."""

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 1,
                 max_features: float = 1.0) -> None:
        self.params = dict(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                           max_features=max_features)
        self.forest: RandomForestRegressor | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        self.forest = RandomForestRegressor(**self.params, random_state=_seed(rng), n_jobs=1)
        self.forest.fit(x, y)
        self.noise_var = float(np.mean((self.forest.predict(x) - y) ** 2))

    def _trees(self, x: np.ndarray) -> np.ndarray:
        assert self.forest is not None, "fit first"
        return np.stack([t.predict(x) for t in self.forest.estimators_])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_tree = self._trees(x)
        return per_tree.mean(0), per_tree.std(0)

    def draw(self, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        assert self.forest is not None, "fit first"
        trees = self.forest.estimators_
        pick = rng.choice(len(trees), size=n, replace=n > len(trees))
        return np.stack([trees[int(i)].predict(x) for i in pick])


class BootstrapSurrogate(Surrogate):
    """μ from ``estimator`` fitted on all data, σ and draws from B bootstrap refits."""

    def __init__(self, estimator: RegressorMixin, n_members: int = 16) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.full: Any = None
        self.members: list[Any] = []

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        self.full = clone(self.estimator).fit(x, y)
        self.noise_var = float(np.mean((self.full.predict(x) - y) ** 2))
        self.members = []
        for _ in range(self.n_members):
            idx = rng.integers(len(y), size=len(y))
            self.members.append(clone(self.estimator).fit(x[idx], y[idx]))

    def _members(self, x: np.ndarray) -> np.ndarray:
        return np.stack([m.predict(x) for m in self.members])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self.full.predict(x)
        if not self.members:  # no ensemble (the greedy rule needs no σ)
            return mean, np.zeros_like(mean)
        return mean, self._members(x).std(0)

    def draw(self, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        if not self.members:
            raise ValueError("Thompson sampling needs bootstrap members (ensemble >= 2)")
        pick = rng.choice(len(self.members), size=n, replace=n > len(self.members))
        return np.stack([self.members[int(i)].predict(x) for i in pick])


class BayesianRidgeSurrogate(Surrogate):
    """Bayesian linear regression with the exact Gaussian weight posterior."""

    def __init__(self) -> None:
        self.model: BayesianRidge | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        self.model = BayesianRidge(fit_intercept=True).fit(x, y)
        self.noise_var = 1.0 / float(self.model.alpha_)

    def _centre(self, x: np.ndarray) -> np.ndarray:
        assert self.model is not None, "fit first"
        return x - self.model.X_offset_

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.model is not None, "fit first"
        xc = self._centre(x)
        var = ((xc @ self.model.sigma_) * xc).sum(1)
        return self.model.predict(x), np.sqrt(np.maximum(var, 0.0))

    def draw(self, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        assert self.model is not None, "fit first"
        m = self.model
        w = rng.multivariate_normal(m.coef_, m.sigma_, size=n, method="cholesky")
        y_offset = m.intercept_ + m.X_offset_ @ m.coef_
        return (self._centre(x) @ w.T).T + y_offset


def make_surrogate(model: str, ensemble: int, alpha: float) -> Surrogate:
    """The surrogate called ``model`` (one of :data:`MODELS`)."""
    makers: dict[str, Callable[[], Surrogate]] = {
        "rf": lambda: ForestSurrogate(n_estimators=ensemble),
        "lasso": lambda: BootstrapSurrogate(Lasso(alpha=alpha, max_iter=10_000), ensemble),
        "linear": lambda: BootstrapSurrogate(LinearRegression(), ensemble),
        "svr": lambda: BootstrapSurrogate(SVR(kernel="rbf", C=1.0, epsilon=0.01), ensemble),
        "bayesian-ridge": BayesianRidgeSurrogate,
    }
    return makers[model]()

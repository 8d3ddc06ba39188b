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
- ``additive-gp``: a Gaussian process whose kernel adds every interaction order of the
  attributes with its own variance (:class:`AdditiveGPSurrogate`); exact posterior μ, σ and
  joint draws.

``fit(x, y, rng, weight)``: ``weight`` (optional, per row, ∝ the images behind each target, so
a target's noise variance ∝ 1 / weight) is the ``sample_weight`` of the scikit-learn models and
scales the GP's noise per row; ``None`` fits exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize
from scipy.special import comb
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import BayesianRidge, Lasso, LinearRegression
from sklearn.svm import SVR

MODELS = ("rf", "lasso", "linear", "svr", "bayesian-ridge", "additive-gp")


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


class Surrogate:
    """``fit(X, y, rng)``, ``predict(X) -> (μ, σ)``, ``draw(X, rng, n) -> (n, len(X))``;
    ``noise_var``: the estimated variance of a measurement around the function."""

    noise_var: float = 0.0

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            weight: np.ndarray | None = None) -> None:
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

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            weight: np.ndarray | None = None) -> None:
        self.forest = RandomForestRegressor(**self.params, random_state=_seed(rng), n_jobs=1)
        self.forest.fit(x, y, sample_weight=weight)
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

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            weight: np.ndarray | None = None) -> None:
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.full = clone(self.estimator).fit(x, y, sample_weight=w)
        self.noise_var = float(np.mean((self.full.predict(x) - y) ** 2))
        self.members = []
        for _ in range(self.n_members):
            idx = rng.integers(len(y), size=len(y))
            self.members.append(clone(self.estimator).fit(
                x[idx], y[idx], sample_weight=None if w is None else w[idx]))

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

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            weight: np.ndarray | None = None) -> None:
        self.model = BayesianRidge(fit_intercept=True).fit(x, y, sample_weight=weight)
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
        "additive-gp": AdditiveGPSurrogate,
    }
    return makers[model]()


class AdditiveGPSurrogate(Surrogate):
    """Gaussian process with the additive kernel of every interaction order over categorical
    attributes (Duvenaud, Nickisch & Rasmussen, 2011, with a Kronecker-delta base kernel):

        k(x, x') = Σ_{o=0..A} s_o · C(m, o) / C(A, o),   m = #attributes on which x, x' agree,

    so order 0 is the mean level, order 1 the main effects, order 2 the pairwise interactions and
    so on, each with its own variance s_o. Inputs are full one-hot rows (``x · x'ᵀ = m``).

    The hyperparameters (s_0..s_A and the noise σ_n²) maximise the log marginal likelihood of the
    standardised targets (L-BFGS-B on their logs with the analytic gradient), warm-started from
    the last optimum and re-optimised only once the data grew by ``reoptimise_growth``; in
    between, the posterior is conditioned exactly on all data with the last hyperparameters.
    σ is the epistemic posterior sd (noise left out, as for ``bayesian-ridge``).
    """

    def __init__(self, reoptimise_growth: float = 0.2) -> None:
        self.reoptimise_growth = reoptimise_growth
        self.noise_scale: np.ndarray | None = None
        self.log_params: np.ndarray | None = None
        self._optimised_on = 0

    # ------------------------------------------------------------------ kernel
    def _order_table(self, n_attributes: int) -> np.ndarray:
        """``T[m, o] = C(m, o) / C(A, o)`` for m, o in 0..A."""
        m = np.arange(n_attributes + 1)
        return comb(m[:, None], m[None, :]) / comb(n_attributes, m)[None, :]

    def _kernel_of_matches(self, scales: np.ndarray) -> np.ndarray:
        """k as a function of the number of matches m: ``f[m] = Σ_o s_o T[m, o]``."""
        return self.table @ scales

    def _neg_log_evidence(self, theta: np.ndarray, matches: np.ndarray,
                          z: np.ndarray) -> tuple[float, np.ndarray]:
        """−log p(z | θ) up to a constant, and its gradient in θ = log(s_0..s_A, σ_n²);
        ``matches`` is the n × n count of shared attribute values of the training rows."""
        a = self.n_attributes
        scales, noise = np.exp(theta[: a + 1]), float(np.exp(theta[-1]))
        k = self._kernel_of_matches(scales)[matches] + self._noise(noise, len(z))
        try:
            chol = cho_factor(k, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve(chol, z)
        value = 0.5 * z @ alpha + np.log(np.diag(chol[0])).sum()
        w = cho_solve(chol, np.eye(len(z))) - np.outer(alpha, alpha)
        per_m = np.bincount(matches.ravel(), weights=w.ravel(), minlength=a + 1)
        grad = np.empty_like(theta)
        grad[: a + 1] = 0.5 * (per_m @ self.table) * scales
        scale = self.noise_scale
        grad[-1] = 0.5 * (np.trace(w) if scale is None else np.diag(w) @ scale) * noise
        return float(value), grad

    def _noise(self, noise: float, n: int) -> np.ndarray:
        """The noise covariance: σ_n² I, or σ_n² diag(1 / w) with weights."""
        return noise * np.eye(n) if self.noise_scale is None else np.diag(noise * self.noise_scale)

    # ------------------------------------------------------------------ contract
    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            weight: np.ndarray | None = None) -> None:
        x = np.asarray(x, dtype=np.float64)
        # noise of row i: σ_n² / w_i (w = 1 at full fidelity)
        self.noise_scale = None if weight is None else 1.0 / np.asarray(weight, dtype=np.float64)
        self.n_attributes = int(round(x[0].sum()))
        self.table = self._order_table(self.n_attributes)
        self.x_train = x
        self.mean, self.scale = float(np.mean(y)), float(np.std(y)) or 1.0
        z = (np.asarray(y, dtype=np.float64) - self.mean) / self.scale
        matches = np.rint(x @ x.T).astype(np.int64)
        a = self.n_attributes
        if self.log_params is None or len(self.log_params) != a + 2:
            self.log_params = np.log(np.r_[np.full(a + 1, 1.0 / (a + 1)), 0.1])
            self._optimised_on = 0
        if len(y) >= self._optimised_on * (1 + self.reoptimise_growth) and len(y) != \
                self._optimised_on:
            bounds = [(np.log(1e-6), np.log(10.0))] * (a + 1) + [(np.log(1e-4), np.log(2.0))]
            res = minimize(self._neg_log_evidence, self.log_params, args=(matches, z),
                           jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})
            if np.isfinite(res.fun) and res.fun < 1e9:
                self.log_params = res.x
            self._optimised_on = len(y)
        scales, noise = np.exp(self.log_params[: a + 1]), float(np.exp(self.log_params[-1]))
        self.f = self._kernel_of_matches(scales)
        k = self.f[matches] + self._noise(noise, len(z))
        self.chol = cho_factor(k, lower=True)
        self.alpha = cho_solve(self.chol, z)
        self.noise_var = noise * self.scale**2

    def _cross(self, x: np.ndarray) -> np.ndarray:
        return self.f[np.rint(np.asarray(x, dtype=np.float64) @ self.x_train.T).astype(np.int64)]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ks = self._cross(x)
        mean = ks @ self.alpha * self.scale + self.mean
        v = solve_triangular(self.chol[0], ks.T, lower=True)
        var = self.f[self.n_attributes] - (v * v).sum(0)
        return mean, np.sqrt(np.maximum(var, 0.0)) * self.scale

    def draw(self, x: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        ks = self._cross(x)
        mean = ks @ self.alpha
        v = solve_triangular(self.chol[0], ks.T, lower=True)
        cov = self.f[np.rint(x @ x.T).astype(np.int64)] - v.T @ v
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.maximum(vals, 0.0))
        draws = mean + rng.standard_normal((n, len(x))) @ root.T
        return draws * self.scale + self.mean

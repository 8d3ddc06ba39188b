"""Surrogate Bayesian optimisation over the subdomains (the BO paper, Algorithm 1, lines 6-8).

After ``n_init`` uniformly random subdomains, each proposal fits a surrogate f̂ of the target
(accuracy) on the features of the evaluated subdomains and proposes the unevaluated ones with the
best acquisition score (:mod:`fxcore_sklearn.acquisition`; the target is minimised).

Multi-fidelity runs (:mod:`fxcore.fidelity`) pass observations with ``n_images``, the images
behind each accuracy: the surrogate weights each target by n_images / max(n_images), a noise
variance ∝ 1 / n_images. Without them (or when every count is the same) the fit is unweighted.

Batches (k > 1): Thompson sampling takes the minimiser of k independent posterior draws (the next
best of a draw where two agree); the other acquisitions use the kriging believer — pick the best,
add it to the data with y = μ(x) as if observed, refit, repeat — so the batch spreads out where the
model is uncertain instead of taking k near-identical subdomains.

Deterministic given the seed and the sequence of calls: every random choice (initial design, tie
breaks, bootstrap resamples, tree seeds, posterior draws) comes from one generator seeded in
``setup``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from threadpoolctl import ThreadpoolController

from fxcore.contracts import Observations
from fxcore.errors import ConfigError
from fxcore.plugins import format_validation_error
from fxcore_sklearn import acquisition as acq
from fxcore_sklearn.features import one_hot_features
from fxcore_sklearn.incremental import MAX_ATTRIBUTES, IncrementalAdditiveGP
from fxcore_sklearn.models import Surrogate, make_surrogate

Model = Literal["rf", "lasso", "linear", "svr", "bayesian-ridge", "additive-gp"]
Acquisition = Literal["pf", "ei", "lcb", "thompson", "greedy"]
Solver = Literal["incremental", "refit"]
_CONTROLLER: ThreadpoolController | None = None


def _one_blas_thread() -> Any:
    """Limit BLAS to one thread (small dense algebra: fastest, immune to oversubscription);
    the controller is built once, as scanning the loaded libraries takes milliseconds."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


#: models that see interactions only through explicit pairwise features
LINEAR = {"lasso", "linear", "bayesian-ridge"}
#: models with their own posterior (no bootstrap ensemble), conditioned at every proposal
NATIVE_POSTERIOR = {"bayesian-ridge", "additive-gp"}


class AcquisitionParams(BaseModel):
    """Parameters shared by every surrogate selector (``model`` fixed by the preset)."""

    model_config = ConfigDict(extra="forbid")

    acquisition: Acquisition = Field("pf", description="pf | ei | lcb | thompson | greedy")
    n_init: int = Field(10, ge=1, description="random subdomains before the first model")
    interactions: bool | None = Field(
        None, description="add pairwise one-hot products; default: on for linear models")
    ensemble: int | None = Field(
        None, ge=0, description="trees (rf) or bootstrap members (lasso/linear/svr); "
        "default 50 trees / 8 members; 0 only with the greedy acquisition")
    alpha: float = Field(0.001, gt=0, description="Lasso penalty")
    beta: float = Field(2.0, ge=0, description="LCB: μ − √β σ")
    xi: float = Field(0.0, ge=0, description="EI margin below the incumbent")
    failure_quantile: float = Field(
        0.1, gt=0, lt=1, description="PF: the failure level τ is this quantile of the "
        "observed and predicted targets")
    refit_growth: float | None = Field(
        None, ge=0, le=1, description="refit only after the data grew by this fraction "
        "(0: refit at every proposal); default 0 for bayesian-ridge and ensemble=0, else 0.05; "
        "between refits the acquisition of the last fit is reused")
    solver: Solver | None = Field(
        None, description="additive-gp: incremental (default; exact proposals, scales to "
        "large domains) or refit (the kernel refactored at every proposal)")
    hyper_max: int = Field(
        1024, ge=10, description="additive-gp incremental: the hyperparameters are fitted on "
        "at most this many observations (evenly spaced)")
    pool: int = Field(
        2048, ge=0, description="additive-gp incremental: every candidate is kept exact while "
        "at most this many are left")
    pool_max: int = Field(
        4096, ge=1, description="additive-gp incremental: the most candidates kept exact "
        "between proposals (the others are bounded)")


class SurrogateParams(AcquisitionParams):
    model: Model = Field("bayesian-ridge",
                         description="bayesian-ridge | additive-gp | rf | lasso | linear | svr")

    @model_validator(mode="after")
    def _ensemble_for_uncertainty(self) -> SurrogateParams:
        if self.ensemble == 0 and self.acquisition != "greedy" and \
                self.model not in NATIVE_POSTERIOR:
            raise ValueError(f"ensemble=0 gives no uncertainty for acquisition "
                             f"{self.acquisition!r}; use greedy or ensemble >= 2")
        if self.model == "additive-gp" and self.interactions:
            raise ValueError("additive-gp models every interaction order in its kernel; "
                             "leave interactions unset")
        return self


class SurrogateSelector:
    """Surrogate-model selector; see the module docstring."""

    def __init__(self, model: Model = "bayesian-ridge", acquisition: Acquisition = "pf",
                 n_init: int = 10,
                 interactions: bool | None = None, ensemble: int | None = None,
                 alpha: float = 0.001, beta: float = 2.0, xi: float = 0.0,
                 failure_quantile: float = 0.1, refit_growth: float | None = None,
                 solver: Solver | None = None, hyper_max: int = 1024, pool: int = 2048,
                 pool_max: int = 4096) -> None:
        try:
            p = SurrogateParams(model=model, acquisition=acquisition, n_init=n_init,
                                interactions=interactions, ensemble=ensemble, alpha=alpha,
                                beta=beta, xi=xi, failure_quantile=failure_quantile,
                                refit_growth=refit_growth, solver=solver, hyper_max=hyper_max,
                                pool=pool, pool_max=pool_max)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "params")) from None
        self.params = p
        self.interactions = p.model in LINEAR if p.interactions is None else p.interactions
        self.ensemble = p.ensemble if p.ensemble is not None else (50 if p.model == "rf" else 8)
        # ensembles (forest, bootstrap) cost tens of fits: refit after 5% more data by default
        self.refit_growth = p.refit_growth if p.refit_growth is not None else (
            0.0 if p.model in NATIVE_POSTERIOR or self.ensemble == 0 else 0.05)
        self._scores: np.ndarray | None = None
        self.surrogate: Surrogate | None = None
        self.engine: IncrementalAdditiveGP | None = None
        self._fitted_on = -1
        self._observed = Observations()

    # ----------------------------------------------------------------- contract
    def setup(self, space: Any, seed: int) -> None:
        # the additive GP counts shared attribute values: x·x'ᵀ needs every level's column
        self.x = one_hot_features(space, self.interactions,
                                  drop_first=self.params.model != "additive-gp")
        self.rng = np.random.default_rng(seed)
        self.surrogate = None
        p = self.params
        # the incremental GP: exact proposals at O(n²) per step (fxcore_sklearn.incremental);
        # Thompson sampling needs joint draws over the candidates, so it refits
        self.engine = None
        if p.model == "additive-gp" and p.solver != "refit" and p.acquisition != "thompson" \
                and len(space.attributes) <= MAX_ATTRIBUTES:
            self.engine = IncrementalAdditiveGP(
                space.codes, [len(a.values) for a in space.attributes], hyper_max=p.hyper_max,
                pool=p.pool, pool_max=p.pool_max)
        self._fitted_on = -1
        self._observed = Observations()
        self._scores = None

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        candidates = np.asarray(candidates, dtype=np.int64)
        k = min(k, len(candidates))
        self._observed = observed
        if len(observed) < self.params.n_init or len(np.unique(observed.rows)) < 2:
            return self.rng.choice(candidates, size=k, replace=False)
        with _one_blas_thread():
            refit = self._stale(len(observed))
            if refit:
                self._fit(observed.rows, observed.accuracy, _weights(observed))
            if self.params.acquisition == "thompson":
                return self._thompson(candidates, k)
            return self._believer(observed, candidates, k, refit)

    def predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """μ and σ of the surrogate (fitted on the observations of the latest proposal)."""
        with _one_blas_thread():
            if self.surrogate is None or self._fitted_on != len(self._observed):
                if len(self._observed) < 2:
                    raise RuntimeError("predict needs at least 2 observations")
                self._fit(self._observed.rows, self._observed.accuracy,
                          _weights(self._observed))
            return self._predict_rows(np.asarray(rows, dtype=np.int64))

    # ----------------------------------------------------------------- internals
    def _stale(self, n: int) -> bool:
        last = self._fitted_on
        return self.surrogate is None or last < 0 or n >= last * (1 + self.refit_growth) \
            and n != last

    def _predict_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.engine is not None:
            return self.engine.predict_rows(rows)
        assert self.surrogate is not None
        return self.surrogate.predict(self.x[rows])

    def _fit(self, rows: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> None:
        p = self.params
        if self.engine is not None:
            self.surrogate = self.engine
            self.engine.condition(rows, y, weight)
            self._fitted_on = len(rows)
            return
        if self.surrogate is None:  # kept across fits: the GP warm-starts its hyperparameters
            self.surrogate = make_surrogate(p.model, self.ensemble, p.alpha)
        y = np.asarray(y, dtype=np.float64)
        if weight is None:
            self.surrogate.fit(self.x[rows], y, self.rng)
        else:
            self.surrogate.fit(self.x[rows], y, self.rng, weight)
        self._fitted_on = len(rows)

    def _score(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Acquisition of ``rows`` given the targets ``y`` observed (or believed) so far."""
        assert self.surrogate is not None
        p = self.params
        if self.engine is not None:
            return self._score_bounded(rows, y)
        mean, std = self.surrogate.predict(self.x[rows])
        best = float(np.min(y))
        if p.acquisition == "pf":
            level = float(np.quantile(np.concatenate([y, mean]), p.failure_quantile))
            return acq.probability_below(mean, std, level, self.surrogate.noise_var)
        if p.acquisition == "ei":
            return acq.expected_improvement(mean, std, best, p.xi)
        if p.acquisition == "lcb":
            return acq.lower_confidence_bound(mean, std, p.beta)
        return acq.greedy(mean)

    def _score_bounded(self, rows: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``_score`` through the incremental GP: exact where a candidate can be the best."""
        assert self.engine is not None
        p, noise_var = self.params, self.engine.noise_var
        best = float(np.min(y))
        level = [0.0]

        def level_of(mean: np.ndarray) -> float:
            level[0] = float(np.quantile(np.concatenate([y, mean]), p.failure_quantile))
            return level[0]

        def score(mean: np.ndarray, std: np.ndarray, _rows: np.ndarray) -> np.ndarray:
            if p.acquisition == "pf":
                return acq.probability_below(mean, std, level[0], noise_var)
            if p.acquisition == "ei":
                return acq.expected_improvement(mean, std, best, p.xi)
            if p.acquisition == "lcb":
                return acq.lower_confidence_bound(mean, std, p.beta)
            return acq.greedy(mean)

        return self.engine.scores(rows, y, score, level_of)

    def _best(self, score: np.ndarray) -> int:
        """Index of the highest score; ties broken at random (seeded)."""
        tie = self.rng.random(len(score))
        top = np.flatnonzero(score == score.max())
        # = np.lexsort((tie, -score))[0]: the highest score, the lowest tie value among equals
        return int(top[np.argmin(tie[top])]) if len(top) else 0

    def _believer(self, observed: Observations, candidates: np.ndarray, k: int,
                  refit: bool) -> np.ndarray:
        rows, y = observed.rows.copy(), observed.accuracy.astype(np.float64).copy()
        weight = _weights(observed)
        chosen: list[int] = []
        left = candidates.copy()
        if refit or self._scores is None:
            score = self._score(left, y)
            self._scores = np.full(len(self.x), -np.inf)
            self._scores[left] = score
        else:  # the model is not refitted yet: reuse its acquisition
            score = self._scores[left]
        while True:
            i = self._best(score)
            chosen.append(int(left[i]))
            if len(chosen) == k:
                break
            left = np.delete(left, i)
            score = np.delete(score, i)
            if refit:  # kriging believer: pretend μ(x) was observed and refit
                assert self.surrogate is not None
                mu = float(self._predict_rows(np.array([chosen[-1]]))[0][0])
                rows, y = np.append(rows, chosen[-1]), np.append(y, mu)
                if weight is not None:  # a believed value counts as a full-fidelity one
                    weight = np.append(weight, 1.0)
                self._fit(rows, y, weight)
                score = self._score(left, y)
        if refit and k > 1:  # the model of record is the one fitted on real observations
            self._fit(observed.rows, observed.accuracy, _weights(observed))
        return np.array(chosen, dtype=np.int64)

    def _thompson(self, candidates: np.ndarray, k: int) -> np.ndarray:
        assert self.surrogate is not None
        draws = self.surrogate.draw(self.x[candidates], self.rng, k)
        taken = np.zeros(len(candidates), dtype=bool)
        chosen = []
        for d in draws:
            score = np.where(taken, -np.inf, -d)
            i = self._best(score)
            taken[i] = True
            chosen.append(int(candidates[i]))
        return np.array(chosen, dtype=np.int64)


def _weights(observed: Observations) -> np.ndarray | None:
    """Per-observation weights n_images / max(n_images) from multi-fidelity observations;
    ``None`` without image counts or when they are all equal (an unweighted fit)."""
    n = getattr(observed, "n_images", None)
    if n is None or len(n) != len(observed.rows) or len(n) == 0:
        return None
    n = np.asarray(n, dtype=np.float64)
    if n.min() == n.max() or n.min() <= 0:
        return None
    return n / n.max()


class LassoGreedyParams(BaseModel):
    """The BO paper's rule: Lasso(α) on one-hot attributes, lowest prediction first."""

    model_config = ConfigDict(extra="forbid")

    n_init: int = Field(10, ge=1, description="random subdomains before the first model")
    alpha: float = Field(0.001, gt=0, description="Lasso penalty")


def lasso_greedy(n_init: int = 10, alpha: float = 0.001) -> SurrogateSelector:
    """Le Coz et al. (2024): Lasso(α=0.001) on one-hot (drop_first) main effects after
    ``n_init`` random subdomains; propose the lowest predicted accuracy."""
    return SurrogateSelector(model="lasso", acquisition="greedy", n_init=n_init,
                             interactions=False, ensemble=0, alpha=alpha)

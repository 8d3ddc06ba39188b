"""The ``botorch`` selector: GP Bayesian optimisation over the discrete set of subdomains.

After ``n_init`` random subdomains, each proposal fits a GP to ``y = -accuracy`` (see
:mod:`fxcore_botorch.model`) and maximises an acquisition over the unevaluated subdomains
exactly, by evaluating it on every candidate (in batches of ``eval_batch``):

- ``logei``: ``log EI(x) = log E[max(f(x) - y*, 0)]`` with ``y*`` the best observed ``y``
  (BoTorch ``LogExpectedImprovement``; ``qLogExpectedImprovement`` for ``k > 1``);
- ``ucb``: ``μ(x) + √β σ(x)`` (``UpperConfidenceBound`` / ``qUpperConfidenceBound``).

``k > 1`` proposals are a q-batch built by sequential greedy selection: each next row maximises
the q-acquisition jointly with the rows already chosen (MC with a seeded quasi-random sampler),
as in BoTorch's ``optimize_acqf_discrete``. Torch and numpy are seeded from ``(seed, n)`` at each
proposal, so a replay with the same seed gives the same rows.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from botorch.acquisition import (
    LogExpectedImprovement,
    UpperConfidenceBound,
    qLogExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.sampling import SobolQMCNormalSampler
from pydantic import BaseModel, ConfigDict, Field

from fxcore.contracts import Observations
from fxcore_botorch.model import GpFitter, Kernel

DTYPE = torch.float64


def _argmax(values: torch.Tensor, rng: np.random.Generator) -> int:
    """Index of the largest value; exact ties (e.g. unseen subdomains far from all data) are
    broken at random, not by row order."""
    v = values.detach().numpy()
    top = np.flatnonzero(v >= v.max())
    return int(top[0] if len(top) == 1 else rng.choice(top))


class BotorchParams(BaseModel):
    """Parameters of the ``botorch`` selector."""

    model_config = ConfigDict(extra="forbid")

    n_init: int = Field(10, ge=2, description="random subdomains before the first GP")
    acquisition: Literal["logei", "ucb"] = "logei"
    beta: float = Field(2.0, gt=0, description="UCB exploration weight β")
    kernel: Kernel = "hamming"
    refit_growth: float = Field(
        0.1, ge=0, description="full refit when the data grew by this fraction (0: every step)"
    )
    fit_maxiter: int = Field(50, ge=1, description="L-BFGS-B iterations per (warm) refit")
    eval_batch: int = Field(4096, ge=1, description="candidates per acquisition evaluation")
    mc_samples: int = Field(256, ge=16, description="QMC samples of the q-acquisitions (k > 1)")


class BotorchSelector:
    """Bayesian optimisation with a GP over categorical subdomains (BoTorch)."""

    def __init__(
        self,
        n_init: int = 10,
        acquisition: str = "logei",
        beta: float = 2.0,
        kernel: Kernel = "hamming",
        refit_growth: float = 0.1,
        fit_maxiter: int = 50,
        eval_batch: int = 4096,
        mc_samples: int = 256,
    ) -> None:
        self.n_init = n_init
        self.acquisition = acquisition
        self.beta = beta
        self.eval_batch = eval_batch
        self.mc_samples = mc_samples
        self.fitter = GpFitter(kernel, growth=refit_growth, maxiter=fit_maxiter)
        self.model: Any = None

    def setup(self, space: Any, seed: int) -> None:
        self.seed = int(seed)
        enc = space.one_hot() if self.fitter.kernel == "onehot" else space.codes
        self.X_all = torch.as_tensor(np.asarray(enc, dtype=np.float64), dtype=DTYPE)
        self.model = None

    def _seed(self, n: int) -> np.random.Generator:
        """Seeds torch (and returns a numpy generator) from ``(seed, n)``."""
        ss = np.random.SeedSequence([self.seed, n])
        torch.manual_seed(int(ss.generate_state(1)[0]))
        return np.random.default_rng(ss)

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        candidates = np.asarray(candidates, dtype=np.int64)
        k = min(k, len(candidates))
        rows = np.asarray(observed.rows, dtype=np.int64)
        rng = self._seed(len(rows))
        if k < 1:
            return np.zeros(0, dtype=np.int64)
        if len(rows) < self.n_init:
            take = min(k, max(1, self.n_init - len(rows)))
            return rng.choice(candidates, size=take, replace=False)
        Y = torch.as_tensor(-np.asarray(observed.accuracy, dtype=np.float64), dtype=DTYPE)
        self.model = self.fitter.fit(self.X_all[rows], Y.unsqueeze(-1))
        best_f = Y.max()
        if k == 1:
            values = self._analytic(best_f, candidates)
            return candidates[[_argmax(values, rng)]]
        return self._greedy_batch(best_f, candidates, k, rng)

    def _analytic(self, best_f: torch.Tensor, candidates: np.ndarray) -> torch.Tensor:
        acq: Any
        if self.acquisition == "logei":
            acq = LogExpectedImprovement(self.model, best_f=best_f)
        else:
            acq = UpperConfidenceBound(self.model, beta=self.beta)
        X = self.X_all[candidates].unsqueeze(-2)
        with torch.no_grad():
            return torch.cat([acq(X[i:i + self.eval_batch])
                              for i in range(0, len(X), self.eval_batch)])

    def _greedy_batch(
        self, best_f: torch.Tensor, candidates: np.ndarray, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Sequential greedy q-batch: each step adds the candidate maximising the
        q-acquisition of (chosen rows ∪ {x}), the chosen rows entering as ``X_pending``."""
        sampler = SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=self.seed)
        acq: Any
        if self.acquisition == "logei":
            acq = qLogExpectedImprovement(self.model, best_f=best_f, sampler=sampler)
        else:
            acq = qUpperConfidenceBound(self.model, beta=self.beta, sampler=sampler)
        chosen: list[int] = []
        left = candidates.copy()
        for _ in range(k):
            acq.set_X_pending(self.X_all[chosen] if chosen else None)
            X = self.X_all[left].unsqueeze(-2)
            with torch.no_grad():
                values = torch.cat([acq(X[i:i + self.eval_batch])
                                    for i in range(0, len(X), self.eval_batch)])
            j = _argmax(values, rng)
            chosen.append(int(left[j]))
            left = np.delete(left, j)
        return np.asarray(chosen, dtype=np.int64)

    def predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the accuracy of ``rows`` (the model of
        the last proposal); used by the replay benchmark's Spearman ρ."""
        if self.model is None:
            raise RuntimeError("no model yet: propose() has not fitted one")
        with torch.no_grad():
            post = self.model.posterior(self.X_all[np.asarray(rows, dtype=np.int64)])
        mean = -post.mean.squeeze(-1).numpy()
        std = post.variance.clamp_min(0).sqrt().squeeze(-1).numpy()
        return mean, std

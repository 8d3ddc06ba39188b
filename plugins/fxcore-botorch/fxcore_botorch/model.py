"""Gaussian-process surrogates over categorical subdomains and their cheap refitting.

Inputs are the attribute value codes ``x ∈ ∏_j {0..m_j-1}`` (or their one-hot encoding) and the
target is ``y = -accuracy`` (BoTorch maximises), standardised. Kernels:

- ``hamming``: ``k(x, x') = σ² exp(-(1/A) Σ_j [x_j ≠ x'_j] / ℓ_j)``, the exponentiated weighted
  Hamming (overlap) kernel of categorical BO (BoTorch ``CategoricalKernel``, as in
  ``MixedSingleTaskGP`` with every dimension categorical). It only asks whether two values are
  equal, which is all a categorical attribute offers. Unlike ``MixedSingleTaskGP`` the
  lengthscales get BoTorch's default dimension-scaled prior ``log ℓ_j ~ N(√2 + log(A)/2, 3)``
  and floor ``ℓ_j ≥ 0.025`` (Hvarfner et al. 2024). Without them, maximum likelihood on a few
  points can drive some ``ℓ_j`` to 0: every unseen subdomain is then uncorrelated with the data
  and the acquisition is flat; long lengthscales also let the kernel carry main effects (for
  ``Aℓ ≫ 1`` it is nearly linear in the Hamming distance).
- ``hamming-additive``: the sum of a per-attribute (first-order) Hamming kernel and the
  ``hamming`` product kernel, each scaled (CoCaBO, Ru et al. 2020): main effects of single
  attributes generalise to unseen combinations, the product term keeps the interactions.
- ``onehot``: BoTorch's default ``SingleTaskGP`` kernel (RBF, ARD, dimension-scaled prior) on the
  one-hot encoding; a value pair differs by its own two lengthscales, so it has ``Σ m_j``
  weights instead of ``A``.

Fitting: :class:`GpFitter` maximises the exact marginal log-likelihood with L-BFGS-B, capped
at ``maxiter`` iterations, starting from the previous hyperparameters (warm start). Between
full fits the model is rebuilt on all data with the hyperparameters fixed (one Cholesky
factorisation, no optimisation).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from botorch.models import SingleTaskGP
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.transforms.outcome import Standardize
from botorch.optim.fit import fit_gpytorch_mll_scipy
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import AdditiveKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

Kernel = Literal["hamming", "hamming-additive", "onehot"]
KERNELS: tuple[str, ...] = ("hamming", "hamming-additive", "onehot")


def _hamming(d: int, active_dims: list[int] | None = None) -> CategoricalKernel:
    return CategoricalKernel(
        ard_num_dims=d,
        active_dims=active_dims,
        lengthscale_prior=LogNormalPrior(loc=math.sqrt(2.0) + math.log(d) / 2,
                                         scale=math.sqrt(3.0)),
        lengthscale_constraint=GreaterThan(2.5e-2),
    )


def build_gp(X: torch.Tensor, Y: torch.Tensor, kernel: Kernel) -> SingleTaskGP:
    """An unfitted GP on inputs ``X`` (codes, or one-hot for ``onehot``) and targets ``Y``."""
    d = X.shape[-1]
    if kernel == "onehot":
        return SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    if kernel == "hamming":
        covar = ScaleKernel(_hamming(d))
        return SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    if kernel == "hamming-additive":
        first_order = AdditiveKernel(*[_hamming(1, active_dims=[j]) for j in range(d)])
        covar = ScaleKernel(first_order) + ScaleKernel(_hamming(d))
        return SingleTaskGP(X, Y, covar_module=covar, outcome_transform=Standardize(m=1))
    raise ValueError(f"unknown kernel {kernel!r} (expected one of {', '.join(KERNELS)})")


def _hyperparameters(model: SingleTaskGP) -> dict[str, torch.Tensor]:
    """The model's learned state without data-dependent buffers (the outcome transform's
    mean and scale are recomputed from the new data)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if not k.startswith("outcome_transform")}


class GpFitter:
    """Fits GPs on a growing data set: full (warm-started, capped) fits on a geometric schedule,
    fixed-hyperparameter rebuilds in between.

    A full fit happens when the number of points ``n`` reaches ``n_fit · (1 + growth)`` (``n_fit``:
    points at the last full fit), so a replay of ``N`` steps needs about
    ``log(N / n0) / log(1 + growth)`` fits instead of ``N``.
    """

    def __init__(self, kernel: Kernel = "hamming", growth: float = 0.1, maxiter: int = 50):
        self.kernel = kernel
        self.growth = growth
        self.maxiter = maxiter
        self.state: dict[str, torch.Tensor] | None = None
        self.n_fit = 0
        self.n_full_fits = 0

    def due(self, n: int) -> bool:
        return self.state is None or n >= max(self.n_fit + 1,
                                              math.ceil(self.n_fit * (1 + self.growth)))

    def fit(self, X: torch.Tensor, Y: torch.Tensor, full: bool | None = None) -> SingleTaskGP:
        """The GP on ``(X, Y)``; ``full`` forces (True) or skips (False) the optimisation."""
        model = build_gp(X, Y, self.kernel)
        if self.state is not None:
            model.load_state_dict(self.state, strict=False)
        if full is None:
            full = self.due(len(X))
        if full:
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            mll.train()
            fit_gpytorch_mll_scipy(mll, options={"maxiter": self.maxiter})
            self.state = _hyperparameters(model)
            self.n_fit = len(X)
            self.n_full_fits += 1
        model.eval()
        return model

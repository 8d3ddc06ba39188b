"""Acquisition functions for *minimising* the target (accuracy): larger score = evaluate first.

With the surrogate's predictive mean μ(x) and standard deviation σ(x) and the lowest observed
target f* (the incumbent):

- expected improvement  EI(x) = E[max(f* − ξ − Y, 0)] = (f* − ξ − μ) Φ(z) + σ φ(z),
  z = (f* − ξ − μ) / σ (Jones et al., 1998); EI = max(f* − ξ − μ, 0) where σ = 0;
- lower confidence bound  LCB(x) = μ − √β σ; the score is −LCB (Srinivas et al., 2010);
- probability of failure  PF(x) = Φ((τ − μ) / √(σ² + σ_n²)): the chance that a measurement of
  x falls below the failure level τ (σ_n² the surrogate's noise estimate) — active search for
  all failures rather than the single minimum;
- greedy  −μ (the BO paper's rule: the lowest predicted accuracy);
- Thompson sampling: the score is −f̃(x) for one draw f̃ of the surrogate's posterior.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm


def expected_improvement(
    mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0
) -> np.ndarray:
    """EI for minimisation below ``best − xi``."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gain = best - xi - mean
    out = np.maximum(gain, 0.0)
    pos = std > 0
    z = gain[pos] / std[pos]
    out[pos] = gain[pos] * norm.cdf(z) + std[pos] * norm.pdf(z)
    return out


def lower_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float) -> np.ndarray:
    """Score −LCB = −(μ − √β σ): optimistic for minimisation."""
    return -(np.asarray(mean) - np.sqrt(beta) * np.asarray(std))


def greedy(mean: np.ndarray) -> np.ndarray:
    """Score −μ: the lowest predicted target first."""
    return -np.asarray(mean, dtype=np.float64)


def probability_below(mean: np.ndarray, std: np.ndarray, level: float,
                      noise_var: float = 0.0) -> np.ndarray:
    """PF = Φ((τ − μ) / √(σ² + σ_n²)); a step function of μ where the variance is 0."""
    mean = np.asarray(mean, dtype=np.float64)
    scale = np.sqrt(np.asarray(std, dtype=np.float64) ** 2 + noise_var)
    gap = level - mean
    out = (gap > 0).astype(np.float64)
    pos = scale > 0
    out[pos] = ndtr(gap[pos] / scale[pos])  # = norm.cdf, without its argument checks
    return out

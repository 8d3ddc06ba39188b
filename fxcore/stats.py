"""Binomial confidence intervals, shared by explore (accuracy intervals) and label (guarantees)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def clopper_pearson(k: int | np.ndarray, n: int | np.ndarray, level: float = 0.95):  # type: ignore[no-untyped-def]
    """Exact two-sided interval ``(low, high)`` for a proportion with ``k`` successes of ``n``.

    ``n = 0`` gives ``(0, 1)``. Works elementwise on arrays.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    low = np.where(n > 0, low, 0.0)
    high = np.where(n > 0, high, 1.0)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def clopper_pearson_upper(k: int | np.ndarray, n: int | np.ndarray, delta: float = 0.05):  # type: ignore[no-untyped-def]
    """One-sided upper bound: P(true rate ≤ bound) ≥ 1 − δ. ``n = 0`` gives 1."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        high = np.where(k < n, stats.beta.ppf(1 - delta, k + 1, n - k), 1.0)
    high = np.where(n > 0, high, 1.0)
    return float(high) if high.ndim == 0 else high


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval: shorter than Clopper–Pearson, close to nominal coverage."""
    if n == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)

"""Metrics of a replay (the BO paper, Fig. 4), on a table of N targets y.

- worst set W: the rows strictly below ``y_(⌊0.1·N⌋)``, the value at 0-based rank ⌊0.1·N⌋ of the
  sorted targets (the paper's table: N = 1032, value 0.60, |W| = 103);
- coverage after t evaluations: |W ∩ {r_1..r_t}| / |W|;
- evaluations to full coverage: the least t with coverage 1 (``None`` if the budget ran out);
- cumulative mean accuracy: (1/t) Σ_{s≤t} y_{r_s}; rolling accuracy: the mean over the last
  ``window`` evaluations (fewer at the start);
- Spearman ρ between a surrogate's predictions and the true targets of the unevaluated rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

WORST_FRACTION = 0.1
ROLLING_WINDOW = 10


def worst_mask(targets: np.ndarray, fraction: float = WORST_FRACTION) -> np.ndarray:
    """Boolean mask of W: targets strictly below the value at rank ⌊fraction·N⌋."""
    y = np.asarray(targets, dtype=np.float64)
    rank = math.floor(fraction * len(y))
    threshold = np.sort(y)[min(rank, len(y) - 1)]
    return y < threshold


def coverage_curve(rows: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """Fraction of W found after each evaluation (``rows`` in evaluation order)."""
    total = int(worst.sum())
    if total == 0:
        raise ValueError("the worst set is empty (every target ties at the minimum)")
    return np.cumsum(worst[np.asarray(rows, dtype=np.int64)]) / total


def evals_to_full_coverage(coverage: np.ndarray) -> int | None:
    """1-based number of evaluations at which coverage reaches 1, or ``None``."""
    hit = np.flatnonzero(np.asarray(coverage) >= 1.0 - 1e-12)
    return int(hit[0]) + 1 if len(hit) else None


def coverage_after(coverage: np.ndarray, t: int) -> float:
    """Coverage after ``t`` evaluations (the last value when fewer were made)."""
    c = np.asarray(coverage)
    return float(c[min(t, len(c)) - 1]) if len(c) else 0.0


def cumulative_mean(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.cumsum(v) / np.arange(1, len(v) + 1)


def rolling_mean(values: np.ndarray, window: int = ROLLING_WINDOW) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(v)])
    end = np.arange(1, len(v) + 1)
    start = np.maximum(end - window, 0)
    return (c[end] - c[start]) / (end - start)


def spearman(predicted: np.ndarray, truth: np.ndarray) -> float | None:
    """Spearman's ρ, or ``None`` when undefined (fewer than 3 rows or a constant input)."""
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if len(p) < 3 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return None
    from scipy.stats import spearmanr  # scipy.stats takes ~1 s to import: only when needed

    return float(spearmanr(p, t).statistic)


def median_censored(values: Sequence[int | None]) -> float | None:
    """Median where ``None`` means "more than the budget"; ``None`` if the median is censored."""
    if not values:
        return None
    keyed = sorted(math.inf if v is None else float(v) for v in values)
    n = len(keyed)
    mid = keyed[n // 2] if n % 2 else (keyed[n // 2 - 1] + keyed[n // 2]) / 2
    return None if math.isinf(mid) else mid

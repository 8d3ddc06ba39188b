"""Error limits of the OPAL accuracy constraint (plain budget and Clopper–Pearson guarantee).

Both modes reduce to an :class:`ErrorRule` over ``a_c`` (correct auto-labels) and ``e`` (wrong
auto-labels) on the optimisation set of m items:

- plain (the paper): accuracy ≥ α with manual items counted correct, i.e.
  ``e ≤ E = ⌊(1 − α)·m⌋``;
- guarantee δ: the one-sided Clopper–Pearson upper bound, at confidence 1 − δ, of the error rate
  of the ``a = a_c + e`` auto-labels is ≤ 1 − α, i.e. ``e ≤ e_max(a)``; or nothing is
  auto-labelled.

Pure numpy: the binomial CDF is summed in log space (``U(e, a) ≤ p`` iff
``P(Bin(a, p) ≤ e) ≤ δ``, the usual duality between the Clopper–Pearson bound and the CDF).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_REL_TOL = 1e-12


def error_budget(alpha: float, n_items: int) -> int:
    """E = ⌊(1 − α)·m⌋: wrong auto-labels allowed when manual labels count as correct."""
    return int(math.floor((1.0 - alpha) * n_items + 1e-9))


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=float)))])


def _log_binom_cdf(e: int, a: int, p: float, lf: np.ndarray) -> float:
    """log P(Bin(a, p) ≤ e) for 0 < p < 1."""
    k = np.arange(e + 1)
    logpmf = lf[a] - lf[k] - lf[a - k] + k * math.log(p) + (a - k) * math.log1p(-p)
    return float(np.logaddexp.reduce(logpmf))


def max_errors(a_max: int, alpha: float, delta: float) -> np.ndarray:
    """``e_max(a)`` for a = 0..a_max: the most wrong auto-labels among ``a`` whose one-sided
    Clopper–Pearson upper bound (confidence 1 − δ) on the error rate is ≤ 1 − α; -1 when even
    zero errors do not reach it (``a`` too small). ``e_max(0) = 0``: no auto-labels, no errors.
    """
    p = 1.0 - alpha
    out = np.full(a_max + 1, -1, dtype=np.int64)
    out[0] = 0
    if p <= 0.0:  # α = 1: a finite sample never bounds the error rate at 0
        return out
    if p >= 1.0:
        out[:] = np.arange(a_max + 1)
        return out
    lf = _log_factorials(a_max)
    log_delta = math.log(delta) + _REL_TOL
    lp, lq = math.log(p), math.log1p(-p)
    for a in range(1, a_max + 1):
        k_cap = min(a, int(p * a + 12.0 * math.sqrt(a * p * (1 - p)) + 12))
        k = np.arange(k_cap + 1)
        logcdf = np.logaddexp.accumulate(lf[a] - lf[k] - lf[a - k] + k * lp + (a - k) * lq)
        # e = a is never allowed: the bound is then 1 > 1 − α
        ok = np.flatnonzero((logcdf <= log_delta) & (k < a))
        out[a] = int(ok[-1]) if len(ok) else -1
    return out


def clopper_pearson_upper(e: int, a: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound on an error rate: ``e`` errors among ``a``, with
    confidence 1 − δ. ``a = 0`` or ``e = a`` gives 1. Bisection on the binomial CDF."""
    if a <= 0 or e >= a:
        return 1.0
    lf = _log_factorials(a)
    lo, hi, log_delta = e / a, 1.0, math.log(delta)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if mid <= 0.0 or _log_binom_cdf(e, a, mid, lf) > log_delta:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class ErrorRule:
    """Which ``(a_c, e)`` are allowed: ``(0, 0)``, or ``e ≤ T`` and ``a_c ≥ need[e]``.

    ``need[e]`` is the fewest correct auto-labels that allow ``e`` wrong ones (non-decreasing;
    all zero for the plain budget); ``T = len(need) − 1`` is the most errors ever allowed, -1
    when nothing can be auto-labelled.
    """

    need: np.ndarray
    alpha: float
    delta: float | None = None
    budget: int | None = None

    @property
    def max_errors(self) -> int:
        return len(self.need) - 1

    @property
    def plain(self) -> bool:
        """True for a plain error budget (no staircase needed in the MILP)."""
        return self.delta is None

    def feasible(self, a_c: np.ndarray, e: np.ndarray) -> np.ndarray:
        a_c = np.asarray(a_c)
        e = np.asarray(e)
        t = len(self.need) - 1
        need = self.need[np.clip(e, 0, max(t, 0))] if t >= 0 else np.zeros_like(a_c)
        ok = (e <= t) & (a_c >= need)
        return ok | ((a_c == 0) & (e == 0))

    @classmethod
    def accuracy(cls, alpha: float, n_items: int, n_wrong: int) -> ErrorRule:
        """Plain OPAL constraint: accuracy over the m items ≥ α (e ≤ E, capped at n_wrong)."""
        budget = error_budget(alpha, n_items)
        t = min(budget, n_wrong)
        return cls(need=np.zeros(t + 1, dtype=np.int64), alpha=alpha, budget=budget)

    @classmethod
    def guarantee(cls, alpha: float, delta: float, n_correct: int, n_wrong: int) -> ErrorRule:
        """Clopper–Pearson rule, with ``need[t] = min{a_c : t ≤ e_max(a_c + t)}``."""
        emax = max_errors(n_correct + n_wrong, alpha, delta)
        need: list[int] = []
        for t in range(n_wrong + 1):
            first = np.flatnonzero(emax[1:] >= t)  # a ≥ 1 with e_max(a) ≥ t
            if not len(first):
                break
            a_c = int(first[0]) + 1 - t
            if a_c > n_correct:
                break
            need.append(max(a_c, 0))
        return cls(need=np.asarray(need, dtype=np.int64), alpha=alpha, delta=delta)

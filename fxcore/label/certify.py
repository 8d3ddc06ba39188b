"""A selection-proof accuracy certificate for the final labels (Learn-then-Test style).

Notation: N items; a person's labels are correct, so the final labels have accuracy ≥ α exactly
when the auto-labelled items hold at most ``B = ⌊(1 − α)·N⌋`` errors (:func:`error_budget`).

The policy gives every *candidate* item (an item it may auto-label) a score ``s``; auto-labelling
the items with ``s ≥ θ`` makes ``D(θ)`` errors, unknown and non-increasing in θ. A uniform random
sample R of the candidates, drawn after the policy is fixed, is labelled by a person. For each
threshold θ_j of a grid fixed before R's labels are seen (from the most to the least
conservative), the null hypothesis ``H_j: D(θ_j) > B`` has the exact p-value

    p_j = P(Hypergeom(A_j, B + 1, a_j) ≤ e_j)

where A_j candidates have ``s ≥ θ_j``, a_j of them are in R and e_j of those are wrong
(given a_j, they are a uniform sample of the A_j). Fixed-sequence testing rejects H_1, H_2, …
while ``p_j ≤ δ`` and stops at the first that is not rejected; the last rejected θ_j is used.
Because the family is nested and tested in a fixed order, picking θ this way does not void the
bound (Angelopoulos, Bates et al. 2021, *Learn then Test*): with probability ≥ 1 − δ over the
draw of R, the final labels have accuracy ≥ α. Errors of R itself count in D although a person
fixes them, which only makes the certificate conservative.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import hypergeom, poisson

GRID = 50
"""Thresholds tested, at quantiles of the candidates' scores."""


def error_budget(alpha: float, n_items: int) -> int:
    """B = ⌊(1 − α)·N⌋: wrong labels allowed among all N items for accuracy ≥ α."""
    return int(math.floor((1.0 - alpha) * n_items + 1e-9))


def p_value(n_auto: int, budget: int, n_sampled: int, n_wrong: int) -> float:
    """Exact p-value of ``H: more than budget errors among n_auto items`` when a uniform sample
    of ``n_sampled`` of them holds ``n_wrong`` errors (0 when ``n_auto ≤ budget``)."""
    if n_auto <= budget:
        return 0.0
    if n_sampled == 0:
        return 1.0
    return float(hypergeom.cdf(n_wrong, n_auto, budget + 1, n_sampled))


def errors_upper(n_auto: int, n_sampled: int, n_wrong: int, delta: float) -> int:
    """One-sided 1 − δ upper confidence bound on the errors among ``n_auto`` items."""
    if n_sampled >= n_auto:
        return n_wrong
    d = np.arange(n_wrong, n_auto + 1)
    ok = hypergeom.cdf(n_wrong, n_auto, d, n_sampled) > delta
    return int(d[ok][-1])


def sample_size(n_candidates: int, budget: int, expected_errors: float, delta: float,
                quantile: float = 0.8) -> int:
    """Planned size r of R: the smallest r for which a sample holding the ``quantile``-th
    error count expected (Poisson with mean ``r·expected_errors/n_candidates``) still certifies
    all ``n_candidates`` at level δ. ``n_candidates`` when no r does."""
    if n_candidates <= budget:
        return 0
    rate = min(max(expected_errors, 0.0), n_candidates) / n_candidates

    def certifies(r: int) -> bool:
        e = int(poisson.ppf(quantile, r * rate)) if rate > 0 else 0
        return p_value(n_candidates, budget, r, min(e, r)) <= delta

    lo, hi = 1, n_candidates
    if not certifies(hi):
        return n_candidates
    while lo < hi:
        mid = (lo + hi) // 2
        if certifies(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Certificate:
    """What was certified. ``certified``: with probability ≥ 1 − δ at most ``budget`` of the
    ``n_items`` final labels are wrong (accuracy ≥ α). ``auto`` items are auto-labelled."""

    alpha: float
    delta: float
    n_items: int
    budget: int
    candidates: int
    sample: int
    threshold: float
    auto: int
    tested: int
    sample_auto: int
    sample_errors: int
    p_value: float
    errors_upper: int
    certified: bool

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["threshold"] = None if math.isinf(self.threshold) else self.threshold
        d["statement"] = self.statement()
        return d

    def statement(self) -> str:
        if self.auto == 0:
            return (f"nothing auto-labelled: every item was labelled by a person, so the labels "
                    f"are correct (no certificate needed); the sample of {self.sample} could not "
                    f"certify any auto-labelling at α = {self.alpha:g}, δ = {self.delta:g}")
        return (f"certified: with probability ≥ {1 - self.delta:.0%} at most {self.budget} of "
                f"the {self.n_items} final labels are wrong (accuracy ≥ {self.alpha:g}); "
                f"{self.auto} auto-labelled, checked on a random sample of {self.sample_auto} "
                f"({self.sample_errors} wrong; p = {self.p_value:.3g}, fixed-sequence over "
                f"{self.tested} thresholds)")


def grid(scores: np.ndarray, steps: int = GRID) -> np.ndarray:
    """Thresholds to test, most conservative first: distinct score values at ``steps``
    quantiles of ``scores`` (the largest first), ending with the smallest score."""
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if not len(s):
        return s
    idx = np.unique(np.ceil(np.linspace(0, len(s) - 1, min(steps, len(s)))).astype(int))
    return np.unique(s[idx])[::-1]


def certify(scores: np.ndarray, sampled: np.ndarray, wrong: np.ndarray, alpha: float,
            delta: float, n_items: int, steps: int = GRID) -> Certificate:
    """Fixed-sequence test over :func:`grid` thresholds (see the module docstring).

    ``scores (K,)`` of the K candidates, ``sampled (K,)`` bool marks R, ``wrong (K,)`` bool the
    policy's errors (read only where ``sampled``). The auto-labelled items are the candidates
    with ``score ≥ threshold`` outside R.
    """
    scores = np.asarray(scores, dtype=np.float64)
    sampled = np.asarray(sampled, dtype=bool)
    wrong = np.asarray(wrong, dtype=bool) & sampled
    budget = error_budget(alpha, n_items)
    best = (math.inf, 0, 0, 0, 0.0)  # threshold, A, a, e, p
    tested = 0
    for theta in grid(scores, steps):
        mask = scores >= theta
        n_auto, a, e = int(mask.sum()), int((mask & sampled).sum()), int((mask & wrong).sum())
        p = p_value(n_auto, budget, a, e)
        tested += 1
        if p > delta:
            break
        best = (float(theta), n_auto, a, e, p)
    theta, n_auto, a, e, p = best
    return Certificate(
        alpha=alpha, delta=delta, n_items=n_items, budget=budget, candidates=len(scores),
        sample=int(sampled.sum()), threshold=theta, auto=n_auto - a, tested=tested,
        sample_auto=a, sample_errors=e, p_value=p,
        errors_upper=errors_upper(n_auto, a, e, delta) if n_auto else 0,
        certified=n_auto > 0)

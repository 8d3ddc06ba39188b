"""Multi-fidelity evaluation: a subdomain is evaluated in stages of images and stops early once
the images so far settle that it is not a failure.

A subdomain's full-fidelity evaluation scores ``total`` images (the last stage); it is a
**failure** when its accuracy over those images is below the threshold τ, i.e. when its number of
correct images ``c`` is at most ``c* = ⌈τ·total⌉ − 1``. After ``k`` of the images, ``x`` of them
correct, the stopping rule is an exact test of H0: c ≤ c*. The first ``k`` images are a uniformly
random subset of the ``total`` (generated images are exchangeable), so given ``c`` the count
``x`` is hypergeometric, and the p-value of H0 is

    p = max_{c ≤ c*} P(X ≥ x | total, c, k) = P(X ≥ x | total, c*, k)

(the tail grows with c). The subdomain stops after stage j when ``p ≤ error / (J − 1)`` for J
stages (Bonferroni: the error budget is spent evenly over the J − 1 stages that can stop), so a
failure is stopped early with probability at most ``error``. The test is exact both when a
table of ``total`` measured images is replayed (``fx bench``: the draws are hypergeometric) and
when images are generated (``fx explore``: the failure is defined on the ``total`` images the
full evaluation would score), and it is sharper than a binomial bound near full fidelity, where
the images left can no longer move the accuracy far.

τ is either given (``fx explore``'s ``[fidelity] threshold``) or estimated from the
evaluations so far by :func:`rank_threshold`: when the run is after the worst fraction q of N
subdomains, τ is the value at rank ⌊q·N⌋ of every subdomain's accuracy, and the value at the
same rank among the m > ⌊q·N⌋ evaluated ones can only be larger (adding values lowers an order
statistic), so it is a safe over-estimate that tightens as the failures are found; the test is
then of "accuracy at most τ̂" (ties at τ̂ stay candidates). With ``m ≤ ⌊q·N⌋`` nothing is known
and nothing stops.

Both ``fx bench`` (:mod:`fxcore.bench.replay`) and ``fx explore``
(:mod:`fxcore.explore.loop`) use this module; selectors see the image count of each observation
(:class:`FidelityObservations`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fxcore.contracts import Observations


@dataclass
class FidelityObservations(Observations):
    """:class:`~fxcore.contracts.Observations` plus the number of images behind each accuracy.

    A subclass, so a selector written for ``rows`` and ``accuracy`` works unchanged; a selector
    that models noise reads ``n_images`` (the variance of an accuracy is ∝ 1 / n_images) with
    ``getattr(observed, "n_images", None)``.
    """

    n_images: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def hypergeom_sf(x: int, total: int, good: int, drawn: int) -> float:
    """P(X ≥ x) for X ~ Hypergeometric(``total`` items, ``good`` of them good, ``drawn``)."""
    lo, hi = max(0, drawn - (total - good)), min(drawn, good)
    if x <= lo:
        return 1.0
    if x > hi:
        return 0.0

    def log_comb(n: int, k: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

    base = log_comb(total, drawn)
    terms = [log_comb(good, i) + log_comb(total - good, drawn - i) - base
             for i in range(x, hi + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def failing_count(threshold: float, total: int, inclusive: bool = False) -> int:
    """Largest number of correct images of ``total`` whose accuracy is below ``threshold`` (at
    most ``threshold`` with ``inclusive``); −1 when none is. A float rounding tolerance keeps
    ``0.6`` and ``0.59999996`` at 29 of 50."""
    if inclusive:
        return math.floor(threshold * total + 1e-6)
    return math.ceil(threshold * total - 1e-6) - 1


def p_failure(correct: int, seen: int, total: int, threshold: float,
              inclusive: bool = False) -> float:
    """p-value of "the full-fidelity accuracy is below ``threshold``" (at most, ``inclusive``)
    after ``correct`` of ``seen`` of ``total`` images (the hypergeometric tail at the largest
    failing count)."""
    c_star = failing_count(threshold, total, inclusive)
    if c_star < 0:
        return 0.0
    if c_star >= total:
        return 1.0
    return hypergeom_sf(correct, total, c_star, seen)


@dataclass(frozen=True)
class Stages:
    """Stage sizes (images, increasing; the last is full fidelity) and the error budget: the
    probability that a failure is stopped before full fidelity is at most ``error``."""

    sizes: tuple[int, ...]
    error: float = 0.05

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if not sizes or sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
            raise ValueError(f"stages must be increasing positive image counts, got {sizes}")
        if not 0 < self.error < 1:
            raise ValueError(f"error must be in (0, 1), got {self.error}")
        object.__setattr__(self, "sizes", sizes)

    @property
    def total(self) -> int:
        return self.sizes[-1]

    @property
    def alpha(self) -> float:
        """Error spent at each stage that can stop (Bonferroni over ``len(sizes) - 1``)."""
        return self.error / max(len(self.sizes) - 1, 1)

    def stop(self, correct: int, seen: int, threshold: float | None,
             total: int | None = None, inclusive: bool = False) -> bool:
        """Whether a subdomain with ``correct`` of ``seen`` images stops before full fidelity:
        clearly not a failure (accuracy below ``threshold``, or at most it with ``inclusive``)
        at level :attr:`alpha`. ``threshold=None`` never stops."""
        full = self.total if total is None else total
        if threshold is None or seen >= full:
            return False
        return p_failure(correct, seen, full, threshold, inclusive) <= self.alpha


def rank_threshold(accuracy: Sequence[float] | np.ndarray, n_subdomains: int,
                   fraction: float = 0.1) -> float | None:
    """Safe estimate of the worst-``fraction`` cut-off from the accuracies evaluated so far:
    the value at rank ⌊fraction·N⌋ among them (an upper bound of the value at that rank over
    all N), or ``None`` while at most ⌊fraction·N⌋ are known. The worst set is "strictly below"
    this value, as in :func:`fxcore.bench.metrics.worst_mask`; callers test "at most" it
    (``inclusive``), which is safer still and keeps ties at the estimate (say many subdomains at
    accuracy 0) candidates."""
    y = np.asarray(accuracy, dtype=np.float64)
    rank = math.floor(fraction * n_subdomains)
    if len(y) <= rank:
        return None
    return float(np.partition(y, rank)[rank])


def staged_draws(rng: np.random.Generator, correct: int, total: int,
                 sizes: Sequence[int]) -> list[int]:
    """Correct images among the first ``sizes[j]`` of ``total`` drawn without replacement from
    ``correct`` correct ones: each stage draws exactly from what the earlier ones left
    (hypergeometric), so the counts are cumulative and the last one at ``total`` is ``correct``."""
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in 0..{total}, got {correct}")
    good, bad = correct, total - correct
    out, seen, hits = [], 0, 0
    for size in sizes:
        take = max(min(size, total) - seen, 0)
        got = int(rng.hypergeometric(good, bad, take))
        hits, seen = hits + got, seen + take
        good, bad = good - got, bad - (take - got)
        out.append(hits)
    return out

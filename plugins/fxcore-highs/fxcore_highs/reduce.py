"""Exact reductions for the tight OPAL model, and the sort-based line search.

The tight model, over the agreeing items (OPAL Condition 1; the others are always manual):
an item is auto-labelled (``x_i = 1``) only if ``Σ_k w_k c_ik ≥ 1 + ε``; an item holding a wrong
label is manual only if ``Σ_k w_k c_ik ≤ 1`` (no window in between, so the count of wrong
auto-labels is exact); maximise the number of auto-labelled items subject to the error rule.

Reductions (all keep the optimum value):

1. **Groups.** Items with equal confidence vectors have equal sums for every w: one binary per
   distinct vector, weighted by its item count (objective) and its wrong-item count (rule).
2. **Forced wrong auto-labels.** If ``(1+ε) c_jk > c_ik`` for every k with ``c_ik > 0`` (in
   particular if ``c_j ≥ c_i``), then ``Σ w c_i ≥ 1+ε`` forces ``Σ w c_j > 1``: a wrong item j
   must then be auto-labelled too. If these forced wrong items (i's own included) exceed the
   most errors the rule ever allows, ``x_i = 0``. A fixed group without wrong items is dropped
   (its row cannot bind); one with wrong items keeps a hard row ``Σ w c ≤ 1``; only the maximal
   hard rows are kept (the others are implied).
3. **Bounds on w.** (a) implied: ``w_k ≤ 1 / c_(T+1),k``, the (T+1)-th largest ``c_jk`` over the
   wrong items (a larger w_k puts T+1 wrong items above 1), and ``w_k ≤ 1 / c_hk`` for hard rows;
   (b) w.l.o.g.: ``w_k ≤ (1+ε) / min{c_ik > 0 : i free}``: capping any feasible w there keeps
   every auto-labelled free group auto-labelled (``U_k c_ik ≥ 1+ε`` alone) and only lowers the
   sums that must stay ≤ 1, so the optimum value is kept. Groups with ``Σ_k U_k c_ik < 1+ε``
   are then fixed to 0 and (b) is recomputed until nothing changes. The per-row big-M of a
   manual row is ``M_i = Σ_k U_k c_ik − 1``.
4. **Dominance cuts** ``x_i ≤ x_j`` for ``c_j ≥ c_i`` (implied when j holds a wrong item,
   w.l.o.g. otherwise: auto-labelling j then only adds correct labels), from the transitive
   reduction of the order (:func:`dominance_cuts`, built only for a MILP).

Everything here works on any non-negative vectors, so it applies unchanged to a cone of weights
``w = Gᵀθ, θ ≥ 0`` by passing the transformed vectors ``c G ᵀ`` (see :mod:`fxcore_highs.cones`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds import ErrorRule
from .opal import EPS

_CUT_LIMIT = 4000
"""Above this many free groups the dominance cuts are skipped (the closure costs O(G³))."""


@dataclass(frozen=True)
class Groups:
    """Distinct confidence vectors of the agreeing items with their item and wrong counts."""

    vec: np.ndarray  # (G, n)
    total: np.ndarray  # (G,)
    wrong: np.ndarray  # (G,)

    @classmethod
    def of(cls, conf: np.ndarray, correct: np.ndarray) -> Groups:
        vec, inv = np.unique(conf, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        total = np.bincount(inv, minlength=len(vec)).astype(np.int64)
        bad = np.bincount(inv, weights=(~correct).astype(float), minlength=len(vec))
        return cls(vec, total, bad.astype(np.int64))


@dataclass(frozen=True)
class Reduced:
    """The reduced problem: free groups, hard rows and bounds on w."""

    vec: np.ndarray  # (G, n) c vectors of the free groups
    total: np.ndarray  # (G,) items per free group
    wrong: np.ndarray  # (G,) wrong items per free group
    hard: np.ndarray  # (H, n) vectors that must stay manual: Σ_k w_k c_hk ≤ 1
    upper: np.ndarray  # (n,) U_k
    n_groups: int  # distinct vectors before fixing

    @property
    def n_free(self) -> int:
        return len(self.total)

    def big_m(self) -> np.ndarray:
        """Per-row big-M of the manual rows: max Σ_k w_k c_ik − 1 over 0 ≤ w ≤ U."""
        return self.vec @ self.upper - 1.0


def dominance(vec: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """``D[i, j] = other[j] ≥ vec[i]`` componentwise (``other`` defaults to ``vec``)."""
    other = vec if other is None else other
    out = np.ones((len(vec), len(other)), dtype=bool)
    for k in range(vec.shape[1]):
        out &= other[None, :, k] >= vec[:, None, k]
    return out


def forces(vec: np.ndarray, wvec: np.ndarray) -> np.ndarray:
    """``F[i, j]``: ``Σ w c_i ≥ 1+ε`` forces ``Σ w c_j > 1`` for every w ≥ 0 (reduction 2)."""
    scaled = (1.0 + EPS) * wvec
    out = scaled[None, :, 0] > vec[:, None, 0]
    for k in range(1, vec.shape[1]):
        out &= scaled[None, :, k] > vec[:, None, k]
    zero = vec == 0
    if zero.any():  # c_ik = 0 puts no condition on c_jk: redo those rows exactly
        rows = np.flatnonzero(zero.any(axis=1))
        sub = np.ones((len(rows), len(wvec)), dtype=bool)
        for k in range(vec.shape[1]):
            ci = vec[rows, None, k]
            sub &= (ci == 0) | (scaled[None, :, k] > ci)
        out[rows] = sub
    return out


def forced_errors(vec: np.ndarray, wvec: np.ndarray, wcount: np.ndarray) -> np.ndarray:
    """Wrong items forced into auto-labelling when each group is auto-labelled."""
    out = np.zeros(len(vec), dtype=np.int64)
    step = max(1, 4_000_000 // max(len(wvec), 1))
    for s in range(0, len(vec), step):
        out[s : s + step] = forces(vec[s : s + step], wvec) @ wcount
    return out


def _cap(vec: np.ndarray) -> np.ndarray:
    """U_k = (1+ε) / min{c_ik > 0}: beyond it classifier k alone auto-labels every group."""
    out = np.zeros(vec.shape[1])
    for k in range(vec.shape[1]):
        pos = vec[:, k][vec[:, k] > 0]
        if len(pos):
            out[k] = (1.0 + EPS) / pos.min()
    return out


def _implied_upper(vec: np.ndarray, wrong: np.ndarray, t_max: int) -> np.ndarray:
    """w_k ≤ 1 / c_(T+1),k: the (T+1)-th largest c_jk over the wrong items (with counts)."""
    out = np.full(vec.shape[1], np.inf)
    has = wrong > 0
    if wrong.sum() <= t_max or t_max < 0:
        return out
    for k in range(vec.shape[1]):
        col, cnt = vec[has, k], wrong[has]
        order = np.argsort(-col, kind="stable")
        pos = np.searchsorted(np.cumsum(cnt[order]), t_max + 1)  # first with ≥ T+1 above
        kth = col[order][pos]
        if kth > 0:
            out[k] = 1.0 / kth
    return out


def reduce(groups: Groups, rule: ErrorRule, hard: np.ndarray | None = None) -> Reduced:
    """Apply reductions 1–3 to ``groups``; ``hard`` are extra rows ``Σ w c ≤ 1``."""
    vec, total, wrong = groups.vec, groups.total, groups.wrong
    n = vec.shape[1]
    t_max = rule.max_errors
    has_wrong = wrong > 0
    fixed = forced_errors(vec, vec[has_wrong], wrong[has_wrong]) > t_max
    implied = _implied_upper(vec, wrong, t_max)
    extra = np.zeros((0, n)) if hard is None else hard
    while True:
        free = ~fixed
        hard_all = np.vstack([vec[fixed & has_wrong], extra])
        upper = np.minimum(_cap(vec[free]), implied)
        if len(hard_all):
            top = hard_all.max(axis=0)
            upper = np.where(top > 0, np.minimum(upper, 1.0 / np.where(top > 0, top, 1.0)), upper)
        never = free & (vec @ upper < 1.0 + EPS)  # cannot reach OPAL Condition 2 within U
        if not never.any():
            break
        fixed |= never
    kept = hard_all[hard_all @ upper > 1.0]  # the others hold for every 0 ≤ w ≤ U
    if len(kept) > 1:
        dom = dominance(kept)
        np.fill_diagonal(dom, False)
        kept = kept[~dom.any(axis=1)]
    return Reduced(vec[free], total[free], wrong[free], kept, upper, len(vec))


def dominance_cuts(red: Reduced) -> tuple[np.ndarray, np.ndarray]:
    """Cuts ``x_i ≤ x_j`` (pairs ``(i, j)``) of the transitive reduction of ``c_j ≥ c_i``, and
    the free groups with no free dominator. Skipped (no cuts) above ``_CUT_LIMIT`` groups."""
    g = red.n_free
    if g == 0 or g > _CUT_LIMIT:
        return np.zeros((0, 2), dtype=np.int64), np.arange(g)
    dom = dominance(red.vec)
    np.fill_diagonal(dom, False)
    # equal vectors cannot occur (groups are distinct), so the order is antisymmetric
    tops = np.flatnonzero(~dom.any(axis=1))
    d32 = dom.astype(np.float32)
    cover = dom & ~((d32 @ d32) > 0)
    return np.argwhere(cover).astype(np.int64), tops


@dataclass(frozen=True)
class LinePoint:
    """A policy on a ray: weights, the auto-labelled free groups ``x``, and its counts."""

    objective: int
    weights: np.ndarray
    x: np.ndarray
    a_c: int
    e: int


def best_on_ray(red: Reduced, rule: ErrorRule, d: np.ndarray) -> LinePoint:
    """Exact optimum of the tight model restricted to w = d / b, b > 0 (or w = 0).

    With scores ``s_g = d·c_g``, group g is auto-labelled iff ``s_g ≥ (1+ε) b``; a group holding
    wrong items must not sit in its window ``b < s_g < (1+ε) b``; hard rows need ``s_h ≤ b``.
    As b falls the objective never decreases, and the wrong auto-labels only grow by crossing a
    window, so the optimum is at the lowest b allowed by the hard rows, or at ``b = s_j`` for a
    group j with wrong items (the top of its window), or w = 0. For n = 1 and d = (1,) this is
    the exact single-classifier solution: a threshold on confidence, with ties and near-ties
    with a wrong item counted exactly as the MILP counts them. The bound U is not applied: any
    feasible w may be capped at U without changing its decisions (reduction 3b).
    """
    d = np.asarray(d, dtype=float)
    s = red.vec @ d
    empty = LinePoint(0, np.zeros_like(d), np.zeros(red.n_free, dtype=bool), 0, 0)
    b_lo = float((red.hard @ d).max()) if len(red.hard) else 0.0
    sw = np.sort(s[red.wrong > 0])
    top = s.max(initial=0.0)
    if top <= 0:
        return empty
    lowest = s[s > 0].min() / (1.0 + EPS)  # below it nothing changes
    cands = np.concatenate([sw[sw >= b_lo], [max(b_lo, lowest)]])
    cands = cands[cands > 0]

    order = np.argsort(-s, kind="stable")
    s_desc = s[order]
    cum = np.zeros((3, len(s) + 1), dtype=np.int64)
    np.cumsum(red.total[order], out=cum[0, 1:])
    np.cumsum(red.wrong[order], out=cum[1, 1:])
    cum[2] = cum[0] - cum[1]  # correct items

    cut = (1.0 + EPS) * cands
    n_auto = np.searchsorted(-s_desc, -cut, side="right")  # groups with s ≥ (1+ε) b
    in_window = np.searchsorted(sw, cut, side="left") - np.searchsorted(sw, cands, side="right")
    a_c, e = cum[2, n_auto], cum[1, n_auto]
    obj = np.where((in_window == 0) & rule.feasible(a_c, e), cum[0, n_auto], -1)
    i = int(np.argmax(obj))
    if obj[i] <= 0:
        return empty
    ties = np.flatnonzero(obj == obj[i])
    i = int(ties[np.argmax(cands[ties])])  # ties: the largest b (smallest weights)
    return LinePoint(int(obj[i]), d / cands[i], s >= cut[i], int(a_c[i]), int(e[i]))


def evaluate(red: Reduced, rule: ErrorRule, w: np.ndarray, tol: float = 1e-9) -> LinePoint | None:
    """The tight model's decisions for weights ``w`` checked exactly (up to ``tol``): auto-label
    groups with Σ w c ≥ 1+ε; ``None`` when a group holding wrong items sits inside the window
    (1, 1+ε), a hard row exceeds 1, or the error rule fails."""
    s = red.vec @ w
    auto = s >= 1.0 + EPS - tol
    window = (s > 1.0 + tol) & ~auto & (red.wrong > 0)
    if window.any() or (len(red.hard) and (red.hard @ w).max() > 1.0 + tol):
        return None
    e = int(red.wrong[auto].sum())
    a_c = int(red.total[auto].sum()) - e
    if not rule.feasible(np.asarray(a_c), np.asarray(e)):
        return None
    return LinePoint(a_c + e, w, auto, a_c, e)


def simplex_grid(n: int, steps: int) -> np.ndarray:
    """All points of the (n−1)-simplex with coordinates in multiples of 1/steps."""
    if n == 1:
        return np.ones((1, 1))
    pts = [p for p in np.ndindex(*(steps + 1,) * (n - 1)) if sum(p) <= steps]
    grid = np.asarray(pts, dtype=float).reshape(-1, n - 1)
    return np.hstack([grid, steps - grid.sum(axis=1, keepdims=True)]) / steps


def heuristic(red: Reduced, rule: ErrorRule, steps: int | None = None) -> LinePoint:
    """Best policy over a grid of rays, each solved exactly by :func:`best_on_ray`."""
    n = red.vec.shape[1]
    if steps is None:
        steps = {1: 1, 2: 32, 3: 8, 4: 4}.get(n, 2)
    best = LinePoint(0, np.zeros(n), np.zeros(red.n_free, dtype=bool), 0, 0)
    for d in simplex_grid(n, steps):
        p = best_on_ray(red, rule, d)
        if p.objective > best.objective:
            best = p
    return best

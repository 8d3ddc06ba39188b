"""Branch and bound over cones of weight directions: the spatial layer of the tight solver.

Why: the big-M MILP relaxes "x is cut out by a half-space" to "x is closed under dominance",
which is far weaker for n ≥ 2 (on 2000 Fashion-MNIST items its root bound is ~4 % above the
optimum and HiGHS needs 3–14 s; on other real outputs gaps of up to 13 % remained after a
minute). Restricting w to a cone
``w = Gᵀθ, θ ≥ 0`` (rows of G are directions on the simplex) is the same problem with vectors
``c' = G c``; in a narrow cone almost every pair of items is ordered, the reductions of
:mod:`fxcore_highs.reduce` fix most binaries, and the bound becomes tight.

Bound of a cone (valid for every w in it): group i can only be auto-labelled together with every
wrong item it forces (reduction 2, tested on the transformed vectors, i.e. at every generator);
with ``f_i`` forced wrong items, at most ``UB_e = Σ{items of i : f_i ≤ e}`` items are
auto-labelled when e labels are wrong, and ``e`` must satisfy the error rule with the correct
items among them. As the cone shrinks to a direction d, the bound tends to the line-search value
at d (up to items within ε of the threshold), so the search closes.

Search: best-first on the bound; each split bisects the longest edge and evaluates the exact line
search (:func:`fxcore_highs.reduce.best_on_ray`) on the new direction. A cone narrower than
``min_width`` (or any cone, when n is too large for splitting) is a leaf, handed to an exact
solver (the tight HiGHS MILP restricted to the cone, see :mod:`fxcore_highs.milp`).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .bounds import ErrorRule
from .opal import EPS
from .reduce import LinePoint, Reduced, best_on_ray


@dataclass(frozen=True)
class LeafResult:
    """What the exact solver found in one cone: its best policy and a proven bound."""

    objective: int
    weights: np.ndarray | None
    bound: float
    proven: bool


MIN_WIDTH = 2.0**-14
"""Cones narrower than this (L1 length of the longest edge) go to the exact leaf solver."""

Leaf = Callable[[np.ndarray, np.ndarray, int, float], LeafResult]
"""``leaf(generators, free, incumbent, deadline)``: solve the cone exactly."""


@dataclass
class ConeSearch:
    """Outcome of the search: the best policy, the proven bound and what it took."""

    best: LinePoint
    bound: float
    complete: bool
    n_cones: int = 0
    n_leaves: int = 0
    gap_stop: bool = False
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Node:
    """A cone ``w = genᵀθ``: the groups still possible there, split into those whose count of
    forced wrong items is still open (``free``) and those settled (see :func:`cone_bound`).
    Settled groups are stored as a chain of segments shared with the ancestors, so a node costs
    memory for what it settled itself only."""

    gen: np.ndarray
    free: np.ndarray
    seg: np.ndarray  # groups settled in this cone
    seg_count: np.ndarray  # their forced wrong items
    up: _Node | None = None
    settled_correct: int = 0
    settled_wrong: int = 0

    def settled(self) -> tuple[np.ndarray, np.ndarray]:
        """All settled groups and their counts (this node's segment and its ancestors')."""
        idx, cnt = [], []
        node: _Node | None = self
        while node is not None:
            idx.append(node.seg)
            cnt.append(node.seg_count)
            node = node.up
        return np.concatenate(idx), np.concatenate(cnt)

    @property
    def groups(self) -> np.ndarray:
        return np.concatenate([self.settled()[0], self.free])


def cone_bound(red: Reduced, rule: ErrorRule, gen: np.ndarray, parent: _Node) -> tuple[int, _Node]:
    """Upper bound on the objective for w in the cone of ``gen`` (inside ``parent``'s cone).

    With ``f_i`` the wrong items forced by group i (reduction 2 at every generator), a policy
    with e wrong auto-labels only auto-labels groups with ``f_i ≤ e``: at most their correct
    items plus e wrong ones, with e allowed by the rule. Sub-cones only force more. A group is
    settled, and not tested again, once the wrong items it forces at *some* generator are within
    the limit T (plain rule: it stays possible in every sub-cone), or, under the guarantee rule,
    once they equal those forced at every generator (its count can no longer change).
    """
    t_max = rule.max_errors
    free = parent.free
    new = forced_new = forced_free = np.zeros(0, dtype=np.int64)
    if len(free):
        forced, maybe = _beaten_counts(red, gen, free, t_max)
        possible = forced <= t_max
        # plain rule: the count only matters against T; guarantee: it must be final
        now = possible & ((maybe <= t_max) if rule.plain else (maybe == forced))
        new, forced_new = free[now], forced[now]
        free, forced_free = free[possible & ~now], forced[possible & ~now]
    new_wrong = int(red.wrong[new].sum())
    node = _Node(
        gen, free, new, forced_new, parent,
        parent.settled_correct + int(red.total[new].sum()) - new_wrong,
        parent.settled_wrong + new_wrong,
    )
    if rule.plain:
        wrong_free = int(red.wrong[free].sum())
        correct = node.settled_correct + int(red.total[free].sum()) - wrong_free
        return correct + min(node.settled_wrong + wrong_free, rule.max_errors), node
    settled, settled_count = node.settled()
    idx = np.concatenate([settled, free])
    correct = red.total[idx] - red.wrong[idx]
    wrong = red.wrong[idx]
    forced = np.concatenate([settled_count, forced_free])
    order = np.argsort(forced, kind="stable")
    levels = np.arange(rule.max_errors + 1)
    upto = np.searchsorted(forced[order], levels, side="right")
    cor_e = np.concatenate([[0], np.cumsum(correct[order])])[upto]
    wrong_e = np.concatenate([[0], np.cumsum(wrong[order])])[upto]
    ub_e = np.where(cor_e >= rule.need, cor_e + np.minimum(wrong_e, levels), 0)
    return int(ub_e.max()), node


_POP8 = np.array([bin(b).count("1") for b in range(256)], dtype=np.int64)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of a ``(rows, words)`` uint64 array."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    return _POP8[words.view(np.uint8)].sum(axis=1)


_BITSET_MIN = 100_000
"""Free groups × wrong rows from which the bitset counts beat the pairwise boolean matrices
(their sorts and suffix tables cost more than they save on small cones)."""


def _beaten_counts(
    red: Reduced, gen: np.ndarray, free: np.ndarray, t_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(forced, maybe)`` of :func:`_beaten_bitsets`, pairwise on small problems."""
    n_rows = int(red.wrong.sum()) + len(red.hard)
    if len(free) * n_rows >= _BITSET_MIN:
        return _beaten_bitsets(red, gen, free, t_max)
    return _beaten_pairwise(red, gen, free, t_max)


def _beaten_pairwise(
    red: Reduced, gen: np.ndarray, free: np.ndarray, t_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """The counts of :func:`_beaten_bitsets` from (free × rows) booleans per generator."""
    wrong_idx = np.flatnonzero(red.wrong > 0)
    vec = red.vec[free] @ gen.T
    scaled = (1.0 + EPS) * (np.vstack([red.vec[wrong_idx], red.hard]) @ gen.T)
    counts = np.concatenate([red.wrong[wrong_idx], np.full(len(red.hard), t_max + 1)])
    zero = vec == 0  # c_ik = 0 puts no condition on generator k
    every = np.ones((len(free), len(scaled)), dtype=bool)
    some = np.zeros((len(free), len(scaled)), dtype=bool)
    for k in range(len(gen)):
        above = scaled[None, :, k] > vec[:, None, k]  # (free, rows)
        if zero[:, k].any():
            above |= zero[:, k, None]
        every &= above
        some |= above
    return every @ counts, some @ counts


def _beaten_bitsets(
    red: Reduced, gen: np.ndarray, free: np.ndarray, t_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each free group i: wrong items j with ``(1+ε) c'_jk > c'_ik`` at *every* generator k
    (``forced``) and at *some* generator (``maybe``), ``c' = G c``; a hard row counts T + 1.
    ``c'_ik = 0`` puts no condition on generator k (every row counts there).

    Bitsets: one bit per wrong item (a group with w wrong items holds w bits) and per hard row.
    At generator k the rows beating i are a suffix of the rows sorted by ``c'_jk`` (found with
    ``searchsorted``: the same float comparisons as testing every pair), so each test is an AND
    or OR of n precomputed suffix bitsets and a popcount — instead of (free × rows) booleans
    per generator."""
    wrong_idx = np.flatnonzero(red.wrong > 0)
    reps = red.wrong[wrong_idx]
    rows = np.vstack([np.repeat(red.vec[wrong_idx], reps, axis=0), red.hard])
    n_wrong_bits = int(reps.sum())
    n_rows = len(rows)
    n_free = len(free)
    if n_rows == 0:
        zeros = np.zeros(n_free, dtype=np.int64)
        return zeros, zeros
    scaled = (1.0 + EPS) * (rows @ gen.T)  # (rows, n)
    vec = red.vec[free] @ gen.T  # (free, n)
    n_words = (n_rows + 63) // 64
    bit_word = np.arange(n_rows) // 64
    bit_val = np.left_shift(np.uint64(1), (np.arange(n_rows) % 64).astype(np.uint64))
    every = np.full((n_free, n_words), ~np.uint64(0), dtype=np.uint64)
    some = np.zeros((n_free, n_words), dtype=np.uint64)
    for k in range(len(gen)):
        order = np.argsort(scaled[:, k], kind="stable")
        # suffix[p]: bits of the rows at sorted positions >= p
        single = np.zeros((n_rows + 1, n_words), dtype=np.uint64)
        single[np.arange(n_rows), bit_word[order]] = bit_val[order]
        suffix = np.bitwise_or.accumulate(single[::-1], axis=0)[::-1]
        pos = np.searchsorted(scaled[order, k], vec[:, k], side="right")
        pos[vec[:, k] == 0] = 0  # c'_ik = 0: every row counts at this generator
        above = suffix[pos]
        every &= above
        some |= above
    last = n_rows % 64
    if last:  # clear the unused high bits of the last word
        mask = np.uint64((1 << last) - 1)
        every[:, -1] &= mask
        some[:, -1] &= mask
    hard_words = np.zeros(n_words, dtype=np.uint64)
    if len(red.hard):
        hb = np.arange(n_wrong_bits, n_rows)
        np.bitwise_or.at(hard_words, bit_word[hb], bit_val[hb])
    wrong_words = ~hard_words
    forced = _popcount(every & wrong_words)
    maybe = _popcount(some & wrong_words)
    if len(red.hard):
        forced = np.where((every & hard_words).any(axis=1), forced + t_max + 1, forced)
        maybe = np.where((some & hard_words).any(axis=1), maybe + t_max + 1, maybe)
    return forced, maybe


def root_node(red: Reduced) -> _Node:
    """The whole orthant w ≥ 0 with every free group still open."""
    n = red.vec.shape[1]
    none = np.zeros(0, dtype=np.int64)
    return _Node(np.eye(n), np.arange(red.n_free), none, none)


def _width(gen: np.ndarray) -> tuple[float, int, int]:
    best = (-1.0, 0, 1)
    for a, b in itertools.combinations(range(len(gen)), 2):
        w = float(np.abs(gen[a] - gen[b]).sum())
        if w > best[0]:
            best = (w, a, b)
    return best


def search(
    red: Reduced,
    rule: ErrorRule,
    start: LinePoint,
    leaf: Leaf,
    deadline: float,
    min_width: float | None = None,
    split: bool = True,
    rel_gap: float = 0.0,
) -> ConeSearch:
    """Best-first branch and bound over cones of w, starting from the whole orthant; stops
    early once (largest open bound − best) / best ≤ ``rel_gap``."""
    min_width = MIN_WIDTH if min_width is None else min_width
    n = red.vec.shape[1]
    best = start
    ub, root = cone_bound(red, rule, np.eye(n), root_node(red))
    counter = itertools.count()
    heap: list[tuple[int, int, _Node]] = []
    if ub > best.objective:
        heapq.heappush(heap, (-ub, next(counter), root))
    open_leaf_bound = 0.0
    n_cones = n_leaves = 0
    gap_stop = False
    while heap:
        if time.perf_counter() > deadline:
            break
        neg_ub, _, node = heapq.heappop(heap)
        if -neg_ub <= best.objective:
            continue
        if rel_gap > 0 and best.objective and -neg_ub - best.objective <= rel_gap * best.objective:
            heapq.heappush(heap, (neg_ub, next(counter), node))
            gap_stop = True
            break
        width, a, b = _width(node.gen)
        if not split or n == 1 or width < min_width:
            n_leaves += 1
            res = leaf(node.gen, node.groups, best.objective, deadline)
            if res.objective > best.objective and res.weights is not None:
                best = LinePoint(res.objective, res.weights, np.zeros(0, bool), -1, -1)
            if not res.proven:
                open_leaf_bound = max(open_leaf_bound, res.bound)
            continue
        n_cones += 1
        mid = 0.5 * (node.gen[a] + node.gen[b])
        p = best_on_ray(red, rule, mid)
        if p.objective > best.objective:
            best = p
        for replace in (a, b):
            gen = node.gen.copy()
            gen[replace] = mid
            ub, child = cone_bound(red, rule, gen, node)
            if ub > best.objective:
                heapq.heappush(heap, (-ub, next(counter), child))
    heap = [h for h in heap if -h[0] > best.objective]  # the others are closed already
    bound = max([float(best.objective), open_leaf_bound] + [float(-h[0]) for h in heap])
    complete = not heap and open_leaf_bound <= best.objective
    stats = {"cones": float(n_cones), "leaves": float(n_leaves)}
    if not complete and math.isfinite(bound):
        stats["open"] = float(len(heap))
    return ConeSearch(best, bound, complete, n_cones, n_leaves, gap_stop, stats)

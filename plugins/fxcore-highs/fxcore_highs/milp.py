"""The OPAL MILP (accuracy-targeted labelling) with HiGHS: pure numpy + highspy.

Problem (OPAL): choose weights w_k ≥ 0 to auto-label as many items of the optimisation set as
possible (i.e. send as few as possible to a person) such that the accuracy over all m items,
with manual items counted correct, is ≥ α. An item is auto-labelled when OPAL Condition 1 (the
classifiers agree) and Condition 2 (Σ_k w_k c_ik > 1) hold; see :mod:`fxcore_highs.opal`.

Two formulations, both with binaries x_i ("item i is auto-labelled"):

``formulation="paper"`` (literal, for comparison): every agreeing item gets
``Σ_k w_k c_ik ≥ 1 + ε − M(1 − x_i)`` and ``Σ_k w_k c_ik ≤ 1 + M x_i`` with a constant M,
``w ≥ 0`` unbounded above, objective max Σ_i x_i, and Σ_{i wrong} x_i ≤ E. With M = 1000 and
HiGHS's integrality tolerance (1e-6), ``x_i = 3e-7`` already lets Σ w c reach 1 + 3e-4 > 1 + ε:
its objective can claim decisions no w realises, which the final check catches.

``formulation="tight"`` (default): the exact reductions of :mod:`fxcore_highs.reduce` (groups of
equal vectors, forced wrong items and fixing, bounds U_k on w, per-row big-M, dominance cuts);
only the rows that can bind: every group keeps ``Σ_k c_ik w_k ≥ (1+ε) x_i`` (no big-M), only a
group holding wrong items keeps ``Σ_k c_ik w_k ≤ 1 + M_i x_i``. A start from exact line searches
along rays of w goes to HiGHS with ``setSolution``. For 2 ≤ n ≤ 6 classifiers a branch and bound
over cones of w (:mod:`fxcore_highs.cones`) splits the problem first, and only cones it cannot
close by its bound are solved as MILPs; one classifier needs no MILP at all (a sorted threshold).

Because manual rows of purely correct groups are dropped, a correct item whose sum falls in
(1, 1+ε) counts as manual in the tight model but is auto-labelled by the policy (a bonus); the
tight optimum is therefore ≥ the paper optimum and equal to it unless sums of different items lie
within ε of each other at the optimum.

Guarantee mode (``guarantee=δ``) replaces the accuracy constraint by the Clopper–Pearson rule of
:mod:`fxcore_highs.bounds` (``a_c ≥ need[e]``), encoded as an incremental staircase: binaries
``v`` (anything auto-labelled) and ``u_1 ≥ u_2 ≥ … ≥ u_T`` with ``e ≤ Σ_t u_t`` and
``a_c ≥ need[0]·v + Σ_t (need[t] − need[t−1]) u_t`` — one binary per allowed error count, the
incremental (locally ideal) encoding of a step function.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np

from .bounds import ErrorRule, clopper_pearson_upper
from .cones import LeafResult, search
from .opal import (
    EPS,
    THRESHOLD,
    Condition,
    FitStats,
    OpalPolicy,
    agreement,
    check_alpha,
    check_probs,
    check_truth,
)
from .reduce import Groups, Reduced, best_on_ray, dominance_cuts, evaluate, heuristic, reduce

Formulation = Literal["tight", "paper"]

PAPER_BIG_M = 1000.0
"""Constant big-M of the paper formulation (valid while n·C·(1+ε) < M, see ``reduce``)."""
MAX_CONE_DIM = 6
"""Cone search for 2 ≤ n ≤ this many classifiers; beyond, one MILP over all of w ≥ 0."""

_banner_shown = False


@contextlib.contextmanager
def _quiet_stdout(quiet: bool) -> Iterator[None]:
    """Swallow the banner HiGHS prints on stdout when the first solver object is built."""
    global _banner_shown
    if _banner_shown or not quiet:
        _banner_shown = True
        yield
        return
    _banner_shown = True
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@dataclass(frozen=True)
class SolverOptions:
    time_limit: float = 60.0
    mip_rel_gap: float = 0.0
    threads: int = 1
    verbose: bool = False


@dataclass
class _Outcome:
    weights: np.ndarray
    status: str  # optimal | gap_limit | time_limit | infeasible | failed
    gap: float
    objective: float
    bound: float
    solver: str


class _Model:
    """A MILP in COO form: columns, rows, objective; turned into a ``highspy.HighsLp``."""

    def __init__(self) -> None:
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.cost: list[float] = []
        self.integer: list[bool] = []
        self.rows_lo: list[float] = []
        self.rows_hi: list[float] = []
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []

    def cols(
        self, k: int, lo: float, hi: np.ndarray | float, cost: np.ndarray | float, integer: bool
    ) -> int:
        first = len(self.lower)
        self.lower += [lo] * k
        self.upper += list(np.broadcast_to(np.asarray(hi, dtype=float), (k,)))
        self.cost += list(np.broadcast_to(np.asarray(cost, dtype=float), (k,)))
        self.integer += [integer] * k
        return first

    def rows(
        self, coef: np.ndarray, cols: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float
    ) -> None:
        """Rows r = 0..R-1 with ``lo[r] ≤ Σ_j coef[r, j] · col[cols[r, j]] ≤ hi[r]``."""
        coef = np.atleast_2d(np.asarray(coef, dtype=float))
        cols = np.broadcast_to(np.atleast_2d(np.asarray(cols, dtype=np.int64)), coef.shape)
        n_rows = coef.shape[0]
        if n_rows == 0:
            return
        first = len(self.rows_lo)
        self.rows_lo += list(np.broadcast_to(np.asarray(lo, dtype=float), (n_rows,)))
        self.rows_hi += list(np.broadcast_to(np.asarray(hi, dtype=float), (n_rows,)))
        keep = coef != 0
        r = np.broadcast_to(np.arange(first, first + n_rows)[:, None], coef.shape)
        self._r.append(r[keep])
        self._c.append(cols[keep])
        self._v.append(coef[keep])

    def highs_lp(self) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_ = len(self.lower)
        lp.num_row_ = len(self.rows_lo)
        lp.col_cost_ = np.asarray(self.cost)
        lp.col_lower_ = np.asarray(self.lower)
        lp.col_upper_ = np.asarray(self.upper)
        lp.row_lower_ = np.asarray(self.rows_lo)
        lp.row_upper_ = np.asarray(self.rows_hi)
        r = np.concatenate(self._r) if self._r else np.zeros(0, dtype=np.int64)
        c = np.concatenate(self._c) if self._c else np.zeros(0, dtype=np.int64)
        v = np.concatenate(self._v) if self._v else np.zeros(0)
        order = np.lexsort((c, r))
        start = np.searchsorted(r[order], np.arange(lp.num_row_ + 1))
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = lp.num_col_
        lp.a_matrix_.num_row_ = lp.num_row_
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = c[order].astype(np.int32)
        lp.a_matrix_.value_ = v[order]
        if any(self.integer):
            kind = highspy.HighsVarType
            lp.integrality_ = [kind.kInteger if i else kind.kContinuous for i in self.integer]
        return lp


def _add_rule(
    model: _Model, rule: ErrorRule, x0: int, cor: np.ndarray, wrong: np.ndarray, tops: np.ndarray
) -> int | None:
    """Rows of the error rule over x columns ``x0..``; returns the first staircase column."""
    xs = x0 + np.arange(len(cor))
    if rule.plain:
        if wrong.sum() > rule.max_errors:
            model.rows(wrong[None, :], xs[None, :], -np.inf, rule.max_errors)
        return None
    t_max = rule.max_errors
    v = model.cols(1 + t_max, 0.0, 1.0, 0.0, integer=True)  # v, u_1..u_T
    us = v + 1 + np.arange(t_max)
    # e ≤ Σ u_t ;  a_c ≥ need[0] v + Σ_t Δneed_t u_t
    model.rows(np.concatenate([wrong, -np.ones(t_max)])[None, :], np.concatenate([xs, us])[None, :],
               -np.inf, 0.0)
    steps = np.diff(rule.need)
    model.rows(
        np.concatenate([cor, [-rule.need[0]], -steps])[None, :],
        np.concatenate([xs, [v], us])[None, :], 0.0, np.inf,
    )
    if t_max:  # u_1 ≤ v, u_{t+1} ≤ u_t
        chain = np.concatenate([[v], us])
        model.rows(np.tile([1.0, -1.0], (t_max, 1)), np.stack([chain[1:], chain[:-1]], 1),
                   -np.inf, 0.0)
    model.rows(np.tile([1.0, -1.0], (len(tops), 1)),
               np.stack([xs[tops], np.full(len(tops), v)], 1), -np.inf, 0.0)
    return v


def _rule_start(rule: ErrorRule, a_c: int, e: int) -> list[float]:
    if rule.plain:
        return []
    return [float(a_c + e > 0)] + [float(t <= e) for t in range(1, rule.max_errors + 1)]


def _run(
    model: _Model, opts: SolverOptions, start: np.ndarray | None, time_left: float,
    cutoff: float | None = None,
) -> tuple[np.ndarray | None, str, float, float, float]:
    """Solve with HiGHS; returns (values or None, status, gap, objective, bound), objective
    and bound as counts of auto-labelled items. ``cutoff``: only look for more than this."""
    with _quiet_stdout(not opts.verbose):
        h = highspy.Highs()
    h.setOptionValue("output_flag", bool(opts.verbose))
    h.setOptionValue("time_limit", max(float(time_left), 0.01))
    h.setOptionValue("mip_rel_gap", float(opts.mip_rel_gap))
    h.setOptionValue("mip_abs_gap", 1.0 - 1e-6)  # integral objective: abs gap < 1 is optimal
    h.setOptionValue("threads", int(opts.threads))
    if cutoff is not None:
        h.setOptionValue("objective_bound", -(cutoff + 0.5))
    h.passModel(model.highs_lp())
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    ms = h.getModelStatus()
    has_sol = info.primal_solution_status == highspy.kSolutionStatusFeasible
    values = np.asarray(h.getSolution().col_value) if has_sol else None
    objective = -info.objective_function_value if has_sol else 0.0
    bound = -info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else math.inf
    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        proven = bound - objective < 1.0 - 1e-6
        status, gap = ("optimal", 0.0) if proven else ("gap_limit", float(info.mip_gap))
    elif ms == S.kTimeLimit:
        status, gap = "time_limit", float(info.mip_gap)
    elif ms == S.kInfeasible:
        status, gap = "infeasible", math.inf
    else:
        status, gap = "failed", float(info.mip_gap)
    return values, status, gap, objective, bound


def _robust(s: np.ndarray, wrong: np.ndarray) -> bool:
    """True when no item holding a wrong label sits strictly inside the window (1, 1+ε) of
    Σ w c (beyond solver tolerances), so decide() reproduces the model's decisions."""
    band = (s > 1.0 + 1e-7) & (s < 1.0 + EPS - 1e-7)
    return not bool(np.any(band & wrong))


def polish(
    auto: np.ndarray, manual: np.ndarray, upper: np.ndarray, threads: int
) -> np.ndarray | None:
    """Weights with ``Σ w c ≥ 1+ε`` on ``auto`` rows and ``≤ 1`` on ``manual`` rows (an LP), used
    when a solver's w sits inside the solver tolerances of the decision threshold."""
    n = len(upper)
    m = _Model()
    m.cols(n, 0.0, upper, 1.0, integer=False)
    cols = np.arange(n)
    m.rows(auto, cols, 1.0 + EPS, np.inf)
    m.rows(manual, cols, -np.inf, 1.0)
    values, *_ = _run(m, SolverOptions(time_limit=10.0, threads=threads), None, 10.0)
    return None if values is None else np.clip(values[:n], 0.0, None)


def _tight_model(red: Reduced, rule: ErrorRule) -> tuple[_Model, int, int]:
    """The tight MILP of a reduced problem; returns (model, first x column, number of cuts)."""
    g, n = red.vec.shape
    cuts, tops = dominance_cuts(red)
    m = _Model()
    m.cols(n, 0.0, red.upper, 0.0, integer=False)
    x0 = m.cols(g, 0.0, 1.0, -red.total.astype(float), integer=True)
    xs = x0 + np.arange(g)
    wcols = np.arange(n)
    both = np.hstack([np.tile(wcols, (g, 1)), xs[:, None]])
    # auto rows: Σ_k c_ik w_k − (1+ε) x_i ≥ 0
    m.rows(np.hstack([red.vec, np.full((g, 1), -(1.0 + EPS))]), both, 0.0, np.inf)
    # manual rows, groups with wrong items: Σ_k c_ik w_k − M_i x_i ≤ 1
    big_m = red.big_m()
    rows = (red.wrong > 0) & (big_m > 0)
    m.rows(np.hstack([red.vec, -big_m[:, None]])[rows], both[rows], -np.inf, 1.0)
    m.rows(red.hard, wcols, -np.inf, 1.0)
    if len(cuts):  # x_i − x_j ≤ 0
        m.rows(np.tile([1.0, -1.0], (len(cuts), 1)), xs[cuts], -np.inf, 0.0)
    _add_rule(m, rule, x0, (red.total - red.wrong).astype(float), red.wrong.astype(float), tops)
    return m, x0, len(cuts)


def _solve_cone(
    red: Reduced, rule: ErrorRule, gen: np.ndarray, free: np.ndarray, incumbent: int | None,
    opts: SolverOptions, deadline: float, stats: FitStats,
) -> LeafResult:
    """The tight MILP for w in the cone ``w = genᵀθ, θ ≥ 0`` (the whole orthant for gen = I),
    started from line searches in the cone; with ``incumbent``, it only looks for more."""
    out = np.setdiff1d(np.flatnonzero(red.wrong > 0), free)  # wrong groups fixed manual here
    hard = np.vstack([red.hard @ gen.T, red.vec[out] @ gen.T])
    sub = reduce(Groups(red.vec[free] @ gen.T, red.total[free], red.wrong[free]), rule, hard)
    if sub.n_free == 0:
        return LeafResult(0, None, 0.0, True)
    start = heuristic(sub, rule)
    model, x0, n_cuts = _tight_model(sub, rule)
    stats.n_cuts += n_cuts
    stats.extra["milp_rows"] = stats.extra.get("milp_rows", 0.0) + len(model.rows_lo)
    theta0 = np.minimum(start.weights, sub.upper)  # capping keeps the decisions (reduce, 3b)
    x_start = np.concatenate([theta0, start.x.astype(float), _rule_start(rule, start.a_c, start.e)])
    values, status, gap, objective, bound = _run(
        model, opts, x_start, deadline - time.perf_counter(), cutoff=incumbent
    )
    proven = status in ("optimal", "infeasible")
    known = 0 if incumbent is None else incumbent
    if values is None:
        return LeafResult(0, None, float(known) if proven else bound, proven)
    n = sub.vec.shape[1]
    theta = np.clip(values[:n], 0.0, sub.upper)
    point = evaluate(sub, rule, theta)
    if point is None:  # inside solver tolerances of the window: re-solve w for the same x
        x = values[x0 : x0 + sub.n_free] > 0.5
        stay = np.vstack([sub.vec[(sub.wrong > 0) & ~x], sub.hard])
        fixed = polish(sub.vec[x], stay, sub.upper, opts.threads)
        point = None if fixed is None else evaluate(sub, rule, fixed)
    if point is None or point.objective < start.objective:
        point = start
    found = point.objective
    if found < round(objective):  # HiGHS's solution failed the exact check: not a proof
        proven, bound = False, max(bound, float(round(objective)))
    return LeafResult(found, gen.T @ point.weights,
                      float(max(found, known)) if proven else max(bound, float(found)), proven)


def solve_tight(
    groups: Groups, rule: ErrorRule, opts: SolverOptions, stats: FitStats, deadline: float,
    sort_single: bool = True, cones: bool = True,
) -> _Outcome:
    """Tight formulation: reductions, line-search start, cone search, HiGHS on the leaves."""
    n = groups.vec.shape[1]
    red = reduce(groups, rule)
    stats.n_groups, stats.n_free, stats.n_hard = red.n_groups, red.n_free, len(red.hard)
    if red.n_free == 0:
        return _Outcome(np.zeros(n), "optimal", 0.0, 0.0, 0.0, "reduction")
    if n == 1 and sort_single:
        p = best_on_ray(red, rule, np.ones(1))
        stats.start_objective = p.objective
        return _Outcome(p.weights, "optimal", 0.0, p.objective, p.objective, "sort")
    start = heuristic(red, rule)
    stats.start_objective = start.objective

    if not (cones and n <= MAX_CONE_DIM):  # one MILP over all w ≥ 0, started from the rays
        res = _solve_cone(red, rule, np.eye(n), np.arange(red.n_free), None, opts, deadline, stats)
        weights, objective = start.weights, start.objective
        if res.weights is not None and res.objective >= start.objective:
            weights, objective = res.weights, res.objective
        status = "optimal" if res.proven else "time_limit"
        return _Outcome(weights, status, _gap(res.bound, objective), float(objective),
                        res.bound, "highs")

    def leaf(gen: np.ndarray, free: np.ndarray, inc: int, dl: float) -> LeafResult:
        return _solve_cone(red, rule, gen, free, inc, opts, dl, stats)

    found = search(red, rule, start, leaf, deadline, rel_gap=opts.mip_rel_gap)
    stats.extra.update(found.stats)
    if opts.verbose:
        print(f"cone search: {found.n_cones} cones split, {found.n_leaves} MILP leaves, best "
              f"{found.best.objective}, bound {found.bound:g} (start {start.objective})")
    best = found.best
    if found.complete:
        status = "optimal"
    elif found.gap_stop:
        status = "gap_limit"
    else:
        status = "time_limit"
    solver = "cones+highs" if found.n_leaves else "cones"
    return _Outcome(best.weights, status, _gap(found.bound, best.objective), float(best.objective),
                    found.bound, solver)


def _gap(bound: float, objective: float) -> float:
    """Relative gap (bound − objective) / objective, as HiGHS reports it (0 when closed)."""
    if bound - objective < 1.0 - 1e-6:
        return 0.0
    return (bound - objective) / objective if objective > 0 else math.inf


def solve_paper(
    conf: np.ndarray, correct: np.ndarray, rule: ErrorRule, opts: SolverOptions, deadline: float
) -> _Outcome:
    """The paper's formulation, literally: constant big-M, both rows for every agreeing item."""
    a, n = conf.shape
    big_m = PAPER_BIG_M
    c_min = float(conf[conf > 0].min(initial=1.0))
    if n * (1.0 + EPS) / c_min >= big_m:  # keep M valid (see reduce, 3b)
        big_m = 10.0 * n / c_min
    m = _Model()
    m.cols(n, 0.0, np.inf, 0.0, integer=False)
    x0 = m.cols(a, 0.0, 1.0, -1.0, integer=True)
    both = np.hstack([np.tile(np.arange(n), (a, 1)), (x0 + np.arange(a))[:, None]])
    coef = np.hstack([conf, np.full((a, 1), -big_m)])
    m.rows(coef, both, 1.0 + EPS - big_m, np.inf)  # Σ w c ≥ 1 + ε − M (1 − x)
    m.rows(coef, both, -np.inf, 1.0)  # Σ w c ≤ 1 + M x
    _add_rule(m, rule, x0, correct.astype(float), (~correct).astype(float), np.arange(a))
    values, status, gap, objective, bound = _run(m, opts, None, deadline - time.perf_counter())
    if values is None:
        return _Outcome(np.zeros(n), status, gap, 0.0, bound, "highs")
    return _Outcome(np.clip(values[:n], 0.0, None), status, gap, float(round(objective)),
                    bound, "highs")


def fit_opal(
    probs: np.ndarray,
    truth: np.ndarray,
    target_accuracy: float,
    *,
    condition: Condition = "all",
    formulation: Formulation = "tight",
    guarantee: float | None = None,
    time_limit: float = 60.0,
    mip_rel_gap: float = 0.0,
    threads: int = 1,
    verbose: bool = False,
    sort_single: bool = True,
    cones: bool = True,
) -> OpalPolicy:
    """Fit an OPAL policy on an optimisation set ``probs (M, N, C)``, ``truth (N,)``.

    Maximises the auto-labelled items subject to accuracy ≥ α over the N items (manual items
    count correct), or, with ``guarantee=δ``, subject to the Clopper–Pearson (1 − δ) upper bound
    on the error rate of the auto-labels being ≤ 1 − α (:mod:`fxcore_highs.bounds`). What that
    bound means: were the policy fixed before drawing the N items (i.i.d. from the deployment
    distribution), then with probability ≥ 1 − δ its error rate among auto-labelled items on
    unseen data is ≤ 1 − α. The policy is chosen using these same items, so this is the paper's
    style of guarantee, not a post-selection one: check a fitted policy on held-out data with
    :func:`fxcore_highs.bounds.clopper_pearson_upper` when the guarantee must hold strictly.

    ``sort_single=False`` / ``cones=False`` switch off the single-classifier sort and the cone
    search (one HiGHS MILP over all w ≥ 0 then), for tests and comparisons.
    """
    t0 = time.perf_counter()
    probs = check_probs(probs)
    n_clf, n_items, n_classes = probs.shape
    truth = check_truth(truth, n_items, n_classes)
    alpha = check_alpha(target_accuracy)
    if guarantee is not None and not 0.0 < float(guarantee) < 1.0:
        raise ValueError(f"guarantee δ must be in (0, 1), got {guarantee!r}")
    if formulation not in ("tight", "paper"):
        raise ValueError(f"formulation must be 'tight' or 'paper', got {formulation!r}")
    if time_limit <= 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    opts = SolverOptions(time_limit, mip_rel_gap, threads, verbose)
    deadline = t0 + time_limit
    # HiGHS keeps one process-wide thread pool and refuses a different "threads" later on
    highspy.Highs.resetGlobalScheduler(True)

    agree, label, conf = agreement(probs, condition)
    correct = label[agree] == truth[agree]
    conf_a = conf[agree]
    n_cor, n_wrong = int(correct.sum()), int((~correct).sum())
    if guarantee is None:
        rule = ErrorRule.accuracy(alpha, n_items, n_wrong)
    else:
        rule = ErrorRule.guarantee(alpha, float(guarantee), n_cor, n_wrong)
    stats = FitStats(n_items=n_items, n_agree=int(agree.sum()), target_accuracy=alpha,
                     error_limit=rule.budget, guarantee=guarantee, formulation=formulation)
    if len(conf_a) == 0 or rule.max_errors < 0:
        out = _Outcome(np.zeros(n_clf), "optimal", 0.0, 0.0, 0.0, "none")
    elif formulation == "paper":
        out = solve_paper(conf_a, correct, rule, opts, deadline)
    else:
        groups = Groups.of(conf_a, correct)
        out = solve_tight(groups, rule, opts, stats, deadline, sort_single, cones)
    scores = conf_a @ out.weights
    if not _robust(scores, ~correct):
        auto = (scores >= 1.0 + EPS - 1e-7) | (~correct & (scores >= THRESHOLD))
        fixed = polish(conf_a[auto], conf_a[~correct & ~auto], np.full(n_clf, np.inf), threads)
        if fixed is not None:
            out.weights = fixed
    return _finish(out, probs, truth, rule, condition, stats, t0)


def _finish(
    out: _Outcome, probs: np.ndarray, truth: np.ndarray, rule: ErrorRule, condition: Condition,
    stats: FitStats, t0: float,
) -> OpalPolicy:
    """Check the policy on the optimisation set with decide(), then status and message."""
    n_classes = probs.shape[2]
    policy = OpalPolicy(out.weights, condition, n_classes, out.status, out.gap, 0.0, "")
    auto, labels = policy.decide(probs)
    wrong = auto & (labels != truth)
    a, e = int(auto.sum()), int(wrong.sum())
    if not bool(rule.feasible(np.asarray(a - e), np.asarray(e))):
        # cannot happen unless the solver misreports; never hand out a policy that breaks α
        policy.weights = np.zeros_like(out.weights)
        out.status, a, e = "failed", 0, 0
    stats.n_auto, stats.n_auto_wrong = a, e
    stats.accuracy = 1.0 - e / stats.n_items
    stats.objective, stats.bound, stats.solver = out.objective, out.bound, out.solver
    if rule.delta is not None:
        stats.auto_error_upper = clopper_pearson_upper(e, a, rule.delta) if a else None
    status = out.status
    if a == 0 and status == "optimal":
        status = "unreachable"
    policy.status, policy.gap = status, (0.0 if status in ("optimal", "unreachable") else out.gap)
    policy.stats = stats
    policy.seconds = time.perf_counter() - t0
    policy.message = _message(policy, rule)
    return policy


def _message(p: OpalPolicy, rule: ErrorRule) -> str:
    s = p.stats
    target = (
        f"accuracy ≥ {s.target_accuracy:g} on the {s.n_items} items"
        if rule.delta is None
        else f"auto-label error ≤ {1 - s.target_accuracy:g} with confidence {1 - rule.delta:g} "
        "(Clopper–Pearson)"
    )
    done = (
        f"auto-labels {s.n_auto} of {s.n_items} items ({s.n_auto_wrong} wrong), a person labels "
        f"{s.n_items - s.n_auto} ({(s.n_items - s.n_auto) / s.n_items:.1%})"
    )
    if p.status == "optimal":
        return f"Proven optimal for {target}: {done}."
    if p.status == "gap_limit":
        return f"Stopped within the requested gap ({p.gap:.2%}) for {target}: {done}."
    if p.status == "time_limit":
        if s.n_auto == 0:
            return (f"Time limit reached before any policy meeting {target} was found: "
                    f"everything goes to a person.")
        return (f"Time limit reached; best policy found so far (not proven optimal, gap "
                f"{p.gap:.2%}) for {target}: {done}.")
    if p.status == "unreachable":
        return f"No auto-labelling meets {target}: all {s.n_items} items go to a person."
    return f"The solver failed ({p.status}); all {s.n_items} items go to a person."

"""OPAL MILP labeller: exact optima against brute force, the decision rule, the guarantee maths
and input checks. Brute force enumerates subsets X of the agreeing items and checks with a small
LP (scipy) whether some w ≥ 0 realises X."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import highspy
import numpy as np
import pytest
from scipy import stats

from fxcore_highs import cones, milp
from fxcore_highs.bounds import ErrorRule, clopper_pearson_upper, error_budget, max_errors
from fxcore_highs.milp import fit_opal
from fxcore_highs.opal import EPS, THRESHOLD

# ---------------------------------------------------------------- instances and brute force


def make_probs(
    seed: int, m: int, n: int, n_classes: int = 3, agree: float = 0.85, acc: float = 0.7
) -> tuple[np.ndarray, np.ndarray]:
    """Random optimisation set: most items agreed on, the agreed label right with prob. acc."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(n_classes, size=m)
    probs = np.zeros((n, m, n_classes))
    for i in range(m):
        together = rng.random() < agree
        base = truth[i] if rng.random() < acc else (truth[i] + 1) % n_classes
        for k in range(n):
            label = base if together else rng.integers(n_classes)
            top = rng.uniform(0.5, 1.0)
            rest = rng.dirichlet(np.ones(n_classes - 1)) * (1 - top)
            probs[k, i, label] = top
            probs[k, i, [c for c in range(n_classes) if c != label]] = rest
    return probs, truth


def conditions(probs: np.ndarray, condition: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent re-implementation of OPAL Conditions 1/2 inputs: (agree, label, c_ik)."""
    n, m, _ = probs.shape
    pred = probs.argmax(axis=2)
    agree = np.zeros(m, dtype=bool)
    label = np.full(m, -1)
    conf = np.zeros((m, n))
    for i in range(m):
        votes = np.bincount(pred[:, i], minlength=probs.shape[2])
        if condition == "all":
            ok = votes.max() == n
        else:
            ok = (votes == votes.max()).sum() == 1
        if ok:
            agree[i], label[i] = True, int(votes.argmax())
            for k in range(n):
                if pred[k, i] == label[i]:
                    conf[i, k] = probs[k, i, label[i]]
    return agree, label, conf


class Realisable:
    """Is there w ≥ 0 with Σ w c ≥ 1+ε on ``auto`` rows and ≤ 1 on ``stay`` rows? One small LP
    per question (one row per item, its bounds switched per question)."""

    def __init__(self, conf: np.ndarray) -> None:
        m, n = conf.shape
        self.m = m
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        for _ in range(n):
            self.h.addVar(0.0, highspy.kHighsInf)
        for i in range(m):
            self.h.addRow(-highspy.kHighsInf, highspy.kHighsInf, n, np.arange(n, dtype=np.int32),
                          conf[i].astype(float))

    def __call__(self, auto: np.ndarray, stay: np.ndarray) -> bool:
        lo = np.where(auto, 1 + EPS, -highspy.kHighsInf)
        hi = np.where(stay, 1.0, highspy.kHighsInf)
        self.h.changeRowsBounds(self.m, np.arange(self.m, dtype=np.int32), lo, hi)
        self.h.clearSolver()
        self.h.run()
        return self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def brute_force(
    conf: np.ndarray, correct: np.ndarray, allowed: Callable[[int, int], bool], paper: bool = False
) -> int:
    """Most auto-labelled agreeing items over realisable subsets X with ``allowed(a_c, e)``.

    tight: items of X need Σ w c ≥ 1+ε, wrong items outside X need Σ w c ≤ 1;
    paper: every item outside X needs Σ w c ≤ 1.
    """
    a = len(conf)
    realisable = Realisable(conf)
    for size in range(a, 0, -1):
        for subset in itertools.combinations(range(a), size):
            x = np.zeros(a, dtype=bool)
            x[list(subset)] = True
            e = int((x & ~correct).sum())
            if not allowed(size - e, e):
                continue
            stay = ~x if paper else (~x & ~correct)
            if realisable(x, stay):
                return size
    return 0


def plain_rule(alpha: float, m: int) -> Callable[[int, int], bool]:
    budget = math.floor((1 - alpha) * m + 1e-9)
    return lambda a_c, e: e <= budget


def cp_rule(alpha: float, delta: float) -> Callable[[int, int], bool]:
    def allowed(a_c: int, e: int) -> bool:
        a = a_c + e
        if a == 0:
            return True
        upper = 1.0 if e == a else stats.beta.ppf(1 - delta, e + 1, a - e)
        return upper <= 1 - alpha

    return allowed


CASES = [
    (0, 1, 0.8), (3, 1, 0.9), (10, 1, 0.9),
    (0, 2, 0.9), (4, 2, 0.9), (10, 2, 0.8),
    (1, 3, 0.9), (4, 3, 0.8), (10, 3, 0.9),
]  # (seed, n, α): instances where the error budget binds (0 < optimum < agreeing items)


# ---------------------------------------------------------------- exact optimum


@pytest.mark.parametrize("seed,n,alpha", CASES)
def test_tight_and_paper_match_brute_force(seed: int, n: int, alpha: float) -> None:
    probs, truth = make_probs(seed, m=12, n=n, acc=0.6)
    agree, label, conf = conditions(probs, "all")
    correct = label[agree] == truth[agree]
    allowed = plain_rule(alpha, len(truth))
    want_tight = brute_force(conf[agree], correct, allowed)
    want_paper = brute_force(conf[agree], correct, allowed, paper=True)
    assert 0 < want_paper <= want_tight < agree.sum()  # paper realisability is stricter

    runs = {
        "tight": fit_opal(probs, truth, alpha),
        "global milp": fit_opal(probs, truth, alpha, cones=False, sort_single=False),
    }
    for name, policy in runs.items():
        assert policy.status in ("optimal", "unreachable"), name
        assert policy.stats.objective == want_tight, name
        assert policy.gap == 0.0
    paper = fit_opal(probs, truth, alpha, formulation="paper")
    assert paper.stats.objective == want_paper


@pytest.mark.parametrize("seed,n,alpha", [c for c in CASES if c[1] > 1])
def test_cone_leaves_match_brute_force(
    seed: int, n: int, alpha: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wide cones handed to the HiGHS leaf solver give the same optimum."""
    probs, truth = make_probs(seed, m=12, n=n, acc=0.6)
    agree, label, conf = conditions(probs, "all")
    correct = label[agree] == truth[agree]
    want = brute_force(conf[agree], correct, plain_rule(alpha, 12))
    monkeypatch.setattr(cones, "MIN_WIDTH", 1.5)
    policy = fit_opal(probs, truth, alpha)
    assert policy.stats.objective == want
    assert policy.status == "optimal"


@pytest.mark.parametrize("seed", range(6))
def test_single_classifier_sort_equals_milp(seed: int) -> None:
    probs, truth = make_probs(seed + 10, m=60, n=1)
    probs[0, :20] = np.round(probs[0, :20], 1)  # ties in confidence
    probs[0, :20] /= probs[0, :20].sum(axis=1, keepdims=True)
    for alpha in (0.8, 0.9, 0.95):
        fast = fit_opal(probs, truth, alpha)
        slow = fit_opal(probs, truth, alpha, sort_single=False, cones=False)
        assert fast.stats.solver == "sort" and slow.stats.solver == "highs"
        assert fast.stats.objective == slow.stats.objective
        assert fast.stats.n_auto == slow.stats.n_auto


def test_single_classifier_threshold_by_hand() -> None:
    """n = 1: the threshold is the lowest confidence whose items above it hold ≤ E errors."""
    conf = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.7, 0.6, 0.55])
    wrong = np.array([0, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    truth = np.zeros(8, dtype=int)
    probs = np.stack([conf, 1 - conf], axis=1)[None]
    truth[wrong] = 1
    # α = 0.875: E = 1 wrong item; the tie at 0.9 puts the wrong 0.9 in together with the
    # correct 0.9, so the best threshold is 0.8 (5 items, 1 wrong); 0.7 would add a second.
    policy = fit_opal(probs, truth, 0.875)
    auto, labels = policy.decide(probs)
    assert auto.tolist() == [True] * 5 + [False] * 3
    assert policy.stats.n_auto_wrong == 1
    # α = 1: no wrong item at all: only the two above the tie
    policy = fit_opal(probs, truth, 1.0)
    assert policy.decide(probs)[0].tolist() == [True, True] + [False] * 6


# ---------------------------------------------------------------- decisions


@pytest.mark.parametrize("condition", ["all", "majority"])
def test_decide_follows_opal_conditions(condition: str) -> None:
    probs, truth = make_probs(7, m=300, n=3, agree=0.6)
    policy = fit_opal(probs, truth, 0.9, condition=condition)
    assert policy.status == "optimal"
    agree, label, conf = conditions(probs, condition)
    auto, labels = policy.decide(probs)
    score = conf @ policy.weights
    assert auto.any()
    assert np.all(agree[auto])  # Condition 1
    assert np.all(score[auto] > 1.0)  # Condition 2
    assert np.array_equal(auto, agree & (score >= THRESHOLD))
    assert np.array_equal(labels[auto], label[auto])
    assert np.all(labels[~auto] == -1)
    # the accuracy target holds on the optimisation set, manual items counted correct
    wrong = int((labels[auto] != truth[auto]).sum())
    assert wrong <= error_budget(0.9, 300)
    assert policy.stats.n_auto == auto.sum() >= policy.stats.objective
    assert policy.stats.accuracy == pytest.approx(1 - wrong / 300)
    # fresh data from the same rule: decisions are deterministic
    new_probs, _ = make_probs(8, m=50, n=3, agree=0.6)
    auto2, labels2 = policy.decide(new_probs)
    agree2, label2, conf2 = conditions(new_probs, condition)
    assert np.array_equal(auto2, agree2 & (conf2 @ policy.weights >= THRESHOLD))


def test_tight_equals_global_milp_on_larger_sets() -> None:
    for seed, n in ((11, 2), (12, 3)):
        probs, truth = make_probs(seed, m=80, n=n, acc=0.8)
        fast = fit_opal(probs, truth, 0.95)
        slow = fit_opal(probs, truth, 0.95, cones=False)
        assert fast.status == slow.status == "optimal"
        assert fast.stats.objective == slow.stats.objective


def test_time_limit_returns_a_feasible_policy() -> None:
    probs, truth = make_probs(13, m=400, n=3, acc=0.8)
    policy = fit_opal(probs, truth, 0.97, time_limit=1e-6)
    assert policy.status == "time_limit"
    assert "Time limit" in policy.message
    assert policy.gap > 0
    auto, labels = policy.decide(probs)
    assert (labels[auto] != truth[auto]).sum() <= error_budget(0.97, 400)


def test_nothing_agrees_sends_everything_to_a_person() -> None:
    probs = np.zeros((2, 4, 2))
    probs[0, :, 0] = probs[1, :, 1] = 0.9
    probs[0, :, 1] = probs[1, :, 0] = 0.1
    policy = fit_opal(probs, np.zeros(4, dtype=int), 0.9)
    assert policy.status == "unreachable"
    assert "person" in policy.message
    assert not policy.decide(probs)[0].any()


# ---------------------------------------------------------------- guarantee mode


@pytest.mark.parametrize("alpha,delta", [(0.9, 0.05), (0.95, 0.1), (0.7, 0.3), (0.99, 0.01)])
def test_max_errors_matches_beta_quantiles(alpha: float, delta: float) -> None:
    table = max_errors(300, alpha, delta)
    for a in range(1, 301):
        e = np.arange(a)
        ok = np.flatnonzero(stats.beta.ppf(1 - delta, e + 1, a - e) <= 1 - alpha)
        assert table[a] == (ok.max() if len(ok) else -1), a
    assert np.all(np.diff(table[1:]) >= 0)


def test_clopper_pearson_upper_matches_scipy() -> None:
    for e, a, delta in [(0, 10, 0.05), (3, 50, 0.1), (20, 2000, 0.05), (9, 10, 0.2)]:
        want = stats.beta.ppf(1 - delta, e + 1, a - e)
        assert clopper_pearson_upper(e, a, delta) == pytest.approx(want, abs=1e-9)
    assert clopper_pearson_upper(0, 0, 0.05) == 1.0


def test_guarantee_rule_need_table() -> None:
    rule = ErrorRule.guarantee(0.9, 0.05, n_correct=500, n_wrong=40)
    emax = max_errors(540, 0.9, 0.05)
    for t, need in enumerate(rule.need):
        assert emax[need + t] >= t and (need == 0 or emax[need + t - 1] < t)
    assert rule.need[0] >= 1  # some evidence is needed before anything is auto-labelled
    assert not rule.feasible(np.asarray(rule.need[0] - 1), np.asarray(0))
    assert rule.feasible(np.asarray(rule.need[0]), np.asarray(0))
    assert rule.feasible(np.asarray(0), np.asarray(0))


@pytest.mark.parametrize("seed,n", [(32, 1), (32, 2), (36, 2), (26, 3), (39, 3)])
def test_guarantee_mode_matches_brute_force(seed: int, n: int) -> None:
    alpha, delta = 0.7, 0.3  # loose, so that 10 items can carry a guarantee at all
    probs, truth = make_probs(seed, m=10, n=n, acc=0.7)
    agree, label, conf = conditions(probs, "all")
    correct = label[agree] == truth[agree]
    want = brute_force(conf[agree], correct, cp_rule(alpha, delta))
    policy = fit_opal(probs, truth, alpha, guarantee=delta, time_limit=20)
    assert policy.stats.objective == want and policy.status == "optimal"
    slow = fit_opal(probs, truth, alpha, guarantee=delta, cones=False, sort_single=False)
    assert slow.stats.objective == want and slow.status == "optimal"
    assert 0 < want < agree.sum()  # the rule binds
    if want:
        a, e = policy.stats.n_auto, policy.stats.n_auto_wrong
        assert policy.stats.auto_error_upper == pytest.approx(
            stats.beta.ppf(1 - delta, e + 1, a - e) if e < a else 1.0
        )
        assert policy.stats.auto_error_upper <= 1 - alpha


def test_guarantee_unreachable_on_a_small_set() -> None:
    probs, truth = make_probs(30, m=20, n=2, acc=1.0)
    policy = fit_opal(probs, truth, 0.99, guarantee=0.05)  # needs ≥ 299 clean auto-labels
    assert policy.status == "unreachable"
    assert not policy.decide(probs)[0].any()
    assert "person" in policy.message


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p, t: (p, np.where(t == 0, 5, t)), r"truth labels must be in 0\.\.2"),
        (lambda p, t: (p, t - 1), r"truth labels must be in 0\.\.2"),
        (lambda p, t: (np.where(np.isclose(p, p.max()), np.nan, p), t), "NaN"),
        (lambda p, t: (p, t[:-1]), "truth must have shape"),
        (lambda p, t: (p[0], t), "shape"),
        (lambda p, t: (p * 0.8, t), "sum to 1"),
        (lambda p, t: (p, t.astype(float) + 0.5), "integer class labels"),
    ],
)
def test_bad_input_is_named(mutate: Callable, match: str) -> None:
    probs, truth = make_probs(40, m=10, n=2)
    p, t = mutate(probs, truth)
    with pytest.raises(ValueError, match=match):
        fit_opal(p, t, 0.9)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.01, float("nan")])
def test_bad_alpha(alpha: float) -> None:
    probs, truth = make_probs(41, m=10, n=2)
    with pytest.raises(ValueError, match="α"):
        fit_opal(probs, truth, alpha)


def test_decide_checks_shapes() -> None:
    probs, truth = make_probs(42, m=30, n=2)
    policy = fit_opal(probs, truth, 0.9)
    with pytest.raises(ValueError, match="shape"):
        policy.decide(probs[:1])
    with pytest.raises(ValueError, match="NaN"):
        policy.decide(np.full_like(probs, np.nan))


def test_paper_model_is_literal() -> None:
    """The paper model keeps one binary and two big-M rows per agreeing item."""
    probs, truth = make_probs(43, m=20, n=3)
    agree, label, conf = conditions(probs, "all")
    rule = ErrorRule.accuracy(0.9, 40, int((label[agree] != truth[agree]).sum()))
    captured = {}
    real_run = milp._run

    def spy(model: milp._Model, *args: object, **kwargs: object) -> tuple:
        captured["rows"], captured["cols"] = len(model.rows_lo), len(model.lower)
        return real_run(model, *args, **kwargs)

    milp._run = spy
    try:
        milp.solve_paper(conf[agree], label[agree] == truth[agree], rule,
                         milp.SolverOptions(), 1e18)
    finally:
        milp._run = real_run
    a = int(agree.sum())
    n_wrong = int((label[agree] != truth[agree]).sum())
    assert captured["cols"] == 3 + a
    assert captured["rows"] == 2 * a + (1 if n_wrong > rule.max_errors else 0)


# ---------------------------------------------------------------- n = 4, 5 (issue #10)


def correlated_probs(
    seed: int, m: int, n: int, n_classes: int = 4, wrong: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Classifiers that mostly agree, with confidences driven by a shared per-item difficulty
    (like real outputs), some rounded to a few levels (ties, as forests give) and some at 1."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(n_classes, size=m)
    ease = rng.beta(2, 2, size=m)
    probs = np.zeros((n, m, n_classes))
    for i in range(m):
        base = truth[i] if rng.random() > wrong * (1 - ease[i]) else (truth[i] + 1) % n_classes
        for k in range(n):
            label = base if rng.random() < 0.9 else rng.integers(n_classes)
            top = float(np.clip(0.4 + 0.6 * ease[i] + rng.normal(0, 0.08), 1 / n_classes, 1.0))
            if k % 3 == 1:
                top = max(round(top * 10) / 10, 0.3)
            rest = rng.dirichlet(np.ones(n_classes - 1)) * (1 - top)
            probs[k, i, label] = top
            probs[k, i, [c for c in range(n_classes) if c != label]] = rest
    return probs, truth


@pytest.mark.parametrize("seed,n,alpha", [(0, 4, 0.8), (4, 4, 0.9), (8, 4, 0.8), (12, 4, 0.9),
                                          *[(s, 5, a) for s in (0, 3) for a in (0.8, 0.9)]])
def test_four_and_five_classifiers_match_brute_force(seed: int, n: int, alpha: float) -> None:
    probs, truth = make_probs(seed, m=12, n=n, acc=0.6)
    agree, label, conf = conditions(probs, "all")
    correct = label[agree] == truth[agree]
    want = brute_force(conf[agree], correct, plain_rule(alpha, 12))
    policy = fit_opal(probs, truth, alpha)
    assert policy.status in ("optimal", "unreachable")
    assert policy.stats.objective == want


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [4, 5])
def test_cone_search_equals_global_milp_for_four_and_five(seed: int, n: int) -> None:
    """The cone search (bitset bounds, line searches, leaves) against one plain HiGHS MILP over
    all w ≥ 0, on correlated outputs with ties and confidences of 1, both conditions and the
    guarantee rule."""
    probs, truth = correlated_probs(100 + seed, m=70, n=n)
    for kw in ({"condition": "all"}, {"condition": "majority"}, {"guarantee": 0.2}):
        alpha = 0.9 if "guarantee" in kw else 0.97
        fast = fit_opal(probs, truth, alpha, **kw)
        slow = fit_opal(probs, truth, alpha, cones=False, **kw)
        assert fast.status == slow.status, kw
        assert fast.status in ("optimal", "unreachable"), kw
        assert fast.stats.objective == slow.stats.objective, kw
        auto, labels = fast.decide(probs)
        assert int(auto.sum()) >= fast.stats.objective


def test_beaten_counts_match_pairwise_definition() -> None:
    """The bitset counts of the cone bound equal the pairwise definition, with ties, zeros,
    groups holding several wrong items and hard rows."""
    from fxcore_highs.reduce import Reduced

    rng = np.random.default_rng(5)
    for trial in range(20):
        n = int(rng.integers(2, 6))
        g = int(rng.integers(1, 150))
        vec = np.round(rng.random((g, n)), 1 + trial % 3)
        vec[rng.random((g, n)) < 0.1] = 0.0
        wrong = rng.integers(0, 3, size=g) * (rng.random(g) < 0.4)
        hard = np.round(rng.random((int(rng.integers(0, 4)), n)), 2)
        red = Reduced(vec, np.maximum(wrong, 1) + 1, wrong, hard, np.ones(n), g)
        gen = rng.dirichlet(np.ones(n), size=n)
        gen[rng.random((n, n)) < 0.2] = 0.0
        t_max = int(rng.integers(0, 6))
        free = np.flatnonzero(rng.random(g) < 0.7)
        forced, maybe = cones._beaten_bitsets(red, gen, free, t_max)
        pair = cones._beaten_pairwise(red, gen, free, t_max)
        hit = (pair[0] > t_max, pair[1] > t_max)  # hard rows: T + 1 each there, once here
        assert np.array_equal(forced > t_max, hit[0]) and np.array_equal(maybe > t_max, hit[1])
        assert np.array_equal(np.minimum(forced, t_max + 1), np.minimum(pair[0], t_max + 1))
        assert np.array_equal(np.minimum(maybe, t_max + 1), np.minimum(pair[1], t_max + 1))
        v = vec[free] @ gen.T
        rows = np.vstack([vec[wrong > 0], hard]) @ gen.T * (1.0 + EPS)
        counts = np.concatenate([wrong[wrong > 0], np.full(len(hard), t_max + 1)])
        beats = (rows[None, :, :] > v[:, None, :]) | (v[:, None, :] == 0)
        n_hard = len(hard)
        for got, test in ((forced, beats.all(axis=2)), (maybe, beats.any(axis=2))):
            want = test[:, : len(counts) - n_hard] @ counts[: len(counts) - n_hard]
            if n_hard:
                want = want + (t_max + 1) * test[:, len(counts) - n_hard :].any(axis=1)
            assert np.array_equal(got, want), trial

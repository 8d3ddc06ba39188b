"""The certified label run: OPAL's inputs gathered by active learning, its threshold certified on
a separate random sample, so that the final labels meet α with probability ≥ 1 − δ.

1. Split (OPAL step 1): the fine-tuning set F trains the classifiers; the optimisation set O
   fits the labeller (OPAL's MILP: the direction w of the score ``Σ_k w_k c_ik``) and is never
   trained on.
2. Plan: with the classifiers' error probabilities rescaled to the errors seen on O
   (:func:`fxcore.label.active.error_scale`), choose the candidates C (the highest-scored items
   of the pool) and the size r of the certificate's sample that minimise the planned effort
   ``|pool − C| + r`` (:func:`fxcore.label.certify.sample_size`).
3. Active learning (``[active]``): while the plan leaves items of the pool to a person anyway,
   a person labels ``batch`` of them (least certain first), the classifiers are refit on F and
   everything asked so far, the labeller is refit on O, and the plan is made again.
4. Certify: R, a uniform random sample of r candidates, is labelled; the fixed-sequence test of
   :func:`fxcore.label.certify.certify` picks the threshold. Candidates above it (outside R)
   are auto-labelled; every other item goes to a person.

R is drawn after the policy is fixed and is used for nothing but the test, so the choice of the
policy and of its threshold cannot void the bound. Resumable at every step: each round's picks,
probabilities and the plan are stored before anyone is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fxcore.contracts import ConditionedPolicy, LabelPolicy, ScoredPolicy
from fxcore.label import active as al
from fxcore.label.baselines import agreed_scores
from fxcore.label.certify import certify, error_budget, sample_size
from fxcore.label.opal import OpalRun, _solver_info
from fxcore.label.split import Split

PLAN_STEPS = 60
"""Candidate-set sizes tried when planning."""
PLAN_QUANTILE = 0.95
"""The sample is sized to certify when its error count is at this quantile of what the plan
expects: one unlucky error in a sample sized for none would void most of the auto-labels."""


@dataclass
class Plan:
    """The candidates C (item indices, best score first), their scores and labels, and r."""

    candidates: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    sample: int
    expected_errors: float
    left: int  # pool items the plan leaves to a person


def policy_scores(policy: Any, probs: np.ndarray, own: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(label, score)`` of every item: with ``own``, the policy's own score where it has one
    and auto-labels anything; else the agreeing classifiers' mean confidence (OPAL's Condition 1
    with the policy's ``condition``); -inf where they disagree."""
    usable = not isinstance(policy, LabelPolicy) or str(policy.status) not in (
        "unreachable", "failed")
    if own and isinstance(policy, ScoredPolicy) and usable:
        agree, label, score = policy.scores(probs)
        if np.any(score[agree] > 0):
            return np.where(agree, label, -1), np.where(agree, score, -np.inf)
    condition = policy.condition if isinstance(policy, ConditionedPolicy) else "all"
    return agreed_scores(probs, condition)


class CertifiedRun(OpalRun):
    """A label run with the certificate (``[certify]``, on by default); see the module doc."""

    def __init__(self, *args: Any, delta: float = 0.05, score: str = "mean",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delta = delta
        self.own_score = score == "labeller"
        self.budget = error_budget(self.alpha, len(self.items))

    # ------------------------------------------------------------------ per round
    def _round_probs(self, split: Split, picks: list[list[int]], r: int) -> np.ndarray:
        """Probabilities after round r's refit on F and the first r rounds' picks (stored)."""
        assert self.probs is not None
        if r == 0 or self.active is None or not self.active.refit or not self.finetune:
            return self.probs
        index = np.concatenate([split.finetune, *[np.asarray(p, dtype=np.int64)
                                                  for p in picks[:r]]])
        return self._fitted_probs(f"probs-round{r}.npy", index, fresh=True)

    def _plan(self, probs: np.ndarray, label: np.ndarray, score: np.ndarray,
              opt: np.ndarray, pool: np.ndarray) -> Plan:
        """Step 2 of the module docstring."""
        truth_opt = self._labels(opt)
        p_model = al.model_error(probs, label)
        seen = label[opt] >= 0
        kappa = al.error_scale(p_model[opt][seen], label[opt][seen] != truth_opt[seen])
        cand = pool[label[pool] >= 0]
        cand = cand[np.lexsort((cand, -score[cand]))]
        expected = np.concatenate([[0.0], np.cumsum(np.minimum(kappa * p_model[cand], 1.0))])
        best: tuple[int, int, int] = (len(pool), 0, 0)  # effort, k, r
        for k in np.unique(np.linspace(0, len(cand), PLAN_STEPS + 1).astype(int)):
            r = (sample_size(int(k), self.budget, expected[k], self.delta, PLAN_QUANTILE)
                 if k else 0)
            effort = len(pool) - int(k) + r
            if effort < best[0]:
                best = (effort, int(k), r)
        _, k, r = best
        if k:  # keep ties of the score together: C is {pool items with score ≥ θ0}
            k = int((score[cand] >= score[cand[k - 1]]).sum())
        return Plan(cand[:k], score[cand[:k]], label[cand[:k]], r, float(expected[k]),
                    len(pool) - k)

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        split, waiting = self._start()
        if waiting is not None:
            return waiting
        picks: list[list[int]] = self.store.get_state("active_picks", [])
        saved = self.store.get_state("certify")
        r = 0
        while saved is None:
            probs = self._round_probs(split, picks, r)
            self.context.probs = probs
            policy = self._fit_policy(split.optimisation)
            label, score = policy_scores(policy, probs, self.own_score)
            asked = np.asarray(sum(picks[:r], []), dtype=np.int64)
            pool = np.setdiff1d(split.rest, asked)
            plan = self._plan(probs, label, score, split.optimisation, pool)
            batch = self.active.size(len(self.items)) if self.active else 0
            self.log(f"round {r}: plan auto-labels up to {len(plan.candidates)} of {len(pool)} "
                     f"left, checked on a sample of {plan.sample} (≈{plan.expected_errors:.1f} "
                     f"errors expected, budget {self.budget}); {plan.left} left to a person")
            if self.active is None or plan.left <= batch // 2 or r >= self.active.max_rounds:
                saved = self._save_plan(plan, r, policy)
                break
            if r >= len(picks):
                prio = al.uncertainty(probs, score, self.active.pick)
                left = np.setdiff1d(pool, plan.candidates)
                rng = np.random.default_rng([self.seed, r, 7])
                picks.append(al.choose(left, prio, batch, self.active.pick, rng).tolist())
                self.store.set_state("active_picks", picks)
            pending = self._ask(np.asarray(picks[r], dtype=np.int64), f"active-{r}")
            if pending:
                return self._waiting(pending, f"active-learning round {r}")
            r += 1
        return self._certify_and_finish(split, saved)

    def _save_plan(self, plan: Plan, r: int, policy: Any) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, 2**20 + r])
        k = len(plan.candidates)
        sample = (np.sort(rng.choice(k, size=min(plan.sample, k), replace=False)) if k
                  else np.zeros(0, dtype=np.int64))
        saved = {"round": r, "candidates": plan.candidates.tolist(),
                 "scores": plan.scores.tolist(), "labels": plan.labels.tolist(),
                 "sample": [int(plan.candidates[i]) for i in sample],
                 "expected_errors": plan.expected_errors, "solver": _solver_info(policy)}
        self.store.set_state("certify", saved)
        return saved

    def _certify_and_finish(self, split: Split, saved: dict[str, Any]) -> dict[str, Any]:
        cand = np.asarray(saved["candidates"], dtype=np.int64)
        sample = np.asarray(saved["sample"], dtype=np.int64)
        pending = self._ask(sample, "certify")
        if pending:
            return self._waiting(pending, "the certificate's random sample")
        labels = np.asarray(saved["labels"], dtype=np.int64)
        scores = np.asarray(saved["scores"], dtype=np.float64)
        in_sample = np.isin(cand, sample)
        wrong = np.zeros(len(cand), dtype=bool)
        wrong[in_sample] = labels[in_sample] != self._labels(cand[in_sample])
        with self._step("decide"):
            cert = certify(scores, in_sample, wrong, self.alpha, self.delta, len(self.items))
        auto = (scores >= cert.threshold) & ~in_sample
        auto_idx, auto_lab = cand[auto], labels[auto]
        solver = saved["solver"]
        if self.store.get_state("final") is None:
            self._record_auto(auto_idx, auto_lab, solver, saved["round"])
        self.log(cert.statement())
        queue = np.setdiff1d(split.rest, auto_idx)
        pending = self._ask(queue, "manual")
        if pending:
            return self._waiting(pending, "the queue")
        return self._finish(split, auto_idx, auto_lab, solver, saved["round"] + 1,
                            {"certificate": cert.as_dict(), "active_rounds": saved["round"]})

"""The ``ga`` selector: pymoo's genetic algorithm driven through ask/tell, asynchronously.

Each ``propose(observed, candidates, k)`` call:

1. puts the new observations in the cache ``row -> accuracy``;
2. tells the GA the offspring whose accuracy is now known: they are evaluated through
   ``algorithm.evaluator.eval`` (the problem reads the cache, so pymoo's evaluation counter
   advances; setting ``F`` by hand would leave it at 0 and the GA would never move on);
3. asks the GA for ``k - (already proposed)`` offspring, repeatedly, until ``k`` new subdomains
   are proposed. An offspring whose subdomain was evaluated before is answered from the cache and
   told at once (free); the others are proposed and wait for their accuracy (steady-state,
   asynchronous GA: mating uses the population of the offspring told so far). After
   ``max_free_batches`` batches in a row answered only from the cache, the repair also avoids
   every evaluated subdomain, so the search always moves on.

The initial population (``pop_size`` distinct random subdomains) is proposed first and told as a
whole; while part of it is still being evaluated, or when the GA cannot produce new subdomains
(a nearly exhausted domain), the rest of the ``k`` rows are drawn at random (their accuracies
enter the cache like any other). Subdomains evaluated without an accuracy (no valid images) are
dropped and never used again. The GA minimises accuracy: binary tournament selection, uniform
crossover, random-reset mutation, nearest-valid repair, elitist (μ + λ) survival, duplicate
elimination.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.population import Population
from pymoo.operators.crossover.ux import UX
from pymoo.termination.max_gen import MaximumGenerationTermination

from fxcore.contracts import Observations
from fxcore_pymoo.operators import (
    NearestValidRepair,
    RandomResetMutation,
    SubdomainCodes,
    SubdomainProblem,
    ValidRowSampling,
)


class GaParams(BaseModel):
    """Parameters of the ``ga`` selector."""

    model_config = ConfigDict(extra="forbid")

    pop_size: int = Field(20, ge=2, description="population size (the paper: 20)")
    n_offsprings: int | None = Field(
        None, ge=1, description="offspring per generation; default: k of each proposal"
    )
    mutation_rate: float | None = Field(
        None, gt=0, le=1, description="per-gene reset probability; default 1/A"
    )
    max_free_batches: int = Field(
        5, ge=1, description="batches answered only from the cache before forcing new rows"
    )


class GaSelector:
    """Genetic algorithm over the attribute value codes (pymoo ``GA``, ask/tell)."""

    def __init__(
        self,
        pop_size: int = 20,
        n_offsprings: int | None = None,
        mutation_rate: float | None = None,
        max_free_batches: int = 5,
    ) -> None:
        self.pop_size = pop_size
        self.n_offsprings = n_offsprings
        self.mutation_rate = mutation_rate
        self.max_free_batches = max_free_batches

    def setup(self, space: Any, seed: int) -> None:
        self.codes = SubdomainCodes(space.codes)
        n = len(self.codes.codes)
        self.rng = np.random.default_rng(seed)
        self.known = np.full(n, np.nan)  # accuracy of evaluated rows
        self.lost = np.zeros(n, dtype=bool)  # evaluated without an accuracy
        self._avoid_evaluated = False
        self.problem = SubdomainProblem(self.codes, lambda rows: self.known[rows])
        repair = NearestValidRepair(self.codes, self._excluded, self.rng)
        self.algorithm = GA(
            pop_size=min(self.pop_size, n),
            sampling=ValidRowSampling(self.codes),
            crossover=UX(),
            mutation=RandomResetMutation(prob_var=self.mutation_rate),
            repair=repair,
            eliminate_duplicates=True,
            n_offsprings=self.n_offsprings,
        )
        # termination is ours (the budget); pymoo must never stop on its own
        self.algorithm.setup(self.problem, termination=MaximumGenerationTermination(2**62),
                             seed=int(seed))
        self.pending: Population | None = None  # offspring awaiting their accuracy
        self.pending_rows = np.zeros(0, dtype=np.int64)

    def _excluded(self) -> np.ndarray:
        out = self.lost.copy()
        out[self.pending_rows] = True
        if self._avoid_evaluated:
            out |= ~np.isnan(self.known)
        return out

    # ------------------------------------------------------------------ ask / tell
    def _ask(self, n: int) -> tuple[Population, np.ndarray] | None:
        if self.n_offsprings is None:
            self.algorithm.n_offsprings = n
        pop = self.algorithm.ask()
        self._avoid_evaluated = False
        if pop is None or len(pop) == 0:
            return None
        return pop, self.codes.rows(pop.get("X"))

    def _tell(self, pop: Population) -> None:
        if len(pop):
            self.algorithm.evaluator.eval(self.problem, pop, algorithm=self.algorithm)
            self.algorithm.tell(infills=pop)

    def _wait(self, pop: Population, rows: np.ndarray) -> None:
        if self.pending is None:
            self.pending, self.pending_rows = pop, rows
        else:
            self.pending = Population.merge(self.pending, pop)
            self.pending_rows = np.concatenate([self.pending_rows, rows])

    def _tell_ready(self) -> None:
        """Tells the pending offspring whose accuracy is known (the initial population only
        as a whole); those evaluated without an accuracy are dropped."""
        if self.pending is None:
            return
        rows = self.pending_rows
        ready = ~np.isnan(self.known[rows]) | self.lost[rows]
        if not ready.any() or (not self.algorithm.is_initialized and not ready.all()):
            return
        told = self.pending[ready & ~self.lost[rows]]
        rest, rest_rows = self.pending[~ready], rows[~ready]
        self.pending, self.pending_rows = None, np.zeros(0, dtype=np.int64)
        if len(rest):
            self._wait(rest, rest_rows)
        self._tell(told)

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        self.known[np.asarray(observed.rows, dtype=np.int64)] = observed.accuracy
        candidates = np.asarray(candidates, dtype=np.int64)
        free = np.zeros(len(self.known), dtype=bool)
        free[candidates] = True
        # evaluated (not a candidate) yet without an accuracy: no valid images
        self.lost |= ~free & np.isnan(self.known)
        if k < 1 or len(candidates) == 0:
            return np.zeros(0, dtype=np.int64)
        self._tell_ready()
        # offspring proposed before and not evaluated yet come first
        out = [int(r) for r in self.pending_rows if free[r]][:k]
        unproductive = 0
        while len(out) < k and unproductive < 2 * self.max_free_batches:
            if not self.algorithm.is_initialized and self.pending is not None:
                break  # the initial population is told as a whole
            asked = self._ask(k - len(out))
            if asked is None:
                break
            pop, rows = asked
            new = np.isnan(self.known[rows]) & ~self.lost[rows]
            # a genome repaired onto a row already waiting (only when the repair ran out of
            # rows) is dropped, as is an evaluated-without-accuracy one
            _, first = np.unique(rows, return_index=True)
            fresh = new & np.isin(np.arange(len(rows)), first) & ~np.isin(rows, self.pending_rows)
            if self.algorithm.is_initialized:
                self._tell(pop[~new & ~self.lost[rows]])
                if fresh.any():
                    self._wait(pop[fresh], rows[fresh])
            else:
                self._wait(pop, rows)
                self._tell_ready()
            out.extend(int(r) for r in rows[fresh & free[rows]])
            unproductive = 0 if fresh.any() else unproductive + 1
            self._avoid_evaluated = unproductive >= self.max_free_batches
        if len(out) < k:  # initial population still out, or the GA ran dry: random rows
            rest = np.setdiff1d(candidates, np.concatenate([out, self.pending_rows]))
            take = min(k - len(out), len(rest))
            out.extend(int(r) for r in self.rng.choice(rest, size=take, replace=False))
        if not out:  # every candidate is waiting for the caller: propose them again
            out = self.rng.choice(candidates, size=min(k, len(candidates)), replace=False)
        return np.asarray(out[:k], dtype=np.int64)

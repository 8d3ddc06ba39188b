"""pymoo pieces for a search over subdomains encoded as attribute value codes.

A genome ``x ∈ ∏_j {0..m_j-1}`` holds one value code per attribute. The attributes are
categorical, so the operators ignore any order of the codes: uniform crossover (pymoo's ``UX``)
and random-reset mutation (each gene redrawn uniformly with probability ``1/A``). Invalid
combinations are repaired to the nearest valid subdomain in Hamming distance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.core.sampling import Sampling


class SubdomainCodes:
    """The valid rows of a code matrix, with exact look-up and nearest-row search."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.asarray(codes, dtype=np.int64)
        self.sizes = self.codes.max(axis=0) + 1
        self._strides = np.concatenate([np.cumprod(self.sizes[::-1])[::-1][1:], [1]])
        self._row_of = {int(key): i for i, key in enumerate(self.codes @ self._strides)}

    def row(self, x: np.ndarray) -> int:
        """Row of the valid genome ``x``; ``KeyError`` when ``x`` is not a valid subdomain."""
        return self._row_of[int(np.asarray(x, dtype=np.int64) @ self._strides)]

    def rows(self, X: np.ndarray) -> np.ndarray:
        return np.array([self.row(x) for x in X], dtype=np.int64)

    def nearest(
        self, x: np.ndarray, excluded: np.ndarray, rng: np.random.Generator
    ) -> int:
        """A row at the least Hamming distance from ``x`` among the rows not ``excluded``
        (a boolean mask); ties are drawn with ``rng``. ``-1`` when every row is excluded."""
        dist = (self.codes != np.asarray(x, dtype=np.int64)).sum(axis=1)
        dist = np.where(excluded, np.iinfo(np.int64).max, dist)
        best = dist.min()
        if best == np.iinfo(np.int64).max:
            return -1
        ties = np.flatnonzero(dist == best)
        return int(ties[0] if len(ties) == 1 else rng.choice(ties))


class SubdomainProblem(Problem):
    """Minimise the accuracy of a subdomain; ``lookup(rows)`` gives the known accuracies."""

    def __init__(self, space: SubdomainCodes, lookup: Callable[[np.ndarray], np.ndarray]):
        super().__init__(
            n_var=space.codes.shape[1], n_obj=1, xl=0, xu=space.sizes - 1, vtype=int
        )
        self.space = space
        self.lookup = lookup

    def _evaluate(self, X, out, *args, **kwargs):  # type: ignore[no-untyped-def]
        out["F"] = self.lookup(self.space.rows(np.asarray(X, dtype=np.int64)))[:, None]


class ValidRowSampling(Sampling):
    """Initial population: distinct valid subdomains drawn uniformly."""

    def __init__(self, space: SubdomainCodes) -> None:
        super().__init__()
        self.space = space

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):  # type: ignore[no-untyped-def]
        n = min(n_samples, len(self.space.codes))
        return self.space.codes[random_state.choice(len(self.space.codes), n, replace=False)]


class RandomResetMutation(Mutation):
    """Each gene is redrawn uniformly from its attribute's values with probability
    ``prob_var`` (default ``1/A``): the categorical analogue of bit-flip mutation."""

    def _do(self, problem, X, *args, random_state=None, **kwargs):  # type: ignore[no-untyped-def]
        X = np.asarray(X, dtype=np.int64).copy()
        prob_var = self.get_prob_var(problem, size=(len(X), 1))
        hit = random_state.random(X.shape) < prob_var
        draws = np.floor(random_state.random(X.shape) * (problem.xu + 1)).astype(np.int64)
        X[hit] = draws[hit]
        return X


class NearestValidRepair(Repair):
    """Moves each genome to the nearest valid subdomain (Hamming distance on the codes).

    Genomes of one batch go to distinct subdomains. ``excluded()`` returns a boolean mask of
    rows never to use (subdomains evaluated without an accuracy, and, after a stall, every
    evaluated one); evaluated rows are otherwise allowed: their accuracy is known, so the GA
    gets it for free.
    """

    def __init__(self, space: SubdomainCodes, excluded: Callable[[], np.ndarray],
                 rng: np.random.Generator) -> None:
        super().__init__()
        self.space = space
        self.excluded = excluded
        self.rng = rng

    def _do(self, problem, X, *args, random_state=None, **kwargs):  # type: ignore[no-untyped-def]
        rng = random_state if random_state is not None else self.rng
        taken = self.excluded().copy()
        out = np.asarray(X, dtype=np.int64).copy()
        for i, x in enumerate(out):
            row = self.space.nearest(x, taken, rng)
            if row < 0:  # nothing left: keep the genome, duplicate elimination drops it
                row = self.space.nearest(x, np.zeros_like(taken), rng)
            out[i] = self.space.codes[row]
            taken[row] = True
        return out

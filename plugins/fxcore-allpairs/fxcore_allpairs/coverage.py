"""t-way coverage of a set of valid subdomains: exact check and greedy completion.

A *t-tuple* is an assignment of values to ``t`` of the ``A`` attributes. Only t-tuples that
occur in at least one valid subdomain can be covered (the others are excluded by the invalid
combinations), so the *required* tuples are the projections of the valid rows of the code
matrix onto every subset of ``t`` attributes. A set of rows is a t-way covering set when its
projections contain every required tuple.

Tuples get compact integer ids (``TupleIndex``), so checking coverage is one boolean gather
and the greedy completion (repeatedly add the row that covers the most uncovered tuples, the
classical greedy set cover, within ``ln(#tuples) + 1`` of the optimum size) is a few vector
operations per added row.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np


class TupleIndex:
    """Compact ids of the t-tuples of the valid rows ``codes`` (n, A).

    ``ids[i, c]`` is the id of row ``i``'s tuple on the ``c``-th attribute subset
    ``subsets[c]``; ids run over ``0..n_tuples-1`` and are exactly the required tuples.
    """

    def __init__(self, codes: np.ndarray, t: int) -> None:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or len(codes) == 0:
            raise ValueError("codes must be a non-empty (n, A) matrix")
        n_attr = codes.shape[1]
        if not 1 <= t <= n_attr:
            raise ValueError(f"t={t} must be between 1 and the number of attributes ({n_attr})")
        self.codes = codes
        self.t = t
        self.subsets: list[tuple[int, ...]] = list(combinations(range(n_attr), t))
        sizes = codes.max(axis=0) + 1
        raw = np.empty((len(codes), len(self.subsets)), dtype=np.int64)
        offset = 0
        for c, attrs in enumerate(self.subsets):
            dims = tuple(int(sizes[a]) for a in attrs)
            raw[:, c] = offset + np.ravel_multi_index(codes[:, attrs].T, dims)
            offset += int(np.prod(dims))
        uniq, inverse = np.unique(raw, return_inverse=True)
        self.ids: np.ndarray = inverse.reshape(raw.shape)
        self.n_tuples = len(uniq)

    def covered(self, rows: np.ndarray) -> np.ndarray:
        """Boolean mask over tuple ids: covered by at least one of ``rows``."""
        mask = np.zeros(self.n_tuples, dtype=bool)
        mask[self.ids[np.asarray(rows, dtype=np.int64)].ravel()] = True
        return mask

    def uncovered(self, rows: np.ndarray) -> list[dict[int, int]]:
        """The required tuples ``rows`` miss, each as ``{attribute: value code}``."""
        missing = np.flatnonzero(~self.covered(rows))
        out = []
        for tid in missing:
            i, c = np.argwhere(self.ids == tid)[0]
            attrs = self.subsets[c]
            out.append({a: int(self.codes[i, a]) for a in attrs})
        return out

    def is_covering(self, rows: np.ndarray) -> bool:
        return bool(self.covered(rows).all())

    def greedy_completion(
        self, rows: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Rows to append to ``rows`` so that every required tuple is covered.

        Greedy set cover: each step adds the row covering the most still-uncovered tuples.
        Ties go to a row drawn with ``rng`` (ties carry no information, and for ``t = A`` every
        remaining row ties), or to the lowest row index when ``rng`` is ``None``.
        """
        covered = self.covered(rows)
        extra: list[int] = []
        gain = (~covered[self.ids]).sum(axis=1)
        while not covered.all():
            top = np.flatnonzero(gain == gain.max())
            best = int(top[0] if rng is None else rng.choice(top))
            extra.append(best)
            newly = self.ids[best][~covered[self.ids[best]]]
            covered[newly] = True
            # only rows sharing a newly covered tuple lose gain
            touched = np.isin(self.ids, newly)
            gain -= touched.sum(axis=1)
        return np.asarray(extra, dtype=np.int64)

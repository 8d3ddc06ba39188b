"""Features of subdomains: one-hot attributes (first level dropped), optionally their pairwise
products across attributes (the interaction terms x_a·x_b of a second-order model)."""

from __future__ import annotations

import numpy as np


def one_hot_features(space, interactions: bool = False,  # type: ignore[no-untyped-def]
                     drop_first: bool = True) -> np.ndarray:
    """``(n_subdomains, d)``: ``space.one_hot(drop_first)``, plus, with ``interactions``,
    the product of every pair of columns that belong to different attributes."""
    x = space.one_hot(drop_first=drop_first)
    if not interactions:
        return x
    per = [len(a.values) - int(drop_first) for a in space.attributes]
    owner = np.concatenate([np.full(k, j) for j, k in enumerate(per)])
    i, j = np.triu_indices(x.shape[1], k=1)
    cross = owner[i] != owner[j]
    return np.concatenate([x, x[:, i[cross]] * x[:, j[cross]]], axis=1)

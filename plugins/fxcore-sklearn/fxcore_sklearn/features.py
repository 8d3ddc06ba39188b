"""Features of subdomains: one-hot attributes (first level dropped), optionally their pairwise
products across attributes (the interaction terms x_a·x_b of a second-order model)."""

from __future__ import annotations

import numpy as np


def one_hot_features(space, interactions: bool = False) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``(n_subdomains, d)``: ``space.one_hot(drop_first=True)``, plus, with ``interactions``,
    the product of every pair of columns that belong to different attributes."""
    x = space.one_hot(drop_first=True)
    if not interactions:
        return x
    owner = np.concatenate([np.full(len(a.values) - 1, j) for j, a in enumerate(space.attributes)])
    i, j = np.triu_indices(x.shape[1], k=1)
    cross = owner[i] != owner[j]
    return np.concatenate([x, x[:, i[cross]] * x[:, j[cross]]], axis=1)

"""OPAL step 1: choose the items a person labels first, and split them.

Represent items by vectors (classifier features or pixels), project them on their first two
principal components, cluster (k-means, as OPAL's replication code does and the default here; or
DBSCAN, as the paper's text says), then draw equally from each cluster until ``⌈h·N⌉`` items
are selected. The selection is split into an optimisation set of size
``m = min(max_optimisation, ⌊h·N/2⌋)`` and a fine-tuning set (the remainder); every other item
is *rest*, to be labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from fxcore.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Item indices of the three parts (disjoint, together all items) and the cluster labels."""

    finetune: np.ndarray
    optimisation: np.ndarray
    rest: np.ndarray
    clusters: np.ndarray

    def as_dict(self) -> dict[str, list[int]]:
        return {
            "finetune": self.finetune.tolist(),
            "optimisation": self.optimisation.tolist(),
            "rest": self.rest.tolist(),
            "clusters": self.clusters.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, list[int]]) -> Split:
        return cls(*(np.asarray(d[k], dtype=np.int64)
                     for k in ("finetune", "optimisation", "rest", "clusters")))


def pca2(x: np.ndarray) -> np.ndarray:
    """Scores of ``x (N, D)`` on its first two principal components (``(N, 2)``)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise ConfigError("split: the item representation contains NaN or infinite values")
    x = x - x.mean(axis=0)
    if x.shape[1] <= 2:
        return np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    cov = x.T @ x
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    top = vecs[:, ::-1][:, :2]
    return x @ top


def kmeans_clusters(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means (k-means++ start) labels of the points ``z``; ``k`` is capped by ``len(z)``."""
    k = max(1, min(k, len(np.unique(z, axis=0))))
    rng = np.random.default_rng(seed)
    _, labels = kmeans2(z, k, minit="++", seed=rng)
    return np.asarray(labels, dtype=np.int64)


def dbscan_clusters(z: np.ndarray, eps: float | None, min_samples: int) -> np.ndarray:
    """DBSCAN labels (Ester et al. 1996); noise points form one extra cluster ``-1``.

    ``eps`` defaults to the median distance to the ``min_samples``-th neighbour.
    """
    tree = cKDTree(z)
    if eps is None:
        kth = min(min_samples, len(z) - 1)
        dist, _ = tree.query(z, k=kth + 1)
        eps = float(np.median(dist[:, -1])) or 1e-12
    neigh = tree.query_ball_point(z, r=eps)
    core = np.array([len(n) >= min_samples for n in neigh])
    labels = np.full(len(z), -1, dtype=np.int64)
    cluster = 0
    for start in np.flatnonzero(core):
        if labels[start] != -1:
            continue
        labels[start] = cluster
        stack = [start]
        while stack:
            p = stack.pop()
            if not core[p]:
                continue
            for q in neigh[p]:
                if labels[q] == -1:
                    labels[q] = cluster
                    stack.append(q)
        cluster += 1
    return labels


def draw_equally(clusters: np.ndarray, n_select: int, rng: np.random.Generator) -> np.ndarray:
    """Round-robin over clusters, random within each, until ``n_select`` items are drawn."""
    order = rng.permutation(len(clusters))
    ids, inverse = np.unique(clusters[order], return_inverse=True)
    rank = np.zeros(len(order), dtype=np.int64)
    for c in range(len(ids)):
        members = np.flatnonzero(inverse == c)
        rank[members] = np.arange(len(members))
    cluster_turn = rng.permutation(len(ids))[inverse]
    take = np.lexsort((cluster_turn, rank))[:n_select]
    return order[take]


def optimisation_size(n_items: int, fraction: float, max_optimisation: int) -> int:
    """``m = min(max_optimisation, ⌊h·N/2⌋)``."""
    return min(max_optimisation, math.ceil(fraction * n_items) // 2)


def split_items(
    representation: np.ndarray,
    fraction: float,
    method: str = "kmeans-pca",
    n_clusters: int = 10,
    eps: float | None = None,
    min_samples: int = 5,
    max_optimisation: int = 1000,
    seed: int = 0,
) -> Split:
    """OPAL step 1 on ``representation (N, D)``; see the module docstring."""
    n = len(representation)
    n_select = math.ceil(fraction * n)
    m = optimisation_size(n, fraction, max_optimisation)
    if m < 1 or n_select - m < 1 or n - n_select < 1:
        raise ConfigError(
            f"split: {n} items with split.fraction={fraction} select {n_select}, which leaves "
            f"an optimisation set of {m}, a fine-tuning set of {n_select - m} and "
            f"{n - n_select} items to label; each needs at least 1 (use more items or change h)"
        )
    z = pca2(representation)
    if method == "kmeans-pca":
        clusters = kmeans_clusters(z, n_clusters, seed)
    elif method == "dbscan":
        clusters = dbscan_clusters(z, eps, min_samples)
    else:
        raise ConfigError(f"split.method: unknown method {method!r} (kmeans-pca, dbscan)")
    rng = np.random.default_rng(seed)
    selected = draw_equally(clusters, n_select, rng)
    selected = rng.permutation(selected)
    optimisation = np.sort(selected[:m])
    finetune = np.sort(selected[m:])
    rest = np.setdiff1d(np.arange(n), selected)
    return Split(finetune, optimisation, rest, clusters)

"""What an ``mds`` run records: top-n predictions, the hierarchical set distance, Δz.

The set distance between two classifiers' top-n prediction sets is GeValDi's eq. 4,
``d(C1, C2) = mean_{c_i ∈ C1, c_j ∈ C2} H_w(c_i, c_j)`` (:mod:`fxcore.hierarchy`); with M > 2
classifiers the recorded value is the mean over the M(M-1)/2 pairs. Which hierarchy is used:

- ``"imagenet"``: the shipped WordNet 3.0 ImageNet-1k tree (classes matched by id or name,
  or by index when there are exactly 1000 classes);
- a path to a JSON tree (any format :meth:`ClassHierarchy.from_json` reads);
- ``"flat"``: every class a child of one root (``H_w`` is 0 for equal classes, 1 otherwise);
- ``"auto"`` (default): ImageNet for 1000 classes, the shipped MNIST digits or Fashion-MNIST tree
  when the class names are exactly theirs, otherwise flat.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import combinations

import numpy as np
import torch

from fxcore.errors import ConfigError
from fxcore.hierarchy import ClassHierarchy

#: shipped trees for small label sets (package data under fxcore/data)
SHIPPED_TREES: dict[str, str] = {
    "mnist-digits": "mnist_digits_hierarchy.json",
    "fashion-mnist": "fashion_mnist_hierarchy.json",
}


def shipped_tree(name: str) -> ClassHierarchy:
    """One of :data:`SHIPPED_TREES` by key."""
    text = (resources.files("fxcore") / "data" / SHIPPED_TREES[name]).read_text("utf-8")
    return ClassHierarchy.from_dict(json.loads(text))


def flat_tree(classes: Sequence[str]) -> ClassHierarchy:
    """All classes are children of one root ``"(all)"``."""
    return ClassHierarchy({c: ["(all)"] for c in classes}, list(classes), "(all)")


@dataclass
class ClassMap:
    """A hierarchy plus, for each classifier class index, the hierarchy node it is."""

    hierarchy: ClassHierarchy
    nodes: list[str]
    source: str

    def set_distance(self, a: Sequence[int], b: Sequence[int]) -> float:
        return self.hierarchy.set_distance([self.nodes[i] for i in a], [self.nodes[i] for i in b])


def _map_classes(h: ClassHierarchy, classes: Sequence[str], source: str) -> ClassMap:
    nodes = []
    for j, c in enumerate(classes):
        try:
            nodes.append(h.wnid(c))
        except KeyError as exc:
            if len(classes) == len(h):
                nodes.append(h.wnid(j))  # same size: class index j is hierarchy class j
                continue
            msg = f"hierarchy: classifier class {c!r} is not in {source}: {exc}"
            raise ConfigError(msg) from None
    return ClassMap(h, nodes, source)


def resolve_hierarchy(spec: str, classes: Sequence[str]) -> ClassMap:
    """The hierarchy named by the config field ``hierarchy`` for these classifier classes."""
    if spec == "flat":
        return ClassMap(flat_tree(classes), list(classes), "flat")
    if spec == "imagenet":
        return _map_classes(ClassHierarchy.imagenet(), classes, "the ImageNet hierarchy")
    if spec != "auto":
        try:
            h = ClassHierarchy.from_json(spec)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"hierarchy: cannot read {spec}: {exc}") from None
        return _map_classes(h, classes, spec)
    if len(classes) == 1000:
        return _map_classes(ClassHierarchy.imagenet(), classes, "imagenet")
    wanted = {c.casefold() for c in classes}
    for key in SHIPPED_TREES:
        h = shipped_tree(key)
        if {h.name(c).casefold() for c in h.classes} == wanted:
            return _map_classes(h, classes, key)
    return ClassMap(flat_tree(classes), list(classes), "flat")


def top_n(probs: torch.Tensor, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``probs (M, N, C)`` -> top-n class indices and probabilities, each ``(M, N, n)``."""
    values, idx = probs.detach().topk(min(n, probs.shape[-1]), dim=-1)
    return idx.cpu().numpy(), values.cpu().numpy()


def set_distances(cmap: ClassMap, top: np.ndarray) -> np.ndarray:
    """``top (M, N, n)`` class indices -> ``(N,)`` mean pairwise top-n set distance."""
    m, n = top.shape[:2]
    pairs = list(combinations(range(m), 2))
    out = np.zeros(n)
    for i in range(n):
        out[i] = np.mean([cmap.set_distance(top[a, i], top[b, i]) for a, b in pairs])
    return out


def relative_change(z: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
    """Δz = ‖z − z_init‖₂ / ‖z_init‖₂ per row (Euclidean norm over the latent dimensions)."""
    diff = (z - z0).flatten(1).norm(dim=1)
    return diff / z0.flatten(1).norm(dim=1).clamp_min(1e-12)


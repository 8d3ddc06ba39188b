"""Class grouping: a task label may stand for a set of a classifier's classes.

The BO paper's "dog" is the sum of the ImageNet dog classes' probabilities. A
:class:`ClassGrouping` maps each label to the indices of its member classes and turns a
classifier's ``(N, C)`` probabilities into ``(N, G)`` grouped probabilities: one column per label
(members summed) followed by one column per class that belongs to no label. It works on numpy
arrays and on torch tensors (differentiably, for ``mds``).

Members are written as class names (``"7"``, ``"tabby"``), class indices (``281``) or
``"wordnet:<id or name>"`` (``"wordnet:n02084071"``: every ImageNet class under WordNet's "dog";
needs a classifier with the 1000 ImageNet-1k classes in their usual order).

Decision rules (``correct``):

- ``argmax``: an image is correct when its true label's grouped probability is strictly larger
  than every other column (every other label and every ungrouped class).
- ``vs_rest``: the paper's two-way rule, P(true label) > P(everything else), i.e. > 0.5.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from fxcore.errors import ConfigError

Member = int | str
Rule = Literal["argmax", "vs_rest"]
WORDNET = "wordnet:"


def resolve_members(
    classes: Sequence[str], refs: Iterable[Member], where: str = "true_classes"
) -> list[int]:
    """Sorted class indices named by ``refs``; a one-line :class:`ConfigError` names a bad one."""
    out: set[int] = set()
    lower: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        lower.setdefault(str(c).casefold(), []).append(i)
    exact = {str(c): i for i, c in enumerate(classes)}
    for ref in refs:
        if isinstance(ref, bool):
            raise ConfigError(f"{where}: {ref!r} is not a class name or index")
        if isinstance(ref, (int, np.integer)):
            if not 0 <= int(ref) < len(classes):
                raise ConfigError(f"{where}: class index {ref} outside 0..{len(classes) - 1}")
            out.add(int(ref))
        elif isinstance(ref, str) and ref.startswith(WORDNET):
            out.update(_wordnet(classes, ref[len(WORDNET):], where))
        elif isinstance(ref, str) and ref in exact:
            out.add(exact[ref])
        elif isinstance(ref, str) and len(lower.get(ref.casefold(), [])) == 1:
            out.add(lower[ref.casefold()][0])
        else:
            folded = {str(c).casefold(): str(c) for c in classes}
            close = difflib.get_close_matches(str(ref).casefold(), list(folded), n=3)
            hint = f"; did you mean {', '.join(repr(folded[c]) for c in close)}?" if close else ""
            raise ConfigError(
                f"{where}: {ref!r} is not one of the classifier's {len(classes)} classes{hint}"
            )
    if not out:
        raise ConfigError(f"{where}: the group is empty")
    return sorted(out)


def _wordnet(classes: Sequence[str], ref: str, where: str) -> list[int]:
    from fxcore.hierarchy import ClassHierarchy

    tree = ClassHierarchy.imagenet()
    if len(classes) != len(tree):
        raise ConfigError(
            f"{where}: 'wordnet:{ref}' needs a classifier with the {len(tree)} ImageNet-1k "
            f"classes; this one has {len(classes)}"
        )
    try:
        found = tree.descendants(ref)
    except KeyError as exc:
        raise ConfigError(f"{where}: 'wordnet:{ref}': {exc.args[0]}") from None
    if not found:
        raise ConfigError(f"{where}: 'wordnet:{ref}' has no ImageNet class below it")
    return found


class ClassGrouping:
    """Labels -> member classes of one classifier; ``columns`` = labels + ungrouped classes.

    Args:
        classes: the classifier's class names (its output columns).
        groups: label -> member class indices; groups must be disjoint.
    """

    def __init__(self, classes: Sequence[str], groups: Mapping[str, Sequence[int]]) -> None:
        self.classes = [str(c) for c in classes]
        self.groups = {label: sorted(int(i) for i in m) for label, m in groups.items()}
        owner: dict[int, str] = {}
        for label, members in self.groups.items():
            for i in members:
                if i in owner:
                    raise ConfigError(
                        f"true_classes: class {self.classes[i]!r} is in both {owner[i]!r} "
                        f"and {label!r} (groups must not overlap)"
                    )
                owner[i] = label
        ungrouped = [i for i in range(len(self.classes)) if i not in owner]
        self.columns: list[str] = [*self.groups, *(self.classes[i] for i in ungrouped)]
        matrix = np.zeros((len(self.classes), len(self.columns)), dtype=np.float32)
        for g, members in enumerate(self.groups.values()):
            matrix[members, g] = 1.0
        for g, i in enumerate(ungrouped, start=len(self.groups)):
            matrix[i, g] = 1.0
        self.matrix = matrix
        self._column = {label: g for g, label in enumerate(self.groups)}

    @classmethod
    def build(
        cls,
        classes: Sequence[str],
        labels: Iterable[str],
        members: Mapping[str, Sequence[Member]] | None = None,
        where: str = "true_classes",
    ) -> ClassGrouping:
        """Group for each label: ``members[label]`` if given, else the class named ``label``."""
        members = members or {}
        groups = {}
        for label in labels:
            refs = members.get(label, [label])
            path = f"{where}.{label}" if label in members else f"{where} (label {label!r})"
            groups[label] = resolve_members(classes, refs, path)
        return cls(classes, groups)

    def column(self, label: str) -> int:
        return self._column[label]

    def grouped(self, probs: Any) -> Any:
        """``(N, C)`` probabilities -> ``(N, G)``: members summed (numpy or torch, same type)."""
        if probs.shape[-1] != len(self.classes):
            raise ValueError(
                f"probabilities have {probs.shape[-1]} columns; the classifier has "
                f"{len(self.classes)} classes"
            )
        if isinstance(probs, torch.Tensor):
            m = torch.as_tensor(self.matrix, dtype=probs.dtype, device=probs.device)
            return probs @ m
        return np.asarray(probs, dtype=np.float64) @ self.matrix.astype(np.float64)

    def score(
        self, probs: Any, label: str, rule: Rule = "argmax"
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(correct (N,) bool, p_true (N,), predicted column per image)`` for true ``label``."""
        grouped = self.grouped(probs)
        if isinstance(grouped, torch.Tensor):
            grouped = grouped.detach().cpu().double().numpy()
        g = self.column(label)
        p_true = grouped[:, g]
        if rule == "vs_rest":
            correct = p_true > 1.0 - p_true
        else:
            others = np.delete(grouped, g, axis=1)
            best_other = others.max(axis=1) if others.shape[1] else np.zeros(len(p_true))
            correct = p_true > best_other
        predicted = [self.columns[j] for j in grouped.argmax(axis=1)]
        return correct, p_true, predicted

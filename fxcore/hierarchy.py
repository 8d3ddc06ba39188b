"""Class hierarchies and the hierarchical distance between classes and prediction sets.

``H_w(a, b)`` is half the length of the shortest path between classes ``a`` and ``b`` in the
undirected hypernym graph (GeValDi, eq. 4); ``d(C1, C2)`` is the mean of ``H_w`` over all pairs of
a class from ``C1`` and a class from ``C2``. ``ClassHierarchy.imagenet()`` gives the WordNet 3.0
hierarchy of the ImageNet-1k classes (shipped as package data, built by
``scripts/build_imagenet_hierarchy.py``); ``ClassHierarchy.from_json(path)`` reads a user's tree.
See ``docs/hierarchy.md`` for the file formats.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

ClassRef = int | str
"""A class or node: a class index (int), a node id (``"n02085620"``) or an unambiguous name."""

_FLAT_KEYS = {"format", "source", "root", "classes", "names", "parents", "nodes"}


class ClassHierarchy:
    """A rooted DAG of named nodes, some of which are the classes of a classifier (in index order).

    Args:
        parents: node id -> ids of its parents; every node but the root needs at least one.
        classes: node ids of the classes, in class-index order.
        root: the id of the root node (it has no parents).
        names: node id -> its names (the first is the display name); default: the id itself.
    """

    def __init__(
        self,
        parents: Mapping[str, Sequence[str]],
        classes: Sequence[str],
        root: str,
        names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        ids = [root, *(n for n in parents if n != root)]
        self._parents = {n: list(parents.get(n, ())) for n in ids}
        _validate(self._parents, root, classes)
        self.root = root
        self.classes: list[str] = list(classes)
        self._ids = ids
        self._pos = {n: i for i, n in enumerate(ids)}
        self._class_index = {c: i for i, c in enumerate(self.classes)}
        names = names or {}
        self._names = {n: list(names.get(n) or [n]) for n in ids}
        self._by_name: dict[str, set[str]] = {}
        for n in ids:
            for label in {n, *self._names[n]}:
                self._by_name.setdefault(label.casefold(), set()).add(n)
        self._children: dict[str, list[str]] = {n: [] for n in ids}
        self._adj: list[list[int]] = [[] for _ in ids]
        for child, ps in self._parents.items():
            for p in ps:
                self._children[p].append(child)
                self._adj[self._pos[child]].append(self._pos[p])
                self._adj[self._pos[p]].append(self._pos[child])
        self._rows: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def imagenet(cls) -> ClassHierarchy:
        """The WordNet 3.0 hierarchy of the 1000 ImageNet-1k classes (loaded once, cached)."""
        return _imagenet()

    @classmethod
    def from_json(cls, path: str | Path) -> ClassHierarchy:
        """Read a hierarchy file (flat ``parents``, nested tree, or the shipped ``nodes`` format).

        Raises:
            ValueError: naming the file, if it is not JSON or does not describe a rooted DAG.
        """
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        try:
            return cls.from_dict(doc)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_dict(cls, doc: Any) -> ClassHierarchy:
        """Build a hierarchy from an already parsed document (see :meth:`from_json`)."""
        if not isinstance(doc, dict) or not doc:
            raise ValueError("expected a JSON object describing a hierarchy")
        if "nodes" not in doc and "parents" not in doc:
            return cls._from_nested(doc)
        unknown = sorted(set(doc) - _FLAT_KEYS)
        if unknown:
            raise ValueError(f"unknown top-level keys {unknown}; allowed: {sorted(_FLAT_KEYS)}")
        names: dict[str, list[str]] = {}
        if "nodes" in doc:  # the shipped format: {id: {"names": [...], "parents": [...]}}
            nodes = _expect_dict(doc["nodes"], "'nodes'")
            for n, v in nodes.items():
                _expect_dict(v, f"node {n!r}")
            parents = {n: _str_list(v.get("parents", []), n) for n, v in nodes.items()}
            names = {n: _str_list(v.get("names", [n]), n) for n, v in nodes.items()}
        else:  # the flat format: {child: parent or [parents]}
            parents = {
                n: _str_list(v, n) for n, v in _expect_dict(doc["parents"], "'parents'").items()
            }
            raw_names = _expect_dict(doc.get("names", {}), "'names'")
            names = {n: _str_list(v, n) for n, v in raw_names.items()}
        root = doc.get("root") or _infer_root(parents)
        if not isinstance(root, str):
            raise ValueError(f"'root' must be a string, got {root!r}")
        classes = _str_list(doc.get("classes") or _leaves(parents, root), "'classes'")
        return cls(parents, classes, root, names)

    @classmethod
    def _from_nested(cls, doc: dict[str, Any]) -> ClassHierarchy:
        """``{"root": {"child": {"leaf": {}, ...}, "other": ["leaf", ...]}}``."""
        if len(doc) != 1:
            raise ValueError(
                "a nested tree needs exactly one top-level key (the root); "
                f"got {len(doc)}: {sorted(doc)[:5]}; a flat file needs a 'parents' key"
            )
        ((root, subtree),) = doc.items()
        parents: dict[str, list[str]] = {}
        leaves: list[str] = []
        _walk_nested(root, subtree, parents, leaves)
        return cls(parents, leaves or [root], root)

    # ------------------------------------------------------------------ lookup

    def __len__(self) -> int:
        """The number of classes."""
        return len(self.classes)

    def __contains__(self, ref: object) -> bool:
        try:
            self.wnid(ref)  # type: ignore[arg-type]
        except KeyError:
            return False
        return True

    def wnid(self, ref: ClassRef) -> str:
        """The node id (ImageNet/WordNet id for ImageNet) of a class index, id or name."""
        if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
            if not 0 <= ref < len(self.classes):
                raise KeyError(f"class index {ref} out of range 0..{len(self.classes) - 1}")
            return self.classes[int(ref)]
        if not isinstance(ref, str):
            raise KeyError(f"expected a class index, id or name, got {type(ref).__name__} {ref!r}")
        if ref in self._pos:
            return ref
        found = self._by_name.get(ref.casefold())
        if not found:
            raise KeyError(f"unknown class or node {ref!r}")
        if len(found) > 1:
            options = ", ".join(f"{n} ({self.name(n)})" for n in sorted(found))
            raise KeyError(f"ambiguous name {ref!r}: use an id, one of {options}")
        return next(iter(found))

    def name(self, ref: ClassRef) -> str:
        """The display name (first lemma) of a class or node."""
        return self._names[self.wnid(ref)][0]

    def unique_names(self) -> list[str]:
        """Display names of the classes in index order, made unique: a name shared by several
        classes carries its id (ImageNet: ``"crane (n02012849)"``, ``"crane (n03126707)"``), so
        each name maps back to exactly one class."""
        names = [self.name(i) for i in range(len(self))]
        counts = Counter(names)
        return [f"{n} ({self.wnid(i)})" if counts[n] > 1 else n for i, n in enumerate(names)]

    def names(self, ref: ClassRef) -> list[str]:
        """All names (lemmas) of a class or node."""
        return list(self._names[self.wnid(ref)])

    def index(self, ref: ClassRef) -> int:
        """The class index of a class; ``KeyError`` for an inner node that is not a class."""
        node = self.wnid(ref)
        if node not in self._class_index:
            raise KeyError(f"{node} ({self.name(node)}) is a node of the hierarchy, not a class")
        return self._class_index[node]

    def parents(self, ref: ClassRef) -> list[str]:
        """The ids of the direct parents (hypernyms) of a class or node."""
        return list(self._parents[self.wnid(ref)])

    def descendants(self, ref: ClassRef) -> list[int]:
        """Sorted indices of the classes at or below a node, e.g. all dogs under ``n02084071``."""
        # ImageNet "dog, domestic dog" (n02084071) has 118 classes below it in WordNet 3.0: the
        # contiguous indices 151..268 (Chihuahua .. Mexican hairless). Counts of 119 elsewhere
        # (e.g. the BO paper) fit an inclusive-range slip such as range(151, 270), which adds
        # 269 "timber wolf"; 120 is the number of breeds in Stanford Dogs, not in ImageNet-1k.
        start = self.wnid(ref)
        seen, stack = {start}, [start]
        while stack:
            for child in self._children[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return sorted(self._class_index[n] for n in seen if n in self._class_index)

    # ------------------------------------------------------------------ distances

    def distance(self, a: ClassRef, b: ClassRef) -> float:
        """``H_w(a, b)``: half the shortest-path length between ``a`` and ``b`` (0 if equal)."""
        return float(self._row(self._pos[self.wnid(a)])[self._pos[self.wnid(b)]]) / 2.0

    def set_distance(self, c1: Iterable[ClassRef], c2: Iterable[ClassRef]) -> float:
        """``d(C1, C2)``: the mean of ``H_w(c_i, c_j)`` over all pairs ``c_i in C1, c_j in C2``."""
        a = [self._pos[self.wnid(c)] for c in c1]
        b = np.fromiter((self._pos[self.wnid(c)] for c in c2), dtype=np.intp)
        if not a or not b.size:
            raise ValueError("set_distance needs two non-empty sets of classes")
        total = sum(int(self._row(i)[b].sum()) for i in a)
        return total / (2.0 * len(a) * b.size)

    def _row(self, source: int) -> np.ndarray:
        """Path lengths from node ``source`` to every node (BFS, cached per source)."""
        row = self._rows.get(source)
        if row is None:
            row = np.full(len(self._ids), -1, dtype=np.int32)
            row[source] = 0
            queue = deque([source])
            while queue:
                u = queue.popleft()
                for v in self._adj[u]:
                    if row[v] < 0:
                        row[v] = row[u] + 1
                        queue.append(v)
            self._rows[source] = row
        return row

    def __repr__(self) -> str:
        n_classes, n_nodes = len(self.classes), len(self._ids)
        return f"ClassHierarchy({n_classes} classes, {n_nodes} nodes, root={self.root!r})"


@functools.cache
def _imagenet() -> ClassHierarchy:
    text = (resources.files("fxcore") / "data" / "imagenet_hierarchy.json").read_text("utf-8")
    return ClassHierarchy.from_dict(json.loads(text))


# ---------------------------------------------------------------------- parsing and validation


def _expect_dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _str_list(value: Any, owner: str) -> list[str]:
    """A string or a list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{owner}: expected a string or a list of strings, got {value!r}")


def _infer_root(parents: Mapping[str, Sequence[str]]) -> str:
    """The single node that is nobody's child: a parent that has no entry, or an entry with []."""
    roots = {p for ps in parents.values() for p in ps if p not in parents}
    roots |= {n for n, ps in parents.items() if not ps}
    if len(roots) != 1:
        raise ValueError(f"cannot infer the root: candidates {sorted(roots)[:5]}; give 'root'")
    return roots.pop()


def _leaves(parents: Mapping[str, Sequence[str]], root: str) -> list[str]:
    """Nodes without children, in order of appearance: the default class list."""
    inner = {p for ps in parents.values() for p in ps}
    return [n for n in parents if n not in inner and n != root] or [root]


def _walk_nested(node: str, subtree: Any, parents: dict[str, list[str]], leaves: list[str]) -> None:
    parents.setdefault(node, [])
    if subtree is None or subtree == {} or subtree == []:
        leaves.append(node)
        return
    if isinstance(subtree, list) and all(isinstance(c, str) for c in subtree):
        subtree = {c: {} for c in subtree}
    if not isinstance(subtree, dict):
        raise ValueError(
            f"children of {node!r} must be an object or a list of names, got {subtree!r}"
        )
    for child, grandchildren in subtree.items():
        if child in parents:
            raise ValueError(f"node {child!r} appears twice in the nested tree")
        _walk_nested(child, grandchildren, parents, leaves)
        parents[child].append(node)


def _validate(parents: Mapping[str, list[str]], root: str, classes: Sequence[str]) -> None:
    """Check that ``parents`` is a DAG in which every node reaches ``root``."""
    if parents[root]:
        raise ValueError(f"the root {root!r} has parents {parents[root]}")
    for node, ps in parents.items():
        if node != root and not ps:
            raise ValueError(f"node {node!r} has no parent (only the root {root!r} may)")
        for p in ps:
            if p not in parents:
                raise ValueError(f"unknown parent {p!r} of {node!r}")
    done = {root}
    pending = [n for n in parents if n != root]
    while pending:  # settle nodes whose parents are all settled; what is left contains a cycle
        left = [n for n in pending if not all(p in done for p in parents[n])]
        if len(left) == len(pending):
            node, path = left[0], []
            while node not in path:
                path.append(node)
                node = next(p for p in parents[node] if p not in done)
            cycle = path[path.index(node) :] + [node]
            raise ValueError(f"cycle in the hierarchy: {' -> '.join(cycle)}")
        stuck = set(left)
        done.update(n for n in pending if n not in stuck)
        pending = left
    if not classes:
        raise ValueError("no classes")
    unknown = [c for c in classes if c not in parents]
    if unknown:
        raise ValueError(f"classes not in the hierarchy: {unknown[:5]}")
    if len(set(classes)) != len(classes):
        raise ValueError("duplicate classes")

"""Enumeration of the valid subdomains of an evaluation domain.

The space is held as an integer code matrix (one row per valid subdomain, one column per
attribute, each entry the index of the value), built with numpy so that 10^5 subdomains take
milliseconds. :class:`~fxcore.schemas.Subdomain` objects are materialised on demand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from itertools import compress

import numpy as np

from fxcore.schemas import Attribute, EvaluationDomain, Subdomain, subdomain_id


class SubdomainSpace:
    """The valid subdomains of ``domain``, in a deterministic order (row-major over attributes)."""

    def __init__(self, domain: EvaluationDomain) -> None:
        self.domain = domain
        self.attributes = domain.attributes
        sizes = [len(a.values) for a in self.attributes]
        grid = np.indices(sizes, dtype=np.int32).reshape(len(sizes), -1).T
        valid = ~invalid_mask(self.attributes, domain.invalid).ravel()
        self.codes: np.ndarray = np.ascontiguousarray(grid[valid])
        if len(self.codes) == 0:
            raise ValueError(f"domain {domain.name!r}: the invalid combinations exclude everything")
        self._ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[Subdomain]:
        return (self[i] for i in range(len(self)))

    def values(self, i: int) -> dict[str, str]:
        row = self.codes[i]
        return {a.name: a.values[int(c)] for a, c in zip(self.attributes, row, strict=True)}

    def __getitem__(self, i: int) -> Subdomain:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"subdomain index {i} outside 0..{len(self) - 1}")
        values = self.values(i)
        return Subdomain(
            id=subdomain_id(values), index=i, values=values, prompt=self.domain.prompt(values)
        )

    @property
    def ids(self) -> list[str]:
        """Stable ids of all subdomains (computed once, on first use)."""
        if self._ids is None:
            # Same canonical JSON as subdomain_id, assembled from per-value fragments.
            order = sorted(range(len(self.attributes)), key=lambda j: self.attributes[j].name)
            frags = [
                [json.dumps({self.attributes[j].name: v}, separators=(",", ":"))[1:-1]
                 for v in self.attributes[j].values]
                for j in order
            ]
            codes = self.codes[:, order].tolist()
            sha1 = hashlib.sha1
            self._ids = [
                sha1(("{" + ",".join(f[c] for f, c in zip(frags, row, strict=True)) + "}").encode())
                .hexdigest()[:12]
                for row in codes
            ]
        return self._ids

    def index_of(self, values: dict[str, str]) -> int:
        """Row of the subdomain with these values; ``KeyError`` when invalid or unknown."""
        try:
            code = [a.values.index(values[a.name]) for a in self.attributes]
        except (KeyError, ValueError) as exc:
            raise KeyError(f"{values} is not a subdomain of {self.domain.name!r}") from exc
        hits = np.flatnonzero((self.codes == np.asarray(code)).all(axis=1))
        if len(hits) == 0:
            raise KeyError(f"{values} is an invalid combination of {self.domain.name!r}")
        return int(hits[0])

    def one_hot(self, drop_first: bool = False) -> np.ndarray:
        """(n, Σ values) float one-hot encoding; ``drop_first`` drops each first level."""
        blocks = []
        for j, a in enumerate(self.attributes):
            eye = np.eye(len(a.values), dtype=np.float64)
            block = eye[self.codes[:, j]]
            blocks.append(block[:, 1:] if drop_first else block)
        return np.concatenate(blocks, axis=1)

    def prompts(self) -> list[str]:
        return [self.domain.prompt(self.values(i)) for i in range(len(self))]


def invalid_mask(
    attributes: Sequence[Attribute], rules: Sequence[dict[str, str | list[str]]]
) -> np.ndarray:
    """Boolean grid (one axis per attribute) of the combinations that some rule excludes.

    Rules naming the same attributes are marked together on the grid of those attributes, then
    spread over the full grid: linear in the rules and the grid, not their product.
    """
    sizes = [len(a.values) for a in attributes]
    position = {a.name: j for j, a in enumerate(attributes)}
    index = [{v: i for i, v in enumerate(a.values)} for a in attributes]
    groups: dict[tuple[str, ...], list[dict[str, str | list[str]]]] = {}
    for rule in rules:
        groups.setdefault(tuple(rule), []).append(rule)
    invalid = np.zeros(sizes, dtype=bool)
    for keys, group in groups.items():
        axes = [position[k] for k in keys]
        codes = [index[j] for j in axes]
        sub = np.zeros([sizes[j] for j in axes], dtype=bool)
        cols = [[rule[k] for rule in group] for k in keys]
        plain = np.ones(len(group), dtype=bool)  # one value per attribute: marked all at once
        for col in cols:
            plain &= [isinstance(v, str) for v in col]
        picks = [[code[str(v)] for v in compress(col, plain)] for code, col in
                 zip(codes, cols, strict=True)]
        sub[tuple(picks)] = True
        for rule in compress(group, ~plain):  # a list of values means any of them
            picks = [[code[v] for v in _as_list(rule[k])] for code, k in
                     zip(codes, keys, strict=True)]
            sub[np.ix_(*picks)] = True
        shape = [sizes[j] if j in axes else 1 for j in range(len(sizes))]
        invalid |= sub.transpose(np.argsort(axes)).reshape(shape)
    return invalid


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value

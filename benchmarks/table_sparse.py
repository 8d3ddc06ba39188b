"""Scaling of reading a sparse replay table: invalid-rule derivation and the space's rule mask.

    python benchmarks/table_sparse.py [--repeats 3] [--density 0.2]

A table of two attributes over an n × n grid keeps a fraction ``density`` of the combinations;
the other ones become invalid rules. For n and 2n (four times the rows and the absent
combinations) it times, in this process, the medians over repeats of

- old: the previous implementation (each candidate rule compared with every rule found so far,
  then one pass over the whole grid per rule), copied here;
- new: :func:`fxcore.bench.table.invalid_rules` and :func:`fxcore.domain.invalid_mask`,

and prints each one's growth (t(2n) / t(n): 4 is linear, 16 quadratic) and the ratio of the two;
then the new one alone on larger grids (the old one would take hours there). CSV parsing, linear
in both, is left out.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Callable

import numpy as np

from fxcore.bench.table import invalid_rules
from fxcore.domain import invalid_mask
from fxcore.schemas import Attribute


def sparse(n: int, density: float, seed: int = 0) -> tuple[list[str], dict[str, list[str]],
                                                             np.ndarray]:
    """Attributes, values and the present codes of a table over an n × n grid."""
    rng = np.random.default_rng(seed)
    diagonal = np.arange(n) * (n + 1)  # every value occurs
    rest = rng.permutation(np.setdiff1d(np.arange(n * n), diagonal))
    keys = np.concatenate([diagonal, rest[: int(density * n * n) - n]])
    values = {"a": [f"a{i}" for i in range(n)], "b": [f"b{i}" for i in range(n)]}
    return ["a", "b"], values, np.stack([keys // n, keys % n], axis=1)


def old_rules(attrs: list[str], values: dict[str, list[str]], present: np.ndarray) -> list:
    """The previous ``invalid_rules`` (quadratic in the absent combinations)."""
    present = {tuple(p) for p in present.tolist()}
    sizes = [len(values[a]) for a in attrs]
    absent = math.prod(sizes) - len(present)
    rules: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    covered: set[tuple[int, ...]] = set()
    for s in range(1, len(attrs) + 1):
        if len(covered) == absent:
            break
        for subset in itertools.combinations(range(len(attrs)), s):
            seen = {tuple(p[j] for j in subset) for p in present}
            for proj in itertools.product(*(range(sizes[j]) for j in subset)):
                assign = dict(zip(subset, proj, strict=True))
                if proj in seen or any(all(assign.get(j) == v for j, v in zip(sub, p, strict=True))
                                       for sub, p in rules):
                    continue
                rules.append((subset, proj))
                free = [range(sizes[j]) if j not in subset else [proj[subset.index(j)]]
                        for j in range(len(attrs))]
                covered.update(itertools.product(*free))
    return [{attrs[j]: values[attrs[j]][v] for j, v in zip(sub, proj, strict=True)}
            for sub, proj in rules]


def old_mask(attributes: list[Attribute], rules: list[dict[str, str]]) -> np.ndarray:
    """The previous rule loop of ``SubdomainSpace`` (one pass over the grid per rule)."""
    sizes = [len(a.values) for a in attributes]
    grid = np.indices(sizes, dtype=np.int32).reshape(len(sizes), -1).T
    valid = np.ones(len(grid), dtype=bool)
    position = {a.name: j for j, a in enumerate(attributes)}
    for rule in rules:
        match = np.ones(len(grid), dtype=bool)
        for key, val in rule.items():
            j = position[key]
            match &= np.isin(grid[:, j], [attributes[j].values.index(val)])
        valid &= ~match
    return ~valid.reshape(sizes)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def both(n: int, density: float, repeats: int) -> tuple[float, float]:
    attrs, values, present = sparse(n, density)
    attributes = [Attribute(name=a, values=values[a]) for a in attrs]
    t_old, (rules_old, mask_old) = timed(
        lambda: (r := old_rules(attrs, values, present), old_mask(attributes, r)), repeats)
    t_new, (rules_new, mask_new) = timed(
        lambda: (r := invalid_rules(attrs, values, present), invalid_mask(attributes, r)), repeats)
    assert rules_old == rules_new and np.array_equal(mask_old, mask_new)
    print(f"{n} x {n}: {len(present)} rows, {len(rules_new)} rules: "
          f"old {t_old:.3f} s, new {t_new:.4f} s (x{t_old / t_new:.0f})")
    return t_old, t_new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--density", type=float, default=0.2)
    parser.add_argument("--n", type=int, default=25, help="side of the smaller grid (both)")
    parser.add_argument("--large", type=int, default=250, help="side of the smaller grid (new)")
    args = parser.parse_args()
    old_1, new_1 = both(args.n, args.density, args.repeats)
    old_2, new_2 = both(2 * args.n, args.density, args.repeats)
    g_old, g_new = old_2 / old_1, new_2 / new_1
    print(f"growth for 4x rows and absent combinations: old x{g_old:.1f}, new x{g_new:.1f} "
          f"(old/new scaling ratio {g_old / g_new:.1f})")
    sizes = (args.large, 2 * args.large)
    t_large = [new_only(n, args.density, args.repeats) for n in sizes]
    print(f"new alone, {sizes[0]} -> {sizes[1]}: x{t_large[1] / t_large[0]:.1f}")


def new_only(n: int, density: float, repeats: int) -> float:
    attrs, values, present = sparse(n, density)
    attributes = [Attribute(name=a, values=values[a]) for a in attrs]
    t_new, rules = timed(
        lambda: (r := invalid_rules(attrs, values, present), invalid_mask(attributes, r))[0],
        repeats)
    print(f"{n} x {n}: {len(present)} rows, {len(rules)} rules: new {t_new:.3f} s")
    return t_new


if __name__ == "__main__":
    main()

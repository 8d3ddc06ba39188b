"""Replay tables: one row per subdomain, its attribute values and a measured target.

A table is a CSV file. Attribute columns are the non-numeric columns (an unnamed index column,
as written by pandas, is ignored); the target column is given (default ``accuracy``); other
numeric columns are carried along unused. A non-numeric column with a single value (the paper's
``category = dog``) is a constant of the table, not an attribute.

The rows need not form a full product of the attribute values: the combinations that are absent
become the domain's ``invalid`` rules (the shortest partial assignments that match no row), so the
table's rows are exactly the subdomains of a :class:`~fxcore.domain.SubdomainSpace`, and the
targets are held in that space's row order.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from fxcore.domain import SubdomainSpace
from fxcore.errors import ConfigError
from fxcore.files import read_csv_rows
from fxcore.schemas import EvaluationDomain

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INDEX_NAMES = {"", "unnamed: 0", "index"}
#: largest attribute product a table may span (the invalid rules are derived over it)
MAX_GRID = 1_000_000


@dataclass
class Table:
    """A replay table: domain, space and the target of every subdomain (space row order)."""

    name: str
    path: Path
    target_name: str
    domain: EvaluationDomain
    space: SubdomainSpace
    targets: np.ndarray
    constants: dict[str, str] = field(default_factory=dict)
    #: the other numeric columns (space row order), e.g. ``n_kept`` for ``--images-per-row``
    numeric: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.targets)


def benchmark_dir() -> Path:
    """Folder of the tables shipped with fxcore (``fxcore/data/benchmarks``)."""
    return Path(str(resources.files("fxcore") / "data" / "benchmarks"))


def list_tables() -> dict[str, Path]:
    """Named benchmark tables: ``lecoz2024-dog`` -> path of ``lecoz2024_dog.csv``."""
    return {p.stem.replace("_", "-"): p for p in sorted(benchmark_dir().glob("*.csv"))}


def resolve_table(spec: str | Path) -> tuple[str, Path]:
    """A path to a CSV file, or the name of a shipped table; returns ``(name, path)``."""
    named = list_tables()
    key = str(spec)
    if key in named:
        return key, named[key]
    path = Path(spec)
    if path.suffix.lower() != ".csv" and not path.exists():
        known = ", ".join(named) or "none"
        raise ConfigError(f"table {key!r}: no such file and no shipped table of that name "
                          f"(shipped: {known})")
    return path.stem, path


def is_number(text: str) -> bool:
    """Whether a table cell reads as a number (such a column is not an attribute)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_table(spec: str | Path, target: str = "accuracy") -> Table:
    """Read and validate a table; every problem is a one-line :class:`ConfigError`."""
    name, path = resolve_table(spec)
    where = f"table {str(path)!r}"
    if not path.is_file():
        raise ConfigError(f"{where}: file not found")
    rows = read_csv_rows(path, where)
    if not rows:
        raise ConfigError(f"{where}: empty file (expected a header and rows)")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise ConfigError(f"{where}: no rows below the header")
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ConfigError(f"{where}: line {i} has {len(r)} cells, the header {len(header)}")
    if target not in header:
        raise ConfigError(f"{where}: no target column {target!r} (columns: {', '.join(header)})")
    columns = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    y = _targets(columns[target], where, target)
    attrs, constants = _attribute_columns(header, columns, target, where)
    domain, codes = _domain(name, attrs, columns, constants)
    space = SubdomainSpace(domain)
    order = _space_rows(space, attrs, columns, codes, where)
    targets = np.empty(len(space), dtype=np.float64)
    targets[order] = y
    numeric: dict[str, np.ndarray] = {}
    for j, h in enumerate(header):
        if h == target or h in attrs or h in constants or (j == 0 and h.lower() in _INDEX_NAMES):
            continue
        values = np.empty(len(space), dtype=np.float64)
        values[order] = [float(c) for c in columns[h]]
        numeric[h] = values
    return Table(name, path, target, domain, space, targets, constants, numeric)


def _targets(cells: list[str], where: str, target: str) -> np.ndarray:
    bad = [(i, c) for i, c in enumerate(cells, start=2) if not is_number(c)]
    if bad:
        i, c = bad[0]
        raise ConfigError(f"{where}: target column {target!r} is not numeric "
                          f"(line {i}: {c!r})")
    y = np.array([float(c) for c in cells])
    nan = np.flatnonzero(~np.isfinite(y))
    if len(nan):
        raise ConfigError(f"{where}: target column {target!r} has {len(nan)} missing/NaN values "
                          f"(first at line {nan[0] + 2})")
    return y


def _attribute_columns(
    header: list[str], columns: dict[str, list[str]], target: str, where: str
) -> tuple[list[str], dict[str, str]]:
    attrs: list[str] = []
    constants: dict[str, str] = {}
    for j, h in enumerate(header):
        if h == target or (j == 0 and h.lower() in _INDEX_NAMES):
            continue
        cells = columns[h]
        if all(is_number(c) for c in cells):
            continue
        if not h:
            raise ConfigError(f"{where}: column {j + 1} has no name")
        if not _IDENT.match(h):
            raise ConfigError(f"{where}: attribute column {h!r} must be an identifier "
                              "(letters, digits, _)")
        if any(not c for c in cells):
            raise ConfigError(f"{where}: attribute column {h!r} has empty cells")
        if len(set(cells)) == 1:
            constants[h] = cells[0]
        else:
            attrs.append(h)
    if len(attrs) < 2:
        found = ", ".join(attrs) or "none"
        raise ConfigError(f"{where}: needs at least 2 attribute (non-numeric, non-constant) "
                          f"columns, found {len(attrs)} ({found})")
    return attrs, constants


def _domain(
    name: str, attrs: list[str], columns: dict[str, list[str]], constants: dict[str, str]
) -> tuple[EvaluationDomain, np.ndarray]:
    """The table's domain and the value codes of its rows (rows × attributes)."""
    values = {a: list(dict.fromkeys(columns[a])) for a in attrs}
    grid = math.prod(len(v) for v in values.values())
    if grid > MAX_GRID:
        raise ConfigError(f"table {name!r}: the attributes span {grid} combinations "
                          f"(at most {MAX_GRID} supported)")
    codes = np.empty((len(columns[attrs[0]]), len(attrs)), dtype=np.intp)
    for j, a in enumerate(attrs):
        index = {v: i for i, v in enumerate(values[a])}
        codes[:, j] = [index[c] for c in columns[a]]
    true_class = constants.get("category") or constants.get("class") or name
    template = "{true_class}: " + ", ".join(f"{a}={{{a}}}" for a in attrs)
    domain = EvaluationDomain(
        name=name,
        attributes=[{"name": a, "values": values[a]} for a in attrs],  # type: ignore[misc]
        invalid=invalid_rules(attrs, values, codes),  # type: ignore[arg-type]
        prompt_template=template,
        true_class=true_class,
    )
    return domain, codes


def invalid_rules(
    attrs: list[str], values: dict[str, list[str]], present: np.ndarray
) -> list[dict[str, str]]:
    """Shortest partial assignments that match no present combination and, together, exclude
    every absent one (a partial assignment longer than needed is skipped when a shorter rule
    already implies it). ``present``: value codes of the rows (rows × attributes).

    Rules come by length, then attribute subset (``itertools.combinations`` order), then value
    (``itertools.product`` order). Each subset is a boolean grid of its projections, so the cost
    is linear in the rows and the absent combinations (not their product).
    """
    sizes = tuple(len(values[a]) for a in attrs)
    present = np.asarray(present, dtype=np.intp).reshape(-1, len(attrs))
    absent = math.prod(sizes) - len(np.unique(np.ravel_multi_index(present.T, sizes)))
    covered = np.zeros(sizes, dtype=bool)  # absent combinations excluded by the rules so far
    # projections onto a subset matched by a rule on that subset or on a smaller one
    blocked: dict[tuple[int, ...], np.ndarray] = {(): np.zeros((), dtype=bool)}
    rules: list[dict[str, str]] = []
    for s in range(1, len(attrs) + 1):
        if covered.sum() == absent:
            break
        level: dict[tuple[int, ...], np.ndarray] = {}
        for subset in itertools.combinations(range(len(attrs)), s):
            seen = np.zeros([sizes[j] for j in subset], dtype=bool)
            seen[tuple(present[:, j] for j in subset)] = True
            implied = np.zeros_like(seen)
            for k in range(s):  # a shorter rule is within the subset less one attribute
                implied |= np.expand_dims(blocked[subset[:k] + subset[k + 1:]], k)
            new = ~seen & ~implied
            level[subset] = implied | new
            if new.any():
                covered |= new.reshape([sizes[j] if j in subset else 1 for j in range(len(attrs))])
                rules += _named_rules(attrs, values, subset, new)
        blocked = level
    return rules


def _named_rules(
    attrs: list[str], values: dict[str, list[str]], subset: tuple[int, ...], mask: np.ndarray
) -> list[dict[str, str]]:
    """The assignments to ``subset`` marked in ``mask``, in ``itertools.product`` order."""
    names = [attrs[j] for j in subset]
    cols = [[values[n][i] for i in idx] for n, idx in zip(names, np.nonzero(mask), strict=True)]
    return [dict(zip(names, combo, strict=True)) for combo in zip(*cols, strict=True)]


def _space_rows(
    space: SubdomainSpace, attrs: list[str], columns: dict[str, list[str]], codes: np.ndarray,
    where: str,
) -> np.ndarray:
    """Space row of every table row; duplicated combinations are an error."""
    sizes = np.array([len(a.values) for a in space.attributes])
    strides = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    table_keys = codes @ strides
    uniq, counts = np.unique(table_keys, return_counts=True)
    if (counts > 1).any():
        first = int(np.flatnonzero(table_keys == uniq[counts > 1][0])[1])
        combo = {a: columns[a][first] for a in attrs}
        raise ConfigError(f"{where}: duplicate attribute combination {combo} "
                          f"(line {first + 2} repeats an earlier row)")
    space_keys = space.codes @ strides
    order = np.argsort(space_keys)
    pos = np.searchsorted(space_keys[order], table_keys)
    if len(space) != len(table_keys) or not np.array_equal(space_keys[order][pos], table_keys):
        raise ConfigError(f"{where}: the derived invalid combinations do not match the rows")
    return order[pos]

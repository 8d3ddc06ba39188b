"""Replay a selector over a table: generation and evaluation become a table look-up.

Stable API (used by the selector plugins' benchmarks)::

    from fxcore.bench import load_table, make_selector, replay

    table = load_table("lecoz2024-dog")          # or a path to a CSV file
    selector = make_selector("random", table)    # "name", "plugin/name" or "name:key=value,..."
    trace = replay(selector, table, seed=0)      # budget: every row; batch_size: 1
    trace.evals_to_full_coverage, trace.coverage_after(trace.worst_k)

At step s the harness calls ``selector.propose(observed, candidates, k)`` with the rows evaluated
so far and their targets (:class:`~fxcore.contracts.Observations`) and the rows not evaluated yet,
checks the answer (1..k distinct candidates) and looks the targets up. ``oracle`` is a replay-only
selector built by the harness: it knows the targets and proposes the lowest remaining.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from fxcore.bench import metrics
from fxcore.bench.table import Table
from fxcore.contracts import Observations
from fxcore.errors import ConfigError, RunError
from fxcore.schemas import ComponentSpec

#: training sizes at which a surrogate's Spearman ρ is measured (those below the budget)
SPEARMAN_SIZES: tuple[int, ...] = (10, 20, 50, 100, 200, 300, 500, 700)
ORACLE = "oracle"


class OracleSelector:
    """Replay only: proposes the ``k`` remaining rows with the lowest targets (ties by row)."""

    def __init__(self, targets: np.ndarray) -> None:
        self.targets = np.asarray(targets, dtype=np.float64)

    def setup(self, space: Any, seed: int) -> None:
        pass

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        cand = np.sort(np.asarray(candidates))
        order = np.argsort(self.targets[cand], kind="stable")
        return cand[order[:k]]


def parse_selector(text: str) -> ComponentSpec:
    """``name``, ``plugin/name`` or ``name:key=value,key=value`` (values read as YAML scalars:
    ``n_init=10,acquisition=ei,beta=2.0,pairwise=true``)."""
    name, _, rest = text.strip().partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--selector {text!r}: expected key=value, got {item!r}")
        try:
            params[key.strip()] = yaml.safe_load(value.strip())
        except yaml.YAMLError:
            params[key.strip()] = value.strip()
    try:
        return ComponentSpec(name=name.strip(), params=params)
    except ValueError as exc:
        raise ConfigError(f"--selector {text!r}: {exc}") from None


def make_selector(spec: str | ComponentSpec, table: Table, registry: Any = None) -> Any:
    """Build a selector from its spec; ``oracle`` is built here from the table's targets."""
    if isinstance(spec, str):
        where = f"--selector {spec!r}"
        spec = parse_selector(spec)
    else:
        where = f"selector {spec.name!r}"
    if spec.name == ORACLE:
        if spec.params:
            raise ConfigError(f"{where}: the oracle takes no parameters")
        return OracleSelector(table.targets)
    if registry is None:
        from fxcore.plugins import default_registry

        registry = default_registry()
    return registry.create("selector", spec, where=where)


@dataclass
class Trace:
    """What one replay produced: rows in evaluation order, their targets, timings."""

    selector: str
    seed: int
    rows: np.ndarray
    targets: np.ndarray
    worst: np.ndarray
    seconds: float
    proposals: int
    spearman: list[tuple[int, float | None]] = field(default_factory=list)

    @property
    def worst_k(self) -> int:
        return int(self.worst.sum())

    @property
    def coverage(self) -> np.ndarray:
        return metrics.coverage_curve(self.rows, self.worst)

    @property
    def evals_to_full_coverage(self) -> int | None:
        return metrics.evals_to_full_coverage(self.coverage)

    def coverage_after(self, t: int) -> float:
        return metrics.coverage_after(self.coverage, t)

    def summary(self) -> dict[str, Any]:
        """Per-seed figures as plain JSON types."""
        cov = self.coverage
        return {
            "evals_to_full_coverage": metrics.evals_to_full_coverage(cov),
            "coverage": [round(float(c), 6) for c in cov],
            "coverage_at_worst_k": metrics.coverage_after(cov, self.worst_k),
            "mean_accuracy": [round(float(v), 6) for v in metrics.cumulative_mean(self.targets)],
            "rolling_accuracy": [round(float(v), 6) for v in metrics.rolling_mean(self.targets)],
            "spearman": [{"n_train": n, "rho": r} for n, r in self.spearman],
            "rows": [int(r) for r in self.rows],
            "seconds": round(self.seconds, 4),
        }


def replay(
    selector: Any,
    table: Table,
    seed: int,
    budget: int | None = None,
    batch_size: int = 1,
    name: str = "",
    spearman_sizes: Sequence[int] = SPEARMAN_SIZES,
    on_step: Callable[[int], None] | None = None,
) -> Trace:
    """Run ``selector`` over ``table`` until ``budget`` rows (default: all) are evaluated.

    Spearman's ρ is measured for selectors with ``predict(rows) -> (mean, std)``: at the first
    proposal made with at least n observations, for each n in ``spearman_sizes``, the prediction
    on the rows not evaluated yet (the model fitted for that proposal) is compared with the truth.
    ``on_step(n_new)`` is called after each proposal (progress bars).
    """
    n = table.n_rows
    budget = n if budget is None else budget
    if not 0 < budget <= n:
        raise ConfigError(f"budget {budget} must be in 1..{n} (the table's rows)")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be at least 1")
    worst = metrics.worst_mask(table.targets)
    label = name or type(selector).__name__
    evaluated = np.zeros(n, dtype=bool)
    rows: list[int] = []
    sizes = sorted(s for s in spearman_sizes if s < budget)
    has_predict = callable(getattr(selector, "predict", None))
    rhos: list[tuple[int, float | None]] = []
    t0 = time.perf_counter()
    selector.setup(table.space, seed)
    proposals = 0
    while len(rows) < budget:
        k = min(batch_size, budget - len(rows))
        candidates = np.flatnonzero(~evaluated)
        observed = Observations(np.array(rows, dtype=np.int64), table.targets[rows])
        picked = np.asarray(selector.propose(observed, candidates, k), dtype=np.int64).ravel()
        proposals += 1
        _check(picked, evaluated, k, label)
        if has_predict and sizes and len(rows) >= sizes[0]:
            while sizes and len(rows) >= sizes[0]:
                sizes.pop(0)
            mean, _ = selector.predict(candidates)
            rhos.append((len(rows), metrics.spearman(mean, table.targets[candidates])))
        evaluated[picked] = True
        rows.extend(int(r) for r in picked)
        if on_step is not None:
            on_step(len(picked))
    seconds = time.perf_counter() - t0
    r = np.array(rows, dtype=np.int64)
    return Trace(label, seed, r, table.targets[r], worst, seconds, proposals, rhos)


def _check(picked: np.ndarray, evaluated: np.ndarray, k: int, label: str) -> None:
    if not 1 <= len(picked) <= k:
        raise RunError(f"selector {label} proposed {len(picked)} rows, expected 1..{k}")
    if len(np.unique(picked)) != len(picked):
        raise RunError(f"selector {label} proposed a row twice: {picked.tolist()}")
    if picked.min() < 0 or picked.max() >= len(evaluated) or evaluated[picked].any():
        raise RunError(f"selector {label} proposed rows that are not candidates: "
                       f"{picked.tolist()}")


def run_bench(
    table: Table,
    selectors: Sequence[str],
    seeds: int | Sequence[int] = 10,
    budget: int | None = None,
    batch_size: int = 1,
    registry: Any = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Replay every selector for every seed; the JSON document of ``fx bench``."""
    from fxcore.progress import progress

    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ConfigError("--seeds must be at least 1")
    dup = sorted({s for s in selectors if list(selectors).count(s) > 1})
    if dup:
        raise ConfigError(f"--selector given twice: {', '.join(dup)}")
    worst = metrics.worst_mask(table.targets)
    if not worst.any():
        raise ConfigError(f"table {table.name!r}: no row is strictly below the 10% quantile "
                          "(the lowest targets tie); the coverage metric is undefined")
    # build everything first: a bad spec fails before any work is done
    for text in selectors:
        make_selector(text, table, registry)
    worst_k = int(worst.sum())
    total = table.n_rows if budget is None else budget
    out: dict[str, Any] = {
        "table": table.name,
        "path": str(table.path),
        "target": table.target_name,
        "n_rows": table.n_rows,
        "worst_k": worst_k,
        "worst_threshold": float(np.sort(table.targets)[int(0.1 * table.n_rows)]),
        "budget": total,
        "batch_size": batch_size,
        "seeds": seed_list,
        "selectors": {},
    }
    for text in selectors:
        per_seed = []
        for seed in seed_list:
            selector = make_selector(text, table, registry)
            with progress(f"{text} seed {seed}", total=total, enabled=show_progress) as bar:
                trace = replay(selector, table, seed, budget, batch_size, name=text,
                               on_step=bar.advance)
            per_seed.append(trace.summary())
        out["selectors"][text] = aggregate(per_seed, parse_selector(text))
    return out


def aggregate(per_seed: list[dict[str, Any]], spec: ComponentSpec) -> dict[str, Any]:
    """Per-seed lists under the issue's keys, plus medians."""
    keys = ("evals_to_full_coverage", "coverage", "coverage_at_worst_k", "mean_accuracy",
            "rolling_accuracy", "spearman", "rows", "seconds")
    res: dict[str, Any] = {"spec": spec.model_dump()}
    for key in keys:
        res[key] = [s[key] for s in per_seed]
    res["evals_to_full_coverage_median"] = metrics.median_censored(res["evals_to_full_coverage"])
    res["coverage_at_worst_k_median"] = float(np.median(res["coverage_at_worst_k"]))
    res["final_mean_accuracy_median"] = float(np.median([m[-1] for m in res["mean_accuracy"]]))
    res["seconds_total"] = round(float(sum(res["seconds"])), 4)
    if not any(res["spearman"]):
        res["spearman"] = None
    return res

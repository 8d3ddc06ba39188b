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

Images (``fidelity=ReplayFidelity(...)``): a row's target is the accuracy over its n measured
images, c = round(target·n) of them correct. At full fidelity an evaluation costs n images. With
stages (e.g. 10 → 50) a proposed row draws its first 10 images exactly (hypergeometric: 10 of
its n without replacement), stops when the sequential test of :mod:`fxcore.fidelity` settles
that it is not a worst-10% row, and otherwise draws the rest; the selector then sees the
accuracy over the images drawn (:class:`~fxcore.fidelity.FidelityObservations`). A worst row is
*found* once all its images are drawn; when every row has been proposed, the rows stopped early
are continued, lowest accuracy so far first, until every worst row is found.
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
from fxcore.fidelity import FidelityObservations, Stages, rank_threshold, staged_draws
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
class ReplayFidelity:
    """How many images each row's target was measured on, and how a row is evaluated.

    ``images``: per row (space order) the number n of its measured images; ``stages``: the
    image counts evaluated in turn (``None`` or ``()``: full fidelity, n images at once; a
    stage at or above a row's n is its full fidelity); ``error``: the budget of the sequential
    test; ``threshold``: the accuracy below which a row is a failure, or ``None`` to estimate
    the worst-10% cut-off from the observations so far (:func:`fxcore.fidelity.rank_threshold`).
    """

    images: np.ndarray
    stages: tuple[int, ...] | None = None
    error: float = 0.05
    threshold: float | None = None

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images, dtype=np.int64)
        if len(self.images) and self.images.min() < 1:
            raise ConfigError("every row needs at least 1 image (--images-per-row)")
        if self.stages:
            Stages(tuple(self.stages), self.error)  # validates

    @property
    def staged(self) -> bool:
        return bool(self.stages)

    def sizes(self, total: int) -> tuple[int, ...]:
        """Stage sizes of a row of ``total`` images (the last is ``total``)."""
        early = sorted({s for s in (self.stages or ()) if s < total})
        return (*early, total)

    def correct(self, targets: np.ndarray) -> np.ndarray:
        """Correct images per row: round(target · n), checked to lie in 0..n."""
        c = np.rint(np.asarray(targets, dtype=np.float64) * self.images).astype(np.int64)
        off = np.abs(c - targets * self.images)
        bad = np.flatnonzero((off > 0.01) | (c < 0) | (c > self.images))
        if len(bad):
            r = int(bad[0])
            raise ConfigError(f"row {r}: target {targets[r]:.6g} is not a count of "
                              f"{int(self.images[r])} images (--images-per-row)")
        return c


def row_rng(seed: int, row: int) -> np.random.Generator:
    """The image draws of a row in a replay: the same for every selector at a given seed."""
    return np.random.default_rng([seed, row, 0x1F1D])


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
    #: with images: cumulative images after each evaluation, images drawn per evaluated row,
    #: images when the last worst row was found at full fidelity, images of the final sweep
    images: np.ndarray | None = None
    n_images: np.ndarray | None = None
    stopped: np.ndarray | None = None
    images_to_full_coverage: int | None = None
    sweep_images: int = 0
    worst_stopped: int = 0

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
        } | self._image_summary()

    def _image_summary(self) -> dict[str, Any]:
        if self.images is None or self.n_images is None or self.stopped is None:
            return {}
        return {
            "images_to_full_coverage": self.images_to_full_coverage,
            "images": [int(v) for v in self.images],
            "n_images": [int(v) for v in self.n_images],
            "stopped_early": int(self.stopped.sum()),
            "worst_stopped_early": self.worst_stopped,
            "sweep_images": self.sweep_images,
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
    fidelity: ReplayFidelity | None = None,
    until_found: bool = False,
) -> Trace:
    """Run ``selector`` over ``table`` until ``budget`` rows (default: all) are evaluated.

    Spearman's ρ is measured for selectors with ``predict(rows) -> (mean, std)``: at the first
    proposal made with at least n observations, for each n in ``spearman_sizes``, the prediction
    on the rows not evaluated yet (the model fitted for that proposal) is compared with the truth.
    ``on_step(n_new)`` is called after each proposal (progress bars). ``fidelity``: count images
    and, with stages, evaluate rows in stages (see the module docstring). ``until_found``: stop
    as soon as every worst row is evaluated (and found at full fidelity, with ``fidelity``): the
    coverage metrics are then final, the accuracy curves end there (benchmarks).
    """
    n = table.n_rows
    budget = n if budget is None else budget
    if not 0 < budget <= n:
        raise ConfigError(f"budget {budget} must be in 1..{n} (the table's rows)")
    if batch_size < 1:
        raise ConfigError(f"batch size {batch_size} must be at least 1")
    if fidelity is not None and len(fidelity.images) != n:
        raise ConfigError(f"{len(fidelity.images)} image counts for {n} rows")
    worst = metrics.worst_mask(table.targets)
    label = name or type(selector).__name__
    evaluated = np.zeros(n, dtype=bool)
    rows: list[int] = []
    sizes = sorted(s for s in spearman_sizes if s < budget)
    has_predict = callable(getattr(selector, "predict", None))
    rhos: list[tuple[int, float | None]] = []
    images = _Images(table, worst, seed, fidelity) if fidelity is not None else None
    t0 = time.perf_counter()
    selector.setup(table.space, seed)
    proposals = 0
    while len(rows) < budget:
        k = min(batch_size, budget - len(rows))
        candidates = np.flatnonzero(~evaluated)
        if images is not None and images.staged:
            observed: Observations = images.observations(rows)
        else:
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
        for row in picked:
            if images is not None:
                images.evaluate(int(row), rows)
            rows.append(int(row))
        if on_step is not None:
            on_step(len(picked))
        if until_found and worst[rows].sum() == worst.sum() and (
                images is None or images.left == 0):
            break
    if images is not None and len(rows) == n:
        images.sweep()
    seconds = time.perf_counter() - t0
    r = np.array(rows, dtype=np.int64)
    trace = Trace(label, seed, r, table.targets[r], worst, seconds, proposals, rhos)
    if images is not None:
        images.finish(trace)
    return trace


class _Images:
    """The image side of a replay: staged exact draws per row, images spent, worst rows found."""

    def __init__(self, table: Table, worst: np.ndarray, seed: int,
                 fidelity: ReplayFidelity) -> None:
        self.fidelity = fidelity
        self.staged = fidelity.staged
        self.total = fidelity.images
        self.correct = fidelity.correct(table.targets)
        self.worst = worst
        self.seed = seed
        n = table.n_rows
        self.seen = np.zeros(n, dtype=np.int64)
        self.hits = np.zeros(n, dtype=np.int64)
        self.draws: dict[int, tuple[tuple[int, ...], list[int]]] = {}
        self.spent = 0
        self.cumulative: list[int] = []
        self.drawn: list[int] = []
        self.stopped: list[bool] = []
        self.left = int(worst.sum())
        self.found_at: int | None = None
        self.sweep_images = 0

    def observations(self, rows: list[int]) -> FidelityObservations:
        r = np.array(rows, dtype=np.int64)
        seen = self.seen[r]
        return FidelityObservations(r, self.hits[r] / np.maximum(seen, 1), seen)

    def _advance(self, row: int, upto: int) -> None:
        """Draw the row's images up to stage ``upto`` (an index into its stage sizes)."""
        sizes, counts = self.draws[row]
        was_full = self.seen[row] >= self.total[row]
        self.spent += sizes[upto] - int(self.seen[row])
        self.seen[row], self.hits[row] = sizes[upto], counts[upto]
        if not was_full and self.seen[row] >= self.total[row] and self.worst[row]:
            self.left -= 1
            if self.left == 0:
                self.found_at = self.spent

    def evaluate(self, row: int, before: list[int]) -> None:
        total = int(self.total[row])
        sizes = self.fidelity.sizes(total) if self.staged else (total,)
        counts = staged_draws(row_rng(self.seed, row), int(self.correct[row]), total, sizes) \
            if len(sizes) > 1 else [int(self.correct[row])]
        self.draws[row] = (sizes, counts)
        stages = Stages(sizes, self.fidelity.error) if len(sizes) > 1 else None
        threshold = self.fidelity.threshold
        if stages is not None and threshold is None:
            seen = self.seen[before]
            acc = self.hits[before] / np.maximum(seen, 1)
            threshold = rank_threshold(acc, len(self.total))
        for j in range(len(sizes)):
            self._advance(row, j)
            if stages is not None and j < len(sizes) - 1 and \
                    stages.stop(counts[j], sizes[j], threshold, total,
                                inclusive=self.fidelity.threshold is None):
                break
        self.cumulative.append(self.spent)
        self.drawn.append(int(self.seen[row]))
        self.stopped.append(bool(self.seen[row] < total))

    def sweep(self) -> None:
        """Every row proposed: continue the rows stopped early, lowest accuracy so far first,
        until every worst row is found."""
        part = np.flatnonzero((self.seen > 0) & (self.seen < self.total))
        acc = self.hits[part] / self.seen[part]
        start = self.spent
        for row in part[np.lexsort((part, acc))]:
            if self.left == 0:
                break
            self._advance(int(row), len(self.draws[int(row)][0]) - 1)
        self.sweep_images = self.spent - start

    def finish(self, trace: Trace) -> None:
        trace.images = np.array(self.cumulative, dtype=np.int64)
        trace.n_images = np.array(self.drawn, dtype=np.int64)
        trace.stopped = np.array(self.stopped, dtype=bool)
        trace.images_to_full_coverage = self.found_at
        trace.sweep_images = self.sweep_images
        trace.worst_stopped = int((self.worst[trace.rows] & trace.stopped).sum())


def _check(picked: np.ndarray, evaluated: np.ndarray, k: int, label: str) -> None:
    if not 1 <= len(picked) <= k:
        raise RunError(f"selector {label} proposed {len(picked)} rows, expected 1..{k}")
    if len(np.unique(picked)) != len(picked):
        raise RunError(f"selector {label} proposed a row twice: {picked.tolist()}")
    if picked.min() < 0 or picked.max() >= len(evaluated) or evaluated[picked].any():
        raise RunError(f"selector {label} proposed rows that are not candidates: "
                       f"{picked.tolist()}")


def images_per_row(table: Table, spec: str | int) -> np.ndarray:
    """``--images-per-row``: a number (every row) or the name of a numeric column."""
    text = str(spec).strip()
    if text.isdigit():
        n = int(text)
        if n < 1:
            raise ConfigError(f"--images-per-row must be at least 1, got {n}")
        return np.full(table.n_rows, n, dtype=np.int64)
    if text not in table.numeric:
        known = ", ".join(table.numeric) or "none"
        raise ConfigError(f"--images-per-row {text!r}: not a number nor a numeric column of "
                          f"table {table.name!r} (numeric columns: {known})")
    col = table.numeric[text]
    if not np.all(np.isfinite(col)) or np.any(col != np.round(col)) or col.min() < 1:
        raise ConfigError(f"--images-per-row {text!r}: the column must hold whole numbers >= 1")
    return col.astype(np.int64)


def run_bench(
    table: Table,
    selectors: Sequence[str],
    seeds: int | Sequence[int] = 10,
    budget: int | None = None,
    batch_size: int = 1,
    registry: Any = None,
    show_progress: bool = True,
    fidelity: ReplayFidelity | None = None,
) -> dict[str, Any]:
    """Replay every selector for every seed; the JSON document of ``fx bench``. With
    ``fidelity``, images are counted (and rows evaluated in stages when it has stages)."""
    from fxcore.progress import progress

    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ConfigError("--repeats must be at least 1")
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
    if fidelity is not None:
        fidelity.correct(table.targets)  # a target that is no count of its images fails now
        out["fidelity"] = {
            "images_per_row": sorted({int(v) for v in fidelity.images}),
            "stages": list(fidelity.stages or ()),
            "error": fidelity.error,
            "threshold": fidelity.threshold,
            "oracle_images": int(fidelity.images[worst].sum()),
        }
    for text in selectors:
        per_seed = []
        for seed in seed_list:
            selector = make_selector(text, table, registry)
            with progress(f"{text} seed {seed}", total=total, enabled=show_progress) as bar:
                trace = replay(selector, table, seed, budget, batch_size, name=text,
                               on_step=bar.advance, fidelity=fidelity)
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
    if "images_to_full_coverage" in per_seed[0]:
        for key in ("images_to_full_coverage", "images", "n_images", "stopped_early",
                    "worst_stopped_early", "sweep_images"):
            res[key] = [s[key] for s in per_seed]
        res["images_to_full_coverage_median"] = metrics.median_censored(
            res["images_to_full_coverage"])
    if not any(res["spearman"]):
        res["spearman"] = None
    return res

"""The Python API: every job as one call that returns a result object (docs/api.md).

Each call takes the config as a file path, a dict or a config model, runs the job exactly as
``fx <job>`` does (same checks, run store, resume) and returns a :class:`~fxcore.jobs.RunResult`
— its ``summary`` dict and its records as pandas DataFrames::

    from fxcore import api
    result = api.explore("explore.toml", out="runs/x")
    result.evaluations.sort_values("accuracy").head()

``components={"classifier": model}`` runs your own objects in place of the config's, checked
against the same contracts (:mod:`fxcore.contracts`); a config may leave such a field out (its
snapshot then names the component ``given``). docs/howto.md walks through your own model and
your own images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fxcore.errors import ConfigError
from fxcore.jobs import Job, RunResult, default_out, get_job, run_job

if TYPE_CHECKING:
    import pandas

    from fxcore.plugins import Registry
    from fxcore.schemas import JobConfig

__all__ = ["BenchResult", "RunResult", "bench", "explore", "label", "mds", "run"]


GIVEN = "given"
"""The component name a config gets for a field it leaves out that ``components=`` fills."""


def _config(job: Job[Any, Any], config: Any, registry: Registry | None,
            given: Sequence[str] = ()) -> JobConfig:
    from fxcore.config import read_mapping, validate_config

    if isinstance(config, job.config_model):
        return config
    if isinstance(config, str | Path):
        data, source = read_mapping(config), str(config)
    elif isinstance(config, Mapping):
        data, source = dict(config), job.name
    else:
        raise ConfigError(f"config: give a file path, a dict or a {job.config_model.__name__}, "
                          f"not a {type(config).__name__}")
    return validate_config(_fill_given(data, given), job.config_model, registry, source=source,
                           given=given)


def _fill_given(data: dict[str, Any], given: Sequence[str]) -> dict[str, Any]:
    """A component field the config leaves out but ``components=`` gives (``classifier``,
    ``classifiers.1``) is written as ``{name = "given"}``: the object replaces it, nothing is
    looked up, and the run's config snapshot says the component came from Python."""
    data = dict(data)
    lists: dict[str, int] = {}
    for key in given:
        head, _, index = key.partition(".")
        if index.isdigit():
            lists[head] = max(lists.get(head, 0), int(index) + 1)
        elif not index and head not in data:
            data[head] = {"name": GIVEN}
    for head, n in lists.items():
        if head not in data:
            data[head] = [{"name": GIVEN}] * n
    return data


def run(job: str | Job[Any, Any], config: Any, out: str | Path | None = None, *,
        resume: bool = False, components: Mapping[str, Any] | None = None,
        progress: bool = False, threads: int | None = None,
        registry: Registry | None = None) -> RunResult:
    """Run ``job`` on ``config`` into ``out`` (default ``runs/<job>-<config file stem>``; a
    config given as a dict or model needs ``out``)."""
    job = get_job(job) if isinstance(job, str) else job
    if out is None:
        if not isinstance(config, str | Path):
            raise ConfigError("out: a config given as a dict or model needs out=")
        out = default_out(job.name, config)
    cfg = _config(job, config, registry, sorted(components or {}))
    return run_job(job, cfg, out, resume, registry=registry, components=components,
                   progress=progress, threads=threads)


def explore(config: Any, out: str | Path | None = None, **options: Any) -> RunResult:
    """``fx explore``: tables ``evaluations`` (one row per subdomain evaluated) and
    ``proposals``."""
    return run("explore", config, out, **options)


def mds(config: Any, out: str | Path | None = None, *, ensemble: bool = False,
        **options: Any) -> RunResult:
    """``fx mds`` (``ensemble=True``: ``fx mds --ensemble``): tables ``starts`` (one row per
    start, with its trajectory) and ``chunks``."""
    if ensemble:
        from fxcore.mds.ensemble import MDS_ENSEMBLE

        return run(MDS_ENSEMBLE, config, out, **options)
    return run("mds", config, out, **options)


def label(config: Any, out: str | Path | None = None, **options: Any) -> RunResult:
    """``fx label`` on images, or on a feature table when the config has a ``table`` key
    (``fx label --table``): tables ``decisions`` (one row per item: auto or manual, its label)
    and ``rounds``. ``summary["status"]`` is ``waiting`` while a person's answers are due."""
    from fxcore.label.job import LABEL, LABEL_TABLE
    from fxcore.schemas.label import LabelTableConfig

    tabular = isinstance(config, LabelTableConfig) or (
        isinstance(config, Mapping) and "table" in config)
    return run(LABEL_TABLE if tabular else LABEL, config, out, **options)


@dataclass
class BenchResult:
    """``fx bench``'s document (``summary``) with its numbers as DataFrames: ``replays`` (one
    row per selector and seed) and ``curves`` (one row per selector, seed and evaluation)."""

    summary: dict[str, Any]

    @property
    def replays(self) -> pandas.DataFrame:
        import pandas

        rows = []
        for name, res in self.summary["selectors"].items():
            for i, seed in enumerate(self.summary["seeds"]):
                rows.append({
                    "selector": name, "seed": seed,
                    "evals_to_full_coverage": res["evals_to_full_coverage"][i],
                    "coverage_at_worst_k": res["coverage_at_worst_k"][i],
                    "final_mean_accuracy": res["mean_accuracy"][i][-1],
                    "spearman": (res["spearman"] or [None] * len(self.summary["seeds"]))[i],
                    "seconds": res["seconds"][i],
                })
        return pandas.DataFrame(rows)

    @property
    def curves(self) -> pandas.DataFrame:
        import pandas

        rows = []
        for name, res in self.summary["selectors"].items():
            for i, seed in enumerate(self.summary["seeds"]):
                for step, (cov, mean) in enumerate(zip(res["coverage"][i],
                                                       res["mean_accuracy"][i], strict=True)):
                    rows.append({"selector": name, "seed": seed, "evaluations": step + 1,
                                 "coverage": cov, "mean_accuracy": mean,
                                 "row": res["rows"][i][step]})
        return pandas.DataFrame(rows)


def bench(table: str | Path, selectors: Sequence[str], *, repeats: int = 10, seed: int = 0,
          budget: int | None = None, batch_size: int = 1, target: str = "accuracy",
          progress: bool = False, threads: int | None = None,
          registry: Registry | None = None) -> BenchResult:
    """``fx bench``: replay ``selectors`` over ``table`` (a CSV or a shipped table's name)
    ``repeats`` times each, seeds ``seed`` … ``seed + repeats - 1``."""
    from fxcore.bench.replay import run_bench
    from fxcore.bench.table import load_table
    from fxcore.threads import apply_threads

    if repeats < 1 or seed < 0:
        raise ConfigError(f"repeats must be >= 1 and seed >= 0, got {repeats} and {seed}")
    apply_threads(threads)
    doc = run_bench(load_table(str(table), target=target), list(selectors),
                    seeds=range(seed, seed + repeats), budget=budget, batch_size=batch_size,
                    registry=registry, show_progress=progress)
    return BenchResult(doc)

"""One runner for every job: config → components → run store → run → summary.

A :class:`Job` says what is particular to a job: its config model, how its components are built
and checked (:meth:`Job.build`, everything that can fail on bad input, before anything is
written), which files it reads, how it runs on an open store and how its summary reads.
:func:`run_job` is the only code that decides new / resume / already finished, opens and
finishes the run store, and turns a plugin factory's failure into a :class:`RunError` that names
the config field::

    from fxcore.jobs import get_job, run_job
    result = run_job(get_job("explore"), config, out="runs/x")

``JOBS`` names every job's module without importing it, so ``fx`` starts without torch; the
default output folder and ``fx report`` come from the same table.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from fxcore.errors import ConfigError, FxError, RunError
from fxcore.paths import check_out_dir
from fxcore.schemas import ComponentSpec, JobConfig

if TYPE_CHECKING:  # annotations only: the runner must not cost pandas' or torch's start-up
    import pandas

    from fxcore.plugins import Registry
    from fxcore.store import RunStore

C = TypeVar("C", bound=JobConfig)
P = TypeVar("P")


@dataclass(frozen=True)
class JobEntry:
    """Where a job lives: ``module:attribute`` of its :class:`Job` and of its report writer
    (``write_report(run_dir) -> report with .html and .data``), or ``None`` (no report yet)."""

    job: str
    report: str | None = None


#: every job by name; the modules are imported only when the job runs
JOBS: dict[str, JobEntry] = {
    "explore": JobEntry("fxcore.explore.job:EXPLORE", "fxcore.explore.report:write_report"),
    "mds": JobEntry("fxcore.mds.run:MDS", "fxcore.mds.report:write_report"),
    "label": JobEntry("fxcore.label.job:LABEL", "fxcore.label.report:write_report"),
}

#: reports of runs made outside :func:`run_job` (``fx bench --report DIR``), by run.json's job
OTHER_REPORTS: dict[str, str] = {"bench": "fxcore.bench.report:write_report"}


def _attribute(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def get_job(name: str) -> Job[Any, Any]:
    """The :class:`Job` called ``name`` (imports its module)."""
    if name not in JOBS:
        raise ConfigError(f"unknown job {name!r}; jobs: {', '.join(JOBS)}")
    job = _attribute(JOBS[name].job)
    assert isinstance(job, Job)
    return job


def report_writer(job: str) -> Callable[..., Any]:
    """``write_report(run_dir)`` of the job's runs; a :class:`ConfigError` when it has none."""
    entry = JOBS.get(job)
    where = entry.report if entry is not None else OTHER_REPORTS.get(job)
    if where is None:
        have = ", ".join([*(n for n, e in JOBS.items() if e.report), *OTHER_REPORTS])
        raise ConfigError(f"fx report has no report for {job!r} runs (it has: {have})")
    writer: Callable[..., Any] = _attribute(where)
    return writer


def default_out(job: str, source: str | Path) -> Path:
    """``runs/<job>-<stem of the config or table file>``: the same config lands in the same
    folder, so a second run says "already holds a run; pass --resume" instead of piling up."""
    return Path("runs") / f"{job}-{Path(source).stem}"


def run_kind(run_dir: str | Path) -> str:
    """The job that made the run in ``run_dir`` (from its ``run.json``)."""
    info = Path(run_dir) / "run.json"
    if not info.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no run.json)")
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{info}: unreadable ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("job"), str):
        raise ConfigError(f"{info}: no job name in it; not an fxcore run")
    return str(data["job"])


def display_names(specs: Sequence[ComponentSpec | str]) -> list[str]:
    """Short unique names of component specs: the name plus the params that differ between
    them (``cnn(width=8)``, ``cnn(width=16)``); still equal ones are numbered (``cnn``,
    ``cnn#2``)."""
    given = [ComponentSpec(name=s) if isinstance(s, str) else s for s in specs]
    keys = {k for s in given for k in s.params}
    differ = sorted(k for k in keys if len({repr(s.params.get(k)) for s in given}) > 1)
    out: list[str] = []
    for s in given:
        extra = ",".join(f"{k}={s.params[k]}" for k in differ if k in s.params)
        base = f"{s.name}({extra})" if extra else s.name
        name, k = base, 2
        while name in out:
            name, k = f"{base}#{k}", k + 1
        out.append(name)
    return out


class Builder:
    """Builds a job's components from config specs.

    ``given`` holds component objects passed in directly (the Python API's ``components=``,
    e.g. your own classifier); they replace the config's spec of the same field but are checked
    against the same contract. A factory that raises becomes a :class:`RunError` naming the
    field (``classifier: mnist/cnn could not be built: OSError: ...``).
    """

    def __init__(self, registry: Registry, given: Mapping[str, Any] | None = None) -> None:
        self.registry = registry
        self.given = dict(given or {})
        #: config field -> (kind, spec, component, given?) of what was built (for provenance)
        self.made: dict[str, tuple[str, ComponentSpec, Any, bool]] = {}

    def create(self, kind: str, spec: ComponentSpec, where: str) -> Any:
        """The component of ``kind`` for the config field ``where``."""
        if where in self.given:
            obj = _check_contract(kind, self.given[where], where)
            self.made.setdefault(where, (kind, spec, obj, True))
            return obj
        try:
            obj = self.registry.create(kind, spec, where=where)  # type: ignore[call-overload]
            self.made.setdefault(where, (kind, spec, obj, False))
            return obj
        except FxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's factory failed
            raise RunError(
                f"{where}: {spec.name} could not be built: {type(exc).__name__}: {exc}"
            ) from exc

    def who(self, kind: str, spec: ComponentSpec, where: str, label: str | None = None) -> str:
        """How errors name the component (``classifier 'mnist/cnn' (plugin fxcore-mnist)``)."""
        from fxcore.checks import describe

        if where in self.given:
            return describe(kind, label or type(self.given[where]).__name__, "given")
        comp = self.registry.get(kind, spec.name)
        shown = (label or spec.name).replace(spec.name, comp.qualified_name, 1)
        return describe(kind, shown, comp.distribution)


def _check_contract(kind: str, obj: Any, where: str) -> Any:
    from fxcore.contracts import CONTRACTS

    contract = CONTRACTS.get(kind)
    if contract is not None and not isinstance(obj, contract):
        members = {*getattr(contract, "__annotations__", {}),
                   *(n for n, v in vars(contract).items() if callable(v) and n[0] != "_")}
        missing = ", ".join(sorted(m for m in members if not hasattr(obj, m)))
        raise ConfigError(f"components.{where}: a {type(obj).__name__} does not follow the "
                          f"{contract.__name__} contract (see fxcore.contracts)"
                          + (f"; it lacks {missing}" if missing else ""))
    return obj


@dataclass
class RunContext:
    """What a running job may use besides its parts and store."""

    progress: bool = True
    log: Callable[[str], None] | None = None


class Job(Generic[C, P]):
    """One job. Subclasses set ``name`` and ``config_model`` and implement :meth:`build` and
    :meth:`run`; ``store_name`` is the job name written to ``run.json`` (``fx report`` finds
    the report by it)."""

    name: ClassVar[str]
    config_model: ClassVar[type[JobConfig]]
    store_name: ClassVar[str] = ""
    #: record kinds of the run store shown as tables by the Python API (attribute -> kind)
    tables: ClassVar[dict[str, str]] = {}

    def build(self, config: C, build: Builder) -> P:
        """Build and check the components: every error a config can cause, nothing written."""
        raise NotImplementedError

    def inputs(self, config: C, parts: P) -> Mapping[str, Path]:
        """Files the run reads besides the config (their sha256 joins the run's identity)."""
        files: Mapping[str, Path] = config.input_files()
        return files

    def run(self, config: C, parts: P, store: RunStore, ctx: RunContext) -> dict[str, Any]:
        """Run (or continue) on an open store; returns the summary (``status: waiting`` when a
        person still has to answer; the run is then not finished)."""
        raise NotImplementedError

    def close(self, parts: P) -> None:
        """Release what :meth:`build` started (workers, servers); called however the run
        ends."""

    def lines(self, summary: dict[str, Any]) -> list[str]:
        """The summary as the CLI prints it."""
        return [json.dumps(summary)]


@dataclass
class RunResult:
    """A run's summary and its records. ``table(name)`` (or the attribute of that name, e.g.
    ``result.evaluations``) is a pandas DataFrame of the run store's records, one row each,
    nested fields flattened (``values.weather``)."""

    job: str
    run_dir: Path
    summary: dict[str, Any]
    tables: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.summary.get("status") != "waiting"

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of the run store's records of ``kind``, in the order they were made."""
        from fxcore.store import RunStore

        store = RunStore(self.run_dir, check=True)
        try:
            return store.records(kind)
        finally:
            store.close()

    def table(self, name: str) -> pandas.DataFrame:
        """The records behind ``name`` (a key of ``tables``) as a DataFrame."""
        import pandas

        if name not in self.tables:
            raise KeyError(f"{self.job} runs have the tables {sorted(self.tables)}, not {name!r}")
        rows = self.records(self.tables[name])
        return pandas.json_normalize(rows) if rows else pandas.DataFrame()

    def __getattr__(self, name: str) -> Any:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return self.table(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def check_out(out: Path, resume: bool, config: JobConfig) -> None:
    """Fail early (before components are built) when ``out`` cannot take this run; the run
    store checks the same again when it opens."""
    from fxcore.store import config_hash

    check_out_dir(out)
    info = out / "run.json"
    if resume:
        if not info.exists():
            raise ConfigError(f"--resume: {out} holds no run to resume (no run.json)")
        try:
            recorded = json.loads(info.read_text(encoding="utf-8")).get("config_hash")
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigError(f"--resume: {info} is unreadable ({exc})") from None
        if recorded != config_hash(config):
            raise ConfigError(
                f"--resume: the config changed since the run in {out} started "
                f"(hash {recorded} != {config_hash(config)}); start a new run with --out"
            )
    elif info.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose "
                          "another --out")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; choose another --out")


def run_job(
    job: Job[Any, Any] | str,
    config: JobConfig,
    out: str | Path,
    resume: bool = False,
    *,
    registry: Registry | None = None,
    components: Mapping[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> RunResult:
    """Run ``config`` into the run folder ``out`` — new, resumed (``resume=True``) or, when
    that run already finished, just its recorded summary (``resumed: true``).

    Bad input raises :class:`ConfigError` before anything is written; a failure during the run
    raises :class:`RunError` and leaves the run resumable. ``components`` passes ready objects
    for config fields (``{"classifier": model}``); ``threads``: see :mod:`fxcore.threads`.
    """
    from fxcore.plugins import default_registry
    from fxcore.threads import apply_threads

    if isinstance(job, str):
        job = get_job(job)
    if not isinstance(config, job.config_model):
        raise ConfigError(f"the {job.name} job takes a {job.config_model.__name__}, "
                          f"not a {type(config).__name__}")
    out = Path(out)
    fields = set(type(config).component_fields) | set(type(config).model_fields)
    unknown = sorted(k for k in components or {} if k.split(".")[0] not in fields)
    if unknown:
        raise ConfigError(f"components: {', '.join(unknown)} is not a component field of "
                          f"{job.config_model.__name__}")
    check_out(out, resume, config)
    apply_threads(threads)
    builder = Builder(registry or default_registry(), components)
    parts = job.build(config, builder)
    try:
        return _run_built(job, config, parts, out, resume, builder, progress, log)
    finally:
        job.close(parts)  # e.g. a Ray executor's actors, also when the store refuses to open


def _run_built(job: Job[Any, Any], config: JobConfig, parts: Any, out: Path, resume: bool,
               builder: Builder, progress: bool, log: Callable[[str], None] | None
               ) -> RunResult:
    from fxcore.store import RunStore

    store = RunStore.open(out, job.store_name or job.name, config, resume=resume,
                          inputs=job.inputs(config, parts))
    with store:
        if resume and store.complete:
            summary = dict(store.info.get("summary", {}), resumed=True)
        else:
            from fxcore.reports.provenance import record

            try:
                summary = job.run(config, parts, store, RunContext(progress, log))
            finally:  # what ran, on what (for the report's reproducibility block)
                record(out, config, builder.made, builder.registry)
            if summary.get("status") != "waiting":
                store.finish(summary)
    return RunResult(job.store_name or job.name, out, summary, dict(job.tables))


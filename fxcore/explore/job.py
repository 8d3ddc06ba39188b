"""The ``explore`` job (BO paper, Algorithm 1) for :func:`fxcore.jobs.run_job`.

Everything that can be wrong with a config (schema, components, params, invalid rules that leave
no subdomain, attribute values the generator cannot render, class grouping, an occupied
``--out``) is found by :meth:`ExploreJob.build`, before the run directory is written. Heavy
modules (torch) are imported only when a job is built, so ``fx explore missing.toml`` answers at
once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fxcore.errors import ConfigError
from fxcore.jobs import Builder, Job, RunContext, run_job
from fxcore.schemas import ExploreConfig

if TYPE_CHECKING:
    from fxcore.domain import SubdomainSpace
    from fxcore.explore.loop import ExploreResult
    from fxcore.grouping import ClassGrouping
    from fxcore.plugins import Registry
    from fxcore.store import RunStore

KINDS = ("generator", "classifier", "filter", "selector")


@dataclass
class Components:
    """The components of one run, built from the config's specs."""

    generator: Any
    classifier: Any
    filter: Any
    selector: Any
    names: dict[str, str] = field(default_factory=dict)  # kind -> as errors name it
    space: SubdomainSpace | None = None
    grouping: ClassGrouping | None = None
    executor: Any = None  # started; the job closes it


class ExploreJob(Job[ExploreConfig, Components]):
    name = "explore"
    config_model = ExploreConfig
    tables = {"evaluations": "evaluation", "proposals": "proposal"}

    def build(self, config: ExploreConfig, build: Builder) -> Components:
        """The components, checked, and the executor, started. With a remote executor (Ray)
        the driver builds no generator, filter or classifier: each worker builds its own from
        the config's specs and checks them (attribute values, class grouping) when the
        executor starts, still before the run directory is written."""
        from fxcore.explore.work import WORKER_KINDS, ExploreWorker, make_worker, worker_setup
        from fxcore.schemas import ComponentSpec

        space = subdomain_space(config)
        executor = build.create("executor", config.executor or ComponentSpec(name="local"),
                                "executor")
        remote = bool(executor.remote)
        given = sorted(k for k in WORKER_KINDS if k in build.given)
        if remote and given:
            raise ConfigError(
                f"components: {', '.join(given)} given as objects cannot reach the workers of "
                f"the executor {config.executor.name if config.executor else 'local'} (each "
                "builds its components from the config's specs); name them in the config or "
                "use the local executor")

        def make(kind: str) -> Any:
            spec = getattr(config, kind)
            if remote and kind in WORKER_KINDS:
                return None
            return None if spec is None and kind not in build.given else build.create(
                kind, spec, kind)

        parts = Components(*(make(kind) for kind in KINDS))
        for kind in KINDS:
            spec = getattr(config, kind)
            if spec is not None or kind in build.given:
                parts.names[kind] = build.who(kind, spec, kind)
        parts.space = space
        setup = worker_setup(config, parts.names, build.registry)
        if remote:
            executor.start(make_worker, setup)
        else:
            check_attribute_values(config, parts.generator, parts.names["generator"])
            from fxcore.explore.loop import make_grouping

            parts.grouping = make_grouping(config, parts.classifier)
            executor.start(make_worker, setup, local=ExploreWorker.from_parts(
                config, parts.generator, parts.filter, parts.classifier, parts.grouping, space,
                parts.names))
        parts.executor = executor
        return parts

    def run(self, config: ExploreConfig, parts: Components, store: RunStore,
            ctx: RunContext) -> dict[str, Any]:
        from fxcore.explore.loop import run_explore

        result = run_explore(
            config, parts.generator, parts.classifier, parts.filter, parts.selector, store,
            grouping=parts.grouping, show_progress=ctx.progress, names=parts.names,
            space=parts.space, executor=parts.executor,
        )
        return result.summary()

    def close(self, parts: Components) -> None:
        if parts.executor is not None:
            parts.executor.close()

    def lines(self, summary: dict[str, Any]) -> list[str]:
        s = summary
        mean = "n/a" if s["mean_accuracy"] is None else f"{s['mean_accuracy']:.3f}"
        return [
            f"evaluated {s['n_evaluated']} of {s['n_subdomains']} subdomains "
            f"({s['n_no_valid_images']} without valid images) in {s['seconds']:.1f} s; "
            f"mean accuracy {mean}",
            "worst subdomains:",
            *(f"  {line}" for line in worst_lines(s["worst"])),
            f"run: {s['run_dir']}  (report: fx report {s['run_dir']})",
        ]


EXPLORE = ExploreJob()


def worst_lines(worst: list[dict[str, Any]]) -> list[str]:
    """``accuracy 0.10 [0.02, 0.30] (1/10)  digit=7, rotation=90`` for the summary's worst
    subdomains."""
    return [
        f"accuracy {w['accuracy']:.2f} [{w['accuracy_low']:.2f}, {w['accuracy_high']:.2f}] "
        f"({w['n_correct']}/{w['n_kept']})  "
        + ", ".join(f"{k}={v}" for k, v in w["values"].items())
        for w in worst
    ]


def build_components(config: ExploreConfig, registry: Registry | None = None,
                     components: Mapping[str, Any] | None = None) -> Components:
    """Build (and check) each component named by ``config``; errors name the config field."""
    from fxcore.plugins import default_registry

    return EXPLORE.build(config, Builder(registry or default_registry(), components))


def subdomain_space(config: ExploreConfig) -> SubdomainSpace:
    """The valid subdomains; a domain whose ``invalid`` rules exclude all is a config error."""
    from fxcore.domain import SubdomainSpace

    try:
        return SubdomainSpace(config.domain)
    except ValueError as exc:
        raise ConfigError(f"domain.invalid: {exc}; nothing to explore") from None


def check_attribute_values(config: ExploreConfig, generator: Any, name: str) -> None:
    """Ask a generator that can tell (optional ``check_attributes``, see
    :class:`fxcore.contracts.Generator`) whether it renders every attribute value of the domain."""
    from fxcore.contracts import AttributeChecker

    if not isinstance(generator, AttributeChecker):
        return
    try:
        generator.check_attributes({a.name: list(a.values) for a in config.domain.attributes})
    except ValueError as exc:
        raise ConfigError(f"domain.attributes: {name} cannot render every value: {exc}") from None


def explore(
    config: ExploreConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    show_progress: bool = True,
    components: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> ExploreResult:
    """Run (or resume) ``config`` into the run directory ``out`` (:func:`fxcore.jobs.run_job`);
    returns the evaluations in order. ``components``: your own objects for config fields
    (``{"classifier": model}``), checked against the same contracts."""
    from fxcore.explore.loop import ExploreResult, store_order
    from fxcore.store import RunStore

    result = run_job(EXPLORE, config, out, resume, registry=registry, components=components,
                     progress=show_progress, threads=threads)
    store = RunStore(result.run_dir)
    try:
        evaluations = store_order(store)
    finally:
        store.close()
    s = result.summary
    return ExploreResult(str(result.run_dir), evaluations, int(s.get("n_subdomains", 0)),
                         float(s.get("seconds", 0.0)))

"""Running an explore job: config -> components (through the registry) -> run store -> loop.

Everything that can be wrong with a config (schema, components, params, invalid rules that leave
no subdomain, attribute values the generator cannot render, class grouping, an occupied
``--out``) is found before the run directory is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fxcore.checks import describe
from fxcore.config import load_config
from fxcore.domain import SubdomainSpace
from fxcore.errors import ConfigError, FxError, RunError
from fxcore.explore.loop import ExploreResult, make_grouping, run_explore, store_order
from fxcore.paths import check_out_dir
from fxcore.plugins import Registry, default_registry
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash

JOB = "explore"


@dataclass
class Components:
    """The components of one run, built from the config's specs."""

    generator: Any
    classifier: Any
    filter: Any
    selector: Any
    names: dict[str, str] = field(default_factory=dict)  # kind -> as errors name it


def build_components(config: ExploreConfig, registry: Registry | None = None) -> Components:
    """Build each component named by ``config`` (errors name the config field)."""
    reg = registry or default_registry()

    def make(kind: str, field: str) -> Any:
        spec = getattr(config, field)
        if spec is None:
            return None
        try:
            return reg.create(kind, spec, where=field)
        except FxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's factory failed
            raise RunError(
                f"{field}: {spec.name} could not be built: {type(exc).__name__}: {exc}"
            ) from exc

    kinds = ("generator", "classifier", "filter", "selector")
    parts = Components(*(make(kind, kind) for kind in kinds))
    for kind in kinds:
        spec = getattr(config, kind)
        if spec is not None:
            comp = reg.get(kind, spec.name)
            parts.names[kind] = describe(kind, comp.qualified_name, comp.distribution)
    return parts


def default_out(config_path: str | Path) -> Path:
    """``runs/explore-<config file stem>``."""
    return Path("runs") / f"{JOB}-{Path(config_path).stem}"


def check_out(out: Path, resume: bool, config: ExploreConfig) -> None:
    """Fail early (before components are built) when ``out`` cannot take this run; the run
    store checks the same again when it opens."""
    check_out_dir(out)
    info = out / "run.json"
    if resume and not info.exists():
        raise ConfigError(f"--resume: {out} holds no run to resume (no run.json)")
    if resume:
        try:
            recorded = json.loads(info.read_text()).get("config_hash")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--resume: {info} is unreadable ({exc})") from None
        if recorded != config_hash(config):
            raise ConfigError(
                f"--resume: the config changed since the run in {out} started "
                f"(hash {recorded} != {config_hash(config)}); start a new run with --out"
            )
    if not resume and info.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose "
                          "another --out")
    if not resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; choose another --out")


def subdomain_space(config: ExploreConfig) -> SubdomainSpace:
    """The valid subdomains; a domain whose ``invalid`` rules exclude all is a config error."""
    try:
        return SubdomainSpace(config.domain)
    except ValueError as exc:
        raise ConfigError(f"domain.invalid: {exc}; nothing to explore") from None


def check_attribute_values(config: ExploreConfig, generator: Any, name: str) -> None:
    """Ask a generator that can tell (optional ``check_attributes``, see
    :class:`fxcore.contracts.Generator`) whether it renders every attribute value of the domain."""
    check = getattr(generator, "check_attributes", None)
    if check is None:
        return
    try:
        check({a.name: list(a.values) for a in config.domain.attributes})
    except ValueError as exc:
        raise ConfigError(f"domain.attributes: {name} cannot render every value: {exc}") from None


def explore(
    config: ExploreConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    show_progress: bool = True,
) -> ExploreResult:
    """Run (or resume) ``config`` into the run directory ``out``."""
    out = Path(out)
    space = subdomain_space(config)
    check_out(out, resume, config)
    parts = build_components(config, registry)
    check_attribute_values(config, parts.generator, parts.names["generator"])
    grouping = make_grouping(config, parts.classifier)
    store = RunStore.open(out, JOB, config, resume=resume)
    try:
        if resume and store.info.get("finished"):
            evaluations = store_order(store)
            seconds = sum(e.seconds for e in evaluations)
            result = ExploreResult(str(out), evaluations, _n_subdomains(store), seconds)
        else:
            result = run_explore(
                config, parts.generator, parts.classifier, parts.filter, parts.selector, store,
                grouping=grouping, show_progress=show_progress, names=parts.names, space=space,
            )
        store.finish(result.summary())
        return result
    finally:
        store.close()


def explore_file(
    path: str | Path,
    out: str | Path | None = None,
    resume: bool = False,
    registry: Registry | None = None,
    show_progress: bool = True,
) -> ExploreResult:
    """``fx explore PATH``: validate the config file, then :func:`explore`."""
    config = load_config(path, ExploreConfig, registry)
    return explore(config, out or default_out(path), resume, registry, show_progress)


def _n_subdomains(store: RunStore) -> int:
    return int(store.info.get("summary", {}).get("n_subdomains", 0))

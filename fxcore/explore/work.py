"""What an explore worker does: evaluate one subdomain (or one stage of it) with components it
holds loaded. An :class:`~fxcore.contracts.Executor` runs workers; the explore loop submits
:class:`EvalTask` s and writes what comes back to the run store (the driver alone writes it).

A worker in another process is built by :func:`make_worker` from a :class:`WorkerSetup`: the
config (whose component specs it builds with its own registry: models are never shipped), how
errors name each component, and the plugins the driver's registry was given as modules (tests,
notebooks), which it imports by name. The ``local`` executor uses the driver's own components
(:meth:`ExploreWorker.from_parts`) instead.

Every task is deterministic: image seeds derive from (run seed, subdomain id, round), so a task
retried on another worker, or run by another executor, gives the same evaluation (all but its
``seconds``).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fxcore.domain import SubdomainSpace
    from fxcore.explore.loop import SubdomainResult
    from fxcore.grouping import ClassGrouping
    from fxcore.schemas import ExploreConfig

#: the components a worker builds (the selector stays with the driver)
WORKER_KINDS = ("generator", "filter", "classifier")


@dataclass(frozen=True)
class EvalTask:
    """Evaluate subdomain ``row`` of proposal ``step``: ``want`` kept images (``None``: the
    config's ``images_per_subdomain``) from generation rounds ``first_round`` on; ``stage``
    names the multi-fidelity stage (0 without ``[fidelity]``)."""

    row: int
    step: int
    stage: int = 0
    want: int | None = None
    first_round: int = 0


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker in another process needs, picklable."""

    config: ExploreConfig
    names: dict[str, str]
    plugins: dict[str, str] = field(default_factory=dict)  # plugin name -> module to import
    paths: tuple[str, ...] = ()  # sys.path entries those modules are found under
    strict: bool = False


@dataclass
class ExploreWorker:
    """Holds the loaded components; ``worker(task)`` evaluates one task."""

    config: ExploreConfig
    generator: Any
    filter: Any
    classifier: Any
    grouping: ClassGrouping
    space: SubdomainSpace
    names: dict[str, str]

    @classmethod
    def from_parts(cls, config: ExploreConfig, generator: Any, filter: Any, classifier: Any,
                   grouping: ClassGrouping, space: SubdomainSpace,
                   names: dict[str, str]) -> ExploreWorker:
        return cls(config, generator, filter, classifier, grouping, space, names)

    def __call__(self, task: EvalTask) -> SubdomainResult:
        from fxcore.explore.loop import evaluate_subdomain

        return evaluate_subdomain(
            self.space[task.row], self.config.domain, self.generator, self.filter,
            self.classifier, self.grouping, self.config, task.step, self.names,
            want=task.want, first_round=task.first_round,
        )


def make_worker(setup: WorkerSetup) -> ExploreWorker:
    """Build a worker's components from the config's specs (in the worker's process)."""
    from fxcore.domain import SubdomainSpace
    from fxcore.explore.job import check_attribute_values
    from fxcore.explore.loop import make_grouping
    from fxcore.jobs import Builder
    from fxcore.plugins import Registry, default_registry

    for path in setup.paths:
        if path not in sys.path:
            sys.path.append(path)
    if setup.plugins:
        modules = {name: importlib.import_module(mod) for name, mod in setup.plugins.items()}
        registry = Registry.load(strict=setup.strict, modules=modules)
    else:
        registry = default_registry()
    build = Builder(registry)
    config = setup.config
    parts: dict[str, Any] = {kind: None if getattr(config, kind) is None
             else build.create(kind, getattr(config, kind), kind) for kind in WORKER_KINDS}
    check_attribute_values(config, parts["generator"], setup.names.get("generator", "generator"))
    return ExploreWorker(config, parts["generator"], parts["filter"], parts["classifier"],
                         make_grouping(config, parts["classifier"]),
                         SubdomainSpace(config.domain), setup.names)


def worker_setup(config: ExploreConfig, names: dict[str, str], registry: Any = None
                 ) -> WorkerSetup:
    """The :class:`WorkerSetup` of a run: ``registry``'s directly given plugin modules travel
    by name, with the ``sys.path`` entries they were imported from."""
    plugins = dict(getattr(registry, "modules", {}) or {})
    paths: list[str] = []
    for mod in plugins.values():
        module = sys.modules.get(mod)
        file = getattr(module, "__file__", None)
        if file is None:
            continue
        root = _import_root(file, mod)
        if root and root not in paths:
            paths.append(root)
    strict = bool(getattr(registry, "strict", False))
    return WorkerSetup(config, dict(names), plugins, tuple(paths), strict)


def _import_root(file: str, module: str) -> str | None:
    """The folder on ``sys.path`` that ``module`` (whose file is ``file``) was imported from."""
    from pathlib import Path

    path = Path(file).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    root = path.parent
    for _ in range(depth):
        root = root.parent
    return str(root)

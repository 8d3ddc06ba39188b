"""The ``label`` job: build components from a config, open the run store, run OPAL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fxcore.errors import ConfigError
from fxcore.label.certified import CertifiedRun
from fxcore.label.items import load_items
from fxcore.label.models import ImageModel, TableModel, make_tabular, names_of
from fxcore.label.opal import OpalRun
from fxcore.label.table import load_table
from fxcore.plugins import Registry, default_registry
from fxcore.schemas.label import LabelConfig, LabelTableConfig
from fxcore.store import RunStore


def default_out(job: str = "label") -> Path:
    return Path("runs") / f"{job}-{time.strftime('%Y%m%d-%H%M%S')}"


def _open(out: Path, config: Any, resume: bool,
          files: dict[str, Path] | None = None) -> tuple[RunStore, dict[str, Any] | None]:
    inputs = {**config.input_files(), **(files or {})}
    store = RunStore.open(out, "label", config, resume=resume, inputs=inputs)
    if resume and store.info.get("summary") and store.get_state("status") == "complete":
        return store, dict(store.info["summary"], resumed=True)
    return store, None


def run_label(
    config: LabelConfig,
    out: Path,
    resume: bool = False,
    registry: Registry | None = None,
    log: Callable[[str], None] | None = None,
    annotator: Any = None,
) -> dict[str, Any]:
    """``fx label CONFIG``: returns the summary (see :class:`fxcore.label.opal.OpalRun`)."""
    registry = registry or default_registry()
    t0 = time.perf_counter()
    classifiers = [registry.create("classifier", s, where=f"classifiers.{k}")
                   for k, s in enumerate(config.classifiers)]
    labeller = registry.create("labeller", config.labeller, where="labeller")
    annotator = annotator or registry.create("annotator", config.annotator, where="annotator")
    first = [str(c) for c in classifiers[0].classes]
    items = load_items(config.data, seed=config.seed, classes=first, registry=registry)
    for k, clf in enumerate(classifiers):
        if [str(c) for c in clf.classes] != items.classes:
            raise ConfigError(f"classifiers.{k}: its classes {list(clf.classes)[:5]}… differ "
                              f"from the data's {items.classes[:5]}…")
    load_seconds = time.perf_counter() - t0
    assert items.images is not None
    names = names_of(config.classifiers)
    models = [ImageModel(c, items.images, n, config.batch_size,
                         factory=_fresh(registry, spec, f"classifiers.{k}"))
              for k, (c, n, spec) in enumerate(zip(classifiers, names, config.classifiers,
                                                   strict=True))]
    store, done = _open(out, config, resume, items.files)
    with store:
        if done is not None:
            return done
        run = _make_run(config, items, models, labeller, annotator, store, config.finetune, log)
        summary = run.run()
    summary["seconds"]["load"] = round(load_seconds, 3)
    return summary


def _fresh(registry: Registry, spec: Any, where: str) -> Callable[[], Any]:
    """A factory of fresh classifiers (active learning refits from the plugin's start)."""
    return lambda: registry.create("classifier", spec, where=where)


def _make_run(config: LabelConfig | LabelTableConfig, items: Any, models: list[Any],
              labeller: Any, annotator: Any, store: RunStore, finetune: bool,
              log: Callable[[str], None] | None) -> OpalRun:
    """The certified run (default) or plain OPAL (``certify.enabled = false``)."""
    args = (items, models, labeller, annotator, config.target_accuracy, store, config.split,
            config.active, finetune, config.seed, log)
    if config.certify.enabled:
        return CertifiedRun(*args, delta=config.certify.delta, score=config.certify.score)
    return OpalRun(*args)


def run_table(
    config: LabelTableConfig,
    out: Path,
    resume: bool = False,
    registry: Registry | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``fx label --table CSV``: OPAL with tabular classifiers on a feature table."""
    registry = registry or default_registry()
    t0 = time.perf_counter()
    items = load_table(config.table, config.label_column, config.features, config.id_column,
                       config.nonfinite)
    if log is not None and items.notes:
        log("table: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in items.notes.items()))
    labeller = registry.create("labeller", config.labeller, where="labeller")
    annotator = registry.create("annotator", config.annotator, where="annotator")
    assert items.x is not None
    names = names_of(config.classifiers)
    models = [TableModel(make_tabular(c, config.seed), items.x, len(items.classes), n)
              for c, n in zip(config.classifiers, names, strict=True)]
    load_seconds = time.perf_counter() - t0
    store, done = _open(out, config, resume)
    with store:
        if done is not None:
            return done
        run = _make_run(config, items, models, labeller, annotator, store, True, log)
        summary = run.run()
    summary["seconds"]["load"] = round(load_seconds, 3)
    if items.notes:
        summary["table_notes"] = items.notes
    return summary

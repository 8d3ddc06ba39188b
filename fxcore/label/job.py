"""The ``label`` job (OPAL, certified by default) for :func:`fxcore.jobs.run_job`: on images
with classifier plugins (:data:`LABEL`) or on a ready-made feature table with tabular classifiers
(:data:`LABEL_TABLE`). Both record their runs as ``label`` runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxcore.errors import ConfigError
from fxcore.jobs import Builder, Job, RunContext, display_names, run_job
from fxcore.plugins import Registry
from fxcore.schemas.label import LabelConfig, LabelTableConfig
from fxcore.store import RunStore


@dataclass
class LabelParts:
    """The items to label, a model per classifier, the labeller and the annotator."""

    items: Any
    models: list[Any]
    labeller: Any
    annotator: Any
    load_seconds: float
    finetune: bool = True


class _LabelBase(Job[Any, LabelParts]):
    store_name = "label"
    tables = {"decisions": "decision", "rounds": "round"}

    def inputs(self, config: Any, parts: LabelParts) -> Mapping[str, Path]:
        return {**config.input_files(), **parts.items.files}

    def run(self, config: Any, parts: LabelParts, store: RunStore,
            ctx: RunContext) -> dict[str, Any]:
        """The certified run (default) or plain OPAL (``certify.enabled = false``)."""
        from fxcore.label.certified import CertifiedRun
        from fxcore.label.opal import OpalRun

        args = (parts.items, parts.models, parts.labeller, parts.annotator,
                config.target_accuracy, store, config.split, config.active, parts.finetune,
                config.seed, ctx.log)
        run = (CertifiedRun(*args, delta=config.certify.delta, score=config.certify.score)
               if config.certify.enabled else OpalRun(*args))
        notes = getattr(parts.items, "notes", None)
        if ctx.log is not None and notes and not store.records("decision"):
            ctx.log("table: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in notes.items()))
        summary = run.run()
        if summary.get("status") != "waiting":
            summary["seconds"]["load"] = round(parts.load_seconds, 3)
            if notes:
                summary["table_notes"] = notes
        return summary

    def lines(self, summary: dict[str, Any]) -> list[str]:
        from fxcore.label.cli import format_summary

        return format_summary(summary)


class LabelJob(_LabelBase):
    """``fx label CONFIG``: classifier plugins on images."""

    name = "label"
    config_model = LabelConfig

    def build(self, config: LabelConfig, build: Builder) -> LabelParts:
        from fxcore.label.items import load_items
        from fxcore.label.models import ImageModel

        t0 = time.perf_counter()
        classifiers = [build.create("classifier", s, f"classifiers.{k}")
                       for k, s in enumerate(config.classifiers)]
        labeller = build.create("labeller", config.labeller, "labeller")
        annotator = build.create("annotator", config.annotator, "annotator")
        first = [str(c) for c in classifiers[0].classes]
        items = load_items(config.data, seed=config.seed, classes=first,
                           registry=build.registry)
        for k, clf in enumerate(classifiers):
            if [str(c) for c in clf.classes] != items.classes:
                raise ConfigError(f"classifiers.{k}: its classes {list(clf.classes)[:5]}… "
                                  f"differ from the data's {items.classes[:5]}…")
        assert items.images is not None
        _check_annotator(annotator, items, config)
        names = display_names(config.classifiers)
        models = [ImageModel(c, items.images, n, config.batch_size,
                             factory=_fresh(build, spec, f"classifiers.{k}"))
                  for k, (c, n, spec) in enumerate(zip(classifiers, names, config.classifiers,
                                                       strict=True))]
        return LabelParts(items, models, labeller, annotator, time.perf_counter() - t0,
                          config.finetune)


class LabelTableJob(_LabelBase):
    """``fx label --table CSV``: tabular classifiers on a feature table."""

    name = "label"
    config_model = LabelTableConfig

    def build(self, config: LabelTableConfig, build: Builder) -> LabelParts:
        from fxcore.label.models import TableModel, make_tabular
        from fxcore.label.table import load_table

        t0 = time.perf_counter()
        items = load_table(config.table, config.label_column, config.features,
                           config.id_column, config.nonfinite)
        labeller = build.create("labeller", config.labeller, "labeller")
        annotator = build.create("annotator", config.annotator, "annotator")
        assert items.x is not None
        names = display_names(config.classifiers)
        models = [TableModel(make_tabular(c, config.seed), items.x, len(items.classes), n)
                  for c, n in zip(config.classifiers, names, strict=True)]
        return LabelParts(items, models, labeller, annotator, time.perf_counter() - t0)


LABEL = LabelJob()
LABEL_TABLE = LabelTableJob()


def _check_annotator(annotator: Any, items: Any, config: LabelConfig) -> None:
    """Unlabelled items need a person: the simulator, which answers with the ground truth, is
    refused here, before anything is written."""
    from fxcore.label.annotators import SimulatedAnnotator

    if items.truth is None and isinstance(annotator, SimulatedAnnotator):
        data = config.data
        source = next(f"data.{k} {v}" for k in ("folder", "csv", "path", "dataset")
                      if (v := getattr(data, k)) is not None)
        raise ConfigError(
            f"annotator: 'simulate' answers with the ground truth, and {source} has no labels; "
            'a person must answer: annotator = "web" (a page in the browser), "file" '
            '(answers.csv, then --resume) or "prompt"')


def _fresh(build: Builder, spec: Any, where: str) -> Callable[[], Any]:
    """A factory of fresh classifiers (active learning refits from the plugin's start)."""
    return lambda: build.create("classifier", spec, where)


def run_label(
    config: LabelConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    log: Callable[[str], None] | None = None,
    annotator: Any = None,
    components: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """``fx label CONFIG`` from Python (:func:`fxcore.jobs.run_job`); returns the summary
    (``status`` complete, or waiting for a person's answers)."""
    given = {**(components or {}), **({"annotator": annotator} if annotator else {})}
    return run_job(LABEL, config, out, resume, registry=registry, components=given, log=log,
                   threads=threads).summary


def run_table(
    config: LabelTableConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    log: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """``fx label --table CSV`` from Python; returns the summary."""
    return run_job(LABEL_TABLE, config, out, resume, registry=registry, log=log,
                   threads=threads).summary

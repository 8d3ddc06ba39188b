"""The ``mds`` job: build the components of a config, optimise the starts chunk by chunk, report.

A run processes its ``B`` starts in chunks of ``chunk``; every chunk is optimised as one batch
(:func:`fxcore.mds.optimise.optimise_batch`) and written to the run store in one transaction
(one ``start`` record per start plus one ``chunk`` record). ``--resume`` skips finished chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fxcore.checks import describe
from fxcore.mds.optimise import MdsSetup, check_setup, condition_tensor, optimise_batch
from fxcore.mds.records import ClassMap, resolve_hierarchy, set_distances
from fxcore.plugins import Registry, default_registry
from fxcore.progress import progress
from fxcore.schemas.mds import MdsConfig
from fxcore.store import RunStore

JOB = "mds"


@dataclass
class Prepared:
    """A validated config with its checked components and class hierarchy."""

    config: MdsConfig
    setup: MdsSetup
    classes: ClassMap


def build_setup(config: MdsConfig, registry: Registry | None = None) -> MdsSetup:
    """Create the generator, classifiers and divergence named by ``config``."""
    reg = registry or default_registry()
    gen = reg.create("generator", config.generator, where="generator")
    clfs = [
        reg.create("classifier", spec, where=f"classifiers.{i}")
        for i, spec in enumerate(config.classifiers)
    ]
    div = reg.create("divergence", config.divergence, where="divergence")
    names = labels(config.classifiers)

    def who(kind: str, name: str, label: str) -> str:
        comp = reg.get(kind, name)
        return describe(kind, label.replace(name, comp.qualified_name, 1), comp.distribution)

    return MdsSetup(
        gen, clfs, div, names, generator_name=config.generator.name,
        generator_who=who("generator", config.generator.name, config.generator.name),
        who=[who("classifier", s.name, n) for s, n in zip(config.classifiers, names, strict=True)],
    )


def labels(specs: list[Any]) -> list[str]:
    """Short unique names: ``name`` plus the params that differ between the classifiers."""
    keys = {k for s in specs for k in s.params}
    differ = sorted(k for k in keys if len({repr(s.params.get(k)) for s in specs}) > 1)
    out = []
    for s in specs:
        extra = ",".join(f"{k}={s.params[k]}" for k in differ if k in s.params)
        out.append(f"{s.name}({extra})" if extra else s.name)
    if len(set(out)) < len(out):  # identical specs: number them
        out = [f"{n}#{i}" for i, n in enumerate(out)]
    return out


def prepare(config: MdsConfig, registry: Registry | None = None) -> Prepared:
    """Everything that can fail on bad input, before anything is written."""
    setup = check_setup(build_setup(config, registry), config.conditions)
    return Prepared(config, setup, resolve_hierarchy(config.hierarchy, setup.classes))


def chunk_seed(seed: int, k: int) -> int:
    """Seed of ``sample_latent`` for chunk ``k`` (independent of the chunk size)."""
    return seed * 100_003 + k


def run_mds(
    config: MdsConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    prepared: Prepared | None = None,
    show_progress: bool = True,
    job: str = JOB,
    extra: Callable[[RunStore, Prepared], dict[str, Any]] | None = None,
    inputs: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the job into ``out``; returns the summary written to ``run.json``.

    ``extra(store, prepared)`` adds to the summary after the report (the ensemble study);
    ``inputs``: files read besides the config's own (their sha256 joins the run's identity).
    """
    from fxcore.mds.report import write_artefacts

    prep = prepared or prepare(config, registry)
    files = {**config.input_files(), **(inputs or {})}
    store = RunStore.open(out, job, config, resume=resume, inputs=files)
    try:
        if store.complete and resume:
            return dict(store.info.get("summary", {}))
        setup, g = prep.setup, prep.setup.generator
        bounds = list(range(0, config.starts, config.chunk))
        done = sum(1 for k in range(len(bounds)) if store.has("chunk", str(k)))
        t0 = time.perf_counter()
        with progress("mds", total=config.starts, enabled=show_progress) as bar:
            bar.advance(sum(min(config.chunk, config.starts - b) for b in bounds[:done]))
            for k, first in enumerate(bounds):
                if store.has("chunk", str(k)):
                    continue
                starts = list(range(first, min(first + config.chunk, config.starts)))
                z0 = g.sample_latent(len(starts), seed=chunk_seed(config.seed, k))
                cond = condition_tensor(g, config.conditions, starts)
                tic = time.perf_counter()
                result = optimise_batch(
                    setup, z0, cond, config.steps, config.lr, config.prior_weight,
                    config.optimizer, config.record_every, config.top_n,
                )
                seconds = time.perf_counter() - tic
                payloads = start_payloads(prep, starts, k, result)
                with store.transaction():
                    for i, p in zip(starts, payloads, strict=True):
                        store.add("start", str(i), p)
                    store.add("chunk", str(k), {"starts": starts, "seconds": seconds})
                final = float(np.mean(result.trace.divergence[-1]))
                bar.advance(len(starts), divergence=final)
        summary = write_artefacts(store, prep)
        if extra is not None:
            summary.update(extra(store, prep))
        summary["seconds"] = time.perf_counter() - t0
        store.finish(summary)
        return summary
    finally:
        store.close()


def start_payloads(prep: Prepared, starts: list[int], k: int, result: Any) -> list[dict]:
    """One JSON record per start: latents, condition and the recorded trajectory."""
    setup, tr = prep.setup, result.trace
    conds = getattr(setup.generator, "conditions", None)
    dist = [set_distances(prep.classes, idx) for idx in tr.top_classes]
    out = []
    for j, i in enumerate(starts):
        cond = None
        if result.condition is not None and conds is not None:
            cond = str(list(conds)[int(result.condition[j])])
        top = [
            {
                name: {
                    "classes": [setup.classes[c] for c in idx[m, j]],
                    "probs": [round(float(v), 6) for v in val[m, j]],
                }
                for m, name in enumerate(setup.names)
            }
            for idx, val in zip(tr.top_classes, tr.top_probs, strict=True)
        ]
        out.append({
            "start": i,
            "chunk": k,
            "condition": cond,
            "z_init": result.z_init[j].tolist(),
            "z_final": result.z_final[j].tolist(),
            "steps": tr.steps,
            "divergence": [float(d[j]) for d in tr.divergence],
            "log_prior": [float(v[j]) for v in tr.log_prior],
            "dz": [float(v[j]) for v in tr.dz],
            "set_distance": [float(v[j]) for v in dist],
            "top": top,
        })
    return out


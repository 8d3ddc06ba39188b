"""The ``mds`` job: build the components of a config, optimise the starts chunk by chunk, report.

A run processes its ``B`` starts in chunks of ``chunk``; every chunk is optimised as one batch
(:func:`fxcore.mds.optimise.optimise_batch`) and written to the run store in one transaction
(one ``start`` record per start plus one ``chunk`` record). ``--resume`` skips finished chunks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fxcore.errors import ConfigError
from fxcore.jobs import Builder, Job, RunContext, display_names, run_job
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


def build_setup(config: MdsConfig, registry: Registry | Builder | None = None) -> MdsSetup:
    """Create the generator, classifiers and divergence named by ``config``."""
    build = registry if isinstance(registry, Builder) else Builder(registry or default_registry())
    gen = build.create("latent-generator", config.generator, "generator")
    clfs = [build.create("classifier", spec, f"classifiers.{i}")
            for i, spec in enumerate(config.classifiers)]
    div = build.create("divergence", config.divergence, "divergence")
    names = display_names(config.classifiers)
    return MdsSetup(
        gen, clfs, div, names, generator_name=config.generator.name,
        generator_who=build.who("latent-generator", config.generator, "generator"),
        who=[build.who("classifier", s, f"classifiers.{i}", n)
             for i, (s, n) in enumerate(zip(config.classifiers, names, strict=True))],
    )


def prepare(config: MdsConfig, registry: Registry | Builder | None = None) -> Prepared:
    """Everything that can fail on bad input, before anything is written."""
    setup = check_setup(build_setup(config, registry), config.conditions)
    return Prepared(config, setup, resolve_hierarchy(config.hierarchy, setup.classes))


def chunk_seed(seed: int, k: int) -> int:
    """Seed of ``sample_latent`` for chunk ``k`` (independent of the chunk size)."""
    return seed * 100_003 + k


class MdsJob(Job[MdsConfig, Prepared]):
    """GeValDi Algorithm 1 over ``B`` starts, chunk by chunk; ``--resume`` skips finished
    chunks."""

    name = "mds"
    config_model = MdsConfig
    tables = {"starts": "start", "chunks": "chunk"}

    def build(self, config: MdsConfig, build: Builder) -> Prepared:
        if config.ensemble is not None:
            raise ConfigError("ensemble: this config has an [ensemble] table; run it with "
                              "fx mds --ensemble")
        return prepare(config, build)

    def run(self, config: MdsConfig, prep: Prepared, store: RunStore,
            ctx: RunContext) -> dict[str, Any]:
        from fxcore.mds.report import write_artefacts

        t0 = time.perf_counter()
        optimise_chunks(config, prep, store, ctx.progress)
        summary = write_artefacts(store, prep)
        summary.update(self.extra(store, prep))
        summary["seconds"] = time.perf_counter() - t0
        return summary

    def extra(self, store: RunStore, prep: Prepared) -> dict[str, Any]:
        """More of the summary, after the report (the ensemble study's scores)."""
        return {}

    def lines(self, summary: dict[str, Any]) -> list[str]:
        from fxcore.mds.report import summary_lines

        return summary_lines(summary)


MDS = MdsJob()


def optimise_chunks(config: MdsConfig, prep: Prepared, store: RunStore,
                    show_progress: bool) -> None:
    """Optimise every chunk of starts not yet in ``store``; one transaction per chunk."""
    setup, g = prep.setup, prep.setup.generator
    bounds = list(range(0, config.starts, config.chunk))
    done = sum(1 for k in range(len(bounds)) if store.has("chunk", str(k)))
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


def run_mds(
    config: MdsConfig,
    out: str | Path,
    resume: bool = False,
    registry: Registry | None = None,
    show_progress: bool = True,
    components: Mapping[str, Any] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) the job into ``out`` (:func:`fxcore.jobs.run_job`); returns the
    summary written to ``run.json``."""
    return run_job(MDS, config, out, resume, registry=registry, components=components,
                   progress=show_progress, threads=threads).summary


def start_payloads(prep: Prepared, starts: list[int], k: int, result: Any) -> list[dict]:
    """One JSON record per start: latents, condition and the recorded trajectory."""
    setup, tr = prep.setup, result.trace
    conds = setup.generator.conditions
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


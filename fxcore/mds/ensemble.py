"""GeValDi appendix F: maximally different samples of a bagging ensemble.

The M classifiers of the run are the members of a bagging ensemble, ``p_ens(y|x) = mean_m
p_m(y|x)``, each fit on its own bootstrap sample of the training split (with
``ensemble.bootstrap``). MDS points are searched with a class-conditional generator, so every
MDS image has a known label, its condition. The ensemble is then scored (accuracy, macro
one-vs-rest AUC, macro F1) on the real test set, on the generator's start images ``g(z_init, c)``
(a control: how good the generator alone is) and on the MDS set ``g(z*, c)``. Finally the MDS
latents ``z*`` are clustered with DBSCAN (eps chosen from a grid by the silhouette of the
clustered points times the fraction clustered), plotted on their top two principal
components, with example images per cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxcore import checks
from fxcore.config import load_npz
from fxcore.contracts import Fittable
from fxcore.datasets import dataset_files, open_dataset, read_split
from fxcore.errors import ConfigError
from fxcore.imaging import save_image_grid
from fxcore.jobs import Builder, run_job
from fxcore.mds.optimise import check_setup
from fxcore.mds.records import resolve_hierarchy
from fxcore.mds.report import decode
from fxcore.mds.run import MdsJob, Prepared, build_setup
from fxcore.plugins import Registry
from fxcore.schemas.mds import EnsembleConfig, MdsConfig
from fxcore.store import RunStore, write_atomic


# ---------------------------------------------------------------------- data
def _as_images(images: Any) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, torch.Tensor) else images
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ConfigError(f"ensemble.data: images must be (N, H, W) or (N, C, H, W), "
                          f"got {tuple(x.shape)}")
    return x.float()


class NpzSplits:
    """The ``train`` / ``test`` splits of an ``.npz`` file (``{split}_images``,
    ``{split}_labels``), read the way a registered data set is."""

    splits = ("train", "test")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.arrays = load_npz(path, "ensemble.path")  # read now: its errors come before the run

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        arrays = self.arrays
        keys = (f"{which}_images", f"{which}_labels")
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise ConfigError(f"ensemble.path: {self.path} has no array {missing[0]!r}")
        return arrays[keys[0]], arrays[keys[1]]


def data_source(spec: EnsembleConfig, registry: Registry | None = None) -> Any:
    """The ``ensemble.dataset`` (built by its plugin) or the ``ensemble.path`` file; both must
    offer the splits ``train`` and ``test``."""
    if spec.path is not None:
        return NpzSplits(spec.path)
    assert spec.dataset is not None
    source = open_dataset(spec.dataset, registry, "ensemble.dataset")
    missing = [s for s in ("train", "test") if s not in [str(x) for x in source.splits]]
    if missing:
        raise ConfigError(f"ensemble.dataset: {spec.dataset.name} has no {missing[0]!r} split "
                          f"(it has: {', '.join(map(str, source.splits))})")
    return source


def load_split(source: Any, split: str) -> tuple[torch.Tensor, np.ndarray]:
    """``(images (N, C, H, W) in [0, 1], labels (N,))`` of the ``train`` or ``test`` split."""
    images, labels = read_split(source, split, "ensemble")
    return _as_images(images), np.asarray(labels, dtype=np.int64)


# ---------------------------------------------------------------------- bagging
def fit_bagging(classifiers: list[Any], names: list[str], images: torch.Tensor,
                labels: np.ndarray, seed: int) -> None:
    """Fit member ``m`` on a bootstrap sample (N draws with replacement, seed ``seed + m``)."""
    n = len(labels)
    for m, (clf, name) in enumerate(zip(classifiers, names, strict=True)):
        if not isinstance(clf, Fittable):
            raise ConfigError(f"classifiers.{m}: {name} has no fit method; set "
                              "ensemble.bootstrap = false to use the classifiers as they are")
        idx = np.random.default_rng(seed + m).integers(0, n, n)
        clf.fit(images[idx], labels[idx])


def ensemble_proba(classifiers: list[Any], images: torch.Tensor, batch: int = 1024,
                   who: list[str] | None = None) -> np.ndarray:
    """``p_ens = mean_m p_m`` as a ``(N, C)`` array (no gradients); each ``p_m`` is checked
    (``who``: how errors name the classifiers)."""
    who = who or [checks.describe("classifier", f"#{m}") for m in range(len(classifiers))]
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i : i + batch]
            ps = [c.predict_proba(x) for c in classifiers]
            for p, c, w in zip(ps, classifiers, who, strict=True):
                checks.probabilities(p, len(x), len(c.classes), w, "(ensemble scores)")
            out.append(torch.stack(ps).mean(0))
    return torch.cat(out).cpu().numpy().astype(np.float64)


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro one-vs-rest ROC AUC and macro F1 of ``probs (N, C)`` against labels."""
    from sklearn.metrics import f1_score, roc_auc_score

    pred = probs.argmax(1)
    k = probs.shape[1]
    present = np.unique(labels)
    p = probs / probs.sum(1, keepdims=True)
    auc: float | None
    if len(present) == k:
        auc = float(roc_auc_score(labels, p, multi_class="ovr", average="macro"))
    elif len(present) >= 2:  # AUC over the classes that occur (one-vs-rest, macro)
        aucs = [roc_auc_score(labels == c, p[:, c]) for c in present]
        auc = float(np.mean(aucs))
    else:
        auc = None
    return {
        "n": int(len(labels)),
        "accuracy": float((pred == labels).mean()),
        "auc_macro_ovr": auc,
        "f1_macro": float(f1_score(labels, pred, average="macro", labels=present)),
    }


# ---------------------------------------------------------------------- clustering
def cluster_latents(z: np.ndarray, eps_grid: list[float], min_samples: int) -> dict[str, Any]:
    """DBSCAN on standardised ``z`` for each eps of the grid; the chosen eps maximises the
    silhouette of the clustered points times the fraction of points clustered (a silhouette
    alone favours an eps that leaves almost everything as noise)."""
    from sklearn.cluster import DBSCAN
    from sklearn.metrics import silhouette_score

    zs = (z - z.mean(0)) / z.std(0).clip(1e-9)
    grid: list[dict[str, Any]] = []
    best: tuple[float, float, np.ndarray] | None = None
    for eps in eps_grid:
        lab = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(zs)
        keep = lab >= 0
        k = len(set(lab[keep]))
        sil = float("nan")
        if k >= 2 and keep.sum() > k:
            sil = float(silhouette_score(zs[keep], lab[keep]))
        score = sil * keep.mean()  # silhouette of the clustered points x fraction clustered
        grid.append({"eps": eps, "clusters": k, "noise": float(1 - keep.mean()),
                     "silhouette": None if np.isnan(sil) else sil,
                     "score": None if np.isnan(score) else float(score)})
        if not np.isnan(score) and (best is None or score > best[1]):
            best = (eps, score, lab)
    if best is None:  # no eps gave two clusters: keep the eps with the fewest noise points
        row = min(grid, key=lambda r: float(r["noise"]))
        lab = DBSCAN(eps=row["eps"], min_samples=min_samples).fit_predict(zs)
        best = (float(row["eps"]), float("nan"), lab)
    eps, _, labels = best
    chosen = next(r for r in grid if r["eps"] == eps)
    return {"eps": eps, "silhouette": chosen["silhouette"], "score": chosen["score"],
            "labels": labels, "grid": grid, "standardised": zs}


def _pca2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    explained = s**2 / max((s**2).sum(), 1e-12)
    return xc @ vt[:2].T, explained[:2]


def _plot_clusters(zs: np.ndarray, labels: np.ndarray, eps: float, path: Path) -> list[float]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pc, explained = _pca2(zs)
    fig, ax = plt.subplots(figsize=(5, 4))
    for c in sorted(set(labels)):
        sel = labels == c
        ax.scatter(pc[sel, 0], pc[sel, 1], s=10, alpha=0.8,
                   label="noise" if c < 0 else f"cluster {c}", c="lightgrey" if c < 0 else None)
    ax.set_xlabel(f"PC1 ({explained[0]:.0%})")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%})")
    ax.set_title(f"DBSCAN of MDS latents (eps={eps:g})", fontsize=9)
    ax.legend(fontsize=6, markerscale=1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [float(e) for e in explained]


# ---------------------------------------------------------------------- the study
def prepare_ensemble(config: MdsConfig, source: Any,
                     registry: Registry | Builder | None = None) -> Prepared:
    """Build the members, fit them on bootstrap samples of ``source``'s training split, check
    them (nothing written yet)."""
    spec = config.ensemble
    assert spec is not None
    setup = build_setup(config, registry)
    if spec.bootstrap:
        x, y = load_split(source, "train")
        fit_bagging(setup.classifiers, setup.names, x, y, config.seed)
    setup = check_setup(setup, config.conditions)
    missing = [c for c in (config.conditions or setup.generator.conditions or [])
               if str(c) not in setup.classes]
    if setup.generator.conditions is None or missing:
        raise ConfigError("generator: the ensemble study needs a class-conditional generator "
                          "whose conditions are class names (the MDS labels)"
                          + (f"; not classes: {missing[:5]}" if missing else ""))
    return Prepared(config, setup, resolve_hierarchy(config.hierarchy, setup.classes))


def evaluate(store: RunStore, prep: Prepared, source: Any) -> dict[str, Any]:
    """Scores on test / start / MDS images, clusters of MDS latents; writes the artefacts."""
    config, setup = prep.config, prep.setup
    spec = config.ensemble
    assert spec is not None
    records = sorted(store.records("start"), key=lambda r: r["start"])
    labels = np.array([setup.classes.index(r["condition"]) for r in records])
    xt, yt = load_split(source, "test")
    if spec.test_size:
        xt, yt = xt[: spec.test_size], yt[: spec.test_size]
    g = setup.generator
    sets = {"test": (xt, yt), "start": (decode(g, records, "z_init"), labels),
            "mds": (decode(g, records, "z_final"), labels)}
    result: dict[str, Any] = {}
    for key, (images, y) in sets.items():
        result[key] = scores(ensemble_proba(setup.classifiers, images, who=setup.who), y)
    result["accuracy_drop_points"] = 100 * (result["test"]["accuracy"]
                                            - result["mds"]["accuracy"])
    result["paper"] = {"test_accuracy": 0.938, "mds_accuracy": 0.653, "drop_points": 28.5}

    z = np.array([r["z_final"] for r in records])
    cl = cluster_latents(z, spec.eps_grid, spec.min_samples)
    lab = cl["labels"]
    explained = _plot_clusters(cl["standardised"], lab, cl["eps"],
                               store.artefact("ensemble_clusters.png"))
    mds_pred = ensemble_proba(setup.classifiers, sets["mds"][0], who=setup.who).argmax(1)
    clusters = []
    shown, titles = [], []
    for c in sorted(set(lab)):
        idx = np.flatnonzero(lab == c)
        conds, counts = np.unique(labels[idx], return_counts=True)
        clusters.append({
            "cluster": int(c), "size": int(len(idx)),
            "conditions": {setup.classes[k]: int(n) for k, n in zip(conds, counts, strict=True)},
            "ensemble_accuracy": float((mds_pred[idx] == labels[idx]).mean()),
        })
        for i in idx[: spec.examples_per_cluster]:
            shown.append(sets["mds"][0][i])
            tag = "noise" if c < 0 else f"c{c}"
            titles.append(f"{tag} y={setup.classes[labels[i]]} ens={setup.classes[mds_pred[i]]}")
    save_image_grid(torch.stack(shown), store.artefact("ensemble_cluster_examples.png"), titles,
                    ncol=spec.examples_per_cluster, suptitle="MDS examples per DBSCAN cluster")
    result["clusters"] = {"eps": cl["eps"], "silhouette": cl["silhouette"],
                          "score": cl["score"], "grid": cl["grid"],
                          "pca_explained": explained, "clusters": clusters}
    write_atomic(store.artefact("ensemble.json"), json.dumps(result, indent=1) + "\n")
    if not store.has("ensemble", "metrics"):
        store.add("ensemble", "metrics", result)
    return {"ensemble": result}


class MdsEnsembleJob(MdsJob):
    """``fx mds --ensemble``: bag the members, run MDS across them, score, cluster."""

    def build(self, config: MdsConfig, build: Builder) -> EnsemblePrepared:
        if config.ensemble is None:
            raise ConfigError("ensemble: --ensemble needs an [ensemble] table (dataset, ...)")
        source = data_source(config.ensemble, build.registry)
        prep = prepare_ensemble(config, source, build)
        return EnsemblePrepared(prep.config, prep.setup, prep.classes, source)

    def inputs(self, config: MdsConfig, parts: Prepared) -> Mapping[str, Path]:
        assert isinstance(parts, EnsemblePrepared)
        return {**config.input_files(), **dataset_files(parts.source, "ensemble.dataset")}

    def extra(self, store: RunStore, prep: Prepared) -> dict[str, Any]:
        assert isinstance(prep, EnsemblePrepared)
        return evaluate(store, prep, prep.source)


@dataclass
class EnsemblePrepared(Prepared):
    """The bagged members, and the data they were fitted on and are scored on."""

    source: Any = None


MDS_ENSEMBLE = MdsEnsembleJob()


def run_ensemble(config: MdsConfig, out: str | Path, resume: bool = False,
                 registry: Registry | None = None, show_progress: bool = True) -> dict[str, Any]:
    """``fx mds --ensemble`` from Python (:func:`fxcore.jobs.run_job`); returns the summary."""
    return run_job(MDS_ENSEMBLE, config, out, resume, registry=registry,
                   progress=show_progress).summary

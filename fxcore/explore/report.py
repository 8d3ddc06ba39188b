"""``fx report RUN_DIR``: what an explore run found, as PNG + JSON + one self-contained HTML page.

- the reproducibility block (config, seed, selector and every component with its plugin's
  version, device, time per step; :mod:`fxcore.reports.provenance`);
- the worst subdomains with their 95% intervals and sample images, each image captioned with
  the classifier's prediction and P(true class);
- per-attribute mean accuracy with 95% intervals (the paper's Fig. 5): for each value of each
  attribute, the mean accuracy of the evaluated subdomains with that value and a Student-t
  interval over those subdomains;
- pairwise attribute heatmaps (Fig. 6): mean accuracy for every pair of values of two
  attributes, each cell with the number n of evaluated subdomains it averages; cells with no
  evaluated subdomain are hatched and say so (never a colour that reads as an accuracy);
- the selection trace: accuracy of each evaluation in order, running minimum and mean.

Everything goes to ``RUN_DIR/report/``: ``index.html`` (images embedded as base64, so the page
can be mailed or attached on its own), ``report.json`` and the figures as ``*.png``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from fxcore.errors import ConfigError
from fxcore.schemas import Evaluation, ExploreConfig
from fxcore.store import RunStore, write_atomic


@dataclass
class RunData:
    """An explore run read back from its directory."""

    path: Path
    config: ExploreConfig
    evaluations: list[Evaluation]
    info: dict[str, Any]

    @property
    def ok(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.accuracy is not None]


def load_run(run_dir: str | Path) -> RunData:
    """Read an explore run (config snapshot + evaluation records); errors name the folder."""
    path = Path(run_dir)
    info_file = path / "run.json"
    if not info_file.is_file() or not (path / "run.sqlite").is_file():
        raise ConfigError(f"{path} is not a run directory (no run.json / run.sqlite)")
    info = json.loads(info_file.read_text())
    if info.get("job") != "explore":
        raise ConfigError(f"{path} is a {info.get('job')!r} run, not an explore run")
    config = ExploreConfig.model_validate_json((path / "config.json").read_text())
    store = RunStore(path)
    try:
        evaluations = [Evaluation.model_validate(r) for r in store.records("evaluation")]
    finally:
        store.close()
    return RunData(path, config, evaluations, info)


def mean_interval(acc: np.ndarray, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean of subdomain accuracies and its Student-t interval (``None`` for fewer than 2)."""
    mean = float(np.mean(acc))
    if len(acc) < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + level / 2, len(acc) - 1) * stats.sem(acc))
    if not np.isfinite(half):
        half = 0.0
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def attribute_summary(run: RunData) -> dict[str, list[dict[str, Any]]]:
    """attribute -> one row per value: n evaluated, mean accuracy, 95% interval."""
    out: dict[str, list[dict[str, Any]]] = {}
    for attr in run.config.domain.attributes:
        rows = []
        for v in attr.values:
            acc = np.array([e.accuracy for e in run.ok if e.values[attr.name] == v])
            row: dict[str, Any] = {"value": v, "n": int(len(acc))}
            if len(acc):
                row["mean_accuracy"], row["low"], row["high"] = mean_interval(acc)
            else:
                row["mean_accuracy"] = row["low"] = row["high"] = None
            rows.append(row)
        out[attr.name] = rows
    return out


def pair_summary(run: RunData) -> list[dict[str, Any]]:
    """For each pair of attributes (a, b): mean accuracy and count per (value_a, value_b)."""
    pairs = []
    for a, b in itertools.combinations(run.config.domain.attributes, 2):
        total = np.zeros((len(a.values), len(b.values)))
        count = np.zeros_like(total, dtype=int)
        ia = {v: i for i, v in enumerate(a.values)}
        ib = {v: i for i, v in enumerate(b.values)}
        for e in run.ok:
            i, j = ia[e.values[a.name]], ib[e.values[b.name]]
            total[i, j] += e.accuracy or 0.0
            count[i, j] += 1
        with np.errstate(invalid="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        pairs.append({
            "a": a.name, "b": b.name, "values_a": a.values, "values_b": b.values,
            "mean_accuracy": [[None if np.isnan(x) else float(x) for x in r] for r in mean],
            "n": count.tolist(),
        })
    return pairs


def worst_subdomains(run: RunData, n: int) -> list[Evaluation]:
    return sorted(run.ok, key=lambda e: (e.accuracy, e.accuracy_high, e.index))[:n]


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_attributes(summary: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    plt = _plt()
    n = len(summary)
    fig, axes = plt.subplots(1, n, figsize=(max(3.0, 2.6 * n), 3.2), squeeze=False, sharey=True)
    for ax, (name, rows) in zip(axes[0], summary.items(), strict=True):
        xs = [r for r in rows if r["mean_accuracy"] is not None]
        pos = np.arange(len(xs))
        means = np.array([r["mean_accuracy"] for r in xs])
        lows = np.array([r["low"] if r["low"] is not None else r["mean_accuracy"] for r in xs])
        highs = np.array([r["high"] if r["high"] is not None else r["mean_accuracy"] for r in xs])
        ax.errorbar(pos, means, yerr=[means - lows, highs - means], fmt="o", capsize=3)
        ax.set_xticks(pos, [r["value"] for r in xs], rotation=45, ha="right", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("mean accuracy (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pairs(pairs: list[dict[str, Any]], path: Path) -> Path | None:
    if not pairs:
        return None
    plt = _plt()
    ncol = min(3, len(pairs))
    nrow = -(-len(pairs) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.6 * nrow), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    image = None
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="white")
    for ax, p in zip(axes.ravel(), pairs, strict=False):
        ax.axis("on")
        m = np.array([[np.nan if x is None else x for x in r] for r in p["mean_accuracy"]])
        n = np.array(p["n"])
        image = ax.imshow(np.ma.masked_invalid(m), vmin=0, vmax=1, cmap=cmap, aspect="auto")
        for i, j in zip(*np.nonzero(n == 0), strict=True):  # no subdomain evaluated: hatched
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                       edgecolor="0.6", lw=0))
        ax.set_yticks(range(len(p["values_a"])), p["values_a"], fontsize=6)
        ax.set_xticks(range(len(p["values_b"])), p["values_b"], fontsize=6, rotation=45,
                      ha="right")
        ax.set_ylabel(p["a"], fontsize=8)
        ax.set_xlabel(p["b"], fontsize=8)
        if m.size <= 64:
            for (i, j), x in np.ndenumerate(m):
                text = "none" if np.isnan(x) else f"{x:.2f}\nn={n[i, j]}"
                ax.text(j, i, text, ha="center", va="center", fontsize=5.5)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6,
                     label="mean accuracy (hatched: no subdomain evaluated)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_trace(run: RunData, path: Path) -> Path:
    plt = _plt()
    acc = np.array([e.accuracy if e.accuracy is not None else np.nan for e in run.evaluations])
    x = np.arange(1, len(acc) + 1)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.scatter(x, acc, s=10, label="accuracy of evaluated subdomain", zorder=3)
    valid = ~np.isnan(acc)
    if valid.any():
        filled = np.where(valid, acc, np.inf)
        ax.step(x, np.minimum.accumulate(filled), where="post", label="lowest so far", color="C3")
        cum = np.cumsum(np.where(valid, acc, 0)) / np.maximum(np.cumsum(valid), 1)
        ax.plot(x, cum, label="mean so far", color="C2")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    # the legend sits outside the axes, where it hides no point
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def mosaic(images: np.ndarray, min_side: int = 64, gap: int = 2) -> np.ndarray:
    """``(N, C, H, W)`` uint8 -> one ``(H', W', 3)`` row of images, enlarged (nearest) to
    at least ``min_side`` pixels, separated by white gaps."""
    x = images if images.shape[1] == 3 else np.repeat(images[:, :1], 3, axis=1)
    x = x.transpose(0, 2, 3, 1)
    scale = max(1, -(-min_side // max(x.shape[1:3])))
    x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, _ = x.shape
    out = np.full((h, n * w + (n - 1) * gap, 3), 255, dtype=np.uint8)
    for i in range(n):
        out[:, i * (w + gap): i * (w + gap) + w] = x[i]
    return out


def load_samples(run: RunData, ev: Evaluation) -> tuple[np.ndarray, list[str], list[float]]:
    """The kept images saved for ``ev`` (``(N, C, H, W)`` uint8), each one's predicted class
    and P(true class); empty when none were saved."""
    sample = run.path / "artefacts" / "samples" / f"{ev.subdomain_id}.npz"
    if not sample.is_file():
        return np.zeros((0, 3, 1, 1), dtype=np.uint8), [], []
    with np.load(sample) as z:
        return (z["images"], [str(p) for p in z["predicted"]],
                [float(q) for q in z["p_true"]])


def plot_samples(run: RunData, ev: Evaluation, path: Path) -> tuple[Path | None, list[str]]:
    """PNG row of the kept images saved for ``ev`` and a caption per image
    (predicted class, P(true class))."""
    images, predicted, p_true = load_samples(run, ev)
    if len(images) == 0:
        return None, []
    _plt().imsave(path, mosaic(images))
    return path, [f"{p} ({q:.2f})" for p, q in zip(predicted, p_true, strict=True)]


def _thumbnails(run: RunData, ev: Evaluation) -> list[dict[str, Any]]:
    """One embedded image per saved sample with its prediction and P(true class)."""
    from fxcore.reports import png_uri

    images, predicted, p_true = load_samples(run, ev)
    out = []
    for img, p, q in zip(images, predicted, p_true, strict=True):
        x = img if img.shape[0] == 3 else np.repeat(img[:1], 3, axis=0)
        out.append({"src": png_uri(x.transpose(1, 2, 0)), "predicted": p, "p_true": q})
    return out


@dataclass
class Report:
    data: dict[str, Any]
    html: Path
    folder: Path


def write_report(run_dir: str | Path, n_worst: int = 10) -> Report:
    """Write ``RUN_DIR/report/`` (JSON, PNGs, self-contained HTML); returns where it is."""
    run = load_run(run_dir)
    folder = run.path / "report"
    folder.mkdir(exist_ok=True)
    attrs = attribute_summary(run)
    pairs = pair_summary(run)
    worst = worst_subdomains(run, n_worst)
    ok = [e.accuracy for e in run.ok if e.accuracy is not None]
    data: dict[str, Any] = {
        "run_dir": str(run.path),
        "domain": run.config.domain.name,
        "status": run.info.get("status"),
        "n_subdomains": run.info.get("summary", {}).get("n_subdomains"),
        "n_evaluated": len(run.evaluations),
        "n_no_valid_images": sum(e.status == "no_valid_images" for e in run.evaluations),
        "mean_accuracy": float(np.mean(ok)) if ok else None,
        "attributes": attrs,
        "pairs": pairs,
        "worst": [],
        "no_valid_images": [e.values for e in run.evaluations if e.status == "no_valid_images"],
        "trace": [
            {"order": i, "step": e.step, "index": e.index, "accuracy": e.accuracy,
             "status": e.status}
            for i, e in enumerate(run.evaluations)
        ],
        "figures": {},
    }
    figures: dict[str, Path | None] = {}
    if run.ok:
        figures["attributes"] = plot_attributes(attrs, folder / "attributes.png")
        figures["pairs"] = plot_pairs(pairs, folder / "pairs.png")
        figures["trace"] = plot_trace(run, folder / "trace.png")
    for rank, ev in enumerate(worst, start=1):
        image, captions = plot_samples(run, ev, folder / f"worst_{rank:02d}.png")
        data["worst"].append({
            "rank": rank, "values": ev.values, "prompt": ev.prompt, "accuracy": ev.accuracy,
            "low": ev.accuracy_low, "high": ev.accuracy_high, "n_correct": ev.n_correct,
            "n_kept": ev.n_kept, "n_generated": ev.n_generated,
            "mean_confidence": ev.mean_confidence, "image": image.name if image else None,
            "predicted": captions,
        })
        figures[f"worst_{rank:02d}"] = image
    data["figures"] = {k: v.name for k, v in figures.items() if v is not None}
    page = _page(run, data, folder, worst)
    data["html"] = str(page)
    write_atomic(folder / "report.json", json.dumps(data, indent=2) + "\n")
    return Report(data, page, folder)


def _page(run: RunData, data: dict[str, Any], folder: Path, worst: list[Evaluation]) -> Path:
    from fxcore.reports import data_uri, write_page, write_redirect
    from fxcore.reports.provenance import provenance

    figures = {k: data_uri(folder / v) for k, v in data["figures"].items()}
    cards = []
    for w, ev in zip(data["worst"], worst, strict=True):
        try:
            true_class = run.config.domain.true_class_of(ev.values)
        except Exception:  # noqa: BLE001 - a label the page can do without
            true_class = None
        cards.append({**w, "true_class": true_class, "thumbs": _thumbnails(run, ev)})
    pairs = []
    for p in data["pairs"]:
        rows = [[{"mean": m, "n": n} for m, n in zip(mr, nr, strict=True)]
                for mr, nr in zip(p["mean_accuracy"], p["n"], strict=True)]
        pairs.append({**p, "rows": rows,
                      "n_empty": sum(c["n"] == 0 for r in rows for c in r),
                      "n_cells": sum(len(r) for r in rows)})
    page = write_page(folder, "explore.html.j2", {
        "prov": provenance(run.path), "d": data, "cards": cards, "pairs": pairs,
        "figures": figures, "selector": run.config.selector,
        "classifier": run.config.classifier, "generator": run.config.generator,
        "data_file": "report.json",
    })
    write_redirect(folder / "report.html", page)  # the page's earlier name
    return page

"""Artefacts of an ``mds`` run, rebuilt from the run store (so a resumed run reports the same).

``fx report RUN_DIR`` calls :func:`write_report`, which needs no models: it gathers the run's
summary and PNGs into one self-contained HTML page, ``artefacts/report.html``.

``artefacts/``:

- ``curves.json``, ``divergence.png``, ``dz.png``: per recorded step, the mean and the 10/50/90 %
  quantiles over all starts of ``D`` and of ``Δz``, and the mean top-n set distance;
- ``before_after.png`` + ``samples.json``: the ``show`` starts with the largest final ``D``,
  each as a pair of images (``g(z_init, c)``, ``g(z*, c)``) titled with every classifier's top
  prediction and probability.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxcore.contracts import LatentGenerator
from fxcore.errors import ConfigError
from fxcore.imaging import save_image_grid
from fxcore.store import RunStore, write_atomic


def curves(records: list[dict]) -> dict[str, Any]:
    """Per-step statistics over starts of the divergence, Δz and the set distance."""
    steps = records[0]["steps"]
    out: dict[str, Any] = {"step": steps, "starts": len(records)}
    for key in ("divergence", "dz", "set_distance"):
        arr = np.array([r[key] for r in records], dtype=np.float64)  # (B, R)
        q10, q50, q90 = np.quantile(arr, [0.1, 0.5, 0.9], axis=0)
        out[key] = {
            "mean": arr.mean(0).tolist(), "q10": q10.tolist(),
            "median": q50.tolist(), "q90": q90.tolist(),
        }
    return out


def _plot_curve(data: dict[str, Any], key: str, ylabel: str, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    s = data[key]
    ax.fill_between(data["step"], s["q10"], s["q90"], alpha=0.25, label="10–90 %")
    ax.plot(data["step"], s["median"], label="median")
    ax.plot(data["step"], s["mean"], "--", label="mean")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} over {data['starts']} starts", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _title(top: dict[str, Any], tag: str, d: float) -> str:
    """``tag D=..`` over each classifier's top-1 (with its probability when M <= 3)."""
    if len(top) <= 3:
        preds = " ".join(f"{v['classes'][0]}:{v['probs'][0]:.2f}" for v in top.values())
    else:
        preds = "/".join(str(v["classes"][0]) for v in top.values())
    return f"{tag} D={d:.2f}\n{preds}"


def decode(generator: LatentGenerator, records: list[dict], which: str) -> torch.Tensor:
    """Images ``g(z, c)`` of the records' ``z_init`` or ``z_final``."""
    z = torch.tensor([r[which] for r in records], dtype=torch.float32)
    conds = generator.conditions
    cond = None
    if conds is not None:
        names = [str(c) for c in conds]
        cond = torch.tensor([names.index(r["condition"]) for r in records], dtype=torch.long)
    with torch.no_grad():
        return generator.decode(z, cond)


def write_artefacts(store: RunStore, prep: Any) -> dict[str, Any]:
    """Write the artefacts; return the run summary (also the demo's and ``--json``'s output)."""
    records = store.records("start")
    records.sort(key=lambda r: r["start"])
    data = curves(records)
    write_atomic(store.artefact("curves.json"), json.dumps(data, indent=1) + "\n")
    _plot_curve(data, "divergence", "divergence D", store.artefact("divergence.png"))
    _plot_curve(data, "dz", "Δz = ‖z − z_init‖ / ‖z_init‖", store.artefact("dz.png"))

    best = sorted(records, key=lambda r: -r["divergence"][-1])[: prep.config.show]
    before = decode(prep.setup.generator, best, "z_init")
    after = decode(prep.setup.generator, best, "z_final")
    images = torch.stack([before, after], 1).flatten(0, 1)
    titles = []
    for r in best:
        cond = f"[{r['condition']}] " if r["condition"] is not None else ""
        titles.append(cond + _title(r["top"][0], "init", r["divergence"][0]))
        titles.append(cond + _title(r["top"][-1], "MDS", r["divergence"][-1]))
    grid = save_image_grid(
        images, store.artefact("before_after.png"), titles, ncol=8,
        suptitle="pairs: start image | maximally different sample (" + " vs ".join(
            prep.setup.names) + ")",
    )
    samples = [
        {k: r[k] for k in ("start", "condition", "z_final")}
        | {"divergence_init": r["divergence"][0], "divergence": r["divergence"][-1],
           "dz": r["dz"][-1], "set_distance": r["set_distance"][-1],
           "top_init": r["top"][0], "top": r["top"][-1]}
        for r in best
    ]
    write_atomic(store.artefact("samples.json"), json.dumps(samples, indent=1) + "\n")

    d0 = np.array([r["divergence"][0] for r in records])
    d1 = np.array([r["divergence"][-1] for r in records])
    dz = np.array([r["dz"][-1] for r in records])
    s0 = np.array([r["set_distance"][0] for r in records])
    s1 = np.array([r["set_distance"][-1] for r in records])
    names = list(records[0]["top"][0])

    def disagree(i: int) -> float:
        tops = [[r["top"][i][n]["classes"][0] for n in names] for r in records]
        return float(np.mean([len(set(t)) > 1 for t in tops]))

    return {
        "starts": len(records),
        "steps": prep.config.steps,
        "classifiers": prep.setup.names,
        "hierarchy": prep.classes.source,
        "top_n": prep.config.top_n,
        "divergence_init": float(d0.mean()),
        "divergence_final": float(d1.mean()),
        "divergence_rose": float(np.mean(d1 > d0)),
        "dz_mean": float(dz.mean()),
        "dz_median": float(np.median(dz)),
        "set_distance_init": float(s0.mean()),
        "set_distance_final": float(s1.mean()),
        "top1_disagreement_init": disagree(0),
        "top1_disagreement_final": disagree(-1),
        "top": [
            {"start": s["start"], "condition": s["condition"], "divergence": s["divergence"],
             "dz": s["dz"], "predictions": {n: s["top"][n]["classes"][0] for n in names}}
            for s in samples[:5]
        ],
        "artefacts": {
            "grid": str(grid), "curves": str(store.artefact("curves.json")),
            "divergence_png": str(store.artefact("divergence.png")),
            "dz_png": str(store.artefact("dz.png")),
            "samples": str(store.artefact("samples.json")),
        },
        "run_dir": str(store.path),
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Human-readable lines of a run summary (``fx mds`` and ``fx demo``)."""
    s = summary
    lines = [
        f"{s['starts']} starts x {s['steps']} steps, classifiers {' vs '.join(s['classifiers'])}",
        f"divergence {s['divergence_init']:.3f} -> {s['divergence_final']:.3f} "
        f"(rose for {s['divergence_rose']:.0%} of starts)",
        f"mean dz = |z - z_init| / |z_init| = {s['dz_mean']:.1%} (median {s['dz_median']:.1%}; "
        "GeValDi reports about 25%)",
        f"top-1 disagreement {s['top1_disagreement_init']:.0%} -> "
        f"{s['top1_disagreement_final']:.0%}; top-{s.get('top_n', 'n')} set distance "
        f"({s['hierarchy']} hierarchy) "
        f"{s['set_distance_init']:.2f} -> {s['set_distance_final']:.2f}",
    ]
    for t in s["top"][:3]:
        preds = ", ".join(f"{k} says {v}" for k, v in t["predictions"].items())
        cond = f" (condition {t['condition']})" if t["condition"] is not None else ""
        lines.append(f"  start {t['start']}{cond}: D={t['divergence']:.3f}, dz={t['dz']:.0%}: "
                     f"{preds}")
    ens = s.get("ensemble")
    if ens:
        lines.append(
            f"ensemble accuracy: test {ens['test']['accuracy']:.1%}, generator starts "
            f"{ens['start']['accuracy']:.1%}, MDS {ens['mds']['accuracy']:.1%} "
            f"(drop {ens['accuracy_drop_points']:.1f} points; paper 93.8% -> 65.3%, 28.5 points)"
        )
        auc = [ens[k]["auc_macro_ovr"] for k in ("test", "mds")]
        auc_s = [f"{a:.3f}" if a is not None else "n/a" for a in auc]
        lines.append(
            f"ensemble AUC {auc_s[0]} -> {auc_s[1]}, F1 {ens['test']['f1_macro']:.3f} -> "
            f"{ens['mds']['f1_macro']:.3f}; DBSCAN eps "
            f"{ens['clusters']['eps']:g}: {len(ens['clusters']['clusters'])} groups"
        )
    lines.append(f"results in {s['run_dir']} (before_after.png, divergence.png, dz.png, "
                 "curves.json, samples.json under artefacts/)")
    return lines


@dataclass
class Report:
    """What ``fx report`` prints: the summary (``--json``) and the HTML page."""

    data: dict[str, Any]
    html: Path


_PNGS = ("before_after.png", "divergence.png", "dz.png", "ensemble_clusters.png",
         "ensemble_cluster_examples.png")


def write_report(run_dir: str | Path) -> Report:
    """One self-contained HTML page of a finished ``mds`` run (summary lines + its PNGs)."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    summary = info.get("summary")
    if info.get("status") != "complete" or not summary:
        raise ConfigError(f"{run_dir}: the mds run is not finished; continue it with "
                          "fx mds CONFIG --out RUN_DIR --resume")
    parts = [f"<h1>mds run {html.escape(str(run_dir))}</h1><pre>"]
    parts += [html.escape(line) for line in summary_lines(summary)]
    parts.append("</pre>")
    for name in _PNGS:
        png = run_dir / "artefacts" / name
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f'<h2>{name}</h2><img src="data:image/png;base64,{data}">')
    page = run_dir / "artefacts" / "report.html"
    write_atomic(page, "<!doctype html><meta charset=utf-8><title>mds</title>"
                 + "\n".join(parts) + "\n")
    return Report(summary, page)

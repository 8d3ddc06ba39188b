"""Artefacts of an ``mds`` run, rebuilt from the run store (so a resumed run reports the same).

``fx report RUN_DIR`` calls :func:`write_report`, which needs no models: it gathers the run's
summary and PNGs into one self-contained HTML page, ``RUN_DIR/report/index.html`` (the
reproducibility block, the numbers as tables, each before/after image captioned with every
classifier's name, top prediction and probability and the divergence's name and value, the
curves).

``artefacts/``:

- ``curves.json``, ``divergence.png``, ``dz.png``: per recorded step, the mean and the 10/50/90 %
  quantiles over all starts of ``D`` and of ``Δz``, and the mean top-n set distance;
- ``before_after.png`` + ``samples.json``: the ``show`` starts with the largest final ``D``,
  each as a pair of images (``g(z_init, c)``, ``g(z*, c)``) titled with every classifier's top
  prediction and probability; ``samples/<start>_init.png`` and ``samples/<start>_mds.png``:
  the same images one by one (for the report).
"""

from __future__ import annotations

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


def _save_singles(store: RunStore, records: list[dict], before: torch.Tensor,
                  after: torch.Tensor) -> None:
    """``samples/<start>_init.png`` / ``_mds.png``: each shown image on its own."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from fxcore.imaging import to_numpy_images

    for tag, batch in (("init", before), ("mds", after)):
        for r, img in zip(records, to_numpy_images(batch), strict=True):
            buf = io.BytesIO()
            plt.imsave(buf, img, format="png")
            write_atomic(store.artefact(f"samples/{r['start']}_{tag}.png"), buf.getvalue())


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
    _save_singles(store, best, before, after)
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


_FIGURES = {
    "divergence.png": "Divergence over the optimisation",
    "dz.png": "Distance from the start in latent space",
    "ensemble_clusters.png": "Ensemble: clusters of maximally different samples",
    "ensemble_cluster_examples.png": "Ensemble: examples per cluster",
}


def _prediction_rows(top: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"classifier": name, "classes": v["classes"], "probs": v["probs"]}
            for name, v in top.items()]


def write_report(run_dir: str | Path) -> Report:
    """One self-contained HTML page of a finished ``mds`` run, ``RUN_DIR/report/index.html``."""
    from fxcore.reports import data_uri, write_page, write_redirect
    from fxcore.reports.provenance import provenance

    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    summary = info.get("summary")
    if info.get("status") != "complete" or not summary:
        raise ConfigError(f"{run_dir}: the mds run is not finished; continue it with "
                          "fx mds CONFIG --out RUN_DIR --resume")
    art = run_dir / "artefacts"
    config = json.loads((run_dir / "config.json").read_text())
    div = config.get("divergence") or {"name": "js", "params": {}}
    divergence = div["name"] + (f" {json.dumps(div['params'])}" if div.get("params") else "")
    samples_file = art / "samples.json"
    samples = json.loads(samples_file.read_text()) if samples_file.is_file() else []
    pairs = []
    for s in samples:
        images = {}
        for tag in ("init", "mds"):
            png = art / "samples" / f"{s['start']}_{tag}.png"
            images[tag] = data_uri(png) if png.is_file() else None
        pairs.append({**s, "images": images, "before": _prediction_rows(s["top_init"]),
                      "after": _prediction_rows(s["top"])})
    figures = [{"title": title, "file": name, "src": data_uri(art / name)}
               for name, title in _FIGURES.items() if (art / name).is_file()]
    grid = art / "before_after.png"
    folder = run_dir / "report"
    data = dict(summary, html=str(folder / "index.html"))
    page = write_page(folder, "mds.html.j2", {
        "prov": provenance(run_dir), "s": summary, "pairs": pairs, "figures": figures,
        "grid": data_uri(grid) if grid.is_file() else None, "divergence": divergence,
        "generator": config.get("generator", {}).get("name"),
        "singles": all(p["images"]["init"] for p in pairs) if pairs else False,
    }, data)
    write_redirect(art / "report.html", page)  # the page's earlier place
    return Report(data, page)

"""``fx report RUN_DIR`` of a ``label`` run: ``RUN_DIR/report/index.html`` and ``report.json``.

The page opens with the reproducibility block (:mod:`fxcore.reports.provenance`) and shows

- accuracy and effort: the final labels' accuracy against the target (where the truth is
  known), the manual effort split into fine-tuning, optimisation and queue, the auto-labels,
  each classifier's accuracy, the labeller's solver;
- the certificate (``[certify]``): its statement and numbers, or that the run has none;
- the confusion of the auto-labels with the truth, where the run knew the truth (simulated
  annotators, tables with a label column);
- the queue: the items a person labelled after the split, with their labels, and for a run that
  waits for answers, how many it waits for.

It needs no models: everything comes from ``run.json``, the records and ``labels.csv``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxcore.errors import ConfigError
from fxcore.store import RunStore

#: rows of the queue table on the page (all of them are in labels.csv)
QUEUE_ROWS = 200
#: a confusion matrix with more classes than this is shown as its off-diagonal cells
MAX_MATRIX = 30


@dataclass
class Report:
    data: dict[str, Any]
    html: Path


def confusion(cells: list[list[Any]]) -> dict[str, Any]:
    """``(true, auto, count)`` cells -> classes, dense matrix (rows: truth) and totals."""
    classes = sorted({c[0] for c in cells} | {c[1] for c in cells},
                     key=lambda x: (len(str(x)), str(x)))
    index = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for t, a, n in cells:
        matrix[index[t]][index[a]] += int(n)
    total = sum(int(c[2]) for c in cells)
    right = sum(int(c[2]) for c in cells if c[0] == c[1])
    return {"classes": classes, "matrix": matrix, "total": total, "correct": right,
            "errors": sorted(([t, a, int(n)] for t, a, n in cells if t != a),
                             key=lambda c: -c[2]),
            "dense": len(classes) <= MAX_MATRIX}


def write_report(run_dir: str | Path) -> Report:
    """Write ``RUN_DIR/report/`` of a label run; returns where the page is."""
    from fxcore.reports import write_page
    from fxcore.reports.provenance import provenance

    run_dir = Path(run_dir)
    info_file = run_dir / "run.json"
    if not info_file.is_file() or not (run_dir / "run.sqlite").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no run.json / run.sqlite)")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    if info.get("job") != "label":
        raise ConfigError(f"{run_dir} is a {info.get('job')!r} run, not a label run")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    store = RunStore(run_dir, check=True)
    try:
        decisions = store.records("decision")
        keys = [r[0] for r in store.db.execute(
            "SELECT key FROM records WHERE kind = 'decision' ORDER BY seq")]
        state_status = store.get_state("status")
    finally:
        store.close()
    summary: dict[str, Any] = info.get("summary") or {}
    complete = info.get("status") == "complete"
    sources = Counter(str(d.get("source")) for d in decisions)
    queue = [{"item": k, "label": d.get("class", d.get("label")), "round": d.get("round"),
              "source": d.get("source")}
             for k, d in zip(keys, decisions, strict=True)
             if d.get("source") in ("manual", "certify")]
    n = summary.get("n_items") or len(decisions) or 1
    effort = [
        {"part": "fine-tuning split (manual)", "n": summary.get("n_finetune", 0),
         "color": "#7aa6e0"},
        {"part": "optimisation split (manual)", "n": summary.get("n_optimisation", 0),
         "color": "#4a7fc8"},
        {"part": "queue (manual)", "n": summary.get("n_queue", 0), "color": "#2a4f8a"},
        {"part": "auto-labelled", "n": summary.get("auto_labelled", 0), "color": "#8fce8f"},
    ]
    for e in effort:
        e["share"] = (e["n"] or 0) / n
    cells = summary.get("auto_confusion")
    conf = confusion(cells) if cells else None
    labels = run_dir / "artefacts" / "labels.csv"
    folder = run_dir / "report"
    data = {
        "run_dir": str(run_dir), "status": info.get("status"), "summary": summary,
        "decisions": dict(sources), "queue": queue, "confusion": conf,
        "html": str(folder / "index.html"),
    }
    target = summary.get("target_accuracy", config.get("target_accuracy"))
    page = write_page(folder, "label.html.j2", {
        "prov": provenance(run_dir), "s": summary, "complete": complete,
        "state_status": state_status, "sources": dict(sources), "n_decisions": len(decisions),
        "queue": queue[:QUEUE_ROWS], "n_queue": len(queue), "effort": effort, "conf": conf,
        "cert": summary.get("certificate"), "target": target,
        "certify_enabled": (config.get("certify") or {}).get("enabled", True),
        "labeller": config.get("labeller"), "annotator": config.get("annotator"),
        "labels_file": "../artefacts/labels.csv" if labels.is_file() else None,
    }, data)
    return Report(data, page)

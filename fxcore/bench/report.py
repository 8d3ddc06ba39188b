"""``fx bench ... --report DIR``: a bench replay kept as a run folder with a report.

:func:`save_run` writes ``DIR/run.json`` (``job = "bench"``, so ``fx runs`` lists it and
``fx report DIR`` rebuilds the page), ``DIR/config.json`` (the command's options),
``DIR/bench.json`` (the whole result, as ``--json`` writes it) and ``DIR/provenance.json``;
:func:`write_report` writes ``DIR/report/index.html`` with the Fig. 4 plot, the per-selector
table and the reproducibility block.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fxcore import __version__
from fxcore.errors import ConfigError
from fxcore.paths import check_out_dir
from fxcore.store import input_digests, write_atomic

RESULT = "bench.json"


@dataclass
class Report:
    data: dict[str, Any]
    html: Path


def check_report_dir(folder: Path) -> None:
    """Before the replay: ``folder`` is new, empty or an earlier bench report (replaced)."""
    check_out_dir(folder, "--report")
    info = folder / "run.json"
    if info.is_file():
        try:
            job = json.loads(info.read_text(encoding="utf-8")).get("job")
        except (OSError, ValueError, AttributeError):
            job = None
        if job != "bench":
            raise ConfigError(f"--report {folder} holds a {job or 'damaged'} run; choose "
                              "another folder")
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--report {folder} exists and is not an empty folder")


def _best(result: dict[str, Any]) -> str | None:
    """The selector with the fewest median evaluations to full coverage (censored last); the
    oracle is the bound, not a contender, and one selector alone is best of nothing."""
    def key(item: tuple[str, dict[str, Any]]) -> tuple[float, float]:
        med = item[1]["evals_to_full_coverage_median"]
        return (float("inf") if med is None else float(med),
                -float(item[1]["coverage_at_worst_k_median"]))

    ranked = sorted(((k, v) for k, v in result["selectors"].items() if k != "oracle"), key=key)
    return ranked[0][0] if len(ranked) > 1 else None


def save_run(folder: Path, result: dict[str, Any], options: dict[str, Any],
             started: float) -> Report:
    """Keep ``result`` (of :func:`fxcore.bench.replay.run_bench`) in ``folder``; write its
    report."""
    from fxcore.reports.provenance import FILE, component_entry, session
    from fxcore.schemas import ComponentSpec

    folder.mkdir(parents=True, exist_ok=True)
    seconds = {name: res["seconds_total"] for name, res in result["selectors"].items()}
    summary = {
        "table": result["table"], "n_rows": result["n_rows"], "worst_k": result["worst_k"],
        "selectors": list(result["selectors"]), "repeats": len(result["seeds"]),
        "best": _best(result), "seconds": seconds,
        "evals_to_full_coverage_median": {
            k: v["evals_to_full_coverage_median"] for k, v in result["selectors"].items()},
    }
    config = {**options, "seed": options.get("seed", 0)}
    write_atomic(folder / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_atomic(folder / RESULT, json.dumps(result) + "\n")
    components = []
    for k, (name, res) in enumerate(result["selectors"].items()):
        spec = ComponentSpec.model_validate(res.get("spec") or {"name": name})
        components.append(component_entry(f"selector.{k}", "selector", spec))
    write_atomic(folder / FILE, json.dumps({"components": components,
                                            "sessions": [session()]}, indent=2) + "\n")
    info = {
        "job": "bench", "run_id": uuid.uuid4().hex, "fxcore_version": __version__,
        "inputs": input_digests({"--table": result["path"]}) if Path(
            result["path"]).is_file() else {},
        "created": started, "finished": time.time(), "status": "complete",
        "summary": summary,
    }
    write_atomic(folder / "run.json", json.dumps(info, indent=2) + "\n")
    return write_report(folder)


def write_report(run_dir: str | Path) -> Report:
    """``RUN_DIR/report/index.html`` (+ ``fig4.png``, ``report.json``) of a kept bench run."""
    from fxcore.bench.plot import plot_bench
    from fxcore.reports import data_uri, write_page
    from fxcore.reports.provenance import provenance

    run_dir = Path(run_dir)
    try:
        result = json.loads((run_dir / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{run_dir}: no readable {RESULT} ({exc})") from None
    folder = run_dir / "report"
    folder.mkdir(exist_ok=True)
    figure = plot_bench(result, folder / "fig4.png")
    prov = provenance(run_dir)
    prov["seeds"] = f"{result['seeds'][0]}..{result['seeds'][-1]} ({len(result['seeds'])})" \
        if result["seeds"] else None
    rows = []
    for name, res in result["selectors"].items():
        rows.append({
            "name": name, "spec": res.get("spec"),
            "evals": res["evals_to_full_coverage_median"],
            "coverage": res["coverage_at_worst_k_median"],
            "final_mean": res.get("final_mean_accuracy_median"),
            "images": res.get("images_to_full_coverage_median"),
            "seconds": res["seconds_total"],
            "per_seed": res["evals_to_full_coverage"],
        })
    summary = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("summary", {})
    data = {**summary, "html": str(folder / "index.html"), "figure": str(figure)}
    page = write_page(folder, "bench.html.j2", {
        "prov": prov, "r": result, "rows": rows, "figure": data_uri(figure),
        "best": summary.get("best"),
    }, data)
    return Report(data, page)

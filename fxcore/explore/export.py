"""Export an explore run as a replay table for ``fx bench`` (``fx report RUN --export-table T``).

The table has the format of the paper's ``lecoz2024_dog_subdomains.csv``: an unnamed index
column (the subdomain's row in the domain), one column per attribute, ``accuracy``,
``average_confidence`` (here: the mean probability of the true class / group), then the counts
``n_correct``, ``n_kept``, ``n_generated`` (numeric, so ``fx bench`` carries them along unused).
Subdomains without valid images have no accuracy and are left out (the export says how many).
A run of the ``exhaustive`` selector with a budget of every subdomain exports the full domain.

``fx bench`` takes the non-numeric columns as attributes, so an attribute whose values are all
numbers (``digit = ["0", ..., "9"]``) is written with its name as a prefix (``digit_7``);
the export lists such attributes under ``prefixed``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fxcore.bench.table import is_number
from fxcore.domain import SubdomainSpace
from fxcore.explore.report import load_run
from fxcore.store import write_atomic

COUNTS = ("n_correct", "n_kept", "n_generated")


def export_table(run_dir: str | Path, path: str | Path) -> dict[str, Any]:
    """Write the run's evaluations as a table CSV; returns what was written."""
    run = load_run(run_dir)
    attrs = run.config.domain.attribute_names
    prefixed = [a.name for a in run.config.domain.attributes if all(map(is_number, a.values))]

    def cell(attr: str, value: str) -> str:
        return f"{attr}_{value}" if attr in prefixed else value

    n_subdomains = len(SubdomainSpace(run.config.domain))
    rows = sorted(run.ok, key=lambda e: e.index)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["", *attrs, "accuracy", "average_confidence", *COUNTS])
    for e in rows:
        writer.writerow([
            e.index, *(cell(a, e.values[a]) for a in attrs), repr(float(e.accuracy or 0.0)),
            repr(float(e.mean_confidence or 0.0)), e.n_correct, e.n_kept, e.n_generated,
        ])
    write_atomic(Path(path), buf.getvalue())
    no_valid = sum(e.status == "no_valid_images" for e in run.evaluations)
    return {
        "path": str(path),
        "n_rows": len(rows),
        "n_subdomains": n_subdomains,
        "n_no_valid_images": no_valid,
        # every subdomain was evaluated (those without valid images are not rows)
        "full_domain": len(rows) + no_valid == n_subdomains,
        "prefixed": prefixed,
    }

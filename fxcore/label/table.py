"""The feature-table path: a CSV with one row per item, numeric feature columns and a label
column (ground truth, used only by the ``simulate`` annotator and for scoring)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from fxcore.config import read_text_file
from fxcore.errors import ConfigError
from fxcore.label.items import Items


def _class_order(values: list[str]) -> list[str]:
    """Distinct labels, numerically sorted when they are all numbers."""
    distinct = sorted(set(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def load_table(
    path: str | Path,
    label_column: str,
    features: list[str] | None = None,
    id_column: str | None = None,
    nonfinite: str = "error",
) -> Items:
    """Read the table; any problem is a :class:`ConfigError` naming the file, column and line.

    ``nonfinite``: ``error`` on ±inf/NaN features; ``clip`` maps ±inf to the column's finite
    extremes (NaN stays an error); ``drop`` leaves out rows holding any. ``Items.notes`` says
    how many values or rows were changed.
    """
    path = Path(path)
    text = read_text_file(path, "--table:")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ConfigError(f"{path}: the table is empty")
    header = [h.strip() for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ConfigError(f"{path}: line 1: duplicate column names {dup}")
    if label_column not in header:
        raise ConfigError(f"{path}: --label-column {label_column!r} is not a column "
                          f"(columns: {', '.join(header)})")
    if id_column is not None and id_column not in header:
        raise ConfigError(f"{path}: --id-column {id_column!r} is not a column")
    if features is None:
        features = [h for h in header if h not in (label_column, id_column)]
    missing = [f for f in features if f not in header]
    if missing:
        raise ConfigError(f"{path}: --features names missing columns {missing} "
                          f"(columns: {', '.join(header)})")
    if label_column in features:
        raise ConfigError(f"{path}: the label column {label_column!r} cannot be a feature")
    if not features:
        raise ConfigError(f"{path}: no feature columns")
    col = {h: k for k, h in enumerate(header)}
    x_rows: list[list[float]] = []
    dropped = 0
    labels: list[str] = []
    ids: list[str] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ConfigError(f"{path}: line {line}: {len(row)} fields, the header has "
                              f"{len(header)}")
        values = []
        for f in features:
            cell = row[col[f]].strip()
            try:
                v = float(cell)
            except ValueError:
                raise ConfigError(f"{path}: line {line}, column {f!r}: {cell!r} is not a "
                                  "number") from None
            if not math.isfinite(v) and (nonfinite == "error" or
                                         (nonfinite == "clip" and math.isnan(v))):
                hint = "" if math.isnan(v) else " (--nonfinite clip or drop to go on)"
                raise ConfigError(f"{path}: line {line}, column {f!r}: {cell!r} is not a "
                                  f"finite number{hint}")
            values.append(v)
        if nonfinite == "drop" and not all(math.isfinite(v) for v in values):
            dropped += 1
            continue
        label = row[col[label_column]].strip()
        if not label:
            raise ConfigError(f"{path}: line {line}, column {label_column!r}: empty label")
        x_rows.append(values)
        labels.append(label)
        ids.append(row[col[id_column]].strip() if id_column else str(len(ids)))
    if not x_rows:
        raise ConfigError(f"{path}: the table has no rows")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: --id-column {id_column!r} has duplicate ids")
    classes = _class_order(labels)
    if len(classes) < 2:
        raise ConfigError(f"{path}: column {label_column!r} holds a single class {classes}")
    index = {c: k for k, c in enumerate(classes)}
    x = np.asarray(x_rows, dtype=np.float64)
    notes: dict[str, int] = {}
    if dropped:
        notes["rows_dropped_nonfinite"] = dropped
    if nonfinite == "clip":
        x, notes["values_clipped"] = clip_infinite(x, features, path)
        x_rows = x.tolist()
    truth = np.array([index[v] for v in labels], dtype=np.int64)
    rows = [dict(zip(features, r, strict=True)) for r in x_rows]
    return Items(ids, classes, truth, rows=rows, x=x, notes=notes)


def clip_infinite(x: np.ndarray, features: list[str], path: Path) -> tuple[np.ndarray, int]:
    """±inf -> the column's largest / smallest finite value; returns the number changed."""
    x = x.copy()
    changed = 0
    for j, name in enumerate(features):
        col = x[:, j]
        bad = np.isinf(col)
        if not bad.any():
            continue
        finite = col[~bad]
        if not len(finite):
            raise ConfigError(f"{path}: column {name!r} has no finite value to clip to")
        col[bad & (col > 0)] = finite.max()
        col[bad & (col < 0)] = finite.min()
        changed += int(bad.sum())
    return x, changed

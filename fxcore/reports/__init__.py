"""One report system for every job: jinja2 templates, one page per run at
``RUN/report/index.html``, viewable offline.

Each job's report writer (``fxcore.explore.report``, ``fxcore.mds.report``,
``fxcore.label.report``, ``fxcore.bench.report``) gathers its numbers and figures and calls
:func:`write_page`, which renders ``templates/<job>.html.j2`` (extending ``base.html.j2``: the
CSS and the reproducibility block of :mod:`fxcore.reports.provenance`) into
``FOLDER/index.html``. Images are embedded as ``data:`` URIs (:func:`data_uri`), so the page can
be mailed on its own; links point only at files beside it (``report.json``) or in the run
folder. No page loads anything from the network.

:func:`report_paths` lists the pages under a folder (for browser checks), :func:`list_runs`
the runs (``fx runs``).
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

PAGE = "index.html"
FOLDER = "report"
_ENV: Any = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("fxcore.reports", "templates"),
            autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
            trim_blocks=True, lstrip_blocks=True,
        )
        _ENV.filters.update(num=fmt_num, pct=fmt_pct, secs=fmt_secs, cell_color=cell_color,
                            values=fmt_values)
    return _ENV


def fmt_num(x: Any, digits: int = 2) -> str:
    """``0.42``; ``–`` for ``None`` / NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * float(x):.{digits}f}%"


def fmt_secs(x: Any) -> str:
    if x is None:
        return "–"
    x = float(x)
    if x < 60:
        return f"{x:.2f} s"
    if x < 3600:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.2f} h"


def fmt_values(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def cell_color(x: float | None) -> str:
    """Background of a heatmap cell of accuracy ``x`` in [0, 1]: red (0) – yellow – green (1)."""
    if x is None:
        return "transparent"
    x = min(1.0, max(0.0, float(x)))
    hue = 120 * x
    return f"hsl({hue:.0f}, 70%, 72%)"


def data_uri(path: str | Path) -> str:
    """The file as a ``data:`` URI (the page then needs nothing beside it)."""
    path = Path(path)
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def png_uri(image: Any) -> str:
    """An ``(H, W, 3)`` / ``(H, W)`` array (uint8, or float in [0, 1]) as a PNG ``data:`` URI."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, image, format="png", cmap="gray" if getattr(image, "ndim", 3) == 2 else None)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return str(_env().get_template(template).render(**context))


def write_page(folder: Path, template: str, context: Mapping[str, Any],
               data: Mapping[str, Any] | None = None) -> Path:
    """Render ``template`` into ``folder/index.html`` (and ``data`` into ``report.json``
    beside it); returns the page."""
    from fxcore.store import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    context = dict(context)
    if data is not None:
        write_atomic(folder / "report.json", json.dumps(data, indent=2, default=str) + "\n")
        context.setdefault("data_file", "report.json")
    context.setdefault("data_file", None)
    page = folder / PAGE
    write_atomic(page, render(template, **context))
    return page


def write_redirect(old: Path, page: Path) -> None:
    """A small page at ``old`` (an earlier report location) that forwards to ``page``."""
    import os

    from fxcore.store import write_atomic

    target = os.path.relpath(page, old.parent)
    write_atomic(old, "<!doctype html><meta charset='utf-8'>"
                      f"<meta http-equiv='refresh' content='0; url={target}'>"
                      f"<title>moved</title><p>The report is now at <a href='{target}'>"
                      f"{target}</a>.</p>\n")


def report_page(run_dir: str | Path) -> Path:
    """Where the report of the run in ``run_dir`` is (``RUN/report/index.html``)."""
    return Path(run_dir) / FOLDER / PAGE


def report_paths(root: str | Path) -> list[Path]:
    """Every report page under ``root`` (for checks in a browser), sorted."""
    return sorted(Path(root).rglob(f"{FOLDER}/{PAGE}"))


def run_dirs(root: str | Path) -> Iterator[Path]:
    """Folders under ``root`` (``root`` itself included) that hold a ``run.json``; not below a
    run folder."""
    root = Path(root)
    if (root / "run.json").is_file():
        yield root
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return
    for child in children:
        yield from run_dirs(child)


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """One row per run under ``root``: path, job, status, key figure, date, report page."""
    from fxcore.reports.provenance import _read_json, _when

    rows = []
    for path in run_dirs(root):
        info = _read_json(path / "run.json")
        if not isinstance(info, dict):
            rows.append({"path": str(path), "job": "?", "status": "unreadable",
                         "key": "", "date": None, "report": None})
            continue
        page = report_page(path)
        rows.append({
            "path": str(path),
            "job": str(info.get("job", "?")),
            "status": str(info.get("status", "?")),
            "key": key_figure(str(info.get("job")), info.get("summary") or {}),
            "date": _when(info.get("finished") or info.get("created")),
            "report": str(page) if page.is_file() else None,
        })
    return rows


def key_figure(job: str, s: Mapping[str, Any]) -> str:
    """The one number of a run's summary ``fx runs`` shows."""
    if not s:
        return ""
    if s.get("status") == "waiting":
        return f"waiting for {s.get('pending')} answers"
    if job == "explore":
        worst = (s.get("worst") or [{}])[0].get("accuracy")
        return (f"{s.get('n_evaluated')}/{s.get('n_subdomains')} subdomains, worst accuracy "
                f"{fmt_num(worst)}, mean {fmt_num(s.get('mean_accuracy'))}")
    if job == "mds":
        return (f"divergence {fmt_num(s.get('divergence_init'), 3)} -> "
                f"{fmt_num(s.get('divergence_final'), 3)} over {s.get('starts')} starts")
    if job == "label":
        cert = s.get("certificate") or {}
        return (f"manual effort {fmt_pct(s.get('manual_effort'))}, accuracy "
                f"{fmt_pct(s.get('accuracy'))}"
                + (f", {'certified' if cert.get('certified') else 'not certified'}"
                   if cert else ""))
    if job == "bench":
        return f"{s.get('table')}: {len(s.get('selectors', []))} selectors x " \
               f"{s.get('repeats')} repeats, best {s.get('best')}"
    return ""


__all__ = ["PAGE", "data_uri", "list_runs", "png_uri", "render", "report_page", "report_paths",
           "run_dirs", "write_page"]

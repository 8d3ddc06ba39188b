"""The BO paper's Fig. 4 from a ``fx bench`` result: coverage of the worst 10%, cumulative mean
accuracy, rolling accuracy and the surrogate's Spearman ρ, each as the median over seeds with the
inter-quartile band."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from fxcore.errors import ConfigError
from fxcore.store import write_atomic

#: the file extensions ``--plot`` writes (the format follows the extension)
FORMATS = (".png", ".pdf", ".svg")


def check_plot_path(out: Path, flag: str = "--plot") -> None:
    """Refuse an extension :func:`plot_bench` cannot write, before anything runs or is written."""
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"{flag} {out}: unsupported plot format {out.suffix or '(none)'!r}; "
                          f"use {', '.join(FORMATS)}")


def _band(ax: Any, curves: list[list[float]], label: str, x0: int = 1) -> None:
    n = min(len(c) for c in curves)
    arr = np.array([c[:n] for c in curves], dtype=np.float64)
    x = np.arange(x0, x0 + n)
    (line,) = ax.plot(x, np.median(arr, 0), label=label, lw=1.4)
    if len(curves) > 1:
        lo, hi = np.percentile(arr, [25, 75], axis=0)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)


def plot_bench(result: dict[str, Any], out: Path) -> Path:
    """Write a 2×2 figure of ``result`` (the JSON document of ``fx bench``) to ``out``, as PNG,
    PDF or SVG by its extension (:data:`FORMATS`)."""
    check_plot_path(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    (a, b), (c, d) = axes
    worst_k = result["worst_k"]
    spearman_any = False
    for name, res in result["selectors"].items():
        _band(a, res["coverage"], name)
        _band(b, res["mean_accuracy"], name)
        _band(c, res["rolling_accuracy"], name)
        if res.get("spearman"):
            per_size: dict[int, list[float]] = {}
            for seed_rows in res["spearman"]:
                for item in seed_rows:
                    if item["rho"] is not None:
                        per_size.setdefault(item["n_train"], []).append(item["rho"])
            if per_size:
                sizes = sorted(per_size)
                d.plot(sizes, [np.median(per_size[s]) for s in sizes], marker="o", label=name)
                spearman_any = True
    a.axvline(worst_k, color="grey", ls=":", lw=1)
    a.set(title=f"coverage of the worst {worst_k} subdomains", xlabel="evaluations",
          ylabel="coverage")
    b.set(title="cumulative mean accuracy", xlabel="evaluations", ylabel="accuracy")
    c.set(title="rolling accuracy (window 10)", xlabel="evaluations", ylabel="accuracy")
    d.set(title="Spearman ρ, predicted vs true (unevaluated)", xlabel="training size",
          ylabel="ρ")
    if not spearman_any:
        d.text(0.5, 0.5, "no surrogate selector", ha="center", va="center",
               transform=d.transAxes)
    for ax in (a, b, c, d):
        ax.grid(alpha=0.3)
    a.legend(fontsize=8)
    if spearman_any:
        d.legend(fontsize=8)
    fig.suptitle(f"{result['table']}: N = {result['n_rows']}, "
                 f"median over {len(result['seeds'])} seeds (band: quartiles)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=out.suffix.lower()[1:], dpi=110)
    plt.close(fig)
    write_atomic(out, buf.getvalue())
    return out

"""Accuracy vs manual effort of ``fx label``, and how often the final labels meet α.

Default (the certified run, the job's default): for each data set — MNIST-5k and Fashion-MNIST
test splits with the plugin's pre-trained cnn, mlp and linear classifiers, and any feature
tables given with ``--tables`` (rf, lr, gb) — and each α, ``--repeats`` runs of the real
pipeline (``fxcore.label.job``, simulated annotator, run seed = repeat) report accuracy over all
items, manual effort, and the share of repeats whose final labels met α. Beside it, in the same
process and on the same items: plain OPAL (``certify.enabled = false``) and an
uncertainty-sampling random forest (margin sampling, batches of 2.5 %) given the certified run's
effort.

    python benchmarks/label_effort.py --datasets mnist --repeats 20 --json out.json
    python benchmarks/label_effort.py --datasets none --tables a.csv,b.csv --label-column valid
    python benchmarks/label_effort.py --grid ...     # the plain-OPAL h × n grid of earlier runs
    python benchmarks/label_effort.py --report a.json b.json   # print saved runs again

The paper (OPAL) reports 98.8 % accuracy at 44.4 % effort on average.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fxcore.label.baselines import pseudo_labelling, rf_active_learning, single_metric, supervised
from fxcore.label.items import as_images
from fxcore.label.split import pca2, split_items
from fxcore.plugins import default_registry

PAPER = {"accuracy": 0.988, "effort": 0.444}
ARCHS = ("cnn", "mlp", "linear")


def evaluate(probs: np.ndarray, truth: np.ndarray, sp: Any, labeller: Any,
             alpha: float) -> dict[str, Any]:
    """OPAL steps 3-4 on fine-tuned probabilities, scored as :class:`OpalRun` scores."""
    policy = labeller.fit(probs[:, sp.optimisation], truth[sp.optimisation], alpha)
    auto, labels = policy.decide(probs[:, sp.rest])
    auto = np.asarray(auto, dtype=bool)
    final = truth.copy()
    final[sp.rest[auto]] = np.asarray(labels)[auto]
    manual = len(sp.finetune) + len(sp.optimisation) + int((~auto).sum())
    rest_acc = float((final[sp.rest] == truth[sp.rest]).mean())
    return {"accuracy": float((final == truth).mean()), "effort": manual / len(truth),
            "rest_accuracy": rest_acc, "target_met": rest_acc >= alpha,
            "status": policy.status, "gap": float(policy.gap), "seconds": float(policy.seconds)}


def load(dataset: str, limit: int | None, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    from fxcore_mnist.data import load_dataset

    images, labels = load_dataset(dataset).split("test")
    if limit and limit < len(labels):
        pick = np.sort(np.random.default_rng(seed).choice(len(labels), limit, replace=False))
        images, labels = images[pick], labels[pick]
    return as_images(images, dataset), np.asarray(labels, dtype=np.int64)


def fine_tuned_probs(registry: Any, dataset: str, x: torch.Tensor, index: np.ndarray,
                     labels: np.ndarray, archs: tuple[str, ...] = ARCHS
                     ) -> tuple[np.ndarray, list[Any]]:
    """Fresh pre-trained classifiers (from the plugin's cache), fine-tuned on ``index``."""
    models = [registry.create("classifier", {"name": f"mnist/{a}",
                                             "params": {"dataset": dataset}}) for a in archs]
    probs = []
    for m in models:
        m.fit(x[torch.as_tensor(index)], torch.as_tensor(labels))
        with torch.no_grad():
            probs.append(m.predict_proba(x).numpy())
    return np.stack(probs).astype(np.float64), models


def _cnn_fit_predict(registry: Any, dataset: str, x: torch.Tensor) -> Any:
    def fit_predict(index: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return fine_tuned_probs(registry, dataset, x, index, labels, ("cnn",))[0][0]

    return fit_predict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", action="store_true", help="the plain-OPAL h × n grid instead")
    ap.add_argument("--quick", action="store_true", help="grid: h ∈ {5, 25} %%, 2 repeats")
    ap.add_argument("--datasets", default="mnist,fashion", help="'none' for tables only")
    ap.add_argument("--tables", default="", help="comma-separated feature-table CSVs")
    ap.add_argument("--label-column", default="valid", help="tables: the label column")
    ap.add_argument("--alpha", type=float, default=0.99, help="grid: α")
    ap.add_argument("--alphas", default="0.99,0.95", help="certified: α values")
    ap.add_argument("--delta", type=float, default=0.05, help="δ of the certificate")
    ap.add_argument("--fraction", type=float, default=None, help="certified: split h")
    ap.add_argument("--batch", type=float, default=None, help="certified: AL batch (fraction)")
    ap.add_argument("--no-active", action="store_true", help="certified: no active learning")
    ap.add_argument("--no-finetune", action="store_true", help="certified: keep pre-trained")
    ap.add_argument("--no-forest", action="store_true",
                    help="certified: skip the uncertainty-sampling forest (slow on 10k images)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="items of the test split to label")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--report", nargs="+", metavar="JSON",
                    help="print the summary of runs saved with --json, and run nothing")
    args = ap.parse_args(argv)
    if args.report:
        for path in args.report:
            with open(path) as fh:
                saved = json.load(fh)
            if saved.get("mode") == "certified":
                report_certified(saved["rows"])
            else:
                report(saved["rows"], saved["alpha"])
        return 0
    torch.set_num_threads(args.threads)
    if not args.grid:
        rows = certified_main(args)
        report_certified(rows)
        return 0
    hs = [0.05, 0.25] if args.quick else [0.01, 0.05, 0.15, 0.25, 0.35, 0.45]
    repeats = args.repeats or (2 if args.quick else 5)
    limit = args.limit or (2000 if args.quick else None)
    registry = default_registry()
    have_milp = "opal-milp" in {n.split("/")[-1] for n in registry.names("labeller")}
    name = "opal-milp" if have_milp else "threshold"
    if not have_milp:
        print("note: fxcore-highs not installed; using the threshold labeller", file=sys.stderr)
    plain = registry.create("labeller", {"name": name, "params": (
        {"time_limit": args.time_limit} if have_milp else {})})
    guarded = registry.create("labeller", {"name": name, "params": {
        "time_limit": args.time_limit, "guarantee": args.delta}}) if have_milp else None
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for dataset in args.datasets.split(","):
        x, truth = load(dataset, limit, 0)
        pixels = x.reshape(len(x), -1).numpy()
        pcs = pca2(pixels)
        for r in range(repeats):
            for h in hs:
                try:
                    sp = split_items(pixels, h, seed=r)
                except Exception as exc:  # noqa: BLE001 - too small a split: report and skip
                    print(f"{dataset} h={h} r={r}: skipped ({exc})", file=sys.stderr)
                    continue
                t0 = time.perf_counter()
                probs, _ = fine_tuned_probs(registry, dataset, x, sp.finetune,
                                            truth[sp.finetune])
                ft = time.perf_counter() - t0
                base = {"dataset": dataset, "h": h, "repeat": r, "n_items": len(truth),
                        "finetune_seconds": ft}
                for n in (1, 2, 3):
                    res = evaluate(probs[:n], truth, sp, plain, args.alpha)
                    rows.append({**base, "method": f"opal-n{n}", "n": n, **res})
                if guarded is not None:
                    res = evaluate(probs, truth, sp, guarded, args.alpha)
                    rows.append({**base, "method": "opal-guarantee-n3", "n": 3, **res})
                labelled = np.concatenate([sp.finetune, sp.optimisation])
                # supervised: the cnn fine-tuned on the whole labelled budget
                cnn = _cnn_fit_predict(registry, dataset, x)
                p_sup = cnn(labelled, truth[labelled])
                rows.append({**base, "method": "supervised", **supervised(
                    p_sup[sp.rest], truth, labelled, sp.rest).as_dict()})
                rows.append({**base, "method": "single-metric", **single_metric(
                    probs, truth, sp.optimisation, labelled, sp.rest, args.alpha).as_dict()})
                rows.append({**base, "method": "pseudo-labelling", **pseudo_labelling(
                    cnn, truth, labelled, sp.rest).as_dict()})
                opal3 = next(row for row in rows[::-1] if row["method"] == "opal-n3")
                budget = int(round(opal3["effort"] * len(truth)))
                rows.append({**base, "method": "rf-active-learning", **rf_active_learning(
                    np.hstack([pcs, pixels[:, ::4]]), truth, budget, batch=max(10, budget // 10),
                    seed=r).as_dict()})
                print(f"{dataset} h={h:.2f} r={r}: opal-n3 acc {opal3['accuracy']:.4f} effort "
                      f"{opal3['effort']:.3f} ({time.perf_counter() - t_start:.0f} s)",
                      file=sys.stderr, flush=True)
    report(rows, args.alpha)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"alpha": args.alpha, "delta": args.delta, "rows": rows}, fh, indent=1)
    return 0


# ----------------------------------------------------------------------------- certified
def _run_job(config: dict[str, Any], table: bool) -> dict[str, Any]:
    from fxcore.config import validate_config
    from fxcore.label.job import run_label, run_table
    from fxcore.schemas.label import LabelConfig, LabelTableConfig

    with tempfile.TemporaryDirectory() as tmp:
        if table:
            return run_table(validate_config(config, LabelTableConfig), Path(tmp) / "run")
        return run_label(validate_config(config, LabelConfig), Path(tmp) / "run")


def certified_main(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The certified run, plain OPAL and the uncertainty-sampling forest on every data set."""
    repeats = args.repeats or 20
    sources: list[tuple[str, dict[str, Any], bool]] = []
    for ds in [d for d in args.datasets.split(",") if d and d != "none"]:
        sources.append((ds, {
            "data": {"dataset": f"mnist/{ds}", "split": "test"},
            "classifiers": [{"name": f"mnist/{a}", "params": {"dataset": ds}} for a in ARCHS],
            "finetune": not args.no_finetune,
            "split": {"fraction": args.fraction or 0.1, "representation": "pixels"},
        }, False))
    for path in [t for t in args.tables.split(",") if t]:
        sources.append((Path(path).stem, {
            "table": path, "label_column": args.label_column, "nonfinite": "clip",
            "split": {"fraction": args.fraction or 0.1},
        }, True))
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for name, base, table in sources:
        x, truth = _forest_inputs(base, table)
        for alpha in [float(a) for a in args.alphas.split(",")]:
            for r in range(repeats):
                common = {**base, "seed": r, "target_accuracy": alpha,
                          "labeller": {"name": "opal-milp",
                                       "params": {"time_limit": args.time_limit}}}
                active = None if args.no_active else {"batch": args.batch or 0.025}
                cert = _run_job({**common, "active": active,
                                 "certify": {"delta": args.delta}}, table)
                plain = _run_job({**common, "certify": {"enabled": False},
                                  "split": {**base["split"], "fraction": 0.25}}, table)
                for method, res in (("certified", cert), ("plain-opal", plain)):
                    rows.append(_row(name, alpha, r, method, res))
                c = rows[-2]
                if not args.no_forest:
                    budget = int(round(cert["manual_effort"] * len(truth)))
                    forest = rf_active_learning(x, truth, budget,
                                                batch=max(1, int(np.ceil(0.025 * len(truth)))),
                                                seed=r).as_dict()
                    rows.append({"dataset": name, "alpha": alpha, "repeat": r,
                                 "method": "uncertainty-rf", "accuracy": forest["accuracy"],
                                 "effort": forest["manual_effort"],
                                 "met": forest["accuracy"] >= alpha})
                if args.json:  # after every repeat: a long run stopped midway keeps its rows
                    with open(args.json, "w") as fh:
                        json.dump({"mode": "certified", "delta": args.delta, "rows": rows}, fh,
                                  indent=1)
                print(f"{name} α={alpha} r={r}: certified acc {c['accuracy']:.4f} effort "
                      f"{c['effort']:.3f} met {c['met']} "
                      f"({time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)
    return rows


def _forest_inputs(base: dict[str, Any], table: bool) -> tuple[np.ndarray, np.ndarray]:
    """What the uncertainty-sampling forest sees: table features, or pixels (+ 2 PCs)."""
    if table:
        from fxcore.label.table import load_table


        items = load_table(base["table"], base["label_column"], nonfinite="clip")
        assert items.x is not None and items.truth is not None
        return items.x, items.truth
    x, truth = load(base["data"]["dataset"].split("/")[1], None, 0)
    pixels = x.reshape(len(x), -1).numpy()
    return np.hstack([pca2(pixels), pixels[:, ::4]]), truth


def _row(name: str, alpha: float, r: int, method: str, s: dict[str, Any]) -> dict[str, Any]:
    cert = s.get("certificate") or {}
    return {"dataset": name, "alpha": alpha, "repeat": r, "method": method,
            "accuracy": s["accuracy"], "effort": s["manual_effort"], "met": s["target_met"],
            "rest_accuracy": s["rest_accuracy"], "auto": s["auto_labelled"],
            "sample": cert.get("sample"), "sample_errors": cert.get("sample_errors"),
            "rounds": s.get("active_rounds"), "solver_status": s["solver"]["status"],
            "solver_seconds": s["solver"]["seconds"], "n_items": s["n_items"],
            "seconds": sum(s["seconds"].values())}


def report_certified(rows: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, float, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["dataset"], r["alpha"], r["method"]].append(r)
    print(f"\n{'data set':14} {'α':>5} {'method':15} {'runs':>4} {'accuracy':>9} "
          f"{'effort':>7} {'met α':>6}")
    for (ds, alpha, method), rs in sorted(groups.items()):
        print(f"{ds:14} {alpha:>5} {method:15} {len(rs):>4} "
              f"{np.mean([r['accuracy'] for r in rs]):>9.4f} "
              f"{np.mean([r['effort'] for r in rs]):>7.3f} "
              f"{np.mean([r['met'] for r in rs]):>6.0%}")


def report(rows: list[dict[str, Any]], alpha: float) -> None:
    for r in rows:
        r.setdefault("effort", r.get("manual_effort"))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["dataset"], r["method"]].append(r)
    print(f"\nα = {alpha}; paper (OPAL): accuracy {PAPER['accuracy']:.1%} at effort "
          f"{PAPER['effort']:.1%}")
    print(f"{'dataset':8} {'method':20} {'runs':>4} {'accuracy':>9} {'effort':>7} "
          f"{'rest acc':>9} {'target met':>10} {'solver s':>8}")
    for (ds, method), rs in sorted(groups.items()):
        acc = np.mean([r["accuracy"] for r in rs])
        eff = np.mean([r["effort"] for r in rs])
        rest = np.mean([r["rest_accuracy"] for r in rs])
        met = np.mean([r["rest_accuracy"] >= alpha for r in rs])
        sec = np.mean([r.get("seconds", np.nan) for r in rs])
        print(f"{ds:8} {method:20} {len(rs):>4} {acc:>9.4f} {eff:>7.3f} {rest:>9.4f} "
              f"{met:>10.0%} {sec:>8.3f}")
    print("\nper h (opal-n3, mean over repeats and data sets): h, accuracy, effort, target met")
    by_h: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["method"] == "opal-n3":
            by_h[r["h"]].append(r)
    for h, rs in sorted(by_h.items()):
        print(f"  h={h:.2f}: {np.mean([r['accuracy'] for r in rs]):.4f} "
              f"{np.mean([r['effort'] for r in rs]):.3f} "
              f"{np.mean([r['rest_accuracy'] >= alpha for r in rs]):.0%}")
    report_guarantee(rows, alpha)


def report_guarantee(rows: list[dict[str, Any]], alpha: float) -> None:
    """Hit rate of the guarantee mode against plain OPAL (n = 3) on the same splits, counting
    only the runs where the guarantee mode auto-labelled something (an all-manual run meets
    any target and proves nothing)."""
    plain = {(r["dataset"], r["h"], r["repeat"]): r for r in rows if r["method"] == "opal-n3"}
    guarded = [r for r in rows if r["method"] == "opal-guarantee-n3"]
    if not guarded:
        return
    print("\nguarantee mode vs plain OPAL (n = 3), same splits: dataset, h, runs that "
          "auto-labelled, target met (guarantee / plain), effort (guarantee / plain)")
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in guarded:
        groups[r["dataset"], r["h"]].append(r)
    for (ds, h), rs in sorted(groups.items()):
        auto = [r for r in rs if r["status"] != "unreachable"]
        line = f"  {ds:8} h={h:.2f}: {len(auto)}/{len(rs)}"
        if auto:
            base = [plain[r["dataset"], r["h"], r["repeat"]] for r in auto]
            line += (f", met {np.mean([r['rest_accuracy'] >= alpha for r in auto]):.0%} / "
                     f"{np.mean([r['rest_accuracy'] >= alpha for r in base]):.0%}, effort "
                     f"{np.mean([r['effort'] for r in auto]):.3f} / "
                     f"{np.mean([r['effort'] for r in base]):.3f}")
        print(line)


if __name__ == "__main__":
    sys.exit(main())

"""``fx label``: OPAL labelling from a job config, or from a ready-made feature table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fxcore.commands import JobOptions, job_options, run_command
from fxcore.errors import ConfigError

_TABLE_ONLY = ("label_column", "features", "id_column", "target_accuracy", "classifiers",
               "nonfinite", "batch", "delta")


def format_summary(s: dict[str, Any]) -> list[str]:
    """Human-readable lines of a label summary."""
    if s.get("status") == "waiting":
        lines = [f"waiting: {s['pending']} items of {s['waiting_for']} await answers "
                 f"({s['answered']} answered so far)"]
        for path in s.get("exported", []):
            lines.append(f"  exported: {path}")
        if s.get("exported"):
            lines.append(f"  answer in answers.csv / answers.json beside them (or pass Label "
                         f"Studio's export as --answers FILE), then rerun with --out "
                         f"{s['run_dir']} --resume")
        else:
            lines.append(f"  every answer is saved; continue with --out {s['run_dir']} --resume")
        return lines

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}%"

    met = {True: "met", False: "not met", None: "n/a"}[s.get("target_met")]
    solver = s.get("solver", {})
    gap = solver.get("gap")
    lines = [
        f"accuracy {pct(s.get('accuracy'))} of the final labels (target "
        f"{pct(s['target_accuracy'])}: {met}; outside the first split: "
        f"{pct(s.get('rest_accuracy'))})",
        f"manual effort {pct(s['manual_effort'])} ({s['n_manual']} of {s['n_items']} items: "
        f"{s['n_finetune']} fine-tuning + {s['n_optimisation']} optimisation + "
        f"{s['n_queue']} more), auto-labelled {s['auto_labelled']}",
        f"labeller: {solver.get('status')} (gap {'-' if gap is None else f'{gap:.3g}'}, "
        f"{solver.get('seconds', 0):.2f} s) {solver.get('message', '')}".rstrip(),
        _certificate_line(s),
        "time per step: " + ", ".join(f"{k} {v:.2f} s" for k, v in s["seconds"].items()),
        f"labels: {s.get('labels_file', '-')}; run: {s['run_dir']}",
    ]
    return lines


def _certificate_line(s: dict[str, Any]) -> str:
    cert = s.get("certificate")
    if not cert:
        return "no certificate (certify.enabled = false): accuracy on unseen items is not bounded"
    return cert["statement"]


@click.command("label")
@click.argument("config", required=False, type=click.Path(path_type=Path))
@job_options
@click.option("--table", type=click.Path(path_type=Path), help="ready-made feature table (CSV)")
@click.option("--label-column", help="table: ground-truth column (simulator and scoring only)")
@click.option("--features", help="table: comma-separated feature columns (default: all others)")
@click.option("--id-column", help="table: item id column (default: row number)")
@click.option("--target-accuracy", type=float, help="table: α in (0, 1]")
@click.option("--classifiers", help="table: tabular classifiers, from rf,lr,gb (default all)")
@click.option("--labeller", default="opal-milp", show_default=True, help="table: labeller")
@click.option("--annotator", default=None,
              help="who answers: simulate (table default), file, prompt, web; with a CONFIG it "
                   "replaces the config's annotator for this session only (not part of the run's "
                   "identity: a run started with one annotator may be resumed with another)")
@click.option("--answers", multiple=True, type=click.Path(path_type=Path),
              help="file annotator: an answer file of any name (Label Studio's JSON export, a "
                   "CSV item,label ...); repeatable")
@click.option("--port", type=click.IntRange(0, 65535),
              help="web annotator: the page's port on 127.0.0.1 (0: any free port; default 8765)")
@click.option("--fraction", type=float, help="table: h, the fraction labelled first")
@click.option("--split-method", type=click.Choice(["kmeans-pca", "dbscan"]), help="table")
@click.option("--beta", type=int, help="table: active learning, β manual labels per round")
@click.option("--batch", type=float,
              help="table: active learning, a fraction of the items per round (e.g. 0.025)")
@click.option("--delta", type=float, help="table: δ of the certificate (default 0.05)")
@click.option("--no-certify", is_flag=True, help="table: plain OPAL, no certificate")
@click.option("--nonfinite", type=click.Choice(["error", "clip", "drop"]),
              help="table: ±inf/NaN features: error (default), clip to the column's finite "
                   "extremes, or drop the row")
@click.option("--seed", type=int, default=0, show_default=True, help="table: seed")
def label_cmd(config: Path | None, table: Path | None, **opts: Any) -> None:
    """Label items to a target accuracy with the least manual effort (OPAL).

    \b
    fx label CONFIG [--out DIR] [--resume] [--json [OUT]]
    fx label --table CSV --label-column COL --target-accuracy A [--json [OUT]]
    """
    common = JobOptions.pop(opts)
    session = (opts.pop("annotator"), opts.pop("answers"), opts.pop("port"))
    if (config is None) == (table is None):
        raise click.UsageError("give a CONFIG file or --table CSV (not both)")
    if config is not None:
        given = [k for k in _TABLE_ONLY if opts.get(k) is not None]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise click.UsageError(f"{flags} only apply with --table")
        from fxcore.config import load_config
        from fxcore.schemas.label import LabelConfig

        run_command("label", lambda: load_config(config, LabelConfig), config, common,
                    components=lambda cfg: _session_annotator(cfg, *session))
        return
    assert table is not None
    from fxcore.label.job import LABEL_TABLE

    opts["annotator"] = session[0] or "simulate"
    run_command("label", lambda: _table_config(table, opts), table, common, job=LABEL_TABLE,
                components=lambda cfg: _session_annotator(cfg, None, *session[1:]))


def _session_annotator(config: Any, name: str | None, answers: tuple[Path, ...],
                       port: int | None) -> dict[str, Any]:
    """The annotator chosen by ``--annotator/--answers/--port`` for this session, passed as a
    ready component: the config (and so the run's identity) stays as it is."""
    if name is None and not answers and port is None:
        return {}
    from fxcore.plugins import default_registry
    from fxcore.schemas import ComponentSpec

    spec = config.annotator
    name = name or spec.name
    params = dict(spec.params) if name == spec.name else {}
    if answers:
        if name != "file":
            raise click.UsageError(f"--answers applies to the file annotator, not {name!r} "
                                   "(add --annotator file)")
        params["answers"] = [*params.get("answers", []), *map(str, answers)]
    if port is not None:
        if name != "web":
            raise click.UsageError(f"--port applies to the web annotator, not {name!r} "
                                   "(add --annotator web)")
        params["port"] = port
    spec = ComponentSpec(name=name, params=params)
    return {"annotator": default_registry().create("annotator", spec, where="annotator")}


def _table_config(table: Path | None, opts: dict[str, Any]) -> Any:
    from fxcore.config import validate_config
    from fxcore.schemas.label import LabelTableConfig

    if not opts.get("label_column"):
        raise click.UsageError("--table needs --label-column")
    if opts.get("target_accuracy") is None:
        raise click.UsageError("--table needs --target-accuracy")
    split: dict[str, Any] = {}
    if opts.get("fraction") is not None:
        split["fraction"] = opts["fraction"]
    if opts.get("split_method"):
        split["method"] = opts["split_method"]
    data: dict[str, Any] = {
        "table": str(table), "label_column": opts["label_column"],
        "target_accuracy": opts["target_accuracy"], "labeller": opts["labeller"],
        "annotator": opts["annotator"], "split": split, "seed": opts["seed"],
    }
    if opts.get("features"):
        data["features"] = [f.strip() for f in opts["features"].split(",") if f.strip()]
    if opts.get("id_column"):
        data["id_column"] = opts["id_column"]
    if opts.get("classifiers"):
        data["classifiers"] = [c.strip() for c in opts["classifiers"].split(",") if c.strip()]
    if opts.get("beta") is not None:
        data["active"] = {"beta": opts["beta"]}
    elif opts.get("batch") is not None:
        data["active"] = {"batch": opts["batch"]}
    certify: dict[str, Any] = {"enabled": not opts.get("no_certify")}
    if opts.get("delta") is not None:
        certify["delta"] = opts["delta"]
    data["certify"] = certify
    if opts.get("nonfinite"):
        data["nonfinite"] = opts["nonfinite"]
    try:
        return validate_config(data, LabelTableConfig, source="fx label --table")
    except ConfigError as exc:
        msg = str(exc).replace("target_accuracy", "--target-accuracy")
        raise ConfigError(msg) from None

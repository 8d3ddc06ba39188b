"""``fx explore`` and ``fx report``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fxcore.errors import ConfigError
from fxcore.paths import check_out_file
from fxcore.schemas import Evaluation


def _fmt_values(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def worst_lines(evaluations: list[Evaluation], n: int = 5) -> list[str]:
    """``accuracy 0.10 [0.02, 0.30]  digit=7, rotation=90`` for the ``n`` worst subdomains."""
    ok = [e for e in evaluations if e.accuracy is not None]
    ok.sort(key=lambda e: (e.accuracy, e.accuracy_high, e.index))
    return [
        f"accuracy {e.accuracy:.2f} [{e.accuracy_low:.2f}, {e.accuracy_high:.2f}] "
        f"({e.n_correct}/{e.n_kept})  {_fmt_values(e.values)}"
        for e in ok[:n]
    ]


@click.command("explore")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="run directory [default: runs/explore-<config stem>]")
@click.option("--resume", is_flag=True, help="continue the run in --out where it stopped")
@click.option("--json", "as_json", is_flag=True, help="print the run summary as JSON")
def explore_cmd(config: Path, out: Path | None, resume: bool, as_json: bool) -> None:
    """Find the subdomains of an evaluation domain where a classifier fails (BO paper, Alg. 1)."""
    from fxcore.explore.job import explore_file

    result = explore_file(config, out, resume=resume, show_progress=True)
    if as_json:
        click.echo(json.dumps(result.summary(), indent=2))
        return
    s = result.summary()
    mean = "n/a" if s["mean_accuracy"] is None else f"{s['mean_accuracy']:.3f}"
    click.echo(
        f"evaluated {s['n_evaluated']} of {s['n_subdomains']} subdomains "
        f"({s['n_no_valid_images']} without valid images) in {s['seconds']:.1f} s; "
        f"mean accuracy {mean}"
    )
    click.echo("worst subdomains:")
    for line in worst_lines(result.evaluations):
        click.echo(f"  {line}")
    click.echo(f"run: {result.run_dir}  (report: fx report {result.run_dir})")


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the report's numbers as JSON")
@click.option("--export-table", type=click.Path(path_type=Path), default=None,
              help="also write the evaluations as a table CSV for fx bench")
@click.option("--worst", type=int, default=10, show_default=True,
              help="how many worst subdomains to show with images")
def report_cmd(run_dir: Path, as_json: bool, export_table: Path | None, worst: int) -> None:
    """Report of an explore run: per-attribute accuracy, pairwise heatmaps, worst subdomains,
    selection trace (PNG + JSON + one self-contained HTML page in RUN_DIR/report/)."""
    from fxcore.explore.export import export_table as export
    from fxcore.explore.report import write_report

    if export_table is not None:
        check_out_file(export_table, "--export-table")
    job = _job_of(run_dir)
    if job != "explore":  # another job's run: its own fxcore.<job>.report.write_report
        other = _other_report(job)
        if export_table is not None:
            raise ConfigError(f"--export-table works on explore runs; {run_dir} is a {job} run")
        rep_other = other.write_report(run_dir)
        click.echo(json.dumps(rep_other.data, indent=2) if as_json else f"report: {rep_other.html}")
        return
    rep = write_report(run_dir, n_worst=worst)
    exported = export(run_dir, export_table) if export_table is not None else None
    if as_json:
        doc = dict(rep.data)
        if exported is not None:
            doc["export"] = exported
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"report: {rep.html}")
    if exported is not None:
        e = exported
        click.echo(
            f"table: {e['path']} ({e['n_rows']} rows; {e['n_no_valid_images']} subdomains "
            f"without valid images left out; "
            f"{'every' if e['full_domain'] else 'NOT every'} subdomain of the domain evaluated)"
        )


def _job_of(run_dir: Path) -> str:
    info = run_dir / "run.json"
    if not info.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no run.json / run.sqlite)")
    try:
        return str(json.loads(info.read_text()).get("job"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{info}: unreadable ({exc})") from None


def _other_report(job: str):  # type: ignore[no-untyped-def]
    import importlib

    try:
        module = importlib.import_module(f"fxcore.{job}.report")
    except ModuleNotFoundError:
        module = None
    if module is None or not hasattr(module, "write_report"):
        raise ConfigError(f"fx report has no report for {job!r} runs")
    return module


COMMANDS = [explore_cmd, report_cmd]

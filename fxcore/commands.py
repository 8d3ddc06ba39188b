"""What every ``fx`` job command shares: the same options and the same way of running a job.

``@job_options`` gives a command ``--out DIR``, ``--resume``, ``--json [OUT]``, ``--quiet`` and
``--threads N``; :func:`run_command` loads the config (before anything heavy is imported),
runs the job through :func:`fxcore.jobs.run_job` and prints its summary: lines, JSON on stdout
(``--json``) or JSON in a file (``--json OUT``; the lines are printed as well). ``fx report``
lives here too: the job table says which report a run has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from fxcore.paths import check_out_file

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class JobOptions:
    """The common options of a job command, as parsed."""

    out: Path | None
    resume: bool
    json_out: str | None  # None: lines; "-": JSON on stdout; else a file
    quiet: bool
    threads: int | None

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> JobOptions:
        """Take the common options out of a command's keyword arguments."""
        return cls(*(kwargs.pop(k) for k in ("out", "resume", "json_out", "quiet", "threads")))


def json_option(help_text: str = "machine-readable output: --json (stdout) or --json FILE"
                ) -> Callable[[F], F]:
    """``--json [OUT]``: JSON on stdout, or written to the file OUT."""
    return click.option("--json", "json_out", is_flag=False, flag_value="-", default=None,
                        metavar="[OUT]", help=help_text)


def quiet_option() -> Callable[[F], F]:
    return click.option("--quiet", is_flag=True, help="no progress output")


def threads_option() -> Callable[[F], F]:
    return click.option("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for torch and the numeric libraries [default: "
                             "FXCORE_THREADS, else see docs/performance.md]")


def job_options(f: F) -> F:
    """The options every job command has, in the same order and wording."""
    for option in reversed([
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="run folder [default: runs/<job>-<config or table name>]"),
        click.option("--resume", is_flag=True,
                     help="continue the run in --out where it stopped (a finished run just "
                          "reports)"),
        json_option("print the run summary as JSON (--json) or write it to a file (--json OUT)"),
        quiet_option(),
        threads_option(),
    ]):
        f = option(f)
    return f


def check_json_out(json_out: str | None) -> None:
    """A ``--json FILE`` that cannot be written fails before the run, not after it."""
    if json_out not in (None, "-"):
        check_out_file(Path(json_out), "--json")


def emit(data: dict[str, Any], json_out: str | None, lines: list[str]) -> None:
    """Print ``lines``, or ``data`` as JSON on stdout (``-``) or into the file ``json_out``."""
    if json_out is None:
        for line in lines:
            click.echo(line)
    elif json_out == "-":
        click.echo(json.dumps(data, indent=2))
    else:
        from fxcore.store import write_atomic

        write_atomic(Path(json_out), json.dumps(data, indent=2) + "\n")
        for line in [*lines, f"wrote {json_out}"]:
            click.echo(line)


def _log(message: str) -> None:
    click.echo(message, err=True)


def run_command(job_name: str, load: Callable[[], Any], source: Path, opts: JobOptions,
                job: Any = None,
                components: Callable[[Any], Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """``fx <job>``: check the options, ``load()`` the config, run, print; returns the summary.

    ``source``: the config (or table) file, which names the default ``--out``; ``job``: the
    :class:`fxcore.jobs.Job` when it is a variant of ``job_name`` (``fx mds --ensemble``);
    ``components(config)``: ready components for config fields, chosen by options that are not
    part of the run's identity (``fx label --annotator web``).
    """
    from fxcore.jobs import default_out, get_job, run_job
    from fxcore.threads import apply_threads

    apply_threads(opts.threads)  # before the config's plugins load their numeric libraries
    check_json_out(opts.json_out)
    out = opts.out or default_out(job_name, source)
    config = load()  # the config is checked before the job's (heavy) modules are imported
    job = job or get_job(job_name)
    quiet = opts.quiet or opts.json_out == "-"
    given = components(config) if components is not None else None
    result = run_job(job, config, out, opts.resume, progress=not quiet, components=given,
                     log=None if quiet else _log, threads=opts.threads)
    emit(result.summary, opts.json_out, job.lines(result.summary))
    return result.summary


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@json_option("print the report's numbers as JSON (--json) or write them to a file (--json OUT)")
@click.option("--export-table", type=click.Path(path_type=Path), default=None,
              help="explore runs: also write the evaluations as a table CSV for fx bench")
@click.option("--worst", type=int, default=10, show_default=True,
              help="explore runs: how many worst subdomains to show with images")
def report_cmd(run_dir: Path, json_out: str | None, export_table: Path | None,
               worst: int) -> None:
    """Report of a run of any job (explore, mds, label, bench): one page viewable offline,
    RUN_DIR/report/index.html, opening with what produced the run; its numbers in
    RUN_DIR/report/report.json."""
    from fxcore.errors import ConfigError
    from fxcore.jobs import report_writer, run_kind

    check_json_out(json_out)
    job = run_kind(run_dir)
    if export_table is not None:
        if job != "explore":
            raise ConfigError(f"--export-table works on explore runs; {run_dir} is a {job} run")
        check_out_file(export_table, "--export-table")
    writer = report_writer(job)
    report = writer(run_dir, n_worst=worst) if job == "explore" else writer(run_dir)
    data = dict(report.data)
    lines = [f"report: {report.html}"]
    if export_table is not None:
        from fxcore.explore.export import export_table as export

        e = data["export"] = export(run_dir, export_table)
        lines.append(
            f"table: {e['path']} ({e['n_rows']} rows; {e['n_no_valid_images']} subdomains "
            f"without valid images left out; "
            f"{'every' if e['full_domain'] else 'NOT every'} subdomain of the domain evaluated)"
        )
    emit(data, json_out, lines)


@click.command("runs")
@click.argument("folder", type=click.Path(path_type=Path), default=Path("runs"), required=False)
@json_option("the list as JSON (--json) or written to a file (--json OUT)")
def runs_cmd(folder: Path, json_out: str | None) -> None:
    """List the runs under FOLDER [default: runs]: job, status, key figure, date and report."""
    from fxcore.errors import ConfigError
    from fxcore.reports import list_runs

    check_json_out(json_out)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    rows = list_runs(folder)
    lines = [f"{'job':8s} {'status':9s} {'date':16s} {'run':30s} key figure"] if rows else [
        f"no runs under {folder}"]
    for r in rows:
        date = (r["date"] or "-")[:16]
        lines.append(f"{r['job']:8s} {r['status']:9s} {date:16s} {r['path']:30s} {r['key']}")
    emit({"folder": str(folder), "runs": rows}, json_out, lines)

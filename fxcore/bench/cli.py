"""``fx bench``: replay selectors over a table of measured subdomains (the BO paper, Fig. 4)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fxcore.errors import ConfigError
from fxcore.paths import check_out_file

#: most replays per selector (each keeps its curves in memory and in the JSON document)
MAX_SEEDS = 1000


def _summary_lines(result: dict) -> list[str]:
    k = result["worst_k"]
    head = f"{'selector':40s} {'evals to full (median)':>22s} {f'coverage@{k} (median)':>20s} " \
           f"{'seconds':>8s}"
    lines = [f"{result['table']}: {result['n_rows']} rows, worst {k} below "
             f"{result['worst_threshold']:.3g}", head]
    for name, res in result["selectors"].items():
        med = res["evals_to_full_coverage_median"]
        evals = f">{result['budget']}" if med is None else f"{med:g}"
        lines.append(f"{name:40s} {evals:>22s} {res['coverage_at_worst_k_median']:>20.2f} "
                     f"{res['seconds_total']:>8.1f}")
    return lines


@click.command("bench")
@click.option("--table", "table_spec", metavar="CSV|NAME",
              help="table CSV file, or the name of a shipped table (see --list-tables)")
@click.option("--selector", "selectors", multiple=True, metavar="SPEC",
              help="selector to replay: name, plugin/name, name:key=value,... or oracle; repeat")
@click.option("--seeds", type=int, default=10, show_default=True,
              help="number of seeds (0..seeds-1) per selector")
@click.option("--budget", type=int, default=None, help="evaluations per replay [all rows]")
@click.option("--target", default="accuracy", show_default=True, help="target column")
@click.option("--batch-size", type=int, default=1, show_default=True,
              help="subdomains proposed per selector call (k)")
@click.option("--json", "json_out", type=click.Path(path_type=Path),
              help="write the results as JSON to this file")
@click.option("--plot", "plot_out", type=click.Path(path_type=Path),
              help="write the Fig. 4 style plot to this file (.png, .pdf or .svg)")
@click.option("--list-tables", is_flag=True, help="list the shipped tables and exit")
@click.option("--quiet", is_flag=True, help="no progress output")
def bench_cmd(table_spec: str | None, selectors: tuple[str, ...], seeds: int, budget: int | None,
              target: str, batch_size: int, json_out: Path | None, plot_out: Path | None,
              list_tables: bool, quiet: bool) -> None:
    """Replay selectors over a table: evaluation becomes a look-up of the table's target.

    Metrics per selector and seed: coverage of the worst 10% after each evaluation, evaluations
    to full coverage, cumulative mean and rolling accuracy, and Spearman's rho of surrogate
    selectors. Example:

        fx bench --table lecoz2024-dog --selector oracle --selector random
        --selector sklearn/lasso-greedy --seeds 10 --json fig4.json --plot fig4.png
    """
    from fxcore.bench.replay import run_bench
    from fxcore.bench.table import list_tables as shipped
    from fxcore.bench.table import load_table

    if list_tables:
        for name, path in shipped().items():
            t = load_table(path)
            attrs = ", ".join(f"{a.name}({len(a.values)})" for a in t.domain.attributes)
            click.echo(f"{name}: {t.n_rows} rows; {attrs}; {path}")
        return
    if not table_spec:
        raise ConfigError("--table is required (a CSV file or a shipped name; see --list-tables)")
    if not selectors:
        raise ConfigError("--selector is required (e.g. --selector random --selector oracle)")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be in 1..{MAX_SEEDS}, got {seeds}")
    if plot_out is not None:
        from fxcore.bench.plot import check_plot_path

        check_plot_path(plot_out)
    for flag, written in (("--json", json_out), ("--plot", plot_out)):
        if written is not None:
            check_out_file(written, flag)
    table = load_table(table_spec, target=target)
    result = run_bench(table, list(selectors), seeds=seeds, budget=budget,
                       batch_size=batch_size, show_progress=not quiet)
    if json_out is not None:
        from fxcore.store import write_atomic

        write_atomic(json_out, json.dumps(result))
    if plot_out is not None:
        from fxcore.bench.plot import plot_bench

        plot_bench(result, plot_out)
    for line in _summary_lines(result):
        click.echo(line)
    for written in (json_out, plot_out):
        if written is not None:
            click.echo(f"wrote {written}")


COMMANDS = [bench_cmd]

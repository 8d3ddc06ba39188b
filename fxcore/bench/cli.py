"""``fx bench``: replay selectors over a table of measured subdomains (the BO paper, Fig. 4)."""

from __future__ import annotations

from pathlib import Path

import click

from fxcore.commands import check_json_out, emit, json_option, quiet_option, threads_option
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


def _parse_stages(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--stages {text!r}: expected image counts such as 10,20,50") from None


def _image_lines(result: dict) -> list[str]:
    fid = result.get("fidelity")
    if fid is None:
        return []
    how = f"stages {','.join(map(str, fid['stages']))}, error {fid['error']:g}" \
        if fid["stages"] else "full fidelity"
    lines = [f"images to find every worst row at full fidelity ({how}; oracle "
             f"{fid['oracle_images']}):"]
    for name, res in result["selectors"].items():
        med = res.get("images_to_full_coverage_median")
        lines.append(f"{name:40s} {'censored' if med is None else f'{med:g}':>22s}")
    return lines


@click.command("bench")
@click.option("--table", "table_spec", metavar="CSV|NAME",
              help="table CSV file, or the name of a shipped table (see --list-tables)")
@click.option("--selector", "selectors", multiple=True, metavar="SPEC",
              help="selector to replay: name, plugin/name, name:key=value,... or oracle; repeat")
@click.option("--repeats", type=int, default=10, show_default=True,
              help="replays per selector, with seeds --seed .. --seed + repeats - 1")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the first replay")
@click.option("--seeds", type=int, default=None, hidden=True,
              help="old name of --repeats (kept working; prints a note)")
@click.option("--budget", type=int, default=None, help="evaluations per replay [all rows]")
@click.option("--target", default="accuracy", show_default=True, help="target column")
@click.option("--batch-size", type=int, default=1, show_default=True,
              help="subdomains proposed per selector call (k)")
@json_option("the results as JSON: --json (stdout) or --json FILE")
@click.option("--plot", "plot_out", type=click.Path(path_type=Path),
              help="write the Fig. 4 style plot to this file (.png, .pdf or .svg)")
@click.option("--images-per-row", "images_spec", metavar="N|COLUMN",
              help="images behind each row's target (a number, or a numeric column such as "
              "n_kept): adds the images metric")
@click.option("--stages", "stages_spec", metavar="N,N,...",
              help="multi-fidelity: images drawn per row in stages, e.g. 10,20,30,40,50 "
              "(needs --images-per-row)")
@click.option("--error", "fidelity_error", type=float, default=0.05, show_default=True,
              help="with --stages: bound on the probability that a worst row stops early")
@click.option("--fidelity-threshold", type=float, default=None,
              help="with --stages: a row is a failure below this accuracy [estimated: the "
              "worst-10% cut-off from the observations so far]")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              metavar="DIR", help="keep the replay as a run folder DIR with its report, "
              "DIR/report/index.html (the plot, the per-selector table, what produced it); "
              "fx runs lists it, fx report DIR rebuilds the page")
@click.option("--list-tables", is_flag=True, help="list the shipped tables and exit")
@quiet_option()
@threads_option()
def bench_cmd(table_spec: str | None, selectors: tuple[str, ...], repeats: int, seed: int,
              seeds: int | None, budget: int | None, target: str, batch_size: int,
              json_out: str | None, plot_out: Path | None, images_spec: str | None,
              stages_spec: str | None, fidelity_error: float, fidelity_threshold: float | None,
              report_dir: Path | None, list_tables: bool, quiet: bool,
              threads: int | None) -> None:
    """Replay selectors over a table: evaluation becomes a look-up of the table's target.

    Metrics per selector and seed: coverage of the worst 10% after each evaluation, evaluations
    to full coverage, cumulative mean and rolling accuracy, and Spearman's rho of surrogate
    selectors. Example:

        fx bench --table lecoz2024-dog --selector oracle --selector random
        --selector sklearn/lasso-greedy --repeats 10 --json fig4.json --plot fig4.png
        --report runs/bench-dog
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
    if seeds is not None:
        click.echo("fx: note: --seeds is now --repeats", err=True)
        repeats = seeds
    if not 1 <= repeats <= MAX_SEEDS:
        raise ConfigError(f"--repeats must be in 1..{MAX_SEEDS}, got {repeats}")
    if seed < 0:
        raise ConfigError(f"--seed must be at least 0, got {seed}")
    if plot_out is not None:
        from fxcore.bench.plot import check_plot_path

        check_plot_path(plot_out)
    check_json_out(json_out)
    if plot_out is not None:
        check_out_file(plot_out, "--plot")
    if report_dir is not None:
        from fxcore.bench.report import check_report_dir

        check_report_dir(report_dir)
    stages = _parse_stages(stages_spec)
    if stages and images_spec is None:
        raise ConfigError("--stages needs --images-per-row (N or a column name)")
    table = load_table(table_spec, target=target)
    fidelity = None
    if images_spec is not None:
        from fxcore.bench.replay import ReplayFidelity, images_per_row

        try:
            fidelity = ReplayFidelity(images_per_row(table, images_spec), stages,
                                      fidelity_error, fidelity_threshold)
        except ValueError as exc:
            raise ConfigError(f"--stages/--error: {exc}") from None
        fidelity.correct(table.targets)
    from fxcore.threads import apply_threads

    apply_threads(threads)
    import time

    started = time.time()
    result = run_bench(table, list(selectors), seeds=range(seed, seed + repeats), budget=budget,
                       batch_size=batch_size, show_progress=not quiet and json_out != "-",
                       fidelity=fidelity)
    lines = _summary_lines(result) + _image_lines(result)
    if plot_out is not None:
        from fxcore.bench.plot import plot_bench

        plot_bench(result, plot_out)
        lines.append(f"wrote {plot_out}")
    if report_dir is not None:
        from fxcore.bench.report import save_run

        options = {"table": table_spec, "selectors": list(selectors), "repeats": repeats,
                   "seed": seed, "budget": budget, "target": target, "batch_size": batch_size,
                   "images_per_row": images_spec, "stages": list(stages) if stages else None,
                   "error": fidelity_error, "fidelity_threshold": fidelity_threshold}
        page = save_run(report_dir, result, options, started).html
        lines.append(f"report: {page}")
    emit(result, json_out, lines)

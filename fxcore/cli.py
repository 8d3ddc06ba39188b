"""The ``fx`` command line. Exit codes: 0 success, 2 bad usage or config, 1 failure in a run,
130 interrupted (Ctrl-C)."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import click

from fxcore import __version__
from fxcore.errors import FxError

#: jobs with a demo (``fxcore.<job>.demo.run_demo``), in the order ``fx demo`` runs them
JOBS: tuple[str, ...] = ("explore", "mds", "label")
#: the commands of ``fx`` besides ``demo``: name -> ``module:attribute``, imported only when the
#: command runs (or ``--help`` lists them), so ``fx plugins`` loads no job's modules
COMMANDS: dict[str, str] = {
    "plugins": "fxcore.plugin_cli:plugins_cmd",
    "explore": "fxcore.explore.cli:explore_cmd",
    "bench": "fxcore.bench.cli:bench_cmd",
    "mds": "fxcore.mds.cli:mds_cmd",
    "label": "fxcore.label.cli:label_cmd",
    "report": "fxcore.commands:report_cmd",
    "runs": "fxcore.commands:runs_cmd",
}


class LazyGroup(click.Group):
    """A group whose commands in :data:`COMMANDS` are imported on first use (click's documented
    lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context | None) -> list[str]:  # type: ignore[override]
        return sorted({*super().list_commands(ctx), *COMMANDS})  # type: ignore[arg-type]

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:  # type: ignore[override]
        if name in COMMANDS and name not in self.commands:
            module, _, attribute = COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)  # type: ignore[arg-type]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fx")
def cli() -> None:
    """fxcore: generative validation of image classifiers.

    explore finds failing subdomains, mds finds maximally different samples, label labels test
    inputs to a target accuracy with the least manual effort.
    """


def _job_module(job: str, part: str) -> Any | None:
    """``fxcore.<job>.<part>`` or ``None`` when that job is not part of this install yet."""
    name = f"fxcore.{job}.{part}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in (name, f"fxcore.{job}"):
            return None
        raise


@cli.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("fx-demo"), show_default=True,
              help="folder for the demo runs (each job in a subfolder)")
@click.option("--only", multiple=True, type=click.Choice(JOBS), help="run only these jobs")
def demo_cmd(out: Path, only: tuple[str, ...]) -> None:
    """Run the embedded default of every job on real data, CPU only, no downloads."""
    from fxcore.paths import check_out_dir

    check_out_dir(out)
    ran = 0
    for job in JOBS:
        if only and job not in only:
            continue
        module = _job_module(job, "demo")
        if module is None:
            continue
        click.echo(f"== {job} ==")
        lines = module.run_demo(out / job)
        for line in lines:
            click.echo(f"  {line}")
        ran += 1
    if ran == 0:
        raise click.UsageError("no job demo is available in this install")
    click.echo(f"demo results are in {out.resolve()}")


def _show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """Warnings as one line (``fx: warning: ...``) instead of Python's two-line format."""
    print(f"fx: warning: {message}", file=file or sys.stderr)


def _interrupted(argv: list[str] | None) -> str:
    """The Ctrl-C line, with the ``--resume`` hint when the command has that option."""
    args = sys.argv[1:] if argv is None else argv
    command = next((cli.get_command(None, a) for a in args if a in COMMANDS), None)
    if command is not None and any(p.name == "resume" for p in command.params):
        return "fx: interrupted; resume with --resume"
    return "fx: interrupted"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fx``: user errors print one line and exit 2 (config) or 1 (run); Ctrl-C
    exits 130."""
    from fxcore.quiet import hide_library_warnings

    warnings.showwarning = _show_warning
    hide_library_warnings()
    try:
        cli.main(args=argv, prog_name="fx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:  # usage errors too: one line, like every other error
        click.echo(f"fx: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo(_interrupted(argv), err=True)
            return 130
        click.echo("fx: aborted", err=True)
        return 1
    except FxError as exc:
        click.echo(f"fx: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo(_interrupted(argv), err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless debugging
        if os.environ.get("FXCORE_DEBUG"):
            traceback.print_exc()
        else:
            click.echo(f"fx: internal error: {type(exc).__name__}: {exc} "
                       "(set FXCORE_DEBUG=1 for the traceback)", err=True)
        return 1
    return 0


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())



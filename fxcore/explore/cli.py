"""``fx explore CONFIG``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fxcore.commands import JobOptions, job_options, run_command


@click.command("explore")
@click.argument("config", type=click.Path(path_type=Path))
@job_options
def explore_cmd(config: Path, **kwargs: Any) -> None:
    """Find the subdomains of an evaluation domain where a classifier fails (BO paper, Alg. 1)."""
    from fxcore.config import load_config
    from fxcore.schemas import ExploreConfig

    run_command("explore", lambda: load_config(config, ExploreConfig), config,
                JobOptions.pop(kwargs))

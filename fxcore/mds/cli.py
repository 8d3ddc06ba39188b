"""``fx mds CONFIG [--ensemble]`` with the common job options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fxcore.commands import JobOptions, job_options, run_command


@click.command("mds")
@click.argument("config", type=click.Path(path_type=Path))
@job_options
@click.option("--ensemble", is_flag=True,
              help="the ensemble study (GeValDi appendix F); needs an [ensemble] table")
def mds_cmd(config: Path, ensemble: bool, **kwargs: Any) -> None:
    """Maximally different samples (GeValDi): latents where classifiers disagree most."""
    from fxcore.config import load_config
    from fxcore.schemas.mds import MdsConfig

    job = None
    if ensemble:
        from fxcore.mds.ensemble import MDS_ENSEMBLE

        job = MDS_ENSEMBLE
    run_command("mds", lambda: load_config(config, MdsConfig), config, JobOptions.pop(kwargs),
                job=job)

"""``fx mds CONFIG [--out DIR] [--resume] [--json] [--ensemble]``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fxcore.errors import ConfigError
from fxcore.paths import check_out_dir


@click.command("mds")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="run folder (default runs/mds-<config name>)")
@click.option("--resume", is_flag=True, help="continue the run in --out, skipping finished chunks")
@click.option("--json", "as_json", is_flag=True, help="print the run summary as JSON")
@click.option("--ensemble", is_flag=True,
              help="the ensemble study (GeValDi appendix F); needs an [ensemble] table")
def mds_cmd(config: Path, out: Path | None, resume: bool, as_json: bool, ensemble: bool) -> None:
    """Maximally different samples (GeValDi): latents where classifiers disagree most."""
    from fxcore.config import load_config
    from fxcore.schemas.mds import MdsConfig

    out = out or Path("runs") / f"mds-{config.stem}"
    check_out_dir(out)
    cfg = load_config(config, MdsConfig)
    if cfg.ensemble is not None and not ensemble:
        raise ConfigError(f"{config}: ensemble: this config has an [ensemble] table; run it "
                          "with fx mds --ensemble")
    if ensemble:
        from fxcore.mds.ensemble import run_ensemble

        summary = run_ensemble(cfg, out, resume=resume, show_progress=not as_json)
    else:
        from fxcore.mds.run import run_mds

        summary = run_mds(cfg, out, resume=resume, show_progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    from fxcore.mds.report import summary_lines

    for line in summary_lines(summary):
        click.echo(line)


COMMANDS = [mds_cmd]

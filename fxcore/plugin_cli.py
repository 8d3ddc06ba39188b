"""``fx plugins``: the installed plugins, their components by kind, and load errors.

Without ``--check`` the components of a plugin with a manifest come from its installed metadata
and the plugin is not imported (status ``available``): the command starts in well under a
second however heavy the plugins are. ``--check`` imports every plugin, runs its hooks and
compares what it registers with its manifest (status ``loaded`` or ``failed`` with the error).
"""

from __future__ import annotations

import json
import warnings

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--check", is_flag=True,
              help="import every plugin and verify it registers what its manifest declares")
def plugins_cmd(as_json: bool, check: bool) -> None:
    """List installed plugins, their components by kind, and load errors."""
    from fxcore.plugins import Registry

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        registry = Registry.load()
        if check:
            registry.import_all()
    rows = [r.as_dict() for r in registry.records]
    if as_json:
        click.echo(json.dumps({"plugins": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    title = "fxcore plugins" + ("" if check else " (from their manifests; --check imports them)")
    table = Table(title=title)
    for col in ("plugin", "distribution", "version", "status", "components / error"):
        table.add_column(col)
    for r in rows:
        comps = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(r["components"].items()))
        detail = r["error"] or comps or "-"
        table.add_row(r["name"], r["distribution"], r["version"], r["status"], detail)
    Console(width=max(100, Console().width)).print(table)

"""``fx demo`` part of explore: the MNIST example domain, end to end on a CPU, no downloads."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fxcore.config import load_config
from fxcore.errors import FxError
from fxcore.explore.job import EXPLORE, worst_lines
from fxcore.explore.report import write_report
from fxcore.jobs import run_job
from fxcore.schemas import ExploreConfig

PLUGIN = "fxcore_mnist"
EXAMPLE = "examples/explore_mnist.toml"


def example_config() -> ExploreConfig:
    """The example config shipped with the MNIST reference plugin."""
    try:
        ref = resources.files(PLUGIN).joinpath(EXAMPLE)
    except ModuleNotFoundError:
        raise FxError(
            "the explore demo needs the MNIST reference plugin: pip install ./plugins/fxcore-mnist"
        ) from None
    if not ref.is_file():
        raise FxError(
            f"{PLUGIN} has no {EXAMPLE}; reinstall it: pip install ./plugins/fxcore-mnist"
        )
    with resources.as_file(ref) as path:
        return load_config(path, ExploreConfig)


def run_demo(out: Path) -> list[str]:
    """Explore the MNIST example domain into ``out/run`` (resumed if already there), report it."""
    config = example_config()
    run_dir = Path(out) / "run"
    result = run_job(EXPLORE, config, run_dir, resume=(run_dir / "run.json").exists())
    report = write_report(run_dir)
    s = result.summary
    return [
        f"evaluated {s['n_evaluated']} of {s['n_subdomains']} MNIST subdomains "
        f"(selector {config.selector.name}, {config.images_per_subdomain} images each)",
        "worst subdomains found:",
        *(f"  {line}" for line in worst_lines(s["worst"])),
        f"run: {run_dir.resolve()}",
        f"report: {report.html.resolve()}",
    ]

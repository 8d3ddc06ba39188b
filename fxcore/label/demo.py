"""``fx demo`` for the label job: OPAL on MNIST-5k with three small classifiers of different
architectures trained on the fine-tuning set and the simulated annotator (CPU, no downloads)."""

from __future__ import annotations

import importlib.util
import time
from importlib import resources
from pathlib import Path

from fxcore.config import read_mapping, validate_config
from fxcore.jobs import run_job
from fxcore.label.job import LABEL
from fxcore.plugins import default_registry
from fxcore.schemas.label import LabelConfig

EXAMPLE = "label_mnist.toml"


def run_demo(out: Path) -> list[str]:
    """Run the example config shipped with fxcore-mnist into ``out/run`` (resumed when it is
    already there); returns the lines to print."""
    if importlib.util.find_spec("fxcore_mnist") is None:
        return ["skipped: the label demo needs the fxcore-mnist plugin "
                "(pip install -e plugins/fxcore-mnist)"]
    import torch

    from fxcore.models import torch_threads

    source = resources.files("fxcore_mnist") / "examples" / EXAMPLE
    with resources.as_file(source) as path:
        data = read_mapping(path)
    registry = default_registry()
    lines = []
    if "opal-milp" not in {n.split("/")[-1] for n in registry.names("labeller")}:
        data["labeller"] = {"name": "threshold"}
        lines.append("note: fxcore-highs is not installed; using the built-in single-threshold "
                     "labeller instead of the OPAL MILP (pip install -e plugins/fxcore-highs)")
    config = validate_config(data, LabelConfig, registry, source=EXAMPLE)
    run_dir = Path(out) / "run"
    t0 = time.perf_counter()
    with torch_threads(min(2, torch.get_num_threads())):  # the caller's count comes back after
        summary = run_job(LABEL, config, run_dir, resume=(run_dir / "run.json").exists(),
                          registry=registry).summary
    total = time.perf_counter() - t0
    lines.insert(0, f"OPAL on MNIST-5k ({summary['n_items']} items), classifiers "
                    f"{', '.join(summary['classifiers'])} trained on the fine-tuning set, "
                    f"target accuracy {config.target_accuracy:.0%}, simulated annotator")
    lines += LABEL.lines(summary)
    lines.append(f"target met by the final labels: {summary['target_met']}; "
                 f"total {total:.1f} s")
    return lines

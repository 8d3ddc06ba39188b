"""``fx demo`` part of ``mds``: the MNIST config (cVAE + CNN vs linear) at a modest size."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fxcore.config import read_mapping, validate_config
from fxcore.schemas.mds import MdsConfig

#: the demo's overrides of the shipped example (64 starts x 100 steps)
DEMO_SIZE: dict[str, Any] = {"starts": 32, "chunk": 32, "steps": 60}


def example_config(name: str = "mds_mnist.toml") -> Path:
    """Path of an example config shipped in the ``fxcore-mnist`` plugin's package data."""
    try:
        root = resources.files("fxcore_mnist") / "examples" / name
    except ModuleNotFoundError:
        raise FileNotFoundError("the mds demo needs the fxcore-mnist plugin "
                                "(pip install fxcore-mnist)") from None
    return Path(str(root))


def run_demo(out: Path) -> list[str]:
    """Run the MNIST example into ``out`` (resumed when it is already there); report lines."""
    from fxcore.jobs import run_job
    from fxcore.mds.run import MDS

    try:
        path = example_config()
    except FileNotFoundError as exc:
        return [f"skipped: {exc}"]
    data = read_mapping(path) | DEMO_SIZE
    config = validate_config(data, MdsConfig, source=str(path))
    out = Path(out)
    # small models and batches: one thread is as fast, and safe on a busy machine
    result = run_job(MDS, config, out, resume=(out / "run.json").exists(), progress=False,
                     threads=1)
    return [f"config {path} with {DEMO_SIZE}", *MDS.lines(result.summary)]

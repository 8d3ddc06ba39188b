"""A small label run whose answers come from the web annotator, as its own process (the kill
test of tests/test_label_web.py kills it with SIGKILL and starts it again with --resume).

python tests/label_web_run.py NPZ OUT PORT [--resume]: prints the run's summary as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

#: the run of the kill test: 40 digits, 12 asked first, then a queue of 12 (24 in all)
RUN = {"n": 40, "fraction": 0.3, "target_accuracy": 0.75}


def main(argv: list[str]) -> None:
    from label_helpers import config, registry

    from fxcore.config import validate_config
    from fxcore.label.job import run_label
    from fxcore.schemas.label import LabelConfig

    npz, out, port = Path(argv[0]), Path(argv[1]), int(argv[2])
    reg = registry()
    cfg = validate_config(config(
        npz, split={"fraction": RUN["fraction"], "representation": "pixels", "n_clusters": 4},
        target_accuracy=RUN["target_accuracy"],
        annotator={"name": "web", "params": {"port": port, "grace_seconds": 0.2}},
    ), LabelConfig, reg)
    summary = run_label(cfg, out, resume="--resume" in argv, registry=reg, threads=1,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])

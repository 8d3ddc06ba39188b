"""Start-up cost of ``fx`` with every plugin installed: wall time and max RSS, medians of N runs.

Each command runs under ``/usr/bin/time -v`` (max resident set size, elapsed wall clock) in a
fresh process; the median of ``--runs`` runs is reported. The commands:

- ``import fxcore``: the floor (the interpreter and the package);
- ``fx plugins``: lists every plugin's components from its manifest, imports none;
- ``fx bench --table lecoz2024-dog --selector random``: a replay that uses a built-in only;
- ``fx plugins --check``: imports every plugin, which is what ``fx plugins`` (and every other
  command) did before manifests — the old code path;
- ``import fxcore.cli`` and ``fx plugins`` run without ``fxcore.cli``: where the time goes;
- with ``--old-tree DIR`` (a checkout of the kernel before lazy loading, e.g.
  ``git archive 300d81d fxcore | tar -x -C DIR``), ``fx plugins`` and the bench command on that
  code, with the same plugins installed.

Run it with the interpreter of an environment that has all plugins (``/work/venv-all``)::

    /work/venv-all/bin/python benchmarks/startup.py --runs 5 --out benchmarks/results/startup.json

The machine is shared: the figures are medians; CPU time (user + system) and the ratios to
``import fxcore`` (measured in the same session) are steadier than wall seconds under load, and
the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FX = "import sys; from fxcore.cli import main; sys.exit(main(sys.argv[1:]))"
BENCH = ["bench", "--table", "lecoz2024-dog", "--selector", "random", "--repeats", "1"]
BENCH_OLD = [*BENCH[:-2], "--seeds", "1"]  # the option's name before --repeats


def measure(argv: list[str], env: dict[str, str], runs: int) -> dict[str, object]:
    """Median wall seconds, CPU seconds (user + system) and max RSS (MB) of ``argv`` over
    ``runs`` fresh processes."""
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cwd:  # fx bench writes nothing, but be sure
            proc = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True,
                                  text=True, env=env, cwd=cwd, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
        mem = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        user = re.search(r"User time \(seconds\): (\S+)", proc.stderr)
        system = re.search(r"System time \(seconds\): (\S+)", proc.stderr)
        assert wall and mem and user and system, proc.stderr[-2000:]
        cpus.append(float(user.group(1)) + float(system.group(1)))
        parts = [float(p) for p in wall.group(1).split(":")]
        walls.append(sum(p * 60 ** i for i, p in enumerate(reversed(parts))))
        rss.append(int(mem.group(1)) / 1024)
    return {"wall_s": round(statistics.median(walls), 3),
            "cpu_s": round(statistics.median(cpus), 3),
            "max_rss_mb": round(statistics.median(rss), 1),
            "runs_wall_s": walls, "runs_cpu_s": cpus, "runs_max_rss_mb": rss}


def show(name: str, r: dict[str, object]) -> None:
    print(f"{name:62s} wall {r['wall_s']:6.2f} s  cpu {r['cpu_s']:6.2f} s  "
          f"max RSS {r['max_rss_mb']:6.1f} MB", flush=True)


def modules_imported(code: str, env: dict[str, str]) -> list[str]:
    """Which heavy top-level modules (and plugin modules) ``code`` leaves in ``sys.modules``."""
    heavy = ("torch", "sklearn", "botorch", "diffusers", "transformers", "timm", "open_clip",
             "pymoo", "highspy", "scipy", "pandas", "matplotlib", "rich")
    wrapper = (
        "import contextlib, io, sys\n"
        "out = io.StringIO()\n"
        f"with contextlib.redirect_stdout(out):\n    {code}\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules) + sorted(m for m in sys.modules"
        " if m.startswith('fxcore_') and '.' not in m))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tempfile.gettempdir())
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')) \
        if proc.returncode == 0 else [f"failed: {proc.stderr[-300:]}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--old-tree", type=Path, help="a folder holding the old fxcore package")
    args = ap.parse_args(argv)

    load_at_start = os.getloadavg()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("FXCORE_PLUGINS_ALLOW", None)
    env.pop("FXCORE_PLUGINS_DENY", None)
    py = sys.executable
    cases: dict[str, list[str]] = {
        "import fxcore": [py, "-c", "import fxcore"],
        "fx plugins": [py, "-c", FX, "plugins"],
        "fx " + " ".join(BENCH): [py, "-c", FX, *BENCH],
        "fx plugins --check (imports every plugin: the old path)": [py, "-c", FX, "plugins",
                                                                    "--check"],
        # where the time goes: the CLI module alone, and fx plugins without it
        "import fxcore.cli": [py, "-c", "import fxcore.cli"],
        "fxcore.plugin_cli alone (fx plugins without fxcore.cli)": [
            py, "-c", "from fxcore.plugin_cli import plugins_cmd; plugins_cmd()"],
    }
    results: dict[str, object] = {}
    for name, cmd in cases.items():
        results[name] = measure(cmd, env, args.runs)
        show(name, results[name])
    if args.old_tree:
        old_env = {**env, "PYTHONPATH": str(args.old_tree)}
        where = subprocess.run([py, "-c", "import fxcore; print(fxcore.__file__)"],
                               capture_output=True, text=True, env=old_env,
                               cwd=tempfile.gettempdir()).stdout.strip()
        assert where.startswith(str(args.old_tree)), where
        for name, cmd in [("old code: fx plugins", [py, "-c", FX, "plugins"]),
                          ("old code: fx " + " ".join(BENCH_OLD), [py, "-c", FX, *BENCH_OLD])]:
            results[name] = measure(cmd, old_env, args.runs)
            show(name, results[name])
    imported = {
        "fx plugins": modules_imported("from fxcore.cli import main; main(['plugins'])", env),
        "fx bench": modules_imported(f"from fxcore.cli import main; main({BENCH!r})", env),
    }
    print("heavy or plugin modules imported:", json.dumps(imported))
    eps = subprocess.run(
        [py, "-c", "import importlib.metadata as md; "
                   "print(sorted(e.dist.name for e in md.entry_points(group='fxcore')))"],
        capture_output=True, text=True, env=env).stdout.strip()
    report = {
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "load_average_at_start": load_at_start,
        "runs": args.runs,
        "plugins_installed": eps,
        "results": results,
        "imported": imported,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""pytest plugin used by noxfile.py: ``--skiplog=FILE`` writes the node ids that were skipped.

The test matrix runs the kernel's tests with no plugin installed and each plugin's tests with only
the kernel beside it. A test that needs more than that skips there (``pytest.importorskip``, a
``skipif``); the ``all`` session, where everything is installed, runs exactly those node ids
instead of running every test a second time. Ids are written with absolute paths (the plugin
sessions and ``all`` have different root directories), one per line; a module skipped at import
is written as its path. The file is written only when the run went through (some tests may have
failed), not after an interruption or an internal error. Works under pytest-xdist (only the
controller writes).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skiplog", default=None, metavar="FILE",
                     help="write the node ids of skipped tests and modules to FILE")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("skiplog")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_SkipLog(config.rootpath, Path(path)), "skiplog-writer")


class _SkipLog:
    def __init__(self, root: Path, path: Path) -> None:
        self.root, self.path, self.ids = root, path, {}

    def _add(self, nodeid: str) -> None:
        # A parametrized test is logged without its parameters, so ``all`` runs every case: the
        # docs tests run a page's code blocks as cases that share one namespace, in order.
        file, sep, rest = nodeid.partition("::")
        rest = rest.split("[", 1)[0]
        self.ids[str(self.root / file) + sep + rest] = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self._add(report.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped and report.nodeid:
            self._add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                              pytest.ExitCode.NO_TESTS_COLLECTED):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(f"{i}\n" for i in self.ids))

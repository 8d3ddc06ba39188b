"""One job runner: every job decides new / resume / finished, wraps factory failures, names its
default folder and finds its report the same way (fxcore.jobs), and every job command has the
same options and error style (fxcore.commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import explore_digits
import label_helpers
import pytest
import test_mds_errors
from pydantic import BaseModel

import fxcore
from fxcore import plugins
from fxcore.cli import cli, main
from fxcore.config import validate_config
from fxcore.errors import ConfigError, RunError
from fxcore.jobs import JOBS, RunResult, default_out, get_job, run_job
from fxcore.schemas import ExploreConfig
from fxcore.schemas.label import LabelConfig
from fxcore.schemas.mds import MdsConfig

JOB_COMMANDS = ("explore", "mds", "label")
COMMON = ("out", "resume", "json_out", "quiet", "threads")


class BrokenParams(BaseModel):
    pass


def _broken(**_: Any) -> Any:
    raise OSError("weights.pt: no such file")


def _broken_plugin() -> Any:
    from types import ModuleType

    mod = ModuleType("broken_factories")

    @fxcore.hookimpl
    def fxcore_register_classifiers(register):  # type: ignore[no-untyped-def]
        register("broken", _broken)

    mod.fxcore_register_classifiers = fxcore_register_classifiers  # type: ignore[attr-defined]
    return mod


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(entry_points=[], modules={
        "digits": explore_digits, "toy": test_mds_errors._plugin(),
        "t": label_helpers.make_plugin(), "bad": _broken_plugin(),
    })


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return label_helpers.digits_npz(tmp_path_factory.mktemp("data") / "d.npz", n=300)


def configs(registry: plugins.Registry, npz: Path, classifier: str | None = None
            ) -> dict[str, Any]:
    """A small config of every job (``classifier``: put that classifier in each)."""
    from test_explore import config_dict

    explore_over: dict[str, Any] = {"budget": 4}
    mds_over: dict[str, Any] = {"classifiers": [
        {"name": "toy/softmax", "params": {"seed": 1}},
        {"name": "toy/softmax", "params": {"seed": 2}}]}
    label_over: dict[str, Any] = {}
    if classifier:
        explore_over["classifier"] = classifier
        mds_over["classifiers"] = [classifier, mds_over["classifiers"][0]]
        label_over["classifiers"] = [classifier]
    return {
        "explore": validate_config(config_dict(**explore_over), ExploreConfig, registry),
        "mds": test_mds_errors.config(registry, **mds_over),
        "label": validate_config(label_helpers.config(npz, **label_over), LabelConfig,
                                 registry),
    }


@pytest.mark.parametrize("name", JOB_COMMANDS)
def test_a_finished_run_resumed_reports_and_stays_finished(name, registry, small_npz,
                                                           tmp_path) -> None:
    config = configs(registry, small_npz)[name]
    first = run_job(name, config, tmp_path / "run", registry=registry, progress=False)
    assert isinstance(first, RunResult) and first.complete and first.job == name
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "complete" and info["job"] == name
    again = run_job(name, config, tmp_path / "run", resume=True, registry=registry,
                    progress=False)
    assert again.summary.pop("resumed") is True
    assert again.summary == json.loads(json.dumps(first.summary))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        run_job(name, config, tmp_path / "run", registry=registry, progress=False)


@pytest.mark.parametrize("name", JOB_COMMANDS)
def test_a_factory_failure_names_the_field_and_writes_nothing(name, registry, small_npz,
                                                             tmp_path) -> None:
    config = configs(registry, small_npz, classifier="bad/broken")[name]
    field = "classifier" if name == "explore" else "classifiers.0"
    with pytest.raises(RunError, match=rf"^{field}: bad/broken could not be built: "
                                       r"OSError: weights.pt: no such file$"):
        run_job(name, config, tmp_path / "run", registry=registry, progress=False)
    assert not (tmp_path / "run").exists()


def test_the_records_are_dataframes(registry, small_npz, tmp_path) -> None:
    config = configs(registry, small_npz)["explore"]
    result = run_job("explore", config, tmp_path / "run", registry=registry, progress=False)
    frame = result.evaluations
    assert len(frame) == result.summary["n_evaluated"] == 4
    assert {"values.digit", "accuracy", "n_kept"} <= set(frame.columns)
    with pytest.raises(KeyError, match="explore runs have the tables"):
        result.table("decisions")


def test_own_components_replace_the_config_and_are_checked(registry, small_npz,
                                                           tmp_path) -> None:
    config = configs(registry, small_npz)["explore"]
    mine = explore_digits.Softmax()
    result = run_job("explore", config, tmp_path / "a", registry=registry, progress=False,
                     components={"classifier": mine})
    assert result.summary["n_evaluated"] == 4
    with pytest.raises(ConfigError, match=r"^components.classifier: a str does not follow"):
        run_job("explore", config, tmp_path / "b", registry=registry,
                components={"classifier": "not a model"})
    with pytest.raises(ConfigError, match="components: clasifier is not a component field"):
        run_job("explore", config, tmp_path / "c", registry=registry,
                components={"clasifier": mine})
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_the_job_table_names_each_job_default_folder_and_report() -> None:
    assert set(JOBS) == set(JOB_COMMANDS)
    assert {get_job(n).name for n in JOBS} == set(JOBS)
    assert get_job("mds").config_model is MdsConfig
    assert default_out("label", "x/cfg.toml") == Path("runs/label-cfg")
    with pytest.raises(ConfigError, match="unknown job 'nope'; jobs: explore, mds, label"):
        get_job("nope")


def test_fx_report_of_a_job_without_one_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"job": "nope"}))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == ("fx: error: fx report has no report for 'nope' runs (it has: explore, "
                   "mds, label, bench)\n")


def test_every_job_command_has_the_same_options() -> None:
    for name in JOB_COMMANDS:
        params = {p.name: p for p in cli.get_command(None, name).params}
        assert set(COMMON) <= set(params), name
        assert params["json_out"].metavar == "[OUT]"  # type: ignore[attr-defined]
    bench = {p.name for p in cli.get_command(None, "bench").params}
    assert {"json_out", "quiet", "threads", "seed", "repeats"} <= bench


@pytest.mark.parametrize("argv", [["label"], ["demo", "--only", "nope"], ["explore"],
                                  ["bench", "--seeds"]])
def test_usage_errors_are_one_line(argv, capsys) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("fx: error: ") and captured.err.count("\n") == 1
    assert "Usage:" not in captured.err + captured.out


def test_a_missing_config_is_reported_before_torch_is_imported(tmp_path) -> None:
    code = ("import sys; from fxcore.cli import main; rc = main(['explore', 'missing.toml']); "
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split() == ["2", "False"], out.stderr
    assert out.stderr == "fx: error: config file missing.toml not found\n"


def test_json_out_file_and_stdout(registry, small_npz, tmp_path, monkeypatch, capsys) -> None:
    from test_explore import config_dict

    monkeypatch.setattr(plugins, "_DEFAULT", registry)
    monkeypatch.chdir(tmp_path)
    Path("e.json").write_text(json.dumps(config_dict(budget=2)))
    assert main(["explore", "e.json", "--json", "s.json", "--quiet"]) == 0
    assert json.loads(Path("s.json").read_text())["n_evaluated"] == 2
    assert Path("runs/explore-e").is_dir()  # the default folder, from the job table
    capsys.readouterr()
    assert main(["explore", "e.json", "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resumed"] is True


def test_what_build_started_is_closed_however_the_run_ends(registry, small_npz,
                                                           tmp_path) -> None:
    from fxcore.explore.job import ExploreJob

    closed: list[str] = []

    class Watched(ExploreJob):
        def inputs(self, config, parts):  # a file that vanished: the store refuses to open
            return {"data": tmp_path / "gone.npz"}

        def close(self, parts) -> None:
            closed.append("closed")
            super().close(parts)

    config = configs(registry, small_npz)["explore"]
    with pytest.raises(ConfigError):
        run_job(Watched(), config, tmp_path / "run", registry=registry, progress=False)
    assert closed == ["closed"]

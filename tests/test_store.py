"""Run store: snapshots, transactional records, resume rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fxcore.errors import ConfigError
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash


def config(**kw) -> ExploreConfig:  # noqa: ANN003
    data = {
        "domain": {"attributes": {"a": ["x", "y"]}, "prompt_template": "{a}", "true_class": "c"},
        "generator": "gen",
        "classifier": "clf",
        "budget": 2,
    }
    data.update(kw)
    return ExploreConfig.model_validate(data)


def test_new_run_writes_snapshot_and_hash(tmp_path: Path) -> None:
    cfg = config()
    with RunStore.open(tmp_path / "run", "explore", cfg) as store:
        store.add("evaluation", "a", {"accuracy": 0.5})
        assert store.has("evaluation", "a") and not store.has("evaluation", "b")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config_hash"] == config_hash(cfg) and info["job"] == "explore"
    snap = json.loads((tmp_path / "run" / "config.json").read_text())
    assert snap["budget"] == 2


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    RunStore.open(tmp_path / "run", "explore", config()).close()
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        RunStore.open(tmp_path / "run", "explore", config())


def test_resume_refuses_changed_config_and_keeps_records(tmp_path: Path) -> None:
    with RunStore.open(tmp_path / "run", "explore", config()) as store:
        store.add("evaluation", "a", {"accuracy": 0.5})
    with pytest.raises(ConfigError, match="config changed"):
        RunStore.open(tmp_path / "run", "explore", config(budget=3), resume=True)
    with pytest.raises(ConfigError, match="is a 'explore' run, not 'label'"):
        RunStore.open(tmp_path / "run", "label", config(), resume=True)
    with RunStore.open(tmp_path / "run", "explore", config(), resume=True) as store:
        assert store.records("evaluation") == [{"accuracy": 0.5}]
        assert store.info["resumed"] == 1


def test_resume_of_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run to resume"):
        RunStore.open(tmp_path / "nothing", "explore", config(), resume=True)
    assert not (tmp_path / "nothing").exists()


def test_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    with RunStore.open(tmp_path / "run", "explore", config()) as store:
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.add("evaluation", "a", {"n": 1})
                store.set_state("selector", {"step": 1})
                raise RuntimeError("crash between writes")
        assert store.count("evaluation") == 0 and store.get_state("selector") is None
        store.add("evaluation", "a", {"n": 1})
        with pytest.raises(Exception, match="UNIQUE"):
            store.add("evaluation", "a", {"n": 2})
        assert store.records("evaluation") == [{"n": 1}]


def test_finish_marks_complete(tmp_path: Path) -> None:
    with RunStore.open(tmp_path / "run", "explore", config()) as store:
        store.finish({"found": 3})
        assert store.complete
    assert json.loads((tmp_path / "run" / "run.json").read_text())["summary"] == {"found": 3}

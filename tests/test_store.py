"""Run store: snapshots, transactional records, resume rules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fxcore.errors import ConfigError
from fxcore.paths import not_regular
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash, write_atomic


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


# ---------------------------------------------------------------- atomic writes


def test_write_atomic_replaces_a_regular_file_and_makes_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.json"
    write_atomic(path, "one")
    write_atomic(path, b"two")
    assert path.read_text() == "two" and sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_write_atomic_refuses_a_symlink_and_keeps_it_and_its_target(tmp_path: Path) -> None:
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("kept")
    link.symlink_to(target)
    with pytest.raises(ConfigError, match=r"link\.json is a symlink, not a regular file"):
        write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "kept"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="is a symlink"):
        write_atomic(tmp_path / "dangling", "new")
    assert not (tmp_path / "nowhere").exists()


def test_write_atomic_refuses_a_fifo_and_a_directory(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"fifo is a FIFO, not a regular file"):
        write_atomic(fifo, "new")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match=r"dir is a directory, not a regular file"):
        write_atomic(tmp_path / "dir", "new")
    assert (tmp_path / "dir").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]  # no temporary left


def test_write_atomic_refuses_a_device(tmp_path: Path) -> None:
    """A device node of our own (as root, ``--json /dev/full`` turned the device into a file)."""
    assert not_regular(Path("/dev/null")) == "a device"
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (not root)")
    with pytest.raises(ConfigError, match=r"null is a device, not a regular file"):
        write_atomic(dev, "new")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_open_refuses_an_out_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"file is not a folder"):
        RunStore.open(tmp_path / "file" / "run", "explore", config())
    with pytest.raises(ConfigError, match=r"file is a regular file, not a folder"):
        RunStore.open(tmp_path / "file", "explore", config())

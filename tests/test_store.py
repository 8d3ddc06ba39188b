"""Run store: snapshots, transactional records, resume rules, integrity checks, the lock."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fxcore.errors import ConfigError
from fxcore.paths import not_regular
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash, file_sha256, write_atomic


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


def test_resume_refuses_a_changed_input_file_and_records_its_sha256(tmp_path: Path) -> None:
    data = tmp_path / "items.csv"
    data.write_text("a,b\n1,2\n")
    inputs = {"--table": data}
    RunStore.open(tmp_path / "run", "explore", config(), inputs=inputs).close()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["inputs"]["--table"] == {"path": str(data), "sha256": file_sha256(data)}
    data.write_text("a,b\n1,3\n")
    with pytest.raises(ConfigError, match=rf"^--table {re.escape(str(data))} changed since "
                                          r"the run started \(sha256 [0-9a-f]{12}… then"):
        RunStore.open(tmp_path / "run", "explore", config(), resume=True, inputs=inputs)
    data.write_text("a,b\n1,2\n")
    RunStore.open(tmp_path / "run", "explore", config(), resume=True, inputs=inputs).close()
    data.unlink()
    with pytest.raises(ConfigError, match=r"^--table .*items.csv: cannot read"):
        RunStore.open(tmp_path / "run", "explore", config(), resume=True, inputs=inputs)


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


# ---------------------------------------------------------------- integrity on resume


def _run(tmp_path: Path, finish: bool) -> Path:
    """A run with 200 records (several database pages) and a state row."""
    with RunStore.open(tmp_path / "run", "explore", config()) as store:
        with store.transaction():
            for i in range(200):
                store.add("evaluation", str(i), {"accuracy": i / 200, "pad": "x" * 100})
            store.set_state("selector", {"step": 200})
        if finish:
            store.finish({"n_evaluated": 200})
    return tmp_path / "run"


def _sql(run: Path, sql: str) -> None:
    db = sqlite3.connect(run / "run.sqlite")
    db.execute(sql)
    db.commit()
    db.close()


def _truncate(file: Path) -> None:
    with open(file, "r+b") as fh:
        fh.truncate(file.stat().st_size // 2)


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "emptied database": ("run.sqlite", lambda run: (run / "run.sqlite").write_bytes(b"")),
    "truncated database": ("run.sqlite", lambda run: _truncate(run / "run.sqlite")),
    "random bytes": (
        "run.sqlite", lambda run: (run / "run.sqlite").write_bytes(random.Random(0).randbytes(
            (run / "run.sqlite").stat().st_size))),
    "malformed run.json": ("run.json", lambda run: _truncate(run / "run.json")),
    "cut record payload": ("run.sqlite", lambda run: _sql(
        run, "UPDATE records SET payload = substr(payload, 1, 10) WHERE key = '7'")),
    "cut state value": ("run.sqlite", lambda run: _sql(
        run, "UPDATE state SET value = substr(value, 1, 5)")),
}


@pytest.mark.parametrize("finish", [True, False], ids=["complete", "incomplete"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_refuses_a_damaged_store_naming_the_file(tmp_path: Path, damage: str,
                                                        finish: bool) -> None:
    run = _run(tmp_path, finish)
    name, spoil = DAMAGE[damage]
    spoil(run)
    before = [(run / f).read_bytes() for f in ("run.json", "run.sqlite")]
    with pytest.raises(ConfigError, match=rf"^--resume: {re.escape(str(run / name))} is damaged"):
        RunStore.open(run, "explore", config(), resume=True)
    assert [(run / f).read_bytes() for f in ("run.json", "run.sqlite")] == before  # untouched


def test_resume_refuses_a_database_with_fewer_records_than_run_json_counted(
        tmp_path: Path) -> None:
    """An older copy of the same run's database (a restored backup) would redo work and
    overwrite the summary."""
    with RunStore.open(tmp_path / "run", "explore", config()) as store:
        store.add("evaluation", "a", {"accuracy": 0.5})
    shutil.copy(tmp_path / "run" / "run.sqlite", tmp_path / "old.sqlite")
    with RunStore.open(tmp_path / "run", "explore", config(), resume=True) as store:
        store.add("evaluation", "b", {"accuracy": 0.5})
        store.finish({"n_evaluated": 2})
    assert json.loads((tmp_path / "run" / "run.json").read_text())["records"] == 2
    shutil.copy(tmp_path / "old.sqlite", tmp_path / "run" / "run.sqlite")
    with pytest.raises(ConfigError, match=r"holds 1 records, run\.json counted 2"):
        RunStore.open(tmp_path / "run", "explore", config(), resume=True)


def test_readers_get_a_config_error_for_a_damaged_store(tmp_path: Path) -> None:
    run = _run(tmp_path, finish=True)
    _sql(run, "UPDATE records SET payload = '{\"acc' WHERE key = '3'")
    with RunStore(run) as store, pytest.raises(ConfigError, match="record evaluation"):
        store.records("evaluation")
    (run / "run.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError, match=r"run\.sqlite is damaged \(file is not a database\)"):
        RunStore(run)
    (run / "run.sqlite").unlink()
    with pytest.raises(ConfigError, match=r"^--resume: \S+run\.sqlite is missing$"):
        RunStore.open(run, "explore", config(), resume=True)
    assert not (run / "run.sqlite").exists()



def test_a_run_made_before_run_ids_and_record_counts_still_resumes(tmp_path: Path) -> None:
    run = _run(tmp_path, finish=False)
    _sql(run, "DROP TABLE meta")
    info = json.loads((run / "run.json").read_text())
    del info["run_id"], info["records"]
    (run / "run.json").write_text(json.dumps(info))
    with RunStore.open(run, "explore", config(), resume=True) as store:
        assert store.count("evaluation") == 200
    assert json.loads((run / "run.json").read_text())["records"] == 200

# ---------------------------------------------------------------- the run dir's lock

_HOLD = """
import sys
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore
cfg = ExploreConfig.model_validate_json(sys.argv[2])
store = RunStore.open(sys.argv[1], "explore", cfg, resume=True)
print("locked", flush=True)
sys.stdin.read()
store.close()
"""


def hold_lock(run: Path, cfg: ExploreConfig) -> subprocess.Popen[str]:
    """A second process that resumes ``run`` and keeps it open until its stdin is closed."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(run), cfg.model_dump_json()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def test_a_run_dir_open_in_another_process_is_refused_at_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore.open(run, "explore", config()) as store:
        store.add("evaluation", "a", {"accuracy": 0.5})
    proc = hold_lock(run, config())
    try:
        info = (run / "run.json").read_bytes()
        with pytest.raises(ConfigError, match=rf"^run dir {re.escape(str(run))} is in use by "
                                              rf"another fx process \(pid {proc.pid}\)$"):
            RunStore.open(run, "explore", config(), resume=True)
        assert (run / "run.json").read_bytes() == info
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait() == 0
    with RunStore.open(run, "explore", config(), resume=True) as store:  # released on close
        assert store.info["resumed"] == 2 and store.records("evaluation") == [{"accuracy": 0.5}]

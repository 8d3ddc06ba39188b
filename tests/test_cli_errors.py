"""Garbage in gives a clear error (issue #14): output paths checked before a run starts, Ctrl-C."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import explore_digits
import pytest

from fxcore import plugins
from fxcore.cli import main

HERE = Path(__file__).resolve().parent
BENCH = ["bench", "--table", "lecoz2024-dog", "--selector", "random", "--repeats", "1", "--quiet"]


def explore_config(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "seed": 3, "budget": 4, "batch_size": 1, "images_per_subdomain": 8,
        "generator": "digits/render", "classifier": "digits/softmax",
        "selector": "digits/nearest-worst",
        "domain": {"name": "digits", "prompt_template": "a {rotation} {true_class}",
                   "true_class": "{digit}",
                   "attributes": {"digit": ["1", "3", "8"], "rotation": ["upright", "tilted"]}},
    }
    data.update(over)
    return data


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working folder, with a regular file ``file`` and a folder ``dir``; the
    ``fx`` of this process sees the digits test plugin."""
    monkeypatch.chdir(tmp_path)
    registry = plugins.Registry.load(modules={"digits": explore_digits})
    monkeypatch.setattr(plugins, "_DEFAULT", registry)
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    (tmp_path / "explore.json").write_text(json.dumps(explore_config()))
    return tmp_path


def fails_with(argv: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    """``fx ARGV`` exits 2 with one line ``fx: error: ...message...`` and prints nothing else."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("fx: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert out == ""


def unwritable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A read-only ``folder``; as root (who may write anyway) ``os.access`` says it is not."""
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real = os.access

        def access(path: Any, mode: int, **kw: Any) -> bool:
            if mode & os.W_OK and Path(path).resolve() == folder.resolve():
                return False
            return real(path, mode, **kw)

        monkeypatch.setattr(os, "access", access)
    return folder


# ---------------------------------------------------------------- output files: --json, --plot


def test_bench_json_to_a_directory(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with([*BENCH, "--json", "dir"], capsys,
               "--json dir: dir is a directory, not a regular file")


def test_bench_json_under_a_missing_folder(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with([*BENCH, "--json", "missing/r.json"], capsys,
               "--json missing/r.json: folder missing does not exist")
    assert not (work / "missing").exists()


def test_bench_json_under_an_unwritable_folder(work: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    unwritable(work / "ro", monkeypatch)
    fails_with([*BENCH, "--json", "ro/r.json"], capsys,
               "--json ro/r.json: folder ro is not writable")


def test_bench_plot_under_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with([*BENCH, "--plot", "file/r.png"], capsys, "--plot file/r.png: file is not a folder")


def test_bench_json_to_a_symlink(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "link.json").symlink_to(work / "file")
    fails_with([*BENCH, "--json", "link.json"], capsys,
               "--json link.json: link.json is a symlink, not a regular file")
    assert (work / "link.json").is_symlink()


def test_report_export_table_to_a_directory(work: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "explore.json", "--out", "run", "--json"]) == 0
    capsys.readouterr()
    fails_with(["report", "run", "--export-table", "dir"], capsys,
               "--export-table dir: dir is a directory, not a regular file")
    assert not (work / "run" / "report").exists()


# ---------------------------------------------------------------- run folders: --out


def test_out_under_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with(["explore", "explore.json", "--out", "file/run"], capsys,
               "--out file/run: file is not a folder")
    assert sorted(p.name for p in work.iterdir()) == ["dir", "explore.json", "file"]


def test_mds_out_under_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before the generator is trained (the config is a valid one)."""
    pytest.importorskip("fxcore_mnist")
    monkeypatch.setattr(plugins, "_DEFAULT", None)  # the installed plugins
    (work / "mds.toml").write_text(
        'generator = { name = "mnist/cvae", params = { epochs = 1 } }\n'
        'classifiers = [{ name = "mnist/linear", params = { epochs = 1 } }, '
        '{ name = "mnist/mlp", params = { epochs = 1 } }]\nstarts = 4\nchunk = 4\nsteps = 4\n')
    fails_with(["mds", "mds.toml", "--out", "file/run"], capsys,
               "--out file/run: file is not a folder")
    assert not (work / "runs").exists()


def test_out_is_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with(["explore", "explore.json", "--out", "file"], capsys,
               "--out file: file is a regular file, not a folder")


def test_out_under_an_unwritable_folder(work: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    unwritable(work / "ro", monkeypatch)
    fails_with(["explore", "explore.json", "--out", "ro/new/run"], capsys,
               "--out ro/new/run: folder ro is not writable")


def test_demo_out_under_a_regular_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails_with(["demo", "--only", "explore", "--out", "file/demo"], capsys,
               "--out file/demo: file is not a folder")


# ---------------------------------------------------------------- config errors before the run dir


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], message: str,
            work: Path) -> None:
    """``fx ARGV`` exits 2 with one line holding ``message`` (no advice to --resume: there is
    no run), and leaves the folder as it was: no run dir, no output file."""
    before = sorted(p.name for p in work.iterdir())
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("fx: error: ") and err.count("\n") == 1, err
    assert message in err and "--resume" not in err, err
    assert out == ""
    assert sorted(p.name for p in work.iterdir()) == before


def test_explore_rules_that_exclude_every_subdomain(work: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    domain = explore_config()["domain"]
    domain["invalid"] = [{"rotation": ["upright", "tilted"]}]
    (work / "empty.json").write_text(json.dumps(explore_config(domain=domain)))
    refused(["explore", "empty.json", "--out", "run"], capsys,
            "domain.invalid: domain 'digits': the invalid combinations exclude everything", work)


def test_explore_attribute_value_the_generator_cannot_render(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found before the run exists (it used to fail in the run, advising a --resume that would
    refuse the fixed config)."""
    pytest.importorskip("fxcore_mnist")
    domain = explore_config()["domain"]
    domain["attributes"]["rotation"] = ["sideways", "none"]
    (work / "mnist.json").write_text(json.dumps(explore_config(
        domain=domain, generator="mnist/render")))
    refused(["explore", "mnist.json", "--out", "run"], capsys,
            "domain.attributes: generator 'mnist/render' (plugin fxcore-mnist) cannot render "
            "every value: attribute 'rotation': unknown value 'sideways'; allowed: none,", work)


@pytest.mark.parametrize(("field", "value", "most"), [
    ("images_per_subdomain", 10**7, 10_000), ("batch_size", 10**6, 10_000),
    ("max_attempts", 10**6, 1000), ("save_images", 10**6, 10_000),
])
def test_explore_sizes_have_upper_bounds(work: Path, capsys: pytest.CaptureFixture[str],
                                         field: str, value: int, most: int) -> None:
    """images_per_subdomain = 10**7 used to allocate 9 GB, then fail with a MemoryError."""
    (work / "big.json").write_text(json.dumps(explore_config(**{field: value})))
    refused(["explore", "big.json", "--out", "run"], capsys,
            f"big.json: {field}: Input should be less than or equal to {most} (got {value})", work)


MDS = {"generator": "mnist/cvae", "classifiers": ["mnist/linear", "mnist/mlp"]}


@pytest.mark.parametrize(("over", "message"), [
    ({"starts": 10**7}, "starts: Input should be less than or equal to 1000000"),
    ({"chunk": 10**5}, "chunk: Input should be less than or equal to 4096"),
    ({"steps": 10**6}, "steps: Input should be less than or equal to 100000"),
    ({"starts": 4096, "chunk": 4096, "steps": 10**4, "record_every": 1},
     "record_every: (steps / record_every + 1) x chunk = 40,964,096 records per chunk, more "
     "than 10,000,000 (held in memory); raise record_every or lower chunk"),
    ({"starts": 4096, "chunk": 4096, "steps": 10**5},
     "record_every: (steps / record_every + 1) x chunk = 40,964,096 records per chunk"),
    ({"show": 10**5}, "show: Input should be less than or equal to 1024"),
    ({"ensemble": {"path": "x.npz", "examples_per_cluster": 10**4}},
     "ensemble.examples_per_cluster: Input should be less than or equal to 100"),
])
def test_mds_sizes_have_upper_bounds(work: Path, capsys: pytest.CaptureFixture[str],
                                     over: dict[str, Any], message: str) -> None:
    (work / "mds.json").write_text(json.dumps({**MDS, **over}))
    refused(["mds", "mds.json", "--out", "run"], capsys, f"mds.json: {message}", work)


def test_bench_unsupported_plot_format_writes_nothing(work: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Both used to be written (a PNG named out.xyz); now refused before the replay."""
    refused([*BENCH, "--json", "r.json", "--plot", "out.xyz"], capsys,
            "--plot out.xyz: unsupported plot format '.xyz'; use .png, .pdf, .svg", work)


def test_bench_seeds_have_an_upper_bound(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused([*BENCH[:-3], "--repeats", "1000000", "--quiet", "--json", "r.json"], capsys,
            "--repeats must be in 1..1000, got 1000000", work)


def test_mds_ensemble_npz_with_object_arrays_is_not_loaded(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any component is built or run dir made (np.load without pickle)."""
    pytest.importorskip("fxcore_mnist")
    np = pytest.importorskip("numpy")
    labels = np.array([0, 1], dtype=np.int64)
    images = np.empty(2, dtype=object)
    images[:] = [np.zeros((28, 28)), np.zeros((28, 28))]
    np.savez(work / "x.npz", train_images=images, train_labels=labels,
             test_images=images, test_labels=labels)
    (work / "mds.json").write_text(json.dumps({**MDS, "ensemble": {"path": "x.npz"}}))
    refused(["mds", "mds.json", "--ensemble", "--out", "run"], capsys,
            "ensemble.path: x.npz holds object arrays, which fxcore does not load (they can run "
            "code); save plain numeric arrays", work)


def test_npz_loader_errors_name_the_file(tmp_path: Path) -> None:
    from fxcore.config import load_npz
    from fxcore.errors import ConfigError

    np = pytest.importorskip("numpy")
    np.savez(tmp_path / "ok.npz", a=np.arange(3), s=np.array(["x", "y"]))
    arrays = load_npz(tmp_path / "ok.npz", "data.path")
    assert arrays["a"].tolist() == [0, 1, 2] and arrays["s"].tolist() == ["x", "y"]
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(ConfigError, match=r"^data.path: .*bad.npz is not an .npz file"):
        load_npz(tmp_path / "bad.npz", "data.path")
    with pytest.raises(ConfigError, match=r"^data.path: .*none.npz not found$"):
        load_npz(tmp_path / "none.npz", "data.path")
    np.savez(tmp_path / "obj.npz", classes=np.array(["a", 1], dtype=object))
    with pytest.raises(ConfigError, match=r"obj.npz holds object arrays, which fxcore does not"):
        load_npz(tmp_path / "obj.npz", "data.path")


# ---------------------------------------------------------------- Ctrl-C




def test_sigint_exits_130_with_the_resume_hint_and_the_run_resumes(tmp_path: Path) -> None:
    gen = {"name": "digits/render", "params": {"delay": 0.5}}
    cfg = tmp_path / "explore.json"
    domain = explore_config()["domain"]
    domain["attributes"].update(rotation=["upright", "tilted", "sideways"],
                                noise=["clean", "noisy"])
    domain["prompt_template"] = "a {rotation} {true_class}, {noise}"
    cfg.write_text(json.dumps(explore_config(budget=16, generator=gen, domain=domain)))
    run = tmp_path / "run"
    fx = [sys.executable, str(HERE / "explore_launch.py"), "explore", str(cfg), "--out", str(run)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    # a test runner started as a background job ignores SIGINT, and so would the child
    # (Python keeps an ignored SIGINT ignored): give it the default disposition back
    proc = subprocess.Popen(fx, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300  # a loaded 2-core machine can take minutes to start torch
    while explore_digits.evaluation_count(run / "run.sqlite") < 2:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline, "the run did not start"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.rstrip().splitlines()[-1] == "fx: interrupted; resume with --resume"
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    done = subprocess.run([*fx, "--resume", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_evaluated"] == 16


def test_ctrl_c_in_a_command_without_resume_exits_130_without_the_hint(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    replay = importlib.import_module("fxcore.bench.replay")  # fxcore.bench.replay: a function

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(replay, "run_bench", interrupted)
    assert main(BENCH) == 130
    assert capsys.readouterr().err.strip() == "fx: interrupted"

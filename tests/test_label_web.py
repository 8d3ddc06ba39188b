"""The ``web`` annotator (a labelling page on 127.0.0.1) and the Label Studio round trip.

API tests drive the FastAPI app with Starlette's TestClient or over real HTTP; the browser tests
drive Debian's chromium (``apt-get install chromium``, or FXCORE_CHROMIUM=/path/to/chrome) with
Playwright for Python and skip, naming what is missing, where either is absent. Screenshots go
to $FXCORE_TEST_ARTEFACTS/label-web/ (default: pytest's temporary folder; the path is printed).
"""

from __future__ import annotations

import collections
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import test_artefacts
from label_helpers import DIGITS, config, digits_npz, one_torch_thread  # noqa: F401

from fxcore.config import validate_config
from fxcore.errors import ConfigError
from fxcore.label.annotators import AnnotationContext, FileAnnotator
from fxcore.label.job import run_label
from fxcore.label.journal import AnswerJournal
from fxcore.schemas.label import LabelConfig

pytest.importorskip("fastapi", reason="the web annotator needs fastapi (pip install "
                    "'fxcore[web]')")
pytest.importorskip("uvicorn", reason="the web annotator needs uvicorn")

from fxcore.label.web import AskError, WebAnnotator, render_png, shortcuts  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck", "x", "zebra"]
HERE = Path(__file__).parent


# ----------------------------------------------------------------------------- helpers
def context(tmp_path: Path, n: int = 6, classes: list[str] = CLASSES) -> AnnotationContext:
    """A run's context whose record/retract write a real journal (as OpalRun's do)."""
    journal = AnswerJournal(tmp_path / "answers.jsonl", classes)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:30] / 40.0
    images = np.stack([np.stack([xx * (k % 3 == 0), yy, (xx + yy) / 2 * (k % 2)])
                       for k in range(n)]).astype(np.float32)  # colour (N, 3, 40, 30)
    probs = rng.dirichlet(np.ones(len(classes)) * 0.3, size=(2, n))
    return AnnotationContext(
        item_ids=[f"img{k}" for k in range(n)], classes=classes, folder=tmp_path,
        images=images, probs=probs, classifier_names=["cnn", "vit"],
        record=lambda item, label: journal.append([(item, label)], source="web"),
        retract=lambda item: journal.retract(item, source="web"))


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def artefacts() -> Path:
    return test_artefacts("label-web")


# ----------------------------------------------------------------------------- API
def test_shortcuts_and_png() -> None:
    assert shortcuts(DIGITS) == DIGITS  # a class named "7" is the key 7
    keys = shortcuts(CLASSES)
    assert keys[:10] == list("1234567890") and keys[10] == "x" and keys[11] == "a"
    assert shortcuts([f"c{k}" for k in range(40)])[-1] is None  # keys ran out: buttons only
    from PIL import Image

    grey = Image.open(io.BytesIO(render_png(np.ones((1, 8, 8)) * 0.5, 448)))
    assert grey.size == (448, 448) and grey.mode == "L"  # 8 px, enlarged 56x
    colour = Image.open(io.BytesIO(render_png(np.zeros((3, 224, 300)), 448)))
    assert colour.size == (600, 448) and colour.mode == "RGB"  # by a whole factor
    big = Image.open(io.BytesIO(render_png(np.zeros((3, 500, 500)), 448)))
    assert big.size == (500, 500)  # never shrunk (the page fits it to the window)


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_api_answers_skip_undo_stop_through_the_journal(tmp_path) -> None:
    from starlette.testclient import TestClient

    ctx = context(tmp_path)
    ann = WebAnnotator(port=0, grace_seconds=0)
    ann.attach(ctx)
    client = TestClient(ann.app, base_url="http://127.0.0.1:8765")
    assert client.get("/api/next").json()["state"] == "idle"  # nothing asked yet
    assert client.post("/api/answer", json={"item": "img0", "label": 1}).status_code == 409
    ann.begin(ctx.item_ids[:4], np.array([[2, 2], [3, 1], [0, 0], [5, 5]]))
    page = client.get("/")
    assert page.status_code == 200 and "fx label" in page.text
    meta = client.get("/api/meta").json()
    assert meta["classes"] == CLASSES and meta["keys"][10] == "x"
    state = client.get("/api/next").json()
    item = state["item"]
    assert state["state"] == "asking" and item["id"] == "img0" and item["suggested"] == 2
    assert [s["classifier"] for s in item["suggestions"]] == ["cnn", "vit"]
    assert 0 < item["suggestions"][0]["confidence"] <= 1
    png = client.get(item["image"])
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    journal = tmp_path / "answers.jsonl"
    # an answer is in the journal when the page hears it counted
    r = client.post("/api/answer", json={"item": "img0", "label": 2})
    assert r.status_code == 200 and r.json()["item"]["id"] == "img1"
    assert journal_lines(journal)[-1] | {"time": 0} == {
        "item": "img0", "label": 2, "class": "bird", "source": "web", "time": 0}
    # the same answer twice (a double click) is one answer; a different one must undo first
    assert client.post("/api/answer", json={"item": "img0", "label": 2}).status_code == 200
    assert client.post("/api/answer", json={"item": "img0", "label": 4}).status_code == 409
    assert len(journal_lines(journal)) == 1
    bad = client.post("/api/answer", json={"item": "img1", "label": 12})
    assert bad.status_code == 422 and "not a class index 0..11" in bad.json()["error"]
    assert client.post("/api/answer", json={"item": "img5", "label": 1}).status_code == 404
    # skip: img1 goes last
    assert client.post("/api/skip", json={"item": "img1"}).json()["item"]["id"] == "img2"
    client.post("/api/answer", json={"item": "img2", "label": 7})
    # undo: a retraction line; the item is asked again next
    r = client.post("/api/undo").json()
    assert r["item"]["id"] == "img2" and r["progress"]["answered"] == 1
    assert journal_lines(journal)[-1]["retract"] is True
    assert AnswerJournal(journal, CLASSES).read().answers == {"img0": 2}
    # another site's page may not post; another Host name is refused (DNS rebinding)
    evil = client.post("/api/stop", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert client.get("/api/next", headers={"Host": "evil.example"}).status_code == 400
    # stop: the round ends with what was answered; the rest waits for --resume
    assert client.post("/api/stop").json()["state"] == "stopped"
    assert ann.wait() == [2, None, None, None]
    assert client.get("/api/next").json()["state"] == "idle"
    assert client.post("/api/undo").status_code == 409  # the run has its answers now


def test_run_over_http_stop_and_resume(tmp_path, reg) -> None:
    """The real pipeline and a real server: a person answers over HTTP, stops after 5 (the run
    waits), and a resumed run asks only the rest; each item is journaled once."""
    import httpx

    npz = digits_npz(tmp_path / "d.npz", n=40)
    truth = np.load(npz)["labels"]
    cfg = validate_config(config(npz, split={"fraction": 0.3, "representation": "pixels",
                                             "n_clusters": 4}, target_accuracy=0.75,
                                 annotator="web"), LabelConfig, reg)
    out = tmp_path / "run"

    errors: list = []

    def person(ann: WebAnnotator, stop_after: int | None, done: list) -> None:
        answered = 0
        try:
            while not done:
                try:
                    state = httpx.get(ann.url + "api/next", timeout=5).json()
                except httpx.TransportError:
                    time.sleep(0.05)  # between rounds the server is down
                    continue
                if state["item"] is None:
                    time.sleep(0.05)
                    continue
                if stop_after is not None and answered == stop_after:
                    httpx.post(ann.url + "api/stop", timeout=5)
                    return
                item = state["item"]["id"]
                r = httpx.post(ann.url + "api/answer", timeout=5,
                               json={"item": item, "label": int(truth[int(item)])})
                assert r.status_code == 200, r.text
                answered += 1
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            errors.append(exc)
            while not done:  # end the run's wait (once it asks)
                try:
                    ann.stop_round()
                    break
                except AskError:
                    time.sleep(0.05)

    summaries = []
    for stop_after, resume in ((5, False), (None, True)):
        ann = WebAnnotator(port=0, grace_seconds=0.05, announce=lambda m: None)
        ann.start()  # the port is chosen now; annotate() serves there
        done: list = []
        t = threading.Thread(target=person, args=(ann, stop_after, done), daemon=True)
        t.start()
        try:
            summaries.append(run_label(cfg, out, resume=resume, registry=reg, annotator=ann))
        finally:
            done.append(True)
            ann.stop()
        t.join(10)
        assert not errors, errors
    first, second = summaries
    assert first["status"] == "waiting" and first["answered"] == 5 and first["exported"] == []
    assert second["status"] == "complete" and second["n_manual"] == 24
    lines = journal_lines(out / "answers.jsonl")
    assert len(lines) == 24 and {ln["source"] for ln in lines} == {"web"}
    assert collections.Counter(ln["item"] for ln in lines).most_common(1)[0][1] == 1
    assert all(ln["label"] == truth[int(ln["item"])] for ln in lines)


def test_busy_port_is_a_config_error(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        ann = WebAnnotator(port=s.getsockname()[1])
        ann.attach(context(tmp_path))
        with pytest.raises(ConfigError, match=r"cannot listen on 127.0.0.1:\d+ .*--port"):
            ann.start()


def test_cli_session_annotator_options(tmp_path, capsys) -> None:
    """--annotator/--answers/--port choose who answers this session, checked before a run."""
    from fxcore.cli import main

    pytest.importorskip("fxcore_highs", reason="fx label --table uses the opal-milp labeller")
    table = tmp_path / "t.csv"
    table.write_text("a,y\n" + "".join(f"{k},{k % 2}\n" for k in range(40)))
    base = ["label", "--table", str(table), "--label-column", "y", "--target-accuracy", "0.9",
            "--out", str(tmp_path / "run")]
    assert main([*base, "--port", "9999"]) == 2
    assert "--port applies to the web annotator, not 'simulate'" in capsys.readouterr().err
    assert main([*base, "--annotator", "web", "--answers", str(table)]) == 2
    assert "--answers applies to the file annotator, not 'web'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- Label Studio
def test_label_studio_any_file_name_and_stable_task_ids(tmp_path, reg) -> None:
    npz = digits_npz(tmp_path / "d.npz", n=40)
    truth = np.load(npz)["labels"]
    cfg = validate_config(config(npz, split={"fraction": 0.3, "representation": "pixels",
                                             "n_clusters": 4}, target_accuracy=0.75,
                                 annotator="file"), LabelConfig, reg)
    out = tmp_path / "run"
    assert run_label(cfg, out, registry=reg)["status"] == "waiting"
    tasks_path = out / "artefacts" / "annotation" / "label-studio-tasks.json"
    first = json.loads(tasks_path.read_text())
    assert all(t["id"] == int(t["data"]["item"]) + 1 for t in first)  # the item's place

    def export(tasks: list, name: str) -> Path:  # as Label Studio exports a project
        path = tmp_path / name
        path.write_text(json.dumps([{"id": t["id"], "data": t["data"], "annotations": [{
            "result": [{"type": "choices", "value": {
                "choices": [DIGITS[truth[int(t["data"]["item"])]]]}}]}]} for t in tasks]))
        return path

    got = export(first, "project-7-at-2024-05-01.json")
    with pytest.raises(ConfigError, match="--answers .*nope.json: no such file"):
        run_label(cfg, out, resume=True, registry=reg,
                  annotator=FileAnnotator(answers=[tmp_path / "nope.json"]))
    second = run_label(cfg, out, resume=True, registry=reg,
                       annotator=FileAnnotator(answers=[got]))
    assert second["status"] == "waiting" and second["answered"] == 12
    queue = json.loads(tasks_path.read_text())
    assert all(t["id"] == int(t["data"]["item"]) + 1 for t in queue)  # same ids next round
    assert not {t["id"] for t in queue} & {t["id"] for t in first}
    # a second export of the whole project (both rounds' tasks) under another name
    both = export(first + queue, "project-7-at-2024-05-02.json")
    third = run_label(cfg, out, resume=True, registry=reg,
                      annotator=FileAnnotator(answers=[both]))
    assert third["status"] == "complete" and third["n_manual"] == 24


# ----------------------------------------------------------------------------- browser


def _next_shown(page, previous: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "prev => document.getElementById('ask').hidden || "
        "document.getElementById('item-id').textContent !== prev", arg=previous,
        timeout=timeout)


def test_browser_keys_skip_undo_accept(tmp_path, browser) -> None:
    ctx = context(tmp_path)
    ann = WebAnnotator(port=0, grace_seconds=0.5, announce=lambda m: None)
    ann.attach(ctx)
    ann.start()
    result: list = []
    t = threading.Thread(target=lambda: result.append(ann.annotate(ctx.item_ids[:4])))
    t.start()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(ann.url)
        page.wait_for_selector("#ask:not([hidden])")
        assert page.inner_text("#item-id") == "img0"
        assert "cnn:" in page.inner_text("#suggestions")
        page.wait_for_function("document.getElementById('image').naturalWidth > 0")
        page.screenshot(path=str(artefacts() / "keys-colour.png"))
        page.keyboard.press("3")  # the third class, bird
        _next_shown(page, "img0")
        assert page.inner_text("#item-id") == "img1"
        page.keyboard.press("ArrowRight")  # skip img1: asked last
        _next_shown(page, "img1")
        assert page.inner_text("#item-id") == "img2"
        page.keyboard.press("Backspace")  # undo img0
        _next_shown(page, "img2")
        assert page.inner_text("#item-id") == "img0"
        votes = np.bincount(ctx.probs[:, 0].argmax(1), minlength=12)
        suggested = int(np.argmax(votes + 1e-3 * ctx.probs[:, 0].mean(0)))
        page.keyboard.press("Enter")  # accept the classifiers' suggestion
        _next_shown(page, "img0")
        page.click("button.class[data-label='3']")  # img2: cat, by mouse
        _next_shown(page, "img2")
        page.keyboard.press("x")  # img3: the class named "x" is its own key
        _next_shown(page, "img3")
        assert page.inner_text("#item-id") == "img1"  # the skipped one comes back
        assert "3 / 4 answered" in page.inner_text("#progress")
        page.keyboard.press("0")  # the tenth class, truck
        page.wait_for_selector("#overlay:not([hidden])")
    finally:
        t.join(30)
        page.close()
    assert result == [[suggested, 9, 3, 10]]
    lines = journal_lines(tmp_path / "answers.jsonl")
    assert len(lines) == 6 and lines[1] | {"time": 0} == {
        "item": "img0", "retract": True, "source": "web", "time": 0}
    assert AnswerJournal(tmp_path / "answers.jsonl", CLASSES).read().answers == {
        "img0": suggested, "img2": 3, "img3": 10, "img1": 9}


def test_browser_kill_midway_and_resume(tmp_path, browser) -> None:
    """Label the run's 24 items in chromium; SIGKILL the run after 15 (the first round done,
    the queue begun), restart it with --resume: the same page goes on, nothing is lost or
    doubled, and the run completes."""
    sys.path.insert(0, str(HERE))
    from label_web_run import RUN

    npz = digits_npz(tmp_path / "d.npz", n=RUN["n"])
    truth = np.load(npz)["labels"]
    out, port = tmp_path / "run", free_port()
    log = open(tmp_path / "run.log", "w")

    def start(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(HERE / "label_web_run.py"), str(npz),
                                 str(out), str(port), *extra], stdout=subprocess.PIPE,
                                stderr=log, text=True)

    def answer(page, proc: subprocess.Popen) -> bool:
        """Answer the item shown (the truth, by its key); False once the run has exited."""
        while True:
            if proc.poll() is not None:
                return False
            try:
                page.wait_for_selector("#ask:not([hidden])", timeout=1000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: not asked yet
                continue
        item = page.inner_text("#item-id")
        page.keyboard.press(DIGITS[truth[int(item)]])
        _next_shown(page, item)
        return True

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    proc = start()
    try:
        deadline = time.monotonic() + 120
        while True:  # the run imports torch and splits the items before it serves the page
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "run.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#ask:not([hidden])", timeout=120_000)
        page.wait_for_function("document.getElementById('image').naturalWidth > 0")
        page.screenshot(path=str(artefacts() / "digits-first.png"))
        answered = 0
        while answered < 15:
            assert answer(page, proc), (tmp_path / "run.log").read_text()
            answered += 1
        before = journal_lines(out / "answers.jsonl")
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(30)
        assert len(before) == 15
        proc = start("--resume")
        while answer(page, proc):
            answered += 1
            if answered == 20:
                page.screenshot(path=str(artefacts() / "digits-after-restart.png"))
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        page.close()
        log.close()
    assert proc.returncode == 0, (tmp_path / "run.log").read_text()
    summary = json.loads(stdout.strip().splitlines()[-1])
    # (a key pressed in the moment the page had not yet seen the kill is refused, not counted)
    assert summary["status"] == "complete" and summary["n_manual"] == 24 <= answered
    lines = journal_lines(out / "answers.jsonl")
    counts = collections.Counter(ln["item"] for ln in lines)
    assert len(lines) == 24 and set(counts.values()) == {1}  # nothing lost or doubled
    assert lines[:15] == before
    assert all(ln["label"] == truth[int(ln["item"])] for ln in lines)
    print(f"screenshots: {artefacts()}")


def test_journal_retraction_then_a_later_answer(tmp_path) -> None:
    journal = AnswerJournal(tmp_path / "answers.jsonl", CLASSES)
    journal.append([("a", 1), ("b", 2)], source="web")
    journal.retract("a", source="web")
    assert journal.read().answers == {"b": 2}  # a resumed run asks "a" again
    journal.append([("a", 3)], source="web")
    contents = journal.read()
    assert contents.answers == {"a": 3, "b": 2} and contents.lines == 4

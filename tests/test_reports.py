"""One report system (issue 11): every job's run has ``RUN/report/index.html``, rendered from
the kernel's templates, viewable offline, opening with what produced the run; ``fx runs``
lists the runs and ``fx report`` works on each.

``report_pages`` (fixture) lists every page the tests write, for checks in a real browser.
"""

from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import explore_digits
import label_helpers
import pytest
import test_mds_errors

from fxcore import __version__, plugins
from fxcore.cli import main
from fxcore.config import validate_config
from fxcore.jobs import run_job
from fxcore.reports import list_runs, report_page, report_paths
from fxcore.schemas import ExploreConfig
from fxcore.schemas.label import LabelConfig

JOBS = ("explore", "mds", "label", "bench")


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(entry_points=[], modules={
        "digits": explore_digits, "toy": test_mds_errors._plugin(),
        "t": label_helpers.make_plugin()})


@pytest.fixture(scope="module")
def runs(registry: plugins.Registry, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Path]:
    """A small finished run of every job under one folder (bench through ``fx bench``)."""
    from test_explore import config_dict

    root = tmp_path_factory.mktemp("runs")
    npz = label_helpers.digits_npz(tmp_path_factory.mktemp("data") / "d.npz", n=300)
    configs = {
        "explore": validate_config(config_dict(budget=12, seed=5), ExploreConfig, registry),
        "mds": test_mds_errors.config(
            registry, seed=7, starts=4, chunk=2, steps=4, record_every=2, show=2,
            classifiers=[{"name": "toy/softmax", "params": {"seed": 1}},
                         {"name": "toy/softmax", "params": {"seed": 2}}]),
        "label": validate_config(label_helpers.config(npz, seed=11, certify={"enabled": True}),
                                 LabelConfig, registry),
    }
    out = {}
    with label_helpers.torch_threads(1):
        for job, config in configs.items():
            out[job] = root / job
            run_job(job, config, out[job], registry=registry, progress=False)
    out["bench"] = root / "bench"
    assert main(["bench", "--table", "lecoz2024-dog", "--selector", "oracle", "--selector",
                 "random", "--repeats", "2", "--seed", "3", "--budget", "150", "--quiet",
                 "--report", str(out["bench"])]) == 0
    for job in ("explore", "mds", "label"):
        assert main(["report", str(out[job])]) == 0
    return out


@pytest.fixture(scope="module")
def report_pages(runs: dict[str, Path]) -> list[Path]:
    """Every report page the tests wrote (one per job), for a browser to open."""
    return report_paths(next(iter(runs.values())).parent)


def page(runs: dict[str, Path], job: str) -> str:
    return report_page(runs[job]).read_text(encoding="utf-8")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for key in ("src", "href"):
            if a.get(key) is not None:
                self.links.append((tag, str(a[key])))
        self.scripts += tag == "script"


@pytest.mark.parametrize("job", JOBS)
def test_every_job_has_one_page_at_report_index(runs, report_pages, job) -> None:
    path = report_page(runs[job])
    assert path == runs[job] / "report" / "index.html" and path in report_pages
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "<style>" in text
    assert "<h1>" in text and text.rstrip().endswith("</html>")
    data = json.loads((runs[job] / "report" / "report.json").read_text())
    assert data["html"] == str(path)


@pytest.mark.parametrize("job", JOBS)
def test_every_link_resolves_and_nothing_comes_from_the_network(runs, job) -> None:
    path = report_page(runs[job])
    text = path.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(text)
    assert parser.scripts == 0
    assert not re.search(r"https?://", text), "no CDN, no network: the page works offline"
    images = [v for t, v in parser.links if t == "img"]
    assert images or job == "label", "explore, mds and bench show figures"
    for tag, link in parser.links:
        if link.startswith("data:"):
            assert re.match(r"data:image/png;base64,[A-Za-z0-9+/=]+$", link), link[:40]
        elif link.startswith("#"):
            assert link[1:] in parser.ids, f"{tag} {link}: no such anchor"
        else:
            assert not urlparse(link).scheme, link
            assert (path.parent / unquote(link)).is_file(), f"{tag} {link} does not resolve"


@pytest.mark.parametrize("job,seed", [("explore", 5), ("mds", 7), ("label", 11),
                                      ("bench", 3)])
def test_the_page_opens_with_what_produced_the_run(runs, job, seed) -> None:
    text = page(runs, job)
    block = text[text.index('id="reproducibility"'):text.index("</details>\n", text.index(
        "config snapshot"))]
    assert text.index('id="reproducibility"') < text.index("<h2")  # before any result
    assert re.search(rf'<td class="seed">{seed}\b', block)
    assert f"<td>{__version__}" in block  # fxcore's version
    assert "device" in block and "seconds per step" in block and "config hash" in block \
        or job == "bench"
    names = {
        "explore": ["digits/render", "digits/softmax", "digits/ink", "digits/nearest-worst",
                    "selector"],
        "mds": ["toy/linear", "toy/softmax", '{"seed": 2}', "divergence", "js"],
        "label": ["t/tiny", "labeller", "threshold", "annotator", "simulate",
                  "data.path"],  # the input file, with its sha256
        "bench": ["oracle", "random", "--table", "lecoz2024_dog.csv", "seeds 3..4"],
    }[job]
    for name in names:
        assert name in block, name
    prov = json.loads((runs[job] / "provenance.json").read_text())
    assert prov["sessions"][-1]["fxcore"] == __version__ and prov["sessions"][-1]["device"]
    assert all(c["name"] in block for c in prov["components"])


def test_explore_heatmaps_show_n_and_mark_empty_cells(runs) -> None:
    text = page(runs, "explore")
    data = json.loads((runs["explore"] / "report" / "report.json").read_text())
    heat = text[text.index('id="heatmaps"'):text.index('id="trace"')]
    empty = sum(n == 0 for p in data["pairs"] for row in p["n"] for n in row)
    filled = sum(n > 0 for p in data["pairs"] for row in p["n"] for n in row)
    assert 0 < empty and heat.count('class="empty"') == empty  # 12 of 48 evaluated
    for p in data["pairs"]:
        for row in p["n"]:
            for n in row:
                if n:
                    assert f"<small>n={n}</small>" in heat
    assert heat.count("<small>n=") == empty + filled
    # worst subdomains: each saved image with its own prediction, not one caption line
    assert text.count('<figure class="thumb') == sum(len(w["predicted"]) for w in data["worst"])
    assert "selector <code>digits/nearest-worst</code>" in text


def test_mds_images_name_the_classifiers_and_the_divergence(runs) -> None:
    text = page(runs, "mds")
    samples = text[text.index('id="samples"'):text.index('id="curves"')]
    figures = re.findall(r'<figure class="card">(.*?)</figure>', samples, re.S)
    assert len(figures) == 2 * 2  # show = 2 starts, before and after
    for fig in figures:
        assert "<img" in fig and "js D = " in fig
        assert "toy/softmax(seed=1)" in fig and "toy/softmax(seed=2)" in fig
    assert "<pre>" not in text.replace("<pre>{", "")  # numbers as tables, not a CLI dump
    assert (runs["mds"] / "artefacts" / "report.html").read_text().count("report/index.html")


def test_label_page_has_effort_certificate_confusion_and_queue(runs) -> None:
    text = page(runs, "label")
    s = json.loads((runs["label"] / "run.json").read_text())["summary"]
    assert s["certificate"]["statement"] in text.replace("&#34;", '"').replace("&gt;", ">")
    assert f"{100 * s['manual_effort']:.1f}%" in text
    auto = sum(c[2] for c in s["auto_confusion"])
    assert auto == s["auto_labelled"]
    right = sum(c[2] for c in s["auto_confusion"] if c[0] == c[1])
    assert f"{right} of {auto} auto-labels agree with the truth" in text
    assert 'class="heat confusion"' in text
    queue = text[text.index('id="queue"'):]
    assert f"The {s['n_queue']} items a person labelled" in queue
    assert '<a href="../artefacts/labels.csv">' in text


def test_fx_runs_lists_every_run(runs, capsys) -> None:
    root = runs["explore"].parent
    assert main(["runs", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert sorted(r["job"] for r in rows) == sorted(JOBS)
    assert all(r["status"] == "complete" and r["date"] and r["key"] and r["report"]
               for r in rows)
    assert main(["runs", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["job", "status", "date"] and len(lines) == 5
    label = next(line for line in lines if line.startswith("label"))
    assert "manual effort" in label and "certified" in label
    assert list_runs(runs["mds"])[0]["job"] == "mds"  # a run folder itself


@pytest.mark.parametrize("job", JOBS)
def test_fx_report_works_for_every_job(runs, job, capsys) -> None:
    before = report_page(runs[job]).stat().st_mtime_ns
    assert main(["report", str(runs[job]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["html"] == str(report_page(runs[job]))
    assert report_page(runs[job]).stat().st_mtime_ns >= before


def test_fx_report_of_an_unknown_job_names_those_it_has(tmp_path, capsys) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"job": "nope"}))
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == ("fx: error: fx report has no report for 'nope' runs "
                                       "(it has: explore, mds, label, bench)\n")


def test_bench_report_refuses_a_folder_holding_another_run(runs, tmp_path, capsys) -> None:
    assert main(["bench", "--table", "lecoz2024-dog", "--selector", "random", "--repeats", "1",
                 "--report", str(runs["label"])]) == 2
    assert "holds a label run" in capsys.readouterr().err


def test_templates_ship_as_package_data() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    assert "reports/templates/*.j2" in data["tool"]["setuptools"]["package-data"]["fxcore"]
    assert any(d.startswith("jinja2") for d in data["project"]["dependencies"])
    assert sorted(p.name for p in (root / "fxcore" / "reports" / "templates").glob("*.j2")) == [
        "base.html.j2", "bench.html.j2", "explore.html.j2", "label.html.j2", "mds.html.j2",
        "provenance.html.j2"]


def test_every_report_renders_in_a_real_browser(report_pages, browser) -> None:
    """Each job's page in chromium: the reproducibility block shows, every image loads, nothing
    is fetched from the network, no script error; a screenshot of each is kept."""
    from conftest import test_artefacts

    shots = test_artefacts("reports")
    assert len(report_pages) == len(JOBS)
    for path in report_pages:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
        page.on("request", lambda req, seen=requests: seen.append(req.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        assert page.locator("#reproducibility").is_visible(), path
        broken = page.evaluate("[...document.images].filter(i => !i.complete || "
                               "i.naturalWidth === 0).map(i => i.src.slice(0, 60))")
        assert broken == [], (path, broken)
        job = path.parent.parent.name
        if job != "label":  # the label page is tables only
            assert page.evaluate("document.images.length") > 0, path
        assert not [u for u in requests if u.startswith(("http:", "https:"))], requests
        assert errors == [], errors
        page.screenshot(path=str(shots / f"{job}.png"), full_page=True)
        page.close()
    print(f"screenshots: {shots}")

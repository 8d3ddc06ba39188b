"""Plugin discovery: isolation of broken plugins, strict mode, allow/deny lists, lookups."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import fxcore
from fxcore.errors import ComponentNotFound, ConfigError, PluginError
from fxcore.plugins import PluginWarning, Registry


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = 1


class ConstantSelector:
    def __init__(self, k: int = 1) -> None:
        self.k = k

    def setup(self, space, seed):  # noqa: ANN001
        pass

    def propose(self, observed, candidates, k):  # noqa: ANN001
        return candidates[:k]


def plugin_module(name: str, **hooks) -> types.ModuleType:  # noqa: ANN003
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, fxcore.hookimpl(fn))
    return mod


def good_module() -> types.ModuleType:
    def fxcore_register_selectors(register):  # noqa: ANN001, ANN202
        register("constant", ConstantSelector, Params)

    return plugin_module("good", fxcore_register_selectors=fxcore_register_selectors)


def test_builtins_are_registered_through_hooks() -> None:
    reg = Registry.load(entry_points=[])
    assert reg.names("selector") == ["fxcore/exhaustive", "fxcore/random"]
    assert set(reg.names("divergence")) == {"fxcore/kl", "fxcore/reverse-kl", "fxcore/js"}
    (rec,) = reg.records
    assert rec.status == "loaded" and rec.components["selector"] == ["random", "exhaustive"]


def test_module_plugin_component_is_created_with_validated_params() -> None:
    reg = Registry.load(entry_points=[], modules={"good": good_module()})
    sel = reg.create("selector", {"name": "good/constant", "params": {"k": 3}})
    assert isinstance(sel, ConstantSelector) and sel.k == 3
    assert isinstance(reg.create("selector", "constant"), ConstantSelector)
    with pytest.raises(ConfigError, match=r"selector\.params\.k: Input should be a valid integer"):
        reg.create("selector", {"name": "constant", "params": {"k": "many"}}, where="selector")
    with pytest.raises(ConfigError, match=r"params\.extra: unknown key"):
        reg.create("selector", {"name": "constant", "params": {"extra": 1}})


@pytest.mark.parametrize(
    "hook, error",
    [
        (lambda register: 1 / 0, "ZeroDivisionError"),
        (lambda register: register("Bad Name!", ConstantSelector), "must match"),
        (lambda register: register("x", 42), "not callable"),
        (lambda register: register("x", ConstantSelector, dict), "pydantic model"),
        (lambda register: sys.exit(2), "called sys.exit(2) in a hook"),
    ],
)
def test_broken_hook_disables_only_that_plugin(hook, error) -> None:  # noqa: ANN001
    bad = plugin_module("bad", fxcore_register_selectors=hook)
    with pytest.warns(PluginWarning, match="'bad'"):
        reg = Registry.load(entry_points=[], modules={"bad": bad, "good": good_module()})
    rows = {r.name: r for r in reg.records}
    assert rows["bad"].status == "failed" and error in rows["bad"].error
    assert rows["bad"].components == {}
    assert rows["good"].status == "loaded"
    assert "good/constant" in reg.names("selector")


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = plugin_module("bad", fxcore_register_selectors=lambda register: 1 / 0)
    with pytest.raises(PluginError, match="'bad'.*ZeroDivisionError"):
        Registry.load(strict=True, entry_points=[], modules={"bad": bad})
    monkeypatch.setenv("FXCORE_PLUGINS_STRICT", "1")
    with pytest.raises(PluginError):
        Registry.load(entry_points=[], modules={"bad": bad})


def test_component_not_found_names_what_is_installed() -> None:
    reg = Registry.load(entry_points=[])
    with pytest.raises(ComponentNotFound) as err:
        reg.create("selector", "botorch")
    msg = str(err.value)
    assert "fxcore/random" in msg and "\n" not in msg
    # the hint comes from the manifests of this repository's plugins/ folder, not a list in code,
    # when fxcore runs from a checkout; an installed fxcore has no folder to read: generic advice
    import fxcore

    repo = Path(fxcore.__file__).resolve().parents[1] / "plugins"
    if repo.is_dir():
        hint = ("the plugin fxcore-botorch in this repository provides it: pip install -e "
                f"{repo / 'fxcore-botorch'}")
    else:
        hint = "no installed plugin provides it: install a plugin that provides it"
    assert hint in msg
    with pytest.raises(ComponentNotFound, match=r"install plugin 'acme' .*plugins/ folder"):
        reg.get("selector", "acme/thing")


def test_the_kernel_names_no_plugin() -> None:
    """No table of first-party plugins in the kernel (it named packages no index has)."""
    from fxcore import plugins

    assert not hasattr(plugins, "KNOWN_PROVIDERS")
    source = Path(plugins.__file__).read_text()
    repo_plugins = Path(__file__).resolve().parents[1] / "plugins"
    named = [d.name for d in repo_plugins.iterdir() if d.name in source]
    assert named == []


def test_ambiguous_name_asks_for_qualified_name() -> None:
    other = plugin_module(
        "other",
        fxcore_register_selectors=lambda register: register("constant", ConstantSelector),
    )
    reg = Registry.load(entry_points=[], modules={"good": good_module(), "other": other})
    with pytest.raises(ComponentNotFound, match="ambiguous.*good/constant.*other/constant"):
        reg.get("selector", "constant")
    assert reg.get("selector", "other/constant").plugin == "other"


def test_wrong_contract_is_refused() -> None:
    weird = plugin_module(
        "weird", fxcore_register_selectors=lambda register: register("obj", object)
    )
    reg = Registry.load(entry_points=[], modules={"weird": weird})
    with pytest.raises(PluginError, match="does not follow the Selector contract"):
        reg.create("selector", "obj")


def _entry_point(name: str, value: str) -> md.EntryPoint:
    return md.EntryPoint(name=name, value=value, group="fxcore")


def test_entry_point_import_error_is_isolated() -> None:
    eps = [_entry_point("missing", "fxcore_no_such_module_xyz")]
    with pytest.warns(PluginWarning, match="ModuleNotFoundError"):
        reg = Registry.load(entry_points=eps)
    row = next(r for r in reg.records if r.name == "missing")
    assert row.status == "failed" and "fxcore_no_such_module_xyz" in row.error
    assert reg.names("selector")  # built-ins still there


def test_allow_and_deny_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [_entry_point("missing", "fxcore_no_such_module_xyz")]
    monkeypatch.setenv("FXCORE_PLUGINS_DENY", "missing,good")
    reg = Registry.load(entry_points=eps, modules={"good": good_module()})
    status = {r.name: r.status for r in reg.records}
    assert status == {"fxcore": "loaded", "missing": "denied", "good": "denied"}
    assert "good/constant" not in reg.names("selector")
    monkeypatch.delenv("FXCORE_PLUGINS_DENY")
    monkeypatch.setenv("FXCORE_PLUGINS_ALLOW", "good")
    reg = Registry.load(entry_points=eps, modules={"good": good_module()})
    status = {r.name: r.status for r in reg.records}
    assert status == {"fxcore": "loaded", "missing": "not-allowed", "good": "loaded"}
    with pytest.raises(ComponentNotFound, match="not loaded: not-allowed"):
        reg.get("selector", "missing/x")


def test_planted_broken_dist_info(tmp_path: Path) -> None:
    """A *.dist-info whose fxcore entry point raises: `fx plugins` exits 0 and reports it."""
    dist = tmp_path / "fxcore_broken-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fxcore-broken\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[fxcore]\nbroken = fxcore_broken_mod\n")
    (tmp_path / "fxcore_broken_mod.py").write_text("raise RuntimeError('boom at import')\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "import sys; from fxcore.cli import main; sys.exit(main(['plugins', '--json']))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["plugins"]}
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["distribution"] == "fxcore-broken"
    assert rows["broken"]["version"] == "0.3"
    assert "RuntimeError: boom at import" in rows["broken"]["error"]
    assert rows["fxcore"]["status"] == "loaded"
    # the table form works too, and strict mode turns it into exit 1 with one line
    proc = subprocess.run(
        [sys.executable, "-c", code.replace("'--json'", "")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0 and "boom at import" in proc.stdout
    strict = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code.replace("'plugins', '--json'", "'plugins'"))],
        capture_output=True, text=True, env={**env, "FXCORE_PLUGINS_STRICT": "1"}, timeout=120,
    )
    assert strict.returncode == 1
    assert "boom at import" in strict.stderr and "Traceback" not in strict.stderr


def test_misspelt_hook_is_a_plugin_error() -> None:
    """A hook fxcore does not have would register nothing, with status "loaded"."""
    typo = plugin_module(
        "typo", fxcore_register_selector=lambda register: register("x", ConstantSelector)
    )
    message = r"unknown hook 'fxcore_register_selector' \(did you mean 'fxcore_register_selectors'"
    with pytest.warns(PluginWarning, match=r"'typo'.*" + message):
        reg = Registry.load(entry_points=[], modules={"typo": typo, "good": good_module()})
    rows = {r.name: r for r in reg.records}
    assert rows["typo"].status == "failed" and rows["typo"].components == {}
    assert rows["good"].status == "loaded"
    with pytest.raises(PluginError, match=message):
        Registry.load(strict=True, entry_points=[], modules={"typo": typo})


SELECTOR_PLUGIN = """
import fxcore

class Selector:
    def setup(self, space, seed):
        pass

    def propose(self, observed, candidates, k):
        return candidates[:k]

@fxcore.hookimpl
def fxcore_register_selectors(register):
    register("{component}", Selector)
"""


def plant(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str],
          manifest: dict[str, str] | None = None) -> None:
    """A fake installed distribution under ``root``: its dist-info and its top-level modules;
    ``manifest``: its ``fxcore.components`` entry points (``"selector.x": "module"``)."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    text = "[fxcore]\n" + lines
    if manifest is not None:
        text += "\n[fxcore.components]\n" + "".join(f"{k} = {v}\n" for k, v in manifest.items())
    (info / "entry_points.txt").write_text(text)
    for module, code in modules.items():
        (root / f"{module}.py").write_text(code)


def planted(root: Path) -> list[md.EntryPoint]:
    """The fxcore entry points of the distributions planted under ``root`` (with their dist)."""
    return [ep for dist in md.distributions(path=[str(root)]) for ep in dist.entry_points
            if ep.group == "fxcore"]


def test_plugin_calling_sys_exit_at_import_is_isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant(tmp_path, "fxcore-quits", {"quits": "fxcore_quits_mod"},
          {"fxcore_quits_mod": "import sys\nsys.exit(3)\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    skipped = r"'quits' \(fxcore-quits\) skipped: called sys\.exit\(3\) at import"
    with pytest.warns(PluginWarning, match=skipped):
        reg = Registry.load(entry_points=planted(tmp_path))
    row = next(r for r in reg.records if r.name == "quits")
    assert row.status == "failed" and row.error == "called sys.exit(3) at import"
    assert "fxcore/random" in reg.names("selector")
    with pytest.raises(PluginError, match=r"sys\.exit\(3\)"):
        Registry.load(strict=True, entry_points=planted(tmp_path))
    # every fx command used to exit 3 with no output
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "FXCORE_PLUGINS_ALLOW": "quits"}
    code = "import sys; from fxcore.cli import main; sys.exit(main(['plugins', '--json']))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["plugins"]}
    assert rows["quits"]["status"] == "failed" and "sys.exit(3)" in rows["quits"]["error"]


def test_two_distributions_claiming_one_plugin_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever came first used to load and the other was skipped: an impostor could shadow
    the real plugin. Now neither loads, and both rows name both distributions."""
    plant(tmp_path, "fxcore-digits", {"digits": "fxcore_digits_real"},
          {"fxcore_digits_real": SELECTOR_PLUGIN.format(component="real")})
    plant(tmp_path, "acme-tools", {"digits": "acme_digits_other"},
          {"acme_digits_other": SELECTOR_PLUGIN.format(component="other")})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(PluginWarning, match="claimed by 2 distributions"):
        reg = Registry.load(entry_points=planted(tmp_path))
    rows = [r for r in reg.records if r.name == "digits"]
    assert sorted(r.distribution for r in rows) == ["acme-tools", "fxcore-digits"]
    for row in rows:
        assert row.status == "failed"
        assert "'digits' is claimed by 2 distributions (acme-tools, fxcore-digits)" in row.error
    assert not [n for n in reg.names("selector") if n.startswith("digits/")]
    with pytest.raises(PluginError, match=r"acme-tools, fxcore-digits"):
        Registry.load(strict=True, entry_points=planted(tmp_path))
    # denying one distribution settles it
    monkeypatch.setenv("FXCORE_PLUGINS_DENY", "acme-tools")
    reg = Registry.load(strict=True, entry_points=planted(tmp_path))
    status = {r.distribution: r.status for r in reg.records if r.name == "digits"}
    assert status == {"fxcore-digits": "loaded", "acme-tools": "denied"}
    assert reg.get("selector", "digits/real").distribution == "fxcore-digits"

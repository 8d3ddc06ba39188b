"""Lazy plugins: components known from manifests, a plugin imported only when it is used.

A manifest is a distribution's entry points in the group ``fxcore.components``
(``"selector.slow" = "fxcore_lazy_mod"``). The fake distributions here are planted under
``tmp_path`` (``test_plugins.plant``); nothing is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_plugins import SELECTOR_PLUGIN, ConstantSelector, plant, planted

from fxcore.errors import ComponentNotFound, PluginError
from fxcore.plugins import PluginWarning, Registry, parse_manifest


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder for planted distributions, on ``sys.path``; the modules imported from it are
    forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("fxcore_lazy_"):
            del sys.modules[name]


def lazy_dist(root: Path, plugin: str, components: list[str], registers: list[str] | None = None,
              module_code: str | None = None, dist: str | None = None) -> str:
    """Plant ``fxcore-<plugin>`` whose manifest declares ``components`` (``kind.name``) and
    whose module registers the selectors ``registers`` (default: the declared ones)."""
    module = f"fxcore_lazy_{plugin}"
    names = registers if registers is not None else [c.split(".", 1)[1] for c in components]
    code = module_code or SELECTOR_PLUGIN.replace(
        '    register("{component}", Selector)\n',
        "".join(f'    register("{n}", Selector)\n' for n in names),
    )
    plant(root, dist or f"fxcore-{plugin}", {plugin: module}, {module: code},
          manifest={c: module for c in components})
    return module


def test_a_manifest_plugin_is_imported_only_when_a_component_is_asked_for(site: Path) -> None:
    module = lazy_dist(site, "slow", ["selector.slow", "selector.slower"])
    reg = Registry.load(strict=True, entry_points=planted(site))
    row = next(r for r in reg.records if r.name == "slow")
    assert row.status == "available" and row.manifest == {"selector": ["slow", "slower"]}
    assert row.components == {"selector": ["slow", "slower"]}
    assert {"slow/slow", "slow/slower", "fxcore/random"} <= set(reg.names("selector"))
    # the built-ins and the other kinds need no plugin
    reg.create("selector", "random")
    reg.create("divergence", {"name": "js", "params": {"eps": 1e-9}})
    with pytest.raises(ComponentNotFound):
        reg.get("classifier", "nothing")
    assert module not in sys.modules
    reg.create("selector", "slow")
    assert module in sys.modules
    assert row.status == "loaded" and row.components == {"selector": ["slow", "slower"]}
    assert reg.get("selector", "slow/slower").plugin == "slow"


def test_ambiguity_is_known_from_manifests_without_importing(site: Path) -> None:
    one = lazy_dist(site, "one", ["selector.same"])
    two = lazy_dist(site, "two", ["selector.same"])
    reg = Registry.load(strict=True, entry_points=planted(site))
    with pytest.raises(ComponentNotFound, match=r"ambiguous; use one of: one/same, two/same"):
        reg.get("selector", "same")
    assert one not in sys.modules and two not in sys.modules
    assert reg.get("selector", "two/same").plugin == "two"
    assert two in sys.modules and one not in sys.modules


def test_registering_other_than_the_manifest_is_a_plugin_error(site: Path) -> None:
    lazy_dist(site, "odd", ["selector.a", "selector.b"], registers=["a", "c"])
    reg = Registry.load(entry_points=planted(site))
    said = (r"'odd' \(fxcore-odd\) skipped: registers selector\.c which its manifest lacks; "
            r"does not register selector\.b which its manifest declares")
    with pytest.warns(PluginWarning, match=said), pytest.raises(
        ComponentNotFound, match=r"plugin 'odd' \(fxcore-odd\) provides it but is not loaded: "
                                 r"registers selector\.c"):
        reg.get("selector", "a")
    row = next(r for r in reg.records if r.name == "odd")
    assert row.status == "failed" and row.components == {}
    assert not [n for n in reg.names("selector") if n.startswith("odd/")]
    strict = Registry.load(strict=True, entry_points=planted(site))
    with pytest.raises(PluginError, match=said):
        strict.get("selector", "odd/a")


def test_a_lazy_plugin_calling_sys_exit_at_import_is_isolated(site: Path) -> None:
    lazy_dist(site, "quits", ["selector.q"], module_code="import sys\nsys.exit(4)\n")
    reg = Registry.load(entry_points=planted(site))
    assert next(r for r in reg.records if r.name == "quits").status == "available"
    with pytest.warns(PluginWarning, match=r"called sys\.exit\(4\) at import"), pytest.raises(
            ComponentNotFound, match=r"'quits' .*not loaded: called sys\.exit\(4\) at import"):
        reg.create("selector", "q")
    assert "fxcore/random" in reg.names("selector")
    with pytest.raises(PluginError, match=r"sys\.exit\(4\)"):
        Registry.load(strict=True, entry_points=planted(site)).get("selector", "q")


def test_a_denied_plugin_is_named_by_the_hint(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = lazy_dist(site, "nope", ["selector.n"])
    monkeypatch.setenv("FXCORE_PLUGINS_DENY", "fxcore-nope")
    reg = Registry.load(strict=True, entry_points=planted(site))
    with pytest.raises(ComponentNotFound,
                       match=r"plugin 'nope' \(fxcore-nope\) provides it but is not loaded: "
                             r"denied"):
        reg.get("selector", "n")
    assert "nope/n" not in reg.names("selector") and module not in sys.modules


def test_a_malformed_manifest_is_a_plugin_error(site: Path) -> None:
    module = lazy_dist(site, "typo", ["selectr.x"])
    with pytest.warns(PluginWarning, match=r"'typo'.*manifest entry 'selectr\.x': unknown kind"):
        reg = Registry.load(entry_points=planted(site))
    assert next(r for r in reg.records if r.name == "typo").status == "failed"
    assert module not in sys.modules
    with pytest.raises(ValueError, match="must match"):
        parse_manifest([("selector.Bad Name", "m")], "m")
    # entries naming another module belong to another plugin of the same distribution
    assert parse_manifest([("selector.a", "m"), ("filter.b", "other")], "m") == {
        "selector": ["a"]}


def test_import_all_verifies_every_plugin(site: Path) -> None:
    lazy_dist(site, "good", ["selector.g"])
    lazy_dist(site, "odd", ["selector.a"], registers=["b"])
    reg = Registry.load(entry_points=planted(site))
    assert {r.name: r.status for r in reg.records} == {
        "fxcore": "loaded", "good": "available", "odd": "available"}
    with pytest.warns(PluginWarning, match="'odd'"):
        reg.import_all()
    rows = {r.name: r for r in reg.records}
    assert rows["good"].status == "loaded" and rows["good"].components == {"selector": ["g"]}
    assert rows["odd"].status == "failed" and "selector.b" in rows["odd"].error


def test_fx_plugins_lists_manifests_and_check_imports(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fxcore.plugin_cli import plugins_cmd

    good = lazy_dist(site, "good", ["selector.g"])
    lazy_dist(site, "odd", ["selector.a"], registers=["b"])
    monkeypatch.setenv("FXCORE_PLUGINS_ALLOW", "good,odd")  # the installed plugins stay out
    out = CliRunner().invoke(plugins_cmd, ["--json"])
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.output)["plugins"]}
    assert rows["good"]["status"] == rows["odd"]["status"] == "available"
    assert rows["good"]["components"] == {"selector": ["g"]} and rows["good"]["manifest"]
    assert good not in sys.modules
    out = CliRunner().invoke(plugins_cmd, ["--check", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.output)["plugins"]}
    assert rows["good"]["status"] == "loaded"
    assert rows["odd"]["status"] == "failed"
    assert "does not register selector.a which its manifest declares" in rows["odd"]["error"]
    table = CliRunner().invoke(plugins_cmd, ["--check"])
    # the table wraps long errors at the terminal's width: look for the status, not the words
    assert table.exit_code == 0 and "failed" in table.output and "odd" in table.output


def test_modules_without_manifest_still_load_as_before() -> None:
    """A plugin module handed over directly (or an entry point without a manifest) is imported
    and registered when the registry is built."""
    from test_plugins import good_module

    reg = Registry.load(entry_points=[], modules={"good": good_module()})
    assert reg.records[-1].status == "loaded" and reg.records[-1].manifest is None
    assert isinstance(reg.create("selector", "constant"), ConstantSelector)


CHECK_NO_IMPORT = """
import contextlib, importlib.metadata as md, io, json, sys
from fxcore.cli import main
from fxcore.plugins import Registry

out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["plugins", "--json"])
reg = Registry.load(strict=True)
reg.create("selector", "random")
reg.get("divergence", "js")
manifested = sorted(ep.value for ep in md.entry_points(group="fxcore")
                    if any(e.group == "fxcore.components" for e in ep.dist.entry_points))
print(json.dumps({
    "code": code,
    "rows": json.loads(out.getvalue())["plugins"],
    "manifested": manifested,
    "imported": sorted(m for m in sys.modules if m.split(".")[0] in manifested),
    "heavy": sorted(m for m in ("torch", "sklearn", "scipy", "pandas") if m in sys.modules),
}))
"""


def test_fx_plugins_and_a_builtin_lookup_import_no_plugin(tmp_path: Path) -> None:
    """In a fresh interpreter, with the installed plugins and a planted one that raises at
    import: ``fx plugins`` and building a registry + creating a built-in import no plugin with
    a manifest (and neither torch nor scikit-learn)."""
    plant(tmp_path, "fxcore-boom", {"boom": "fxcore_lazy_boom"},
          {"fxcore_lazy_boom": "raise RuntimeError('imported!')\n"},
          manifest={"selector.boom": "fxcore_lazy_boom"})
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", CHECK_NO_IMPORT], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["code"] == 0
    assert "fxcore_lazy_boom" in result["manifested"]
    assert result["imported"] == [] and result["heavy"] == []
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["boom"]["status"] == "available"
    assert rows["boom"]["components"] == {"selector": ["boom"]}


def test_installed_manifests_match_what_the_plugins_register() -> None:
    """What ``fx plugins --check`` verifies, for the plugins installed where the tests run."""
    reg = Registry.load(strict=True)
    with_manifest = [r.name for r in reg.records if r.manifest is not None]
    reg.import_all()
    assert all(r.status == "loaded" for r in reg.records if r.name in with_manifest)

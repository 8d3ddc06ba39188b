"""Plugin discovery and the component registry.

Plugins are modules named by entry points in the group ``fxcore``. Each is loaded and asked for
its components on its own, inside ``try/except``: a broken plugin becomes a warning and a row
with its error in ``fx plugins``; everything else keeps working. Broken means: its import raises
or calls ``sys.exit``, it implements a hook fxcore does not have (a misspelt name), a hook raises
or calls ``register`` wrongly, or another distribution claims the same plugin name (then both
are). The built-in components are registered through the same hooks (as the plugin ``fxcore``).

Environment switches:

- ``FXCORE_PLUGINS_STRICT=1``: a plugin error raises :class:`~fxcore.errors.PluginError`
  (for plugin authors' CI).
- ``FXCORE_PLUGINS_ALLOW=a,b``: load only these plugins (entry-point or distribution names).
- ``FXCORE_PLUGINS_DENY=a,b``: never load these.

:class:`Registry` is the typed facade the pipelines use; they never touch pluggy.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from fxcore import PROJECT_NAME, hookspecs
from fxcore.contracts import CONTRACTS, LatentGenerator
from fxcore.errors import ComponentNotFound, ConfigError, PluginError
from fxcore.schemas import ComponentSpec

ENTRY_POINT_GROUP = "fxcore"
BUILTIN = "fxcore"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class PluginWarning(UserWarning):
    """A plugin was skipped because it failed to load."""


@dataclass(frozen=True)
class Component:
    """One registered component."""

    kind: str
    name: str
    plugin: str
    distribution: str
    factory: Callable[..., Any]
    params_model: type[BaseModel] | None

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}/{self.name}"


@dataclass
class PluginRecord:
    """One row of ``fx plugins``."""

    name: str
    distribution: str
    version: str
    module: str
    status: str = "loaded"  # loaded | failed | denied | not-allowed
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": self.components,
        }


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {x.strip() for x in raw.split(",") if x.strip()}


def _one_line(exc: BaseException, when: str = "") -> str:
    """``Type: first line`` of the error; ``sys.exit(n)`` is named as such."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r}) {when}".rstrip()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _entry_record(ep: metadata.EntryPoint) -> PluginRecord:
    dist = getattr(ep, "dist", None)
    return PluginRecord(
        name=ep.name,
        distribution=dist.name if dist is not None else "?",
        version=dist.version if dist is not None else "?",
        module=ep.value,
    )


def _unknown_hooks(pm: pluggy.PluginManager, module: Any) -> str | None:
    """The error when ``module`` implements a hook fxcore does not have (a misspelt name would
    otherwise register nothing, silently); ``None`` when every hook is known."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        unknown = sorted(h.name for h in pm.get_hookcallers(module) or [] if not h.has_spec())
        errors = [f"unknown hook {name!r}{_did_you_mean(name)}" for name in unknown]
        return "; ".join(errors) or _one_line(exc)
    return None


def _did_you_mean(hook: str) -> str:
    close = difflib.get_close_matches(hook, list(hookspecs.HOOK_BY_KIND.values()), n=1)
    return f" (did you mean {close[0]!r}?)" if close else " (see fxcore.hookspecs)"


def _name_conflict(name: str, distributions: set[str]) -> str:
    dists = ", ".join(sorted(distributions))
    return (f"plugin name {name!r} is claimed by {len(distributions)} distributions ({dists}); "
            "uninstall one, or keep one out with FXCORE_PLUGINS_DENY=<distribution>")


class Registry:
    """Discovered plugins and their components.

    ``Registry.load()`` discovers installed plugins; tests may pass ``modules`` (name -> module
    object) to register extra plugin modules directly, and ``entry_points`` to replace discovery.
    """

    def __init__(self, strict: bool | None = None) -> None:
        if strict is None:
            strict = os.environ.get("FXCORE_PLUGINS_STRICT", "").lower() in {"1", "true", "yes"}
        self.strict = strict
        self.allow = _env_list("FXCORE_PLUGINS_ALLOW")
        self.deny = _env_list("FXCORE_PLUGINS_DENY") or set()
        self.records: list[PluginRecord] = []
        self._components: dict[str, dict[str, Component]] = {k: {} for k in hookspecs.KINDS}

    # ---------------------------------------------------------------- discovery
    @classmethod
    def load(
        cls,
        strict: bool | None = None,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        modules: dict[str, Any] | None = None,
    ) -> Registry:
        reg = cls(strict=strict)
        from fxcore import builtins

        reg.add_module(BUILTIN, builtins, distribution="fxcore", version=_version("fxcore"))
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        eps = sorted(entry_points, key=lambda e: e.name)
        records = [_entry_record(ep) for ep in eps]
        claims: dict[str, set[str]] = {}  # plugin name -> distributions that may load it
        for rec in records:
            if reg._blocked(rec) is None:
                claims.setdefault(rec.name, set()).add(rec.distribution)
        for ep, rec in zip(eps, records, strict=True):
            reg._add_entry_point(ep, rec, claims.get(rec.name, set()))
        for name, module in (modules or {}).items():
            reg.add_module(name, module, distribution=name, version="")
        return reg

    def _blocked(self, record: PluginRecord) -> str | None:
        """``denied`` or ``not-allowed`` when the allow/deny lists keep the plugin out."""
        keys = {record.name, record.distribution}
        if keys & self.deny:
            return "denied"
        if self.allow is not None and not keys & self.allow:
            return "not-allowed"
        return None

    def _allowed(self, record: PluginRecord) -> bool:
        blocked = self._blocked(record)
        if blocked:
            record.status = blocked
        return blocked is None

    def _add_entry_point(
        self, ep: metadata.EntryPoint, record: PluginRecord, claimants: set[str]
    ) -> None:
        """Load one entry point; ``claimants``: the allowed distributions that use its name."""
        if not self._allowed(record):
            self.records.append(record)
            return
        if len(claimants) > 1:  # neither loads: an impostor must not shadow the real plugin
            self._fail(record, _name_conflict(record.name, claimants))
            return
        other = next((r for r in self.records if r.name == ep.name and r.status == "loaded"),
                     None)
        if other is not None:
            self._fail(record, f"another plugin ({other.distribution}) is already named "
                               f"{ep.name!r}")
            return
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - disables this plugin only
            self._fail(record, _one_line(exc, "at import"))
            return
        self._register(record, module)

    def add_module(self, name: str, module: Any, distribution: str, version: str) -> PluginRecord:
        """Register a plugin module directly (built-ins, tests, notebooks)."""
        record = PluginRecord(
            name=name,
            distribution=distribution,
            version=version,
            module=getattr(module, "__name__", repr(module)),
        )
        if self._allowed(record) or name == BUILTIN:
            record.status = "loaded"
            self._register(record, module)
        else:
            self.records.append(record)
        return record

    def _register(self, record: PluginRecord, module: Any) -> None:
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        try:
            pm.register(module, name=record.name)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - e.g. PluginValidationError
            self._fail(record, _one_line(exc))
            return
        unknown = _unknown_hooks(pm, module)
        if unknown:
            self._fail(record, unknown)
            return
        found: list[Component] = []
        try:
            for kind, hook_name in hookspecs.HOOK_BY_KIND.items():
                register = self._make_register(record, kind, found)
                getattr(pm.hook, hook_name)(register=register)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - disables the plugin only
            self._fail(record, _one_line(exc, "in a hook"))
            return
        for comp in found:
            self._components[comp.kind][comp.qualified_name] = comp
            record.components.setdefault(comp.kind, []).append(comp.name)
        self.records.append(record)

    def _make_register(
        self, record: PluginRecord, kind: str, found: list[Component]
    ) -> Callable[..., None]:
        def register(
            name: str, factory: Callable[..., Any], params_model: type[BaseModel] | None = None
        ) -> None:
            if not isinstance(name, str) or not _NAME.match(name):
                raise TypeError(f"{kind} name {name!r} must match {_NAME.pattern}")
            if not callable(factory):
                raise TypeError(f"{kind} {name!r}: factory {factory!r} is not callable")
            if params_model is not None and not (
                isinstance(params_model, type) and issubclass(params_model, BaseModel)
            ):
                raise TypeError(f"{kind} {name!r}: params_model must be a pydantic model class")
            if any(c.kind == kind and c.name == name for c in found):
                raise ValueError(f"{kind} {name!r} registered twice")
            found.append(
                Component(kind, name, record.name, record.distribution, factory, params_model)
            )

        return register

    def _fail(self, record: PluginRecord, error: str) -> None:
        record.status = "failed"
        record.error = error
        record.components = {}
        self.records.append(record)
        message = f"fxcore plugin {record.name!r} ({record.distribution}) skipped: {error}"
        if self.strict:
            raise PluginError(message)
        warnings.warn(message, PluginWarning, stacklevel=3)

    # ---------------------------------------------------------------- lookup
    def names(self, kind: str) -> list[str]:
        """Qualified names (``plugin/name``) of the components of ``kind``."""
        return sorted(self._components[kind])

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` or ``plugin/name``; a one-line error names what is installed."""
        if kind not in self._components:
            kinds = ", ".join(hookspecs.KINDS)
            raise ConfigError(f"unknown component kind {kind!r}; kinds: {kinds}")
        table = self._components[kind]
        if name in table:
            return table[name]
        matches = [c for c in table.values() if c.name == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            options = ", ".join(c.qualified_name for c in matches)
            raise ComponentNotFound(f"{kind} {name!r} is ambiguous; use one of: {options}")
        installed = ", ".join(self.names(kind)) or "none"
        hint = self._provider_hint(kind, name)
        raise ComponentNotFound(f"no {kind} named {name!r} is installed ({installed}){hint}")

    def _provider_hint(self, kind: str, name: str) -> str:
        plugin = name.split("/", 1)[0] if "/" in name else None
        for rec in self.records:
            if plugin and rec.name == plugin and rec.status != "loaded":
                why = rec.error or rec.status
                return f"; plugin {plugin!r} is installed but not loaded: {why}"
        if plugin:
            return f"; install the plugin that provides it, e.g. pip install fxcore-{plugin}"
        known = KNOWN_PROVIDERS.get((kind, name))
        return f"; it is provided by {known} (pip install {known})" if known else ""

    def validate_params(self, kind: str, spec: ComponentSpec, where: str = "") -> BaseModel | None:
        """Validate ``spec.params`` against the component's params model; errors name the field."""
        comp = self.get(kind, spec.name)
        prefix = f"{where}.params" if where else "params"
        if comp.params_model is None:
            if spec.params:
                keys = ", ".join(sorted(spec.params))
                raise ConfigError(f"{prefix}: {comp.qualified_name} takes no parameters ({keys})")
            return None
        try:
            return comp.params_model.model_validate(spec.params)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, prefix)) from None

    def create(self, kind: str, spec: ComponentSpec | str | dict[str, Any], where: str = "") -> Any:
        """Build the component of ``kind`` described by ``spec`` and check its contract."""
        if not isinstance(spec, ComponentSpec):
            spec = ComponentSpec.model_validate(spec)
        comp = self.get(kind, spec.name)
        params = self.validate_params(kind, spec, where)
        kwargs = dict(params) if params is not None else {}
        obj = comp.factory(**kwargs)
        contract = CONTRACTS[kind]
        ok = isinstance(obj, contract) or (kind == "generator" and isinstance(obj, LatentGenerator))
        if not ok:
            raise PluginError(
                f"{comp.qualified_name} built a {type(obj).__name__}, which does not follow the "
                f"{contract.__name__} contract (see fxcore.contracts)"
            )
        return obj


#: components of first-party plugins, for the "not installed" hint
KNOWN_PROVIDERS: dict[tuple[str, str], str] = {
    ("generator", "sd21"): "fxcore-sd21",
    ("generator", "biggan"): "fxcore-biggan",
    ("classifier", "timm"): "fxcore-timm",
    ("filter", "openclip"): "fxcore-openclip",
    ("labeller", "opal-milp"): "fxcore-highs",
    ("selector", "ga"): "fxcore-pymoo",
    ("selector", "tway"): "fxcore-allpairs",
    ("selector", "botorch"): "fxcore-botorch",
    ("dataset", "mnist"): "fxcore-mnist",
    ("dataset", "fashion"): "fxcore-mnist",
    **{("selector", name): "fxcore-sklearn" for name in (
        "surrogate", "rf", "lasso", "linear", "svr", "bayesian-ridge", "lasso-greedy")},
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        from fxcore import __version__

        return __version__


_PLAIN_KEY = re.compile(r"^[\w.-]+$")


def _loc_part(part: object) -> str:
    """A field-path element; user-written keys with odd characters are shown quoted."""
    text = str(part)
    return text if _PLAIN_KEY.match(text) else repr(text)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per pydantic error, each naming the full field path (``explore.budget``)."""
    lines = []
    for err in exc.errors():
        loc = ".".join(_loc_part(p) for p in err["loc"] if p not in ("function-after",))
        path = ".".join(p for p in (prefix, loc) if p) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(
            err["input"], dict | list
        ):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{path}: {msg}")
    return "; ".join(lines).replace("\n", "\\n")


_DEFAULT: Registry | None = None


def default_registry(reload: bool = False) -> Registry:
    """The process-wide registry, discovered on first use."""
    global _DEFAULT
    if _DEFAULT is None or reload:
        _DEFAULT = Registry.load()
    return _DEFAULT

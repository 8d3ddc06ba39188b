"""Plugin discovery and the component registry.

Plugins are modules named by entry points in the group ``fxcore``. A plugin's distribution may
also carry a *manifest*: one entry point per component in the group ``fxcore.components``
(``"selector.rf" = "fxcore_sklearn"``: kind, dot, name = the plugin module). The registry reads
manifests from the installed metadata and imports a plugin only when one of its components is
asked for (:meth:`Registry.get`, :meth:`~Registry.create`, :meth:`~Registry.validate_params`),
so ``fx plugins`` and a run that uses the built-ins alone start without torch, scikit-learn, ...
A plugin without a manifest is imported when the registry is built (it is the only way to
learn its components), as every plugin used to be.

Each plugin is imported and asked for its components on its own, inside ``try/except``: a broken
plugin becomes a warning and a row with its error in ``fx plugins``; everything else keeps
working. Broken means: its import raises or calls ``sys.exit``, it implements a hook fxcore does
not have (a misspelt name), a hook raises or calls ``register`` wrongly, it registers other
components than its manifest declares, its manifest is malformed, or another distribution claims
the same plugin name (then both are). The built-in components are registered through the same
hooks (as the plugin ``fxcore``), always, when the registry is built.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

from fxcore import PROJECT_NAME, hookspecs
from fxcore.errors import ComponentNotFound, ConfigError, PluginError
from fxcore.hookspecs import MANIFEST_GROUP

if TYPE_CHECKING:  # pydantic and pluggy cost start-up time; they are imported when used
    import pluggy
    from pydantic import BaseModel, ValidationError

    from fxcore.contracts import (
        Annotator,
        Classifier,
        Dataset,
        Divergence,
        Executor,
        Filter,
        Generator,
        Labeller,
        LatentGenerator,
        Selector,
    )
    from fxcore.schemas import ComponentSpec

    #: what :meth:`Registry.create` accepts: a spec, a component name, or a spec's mapping
    Spec: TypeAlias = ComponentSpec | str | dict[str, Any]

ENTRY_POINT_GROUP = "fxcore"
BUILTIN = "fxcore"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_KIND_WORDS = {"latent-generator": "latent generator"}


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


#: kind -> component names, as a plugin's manifest declares them or as it registered them
Manifest = dict[str, list[str]]


@dataclass
class PluginRecord:
    """One row of ``fx plugins``.

    ``status``: ``loaded`` (imported, its components registered), ``available`` (known from its
    manifest, not imported yet), ``failed``, ``denied`` or ``not-allowed``. ``components``: what
    it registered, or while ``available`` what its manifest declares; ``manifest``: the
    manifest, ``None`` when the distribution has none.
    """

    name: str
    distribution: str
    version: str
    module: str
    status: str = "loaded"
    error: str | None = None
    components: Manifest = field(default_factory=dict)
    manifest: Manifest | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": self.components,
            "manifest": self.manifest is not None,
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


def parse_manifest(entries: Iterable[tuple[str, str]], module: str) -> Manifest:
    """The manifest of the plugin module ``module`` from ``(name, value)`` entry points of the
    group ``fxcore.components``: ``"<kind>.<component>" = "<module>"``. Entries naming another
    module are not its; a malformed name raises ``ValueError``."""
    manifest: Manifest = {}
    for name, value in entries:
        if value.split(":", 1)[0].strip() != module.split(":", 1)[0].strip():
            continue
        kind, _, comp = name.partition(".")
        if kind not in hookspecs.HOOK_BY_KIND:
            kinds = ", ".join(hookspecs.KINDS)
            raise ValueError(f"manifest entry {name!r}: unknown kind {kind!r} (kinds: {kinds})")
        if not _NAME.match(comp):
            raise ValueError(f"manifest entry {name!r}: component name must match "
                             f"{_NAME.pattern}")
        names = manifest.setdefault(kind, [])
        if comp not in names:
            names.append(comp)
    return {k: sorted(v) for k, v in manifest.items()}


def _dist_manifest(ep: metadata.EntryPoint) -> Manifest | None:
    """The manifest of the entry point's plugin, read from its distribution's metadata (no
    import); ``None`` when the distribution has no ``fxcore.components`` entry points."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    entries = [(e.name, e.value) for e in dist.entry_points if e.group == MANIFEST_GROUP]
    if not entries:
        return None
    return parse_manifest(entries, ep.value)


def _same(a: Manifest, b: Manifest) -> bool:
    norm = lambda m: {k: sorted(v) for k, v in m.items() if v}  # noqa: E731
    return norm(a) == norm(b)


def _manifest_mismatch(registered: Manifest, manifest: Manifest) -> str:
    have = {f"{k}.{n}" for k, v in registered.items() for n in v}
    said = {f"{k}.{n}" for k, v in manifest.items() for n in v}
    parts = []
    if have - said:
        parts.append(f"registers {', '.join(sorted(have - said))} which its manifest lacks")
    if said - have:
        parts.append(f"does not register {', '.join(sorted(said - have))} which its "
                     "manifest declares")
    return ("; ".join(parts) + f" (entry-point group {MANIFEST_GROUP!r} of its pyproject; "
            "reinstall the plugin after editing it)")


def _unknown_hooks(pm: pluggy.PluginManager, module: Any) -> str | None:
    """The error when ``module`` implements a hook fxcore does not have (a misspelt name would
    otherwise register nothing, silently); ``None`` when every hook is known."""
    import pluggy

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


def _kind_word(kind: str) -> str:
    return _KIND_WORDS.get(kind, kind)


class Registry:
    """Discovered plugins and their components.

    ``Registry.load()`` discovers installed plugins; tests may pass ``modules`` (name -> module
    object) to register extra plugin modules directly, and ``entry_points`` to replace discovery.
    Plugins with a manifest are imported on first use of one of their components;
    :meth:`import_all` imports every one (``fx plugins --check``).
    """

    def __init__(self, strict: bool | None = None) -> None:
        if strict is None:
            strict = os.environ.get("FXCORE_PLUGINS_STRICT", "").lower() in {"1", "true", "yes"}
        self.strict = strict
        self.allow = _env_list("FXCORE_PLUGINS_ALLOW")
        self.deny = _env_list("FXCORE_PLUGINS_DENY") or set()
        self.records: list[PluginRecord] = []
        self._components: dict[str, dict[str, Component]] = {k: {} for k in hookspecs.KINDS}
        # kind -> qualified name -> the record of the available (not yet imported) plugin
        self._declared: dict[str, dict[str, PluginRecord]] = {k: {} for k in hookspecs.KINDS}
        self._pending: dict[int, metadata.EntryPoint] = {}  # id(record) -> its entry point
        #: plugins passed to :meth:`load` as modules (name -> module name): a worker in another
        #: process (:class:`fxcore.contracts.Executor`) imports them by name to see the same
        self.modules: dict[str, str] = {}

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
            reg.modules[name] = getattr(module, "__name__", "")
        return reg

    def _blocked(self, record: PluginRecord) -> str | None:
        """``denied`` or ``not-allowed`` when the allow/deny lists keep the plugin out."""
        keys = {record.name, record.distribution}
        if keys & self.deny:
            return "denied"
        if self.allow is not None and not keys & self.allow:
            return "not-allowed"
        return None

    def _add_entry_point(
        self, ep: metadata.EntryPoint, record: PluginRecord, claimants: set[str]
    ) -> None:
        """Register one entry point: from its manifest when it has one, else by importing it;
        ``claimants``: the allowed distributions that use its name."""
        try:
            record.manifest = _dist_manifest(ep)
            manifest_error = None
        except ValueError as exc:
            manifest_error = str(exc)
        self.records.append(record)
        blocked = self._blocked(record)
        if blocked:
            record.status = blocked
            return
        if len(claimants) > 1:  # neither loads: an impostor must not shadow the real plugin
            self._fail(record, _name_conflict(record.name, claimants))
            return
        other = next((r for r in self.records if r is not record and r.name == ep.name
                      and r.status in ("loaded", "available")), None)
        if other is not None:
            self._fail(record, f"another plugin ({other.distribution}) is already named "
                               f"{ep.name!r}")
            return
        if manifest_error:
            self._fail(record, manifest_error)
            return
        if record.manifest is not None:
            record.status = "available"
            record.components = {k: list(v) for k, v in record.manifest.items()}
            for kind, names in record.manifest.items():
                for name in names:
                    self._declared[kind][f"{record.name}/{name}"] = record
            self._pending[id(record)] = ep
            return
        self._import(record, ep)

    def _import(self, record: PluginRecord, ep: metadata.EntryPoint) -> None:
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - disables this plugin only
            self._fail(record, _one_line(exc, "at import"))
            return
        self._register(record, module)

    def _import_pending(self, record: PluginRecord) -> None:
        """Import an ``available`` plugin (one of its components is wanted)."""
        ep = self._pending.pop(id(record), None)
        if ep is None:
            return
        for table in self._declared.values():
            for qualified in [q for q, r in table.items() if r is record]:
                del table[qualified]
        self._import(record, ep)

    def import_all(self) -> Registry:
        """Import every ``available`` plugin and check it against its manifest."""
        for record in [r for r in self.records if id(r) in self._pending]:
            self._import_pending(record)
        return self

    def add_module(self, name: str, module: Any, distribution: str, version: str) -> PluginRecord:
        """Register a plugin module directly (built-ins, tests, notebooks)."""
        record = PluginRecord(
            name=name,
            distribution=distribution,
            version=version,
            module=getattr(module, "__name__", repr(module)),
        )
        self.records.append(record)
        blocked = None if name == BUILTIN else self._blocked(record)
        if blocked:
            record.status = blocked
        else:
            self._register(record, module)
        return record

    def _register(self, record: PluginRecord, module: Any) -> None:
        import pluggy

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
        registered: Manifest = {}
        for comp in found:
            registered.setdefault(comp.kind, []).append(comp.name)
        if record.manifest is not None and not _same(registered, record.manifest):
            self._fail(record, _manifest_mismatch(registered, record.manifest))
            return
        for comp in found:
            self._components[comp.kind][comp.qualified_name] = comp
        record.status = "loaded"
        record.error = None
        record.components = registered

    def _make_register(
        self, record: PluginRecord, kind: str, found: list[Component]
    ) -> Callable[..., None]:
        def register(
            name: str, factory: Callable[..., Any], params_model: type[BaseModel] | None = None
        ) -> None:
            from pydantic import BaseModel

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
        self._pending.pop(id(record), None)
        message = f"fxcore plugin {record.name!r} ({record.distribution}) skipped: {error}"
        if self.strict:
            raise PluginError(message)
        warnings.warn(message, PluginWarning, stacklevel=3)

    # ---------------------------------------------------------------- lookup
    def names(self, kind: str) -> list[str]:
        """Qualified names (``plugin/name``) of the components of ``kind``: those registered
        and those the manifests of plugins not imported yet declare."""
        return sorted({*self._components[kind], *self._declared[kind]})

    def _find(self, kind: str, name: str) -> Component | PluginRecord | None:
        """The component (or the available plugin that declares it); ``None`` when unknown."""
        loaded, declared = self._components[kind], self._declared[kind]
        if name in loaded:
            return loaded[name]
        if name in declared:
            return declared[name]
        matches: list[tuple[str, Component | PluginRecord]] = [
            (q, c) for q, c in loaded.items() if c.name == name
        ] + [(q, r) for q, r in declared.items() if q.split("/", 1)[1] == name]
        if len(matches) > 1:
            options = ", ".join(sorted(q for q, _ in matches))
            raise ComponentNotFound(f"{kind} {name!r} is ambiguous; use one of: {options}")
        return matches[0][1] if matches else None

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` or ``plugin/name``, importing the plugin that provides it if
        need be; a one-line error names what is installed."""
        if kind not in self._components:
            kinds = ", ".join(hookspecs.KINDS)
            raise ConfigError(f"unknown component kind {kind!r}; kinds: {kinds}")
        found = self._find(kind, name)
        if isinstance(found, PluginRecord):
            self._import_pending(found)
            qualified = name if "/" in name else f"{found.name}/{name}"
            if qualified in self._components[kind]:
                return self._components[kind][qualified]
            found = None
        if found is not None:
            return found
        installed = ", ".join(self.names(kind)) or "none"
        hint = self._provider_hint(kind, name)
        raise ComponentNotFound(
            f"no {_kind_word(kind)} named {name!r} is installed ({installed}){hint}")

    def _provider_hint(self, kind: str, name: str) -> str:
        """Why ``kind`` ``name`` is missing, from installed metadata (never a list in code)."""
        plugin, _, bare = name.rpartition("/")
        for rec in self.records:
            if rec.status in ("loaded", "available"):
                continue
            declares = rec.manifest is not None and bare in rec.manifest.get(kind, [])
            if (plugin and rec.name == plugin) or (not plugin and declares):
                why = rec.error or rec.status
                what = "provides it but is" if declares else "is installed but"
                return f"; plugin {rec.name!r} ({rec.distribution}) {what} not loaded: {why}"
        for other in hookspecs.KINDS:
            if other == kind:
                continue
            try:
                hit = self._find(other, name)
            except ComponentNotFound:
                hit = None
            if hit is not None:
                qualified = (hit.qualified_name if isinstance(hit, Component)
                             else name if plugin else f"{hit.name}/{name}")
                why = (" (fx explore renders with a generator, fx mds optimises the latent of a "
                       "latent generator)" if {kind, other} == {"generator", "latent-generator"}
                       else " (see fx plugins)")
                return f"; {qualified} is a {_kind_word(other)}, not a {_kind_word(kind)}{why}"
        return "; " + repository_hint(kind, bare, plugin or None)

    def validate_params(self, kind: str, spec: ComponentSpec, where: str = "") -> BaseModel | None:
        """Validate ``spec.params`` against the component's params model; errors name the field."""
        from pydantic import ValidationError

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

    @overload
    def create(self, kind: Literal["generator"], spec: Spec, where: str = "") -> Generator: ...
    @overload
    def create(
        self, kind: Literal["latent-generator"], spec: Spec, where: str = ""
    ) -> LatentGenerator: ...
    @overload
    def create(self, kind: Literal["filter"], spec: Spec, where: str = "") -> Filter: ...
    @overload
    def create(self, kind: Literal["classifier"], spec: Spec, where: str = "") -> Classifier: ...
    @overload
    def create(self, kind: Literal["selector"], spec: Spec, where: str = "") -> Selector: ...
    @overload
    def create(self, kind: Literal["divergence"], spec: Spec, where: str = "") -> Divergence: ...
    @overload
    def create(self, kind: Literal["labeller"], spec: Spec, where: str = "") -> Labeller: ...
    @overload
    def create(self, kind: Literal["annotator"], spec: Spec, where: str = "") -> Annotator: ...
    @overload
    def create(self, kind: Literal["dataset"], spec: Spec, where: str = "") -> Dataset: ...
    @overload
    def create(self, kind: Literal["executor"], spec: Spec, where: str = "") -> Executor: ...

    def create(self, kind: str, spec: Spec, where: str = "") -> Any:
        """Build the component of ``kind`` described by ``spec`` and check its contract; the
        return type is the kind's contract (:data:`fxcore.contracts.CONTRACTS`)."""
        from fxcore.contracts import CONTRACTS
        from fxcore.schemas import ComponentSpec

        if not isinstance(spec, ComponentSpec):
            spec = ComponentSpec.model_validate(spec)
        comp = self.get(kind, spec.name)
        params = self.validate_params(kind, spec, where)
        kwargs = dict(params) if params is not None else {}
        obj = comp.factory(**kwargs)
        contract = CONTRACTS[kind]
        if not isinstance(obj, contract):
            raise PluginError(
                f"{comp.qualified_name} built a {type(obj).__name__}, which does not follow the "
                f"{contract.__name__} contract (see fxcore.contracts)"
            )
        return obj


def repository_hint(kind: str, name: str, plugin: str | None = None) -> str:
    """How to get a component no installed plugin provides: the plugin of this repository's
    ``plugins/`` folder whose manifest declares it (read from its ``pyproject.toml``; the kernel
    keeps no list of plugins), else the generic advice."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "plugins"
    other_kind = None
    for pyproject in sorted(root.glob("*/pyproject.toml")) if root.is_dir() else []:
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (OSError, ValueError):
            continue
        eps = project.get("entry-points", {})
        plugins, declared = eps.get(ENTRY_POINT_GROUP, {}), eps.get(MANIFEST_GROUP, {})
        if plugin is not None and plugin not in plugins:
            continue
        dist = project.get("name", pyproject.parent.name)
        install = f"pip install -e {pyproject.parent}"
        if f"{kind}.{name}" in declared or (plugin is not None and not declared):
            return f"the plugin {dist} in this repository provides it: {install}"
        kinds = [k for k, _, n in (e.partition(".") for e in declared) if n == name]
        if kinds and other_kind is None:
            other_kind = (f"the plugin {dist} in this repository has a {_kind_word(kinds[0])} "
                          f"named {name!r}, not a {_kind_word(kind)}")
    if other_kind:
        return other_kind
    what = f"plugin {plugin!r}" if plugin else "a plugin that provides it"
    return (f"no installed plugin provides it: install {what} (fxcore's own plugins are in the "
            "plugins/ folder of its repository: pip install -e plugins/fxcore-<name>); "
            "fx plugins lists what is installed")


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

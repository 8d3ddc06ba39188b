"""The reproducibility block of every report: what produced a run.

While a job runs, :func:`record` writes ``RUN/provenance.json``: the command line, and for each
component the config named (``classifiers.0``, ``selector``, ...) the name it resolved to, its
plugin's distribution and version, its params, its device and the sha256 of any params that
name a file (a checkpoint); also fxcore's, Python's and torch's versions and the device. A
resumed run appends one session per process.

When a report is written, :func:`provenance` reads that file with ``run.json`` (config hash,
input files' sha256, created / finished) and ``config.json`` (the snapshot, its seed), and adds
the summary's seconds per step. Runs made before ``provenance.json`` existed still get a block:
the components come from the config and the versions from what is installed now (marked so).
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from fxcore import __version__

FILE = "provenance.json"
#: params that name files are hashed up to this size (bigger ones: size only)
MAX_HASH_BYTES = 2 << 30


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _file_params(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{param: {"path", "sha256" | "bytes"}}`` of the params that name an existing file."""
    from fxcore.store import file_sha256

    out: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        if not isinstance(value, str) or len(value) > 4096 or "\n" in value:
            continue
        try:
            path = Path(value).expanduser()
            if not path.is_file():
                continue
            size = path.stat().st_size
            entry: dict[str, Any] = {"path": str(path), "bytes": size}
            if size <= MAX_HASH_BYTES:
                entry["sha256"] = file_sha256(path)
        except OSError:
            continue
        out[key] = entry
    return out


def _torch() -> dict[str, Any]:
    """torch's version and device, only when the run imported torch (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"torch": None, "device": "cpu (torch not loaded)"}
    info: dict[str, Any] = {"torch": str(getattr(torch, "__version__", "?"))}
    try:
        if torch.cuda.is_available():
            k = torch.cuda.current_device()
            info["device"] = f"cuda:{k} ({torch.cuda.get_device_name(k)})"
        else:
            info["device"] = "cpu"
        info["threads"] = torch.get_num_threads()
    except Exception as exc:  # noqa: BLE001 - a broken CUDA set-up must not fail the run
        info["device"] = f"unknown ({type(exc).__name__})"
    return info


def component_entry(where: str, kind: str, spec: Any, obj: Any = None,
                    registry: Any = None, given: bool = False) -> dict[str, Any]:
    """What the reproducibility block says about one component."""
    name = getattr(spec, "name", str(spec))
    params = dict(getattr(spec, "params", {}) or {})
    entry: dict[str, Any] = {"field": where, "kind": kind, "name": name, "params": params}
    if given:
        entry.update(qualified_name=f"given {type(obj).__name__}", plugin=None,
                     distribution=None, version=None)
    else:
        entry.update(_resolve(kind, name, registry))
    device = getattr(obj, "device", None) if obj is not None else None
    if device is not None:
        entry["device"] = str(device)
    for attr in ("model_id", "checkpoint", "weights"):
        value = getattr(obj, attr, None) if obj is not None else None
        if isinstance(value, (str, Path)):
            entry[attr] = str(value)
    files = _file_params(params)
    if files:
        entry["files"] = files
    return entry


def _resolve(kind: str, name: str, registry: Any) -> dict[str, Any]:
    """plugin, distribution and version of component ``name`` (from the registry when there is
    one, else from the installed entry points by the ``plugin/`` prefix)."""
    if registry is not None:
        try:
            comp = registry.get(kind, name)
            record = next((r for r in registry.records if r.name == comp.plugin), None)
            return {"qualified_name": comp.qualified_name, "plugin": comp.plugin,
                    "distribution": comp.distribution,
                    "version": (record.version if record and record.version else None)
                    or _version(comp.distribution)}
        except Exception:  # noqa: BLE001 - fall back to the installed entry points
            pass
    return installed(name)


def installed(name: str) -> dict[str, Any]:
    """plugin / distribution / version of ``plugin/name`` as installed now (no import)."""
    if "/" not in name:
        return {"qualified_name": name, "plugin": None, "distribution": "fxcore",
                "version": __version__}
    plugin = name.split("/", 1)[0]
    for ep in metadata.entry_points(group="fxcore"):
        if ep.name == plugin and ep.dist is not None:
            return {"qualified_name": name, "plugin": plugin, "distribution": ep.dist.name,
                    "version": ep.dist.version}
    return {"qualified_name": name, "plugin": plugin, "distribution": None, "version": None}


def _at(config: Any, path: str) -> Any:
    value = config
    for part in path.split("."):
        value = getattr(value, part, None) if not isinstance(value, dict) else value.get(part)
        if value is None:
            return None
    return value


def config_components(config: Any, fields: Mapping[str, str]) -> Iterator[tuple[str, str, Any]]:
    """``(where, kind, spec)`` of every component a config names (``classifiers.0``, ...)."""
    for path, kind in fields.items():
        value = _at(config, path)
        if value is None:
            continue
        if isinstance(value, list):
            for k, spec in enumerate(value):
                yield f"{path}.{k}", kind, spec
        else:
            yield path, kind, value


def session(command: list[str] | None = None) -> dict[str, Any]:
    """This process: command line, versions, device, when."""
    return {
        "command": shlex.join(command if command is not None else sys.argv),
        "fxcore": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        **_torch(),
        "at": time.time(),
    }


def record(run_dir: Path, config: Any, made: Mapping[str, tuple[str, Any, Any, bool]],
           registry: Any) -> None:
    """Write (or extend) ``RUN/provenance.json`` after a session of the run; never fails the
    run (a problem is written into the file instead)."""
    from fxcore.store import write_atomic

    path = Path(run_dir) / FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        old = {}
    try:
        fields = dict(getattr(type(config), "component_fields", {}))
        components = []
        for where, kind, spec in config_components(config, fields):
            kind_made, _, obj, given = made.get(where, (kind, spec, None, False))
            components.append(component_entry(where, kind_made, spec, obj, registry, given))
        data: dict[str, Any] = {"components": components}
    except Exception as exc:  # noqa: BLE001 - provenance is a report aid, not the run
        data = {"components": old.get("components", []),
                "error": f"{type(exc).__name__}: {exc}"}
    data["sessions"] = [*old.get("sessions", []), session()]
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def _seconds(summary: Mapping[str, Any]) -> dict[str, float]:
    sec = summary.get("seconds")
    if isinstance(sec, dict):
        return {str(k): float(v) for k, v in sec.items() if isinstance(v, (int, float))}
    if isinstance(sec, (int, float)):
        return {"total": float(sec)}
    return {}


def _walk_specs(data: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Component specs (``{"name", "params"}`` objects) anywhere in a config snapshot."""
    if isinstance(data, dict):
        if set(data) == {"name", "params"} and isinstance(data["name"], str):
            yield where, data
            return
        for k, v in data.items():
            yield from _walk_specs(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for k, v in enumerate(data):
            yield from _walk_specs(v, f"{where}.{k}")


def provenance(run_dir: str | Path) -> dict[str, Any]:
    """The reproducibility block of the run in ``run_dir`` (see the module doc)."""
    run_dir = Path(run_dir)
    info = _read_json(run_dir / "run.json") or {}
    config = _read_json(run_dir / "config.json")
    saved = _read_json(run_dir / FILE) or {}
    summary = info.get("summary") or {}
    components = saved.get("components")
    recorded = components is not None
    if components is None:
        components = []
        for where, spec in _walk_specs(config or {}):
            kind = where.split(".")[-2] if where.split(".")[-1].isdigit() else where
            components.append({"field": where, "kind": kind.rstrip("s"), "name": spec["name"],
                               "params": spec["params"], **installed(spec["name"]),
                               **({"files": f} if (f := _file_params(spec["params"])) else {})})
    if isinstance(config, dict) and isinstance(config.get("classifiers"), list) and all(
            isinstance(c, str) for c in config["classifiers"]):  # fx label --table's models
        sk = _version("scikit-learn")
        for k, c in enumerate(config["classifiers"]):
            components.append({"field": f"classifiers.{k}", "kind": "classifier", "name": c,
                               "params": {}, "qualified_name": f"tabular {c}", "plugin": None,
                               "distribution": "scikit-learn", "version": sk})
    sessions = saved.get("sessions") or []
    created, finished = info.get("created"), info.get("finished")
    return {
        "job": info.get("job"),
        "run_dir": str(run_dir.resolve()),
        "run_id": info.get("run_id"),
        "status": info.get("status"),
        "config_hash": info.get("config_hash"),
        "config": config,
        "config_json": json.dumps(config, indent=2, sort_keys=True) if config else None,
        "seed": config.get("seed") if isinstance(config, dict) else None,
        "components": components,
        "components_recorded": recorded,
        "inputs": info.get("inputs") or {},
        "fxcore_version_run": info.get("fxcore_version"),
        "fxcore_version_report": __version__,
        "sessions": sessions,
        "command": sessions[-1]["command"] if sessions else None,
        "device": sessions[-1].get("device") if sessions else None,
        "created": _when(created),
        "finished": _when(finished),
        "wall_seconds": (float(finished) - float(created))
        if isinstance(created, (int, float)) and isinstance(finished, (int, float)) else None,
        "seconds": _seconds(summary),
    }


def _when(t: Any) -> str | None:
    if not isinstance(t, (int, float)):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

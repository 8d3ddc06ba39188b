"""Annotators: who answers "ask a person" (contract :class:`fxcore.contracts.Annotator`).

- ``simulate``: the ground truth (for benchmarks), optionally with a label-noise rate.
- ``file``: a file round trip. The queue is exported as ``queue.csv``, ``queue.json`` and Label
  Studio tasks (``label-studio-tasks.json`` with the classifiers' predictions as
  pre-annotations, plus ``label-studio-config.xml``); answers are read from ``answers.csv`` or
  ``answers.json`` (a mapping, a list of ``{item, label}``, or Label Studio's JSON export) and
  from ``answers``, files of any name (``fx label ... --answers FILE``: ``.csv`` as CSV, else
  JSON). A Label Studio task's id is the item's position in the run (1-based), the same in every
  round, so one Label Studio project can take every round's tasks. Items not answered yet come
  back as ``None``; ``fx label ... --resume`` continues later.
- ``prompt``: an interactive terminal prompt (Enter accepts the classifiers' suggestion).

Before its first question the pipeline calls ``attach(context)`` with the items' ids, class
names, ground truth (when known), images or table rows, probabilities and the run's folder.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fxcore.errors import ConfigError, RunError
from fxcore.files import read_text_file
from fxcore.store import write_atomic


@dataclass
class AnnotationContext:
    """What an annotator may need to know about the items (set by the pipeline)."""

    item_ids: list[str]
    classes: list[str]
    folder: Path
    truth: np.ndarray | None = None
    images: Any = None  # (N, C, H, W) tensor/array in [0, 1], or None for a table
    rows: list[dict[str, Any]] | None = None  # table rows (feature values) for a table
    probs: np.ndarray | None = None  # (M, N, C) once the classifiers are fine-tuned
    classifier_names: list[str] = field(default_factory=list)
    #: ``record(item, label)``: journal one answer now (a person's answer survives a crash
    #: even before ``annotate`` returns); set by the pipeline
    record: Callable[[str, int], None] | None = None
    #: ``retract(item)``: take back an answer given through ``record`` that the run has not
    #: used yet (journaled as a retraction line); set by the pipeline
    retract: Callable[[str], None] | None = None
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {item: i for i, item in enumerate(self.item_ids)}


def parse_label(value: Any, classes: Sequence[str], where: str) -> int:
    """A class name or index -> class index; anything else is an error naming ``where``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: label {value!r} is not a class")
    if isinstance(value, int | np.integer) and 0 <= int(value) < len(classes):
        return int(value)
    text = str(value).strip()
    if text in classes:
        return list(classes).index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes) and text not in classes:
        return int(text)
    shown = ", ".join(classes[:12]) + (", …" if len(classes) > 12 else "")
    raise ConfigError(f"{where}: label {value!r} is not one of the classes ({shown}) "
                      f"or a class index 0..{len(classes) - 1}")


# --------------------------------------------------------------------------------- simulate
class SimulateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_rate: float = Field(0.0, ge=0, lt=1, description="chance of a wrong (random) label")
    seed: int = Field(0, ge=0)


class SimulatedAnnotator:
    """Answers with the ground truth; with ``error_rate`` a random other class instead."""

    def __init__(self, error_rate: float = 0.0, seed: int = 0) -> None:
        self.error_rate = error_rate
        self.seed = seed
        self.context: AnnotationContext | None = None

    def attach(self, context: AnnotationContext) -> None:
        if context.truth is None:
            raise ConfigError("annotator: 'simulate' needs ground-truth labels, and the data "
                              "has none (use the 'file' or 'prompt' annotator)")
        self.context = context

    def annotate(
        self, item_ids: Sequence[str], suggestions: np.ndarray | None = None
    ) -> list[int | None]:
        if self.context is None or self.context.truth is None:
            raise RunError("simulate annotator used before attach()")
        ctx, truth = self.context, self.context.truth
        idx = np.array([ctx.index[i] for i in item_ids], dtype=np.int64)
        labels = truth[idx].astype(np.int64)
        if self.error_rate > 0 and len(idx):
            # per-item seed: the same item always gets the same (possibly wrong) answer
            wrong = np.array([np.random.default_rng([self.seed, int(i)]).random() < self.error_rate
                              for i in idx])
            shift = np.array([np.random.default_rng([self.seed, int(i), 1]).integers(
                1, len(ctx.classes)) for i in idx])
            labels = np.where(wrong, (labels + shift) % len(ctx.classes), labels)
        return [int(v) for v in labels]


# --------------------------------------------------------------------------------- file
class FileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: Path | None = Field(None, description="default: RUN_DIR/artefacts/annotation")
    formats: list[str] = Field(default_factory=lambda: ["csv", "json", "label-studio"])
    answers: list[Path] = Field(
        default_factory=list, description="answer files of any name besides answers.csv/.json "
        "(fx label --answers FILE): .csv as CSV, anything else as JSON (e.g. Label Studio's "
        "export)")


EXPORT_FORMATS = ("csv", "json", "label-studio")


class FileAnnotator:
    """Export the queue, import answers; see the module docstring for the formats."""

    def __init__(self, folder: Path | None = None, formats: list[str] | None = None,
                 answers: Sequence[str | Path] = ()) -> None:
        self.formats = formats or list(EXPORT_FORMATS)
        self.answers = [Path(a) for a in answers]
        bad = sorted(set(self.formats) - set(EXPORT_FORMATS))
        if bad:
            raise ConfigError(f"annotator.params.formats: unknown {bad} (use {EXPORT_FORMATS})")
        self._folder = folder
        self.context: AnnotationContext | None = None
        self.last_export: list[Path] = []

    @property
    def folder(self) -> Path:
        if self._folder is not None:
            return Path(self._folder)
        if self.context is None:
            raise RunError("file annotator used before attach()")
        return self.context.folder / "annotation"

    def attach(self, context: AnnotationContext) -> None:
        self.context = context

    @property
    def answer_files(self) -> list[Path]:
        names = ("answers.csv", "answers.json")
        found = [self.folder / n for n in names if (self.folder / n).exists()]
        for path in self.answers:
            if not path.is_file():
                raise ConfigError(f"--answers {path}: no such file")
            if not any(path.resolve() == f.resolve() for f in found):
                found.append(path)
        return found

    def read_answers(self) -> dict[str, int]:
        """All answers in the answer files; a bad row is an error naming file and line, and two
        different answers for one item (in one file or two) an error naming both places."""
        ctx = self.context
        if ctx is None:
            raise RunError("file annotator used before attach()")
        out: dict[str, int] = {}
        said: dict[str, str] = {}  # item -> where its answer was read
        for path in self.answer_files:
            rows = _read_csv_answers(path) if path.suffix == ".csv" else _read_json_answers(path)
            for where, item, value in rows:
                if item not in ctx.index:
                    raise ConfigError(f"{where}: item {item!r} is not an item of this run "
                                      "(answers for another run or data set?)")
                if value is None or str(value).strip() == "":
                    continue
                label = parse_label(value, ctx.classes, where)
                if item in out and out[item] != label:
                    raise ConfigError(
                        f"conflicting answers for item {item!r}: {said[item]} says "
                        f"{ctx.classes[out[item]]!r}, {where} says {ctx.classes[label]!r}; "
                        "keep one of them")
                out[item], said[item] = label, where
        return out

    def annotate(
        self, item_ids: Sequence[str], suggestions: np.ndarray | None = None
    ) -> list[int | None]:
        answers = self.read_answers()
        result: list[int | None] = [answers.get(i) for i in item_ids]
        missing = [i for i, r in zip(item_ids, result, strict=True) if r is None]
        if missing:
            self.export(missing)
        return result

    # ---------------------------------------------------------------- export
    def export(self, item_ids: Sequence[str]) -> list[Path]:
        """Write the queue in every format of ``formats``; returns the files written."""
        ctx = self.context
        if ctx is None:
            raise RunError("file annotator used before attach()")
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        rows = [self._row(i) for i in item_ids]
        written = []
        if "csv" in self.formats:
            written.append(_write_csv(folder / "queue.csv", rows, ctx))
        if "json" in self.formats:
            path = folder / "queue.json"
            write_atomic(path, json.dumps({"classes": ctx.classes, "items": rows}, indent=1))
            written.append(path)
        if "label-studio" in self.formats:
            written.extend(self._export_label_studio(item_ids, rows))
        self.last_export = written
        return written

    def _row(self, item: str) -> dict[str, Any]:
        ctx = self.context
        assert ctx is not None
        i = ctx.index[item]
        row: dict[str, Any] = {"item": item, "label": ""}
        if ctx.probs is not None:
            for k, name in enumerate(ctx.classifier_names or range(len(ctx.probs))):
                p = ctx.probs[k, i]
                row[f"suggestion_{name}"] = ctx.classes[int(np.argmax(p))]
                row[f"confidence_{name}"] = round(float(np.max(p)), 4)
        if ctx.rows is not None:
            row.update({f"feature_{k}": v for k, v in ctx.rows[i].items()})
        return row

    def _export_label_studio(
        self, item_ids: Sequence[str], rows: list[dict[str, Any]]
    ) -> list[Path]:
        ctx = self.context
        assert ctx is not None
        tasks = []
        for item, row in zip(item_ids, rows, strict=True):
            i = ctx.index[item]
            data: dict[str, Any] = {"item": item}
            if ctx.images is not None:
                data["image"] = _png_data_uri(ctx.images[i])
            else:
                data["text"] = ", ".join(f"{k[8:]}={v}" for k, v in row.items()
                                         if k.startswith("feature_"))
            predictions = []
            if ctx.probs is not None:
                for k, name in enumerate(ctx.classifier_names or range(len(ctx.probs))):
                    p = ctx.probs[k, i]
                    predictions.append({
                        "model_version": str(name),
                        "score": round(float(np.max(p)), 4),
                        "result": [{
                            "from_name": "label",
                            "to_name": "image" if ctx.images is not None else "text",
                            "type": "choices",
                            "value": {"choices": [ctx.classes[int(np.argmax(p))]]},
                        }],
                    })
            # the id is the item's place in the run: the same task id in every round
            tasks.append({"id": i + 1, "data": data, "predictions": predictions})
        folder = self.folder
        tasks_path = folder / "label-studio-tasks.json"
        write_atomic(tasks_path, json.dumps(tasks))
        tag = ('<Image name="image" value="$image"/>' if ctx.images is not None
               else '<Text name="text" value="$text"/>')
        to = "image" if ctx.images is not None else "text"
        choices = "\n".join(f'    <Choice value="{_xml(c)}"/>' for c in ctx.classes)
        xml = (f'<View>\n  {tag}\n  <Choices name="label" toName="{to}" choice="single">\n'
               f"{choices}\n  </Choices>\n</View>\n")
        config_path = folder / "label-studio-config.xml"
        write_atomic(config_path, xml)
        return [tasks_path, config_path]


def _xml(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _png_data_uri(image: Any) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import image as mpimg

    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    arr = np.clip(arr.astype(np.float32), 0, 1)
    arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    buf = io.BytesIO()
    mpimg.imsave(buf, arr, cmap="gray", vmin=0, vmax=1, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _write_csv(path: Path, rows: list[dict[str, Any]], ctx: AnnotationContext) -> Path:
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["item", "label"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())
    return path


def _read_csv_answers(path: Path) -> list[tuple[str, str, Any]]:
    text = read_text_file(path, "answer file")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if "item" not in header or "label" not in header:
        raise ConfigError(f"{path}: line 1: the header must have the columns 'item' and 'label' "
                          f"(got {header})")
    out = []
    for row in reader:
        where = f"{path}: line {reader.line_num}"
        if None in row or row.get("item") is None:
            raise ConfigError(f"{where}: the row does not have as many fields as the header")
        out.append((where, str(row["item"]).strip(), row["label"]))
    return out


def _read_json_answers(path: Path) -> list[tuple[str, str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not valid JSON: {first}") from None
    if isinstance(data, dict) and "items" in data:
        data = data["items"]
    if isinstance(data, dict):
        return [(f"{path}: key {k!r}", str(k), v) for k, v in data.items()]
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a mapping item -> label, a list of {{item, label}} "
                          "or a Label Studio export")
    out = []
    for n, entry in enumerate(data):
        where = f"{path}: entry {n}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected an object, got {type(entry).__name__}")
        if "annotations" in entry or "data" in entry:  # Label Studio export
            item = (entry.get("data") or {}).get("item")
            if item is None:
                raise ConfigError(f"{where}: Label Studio task without data.item")
            out.append((where, str(item), _label_studio_choice(entry, where)))
        elif "item" in entry:
            out.append((where, str(entry["item"]), entry.get("label")))
        else:
            raise ConfigError(f"{where}: an answer needs 'item' and 'label'")
    return out


def _label_studio_choice(task: dict[str, Any], where: str) -> str | None:
    """The choice of the last annotation that was not cancelled (``None``: not answered)."""
    for ann in reversed(task.get("annotations") or []):
        if ann.get("was_cancelled"):
            continue
        for res in ann.get("result") or []:
            choices = (res.get("value") or {}).get("choices")
            if choices:
                if len(choices) != 1:
                    raise ConfigError(f"{where}: expected one choice, got {choices}")
                return str(choices[0])
    return None


# --------------------------------------------------------------------------------- prompt
class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    show_image: bool = Field(True, description="draw the image in the terminal as text")


_SHADES = " .:-=+*#%@"


def ascii_image(image: Any, width: int = 28) -> str:
    """A grey rendering of an image ``(C, H, W)`` as text, two characters per pixel."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    grey = np.asarray(arr, dtype=np.float32).mean(axis=0)
    step = max(1, int(np.ceil(grey.shape[1] / width)))
    grey = grey[::step, ::step]
    idx = np.clip((grey * (len(_SHADES) - 1)).round().astype(int), 0, len(_SHADES) - 1)
    return "\n".join("".join(_SHADES[v] * 2 for v in row) for row in idx)


class PromptAnnotator:
    """Asks in the terminal: a class name or index; Enter takes the suggestion; ``s`` skips
    (the item stays queued for a resumed run); ``q`` stops asking."""

    def __init__(self, show_image: bool = True, stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> None:
        self.show_image = show_image
        self.stdin = stdin
        self.stdout = stdout
        self.context: AnnotationContext | None = None

    def attach(self, context: AnnotationContext) -> None:
        self.context = context

    def annotate(
        self, item_ids: Sequence[str], suggestions: np.ndarray | None = None
    ) -> list[int | None]:
        ctx = self.context
        if ctx is None:
            raise RunError("prompt annotator used before attach()")
        fin, fout = self.stdin or sys.stdin, self.stdout or sys.stdout
        out: list[int | None] = [None] * len(item_ids)
        classes = ctx.classes
        menu = "  ".join(f"{k}:{c}" for k, c in enumerate(classes))
        for n, item in enumerate(item_ids):
            i = ctx.index[item]
            default = None
            if suggestions is not None and len(suggestions[n]):
                votes = np.bincount(np.asarray(suggestions[n], dtype=np.int64),
                                    minlength=len(classes))
                default = int(np.argmax(votes))
            while True:
                print(f"\n[{n + 1}/{len(item_ids)}] item {item}", file=fout)
                if self.show_image and ctx.images is not None:
                    print(ascii_image(ctx.images[i]), file=fout)
                if ctx.rows is not None:
                    print(", ".join(f"{k}={v}" for k, v in ctx.rows[i].items()), file=fout)
                print(menu, file=fout)
                hint = f" [Enter = {classes[default]}]" if default is not None else ""
                print(f"label{hint} (s skip, q quit): ", end="", file=fout, flush=True)
                line = fin.readline()
                if line == "":  # end of input: stop asking
                    return out
                text = line.strip()
                if text == "q":
                    return out
                if text == "s":
                    break
                if text == "" and default is not None:
                    out[n] = default
                else:
                    try:
                        out[n] = parse_label(text, classes, "answer")
                    except ConfigError as exc:
                        print(str(exc), file=fout)
                        continue
                if ctx.record is not None:
                    ctx.record(item, int(out[n]))  # type: ignore[arg-type]
                break
        return out

"""Your own images as label items: a folder (ImageFolder layout or flat) or a CSV of paths.

- ``folder``: one subfolder per class, the images inside it (any depth) labelled with the
  subfolder's name — torchvision's ImageFolder layout; or the images directly in the folder,
  unlabelled. Hidden files and files that are not images (by extension) are skipped.
- ``csv``: a header row with ``path`` (relative to the CSV's folder, or absolute) and optionally
  ``label`` (a class name or index); every row labelled, or none.

Images are read with Pillow, converted to RGB (``channels = 3``) or grey (``1``), resized to
``size`` when given (else they must all have the first image's size) and returned as float32
``(N, channels, H, W)`` in [0, 1]. Every problem is one :class:`ConfigError` line naming the file.
Item ids are the images' paths as written (relative to the folder, or the CSV's ``path``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fxcore.errors import ConfigError
from fxcore.files import read_csv_rows

#: file extensions read as images (lower case)
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class Listing:
    """The images found: ``ids`` (as the user names them), ``paths`` and ``labels`` (label
    names, or ``None`` for unlabelled data)."""

    ids: list[str]
    paths: list[Path]
    labels: list[str] | None
    where: str


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in EXTENSIONS


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def list_folder(folder: Path) -> Listing:
    """The images of ``folder``: class subfolders (labelled) or flat (unlabelled)."""
    where = f"data.folder {folder}"
    if not folder.is_dir():
        raise ConfigError(f"{where}: no such folder" if not folder.exists()
                          else f"{where}: not a folder")
    try:
        entries = _visible(folder)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot list it ({exc.strerror or exc})") from None
    subdirs = [p for p in entries if p.is_dir()]
    flat = [p for p in entries if _is_image(p)]
    if subdirs and flat:
        raise ConfigError(f"{where}: holds both images ({flat[0].name}) and subfolders "
                          f"({subdirs[0].name}); use one subfolder per class, or images only")
    ids: list[str] = []
    paths: list[Path] = []
    labels: list[str] | None = None
    if subdirs:
        labels = []
        for sub in subdirs:
            found = sorted(p for p in sub.rglob("*") if _is_image(p)
                           and not any(part.startswith(".") for part in p.relative_to(sub).parts))
            for p in found:
                ids.append(p.relative_to(folder).as_posix())
                paths.append(p)
                labels.append(sub.name)
    else:
        for p in flat:
            ids.append(p.name)
            paths.append(p)
    if not ids:
        raise ConfigError(f"{where}: no images in it (looked for {', '.join(EXTENSIONS)})")
    return Listing(ids, paths, labels, where)


def list_csv(path: Path) -> Listing:
    """The images a CSV lists (``path`` column, optional ``label``)."""
    where = f"data.csv {path}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file" if not path.exists() else f"{where}: not a file")
    rows = read_csv_rows(path, where)
    if not rows:
        raise ConfigError(f"{where}: empty; it needs a header row with path (and label)")
    header = [c.strip() for c in rows[0]]
    unknown = [c for c in header if c not in ("path", "label")]
    if "path" not in header or unknown or len(set(header)) != len(header):
        raise ConfigError(f"{where}: the header must be path or path,label, got "
                          f"{','.join(header)}")
    col = {name: header.index(name) for name in header}
    if len(rows) == 1:
        raise ConfigError(f"{where}: no rows below the header")
    ids: list[str] = []
    paths: list[Path] = []
    labels: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigError(f"{where}: row {line} has {len(row)} values, the header "
                              f"{len(header)}")
        name = row[col["path"]].strip()
        if not name:
            raise ConfigError(f"{where}: row {line} has an empty path")
        if name in seen:
            raise ConfigError(f"{where}: row {line} repeats {name!r} (row {seen[name]})")
        seen[name] = line
        file = Path(name).expanduser()
        ids.append(name)
        paths.append(file if file.is_absolute() else path.parent / file)
        if "label" in col:
            labels.append(row[col["label"]].strip())
    given = [bool(x) for x in labels]
    if any(given) and not all(given):
        line = given.index(False) + 2
        raise ConfigError(f"{where}: row {line} has no label while others have one; label "
                          "every row, or none (a person then labels them)")
    return Listing(ids, paths, labels if labels and all(given) else None, where)


def label_indices(listing: Listing, classes: list[str]) -> np.ndarray | None:
    """The listing's labels as class indices; an unknown label is an error naming its file.
    A CSV label may also be a class index when no class has that name."""
    if listing.labels is None:
        return None
    index = {c: i for i, c in enumerate(classes)}
    out = np.empty(len(listing.labels), dtype=np.int64)
    shown = ", ".join(classes[:12]) + (", …" if len(classes) > 12 else "")
    for k, (item, label) in enumerate(zip(listing.ids, listing.labels, strict=True)):
        if label in index:
            out[k] = index[label]
        elif listing.where.startswith("data.csv") and label.isdigit() \
                and int(label) < len(classes):
            out[k] = int(label)
        else:
            what = ("the subfolder" if listing.where.startswith("data.folder")
                    else "the label")
            raise ConfigError(f"{listing.where}: {item}: {what} {label!r} is not one of the "
                              f"classes ({shown}); rename it, or set data.classes")
    return out


def read_images(paths: list[Path], ids: list[str], where: str, channels: int = 3,
                size: int | tuple[int, int] | None = None) -> np.ndarray:
    """float32 ``(N, channels, H, W)`` in [0, 1] of the image files (see the module doc)."""
    from PIL import Image, UnidentifiedImageError

    target = (size, size) if isinstance(size, int) else size
    mode = "RGB" if channels == 3 else "L"
    out: np.ndarray | None = None
    first = ""
    for k, (path, item) in enumerate(zip(paths, ids, strict=True)):
        try:
            with Image.open(path) as img:
                img.load()
                pic = img.convert(mode)
        except FileNotFoundError:
            raise ConfigError(f"{where}: {item}: no such file ({path})") from None
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            reason = str(exc).split("\n")[0] or type(exc).__name__
            raise ConfigError(f"{where}: {item}: not a readable image ({reason})") from None
        h, w = pic.height, pic.width
        if target is not None and (h, w) != target:
            pic = pic.resize((target[1], target[0]), Image.Resampling.BILINEAR)
        elif target is None and out is not None and (h, w) != out.shape[-2:]:
            h0, w0 = out.shape[-2:]
            raise ConfigError(f"{where}: {item} is {h}×{w} (H×W) but {first} is {h0}×{w0}; set "
                              f"data.size = [H, W] to resize every image")
        arr = np.asarray(pic, dtype=np.uint8)
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if out is None:
            out = np.empty((len(paths), *arr.shape), dtype=np.float32)
            first = item
        out[k] = arr / np.float32(255.0)
    assert out is not None
    return out

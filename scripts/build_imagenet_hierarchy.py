#!/usr/bin/env python3
"""Build ``fxcore/data/imagenet_hierarchy.json`` from WordNet 3.0.

The output holds every WordNet noun synset on a hypernym path from one of the 1000 ImageNet-1k
classes up to the root ``entity`` (n00001740), with all its parents (hypernyms ``@`` and
instance hypernyms ``@i``; WordNet is a DAG) and its lemma names, plus the class list in
ImageNet index order. Nothing else from WordNet is kept, so the file stays small.

Usage::

    python scripts/build_imagenet_hierarchy.py [--synsets imagenet_synsets.txt]
        [--wordnet /usr/share/wordnet/data.noun] [--out fxcore/data/imagenet_hierarchy.json]

The synset list (one ImageNet id per line, in class-index order) ships in the timm wheel as
``timm/data/_info/imagenet_synsets.txt``; without ``--synsets`` it is taken from an importable
timm. WordNet 3.0 comes with Debian's ``wordnet-base`` package. The lemma names written are
WordNet's own words (underscores become spaces); they equal timm's
``imagenet_synset_to_lemma.txt`` for all 1000 classes.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

ROOT = "n00001740"  # entity
DEFAULT_WORDNET = Path("/usr/share/wordnet/data.noun")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "fxcore" / "data" / "imagenet_hierarchy.json"
HYPERNYM_POINTERS = {"@", "@i"}


def parse_data_noun(path: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Return ``(names, parents)`` keyed by ImageNet-style id (``n`` + 8-digit offset)."""
    names: dict[str, list[str]] = {}
    parents: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            wnid = "n" + fields[0]
            n_words = int(fields[3], 16)
            words = fields[4 : 4 + 2 * n_words : 2]
            pos = 4 + 2 * n_words
            n_ptrs = int(fields[pos])
            hypernyms = []
            for i in range(n_ptrs):
                symbol, offset, ptr_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
                if symbol in HYPERNYM_POINTERS and ptr_pos == "n":
                    hypernyms.append("n" + offset)
            names[wnid] = [w.replace("_", " ") for w in words]
            parents[wnid] = hypernyms
    return names, parents


def build(synsets: list[str], wordnet: Path) -> dict:
    """Return the hierarchy document for the given class list."""
    names, parents = parse_data_noun(wordnet)
    unknown = [s for s in synsets if s not in names]
    if unknown:
        raise SystemExit(f"{len(unknown)} synsets not in {wordnet}: {unknown[:5]}")
    if len(set(synsets)) != len(synsets):
        raise SystemExit("duplicate synsets in the class list")
    kept: set[str] = set()
    stack = list(synsets)
    while stack:
        node = stack.pop()
        if node not in kept:
            kept.add(node)
            stack.extend(parents[node])
    orphans = sorted(n for n in kept if not parents[n] and n != ROOT)
    if orphans:
        raise SystemExit(f"synsets without a path to entity: {orphans[:5]}")
    return {
        "format": "fxcore-class-hierarchy/1",
        "source": "WordNet 3.0 noun hypernyms (@, @i) of the ImageNet-1k classes",
        "root": ROOT,
        "classes": synsets,
        "nodes": {n: {"names": names[n], "parents": sorted(parents[n])} for n in sorted(kept)},
    }


def dumps(doc: dict) -> str:
    """Compact JSON with one node per line, so that diffs stay readable."""
    head = {k: v for k, v in doc.items() if k != "nodes"}
    compact = functools.partial(json.dumps, separators=(",", ":"))
    lines = [compact(head)[:-1] + ',"nodes":{']
    items = [f"{compact(k)}:{compact(v)}" for k, v in doc["nodes"].items()]
    lines.append(",\n".join(items))
    lines.append("}}")
    return "\n".join(lines) + "\n"


def default_synsets() -> Path:
    try:
        import timm
    except ImportError:
        raise SystemExit("timm is not importable; pass --synsets PATH") from None
    return Path(timm.__file__).parent / "data" / "_info" / "imagenet_synsets.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synsets", type=Path, help="ImageNet-1k synset list in index order")
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="WordNet data.noun")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON file")
    args = parser.parse_args(argv)
    synset_path = args.synsets or default_synsets()
    synsets = [s.strip() for s in synset_path.read_text().splitlines() if s.strip()]
    doc = build(synsets, args.wordnet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(doc), encoding="utf-8")
    print(
        f"wrote {args.out}: {len(doc['classes'])} classes, {len(doc['nodes'])} synsets",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests for fxcore.hierarchy: H_w, d(C1, C2), the ImageNet file and user trees."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

import pytest

from fxcore.hierarchy import ClassHierarchy, ClassRef

WORDNET = Path("/usr/share/wordnet/data.noun")
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build_imagenet_hierarchy.py"
CHIHUAHUA, JAPANESE_SPANIEL, SIBERIAN_HUSKY, SPORTS_CAR = (
    "n02085620",
    "n02085782",
    "n02110185",
    "n04285008",
)

# thing ─┬─ animal ─┬─ cat
#        │          └─ dog
#        └─ vehicle ┬─ car
#                   └─ bike
TREE = {"thing": {"animal": {"cat": {}, "dog": {}}, "vehicle": ["car", "bike"]}}


@pytest.fixture(scope="module")
def imagenet() -> ClassHierarchy:
    return ClassHierarchy.imagenet()


def write(tmp_path: Path, doc: object, name: str = "tree.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


# ---------------------------------------------------------------- ImageNet


def test_imagenet_is_cached_and_complete(imagenet: ClassHierarchy) -> None:
    assert ClassHierarchy.imagenet() is imagenet
    assert len(imagenet) == 1000
    assert imagenet.root == "n00001740"
    assert imagenet.name("n00001740") == "entity"


def test_lookup_helpers(imagenet: ClassHierarchy) -> None:
    assert imagenet.wnid(0) == "n01440764"
    assert imagenet.name(0) == "tench"
    assert imagenet.index("sports car") == 817
    assert imagenet.index("Sports Car") == 817  # names are case-insensitive
    assert imagenet.wnid("Chihuahua") == CHIHUAHUA == imagenet.wnid(151)
    assert imagenet.names("n02084071") == ["dog", "domestic dog", "Canis familiaris"]
    assert "n02084071" in imagenet and "no such thing" not in imagenet


def test_unknown_and_ambiguous_classes(imagenet: ClassHierarchy) -> None:
    with pytest.raises(KeyError, match="unknown class or node 'unicorn'"):
        imagenet.distance("unicorn", 0)
    with pytest.raises(KeyError, match="out of range"):
        imagenet.wnid(1000)
    with pytest.raises(KeyError, match="ambiguous name 'crane'"):  # a bird and a machine
        imagenet.wnid("crane")
    with pytest.raises(KeyError, match="not a class"):
        imagenet.index("n02084071")


def test_distances(imagenet: ClassHierarchy) -> None:
    # Both toy dogs: Chihuahua - toy dog - Japanese spaniel, a path of 2 edges.
    assert imagenet.distance(CHIHUAHUA, JAPANESE_SPANIEL) == 1.0
    assert imagenet.distance(CHIHUAHUA, SIBERIAN_HUSKY) <= 3.0
    assert imagenet.distance(CHIHUAHUA, SPORTS_CAR) >= 3 * imagenet.distance(
        CHIHUAHUA, SIBERIAN_HUSKY
    )
    assert imagenet.distance(CHIHUAHUA, CHIHUAHUA) == 0.0
    assert imagenet.distance(151, "chihuahua") == 0.0
    assert imagenet.distance(CHIHUAHUA, "n02085374") == 0.5  # its parent, "toy dog"
    pairs: list[tuple[ClassRef, ClassRef]] = [(CHIHUAHUA, SPORTS_CAR), (0, 999), ("tench", 250)]
    for a, b in pairs:
        assert imagenet.distance(a, b) == imagenet.distance(b, a)


def test_set_distance(imagenet: ClassHierarchy) -> None:
    assert imagenet.set_distance([CHIHUAHUA], [CHIHUAHUA]) == 0.0
    assert imagenet.set_distance([CHIHUAHUA], [CHIHUAHUA, JAPANESE_SPANIEL]) == 0.5
    car = imagenet.distance(CHIHUAHUA, SPORTS_CAR)
    expected = (car + imagenet.distance(JAPANESE_SPANIEL, SPORTS_CAR)) / 2
    assert imagenet.set_distance([CHIHUAHUA, JAPANESE_SPANIEL], [SPORTS_CAR]) == expected
    top5 = list(range(151, 156))
    assert imagenet.set_distance(top5, [817]) == imagenet.set_distance([817], top5)
    with pytest.raises(ValueError, match="non-empty"):
        imagenet.set_distance([], [0])


def test_dog_descendants(imagenet: ClassHierarchy) -> None:
    # WordNet 3.0 puts exactly the 118 contiguous classes 151..268 under "dog, domestic dog";
    # see the comment in fxcore/hierarchy.py (ClassHierarchy.descendants) on 119 and 120.
    assert imagenet.descendants("n02084071") == list(range(151, 269))
    assert imagenet.descendants("dog") == imagenet.descendants("n02084071")
    assert imagenet.descendants(CHIHUAHUA) == [151]
    assert len(imagenet.descendants("n00001740")) == 1000


def test_shipped_file_is_small() -> None:
    data = resources.files("fxcore") / "data" / "imagenet_hierarchy.json"
    assert len(data.read_bytes()) < 300_000


@pytest.mark.skipif(not WORDNET.exists(), reason=f"WordNet 3.0 not installed ({WORDNET} missing)")
def test_script_reproduces_shipped_file(tmp_path: Path) -> None:
    shipped = (resources.files("fxcore") / "data" / "imagenet_hierarchy.json").read_text("utf-8")
    synsets = tmp_path / "imagenet_synsets.txt"  # the class list as shipped, in index order
    synsets.write_text("\n".join(json.loads(shipped)["classes"]) + "\n")
    spec = importlib.util.spec_from_file_location("build_imagenet_hierarchy", SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "out.json"
    args = ["--synsets", str(synsets), "--wordnet", str(WORDNET), "--out", str(out)]
    assert script.main(args) == 0
    assert out.read_text("utf-8") == shipped
    try:  # the list itself comes from timm; check it where timm is installed
        timm_synsets = script.default_synsets().read_text().split()
    except SystemExit:
        return
    assert timm_synsets == json.loads(shipped)["classes"]


# ---------------------------------------------------------------- user trees


def test_nested_tree(tmp_path: Path) -> None:
    h = ClassHierarchy.from_json(write(tmp_path, TREE))
    assert h.classes == ["cat", "dog", "car", "bike"]
    assert h.root == "thing"
    assert h.distance("cat", "dog") == 1.0
    assert h.distance("cat", "car") == 2.0
    assert h.distance(0, 3) == 2.0
    assert h.distance("cat", "animal") == 0.5
    assert h.distance("dog", "dog") == 0.0
    assert h.set_distance(["cat", "dog"], ["car"]) == 2.0
    assert h.set_distance(["cat"], ["cat", "dog"]) == 0.5
    assert h.set_distance(["cat", "car"], ["dog", "bike"]) == (1 + 2 + 2 + 1) / 4
    assert h.descendants("vehicle") == [2, 3]
    assert h.name(1) == "dog" and h.index("bike") == 3 and h.wnid(2) == "car"


def test_flat_dag(tmp_path: Path) -> None:
    doc = {
        "root": "thing",
        "parents": {
            "animal": "thing",
            "vehicle": ["thing"],
            "cat": ["animal"],
            "dog": ["animal"],
            "car": ["vehicle"],
            "robodog": ["animal", "vehicle"],  # two parents: a DAG, not a tree
        },
        "classes": ["dog", "cat", "car", "robodog"],
        "names": {"robodog": ["robot dog", "AIBO"]},
    }
    h = ClassHierarchy.from_json(write(tmp_path, doc))
    assert h.index("cat") == 1
    assert h.distance("robot dog", "car") == 1.0
    assert h.distance("aibo", "cat") == 1.0
    assert h.distance("cat", "car") == 2.0
    assert h.descendants("vehicle") == [2, 3]
    del doc["root"], doc["classes"]  # inferred: the one parentless node; leaves in order
    h = ClassHierarchy.from_json(write(tmp_path, doc))
    assert h.root == "thing" and h.classes == ["cat", "dog", "car", "robodog"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"root": "t", "parents": {"a": "b", "b": "a", "c": "t"}}, "cycle in the hierarchy"),
        ({"root": "t", "parents": {"a": "t", "b": "ghost"}}, "unknown parent 'ghost' of 'b'"),
        ({"parents": {"a": "t", "b": "u"}}, "cannot infer the root"),
        ({"root": "t", "parents": {"a": "t"}, "classes": ["z"]}, "classes not in the hierarchy"),
        ({"root": "t", "parents": {"a": 3}}, "expected a string or a list of strings"),
        ({"t": {"a": {}}, "u": {}}, "exactly one top-level key"),
        ({"t": {"a": {"b": {}}, "c": {"a": {}}}}, "'a' appears twice"),
        ({"t": {"a": 5}}, "children of 'a' must be"),
        ([1, 2], "expected a JSON object"),
        ({"root": "t", "parents": {"a": "t"}, "clases": ["a"]}, "unknown top-level keys"),
        ({"root": "t", "parents": {"t": "a", "a": "t"}}, "the root 't' has parents"),
        ({"root": "t", "parents": {"a": "t", "b": []}}, "'b' has no parent"),
    ],
)
def test_malformed_files(tmp_path: Path, doc: object, message: str) -> None:
    path = write(tmp_path, doc, "bad.json")
    with pytest.raises(ValueError, match=message) as info:
        ClassHierarchy.from_json(path)
    assert str(info.value).startswith(f"{path}: ")


def test_unique_names_disambiguate_shared_names(imagenet: ClassHierarchy) -> None:
    names = imagenet.unique_names()
    assert len(names) == len(set(names)) == 1000
    cranes = [n for n in names if n.startswith("crane")]
    assert cranes == ["crane (n02012849)", "crane (n03126707)"]
    assert all(imagenet.index(n.split(" (")[1][:-1]) == names.index(n) for n in cranes)
    assert names[imagenet.index("n02085620")] == imagenet.name("n02085620")  # unshared: as is

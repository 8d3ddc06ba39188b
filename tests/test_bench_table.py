"""Reading and validating replay tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fxcore.bench import list_tables, load_table
from fxcore.errors import ConfigError

HEADER = ",category,shape,colour,accuracy,confidence\n"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def grid_rows(skip: set[tuple[str, str]] = frozenset()) -> str:  # type: ignore[assignment]
    lines, i = [], 0
    for s in ("disc", "square", "star"):
        for c in ("red", "blue"):
            if (s, c) in skip:
                continue
            lines.append(f"{i},dog,{s},{c},{0.1 * (i + 1):.2f},0.5")
            i += 1
    return HEADER + "\n".join(lines) + "\n"


def test_attributes_are_the_non_numeric_columns(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, grid_rows()))
    assert [a.name for a in table.domain.attributes] == ["shape", "colour"]
    assert table.constants == {"category": "dog"}  # one value: a constant, not an attribute
    assert table.domain.true_class == "dog"
    assert table.n_rows == 6 and table.domain.invalid == []
    assert table.space.values(3) == {"shape": "square", "colour": "blue"}
    assert table.targets[3] == pytest.approx(0.4)


def test_absent_combinations_become_invalid_rules(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, grid_rows(skip={("star", "blue")})))
    assert table.domain.invalid == [{"shape": "star", "colour": "blue"}]
    assert len(table.space) == table.n_rows == 5
    # targets follow the space rows: look each row's values up in the CSV order
    for i in range(5):
        assert table.targets[i] == pytest.approx(0.1 * (i + 1))


def test_papers_table_invalid_rules_and_alignment() -> None:
    table = load_table("lecoz2024-dog")
    assert {"time": "night", "weather": "sunny"} in table.domain.invalid
    assert {"location": "inside a house", "weather": "raining"} in table.domain.invalid
    i = table.space.index_of({"viewpoint": "side", "color": "white", "time": "day",
                              "location": "at the beach", "weather": "raining"})
    assert table.targets[i] == pytest.approx(0.86, abs=1e-6)  # CSV line 4
    assert "lecoz2024-dog" in list_tables()


def test_shipped_mnist_table_recovers_the_example_domain() -> None:
    """The full-domain export of examples/explore_mnist.toml: its absent combinations are
    exactly the example's two invalid rules."""
    table = load_table("fxcore-mnist-digits")
    assert table.n_rows == 1508
    assert [a.name for a in table.domain.attributes] == [
        "digit", "rotation", "thickness", "scale", "noise"]
    assert sorted(map(str, table.domain.invalid)) == sorted(map(str, [
        {"digit": "digit_6", "rotation": "upside-down"},
        {"digit": "digit_9", "rotation": "upside-down"},
        {"thickness": "thin", "scale": "small", "noise": "high"}]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        (HEADER, "no rows below the header"),
        (",shape,colour,acc\n0,disc,red,0.5\n1,star,red,0.4\n", "no target column 'accuracy'"),
        (",shape,colour,accuracy\n0,disc,red,high\n1,star,red,0.4\n", "not numeric"),
        (",shape,colour,accuracy\n0,disc,red,nan\n1,star,blue,0.4\n", "NaN"),
        (",shape,accuracy\n0,disc,0.5\n1,star,0.4\n", "at least 2 attribute"),
        (",category,shape,accuracy\n0,dog,disc,0.5\n1,dog,star,0.4\n", r"found 1 \(shape\)"),
        (",shape,colour,accuracy\n0,disc,red,0.5\n1,star,blue,0.4\n2,disc,red,0.3\n",
         "duplicate attribute combination .*line 4"),
        (",shape,my colour,accuracy\n0,disc,red,0.5\n1,star,blue,0.4\n", "identifier"),
        (",shape,colour,accuracy\n0,disc,red,0.5\n1,star,0.4\n", "line 3 has 3 cells"),
    ],
)
def test_bad_tables_give_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_table(write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_table(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="no shipped table"):
        load_table("no-such-benchmark")


def test_other_target_column(tmp_path: Path) -> None:
    table = load_table(write(tmp_path, grid_rows()), target="confidence")
    assert np.all(table.targets == 0.5)
    assert [a.name for a in table.domain.attributes] == ["shape", "colour"]


def test_sparse_table_every_absent_pair_is_one_rule(tmp_path: Path) -> None:
    """20k rows over a 300 × 300 grid: 70k absent pairs, each its own rule, in product order of
    the values' first appearance; targets aligned with the space rows. (Deriving the rules
    compared every candidate with every rule found so far: hours for this table.)"""
    n, rng = 300, np.random.default_rng(0)
    diagonal = np.arange(n) * (n + 1)  # every value occurs
    others = rng.choice(np.setdiff1d(np.arange(n * n), diagonal), 20_000 - n, replace=False)
    keys = rng.permutation(np.concatenate([diagonal, others]))
    lines = [f"a{k // n},b{k % n},{k / n**2}" for k in keys]
    table = load_table(write(tmp_path, "a,b,accuracy\n" + "\n".join(lines) + "\n"))
    a_values, b_values = (attr.values for attr in table.domain.attributes)
    present = {(f"a{k // n}", f"b{k % n}") for k in keys}
    assert table.n_rows == len(table.space) == 20_000
    assert table.domain.invalid == [{"a": a, "b": b} for a in a_values for b in b_values
                                    if (a, b) not in present]
    codes = table.space.codes
    rows = [int(a_values[i][1:]) * n + int(b_values[j][1:]) for i, j in codes]
    np.testing.assert_array_equal(table.targets, np.array(rows) / n**2)

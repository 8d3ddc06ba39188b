"""Exact t-way coverage: the check, allpairspy's gaps and the greedy completion."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from fxcore_allpairs import TupleIndex, covering_rows
from fxcore_allpairs.selector import allpairs_rows

from fxcore.domain import SubdomainSpace


def brute_force_missing(codes: np.ndarray, rows: np.ndarray, t: int) -> set:
    """Independent reference: required t-tuples minus covered ones, by plain sets."""
    missing = set()
    for attrs in combinations(range(codes.shape[1]), t):
        need = {tuple(r[list(attrs)]) for r in codes}
        have = {tuple(r[list(attrs)]) for r in codes[rows]}
        missing |= {(attrs, v) for v in need - have}
    return missing


def natural_order(space: SubdomainSpace) -> list[list[int]]:
    return [list(range(len(a.values))) for a in space.attributes]


@pytest.mark.parametrize("t", [2, 3])
def test_completed_set_covers_every_valid_tuple_exactly(space: SubdomainSpace, t: int) -> None:
    rows = covering_rows(space.codes, t, natural_order(space))
    assert len(set(rows.tolist())) == len(rows)
    assert brute_force_missing(space.codes, rows, t) == set()
    assert TupleIndex(space.codes, t).is_covering(rows)


@pytest.mark.parametrize("t", [2, 3])
def test_check_agrees_with_brute_force_on_partial_sets(space: SubdomainSpace, t: int) -> None:
    index = TupleIndex(space.codes, t)
    rng = np.random.default_rng(0)
    for size in (1, 5, 20):
        rows = rng.choice(len(space), size=size, replace=False)
        expected = brute_force_missing(space.codes, rows, t)
        got = {(tuple(m), tuple(m.values())) for m in index.uncovered(rows)}
        assert got == expected
        assert index.is_covering(rows) == (not expected)


def test_invalid_tuples_are_not_required(space: SubdomainSpace) -> None:
    index = TupleIndex(space.codes, 2)
    # (time=night, weather=sunny) is excluded by the domain: no row can cover it, none must
    night, sunny = 1, 0
    pairs = {(int(r[2]), int(r[3])) for r in space.codes}
    assert (night, sunny) not in pairs
    assert index.is_covering(np.arange(len(space)))


def test_completion_adds_what_allpairspy_missed(space: SubdomainSpace) -> None:
    """allpairspy stops early at t = 3 (here: too few rows for all 3-tuples); the greedy
    completion closes exactly the gap."""
    index = TupleIndex(space.codes, 3)
    generated = allpairs_rows(space.codes, 3, natural_order(space))
    missed = index.uncovered(generated)
    assert missed, "allpairspy was expected to miss 3-tuples on this domain"
    extra = index.greedy_completion(generated)
    assert len(extra) > 0 and not set(extra.tolist()) & set(generated.tolist())
    assert index.is_covering(np.concatenate([generated, extra]))
    for tup in missed:  # each missed tuple is covered by an added row
        assert any(all(space.codes[r, a] == v for a, v in tup.items()) for r in extra)


def test_paper_table_domain_is_covered_for_t_2_to_5() -> None:
    bench = pytest.importorskip("fxcore.bench")
    table = bench.load_table("lecoz2024-dog")
    codes = table.space.codes
    assert len(codes) == 1032
    order = [list(range(len(a.values))) for a in table.space.attributes]
    sizes = {}
    for t in (2, 3, 4, 5):
        rows = covering_rows(codes, t, order)
        assert TupleIndex(codes, t).is_covering(rows)
        sizes[t] = len(rows)
        if t <= 3:
            assert brute_force_missing(codes, rows, t) == set()
    # pairs need at least 8·7 rows (color × location); 5-way needs every subdomain
    assert sizes[2] >= 56 and sizes[5] == 1032


def test_t_out_of_range(space: SubdomainSpace) -> None:
    with pytest.raises(ValueError, match="t=5"):
        TupleIndex(space.codes, 5)

"""fxcore.checks: good outputs pass, random bad ones raise a RunError naming the component."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fxcore import checks
from fxcore.errors import RunError

WHO = "classifier 'toy/clf' (plugin toy)"


def softmax(n: int, c: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed)).softmax(1)


@given(n=st.integers(1, 20), c=st.integers(1, 12), seed=st.integers(0, 10**6),
       dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64]))
@settings(max_examples=60, deadline=None)
def test_softmax_outputs_pass_in_every_float_type(n, c, seed, dtype):
    p = softmax(n, c, seed).to(dtype)
    checks.probabilities(p, n, c, WHO)
    checks.probabilities(p.float().numpy(), n, c, WHO)  # numpy arrays are checked alike


@given(p=arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(2, 6)),
                elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
@settings(max_examples=200, deadline=None)
def test_random_arrays_pass_only_when_they_are_probabilities(p):
    n, c = p.shape
    valid = (np.isfinite(p).all() and p.min() >= -1e-6 and p.max() <= 1 + 1e-6
             and np.all(np.abs(p.sum(1) - 1) <= checks.SUM_TOL))
    if valid:
        checks.probabilities(p, n, c, WHO)
    else:
        with pytest.raises(RunError, match=r"^classifier 'toy/clf' \(plugin toy\) returned "):
            checks.probabilities(p, n, c, WHO, "on subdomain x")


@given(n=st.integers(1, 10), c=st.integers(2, 5),
       shape=st.tuples(st.integers(0, 12), st.integers(0, 6)))
@settings(max_examples=60, deadline=None)
def test_any_other_shape_is_refused(n, c, shape):
    p = np.full(shape, 1.0 / max(shape[1], 1))
    if shape == (n, c):
        return
    with pytest.raises(RunError, match=rf"returned shape \({shape[0]}, {shape[1]}\) for {n} "):
        checks.probabilities(p, n, c, WHO)


@pytest.mark.parametrize("bad, problem", [
    (lambda p: p.masked_fill(torch.eye(3, 4, dtype=torch.bool), float("nan")),
     r"NaN confidences \(first at item 0\)"),
    (lambda p: torch.cat([p[:1], p[1:] * float("inf")]), r"inf confidences \(first at item 1\)"),
    (lambda p: p * 1000, r"confidences outside \[0, 1\] \(min .*, max .*\)"),
    (lambda p: -p, r"confidences outside \[0, 1\] \(min -.*\)"),
    (torch.zeros_like, r"confidences whose rows do not sum to 1 \(item 0 sums to 0; "
                       r"probabilities, not scores or logits\)"),
    (lambda p: p[:, :2], r"shape \(3, 2\) for 3 inputs, expected \(3, 4\)"),
    (lambda p: "cat", r"a str, expected \(3, 4\) probabilities"),
    (lambda p: p > 0.5, r"a Tensor of torch.bool, expected \(3, 4\) probabilities"),
])
def test_probability_messages(bad, problem):
    with pytest.raises(RunError, match=rf"^{re.escape(WHO)} returned {problem} at step 3$"):
        checks.probabilities(bad(softmax(3, 4)), 3, 4, WHO, "at step 3")


@given(x=arrays(np.float32, st.tuples(st.integers(1, 4), st.just(1), st.integers(1, 3),
                                      st.integers(1, 3)),
                elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
@settings(max_examples=150, deadline=None)
def test_random_images(x):
    valid = np.isfinite(x).all() and x.min() >= -1e-3 and x.max() <= 1 + 1e-3
    t = torch.from_numpy(x)
    if valid:
        checks.images(t, len(x), "generator 'g'")
    else:
        with pytest.raises(RunError, match=r"^generator 'g' returned (NaN/inf images|images "
                                           r"outside \[0, 1\])"):
            checks.images(t, len(x), "generator 'g'")


@pytest.mark.parametrize("x, problem", [
    (torch.rand(5, 1, 2, 2), r"shape \(5, 1, 2, 2\) for n=4"),
    (torch.rand(4, 2, 2), r"shape \(4, 2, 2\) for n=4"),
    (torch.zeros(4, 1, 2, 2, dtype=torch.uint8), r"torch.uint8 images, expected floats"),
    (np.zeros((4, 1, 2, 2)), r"a ndarray of float64, expected a float tensor"),
])
def test_image_messages(x, problem):
    with pytest.raises(RunError, match=problem):
        checks.images(x, 4, "generator 'g'")


def test_filter_output():
    mask = torch.tensor([True, False, True])
    scores = torch.tensor([0.3, 0.1, 0.9])
    assert checks.filter_output((mask, scores), 3, "filter 'f'").tolist() == mask.tolist()
    assert checks.filter_output((np.array([1, 0, 1], bool), [1.0, 2.0, 3.0]), 3, "f").dtype \
        == torch.bool
    for out, problem in [
        (mask, r"a Tensor of torch.bool, expected \(mask, scores\)"),
        ((mask.long(), scores), r"a mask that is a Tensor of torch.int64, expected bool"),
        ((mask[:2], scores), r"a mask of shape \(2,\) for 3 images"),
        ((mask, scores[:2]), r"scores of shape \(2,\) for 3 images"),
        ((mask, torch.tensor([0.0, float("nan"), 1.0])), r"NaN/inf scores \(first at image 1\)"),
        ((mask, ["a", "b", "c"]), r"scores that are a list"),
    ]:
        with pytest.raises(RunError, match=rf"^filter 'f' returned {problem}"):
            checks.filter_output(out, 3, "filter 'f'")


@given(rows=st.one_of(
    st.lists(st.integers(-3, 12), max_size=6).map(lambda r: np.array(r, dtype=np.int64)),
    st.lists(st.floats(-3, 12), min_size=1, max_size=4).map(np.array),
))
@settings(max_examples=200, deadline=None)
def test_random_picks(rows):
    candidates, k = np.array([1, 2, 4, 5, 7, 9]), 3
    ints = rows.dtype.kind == "i"
    valid = (ints and 1 <= len(rows) <= k and len(set(rows.tolist())) == len(rows)
             and set(rows.tolist()) <= set(candidates.tolist()))
    if valid:
        assert checks.picks(rows, candidates, k, "selector 's'") == rows.tolist()
    else:
        with pytest.raises(RunError, match=r"^selector 's' returned "):
            checks.picks(rows, candidates, k, "selector 's'")


@pytest.mark.parametrize("rows, problem", [
    ([2.0, 4.0], r"float64 rows \[2.0, 4.0\], expected integer row indices"),
    ([], r"no rows, expected 1 to 2 of the 3 candidates"),
    ([2, 2], r"row 2 more than once"),
    ([2, 4, 5], r"3 rows, expected at most 2"),
    ([3], r"row 3, which is not one of the 3 candidates"),
    (torch.tensor([True]), r"bool rows"),
    ("2", r"a str, expected 1 to 2 candidate rows"),
])
def test_pick_messages(rows, problem):
    with pytest.raises(RunError, match=problem):
        checks.picks(rows, np.array([2, 4, 5]), 2, "selector 's'")


def test_picks_accept_lists_and_tensors():
    cand = np.array([2, 4, 5])
    assert checks.picks([5, 2], cand, 2, "s") == [5, 2]
    assert checks.picks(torch.tensor([4]), cand, 2, "s") == [4]
    assert checks.picks(np.int64(4), cand, 2, "s") == [4]
    assert checks.picks(cand[::-2], cand, 2, "s") == [5, 2]  # a negative stride
    frozen = np.array([2, 4])
    frozen.flags.writeable = False
    assert checks.picks(frozen, cand, 2, "s") == [2, 4]


def test_describe():
    assert checks.describe("classifier", "mnist/cnn", "fxcore-mnist") == \
        "classifier 'mnist/cnn' (plugin fxcore-mnist)"
    assert checks.describe("selector", "random") == "selector 'random'"

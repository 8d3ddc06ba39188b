"""Checks of what components return, used at every boundary of every pipeline.

Each check takes a component's output, what was asked of it, ``who`` (how the error names the
component, see :func:`describe`) and ``where`` (context appended to the message: the subdomain,
the step, a hint). A violation raises :class:`~fxcore.errors.RunError` with a one-line message
``"<who> returned <what was wrong> <where>"``. Pipelines check before they record anything, so a
bad output never becomes a result.

Tolerances: probabilities may leave ``[0, 1]`` by ``max(1e-6, eps)`` (``eps`` of their float
type) and their rows may miss a sum of 1 by ``1e-2`` (a bfloat16 softmax cast to float32 is off by
up to ``4e-3``); images may leave ``[0, 1]`` by ``1e-3``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fxcore.errors import RunError

SUM_TOL = 1e-2
IMAGE_TOL = 1e-3


def describe(kind: str, name: str, plugin: str | None = None) -> str:
    """``classifier 'mnist/cnn' (plugin fxcore-mnist)``: a component as errors name it."""
    return f"{kind} {name!r}" + (f" (plugin {plugin})" if plugin else "")


def _fail(who: str, problem: str, where: str) -> RunError:
    return RunError(f"{who} returned {problem}" + (f" {where}" if where else ""))


def _numeric(x: Any) -> torch.Tensor | None:
    """``x`` as a tensor (no copy where possible), or ``None`` when it is not numeric."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            return None
        if not (a.flags.c_contiguous and a.flags.writeable):  # torch shares neither
            a = np.array(a)
        return torch.as_tensor(a)
    except (TypeError, ValueError, RuntimeError):
        return None


def _kind(x: Any) -> str:
    """``a str``, ``a Tensor of torch.int64``: what a component returned instead."""
    dtype = getattr(x, "dtype", None)
    return f"a {type(x).__name__}" + (f" of {dtype}" if dtype is not None else "")


def _eps(t: torch.Tensor) -> float:
    return torch.finfo(t.dtype).eps if t.is_floating_point() else 0.0


def _first_bad(bad: torch.Tensor) -> int:
    """Row of the first ``True`` in ``bad`` (any shape, rows first)."""
    return int(torch.nonzero(bad.reshape(len(bad), -1).any(1))[0, 0])


def probabilities(p: Any, n: int, n_classes: int, who: str, where: str = "") -> None:
    """``p``: ``(n, n_classes)``, finite, within ``[0, 1]``, rows summing to 1."""
    t = _numeric(p)
    if t is None or t.dtype == torch.bool:
        raise _fail(who, f"{_kind(p)}, expected ({n}, {n_classes}) probabilities", where)
    if tuple(t.shape) != (n, n_classes):
        raise _fail(who, f"shape {tuple(t.shape)} for {n} inputs, expected ({n}, {n_classes})",
                    where)
    if t.numel() == 0:
        return
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        i = _first_bad(~finite)
        what = "NaN" if bool(torch.isnan(t[i]).any()) else "inf"
        raise _fail(who, f"{what} confidences (first at item {i})", where)
    eps = _eps(t)
    t = t.to(torch.float64)
    low, high = float(t.min()), float(t.max())
    if low < -max(1e-6, eps) or high > 1 + max(1e-6, eps):
        raise _fail(who, f"confidences outside [0, 1] (min {low:.4g}, max {high:.4g})", where)
    sums = t.sum(1)
    off = (sums - 1).abs() > SUM_TOL
    if bool(off.any()):
        i = _first_bad(off)
        raise _fail(who, f"confidences whose rows do not sum to 1 (item {i} sums to "
                         f"{float(sums[i]):.4g}; probabilities, not scores or logits)", where)


def images(x: Any, n: int, who: str, where: str = "") -> None:
    """``x``: a float tensor ``(n, C, H, W)``, finite, within ``[0, 1]``."""
    if not isinstance(x, torch.Tensor):
        raise _fail(who, f"{_kind(x)}, expected a float tensor ({n}, C, H, W)", where)
    if x.dim() != 4 or len(x) != n:
        raise _fail(who, f"shape {tuple(x.shape)} for n={n}, expected ({n}, C, H, W)", where)
    if not x.is_floating_point():
        raise _fail(who, f"{x.dtype} images, expected floats in [0, 1]", where)
    if x.numel() == 0:
        return
    x = x.detach()
    if not bool(torch.isfinite(x).all()):
        raise _fail(who, "NaN/inf images", where)
    low, high = float(x.min()), float(x.max())
    if low < -IMAGE_TOL or high > 1 + IMAGE_TOL:
        raise _fail(who, f"images outside [0, 1] (min {low:.4g}, max {high:.4g})", where)


def scores(s: Any, n: int, who: str, where: str = "") -> None:
    """``s``: ``(n,)`` finite numbers."""
    t = _numeric(s)
    if t is None or t.dtype == torch.bool:
        raise _fail(who, f"scores that are {_kind(s)}, expected ({n},) numbers", where)
    if tuple(t.shape) != (n,):
        raise _fail(who, f"scores of shape {tuple(t.shape)} for {n} images, expected ({n},)",
                    where)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        i = int(torch.nonzero(~finite)[0, 0])
        raise _fail(who, f"NaN/inf scores (first at image {i})", where)


def filter_output(out: Any, n: int, who: str, where: str = "") -> torch.Tensor:
    """``out``: ``(mask, scores)``, a bool ``(n,)`` mask and ``(n,)`` finite scores.

    Returns the mask as a bool tensor.
    """
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise _fail(who, f"{_kind(out)}, expected (mask, scores)", where)
    mask, s = out
    m = _numeric(mask)
    if m is None or m.dtype != torch.bool:
        raise _fail(who, f"a mask that is {_kind(mask)}, expected bool (a number mask would "
                         "pick images by index)", where)
    if tuple(m.shape) != (n,):
        raise _fail(who, f"a mask of shape {tuple(m.shape)} for {n} images, expected ({n},)",
                    where)
    scores(s, n, who, where)
    return m


def picks(rows: Any, candidates: np.ndarray, k: int, who: str, where: str = "") -> list[int]:
    """``rows``: 1 to ``k`` distinct integer rows taken from ``candidates``; as a list."""
    t = _numeric(rows)
    if t is None:
        raise _fail(who, f"{_kind(rows)}, expected 1 to {k} candidate rows", where)
    a = t.cpu().numpy().ravel()
    if len(a) == 0:
        raise _fail(who, f"no rows, expected 1 to {k} of the {len(candidates)} candidates", where)
    if a.dtype.kind not in "iu":
        raise _fail(who, f"{a.dtype} rows {a[:5].tolist()}, expected integer row indices", where)
    if len(a) > k:
        raise _fail(who, f"{len(a)} rows, expected at most {k}", where)
    values, counts = np.unique(a, return_counts=True)
    if (counts > 1).any():
        raise _fail(who, f"row {int(values[counts > 1][0])} more than once", where)
    outside = a[~np.isin(a, candidates)]
    if len(outside):
        raise _fail(who, f"row {int(outside[0])}, which is not one of the {len(candidates)} "
                         "candidates (rows not evaluated yet)", where)
    return [int(r) for r in a]

"""The additive GP conditioned incrementally, for large domains (issue 13, "Domains grow").

:class:`~fxcore_sklearn.models.AdditiveGPSurrogate` refactors the n × n kernel at every proposal
and solves it against every candidate: O(n³ + N·n²) per step, O(N·B³) per run of B steps over
N subdomains. :class:`IncrementalAdditiveGP` gives the same posterior and the same proposals
(up to rounding) with:

- **a Cholesky factor extended by one row per observation** (O(n²)); the hyperparameters are
  re-optimised on the same geometric schedule as before (data grown by ``reoptimise_growth``),
  on at most ``hyper_max`` observations (evenly spaced over the observation order, so no random
  numbers are drawn); only a change of hyperparameters, of the weights or of an already
  observed target refactors from scratch;
- **the mean of every subdomain from group sums**: the kernel is Σ_S c_S Π_{a∈S} δ(x_a = x'_a)
  over the attribute subsets S (c_S = s_|S| / C(A, |S|)), so μ(x) = Σ_S c_S · (sum of K⁻¹z over
  the observed rows that agree with x on S): O(2^A (N + n)) per step instead of O(N·n);
- **exact σ for a pool of candidates** whose columns L⁻¹k(X, x) are extended by one entry per
  observation (O(n) each), and **bounds** for the others: σ² lies between the variance of the
  kernel terms that no observation touches (a subset S on which no observed row agrees with x
  leaves its term c_S a priori: a lower bound) and the last exact σ² computed with the current
  hyperparameters (conditioning on more data only lowers it: an upper bound; the prior before).
  Every acquisition here is monotone in σ, so the bounds bound the score; every candidate whose
  bound reaches the best exact score gets its exact σ (and joins the pool) before the argmax,
  so the proposal is the exact one.

The state is a function of the observations only: it is rebuilt from them whenever they do not
extend the ones conditioned on, so a replay of the same observations (``--resume``) gives the
same proposals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize
from scipy.special import comb

from fxcore_sklearn.models import AdditiveGPSurrogate

#: subsets of attributes above which the group sums cost more than they save
MAX_ATTRIBUTES = 12
_BLOCK = 512


def _forward(lo: np.ndarray, n: int, b: np.ndarray) -> np.ndarray:
    """Solve L[:n, :n] x = b (L lower triangular, stored in a larger C-order array), blocked
    so that no n × n copy is made."""
    x = np.array(b, dtype=np.float64, copy=True)
    for s in range(0, n, _BLOCK):
        e = min(n, s + _BLOCK)
        if s:
            x[s:e] -= lo[s:e, :s] @ x[:s]
        x[s:e] = solve_triangular(lo[s:e, s:e], x[s:e], lower=True, check_finite=False)
    return x


def _backward(lo: np.ndarray, n: int, b: np.ndarray) -> np.ndarray:
    """Solve L[:n, :n]ᵀ x = b."""
    x = np.array(b, dtype=np.float64, copy=True)
    for e in range(n, 0, -_BLOCK):
        s = max(0, e - _BLOCK)
        if e < n:
            x[s:e] -= lo[e:n, s:e].T @ x[e:n]
        x[s:e] = solve_triangular(lo[s:e, s:e], x[s:e], lower=True, trans="T",
                                  check_finite=False)
    return x


def _grow(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, k) for k in a.shape)] = a
    return out


class IncrementalAdditiveGP(AdditiveGPSurrogate):
    """Additive GP over the rows of a fixed table of subdomains (see the module docstring).

    ``codes``: (N, A) attribute codes of every subdomain; ``sizes``: the values per attribute.
    ``pool``: candidates kept exact from the start when at most this many are unobserved (then
    every candidate is exact); ``pool_max``: the most exact columns kept between proposals.
    """

    def __init__(self, codes: np.ndarray, sizes: Sequence[int], reoptimise_growth: float = 0.2,
                 hyper_max: int = 1024, pool: int = 2048, pool_max: int = 4096) -> None:
        super().__init__(reoptimise_growth)
        self.codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.n_rows, a = self.codes.shape
        if a > MAX_ATTRIBUTES:
            raise ValueError(f"{a} attributes: at most {MAX_ATTRIBUTES} for the incremental GP")
        self.n_attributes = a
        self.table = self._order_table(a)
        self.hyper_max, self.pool_size, self.pool_max = hyper_max, pool, max(pool_max, 1)
        self._groups([int(s) for s in sizes])
        self.n = 0
        self.rows = np.empty(0, dtype=np.int64)
        self.y = np.empty(0)
        self.noise_scale = None           # only while optimising (read by the evidence)
        self.row_scale = np.empty(0)      # noise scale 1 / w of every conditioned row
        self.lo = np.zeros((0, 0))
        self.a_y, self.a_1 = np.zeros(0), np.zeros(0)
        self.vt = np.zeros((0, 0))        # pool member i: row i = L⁻¹ k(X, x_i)
        self.sq = np.zeros(0)             # its squared norm
        self.pool: list[int] = []
        self.slot = np.full(self.n_rows, -1, dtype=np.int64)
        self.var_hi = np.zeros(self.n_rows)
        self.hit = np.zeros(self.n_groups, dtype=bool)
        self.var_lo = np.zeros(self.n_rows)
        self.stats = {"rebuilds": 0, "appends": 0, "exact_columns": 0, "hyper": 0}

    # ------------------------------------------------------------------ structure
    def _groups(self, sizes: list[int]) -> None:
        """Group id of every row under every attribute subset (bitmask), offset so that all
        subsets share one id space."""
        a = self.n_attributes
        n_sub = 1 << a
        comp = np.zeros((n_sub, self.n_rows), dtype=np.int64)
        counts = np.ones(n_sub, dtype=np.int64)
        for mask in range(1, n_sub):
            top = mask.bit_length() - 1
            raw = comp[mask ^ (1 << top)] * sizes[top] + self.codes[:, top]
            _, comp[mask] = np.unique(raw, return_inverse=True)
            counts[mask] = comp[mask].max() + 1
        offsets = np.r_[0, np.cumsum(counts)[:-1]]
        self.gid = np.ascontiguousarray((comp + offsets[:, None]).T)  # (N, 2^A)
        self.gid_t = np.ascontiguousarray(comp + offsets[:, None])    # (2^A, N)
        self.n_groups = int(counts.sum())
        self.subset_of = np.repeat(np.arange(n_sub), counts)
        # the rows of every group (CSR), to lower the variance bound when a group is first hit
        flat = self.gid.ravel()
        self.members = np.argsort(flat, kind="stable") // n_sub
        self.starts = np.r_[0, np.cumsum(np.bincount(flat, minlength=self.n_groups))]
        self.order = np.array([bin(m).count("1") for m in range(n_sub)])

    def _subset_weights(self) -> np.ndarray:
        """c_S = s_|S| / C(A, |S|) for every subset (bitmask order)."""
        scales = np.exp(self.log_params[: self.n_attributes + 1])
        return scales[self.order] / comb(self.n_attributes, self.order)

    def _matches(self, rows: np.ndarray, row: int) -> np.ndarray:
        return (self.codes[rows] == self.codes[row]).sum(1)

    # ------------------------------------------------------------------ conditioning
    def condition(self, rows: np.ndarray, y: np.ndarray,
                  weight: np.ndarray | None = None) -> None:
        """Condition on exactly these observations (same schedule as ``fit``)."""
        rows = np.asarray(rows, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        scale = None if weight is None else 1.0 / np.asarray(weight, dtype=np.float64)
        row_scale = np.ones(len(y)) if scale is None else scale
        self.mean, self.scale = float(np.mean(y)), float(np.std(y)) or 1.0
        a = self.n_attributes
        rebuild = False
        if self.log_params is None or len(self.log_params) != a + 2:
            self.log_params = np.log(np.r_[np.full(a + 1, 1.0 / (a + 1)), 0.1])
            self._optimised_on = 0
            rebuild = True
        if len(y) >= self._optimised_on * (1 + self.reoptimise_growth) and \
                len(y) != self._optimised_on:
            before = self.log_params.copy()
            self._optimise(rows, y, scale)
            rebuild |= not np.array_equal(before, self.log_params)
        scales, noise = np.exp(self.log_params[: a + 1]), float(np.exp(self.log_params[-1]))
        self.f = self._kernel_of_matches(scales)
        self.noise = noise
        self.noise_var = noise * self.scale**2
        keep = 0 if rebuild else self._common_prefix(rows, y, row_scale)
        if keep < self.n or rebuild or self.n == 0:
            if len(rows) - keep > max(64, keep // 8):
                self._rebuild(rows, y, row_scale)
                return
            self._truncate(keep)
        for i in range(self.n, len(rows)):
            self._append(int(rows[i]), float(y[i]), float(row_scale[i]))

    def _common_prefix(self, rows: np.ndarray, y: np.ndarray, scale: np.ndarray) -> int:
        m = min(self.n, len(rows))
        same = (rows[:m] == self.rows[:m]) & (y[:m] == self.y[:m]) & \
            (scale[:m] == self.row_scale[:m])
        bad = np.flatnonzero(~same)
        return int(bad[0]) if len(bad) else m

    def _optimise(self, rows: np.ndarray, y: np.ndarray, scale: np.ndarray | None) -> None:
        """Maximise the evidence of the standardised targets (at most ``hyper_max`` of them)."""
        n = len(y)
        pick = np.arange(n) if n <= self.hyper_max else \
            np.unique(np.linspace(0, n - 1, self.hyper_max).round().astype(np.int64))
        codes = self.codes[rows[pick]]
        matches = (codes[:, None, :] == codes[None, :, :]).sum(2)
        z = (y[pick] - self.mean) / self.scale
        a = self.n_attributes
        self.noise_scale = None if scale is None else scale[pick]
        bounds = [(np.log(1e-6), np.log(10.0))] * (a + 1) + [(np.log(1e-4), np.log(2.0))]
        res = minimize(self._neg_log_evidence, self.log_params, args=(matches, z),
                       jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})
        if np.isfinite(res.fun) and res.fun < 1e9:
            self.log_params = res.x
        self._optimised_on = n
        self.noise_scale = None
        self.stats["hyper"] += 1

    def _reserve(self, n: int) -> None:
        cap = len(self.lo)
        if n <= cap:
            return
        new = max(n, 256, int(cap * 1.5))
        self.lo = _grow(self.lo, (new, new))
        self.a_y, self.a_1 = _grow(self.a_y, (new,)), _grow(self.a_1, (new,))
        self.vt = _grow(self.vt, (len(self.vt), new))

    def _reset_bounds(self) -> None:
        self.var_hi[:] = self.f[self.n_attributes]
        self.hit[:] = False
        self.hit[self.gid[self.rows[: self.n]].ravel()] = True
        self.c = self._subset_weights()
        self.var_lo = (~self.hit[self.gid]).astype(np.float64) @ self.c

    def _rebuild(self, rows: np.ndarray, y: np.ndarray, scale: np.ndarray) -> None:
        n = len(rows)
        self.stats["rebuilds"] += 1
        self.rows, self.y = rows.copy(), y.copy()
        self.row_scale = scale.copy()
        codes = self.codes[rows]
        m = np.zeros((n, n), dtype=np.int64)
        for j in range(self.n_attributes):
            m += codes[:, j, None] == codes[None, :, j]
        k = self.f[m]
        k[np.diag_indices(n)] += self.noise * scale
        self.lo, self.vt = np.zeros((0, 0)), np.zeros((0, 0))
        self.a_y, self.a_1 = np.zeros(0), np.zeros(0)
        self._reserve(n)
        self.lo[:n, :n] = np.linalg.cholesky(k)
        self.n = n
        self.a_y[:n] = _forward(self.lo, n, y)
        self.a_1[:n] = _forward(self.lo, n, np.ones(n))
        self._reset_bounds()
        observed = np.zeros(self.n_rows, dtype=bool)
        observed[rows] = True
        old = [r for r in self.pool if not observed[r]]
        if self.n_rows - n <= self.pool_size:
            old = np.flatnonzero(~observed).tolist()
        self.slot[:] = -1
        self.pool, self.sq = [], np.zeros(0)
        self._add_to_pool(np.asarray(old, dtype=np.int64))

    def _truncate(self, keep: int) -> None:
        """Condition on the first ``keep`` observations only (the factor's leading block)."""
        self.n = keep
        self.rows, self.y = self.rows[:keep], self.y[:keep]
        self.row_scale = self.row_scale[:keep]
        p = len(self.pool)
        self.sq = (self.vt[:p, :keep] ** 2).sum(1)
        self._reset_bounds()

    def _columns(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n): L⁻¹ k(X, x) of these rows."""
        n = self.n
        codes = self.codes[self.rows[:n]]
        m = np.zeros((n, len(rows)), dtype=np.int64)
        for j in range(self.n_attributes):
            m += codes[:, j, None] == self.codes[rows, j][None, :]
        self.stats["exact_columns"] += len(rows)
        return _forward(self.lo, n, self.f[m]).T

    def _add_to_pool(self, rows: np.ndarray) -> np.ndarray:
        """Exact columns of ``rows`` (added to the pool); returns their posterior variance."""
        out = np.empty(len(rows))
        for s in range(0, len(rows), 1024):
            part = rows[s: s + 1024]
            cols = self._columns(part) if self.n else np.zeros((len(part), 0))
            p = len(self.pool)
            if p + len(part) > len(self.vt):
                self.vt = _grow(self.vt, (max(p + len(part), int(len(self.vt) * 1.5), 64),
                                          len(self.lo)))
            self.vt[p: p + len(part), : self.n] = cols
            sq = (cols**2).sum(1)
            self.sq = np.r_[self.sq, sq]
            self.slot[part] = np.arange(p, p + len(part))
            self.pool.extend(int(r) for r in part)
            out[s: s + len(part)] = self.f[self.n_attributes] - sq
        return out

    def _drop(self, row: int) -> None:
        i = int(self.slot[row])
        if i < 0:
            return
        last = len(self.pool) - 1
        if i != last:
            moved = self.pool[last]
            self.vt[i, : self.n] = self.vt[last, : self.n]
            self.sq[i] = self.sq[last]
            self.pool[i] = moved
            self.slot[moved] = i
        self.pool.pop()
        self.sq = self.sq[:last]
        self.slot[row] = -1

    def _append(self, row: int, y: float, scale: float) -> None:
        n = self.n
        self.stats["appends"] += 1
        self._reserve(n + 1)
        i = int(self.slot[row])
        if i >= 0:
            col = self.vt[i, :n].copy()
        else:
            col = _forward(self.lo, n, self.f[self._matches(self.rows[:n], row)]) if n else \
                np.zeros(0)
        kjj = self.f[self.n_attributes] + self.noise * scale
        d = float(np.sqrt(max(kjj - col @ col, 1e-12 * kjj)))
        self.lo[n, :n] = col
        self.lo[n, n] = d
        self.a_y[n] = (y - col @ self.a_y[:n]) / d
        self.a_1[n] = (1.0 - col @ self.a_1[:n]) / d
        if i >= 0:
            self._drop(row)
        p = len(self.pool)
        if p:
            kp = self.f[self._matches(np.asarray(self.pool), row)]
            v = (kp - self.vt[:p, :n] @ col) / d
            self.vt[:p, n] = v
            self.sq += v * v
        for g in self.gid[row][~self.hit[self.gid[row]]]:
            self.var_lo[self.members[self.starts[g]: self.starts[g + 1]]] -= \
                self.c[self.subset_of[g]]
        self.hit[self.gid[row]] = True
        self.rows = np.r_[self.rows[:n], row]
        self.y = np.r_[self.y[:n], y]
        self.row_scale = np.r_[self.row_scale[:n], scale]
        self.n = n + 1

    # ------------------------------------------------------------------ posterior
    def _alpha(self) -> np.ndarray:
        n = self.n
        zeta = (self.a_y[:n] - self.mean * self.a_1[:n]) / self.scale
        return _backward(self.lo, n, zeta)

    def _means(self, rows: np.ndarray, alpha: np.ndarray, c: np.ndarray) -> np.ndarray:
        sums = np.bincount(self.gid[self.rows[: self.n]].ravel(),
                           weights=(alpha[:, None] * c[None, :]).ravel(),
                           minlength=self.n_groups)
        out = np.zeros(len(rows))
        for s in range(len(c)):
            out += sums.take(self.gid_t[s].take(rows))
        return out * self.scale + self.mean

    def predict_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact posterior mean and epistemic sd of these rows of the table."""
        rows = np.asarray(rows, dtype=np.int64)
        mean = self._means(rows, self._alpha(), self._subset_weights())
        var = np.empty(len(rows))
        slot = self.slot[rows]
        inpool = slot >= 0
        var[inpool] = self.f[self.n_attributes] - self.sq[slot[inpool]]
        if (~inpool).any():
            for s in range(0, int((~inpool).sum()), 1024):
                part = rows[~inpool][s: s + 1024]
                cols = self._columns(part)
                var[np.flatnonzero(~inpool)[s: s + 1024]] = \
                    self.f[self.n_attributes] - (cols**2).sum(1)
        return mean, np.sqrt(np.maximum(var, 0.0)) * self.scale

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise TypeError("IncrementalAdditiveGP predicts rows of its table: use predict_rows")

    def scores(self, rows: np.ndarray, y: np.ndarray,
               score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
               level_of: Callable[[np.ndarray], float] | None = None) -> np.ndarray:
        """The acquisition of every candidate row, exact wherever it can reach the maximum.

        ``score(mean, std, rows) -> values`` must be monotone in ``std`` (either way) for each
        row. ``level_of(means)`` is called once with all the candidates' means (PF's level).
        Candidates left with a bound score strictly below the best exact one get that bound.
        """
        rows = np.asarray(rows, dtype=np.int64)
        top = self.f[self.n_attributes]
        c = self._subset_weights()
        mean = self._means(rows, self._alpha(), c)
        if level_of is not None:
            level_of(mean)
        slot = self.slot[rows]
        exact = slot >= 0
        var = np.empty(len(rows))
        var[exact] = top - self.sq[slot[exact]]
        lo = np.maximum(self.var_lo[rows], 0.0)
        hi = np.maximum(np.minimum(self.var_hi[rows], top), lo)
        sd = np.sqrt(np.maximum(var, 0.0)) * self.scale
        out = np.where(exact, score(mean, sd, rows), -np.inf)
        rest = np.flatnonzero(~exact)
        if len(rest):
            m = mean[rest]
            bound = np.maximum(score(m, np.sqrt(lo[rest]) * self.scale, rows[rest]),
                               score(m, np.sqrt(hi[rest]) * self.scale, rows[rest]))
            out[rest] = bound
        while True:
            best = out[exact].max() if exact.any() else -np.inf
            tol = 1e-9 * max(1.0, abs(best)) if np.isfinite(best) else 0.0
            need = np.flatnonzero(~exact & (out >= best - tol))
            if not len(need):
                break
            need = need[np.argsort(-out[need], kind="stable")[:512]]
            v = self._add_to_pool(rows[need])
            exact[need] = True
            out[need] = score(mean[need], np.sqrt(np.maximum(v, 0.0)) * self.scale, rows[need])
        self._evict(out, rows)
        return out

    def _evict(self, out: np.ndarray, rows: np.ndarray) -> None:
        """Keep the ``pool_max`` best-scored pool members; the others keep their exact
        variance as an upper bound."""
        p = len(self.pool)
        if p <= self.pool_max:
            return
        score = np.full(self.n_rows, -np.inf)
        score[rows] = out
        members = np.asarray(self.pool)
        keep = np.sort(np.argsort(-score[members], kind="stable")[: self.pool_max])
        gone = np.setdiff1d(np.arange(p), keep)
        self.var_hi[members[gone]] = self.f[self.n_attributes] - self.sq[gone]
        self.slot[members[gone]] = -1
        self.vt[: len(keep), : self.n] = self.vt[keep, : self.n]
        self.sq = self.sq[keep]
        self.pool = members[keep].tolist()
        self.slot[members[keep]] = np.arange(len(keep))

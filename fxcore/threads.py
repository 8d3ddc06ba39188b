"""How many CPU threads a job's numeric libraries use (``--threads`` / ``FXCORE_THREADS``).

torch starts one OpenMP thread per CPU. fxcore's models and batches are small, so extra threads
gain little, and when other processes hold some of the cores OpenMP threads wait on each other:
``fx mds`` steps ran 6-10x slower on torch's default (2) than on one thread on a shared 2-core
machine. The figures behind :data:`DEFAULT_THREADS` are in ``docs/performance.md``.

Call :func:`apply_threads` once at job start, before the job imports torch, scikit-learn or
SciPy: the OpenMP / BLAS variables it sets are read only when those libraries load. torch
already loaded is set directly; a BLAS already loaded (numpy's) through threadpoolctl when that
is installed.
"""

from __future__ import annotations

import os
import sys

from fxcore.errors import ConfigError

#: the environment variable that sets the thread count when ``--threads`` is not given
THREADS_ENV = "FXCORE_THREADS"
#: the thread count when neither is given: one. No measured fxcore workload ran faster on two
#: threads than on one, idle or busy (docs/performance.md)
DEFAULT_THREADS = 1
#: read by OpenMP (torch, scikit-learn), MKL and OpenBLAS (numpy, SciPy) when they load
LIBRARY_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def resolve_threads(n: int | None = None) -> int:
    """``n`` (``--threads``), else ``$FXCORE_THREADS``, else :data:`DEFAULT_THREADS`.

    Raises :class:`~fxcore.errors.ConfigError` naming the source when the value is not a whole
    number ≥ 1.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"--threads must be a whole number >= 1, got {n!r}")
        return n
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{THREADS_ENV} must be a whole number >= 1, got {raw!r}")
    return value


def apply_threads(n: int | None = None) -> int:
    """Resolve the thread count (:func:`resolve_threads`), apply it, and return it.

    Sets :data:`LIBRARY_VARS` for libraries not loaded yet (and child processes), torch's
    intra-op threads when torch is loaded, and a loaded BLAS's pool via threadpoolctl. Does not
    import torch; torch loaded later caps the count at the CPUs.
    """
    threads = resolve_threads(n)
    for var in LIBRARY_VARS:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    if "numpy" in sys.modules:
        _limit_loaded_blas(threads)
    return threads


def _limit_loaded_blas(threads: int) -> None:
    """Resize the BLAS pools already loaded (numpy's OpenBLAS reads its variable only at load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=threads, user_api="blas")

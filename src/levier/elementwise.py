"""Element-wise ``exp``, ``log`` and ``pow`` whose bits do not depend on the processor.

numpy's ``np.exp``, ``np.log`` and ``np.power`` on float64 arrays run vector code chosen when
numpy starts, by the processor's extensions: on a machine with AVX-512 they are not the code of a
machine with AVX2 only, and their results differ in the last bit for some arguments (the shipped
scenarios' investments and bank loans did). levier's results must be the same bytes wherever
they are computed — a laptop, a server, the workers of a Dask cluster — so what they depend on
is computed here by the C library's scalar functions (``math.exp`` and friends, one call per
element). Their results depend on the library, and on one choice it makes by processor: glibc
on an x86-64 runs variants built with fused multiply-adds where the processor has them (every
x86-64 since 2013) and others where it has not, and these differ in a last bit now and then.
numpy's conventions are kept: ``log(0)`` is ``-inf``, the log of a negative number ``nan``, an
overflowing ``exp`` ``inf``, and a power with no finite value numpy's own.

These serve the arrays of a scenario's set-up (projects, sectors, years): a few microseconds per
thousand values. The engine's per-path exponentials are compiled
(:func:`levier.engine.kernel.exp_into`, glibc's algorithm written out, the same bits).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["exp", "log", "log1p", "power"]


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def _log1p(x: float) -> float:
    if x > -1.0:
        return math.log1p(x)
    return -math.inf if x == -1.0 else math.nan


def _map(function: Callable[[float], float], x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    flat = np.fromiter(map(function, a.ravel().tolist()), dtype=np.float64, count=a.size)
    return flat.reshape(a.shape)


def exp(x) -> np.ndarray:
    """``e ** x`` element by element (the C library's ``exp``), as a float64 array of x's shape."""
    return _map(_exp, x)


def log(x) -> np.ndarray:
    """The natural logarithm element by element (the C library's ``log``)."""
    return _map(_log, x)


def log1p(x) -> np.ndarray:
    """``log(1 + x)`` element by element (the C library's ``log1p``)."""
    return _map(_log1p, x)


def power(base, exponent) -> np.ndarray:
    """``base ** exponent`` element by element, broadcast (the C library's ``pow``; ``nan`` where
    it has no real value)."""
    b, e = np.broadcast_arrays(np.asarray(base, dtype=np.float64), np.asarray(exponent, dtype=np.float64))

    def one(pair: tuple[float, float]) -> float:
        try:
            return math.pow(*pair)
        except (OverflowError, ValueError):  # +-inf, or nan: numpy's, with its signs (no rounding in them)
            with np.errstate(all="ignore"):
                return float(np.power(*pair))

    flat = np.fromiter(map(one, zip(b.ravel().tolist(), e.ravel().tolist())), dtype=np.float64, count=b.size)
    return flat.reshape(b.shape)

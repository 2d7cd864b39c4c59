"""Numpy versions of pieces of the model, pure functions of arrays: the AR(1) factors, the tabulated
recovery lookup and the recovery waterfall.

The engine's own work is compiled (:mod:`levier.engine.kernel`); these serve the tail estimator's
twist (the waterfall at the mean recovery) and the tests, as plain versions to check it against.
"""

from __future__ import annotations

import numpy as np


__all__ = [
    "ar1_factors",
    "recovery_rate",
    "waterfall",
]


def ar1_factors(shocks: np.ndarray, autocorrelation: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:
    """Stationary AR(1) factor paths from standard normal shocks.

    Parameters
    ----------
    shocks : ndarray (n, T, F)
        Independent standard normals.
    autocorrelation : ndarray (F,)
        Year-to-year autocorrelation of each factor (0 = independent years).
    fixed : ndarray (T, F), optional
        Factor values imposed by a stress (NaN = random): a fixed year replaces ``Z_t`` on every
        path, and the years after it continue the recursion from the fixed value.

    Returns
    -------
    ndarray (n, T, F)
        ``Z_1 = e_1``, ``Z_t = a Z_{t-1} + sqrt(1 - a^2) e_t``: each ``Z_t`` is N(0, 1).
    """
    z = np.array(shocks, dtype=float, copy=True)
    a = np.asarray(autocorrelation, dtype=float)
    values = None if fixed is None else np.asarray(fixed, dtype=float)
    given = None if values is None else ~np.isnan(values)
    if not np.any(a):
        if values is not None and given is not None:
            z[:, given] = values[given]
        return z
    scale = np.sqrt(1.0 - a * a)
    if values is not None and given is not None:
        z[:, 0, given[0]] = values[0, given[0]]
    for t in range(1, z.shape[1]):
        z[:, t, :] = a * z[:, t - 1, :] + scale * z[:, t, :]
        if values is not None and given is not None:
            z[:, t, given[t]] = values[t, given[t]]
    return z


def recovery_rate(u: np.ndarray, sector: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Recovery rates by inversion of uniforms ``u`` through each sector's quantile table.

    Inversion keeps common random numbers when a recovery parameter changes.

    Parameters
    ----------
    u : ndarray (k,)
        Uniforms on [0, 1).
    sector : ndarray of int (k,)
    tables : ndarray (S, size + 1)
        From :func:`beta_quantile_table`, one row per sector.
    """
    size = tables.shape[1] - 1
    x = np.asarray(u, dtype=float) * size
    cell = np.minimum(x.astype(np.intp), size - 1)
    flat = tables.reshape(-1)
    at = sector * (size + 1) + cell
    lo = np.take(flat, at)
    return lo + (x - cell) * (np.take(flat, at + 1) - lo)


def waterfall(pool: np.ndarray, bank_outstanding: np.ndarray, fund_outstanding: np.ndarray):
    """Split a recovery pool: the bank (senior) first, the fund (subordinated) with the rest.

    Returns
    -------
    bank_recovery, fund_recovery : ndarray
        ``bank = min(pool, B_out)``, ``fund = min(pool - bank, P_out)``.
    """
    bank = np.minimum(pool, bank_outstanding)
    fund = np.minimum(pool - bank, fund_outstanding)
    return bank, fund

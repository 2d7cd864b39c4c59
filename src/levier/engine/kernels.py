"""Pure vectorised kernels of the model: factors, conditional PDs, recoveries, the waterfall, group sums.

Every function here is a pure function of arrays (no I/O, no global random state, no Python loop
over paths or projects).
"""

from __future__ import annotations


import numpy as np
from scipy import special


__all__ = [
    "ar1_factors",
    "conditional_pd",
    "group_cumsum",
    "group_sums",
    "lognormal_ratio",
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
    given = None if fixed is None else ~np.isnan(fixed)
    if not np.any(a):
        if given is not None:
            z[:, given] = fixed[given]
        return z
    scale = np.sqrt(1.0 - a * a)
    if given is not None:
        z[:, 0, given[0]] = fixed[0, given[0]]
    for t in range(1, z.shape[1]):
        z[:, t, :] = a * z[:, t - 1, :] + scale * z[:, t, :]
        if given is not None:
            z[:, t, given[t]] = fixed[t, given[t]]
    return z


def conditional_pd(
    pd_threshold: np.ndarray,
    systematic: np.ndarray,
    idiosyncratic_sd: np.ndarray,
) -> np.ndarray:
    """Annual default probability given the systematic factors (Vasicek / Merton one period).

    ``p = Phi((Phi^-1(h) - beta . Z) / sqrt(1 - |beta|^2))``.

    Parameters
    ----------
    pd_threshold : ndarray (m,)
        ``Phi^-1(h)`` for each project.
    systematic : ndarray (n, m)
        ``beta_i . Z_t`` for each path and project.
    idiosyncratic_sd : ndarray (m,)
        ``sqrt(1 - |beta_i|^2)``.
    """
    return special.ndtr((pd_threshold - systematic) / idiosyncratic_sd)


#: Intervals of the tabulated recovery quantile function: its law is within 1 / RECOVERY_GRID
#: of the exact Beta in Kolmogorov distance (see :func:`beta_quantile_table`).


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


def lognormal_ratio(z: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """A positive ratio with the given mean: ``mean * exp(sigma z - sigma^2 / 2)``."""
    return mean * np.exp(sigma * z - 0.5 * sigma * sigma)


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


def group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 1 restarted within each group (inclusive, in column order).

    Parameters
    ----------
    values : ndarray (n, k)
    groups : ndarray of int (k,)

    Examples
    --------
    >>> group_cumsum(np.array([[1., 2., 3., 4.]]), np.array([0, 1, 0, 1])).tolist()
    [[1.0, 2.0, 4.0, 6.0]]
    """
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    csum = np.cumsum(values[:, order], axis=1)
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    lengths = np.diff(np.r_[starts, g.size])
    before = np.where(starts > 0, csum[:, np.maximum(starts - 1, 0)], 0.0)
    csum -= np.repeat(before, lengths, axis=1)
    out = np.empty_like(csum)
    out[:, order] = csum
    return out


def group_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the columns of ``values`` (n, k) by group code, giving (n, n_groups).

    Unlike a product with a one-hot matrix (BLAS, whose rounding depends on how many rows it
    is given), each row's sum here is computed the same way whatever the number of rows: the
    results do not depend on the chunk size, to the last bit.
    """
    out = np.zeros((values.shape[0], n_groups))
    for g in np.unique(codes):  # a loop over sectors or territories, not projects
        out[:, g] = values[:, codes == g].sum(axis=1)
    return out



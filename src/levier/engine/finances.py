"""The fund's own finances, path by path, from its yearly cash: the J-curve, the capital it
actually needs at the trough, what it has left to lend, and its internal rate of return.

Pure functions of the per-path yearly flows (the IRR's search compiled, row by row):
:func:`~levier.engine.paths.simulate_paths` runs them on the compiled kernel's float64 yearly
output, before anything is kept in float32.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["IRR_BRACKET", "fund_finances", "internal_rate_of_return"]

#: Rates searched for an IRR: from -99 % to +1000 % a year. A root outside is reported as NaN.
IRR_BRACKET = (-0.99, 10.0)
_GRID = 96  # cells of the search grid in log(1 + r); a root is then refined by bisection
_BISECTIONS = 64
_LOG_GRID = np.linspace(math.log1p(IRR_BRACKET[0]), math.log1p(IRR_BRACKET[1]), _GRID + 1)  # libm's, not numpy's vector code
_DISCOUNT = np.array([math.exp(-g) for g in _LOG_GRID])  # libm's exp, as the compiled NPV takes it


def internal_rate_of_return(flows: np.ndarray) -> np.ndarray:
    """The internal rate of return of each row of yearly flows (column ``t`` at time ``t``).

    Parameters
    ----------
    flows : ndarray (n, T + 1)
        Net flows to the fund (inflows positive), at times 0 .. T.

    Returns
    -------
    ndarray (n,)
        The rate ``r`` in :data:`IRR_BRACKET` with ``sum_t flows_t (1 + r)^-t = 0``; where the
        NPV changes sign more than once, the root nearest to 0 %; NaN where it does not change
        sign in the bracket (all flows of one sign, nothing lent).

    Notes
    -----
    The NPV (Horner's rule in ``(1 + r)^-1``) is evaluated on a grid of 96 cells in
    ``log(1 + r)``, the sign change nearest to ``r = 0`` is kept, and the root is refined by 64
    bisections (to the float64 resolution of the cell). Compiled, row by row
    (:func:`levier.engine.kernel.irr_rows`): numpy's cost per call made it several per cent of
    a run. Cost O(n · T · 160).
    """
    from levier.engine.kernel import irr_rows  # numba, imported when a path is first simulated

    flows = np.ascontiguousarray(flows, dtype=float)
    out = np.empty(flows.shape[0])
    irr_rows(flows, _LOG_GRID, _DISCOUNT, _BISECTIONS, out)
    return out


def fund_finances(cash_flow: np.ndarray, disbursed: np.ndarray, outstanding_end: np.ndarray, available_end: np.ndarray,
                  book_value: float = 0.0) -> dict[str, np.ndarray]:
    """The fund's J-curve, peak need, capital left and IRR, path by path.

    Parameters
    ----------
    cash_flow : ndarray (n, T)
        The fund's net cash of each year (inflows minus outflows: ``fund_cash_flow``).
    disbursed : ndarray (n, T)
        What the fund paid out at entry in each year (loans and subsidies, within ``cash_flow``).
    outstanding_end : ndarray (n,)
        Principal still owed by live firms at the horizon, valued at par in the IRR.
    available_end : ndarray (n,)
        What the kernel's lending rule has left to lend after the last year: ``fund.capital``
        less what was disbursed, plus (with ``fund.recycle``) the principal, recoveries and
        clawbacks collected — interest and operating costs are outside it (``fund_capital_end``).
    book_value : float, optional
        What the loan book's loans granted before year 1 still owe at the start: the IRR counts
        it as the fund's outlay at time 0 (the book bought at par); the cumulative cash, which
        starts in year 1, does not.

    Returns
    -------
    dict
        ``fund_cumulative_cash`` (n, T), ``fund_peak_need``, ``fund_capital_end`` and
        ``fund_irr`` (n,).

    Notes
    -----
    The flows are timed as :func:`~levier.engine.paths.simulate_paths` discounts them for
    ``fund_net_cost``, and as the kernel lends: a year's disbursements at its start (time
    ``t - 1``), its other flows at its end (time ``t``). So the trough of the cumulative cash is
    taken both just after each year's disbursements (before that year's repayments come in) and
    at each year's end, and ``fund_irr`` equals the discount rate exactly when the path's
    ``fund_net_cost`` is zero; a loan repaid as agreed returns its own rate.
    """
    n = cash_flow.shape[0]
    cumulative = np.cumsum(cash_flow, axis=1)
    opening = np.concatenate([np.zeros((n, 1)), cumulative[:, :-1]], axis=1) - disbursed  # after the year's loans
    peak_need = (np.maximum(0.0, -np.minimum(opening, cumulative).min(axis=1)) if cumulative.shape[1]
                 else np.zeros(n))
    flows = np.concatenate([np.full((n, 1), -float(book_value)), cash_flow + disbursed], axis=1)
    flows[:, :-1] -= disbursed
    flows[:, -1] += outstanding_end
    return {
        "fund_cumulative_cash": cumulative,
        "fund_peak_need": peak_need,
        "fund_capital_end": np.array(available_end, dtype=float),
        "fund_irr": internal_rate_of_return(flows),
    }

"""Summary statistics of Monte Carlo samples: standard errors, quantiles, VaR, expected shortfall.

Conventions (all on the *upper* tail, where a loss is large):

* ``VaR_alpha`` is the lower alpha-quantile of the sample, the smallest x whose empirical
  distribution function reaches alpha: ``L_(ceil(n alpha))`` of the sorted sample.
* ``ES_alpha`` is the expected shortfall of Acerbi & Tasche (2002),
  ``(1 / (1 - alpha)) * integral_alpha^1 VaR_u du`` under the empirical distribution. For a
  discrete (or sampled) loss this is the coherent definition: the order statistic straddling
  alpha gets the fractional weight ``(ceil(n alpha) - n alpha) / (n (1 - alpha))``, so ES is
  right even when many paths share the VaR value (e.g. zero losses). It is never below VaR.

For a metric where more is better (jobs, :func:`levier.names.tail_side`), the risk is the lower
tail, and ``side="lower"`` gives the same statistics of the shortfall by symmetry:
``VaR_alpha = -VaR_alpha(-X)`` (the (1 - alpha)-quantile from below: "at least this many jobs
with probability alpha") and ``ES_alpha = -ES_alpha(-X)`` (the mean over the worst 1 - alpha).

References
----------
Acerbi, C. and Tasche, D. (2002). On the coherence of expected shortfall. Journal of Banking &
Finance 26(7), 1487-1503. https://doi.org/10.1016/S0378-4266(02)00283-2
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import special  # scipy.stats where used: a second of every start-up

__all__ = [
    "Sectioned",
    "Z95",
    "binomial_cdf",
    "binomial_interval",
    "binomial_ppf",
    "describe",
    "mean_se",
    "sectioning",
    "tail_dot",
    "tail_start",
    "es_weights",
    "expected_shortfall",
    "ordered_dot",
    "quantile_interval",
    "ratio_of_means",
    "value_at_risk",
    "weighted_tail",
    "zero_count_upper_bound",
]


def _rank(n: int, alpha: float) -> int:
    # ceil(n * alpha), robust to n * alpha landing a hair above an integer in floating point
    return max(1, min(n, math.ceil(n * alpha - 1e-9)))


def value_at_risk(values: np.ndarray, alpha: float, *, presorted: bool = False) -> float:
    """Lower alpha-quantile ``L_(ceil(n alpha))`` (NaNs must be removed first)."""
    x = np.asarray(values, dtype=float) if presorted else np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return float("nan")
    return float(x[_rank(x.size, alpha) - 1])


def binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(Binomial(n, p) <= k)``: ``1 - I_p(k + 1, n - k)`` by :func:`scipy.special.betaincc`
    (Boost's incomplete beta, which ``scipy.stats.binom`` also uses, evaluated its own way: the
    two agree to a few dozen ulps, not always to the bit)."""
    if k < 0:
        return 0.0
    return 1.0 if k >= n else float(special.betaincc(k + 1, n - k, p))


def binomial_ppf(q: float, n: int, p: float) -> int:
    """The smallest ``k`` in ``0 .. n`` with ``P(Binomial(n, p) <= k) >= q`` (``0 < q < 1``).

    What ``scipy.stats.binom(n, p).ppf(q)`` returns (the same on 560 000 cases at the summary's
    levels and at random ones; where the CDF passes within a few dozen ulps of ``q`` the two can
    differ by one), without importing ``scipy.stats`` (half a second of every command that prints
    a summary): a start from the continuous inverse :func:`scipy.special.bdtrik`, then steps on
    :func:`binomial_cdf` until ``k`` is the smallest that reaches ``q``.
    """
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    guess = float(special.bdtrik(q, n, p))
    k = min(max(math.floor(guess), 0), n) if math.isfinite(guess) else 0
    while k > 0 and binomial_cdf(k - 1, n, p) >= q:
        k -= 1
    while k < n and binomial_cdf(k, n, p) < q:
        k += 1
    return k


def quantile_interval(values: np.ndarray, alpha: float, confidence: float = 0.95, *, presorted: bool = False) -> tuple[float, float]:
    """Distribution-free confidence interval for the alpha-quantile, from order statistics.

    The number of sample points at or below the true quantile is Binomial(n, alpha), so
    ``[L_(l), L_(u)]`` with ``l = F^-1(c/2) `` and ``u = F^-1(1 - c/2) + 1`` (F the binomial
    cdf, c = 1 - confidence) covers it with probability at least ``confidence`` whatever the
    distribution (exactly for a continuous one, conservatively for a discrete one).

    Returns
    -------
    (low, high) : tuple of float
        NaN bounds where the sample is too small for the level (the interval would reach past
        the smallest or largest point).

    References
    ----------
    David, H. A. and Nagaraja, H. N. (2003). Order Statistics, 3rd ed., §7.1. Wiley.
    """
    if not 0.0 <= alpha <= 1.0:  # NaN too
        raise ValueError(f"the quantile's level must be in [0, 1], got {alpha}")
    x = np.asarray(values, dtype=float) if presorted else np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    lo = binomial_ppf(tail, n, alpha)  # P(B <= lo - 1) < tail: the lo-th order statistic (1-based) is safe
    hi = binomial_ppf(1 - tail, n, alpha) + 1
    low = float(x[lo - 1]) if lo >= 1 else float("nan")
    high = float(x[hi - 1]) if hi <= n else float("nan")
    return low, high


def ordered_dot(weights: np.ndarray, values: np.ndarray) -> Any:
    """``weights @ values`` over the first axis, summed in an order that is numpy's own and fixed
    (its pairwise sum of ``weights * column``, one column at a time), so the same bits on every
    machine. A BLAS dot product's order is its kernel's, and OpenBLAS chooses the kernel by
    processor: the expected shortfall and its contributions moved in their last digits with it.

    Returns a float for 1-d ``values``, an array of ``values.shape[1:]`` otherwise.
    """
    w = np.asarray(weights, dtype=float)
    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        return float(np.add.reduce(w * x))
    columns = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
    out = np.empty(columns.shape[1])
    for j in range(columns.shape[1]):
        out[j] = np.add.reduce(w * columns[:, j])
    return out.reshape(x.shape[1:])


def tail_dot(weights: np.ndarray, values: np.ndarray, order: np.ndarray | None = None) -> Any:
    """``weights @ values[order]`` (``values`` itself without ``order``) for the weights of
    :func:`es_weights`, by :func:`ordered_dot` over their non-zero tail only: the rows below it
    are neither gathered nor summed."""
    start = tail_start(weights)
    return ordered_dot(weights[start:], values[start:] if order is None else values[order[start:]])


def tail_start(weights: np.ndarray) -> int:
    """Where the non-zero tail of :func:`es_weights` starts (the weights before it are 0; 0 for
    no weights)."""
    return int(np.argmax(weights > 0)) if weights.size else 0


def es_weights(n: int, alpha: float) -> np.ndarray:
    """Weights of the sorted sample (ascending) whose dot product is ``ES_alpha``.

    They are non-negative and sum to 1; see the module docstring.

    Examples
    --------
    >>> es_weights(4, 0.5).tolist()
    [0.0, 0.0, 0.5, 0.5]
    >>> es_weights(4, 0.6).round(3).tolist()
    [0.0, 0.0, 0.375, 0.625]
    """
    weights = np.zeros(n)
    if n == 0:
        return weights
    k = _rank(n, alpha)  # the order statistic (1-based) that straddles alpha
    weights[k - 1] = max(k / n - alpha, 0.0)
    weights[k:] = 1.0 / n
    return weights / weights.sum()


def expected_shortfall(values: np.ndarray, alpha: float, *, presorted: bool = False) -> float:
    """Expected shortfall (Acerbi-Tasche) of a sample at level alpha (NaNs removed first)."""
    x = np.asarray(values, dtype=float) if presorted else np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return float("nan")
    return tail_dot(es_weights(x.size, alpha), x)


def ratio_of_means(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
    """``mean(x) / mean(y)`` with its delta-method standard error.

    ``se = sd(x - r y) / (sqrt(n) |mean(y)|)``: the Monte Carlo error of a ratio estimator such
    as cost per job (total net cost / total additional jobs) or bank € per fund €.
    """
    x = np.asarray(numerator, dtype=float)
    y = np.asarray(denominator, dtype=float)
    my = y.mean()
    if my == 0 or x.size == 0:
        return float("nan"), float("nan")
    r = x.mean() / my
    se = float(np.std(x - r * y, ddof=1) / (math.sqrt(x.size) * abs(my))) if x.size > 1 else float("nan")
    return float(r), se


def mean_se(values: np.ndarray) -> float:
    """The Monte Carlo standard error of the mean of ``values``, ``sd / sqrt(n)`` (sample sd);
    NaN for fewer than two values, whose spread one cannot measure."""
    x = np.asarray(values, dtype=float)
    return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan


def binomial_interval(k: int, n: int) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided 95 % interval of a probability seen ``k`` times in
    ``n`` independent draws: it covers at least 95 % whatever the probability, where the normal
    approximation does not for a rare event. ``(0, 1 - 0.025^(1/n))`` for ``k = 0``.

    >>> [round(x, 6) for x in binomial_interval(0, 1000)], [round(x, 5) for x in binomial_interval(5, 1000)]
    ([0.0, 0.003682], [0.00163, 0.01163])
    """
    from scipy.special import betaincinv

    if n <= 0:
        return math.nan, math.nan
    if k <= 0:
        return 0.0, zero_count_upper_bound(n)
    high = 1.0 if k >= n else float(betaincinv(k + 1, n - k, 0.975))
    return float(betaincinv(k, n - k + 1, 0.025)), high


def zero_count_upper_bound(n: int) -> float:
    """The exact (Clopper–Pearson) two-sided 95 % upper bound of a probability of which none of
    ``n`` independent draws was an instance: ``1 - 0.025^(1/n)``, about 3.7 / n (NaN for n = 0).

    >>> round(zero_count_upper_bound(1000), 6)
    0.003682
    """
    return 1.0 - 0.025 ** (1.0 / n) if n > 0 else math.nan


def describe(
    values: np.ndarray,
    quantiles: Sequence[float],
    risk_levels: Sequence[float] = (),
    side: str = "upper",
) -> dict[str, float]:
    """Mean, sd, Monte Carlo standard error, quantiles, and (if asked) VaR with its 95 %
    order-statistic interval, and ES, of the ``side`` tail (``"upper"``: losses; ``"lower"``:
    the shortfall of a metric where more is better).

    NaN entries (a ratio with a zero denominator on that path) are counted in ``missing`` and
    left out of every statistic. With a single value, ``std`` and ``mc_se`` are NaN: one draw
    says nothing about the spread.
    """
    _check_side(side)
    x = np.asarray(values, dtype=float)
    finite = x[~np.isnan(x)]
    n = finite.size
    out: dict[str, float] = {"count": float(n), "missing": float(x.size - n)}
    if n == 0:
        out.update(mean=np.nan, std=np.nan, mc_se=np.nan)
        out.update({f"q_{q:g}": np.nan for q in quantiles})
        for a in risk_levels:
            out[f"var_{a:g}"] = out[f"var_{a:g}_low"] = out[f"var_{a:g}_high"] = out[f"es_{a:g}"] = np.nan
        return out
    finite.sort()
    std = float(finite.std(ddof=1)) if n > 1 else np.nan  # one value has no spread to measure: undefined, not 0
    out.update(mean=float(finite.mean()), std=std, mc_se=std / math.sqrt(n))
    for q in quantiles:
        out[f"q_{q:g}"] = value_at_risk(finite, q, presorted=True)
    tail = finite if side == "upper" else -finite[::-1]  # the lower tail of X is the upper tail of -X
    back = (lambda x: x) if side == "upper" else _negated
    for a in risk_levels:
        out[f"var_{a:g}"] = back(value_at_risk(tail, a, presorted=True))
        low, high = quantile_interval(tail, a, presorted=True)
        out[f"var_{a:g}_low"], out[f"var_{a:g}_high"] = (low, high) if side == "upper" else (_negated(high), _negated(low))
        out[f"es_{a:g}"] = back(expected_shortfall(tail, a, presorted=True))
    return out


def _negated(x: float) -> float:
    """``-x``, but 0 for 0: a lower tail taken by symmetry gives no ``-0.0`` (written so in a table)."""
    return 0.0 - x


def _check_side(side: str) -> None:
    if side not in ("upper", "lower"):
        raise ValueError(f"side must be 'upper' or 'lower', got {side!r}")


def weighted_tail(values: np.ndarray, weights: np.ndarray, alpha: float, side: str = "upper") -> tuple[float, float]:
    """VaR and ES at level alpha from a weighted sample (importance sampling).

    ``side="lower"``: those of the lower tail, ``-weighted_tail(-values, ...)``.

    The sample stands for the measure putting mass ``w_i / N`` on ``x_i``; its tail function is
    ``G(x) = (1/N) sum w_i 1{x_i > x}``. ``VaR = min{x_i : G(x_i) <= 1 - alpha}`` and
    ``ES = [(1/N) sum w_i x_i 1{x_i > VaR} + VaR (1 - alpha - G(VaR))] / (1 - alpha)``: with all
    weights 1 these are exactly :func:`value_at_risk` and :func:`expected_shortfall`.

    References
    ----------
    Glynn, P. W. (1996). Importance sampling for Monte Carlo estimation of quantiles. Proc. 2nd
    Workshop on Mathematical Methods in Stochastic Simulation and Experimental Design, 180-185.
    """
    _check_side(side)
    if side == "lower":
        var, es = weighted_tail(-np.asarray(values, dtype=float), weights, alpha)
        return _negated(var), _negated(es)
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    n = x.size
    if n == 0:
        return float("nan"), float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order] / n
    above = np.r_[np.cumsum(w[::-1])[::-1][1:], 0.0]  # mass strictly after each sorted position
    last_of_tie = np.searchsorted(x, x, side="right") - 1
    tail = above[last_of_tie]  # G(x_i): mass of values strictly greater than x_i
    ok = np.flatnonzero(tail <= 1 - alpha + 1e-15)
    k = int(ok[0]) if ok.size else n - 1
    var = float(x[k])
    beyond = x > var
    es = (ordered_dot(w[beyond], x[beyond]) + var * (1 - alpha - float(tail[k]))) / (1 - alpha)
    return var, es


#: The standard normal's 97.5 % quantile: half-width of a 95 % interval in standard errors.
Z95 = float(special.ndtri(0.975))  # scipy.stats.norm.ppf(0.975), the same bits (tested)


class Sectioned(NamedTuple):
    """Estimates from all paths, with their standard errors and 95 % half-widths by sectioning."""

    estimate: np.ndarray
    se: np.ndarray
    half_width: np.ndarray

    def intervals(self) -> list[tuple[float, float]]:
        return [(float(e - h), float(e + h)) for e, h in zip(self.estimate, self.half_width)]


def sectioning(estimator: Callable[..., Sequence[float]], arrays: Sequence[np.ndarray], batches: int) -> Sectioned:
    """Point estimates from all paths; their errors from the spread over ``batches`` sections.

    ``estimator(*arrays)`` returns a sequence of estimates; it is applied to the whole sample
    and to each of ``batches`` consecutive sections of the paths. The standard error is the
    sections' standard deviation over ``sqrt(batches)`` and the 95 % half-width uses Student's
    t with ``batches - 1`` degrees of freedom — valid for quantiles, expected shortfalls and
    weighted (importance-sampled) estimators, where a per-path formula is not (Asmussen and
    Glynn 2007, §III.5a). With fewer paths than sections, each path is a section.

    References
    ----------
    Asmussen, S. and Glynn, P. W. (2007). Stochastic Simulation. Springer.
    """
    n = len(arrays[0])
    k = min(int(batches), n)
    full = np.atleast_1d(np.asarray(estimator(*arrays), dtype=float))
    if k < 2:
        nan = np.full(full.shape, np.nan)
        return Sectioned(full, nan, nan)
    edges = np.linspace(0, n, k + 1).astype(int)
    parts = np.array([np.atleast_1d(estimator(*(x[a:b] for x in arrays))) for a, b in zip(edges[:-1], edges[1:])],
                     dtype=float)
    se = parts.std(axis=0, ddof=1) / math.sqrt(k)
    return Sectioned(full, se, special.stdtrit(k - 1, 0.975) * se)  # scipy.stats.t.ppf(0.975, k - 1)

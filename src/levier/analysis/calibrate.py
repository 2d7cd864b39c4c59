"""Calibration from public or in-house data: parameters with standard errors, as TOML to paste.

Four estimators, one per kind of data a fund has:

* :func:`pd_from_survival` — a sector's annual PD from survival rates at several horizons
  (INSEE publishes 3- and 5-year survival of new firms by sector);
* :func:`vasicek_from_default_rates` — PD and asset correlation from a yearly default-rate series
  (Vasicek maximum likelihood, exact binomial-mixture likelihood when counts are known, method
  of moments as a cross-check);
* :func:`recovery_beta` — recovery mean and spread (a Beta law) from observed recovery rates;
* :func:`bank_acceptance` — the bank's logistic acceptance curve (threshold and steepness) from
  observed deals (quasi-equity ratio, financed or not);
* :func:`pd_from_rating_mix` — the annual PD of established firms from their mix of Banque de
  France credit ratings (cotes), through the regulatory 3-year default-rate benchmarks of the
  credit quality steps the cotes are mapped to (``levier.datasets``).

Two checks of a scenario: :func:`check_calibration` (the published figures it cites) and
:func:`bank_economics` (does the bank's expected interest cover its expected loss?); and
:func:`assumption_tornado`, what the unsourced parameters weigh on the headlines.

Each returns a :class:`Calibration` whose ``to_toml()`` is a fragment ready for a scenario.
Standard errors come from the observed information (inverse Hessian of the log-likelihood) or,
for least squares and moments, from the delta method; the docstrings say which.

References
----------
Vasicek, O. (2002). The distribution of loan portfolio value. Risk 15(12), 160-162.
Gordy, M. and Heitfield, E. (2002). Estimating default correlations from short panels of credit
rating performance data. Federal Reserve Board working paper.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special  # stats, optimize: imported where used (a second of every start-up)

from levier.analysis.analytic import bivariate_normal_cdf
from levier.stats import Z95, mean_se

__all__ = [
    "Calibration",
    "bank_acceptance",
    "bank_economics",
    "check_calibration",
    "assumption_tornado",
    "pd_from_rating_mix",
    "pd_from_survival",
    "recovery_beta",
    "recovery_loading",
    "vasicek_from_default_rates",
]


@dataclass(frozen=True)
class Calibration:
    """Estimated parameters with their standard errors.

    Attributes
    ----------
    parameters, standard_errors : dict
        Scenario key → value, and → standard error (NaN where the data cannot tell).
    method : str
    n : int
        Number of observations used.
    table : str
        The scenario table the keys belong to (``"sectors"``, ``"defaults"``, ``"bank"``).
    notes : list of str
        What the user should know to use the numbers (assumptions, derived quantities).
    derived : dict
        Estimates that are not scenario keys (e.g. the asset correlation ``rho``), as
        ``name → (value, standard error)``.
    """

    parameters: dict[str, float]
    standard_errors: dict[str, float]
    method: str
    n: int
    table: str
    notes: list[str] = field(default_factory=list)
    derived: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_toml(self, name: str | None = None) -> str:
        """A TOML fragment for a scenario, each value commented with its standard error.

        Raises
        ------
        ValueError
            If a parameter has no value (NaN: the data cannot give it, e.g. recoveries that do not
            vary): a fragment with ``nan`` in it would not make a valid scenario.
        """
        missing = [key for key, value in self.parameters.items() if not math.isfinite(value)]
        if missing:
            raise ValueError(f"these data give no value for {', '.join(missing)} ({self.method}): they are too few, "
                             "do not vary, or lie outside what the model can fit")
        header = f"[[{self.table}]]" if self.table in ("sectors", "territories") else f"[{self.table}]"
        lines = [f"# calibrated by levier ({self.method}, n = {self.n})"]
        lines += [f"# {note}" for note in self.notes]
        lines.append(header)
        if self.table in ("sectors", "territories"):
            lines.append(f"name = {json.dumps(name or 'CHANGE-ME', ensure_ascii=False)}")  # a TOML basic string
        for key, value in self.parameters.items():
            se = self.standard_errors.get(key, float("nan"))
            note = f"± {_g(se)} (standard error)" if math.isfinite(se) else "no standard error: the data cannot tell"
            lines.append(f"{key} = {_g(value)}  # {note}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={_g(v)} ± {_g(self.standard_errors.get(k, float('nan')))}" for k, v in self.parameters.items())
        return f"Calibration({self.method}, n={self.n}: {body})"


def _g(x: float) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def _hessian(f, x: np.ndarray, step: np.ndarray | None = None) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    x = np.asarray(x, dtype=float)
    h = step if step is not None else 1e-4 * np.maximum(np.abs(x), 1e-2)
    k = x.size
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            out[i, j] = out[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return out


def _as_array(values, name: str, lo: float = -np.inf, hi: float = np.inf, open_interval: bool = False) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: no data")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: every value must be a finite number")
    bad = (x <= lo) | (x >= hi) if open_interval else (x < lo) | (x > hi)
    if np.any(bad):
        which = "strictly between" if open_interval else "between"
        raise ValueError(f"{name}: every value must be {which} {lo:g} and {hi:g} (got {x[bad][0]:g})")
    return x


# -- PD from survival -----------------------------------------------------------------------------


def pd_from_survival(horizons: Sequence[float], survival: Sequence[float], cohort: int | None = None) -> Calibration:
    """Constant annual PD h from survival rates ``S(t) = (1 - h)^t`` at several horizons.

    Parameters
    ----------
    horizons : sequence of float
        Years after creation (e.g. ``[3, 5]``).
    survival : sequence of float
        Share of the cohort still alive at each horizon (e.g. INSEE's ``[0.72, 0.60]``).
    cohort : int, optional
        Size of the cohort followed. With it, the estimate is the maximum-likelihood one for
        deaths in successive intervals (a multinomial), with its standard error from the
        observed information. Without it, least squares on the log-survival through the origin,
        ``log S(t) = t log(1 - h)``, with a standard error from the residuals (NaN with a single
        horizon).

    Returns
    -------
    Calibration
        ``annual_pd`` for a ``[[sectors]]`` table.
    """
    from scipy import optimize
    t = _as_array(horizons, "horizons", lo=0.0, hi=np.inf, open_interval=True)
    s = _as_array(survival, "survival", lo=0.0, hi=1.0, open_interval=True)
    if t.size != s.size:
        raise ValueError("horizons and survival must have the same length")
    order = np.argsort(t)
    t, s = t[order], s[order]
    if np.any(np.diff(s) > 0):
        raise ValueError("survival must not increase with the horizon")
    notes = [f"horizons {', '.join(f'{x:g}' for x in t)} years; survival {', '.join(f'{x:.3g}' for x in s)}"]
    if cohort is None:
        y = np.log(s)
        slope = float(t @ y / (t @ t))  # log(1 - h)
        residual = y - slope * t
        se_slope = math.sqrt(residual @ residual / (t.size - 1) / (t @ t)) if t.size > 1 else float("nan")
        h = 1 - math.exp(slope)
        return Calibration({"annual_pd": h}, {"annual_pd": math.exp(slope) * se_slope}, "least squares on log-survival", int(t.size), "sectors", notes)

    n = int(cohort)
    if n < 1:
        raise ValueError("cohort must be a positive number of firms")
    alive = np.round(s * n)
    deaths = -np.diff(np.r_[n, alive])

    def nll(params):
        h = special.expit(params[0])
        surv = (1 - h) ** t
        p = -np.diff(np.r_[1.0, surv])
        return -(deaths @ np.log(np.maximum(p, 1e-300)) + alive[-1] * np.log(max(surv[-1], 1e-300)))

    start = special.logit(np.clip(1 - s[-1] ** (1 / t[-1]), 1e-6, 1 - 1e-6))
    res = optimize.minimize(nll, [start], method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-12})
    h = float(special.expit(res.x[0]))
    info = _hessian(lambda u: nll(special.logit(np.clip(u, 1e-12, 1 - 1e-12))), np.array([h]), np.array([1e-6 * max(h, 1e-3)]))
    se = float(np.sqrt(1.0 / info[0, 0])) if info[0, 0] > 0 else float("nan")
    notes.append(f"cohort of {n} firms; deaths per interval {', '.join(str(int(d)) for d in deaths)}")
    return Calibration({"annual_pd": h}, {"annual_pd": se}, "maximum likelihood (multinomial deaths)", int(t.size), "sectors", notes)


# -- Vasicek from default rates -------------------------------------------------------------------


def vasicek_from_default_rates(
    rates: Sequence[float] | None = None,
    *,
    defaults: Sequence[int] | None = None,
    obligors: Sequence[int] | None = None,
    method: str = "mle",
    macro_loading: float = 0.0,
) -> Calibration:
    """PD and asset correlation rho from a yearly series of default rates.

    Parameters
    ----------
    rates : sequence of float, optional
        Default rate of each year, in (0, 1) for ``method="mle"`` without counts.
    defaults, obligors : sequences of int, optional
        Counts per year. With them the likelihood is the exact binomial mixture
        ``prod_t integral Binomial(d_t; n_t, p(z)) phi(z) dz`` (years with no default are fine).
    method : {"mle", "moments"}
        ``"mle"``: with rates only, the closed-form Vasicek MLE — ``Phi^-1(rate)`` is normal with
        mean ``Phi^-1(pd) / sqrt(1 - rho)`` and variance ``rho / (1 - rho)``; with counts, the
        binomial-mixture MLE. Standard errors from the observed information and the delta method.
        ``"moments"``: the mean and variance of the rates matched to ``pd`` and
        ``Phi_2(c, c; rho) - pd^2``, standard errors by the delta method.
    macro_loading : float
        The scenario's macro loading: the sector's own ``loading`` is
        ``sqrt(rho - macro_loading^2)`` (0 if rho is below it).

    Returns
    -------
    Calibration
        ``annual_pd`` and ``loading`` for a ``[[sectors]]`` table; ``derived["rho"]`` is the
        asset correlation with its standard error.
    """
    from scipy import stats
    if not (math.isfinite(macro_loading) and 0.0 <= macro_loading < 1.0):
        raise ValueError(f"macro_loading must be in [0, 1) (the scenario's defaults.macro_loading), got {macro_loading:g}")
    if defaults is not None or obligors is not None:
        if defaults is None or obligors is None:
            raise ValueError("give both defaults and obligors per year")
        d = _as_array(defaults, "defaults", lo=0.0)
        n = _as_array(obligors, "obligors", lo=1.0)
        if d.size != n.size or np.any(d > n):
            raise ValueError("defaults and obligors must have the same length, with defaults <= obligors")
        if method == "moments":
            return vasicek_from_default_rates(d / n, method="moments", macro_loading=macro_loading)
        return _vasicek_binomial_mle(d, n, macro_loading)
    if rates is None:
        raise ValueError("give rates, or defaults and obligors")
    if method == "mle":
        x = _as_array(rates, "rates", lo=0.0, hi=1.0, open_interval=True)
        if x.size < 3:
            raise ValueError("rates: at least 3 years are needed")
        y = special.ndtri(x)
        mu, var = y.mean(), y.var()
        big_t = x.size
        rho = var / (1 + var)
        pd = float(special.ndtr(mu * math.sqrt(1 - rho)))
        # delta method from the normal MLE: Var(mu) = var / T, Var(var) = 2 var^2 / T, independent
        d_rho_d_var = 1 / (1 + var) ** 2
        se_rho = d_rho_d_var * math.sqrt(2 * var * var / big_t)
        arg = mu * math.sqrt(1 - rho)
        dens = stats.norm.pdf(arg)
        d_pd_d_mu = dens * math.sqrt(1 - rho)
        d_pd_d_rho = dens * mu * (-0.5 / math.sqrt(1 - rho))
        se_pd = math.sqrt(d_pd_d_mu**2 * var / big_t + (d_pd_d_rho * se_rho) ** 2)
        return _vasicek_result(pd, rho, se_pd, se_rho, "Vasicek maximum likelihood on default rates", big_t, macro_loading)
    if method == "moments":
        x = _as_array(rates, "rates", lo=0.0, hi=1.0)
        if x.size < 3:
            raise ValueError("rates: at least 3 years are needed")
        pd, v = float(x.mean()), float(x.var(ddof=1))
        rho = _rho_from_moments(pd, v)
        big_t = x.size
        # delta method: rho = g(m, v); gradient by central differences of the root
        eps_m, eps_v = 1e-6 * max(pd, 1e-6), 1e-6 * max(v, 1e-12)
        g_m = (_rho_from_moments(pd + eps_m, v) - _rho_from_moments(pd - eps_m, v)) / (2 * eps_m)
        g_v = (_rho_from_moments(pd, v + eps_v) - _rho_from_moments(pd, v - eps_v)) / (2 * eps_v)
        c = x - pd
        mu3, mu4 = float(np.mean(c**3)), float(np.mean(c**4))
        # Cov(mean, s^2) = mu3 / T; Var(s^2) exact in T (a few years: the large-sample mu4 - v^2 collapses)
        cov = np.array([[v / big_t, mu3 / big_t], [mu3 / big_t, max(_sample_variance_variance(mu4, v, big_t), 0.0)]])
        grad = np.array([g_m, g_v])
        se_rho = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
        return _vasicek_result(pd, rho, math.sqrt(v / big_t), se_rho, "method of moments on default rates", big_t,
                               macro_loading)
    raise ValueError("method must be 'mle' or 'moments'")


def _rho_from_moments(pd: float, variance: float) -> float:
    from scipy import optimize
    if pd <= 0 or pd >= 1:
        return float("nan")
    c = special.ndtri(pd)
    target = variance + pd * pd

    def gap(rho):
        return float(bivariate_normal_cdf(c, c, rho)) - target

    if gap(0.0) >= 0:
        return 0.0
    if gap(0.999999) <= 0:
        return 0.999999
    return float(optimize.brentq(gap, 0.0, 0.999999, xtol=1e-14))


def _vasicek_binomial_mle(d: np.ndarray, n: np.ndarray, macro_loading: float) -> Calibration:
    from scipy import optimize
    z, w = np.polynomial.hermite_e.hermegauss(96)
    w = w / w.sum()
    log_binom = special.gammaln(n + 1) - special.gammaln(d + 1) - special.gammaln(n - d + 1)

    def nll(params):
        pd, rho = special.expit(params[0]), special.expit(params[1])
        p = special.ndtr((special.ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
        p = np.clip(p, 1e-300, 1 - 1e-16)
        log_terms = log_binom[:, None] + d[:, None] * np.log(p) + (n - d)[:, None] * np.log1p(-p)
        return -float(np.sum(special.logsumexp(log_terms, b=w, axis=1)))

    rate = np.clip(d.sum() / n.sum(), 1e-6, 1 - 1e-6)
    res = optimize.minimize(nll, [special.logit(rate), special.logit(0.1)], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000})
    pd, rho = float(special.expit(res.x[0])), float(special.expit(res.x[1]))
    natural = lambda u: nll(special.logit(np.clip(u, 1e-12, 1 - 1e-12)))  # noqa: E731
    info = _hessian(natural, np.array([pd, rho]), np.array([1e-4 * pd, 1e-4 * max(rho, 1e-3)]))
    try:
        cov = np.linalg.inv(info)
        se_pd, se_rho = (float(np.sqrt(cov[0, 0])) if cov[0, 0] > 0 else float("nan"),
                         float(np.sqrt(cov[1, 1])) if cov[1, 1] > 0 else float("nan"))
    except np.linalg.LinAlgError:
        se_pd = se_rho = float("nan")
    return _vasicek_result(pd, rho, se_pd, se_rho, "binomial-mixture maximum likelihood on default counts", int(d.size),
                           macro_loading)


def _vasicek_result(pd, rho, se_pd, se_rho, method, n, macro_loading) -> Calibration:
    own = rho - macro_loading**2
    loading = math.sqrt(max(own, 0.0))
    se_loading = se_rho / (2 * loading) if loading > 0 else float("nan")
    notes = [f"asset correlation rho = {rho:.4g} ± {se_rho:.2g} = macro_loading^2 + loading^2"
             + (f" with macro_loading = {macro_loading:g}" if macro_loading else " (no macro loading given)")]
    if own < 0:
        notes.append("rho is below macro_loading^2: this sector has no factor of its own (loading 0)")
    notes.append("with a territory loading, take it out of loading^2 too")
    return Calibration({"annual_pd": pd, "loading": loading}, {"annual_pd": se_pd, "loading": se_loading},
                       method, n, "sectors", notes, derived={"rho": (rho, se_rho)})


# -- recoveries -------------------------------------------------------------------------------------


def _sample_variance_variance(mu4: float, variance: float, n: int) -> float:
    """The variance of the unbiased sample variance of ``n`` independent draws of a law with
    variance ``variance`` and fourth central moment ``mu4``: ``(mu4 - variance^2 (n - 3) / (n - 1)) / n``
    (exact for every ``n >= 2``; Cramér, *Mathematical Methods of Statistics*, 27.4)."""
    return (mu4 - variance * variance * (n - 3) / (n - 1)) / n


def recovery_beta(rates: Sequence[float], method: str | None = None) -> Calibration:
    """Mean and standard deviation of a Beta recovery law from observed recovery rates.

    Parameters
    ----------
    rates : sequence of float in [0, 1]
    method : {"mle", "moments"}, optional
        ``"mle"`` (Beta maximum likelihood, standard errors from the observed information and the
        delta method) needs every rate strictly inside (0, 1); ``"moments"`` (sample mean and
        sd, standard errors ``sd / sqrt(n)`` and, by the delta method, ``sqrt(V / (4 sd^2))`` with
        ``V`` the sample variance's variance, :func:`_sample_variance_variance`) accepts 0
        and 1, which are common for last-rank creditors. Default: MLE when possible.

    Returns
    -------
    Calibration
        ``recovery_mean`` and ``recovery_sd`` for a ``[[sectors]]`` table.
    """
    from scipy import optimize
    x = _as_array(rates, "recovery rates", lo=0.0, hi=1.0)
    if x.size < 2:
        raise ValueError("recovery rates: at least 2 observations are needed")
    if np.all(x == x[0]):
        raise ValueError(f"recovery rates: all equal ({x[0]:g}): a Beta law needs rates that vary")
    inside = bool(np.all((x > 0) & (x < 1)))
    method = method or ("mle" if inside else "moments")
    notes = [] if inside else ["some recoveries are exactly 0 or 1: moments used (a Beta density cannot hold them)"]
    if method == "moments":
        m, sd = float(x.mean()), float(x.std(ddof=1))
        mu4 = float(np.mean((x - m) ** 4))
        # delta method on the sample variance's exact variance; the large-sample mu4 - sd^4 it
        # replaces collapses for a few rates (0 for [0, 0.1, 0, 0.1], where s moves by a fifth)
        var_s2 = _sample_variance_variance(mu4, sd * sd, x.size)
        se_sd = math.sqrt(max(var_s2, 0.0) / (4 * sd * sd)) if sd > 0 else float("nan")
        if x.size < 10:
            notes.append(f"{x.size} rates only: the standard error of recovery_sd is rough, and tends to understate "
                         "how far recovery_sd can be off")
        return Calibration({"recovery_mean": m, "recovery_sd": sd}, {"recovery_mean": sd / math.sqrt(x.size), "recovery_sd": se_sd},
                           "method of moments", int(x.size), "sectors", notes)
    if method != "mle":
        raise ValueError("method must be 'mle' or 'moments'")
    if not inside:
        raise ValueError("recovery rates: Beta maximum likelihood needs every rate strictly between 0 and 1")
    log_x, log_1mx = np.log(x).sum(), np.log1p(-x).sum()
    n = x.size

    def nll(log_ab):
        a, b = np.exp(log_ab)
        return -((a - 1) * log_x + (b - 1) * log_1mx - n * special.betaln(a, b))

    m, v = x.mean(), x.var()
    k = max(m * (1 - m) / v - 1, 0.1)
    res = optimize.minimize(nll, np.log([m * k, (1 - m) * k]), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    a, b = np.exp(res.x)
    info = _hessian(lambda ab: nll(np.log(ab)), np.array([a, b]))
    cov = np.linalg.inv(info)
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    grad_mean = np.array([b, -a]) / (a + b) ** 2

    def sd_of(ab):
        aa, bb = ab
        return math.sqrt(aa * bb / ((aa + bb) ** 2 * (aa + bb + 1)))

    eps = 1e-6 * np.array([a, b])
    grad_sd = np.array([(sd_of([a + eps[0], b]) - sd_of([a - eps[0], b])) / (2 * eps[0]),
                        (sd_of([a, b + eps[1]]) - sd_of([a, b - eps[1]])) / (2 * eps[1])])
    notes.append(f"Beta(a = {a:.4g}, b = {b:.4g})")
    return Calibration({"recovery_mean": float(mean), "recovery_sd": sd},
                       {"recovery_mean": float(np.sqrt(grad_mean @ cov @ grad_mean)),
                        "recovery_sd": float(np.sqrt(grad_sd @ cov @ grad_sd))},
                       "Beta maximum likelihood", int(n), "sectors", notes)


# -- the bank's acceptance curve --------------------------------------------------------------------


def bank_acceptance(ratios: Sequence[float], financed: Sequence[bool]) -> Calibration:
    """Threshold and steepness of the bank's logistic acceptance curve from observed deals.

    ``P(financed | q) = 1 / (1 + exp(-(q - threshold) / steepness))``, fitted by maximum
    likelihood (a logistic regression on q); standard errors from the observed information and
    the delta method.

    Parameters
    ----------
    ratios : sequence of float
        Quasi-equity ratio ``(E + P) / I`` of each deal presented to the bank.
    financed : sequence of bool
        Whether the bank financed it.

    Returns
    -------
    Calibration
        ``threshold`` and ``steepness`` for the ``[bank]`` table.
    """
    from scipy import optimize
    q = _as_array(ratios, "quasi-equity ratios", lo=0.0)
    y = np.asarray(financed, dtype=float).ravel()
    if y.size != q.size:
        raise ValueError("ratios and financed must have the same length")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("financed must be 0/1 or true/false")
    if y.min() == y.max():
        raise ValueError("financed: both accepted and refused deals are needed to fit a curve")

    def nll(beta):
        eta = beta[0] + beta[1] * q
        return -float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    def grad(beta):
        p = special.expit(beta[0] + beta[1] * q)
        return -np.array([np.sum(y - p), np.sum((y - p) * q)])

    res = optimize.minimize(nll, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-10})
    b0, b1 = res.x
    p = special.expit(b0 + b1 * q)
    info = np.array([[np.sum(p * (1 - p)), np.sum(p * (1 - p) * q)],
                     [np.sum(p * (1 - p) * q), np.sum(p * (1 - p) * q * q)]])
    notes = []
    if b1 <= 0:
        notes.append("acceptance does not increase with the ratio in these data: the curve is not identified")
    cov = np.linalg.inv(info)
    threshold, steepness = -b0 / b1, 1.0 / b1
    g_threshold = np.array([-1.0 / b1, b0 / b1**2])
    g_steepness = np.array([0.0, -1.0 / b1**2])
    return Calibration(
        {"threshold": float(threshold), "steepness": float(steepness)},
        {"threshold": float(np.sqrt(g_threshold @ cov @ g_threshold)),
         "steepness": float(np.sqrt(g_steepness @ cov @ g_steepness))},
        "logistic maximum likelihood", int(q.size), "bank", notes,
    )


# -- PD from a mix of credit ratings --------------------------------------------------------------


def pd_from_rating_mix(mix: dict[str, float], multiplier: float = 1.0) -> Calibration:
    """Annual PD of a portfolio of established firms from its mix of Banque de France cotes.

    Each cote is mapped to a credit quality step (``bdf_rating_scale``), whose 3-year default
    rate is the regulatory long-run benchmark (``default_rate_benchmarks``: mid value, lower and
    upper bound). The mix's 3-year default rate is the weighted mean ``D = sum_g w_g D_g`` and the
    annual PD the constant hazard that gives it, ``h = 1 - (1 - D)^(1/3)``.

    That conversion takes the three years as independent. In the model a firm's yearly PDs move
    with persistent (AR(1)) factors, and its 3-year default probability,
    ``E[1 - prod_t (1 - p_t(Z_t))]``, comes out a little below ``D`` (Jensen: good and bad years
    come in runs) — by about a hundredth of ``D`` at the shipped scenarios' loadings, well inside
    the benchmark's own range (``annual_pd_low`` to ``annual_pd_high``).

    Parameters
    ----------
    mix : dict
        Cote (``"4"``, ``"5+"``, ...) → share of the firms; the shares must sum to 1.
    multiplier : float
        Scales the resulting PD (e.g. a sector's relative risk); the bounds are scaled alike.

    Returns
    -------
    Calibration
        ``annual_pd`` for a ``[[sectors]]`` table. The benchmark gives a range, not a standard
        error, so the standard error is NaN; ``derived`` holds ``default_rate_3y`` and the PDs
        at the benchmarks' lower and upper bounds (``annual_pd_low``, ``annual_pd_high``).

    Examples
    --------
    Half the firms rated 4 (step 3, 1 % over 3 years), half rated 5 (step 4, 7.5 %):

    >>> fit = pd_from_rating_mix({"4": 0.5, "5": 0.5})
    >>> round(fit.derived["default_rate_3y"][0], 5), round(fit.parameters["annual_pd"], 5)
    (0.0425, 0.01437)
    """
    from levier.model.datasets import load

    if not mix:
        raise ValueError("rating mix: give at least one cote with its share")
    scale = load("bdf_rating_scale").astype({"cote": str}).set_index("cote")["credit_quality_step"]
    bench = load("default_rate_benchmarks").set_index("credit_quality_step")
    shares: dict[str, float] = {}
    for cote, share in mix.items():
        cote = str(cote).strip()
        if cote not in scale.index:
            raise ValueError(f"rating mix: unknown cote {cote!r}; known: {', '.join(scale.index)}")
        if not (isinstance(share, (int, float)) and math.isfinite(share) and share >= 0):
            raise ValueError(f"rating mix: the share of cote {cote} must be a number >= 0 (got {share!r})")
        shares[cote] = shares.get(cote, 0.0) + float(share)
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"rating mix: the shares must sum to 1 (they sum to {total:g})")
    if not (math.isfinite(multiplier) and multiplier > 0):
        raise ValueError("multiplier must be a positive number")

    def mixed(column: str) -> float:
        return sum(w * float(bench.loc[int(scale[c]), column]) for c, w in shares.items())

    def annual(d3: float) -> float:
        return min(multiplier * (1.0 - (1.0 - min(d3, 1.0)) ** (1.0 / 3.0)), 1.0)

    d_mid, d_low, d_high = mixed("default_rate"), mixed("low"), mixed("high")
    h = annual(d_mid)
    notes = [
        "mix " + ", ".join(f"{c}: {w:g} (step {int(scale[c])})" for c, w in shares.items()),
        f"3-year default rate {d_mid:.4g} (benchmark bounds {d_low:.4g} to {d_high:.4g}); "
        f"annual PD range {annual(d_low):.4g} to {annual(d_high):.4g}",
        "regulatory long-run benchmarks of the credit quality steps (Regulation (EU) 2016/1799), not "
        "the Banque de France's own observed default rates",
    ]
    if multiplier != 1.0:
        notes.append(f"multiplied by {multiplier:g}")
    return Calibration({"annual_pd": h}, {"annual_pd": float("nan")}, "rating mix through regulatory 3-year benchmarks",
                       len(shares), "sectors", notes,
                       derived={"default_rate_3y": (d_mid, float("nan")), "annual_pd_low": (annual(d_low), float("nan")),
                                "annual_pd_high": (annual(d_high), float("nan"))})


# -- the bank's economics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BankEconomics:
    """The bank's expected interest against its expected loss on the loans it co-finances.

    Attributes
    ----------
    interest, loss : float
        Means over paths of ``bank_interest`` and ``bank_loss`` (€, undiscounted).
    margin, margin_se : float
        ``interest - loss`` and its Monte Carlo standard error.
    lent : float
        Mean ``bank_lent``.
    paths : int
    covers : bool
        Whether the margin is positive beyond Monte Carlo noise (``margin > 2 margin_se``).
    funding_rate : float
        The bank's cost of funds taken out of ``interest`` (0: gross interest).
    """

    interest: float
    loss: float
    margin: float
    margin_se: float
    lent: float
    paths: int
    covers: bool
    funding_rate: float = 0.0

    def message(self, lang: str = "en") -> str:
        """One line with the figures, as ``validate`` and ``check-calibration`` print it (in ``lang``)."""
        from levier.present.display import bank_economics_line

        return bank_economics_line(self, lang)


def bank_economics(scenario=None, *, result=None, paths: int | None = None, seed=None,
                   funding_rate: float = 0.0) -> BankEconomics:
    """Does the bank's expected interest margin cover its expected loss?

    A bank that expects to lose more principal than it earns in interest does not lend: a
    scenario where that happens contradicts its own acceptance rule. The margin is the mean over
    paths of ``bank_interest - bank_loss`` (undiscounted, before the bank's funding and operating
    costs, so a positive margin is necessary, not sufficient).

    Parameters
    ----------
    scenario : Scenario, optional
        Simulated with ``paths`` and ``seed`` when no ``result`` is given.
    result : SimulationResult, optional
    funding_rate : float
        The bank's own cost of funds a year: the interest is then net of ``funding_rate`` on the
        same loan-years (``bank_interest * (1 - funding_rate / bank.rate)``); needs ``scenario``.
    """
    if result is None:
        from levier.engine.run import simulate

        result = simulate(scenario, paths=paths, seed=seed)
    interest = np.asarray(result.paths["bank_interest"], dtype=float)
    if funding_rate:
        if scenario is None or not (0.0 <= funding_rate) or scenario.bank.rate <= 0:
            raise ValueError("funding_rate needs the scenario, a rate >= 0 and a bank.rate > 0")
        # interest is bank.rate on the loan-years, so funding costs funding_rate on the same ones
        interest = interest * (1.0 - funding_rate / scenario.bank.rate)
    loss = np.asarray(result.paths["bank_loss"], dtype=float)
    diff = interest - loss
    se = mean_se(diff)
    margin = float(diff.mean())
    covers = bool(margin > 2.0 * se) if se == se else margin > 0
    return BankEconomics(float(interest.mean()), float(loss.mean()), margin, se,
                         float(np.mean(result.paths["bank_lent"])), diff.size, covers, float(funding_rate))


# -- what the assumptions weigh -------------------------------------------------------------------

#: The headlines of the tornado: (label, lab statistic).
HEADLINES = (
    ("additional jobs", "jobs_additional"),
    ("cost per additional job (EUR)", "cost_per_job"),
    ("fund loss (EUR)", "fund_loss"),
    ("99 % ES of the fund loss (EUR)", "fund_loss.es_0.99"),
)


def assumption_tornado(scenario, name: str, *, paths: int = 2_000, seed=None, headlines=HEADLINES):
    """One-at-a-time swings of each headline over the parameters marked "assumption".

    The parameters and their ranges are the rows of ``assumption_ranges`` (``levier.datasets``)
    for scenario ``name``; each headline is run through :func:`levier.lab.tornado` (one seed for
    every run, so each swing is a paired difference with its own standard error).

    Returns
    -------
    dict
        Headline label → the tornado DataFrame (index ``parameter``, columns ``low_value``,
        ``high_value``, ``low``, ``high``, ``base``, ``swing``, ``swing_se``).
    """
    from levier.analysis.lab import tornado
    from levier.model.datasets import load

    table = load("assumption_ranges")
    table = table[table["scenario"] == name]
    if table.empty:
        raise ValueError(f"no assumption ranges for scenario {name!r} in levier's assumption_ranges table")
    ranges = {}
    for row in table.itertuples():
        current = scenario.value_at(row.key)
        cast = int if isinstance(current, int) and not isinstance(current, bool) else float
        ranges[row.key] = (cast(row.low), cast(row.high))
    return {label: tornado(scenario, ranges, spec, paths=paths, seed=seed).table for label, spec in headlines}


# -- does a scenario reproduce the figures it cites? ------------------------------------------------


def check_calibration(scenario, *, paths: int | None = None, seed=None, result=None):
    """Compare a scenario's results with the published figures it cites (its ``[[targets]]``).

    Parameters
    ----------
    scenario : Scenario
    paths, seed : optional
        As for :func:`levier.simulate`.
    result : SimulationResult, optional
        A simulation of ``scenario`` already run (``paths`` and ``seed`` are then ignored).

    Returns
    -------
    pandas.DataFrame
        One row per target: its ``kind`` (``calibrated`` or ``validated``) and ``restates_input``,
        the published figure, its accepted range and why, levier's value (a ratio of means) with
        its 95 % Monte Carlo interval, and ``agrees`` — whether levier's value lies in the
        published range.
    """
    import pandas as pd

    from levier.model.datasets import load
    from levier.engine.run import simulate
    from levier.names import ALL_RATIOS, SECTOR_COLUMNS, with_derived
    from levier.stats import ratio_of_means

    figures = load("programme_figures").set_index("id")
    if result is None:
        result = simulate(scenario, paths=paths, seed=seed)
    values = with_derived(dict(result.paths.items()), bank_rate=scenario.bank.rate)
    rows = []
    for target in scenario.targets:
        numerator, denominator = ALL_RATIOS[target.metric]
        if target.sector is None:
            num, den = values[numerator], values[denominator]
        else:
            if numerator not in SECTOR_COLUMNS or denominator not in SECTOR_COLUMNS:
                raise ValueError(f"{target.metric} is not available by sector")
            num = result.group_paths(numerator)[target.sector]
            den = result.group_paths(denominator)[target.sector]
        value, se = ratio_of_means(np.asarray(num), np.asarray(den))
        fig = figures.loc[target.figure]
        low, high = fig["low"], fig["high"]
        agrees = bool(low <= value <= high) if not (pd.isna(low) or pd.isna(high)) else None
        rows.append({
            "scenario": scenario.meta.name,
            "kind": target.kind,
            "restates_input": target.restates_input,
            "figure": target.figure,
            "programme": fig["programme"],
            "published": fig["figure"],
            "value": float(fig["value"]),
            "unit": fig["unit"],
            "low": low,
            "high": high,
            "metric": target.metric + (f" [{target.sector}]" if target.sector else ""),
            "levier": value,
            "levier_low": value - Z95 * se,
            "levier_high": value + Z95 * se,
            "agrees": agrees,
            "range_reason": fig["range_reason"],
            "source": fig["source"],
            "url": fig["url"],
        })
    return pd.DataFrame(rows)


# -- downturn recovery: the recovery's loading on the cycle (issue 15) ------------------------------


def _mean_recovery_given_factor(gamma: float, z: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """``E[Q(Phi(gamma z + sqrt(1 - gamma^2) xi))]`` over xi ~ N(0, 1), Q the Beta(mean, sd) quantile.

    The mean recovery of a year's defaulters whose systematic factor is ``z`` (the engine's
    downturn recovery); Gauss-Hermite over xi with 48 nodes (exact to 1e-10 for these smooth
    integrands).
    """
    from scipy import stats
    nodes, weights = np.polynomial.hermite_e.hermegauss(48)
    weights = weights / weights.sum()
    k = mean * (1 - mean) / (sd * sd) - 1.0
    u = special.ndtr(gamma * np.asarray(z, dtype=float)[:, None] + math.sqrt(1 - gamma * gamma) * nodes[None, :])
    return stats.beta.ppf(u, mean * k, (1 - mean) * k) @ weights


def recovery_loading(
    default_rates: Sequence[float],
    recovery_rates: Sequence[float],
    *,
    recovery_sd: float,
    recovery_mean: float | None = None,
    pd: float | None = None,
    rho: float | None = None,
) -> Calibration:
    """The downturn-recovery loading gamma from yearly default rates and yearly mean recoveries.

    In levier's model a defaulter's recovery uniform is ``Phi(gamma S + sqrt(1 - gamma^2) xi)``,
    S its standardised systematic factor in the default year. For a sector's large pool, the
    year's default rate reveals that factor, ``Z_t = (Phi^-1(pd) - sqrt(1 - rho) Phi^-1(DR_t)) /
    sqrt(rho)`` (Vasicek), and the year's mean recovery is ``m(gamma, Z_t)``
    (:func:`_mean_recovery_given_factor`, with the sector's Beta recovery law). gamma — and the
    Beta's mean, if not given — are fitted by least squares on ``RR_t - m(gamma, Z_t)``.

    Parameters
    ----------
    default_rates, recovery_rates : sequences of float, one value per year
        The sector's default rate in (0, 1) and its defaulters' mean recovery rate in [0, 1].
    recovery_sd : float
        The Beta recovery's sd across firms (``sectors[].recovery_sd``; yearly means cannot tell
        it: estimate it from firm-level recoveries with :func:`recovery_beta`).
    recovery_mean : float, optional
        The Beta's mean across the cycle (default: estimated with gamma). It is *not* the mean of
        the yearly recoveries: with gamma > 0 defaulters come more from bad years.
    pd, rho : float, optional
        The sector's annual PD and asset correlation (default: the Vasicek estimates from the
        default rates, :func:`vasicek_from_default_rates`).

    Returns
    -------
    Calibration
        ``recovery_loading`` (and ``recovery_mean``) for a ``[[sectors]]`` table, standard
        errors from the Gauss-Newton covariance ``s^2 (J'J)^-1`` of the least squares. The
        factor is estimated from the rates, so errors in it attenuate gamma somewhat: the notes
        say it.
    """
    dr = _as_array(default_rates, "default rates", lo=0.0, hi=1.0, open_interval=True)
    rr = _as_array(recovery_rates, "recovery rates", lo=0.0, hi=1.0)
    if dr.size != rr.size:
        raise ValueError(f"default rates and recovery rates must have one value per year each "
                         f"(got {dr.size} and {rr.size})")
    free_mean = recovery_mean is None
    if dr.size < (4 if free_mean else 3):
        raise ValueError("at least 3 years are needed (4 when the recovery mean is estimated too)")
    notes = []
    estimated: dict[str, float] = {}  # pd and rho estimated here, with their standard errors
    if pd is None or rho is None:
        fit = vasicek_from_default_rates(dr.tolist())
        if pd is None:
            pd, estimated["pd"] = fit.parameters["annual_pd"], fit.standard_errors["annual_pd"]
        if rho is None:
            rho, estimated["rho"] = fit.derived["rho"]
        notes.append(f"pd = {pd:.4g} and rho = {rho:.4g} estimated from the default rates (Vasicek); their "
                     "error is in gamma's standard error (delta method)")
    fitted = _fit_recovery_loading(dr, rr, recovery_sd, recovery_mean, pd, rho)
    x, se = fitted
    if estimated:
        for name, error in estimated.items():  # the factor's own estimation error, by the delta method
            step = 1e-4 * (pd if name == "pd" else rho)
            moved = {"pd": pd, "rho": rho}
            up = dict(moved, **{name: moved[name] + step})
            down = dict(moved, **{name: moved[name] - step})
            slope = (_fit_recovery_loading(dr, rr, recovery_sd, recovery_mean, up["pd"], up["rho"])[0]
                     - _fit_recovery_loading(dr, rr, recovery_sd, recovery_mean, down["pd"], down["rho"])[0]) / (2 * step)
            se = np.sqrt(se**2 + (slope * error) ** 2)
    if x[0] <= 1e-6:
        notes.append("gamma is at its bound 0: no sign that recoveries fall in bad years in these data")
    parameters = {"recovery_loading": float(x[0])}
    errors = {"recovery_loading": float(se[0])}
    if recovery_mean is None:
        parameters["recovery_mean"] = float(x[1])
        errors["recovery_mean"] = float(se[1])
    parameters["recovery_sd"] = float(recovery_sd)
    errors["recovery_sd"] = float("nan")  # given, not estimated
    return Calibration(parameters, errors, "least squares on yearly mean recoveries", int(rr.size), "sectors", notes,
                       {"rho": (float(rho), estimated.get("rho", float("nan"))),
                        "pd": (float(pd), estimated.get("pd", float("nan")))})


def _fit_recovery_loading(dr, rr, recovery_sd, recovery_mean, pd, rho):
    """Least squares of :func:`recovery_loading` for given pd and rho: (estimates, standard errors)."""
    from scipy import optimize
    free_mean = recovery_mean is None
    if not 0 < rho < 1:
        raise ValueError(f"rho must be in (0, 1), got {rho:g}: without correlation the default rate says nothing "
                         "about the cycle")
    z = (special.ndtri(pd) - math.sqrt(1 - rho) * special.ndtri(dr)) / math.sqrt(rho)
    start_mean = float(rr.mean()) if free_mean else float(recovery_mean)
    limit = math.sqrt(start_mean * (1 - start_mean)) if 0 < start_mean < 1 else 0.0
    if not (0 < start_mean < 1 and 0 < recovery_sd < limit):
        raise ValueError(f"a Beta recovery with mean {start_mean:g} needs 0 < mean < 1 and 0 < sd < {limit:.4g}, "
                         f"got sd {recovery_sd:g}")

    def model(params: np.ndarray) -> np.ndarray:
        gamma = float(np.clip(params[0], 0.0, 0.999))
        mean = float(params[1]) if free_mean else start_mean
        return _mean_recovery_given_factor(gamma, z, mean, recovery_sd)

    def residuals(params: np.ndarray) -> np.ndarray:
        return rr - model(params)

    start = np.array([0.3, start_mean]) if free_mean else np.array([0.3])
    # the mean stays where a Beta with this sd exists: sd^2 < m (1 - m)
    bounds = ([0.0, 0.5 - math.sqrt(max(0.25 - recovery_sd**2, 0)) + 1e-6],
              [0.999, 0.5 + math.sqrt(max(0.25 - recovery_sd**2, 0)) - 1e-6]) if free_mean else ([0.0], [0.999])
    res = optimize.least_squares(residuals, np.clip(start, bounds[0], bounds[1]), bounds=bounds, method="trf",
                                 xtol=1e-12, ftol=1e-12, gtol=1e-12)
    s2 = float(res.fun @ res.fun) / (rr.size - res.x.size)
    try:
        se = np.sqrt(np.clip(np.diag(s2 * np.linalg.inv(res.jac.T @ res.jac)), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(res.x.size, np.nan)
    return res.x, se

"""The engine against closed forms: binomial, Poisson-binomial, geometric, Vasicek.

Tolerances are Monte Carlo standard errors (4 sigma) or goodness-of-fit tests with a stated
p-value threshold, never a number that "passed".
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

import levier
from levier.analysis.analytic import one_factor_defaults_pmf, vasicek_cdf, vasicek_quantile

from conftest import book_row, make_scenario, write_book

P_VALUE_FLOOR = 1e-4  # a correct engine fails one of these tests once in ten thousand runs


def _flat_book(tmp_path, pds, entry_year=1):
    rows = [book_row(i, annual_pd=pd, entry_year=entry_year, loan_amount=100_000, bank_amount=0) for i, pd in enumerate(pds)]
    return write_book(tmp_path / "book.csv", rows)


def _independent(tmp_path, pds, horizon=1, **tables):
    if len(pds):  # else the test wrote its own book.csv
        _flat_book(tmp_path, pds)
    base = dict(
        base_dir=tmp_path,
        pipeline=None,
        loan_book={"path": "book.csv"},
        simulation={"horizon_years": horizon, "seed": 99},
        defaults={"macro_loading": 0.0, "macro_autocorrelation": 0.0},
        sectors=[{"name": "plasturgie", "annual_pd": 0.05, "loading": 0.0},
                 {"name": "automobile", "annual_pd": 0.05, "loading": 0.0}],
        territories=[{"name": "Forbach", "loading": 0.0}, {"name": "Alès"}],
    )
    base.update(tables)
    return make_scenario(**base)


def poisson_binomial_pmf(pds):
    pmf = np.array([1.0])
    for p in pds:  # brute-force convolution, the independent truth
        pmf = np.convolve(pmf, [1 - p, p])
    return pmf


def chi_square_pvalue(observed_counts, pmf):
    """Pearson's test of counts against a pmf, cells with expected count < 5 pooled."""
    n = observed_counts.sum()
    expected = pmf * n
    keep = expected >= 5
    obs = np.r_[observed_counts[keep], observed_counts[~keep].sum()]
    exp = np.r_[expected[keep], expected[~keep].sum()]
    mask = exp > 0
    return stats.chisquare(obs[mask], exp[mask] * obs[mask].sum() / exp[mask].sum()).pvalue


def test_independent_defaults_match_poisson_binomial(tmp_path):
    pds = np.linspace(0.01, 0.3, 40)
    scenario = _independent(tmp_path, pds)
    n_paths = 6_000
    d = levier.simulate(scenario, paths=n_paths, seed=1).paths["n_defaults"].to_numpy()
    pmf = poisson_binomial_pmf(pds)
    k = np.arange(pmf.size)
    mean = pmf @ k
    var = pmf @ (k - mean) ** 2
    mu4 = pmf @ (k - mean) ** 4
    assert mean == pytest.approx(pds.sum())
    assert abs(d.mean() - mean) <= 4 * np.sqrt(var / n_paths)
    # sampling sd of the sample variance: sqrt((mu4 - var^2) / n) to first order
    assert abs(d.var(ddof=1) - var) <= 4 * np.sqrt((mu4 - var**2) / n_paths)
    # the whole distribution: chi-square goodness of fit, bins with expected count >= 5
    observed = np.bincount(d.astype(int), minlength=pmf.size)[: pmf.size]
    expected = pmf * n_paths
    keep = expected >= 5
    obs = np.r_[observed[keep], observed[~keep].sum()]
    exp = np.r_[expected[keep], expected[~keep].sum()]
    obs, exp = obs[exp > 0], exp[exp > 0]
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > P_VALUE_FLOOR


def test_equal_pds_give_binomial_defaults(tmp_path):
    n, h = 60, 0.07
    scenario = _independent(tmp_path, [h] * n)
    n_paths = 5_000
    d = levier.simulate(scenario, paths=n_paths, seed=5).paths["n_defaults"].to_numpy()
    assert abs(d.mean() - n * h) <= 4 * np.sqrt(n * h * (1 - h) / n_paths)
    binom = stats.binom(n, h)
    edges = np.arange(0, 13)
    observed = np.r_[np.bincount(d.astype(int), minlength=13)[:12], (d >= 12).sum()]
    expected = np.r_[binom.pmf(edges[:-1]), binom.sf(11)] * n_paths
    assert stats.chisquare(observed, expected).pvalue > P_VALUE_FLOOR


def test_default_time_is_geometric_with_independent_years(tmp_path):
    h, horizon, n = 0.12, 8, 50
    scenario = _independent(tmp_path, [h] * n, horizon=horizon)
    n_paths = 2_000
    result = levier.simulate(scenario, paths=n_paths, seed=3)
    per_year = result.year_paths("defaults").to_numpy().sum(axis=0)
    trials = n * n_paths
    probs = (1 - h) ** np.arange(horizon) * h
    observed = np.r_[per_year, trials - per_year.sum()]
    expected = np.r_[probs, 1 - probs.sum()] * trials
    assert stats.chisquare(observed, expected).pvalue > P_VALUE_FLOOR


def finite_pool_cdf(x, n, pd, rho):
    """P(D / n <= x) for n obligors in the one-factor model, by quadrature over the factor."""
    k = np.floor(n * x + 1e-9)

    def integrand(z):
        p = special.ndtr((special.ndtri(pd) - np.sqrt(rho) * z) / np.sqrt(1 - rho))
        return stats.binom.cdf(k, n, p) * stats.norm.pdf(z)

    return integrate.quad(integrand, -10, 10, limit=200)[0]


def test_one_factor_loss_quantiles_match_vasicek(tmp_path):
    n, h, rho = 3_000, 0.05, 0.15
    scenario = _independent(
        tmp_path, [h] * n,
        defaults={"macro_loading": float(np.sqrt(rho)), "macro_autocorrelation": 0.0},
        sectors=[{"name": "plasturgie", "annual_pd": h, "recovery_mean": 0.0},
                 {"name": "automobile", "annual_pd": h}],
    )
    n_paths = 6_000
    paths = levier.simulate(scenario, paths=n_paths, seed=2024).paths
    loss_fraction = (paths["fund_loss"] / paths["fund_lent"]).to_numpy()
    for alpha in (0.5, 0.9, 0.99):
        q = vasicek_quantile(alpha, h, rho)
        assert vasicek_cdf(q, h, rho) == pytest.approx(alpha)
        empirical = np.mean(loss_fraction <= q)
        granularity = abs(finite_pool_cdf(q, n, h, rho) - alpha)  # finite pool vs the n → ∞ limit
        sigma = np.sqrt(alpha * (1 - alpha) / n_paths)
        assert abs(empirical - alpha) <= 4 * sigma + granularity, (alpha, empirical, granularity)
        assert granularity < 2 * sigma  # the pool is large enough for the test to mean something


def test_one_factor_default_counts_match_the_exact_mixture(tmp_path):
    n, h, rho = 25, 0.04, 0.2
    scenario = _independent(
        tmp_path, [h] * n,
        defaults={"macro_loading": float(np.sqrt(rho)), "macro_autocorrelation": 0.0},
    )
    n_paths = 8_000
    d = levier.simulate(scenario, paths=n_paths, seed=77).paths["n_defaults"].to_numpy().astype(int)
    pmf = one_factor_defaults_pmf(n, h, rho)
    assert chi_square_pvalue(np.bincount(d, minlength=n + 1), pmf) > P_VALUE_FLOOR
    k = np.arange(n + 1)
    var = pmf @ (k - n * h) ** 2
    assert abs(d.mean() - n * h) <= 4 * np.sqrt(var / n_paths)


def test_macro_sector_territory_structure_gives_the_right_default_covariances(tmp_path):
    # three groups of loans: (plasturgie, Forbach), (automobile, Forbach), (plasturgie, Alès)
    from levier.analysis.analytic import bivariate_normal_cdf
    from scipy import special

    h, m, s_pl, s_au, t_fo, t_al = 0.05, 0.3, 0.4, 0.2, 0.25, 0.35
    groups = [("plasturgie", "Forbach"), ("automobile", "Forbach"), ("plasturgie", "Alès")]
    size = 30
    rows = [dict(firm_id=f"{g}-{i}", sector=sec, territory=ter, investment=1e6, equity=2e5, jobs_planned=10,
                 entry_year=1, annual_pd=h, loan_amount=1e5, bank_amount=0)
            for g, (sec, ter) in enumerate(groups) for i in range(size)]
    write_book(tmp_path / "book.csv", rows)
    scenario = _independent(
        tmp_path, [],
        defaults={"macro_loading": m, "macro_autocorrelation": 0.0},
        sectors=[{"name": "plasturgie", "annual_pd": h, "loading": s_pl}, {"name": "automobile", "annual_pd": h, "loading": s_au}],
        territories=[{"name": "Forbach", "loading": t_fo, "pd_multiplier": 1.0}, {"name": "Alès", "loading": t_al}],
    )
    n_paths = 20_000
    result = levier.simulate(scenario, paths=n_paths, seed=31)
    counts = (result.group_paths("n_defaults", by="territory").to_numpy(),
              result.group_paths("n_defaults", by="sector").to_numpy())
    # group counts from the sector and territory tables: F×pl = pl − Al×pl (Alès holds only plasturgie)
    alès = counts[0][:, 1]
    automobile = counts[1][:, 1]
    forbach_plasturgie = counts[1][:, 0] - alès
    c = special.ndtri(h)
    expected = {
        ("FP", "FA"): m * m + t_fo * t_fo,  # same territory, other sector
        ("FP", "AP"): m * m + s_pl * s_pl,  # same sector, other territory
        ("FA", "AP"): m * m,  # nothing but the economy in common
    }
    samples = {"FP": forbach_plasturgie, "FA": automobile, "AP": alès}
    for (a, b), rho in expected.items():
        x, y = samples[a], samples[b]
        cov = np.mean((x - x.mean()) * (y - y.mean()))
        se = np.sqrt(np.var((x - x.mean()) * (y - y.mean())) / n_paths)
        truth = size * size * (bivariate_normal_cdf(c, c, rho) - h * h)
        assert abs(cov - truth) <= 4 * se, (a, b, cov, truth, se)
    # and within a group: variance of the count
    x = forbach_plasturgie
    within = size * h * (1 - h) + size * (size - 1) * (bivariate_normal_cdf(c, c, m * m + s_pl**2 + t_fo**2) - h * h)
    assert abs(x.var() - within) <= 4 * np.sqrt(np.var((x - x.mean()) ** 2) / n_paths)

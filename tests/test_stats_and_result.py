"""Statistics against brute force, kernels against closed forms, and the result's tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import levier
from levier.engine.kernels import ar1_factors
from levier.model.terms import outstanding_fraction
from levier.stats import describe, es_weights, expected_shortfall, ratio_of_means, value_at_risk

from conftest import SHIPPED, make_scenario


def brute_force_es(x, alpha):
    """(1 / (1 - alpha)) * integral of the empirical quantile function from alpha to 1, numerically."""
    xs = np.sort(x)
    n = xs.size
    u = np.linspace(alpha, 1, 200_001)[1:]  # quantile function L_(ceil(n u))
    q = xs[np.clip(np.ceil(n * u - 1e-12).astype(int), 1, n) - 1]
    return np.trapezoid(q, u) / (1 - alpha)


@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.95, 0.975, 0.99])
def test_es_matches_the_integral_definition(alpha):
    x = np.random.default_rng(1).lognormal(size=333)
    assert expected_shortfall(x, alpha) == pytest.approx(brute_force_es(x, alpha), rel=1e-4)
    assert expected_shortfall(x, alpha) >= value_at_risk(x, alpha)


def test_es_is_right_for_discrete_losses():
    # 90 % of paths lose nothing, 10 % lose 100: ES at 95 % is 100, VaR 100; at 85 %,
    # ES = (0.05 * 0 + 0.10 * 100) / 0.15 = 66.67 — the naive mean of losses >= VaR (here 0) gives 10
    x = np.r_[np.zeros(900), np.full(100, 100.0)]
    assert value_at_risk(x, 0.95) == 100 and expected_shortfall(x, 0.95) == pytest.approx(100)
    assert value_at_risk(x, 0.85) == 0
    assert expected_shortfall(x, 0.85) == pytest.approx(100 * 0.10 / 0.15)
    assert es_weights(1000, 0.85).sum() == pytest.approx(1)


def test_var_is_the_lower_quantile():
    x = np.arange(1, 101, dtype=float)
    assert value_at_risk(x, 0.95) == 95 and value_at_risk(x, 0.951) == 96
    assert value_at_risk(x, 0.95) == np.quantile(x, 0.95, method="inverted_cdf")


def test_describe_counts_missing_values():
    out = describe(np.array([1.0, np.nan, 3.0]), [0.5], [0.9])
    assert out["missing"] == 1 and out["count"] == 2 and out["mean"] == 2
    assert out["mc_se"] == pytest.approx(np.std([1, 3], ddof=1) / np.sqrt(2))


def test_ratio_of_means_standard_error_covers():
    rng = np.random.default_rng(3)
    estimates, ses = [], []
    for _ in range(400):
        y = rng.gamma(2.0, 1.0, 200)
        x = 3 * y + rng.normal(0, 1, 200)
        r, se = ratio_of_means(x, y)
        estimates.append(r)
        ses.append(se)
    # the delta-method se matches the spread of the estimates (within sampling error of an sd)
    spread = np.std(estimates, ddof=1)
    assert abs(np.mean(ses) / spread - 1) < 4 / np.sqrt(2 * 399)


def test_outstanding_fraction_schedule():
    assert outstanding_fraction(np.arange(7), np.array(5), np.array(1)).tolist() == [1, 1, 0.75, 0.5, 0.25, 0, 0]
    assert outstanding_fraction(np.arange(3), np.array(1), np.array(0)).tolist() == [1, 0, 0]


def test_ar1_factors_are_stationary_with_the_right_autocorrelation():
    shocks = np.random.default_rng(0).standard_normal((20_000, 6, 2))
    z = ar1_factors(shocks, np.array([0.6, 0.0]))
    n = z.shape[0]
    for t in range(6):
        assert abs(z[:, t, 0].var() - 1) < 4 * np.sqrt(2 / n)
    corr = np.corrcoef(z[:, 4, 0], z[:, 5, 0])[0, 1]
    assert abs(corr - 0.6) < 4 * (1 - 0.36) / np.sqrt(n)
    assert abs(np.corrcoef(z[:, 2, 0], z[:, 5, 0])[0, 1] - 0.6**3) < 4 * 1 / np.sqrt(n)
    np.testing.assert_array_equal(z[:, :, 1], shocks[:, :, 1])


@pytest.fixture(scope="module")
def result():
    return levier.simulate(make_scenario(), paths=1_000, seed=12)


def test_es_contributions_add_up_to_the_portfolio_es(result):
    summary = result.summary()
    for table in (result.by_sector(), result.by_territory()):
        for alpha in (0.95, 0.99, 0.999):
            assert table[f"es_contribution_{alpha:g}"].sum() == pytest.approx(summary.loc["fund_loss", f"es_{alpha:g}"])
        assert table["fund_loss"].sum() == pytest.approx(summary.loc["fund_loss", "mean"])
        assert table["share_of_expected_loss"].sum() == pytest.approx(1)
        assert table["jobs_created"].sum() == pytest.approx(summary.loc["jobs_created", "mean"])


def test_by_year_is_consistent_with_paths(result):
    by_year = result.by_year()
    horizon = result.scenario.simulation.horizon_years
    assert by_year.loc["jobs"].index.tolist() == list(range(1, horizon + 1))
    assert by_year.loc[("jobs", horizon), "mean"] == pytest.approx(result.paths["jobs_created"].mean())
    assert by_year.loc["defaults", "mean"].sum() == pytest.approx(result.paths["n_defaults"].mean())
    assert by_year.loc["new_loans", "mean"].sum() == pytest.approx(result.paths["n_financed"].mean())


def test_summary_columns_and_missing_ratios(result):
    summary = result.summary()
    for col in ("mean", "std", "mc_se", "q_0.05", "q_0.5", "q_0.95", "var_0.99", "es_0.99", "missing"):
        assert col in summary.columns
    assert np.isnan(summary.loc["investment", "var_0.99"])  # VaR only for losses and jobs
    assert summary.loc["jobs_created", "var_0.99"] <= summary.loc["jobs_created", "mean"]  # jobs: the shortfall
    ratios = result.ratios()
    assert ratios.loc["cost_per_job", "value"] == pytest.approx(
        result.paths["fund_net_cost"].mean() / result.paths["jobs_additional"].mean())
    p, se = result.exceedance_probability("fund_loss", 0.0)
    assert 0 < p < 1 and se > 0


def test_repr_and_html(result, moselle):
    assert "SimulationResult" in repr(result) and "1,000 paths" in repr(result)
    html = result._repr_html_()
    assert "<table>" in html and "Cost per additional job" in html
    assert "Moselle-Est" in moselle._repr_html_() and "Moselle-Est" in repr(moselle)


def test_annuity_pays_equal_instalments_and_bullet_pays_at_maturity():
    r, maturity, grace = 0.05, 6, 2
    out = outstanding_fraction(np.arange(8), np.array(maturity), np.array(grace), "annuity", r)
    payments = r * out[:-1] + (out[:-1] - out[1:])  # interest + principal, year by year
    np.testing.assert_allclose(payments[grace:maturity], r / (1 - (1 + r) ** -(maturity - grace)))
    np.testing.assert_allclose(payments[:grace], r)
    assert out[maturity] == pytest.approx(0, abs=1e-15)
    linear = outstanding_fraction(np.arange(8), np.array(maturity), np.array(grace), "annuity", 0.0)
    np.testing.assert_allclose(linear, outstanding_fraction(np.arange(8), np.array(maturity), np.array(grace)))
    bullet = outstanding_fraction(np.arange(8), np.array(maturity), np.array(grace), "bullet")
    assert bullet.tolist() == [1, 1, 1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize("profile", ["annuity", "bullet"])
def test_amortisation_profiles_run_end_to_end_and_conserve_principal(profile):
    s = make_scenario(policy={"amortisation": profile, "rate": 0.04}, bank={"amortisation": profile})
    p = levier.simulate(s, paths=200, seed=3).paths
    total = p["fund_principal"] + p["fund_recoveries"] + p["fund_loss"] + p["fund_outstanding_end"]
    np.testing.assert_allclose(total, p["fund_lent"], rtol=1e-10)


def test_var_interval_covers_at_its_nominal_rate():
    from levier.stats import quantile_interval

    rng = np.random.default_rng(11)
    n, alpha, reps = 400, 0.9, 3_000
    truth = stats.expon.ppf(alpha)
    hits = 0
    for _ in range(reps):
        low, high = quantile_interval(rng.exponential(size=n), alpha)
        hits += low <= truth <= high
    coverage = hits / reps
    # distribution-free: coverage is at least 95 % (exactly the binomial mass between the ranks)
    binom = stats.binom(n, alpha)
    lo, hi = int(binom.ppf(0.025)), int(binom.ppf(0.975)) + 1
    exact = binom.cdf(hi - 1) - binom.cdf(lo - 1)
    assert exact >= 0.95
    assert abs(coverage - exact) <= 4 * np.sqrt(exact * (1 - exact) / reps)


def test_var_interval_in_summary_and_too_few_paths():
    result = levier.simulate(make_scenario(), paths=500, seed=2)
    s = result.summary().loc["fund_loss"]
    assert s["var_0.95_low"] <= s["var_0.95"] <= s["var_0.95_high"]
    assert np.isnan(s["var_0.999_high"])  # 500 paths cannot bound a 99.9 % quantile from above


def test_normal_and_t_quantiles_are_scipy_stats_own_bits():
    """Z95 and sectioning's t quantile come from scipy.special (scipy.stats takes a second to
    import): the same numbers as scipy.stats's, to the bit."""
    from levier.stats import Z95, sectioning

    assert Z95 == float(stats.norm.ppf(0.975))
    x = np.random.default_rng(3).normal(size=240)
    for batches in (2, 3, 7, 20, 240):
        s = sectioning(lambda a: [a.mean()], [x], batches)
        assert s.half_width[0] == stats.t.ppf(0.975, batches - 1) * s.se[0]


def test_binomial_ppf_is_the_smallest_k_whose_exact_cdf_reaches_q():
    """The quantile intervals' ranks against the definition, computed exactly: the binomial CDF
    in rational arithmetic (p and q are binary fractions, so exactly representable)."""
    from fractions import Fraction
    from math import comb

    from levier.stats import binomial_ppf

    rng = np.random.default_rng(11)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        p, q = float(rng.random()), float(rng.random())
        fp, fq = Fraction(p), Fraction(q)
        cdf, k = Fraction(0), -1
        while cdf < fq:
            k += 1
            cdf += comb(n, k) * fp**k * (1 - fp) ** (n - k)
        assert binomial_ppf(q, n, p) == k, (q, n, p)


def test_binomial_ppf_is_scipy_stats_own():
    """The ranks are scipy.stats.binom's ppf (the intervals kept their bits when scipy.stats left
    the summary): every n to 300 and larger ones up to ten million, at the levels a summary uses."""
    from levier.stats import binomial_ppf

    rng = np.random.default_rng(12)
    ns = [*range(1, 301, 7), *map(int, rng.integers(300, 10**7, 40)), 10**6]
    for n in ns:
        for alpha in (0.01, 0.05, 0.5, 0.95, 0.99, 0.999):
            for q in (0.025, 0.975):
                assert binomial_ppf(q, n, alpha) == int(stats.binom(n, alpha).ppf(q)), (q, n, alpha)


def test_importing_levier_leaves_the_heavy_modules_unloaded():
    """Start-up: ``import levier`` (every command) loads neither scipy's stats, integrate and
    optimize, nor Dask, nor matplotlib; a run outside Dask does not import Dask to ask, and a
    run's summary needs none of them."""
    import subprocess
    import sys

    heavy = ("scipy.stats", "scipy.integrate", "scipy.optimize", "distributed", "dask", "matplotlib")
    code = ("import sys, levier; from levier.engine.run import default_threads; default_threads(); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # nor does a run and its summary (what `levier run` prints), under the Gaussian copula
    code = ("import sys, levier; r = levier.simulate(levier.load_scenario(sys.argv[1]), paths=300, seed=1); "
            f"r.summary(); r.by_year(); print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(SHIPPED)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_path_arrays_are_the_paths_frame_read_only():
    """``path_arrays()`` (the lab's view of a result) holds the values of ``paths``, column by
    column with their dtypes, and cannot be written into."""
    r = levier.simulate(make_scenario(), paths=50, seed=8)
    arrays = r.path_arrays()
    assert list(arrays) == list(r.paths.columns)
    for name, values in arrays.items():
        column = r.paths[name].to_numpy()
        assert values.dtype == column.dtype and np.array_equal(values, column, equal_nan=True), name
    with pytest.raises(ValueError):
        arrays["fund_loss"][0] = 0.0


def test_ordered_dot_is_the_exact_dot_product_to_rounding_and_shape():
    """:func:`ordered_dot` against the correctly rounded sum (``math.fsum`` of the same products):
    pairwise summation's error is a few ulps, far below a BLAS-free naive sum's n ulps bound."""
    import math

    from levier.stats import ordered_dot

    rng = np.random.default_rng(4)
    w, x = rng.random(10_001), rng.lognormal(size=(10_001, 2, 3))
    got = ordered_dot(w, x)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            exact = math.fsum((w * x[:, i, j]).tolist())
            assert abs(got[i, j] - exact) <= 8 * np.spacing(exact), (i, j)
    assert ordered_dot(w, x[:, 1, 2]) == got[1, 2]


def test_elementwise_functions_are_libm_s_with_numpy_s_conventions():
    """:mod:`levier.elementwise` against ``math`` element by element, and numpy's values where
    there is no finite result (signs included), without a warning."""
    import math

    from levier import elementwise

    x = np.random.default_rng(6).normal(scale=20.0, size=200)
    assert elementwise.exp(x).tolist() == [math.exp(v) for v in x]
    assert elementwise.log(np.abs(x)).tolist() == [math.log(abs(v)) for v in x]
    assert elementwise.log1p(np.abs(x)).tolist() == [math.log1p(abs(v)) for v in x]
    assert elementwise.power(1.03, -np.arange(5.0)).tolist() == [math.pow(1.03, -k) for k in range(5)]
    with np.errstate(all="ignore"):
        special = np.array([-0.0, -10.0, -1e300, 0.0, -8.0]), np.array([-1.0, 401.0, 3.0, -2.0, 1 / 3])
        assert np.array_equal(elementwise.power(*special), np.power(*special), equal_nan=True)
        edges = np.array([0.0, -1.0, np.inf, np.nan, 1e308])
        assert np.array_equal(elementwise.log(edges), np.log(edges), equal_nan=True)
        assert np.array_equal(elementwise.log1p(edges - 1.0), np.log1p(edges - 1.0), equal_nan=True)
        assert np.array_equal(elementwise.exp(np.array([1e4, -1e4, np.nan])), np.exp([1e4, -1e4, np.nan]), equal_nan=True)
    assert elementwise.exp(np.ones((2, 3))).shape == (2, 3)


def test_ordered_dot_and_intervals_at_their_edges():
    from levier.stats import ordered_dot, quantile_interval, tail_start

    assert np.array_equal(ordered_dot(np.ones(0), np.ones((0, 2, 3))), np.zeros((2, 3)))
    assert ordered_dot(np.ones(0), np.ones(0)) == 0.0 and tail_start(np.zeros(0)) == 0
    for level in (np.nan, 1.5, -0.1):
        with pytest.raises(ValueError, match="level"):
            quantile_interval(np.arange(10.0), level)


def test_mean_se_is_the_sample_sd_over_root_n_and_undefined_for_one_value():
    from levier.stats import mean_se

    x = np.array([1.0, 4.0, 2.0, 7.0])
    assert mean_se(x) == float(x.std(ddof=1) / np.sqrt(4))
    assert math.isnan(mean_se(np.array([3.0]))) and math.isnan(mean_se(np.array([])))


def test_the_binomial_interval_is_clopper_pearson_and_covers_95_percent():
    from scipy.stats import beta, binom

    from levier.stats import binomial_interval

    assert binomial_interval(5, 1000) == pytest.approx((beta.ppf(0.025, 5, 996), beta.ppf(0.975, 6, 995)), rel=1e-12)
    assert binomial_interval(0, 1000)[0] == 0.0 and binomial_interval(1000, 1000)[1] == 1.0
    # exact coverage, by enumerating every count: at least 95 % for every probability
    n = 60
    bounds = [binomial_interval(k, n) for k in range(n + 1)]
    for p in np.linspace(0.001, 0.999, 199):
        covered = sum(binom.pmf(k, n, p) for k, (lo, hi) in enumerate(bounds) if lo <= p <= hi)
        assert covered >= 0.95 - 1e-12, p

"""levier.analytic against independent truths: published tables, brute force, quadrature."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import integrate, special, stats

from levier.analysis.analytic import basel_irb_capital, bivariate_normal_cdf, creditriskplus_loss_pmf, one_factor_defaults_pmf, poisson_binomial_pmf, vasicek_cdf, vasicek_es, vasicek_quantile, vasicek_variance


def bvn_by_quadrature(h, k, r):
    """P(X <= h, Y <= k) = integral over x <= h of phi(x) Phi((k - r x) / sqrt(1 - r^2))."""
    f = lambda x: stats.norm.pdf(x) * special.ndtr((k - r * x) / np.sqrt(1 - r * r))  # noqa: E731
    return integrate.quad(f, -np.inf, h, epsabs=1e-14, epsrel=1e-12)[0]


@pytest.mark.parametrize("h, k, r", [(0.3, -1.2, 0.4), (-2.0, -2.5, 0.8), (1.5, 0.0, -0.6), (0.0, -0.7, 0.2),
                                     (-3.1, 2.2, 0.05), (0.0, 0.0, 0.5), (2.0, 2.0, -0.95)])
def test_bivariate_normal_against_quadrature(h, k, r):
    assert bivariate_normal_cdf(h, k, r) == pytest.approx(bvn_by_quadrature(h, k, r), abs=1e-12)


def test_bivariate_normal_limits():
    assert bivariate_normal_cdf(0.0, 0.0, 0.3) == pytest.approx(0.25 + np.arcsin(0.3) / (2 * np.pi))
    assert bivariate_normal_cdf(0.4, -0.2, 1.0) == pytest.approx(special.ndtr(-0.2))
    assert bivariate_normal_cdf(0.4, 0.2, -1.0) == pytest.approx(special.ndtr(0.4) + special.ndtr(0.2) - 1)
    assert bivariate_normal_cdf(np.inf, 0.7, 0.3) == pytest.approx(special.ndtr(0.7))
    assert bivariate_normal_cdf(-np.inf, 0.7, 0.3) == 0
    np.testing.assert_allclose(bivariate_normal_cdf([0.1, 0.2], [0.3, -0.1], 0.0),
                               special.ndtr([0.1, 0.2]) * special.ndtr([0.3, -0.1]))


PD, RHO = 0.02, 0.12


def test_vasicek_quantile_and_cdf_invert_each_other_and_match_quadrature():
    for alpha in (0.5, 0.9, 0.99, 0.999):
        q = vasicek_quantile(alpha, PD, RHO)
        assert vasicek_cdf(q, PD, RHO) == pytest.approx(alpha, abs=1e-12)
        # brute force: P(p(Z) <= q) with p decreasing in z
        z_star = (special.ndtri(PD) - np.sqrt(1 - RHO) * special.ndtri(q)) / np.sqrt(RHO)
        assert integrate.quad(stats.norm.pdf, z_star, np.inf)[0] == pytest.approx(alpha, abs=1e-10)
    # Vasicek (2002): the 99.9 % quantile used by Basel for PD 1 %, rho 20 %
    assert vasicek_quantile(0.999, 0.01, 0.2) == pytest.approx(0.1455, abs=5e-5)


def test_vasicek_es_and_variance_against_quadrature():
    for alpha in (0.9, 0.99, 0.999):
        es = integrate.quad(lambda u: vasicek_quantile(u, PD, RHO), alpha, 1, epsabs=1e-13, limit=200)[0] / (1 - alpha)
        assert vasicek_es(alpha, PD, RHO) == pytest.approx(es, rel=1e-8)
        assert vasicek_es(alpha, PD, RHO) > vasicek_quantile(alpha, PD, RHO)
    p = lambda z: special.ndtr((special.ndtri(PD) - np.sqrt(RHO) * z) / np.sqrt(1 - RHO))  # noqa: E731
    second = integrate.quad(lambda z: p(z) ** 2 * stats.norm.pdf(z), -np.inf, np.inf, epsabs=1e-15)[0]
    assert vasicek_variance(PD, RHO) == pytest.approx(second - PD**2, rel=1e-9)
    assert vasicek_es(0.0, PD, RHO) == pytest.approx(PD)  # ES at level 0 is the mean


def test_one_factor_pmf_moments_and_closed_forms():
    n = 40
    pmf = one_factor_defaults_pmf(n, PD, RHO)
    k = np.arange(n + 1)
    c = special.ndtri(PD)
    joint = bivariate_normal_cdf(c, c, RHO)
    assert pmf.sum() == pytest.approx(1, abs=1e-12)
    assert pmf @ k == pytest.approx(n * PD, rel=1e-10)
    var = pmf @ (k - n * PD) ** 2
    assert var == pytest.approx(n * PD * (1 - PD) + n * (n - 1) * (joint - PD**2), rel=1e-9)
    # two obligors: P(both default) is the bivariate normal's joint probability, exactly
    two = one_factor_defaults_pmf(2, PD, RHO)
    assert two[2] == pytest.approx(joint, rel=1e-10)
    assert two[0] == pytest.approx(bivariate_normal_cdf(-c, -c, RHO), rel=1e-10)
    np.testing.assert_allclose(one_factor_defaults_pmf(10, 0.1, 0.0), stats.binom.pmf(np.arange(11), 10, 0.1))
    assert one_factor_defaults_pmf(5, 0.3, 1.0).tolist() == [0.7, 0, 0, 0, 0, 0.3]


def test_one_factor_pmf_tends_to_vasicek():
    n = 2_000
    cdf = np.cumsum(one_factor_defaults_pmf(n, PD, RHO))
    for alpha in (0.5, 0.9, 0.99):
        x = vasicek_quantile(alpha, PD, RHO)
        assert cdf[int(np.floor(n * x))] == pytest.approx(alpha, abs=0.01)


def test_poisson_binomial_against_enumeration():
    pds = np.array([0.05, 0.3, 0.5, 0.12, 0.9, 0.01, 0.44, 0.2, 0.7, 0.33])
    brute = np.zeros(pds.size + 1)
    for outcome in itertools.product([0, 1], repeat=pds.size):
        o = np.array(outcome)
        brute[o.sum()] += np.prod(np.where(o, pds, 1 - pds))
    np.testing.assert_allclose(poisson_binomial_pmf(pds), brute, atol=1e-15)
    np.testing.assert_allclose(poisson_binomial_pmf([0.2] * 15), stats.binom.pmf(np.arange(16), 15, 0.2), atol=1e-15)


def test_creditriskplus_single_sector_unit_exposures_is_negative_binomial():
    pds = np.full(30, 0.02)
    var = 0.8
    pmf = creditriskplus_loss_pmf(np.ones(30), pds, np.ones((30, 1)), [var], 1.0, max_units=60)
    mu = pds.sum()
    r, p = 1 / var, 1 / (1 + var * mu)
    np.testing.assert_allclose(pmf, stats.nbinom.pmf(np.arange(61), r, p), atol=1e-14)


def test_creditriskplus_against_gamma_mixture_by_quadrature():
    # one sector, two exposure sizes: given the factor the loss is nu1 N1 + nu2 N2 with Poisson N
    exposures, pds = np.array([1.0, 1.0, 3.0, 3.0, 3.0]), np.array([0.1, 0.2, 0.05, 0.05, 0.1])
    var, size = 1.5, 25
    pmf = creditriskplus_loss_pmf(exposures, pds, np.full((5, 1), 0.7), [var], 1.0, max_units=size - 1)
    mu1, mu3 = 0.7 * 0.3, 0.7 * 0.2
    idio1, idio3 = 0.3 * 0.3, 0.3 * 0.2

    def conditional(g):
        n = np.arange(size)
        ones = stats.poisson.pmf(n, g * mu1 + idio1)
        threes = np.zeros(size)
        threes[::3] = stats.poisson.pmf(np.arange(len(threes[::3])), g * mu3 + idio3)
        return np.convolve(ones, threes)[:size] * stats.gamma.pdf(g, 1 / var, scale=var)

    brute = integrate.quad_vec(conditional, 0, 60, epsabs=1e-14)[0]
    np.testing.assert_allclose(pmf, brute, atol=1e-10)


def test_creditriskplus_moments_with_several_sectors_and_bkww_correlation():
    rng = np.random.default_rng(4)
    n = 40
    nu = rng.integers(1, 6, n).astype(float)
    pds = rng.uniform(0.005, 0.05, n)
    weights = rng.dirichlet([1, 1, 1], n)[:, :2] * 0.9  # two sectors + idiosyncratic
    variances = np.array([0.6, 1.2])
    pmf = creditriskplus_loss_pmf(nu, pds, weights, variances, 1.0, max_units=400)
    assert 1 - pmf.sum() < 1e-12
    x = np.arange(pmf.size)
    el_k = (pds[:, None] * weights * nu[:, None]).sum(axis=0)
    assert pmf @ x == pytest.approx((pds * nu).sum(), rel=1e-10)
    target_var = (pds * nu**2).sum() + (variances * el_k**2).sum()  # independent sectors
    assert pmf @ (x - pmf @ x) ** 2 == pytest.approx(target_var, rel=1e-9)
    # BKWW: with correlated sectors the merged sector matches the correlated variance
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    merged = creditriskplus_loss_pmf(nu, pds, weights, variances, 1.0, sector_correlation=corr, max_units=400)
    sigma = np.sqrt(variances)
    target = (pds * nu**2).sum() + (sigma * el_k) @ corr @ (sigma * el_k)
    assert merged @ (x - merged @ x) ** 2 == pytest.approx(target, rel=1e-9)


def test_creditriskplus_rounds_exposures_to_loss_units():
    a = creditriskplus_loss_pmf([1_000.0, 2_100.0], [0.1, 0.1], [[0.5], [0.5]], [1.0], loss_unit=1_000.0)
    b = creditriskplus_loss_pmf([1.0, 2.0], [0.1, 0.1], [[0.5], [0.5]], [1.0], loss_unit=1.0)
    np.testing.assert_allclose(a, b)


# Basel Committee on Banking Supervision (2006), "International Convergence of Capital
# Measurement and Capital Standards: A Revised Framework — Comprehensive Version", Annex 5,
# "Illustrative IRB risk weights" (M = 2.5 years), read from
# http://www.asksam.com/ebooks/releases.asp?file=Basel_II.ask&dn=Annex%205 .
# Columns: corporate LGD 45 % (turnover 50 M€, then 5 M€), residential mortgages LGD 45 %, 25 %,
# other retail LGD 45 %, 85 %, qualifying revolving LGD 45 %, 85 %; risk weights in %.
ANNEX5_PD = [0.03, 0.05, 0.10, 0.25, 0.40, 0.50, 0.75, 1.00, 1.30, 1.50, 2.00, 2.50]
ANNEX5 = """
14.44 11.30 4.15 2.30 4.45 8.41 0.98 1.85
19.65 15.39 6.23 3.46 6.63 12.52 1.51 2.86
29.65 23.30 10.69 5.94 11.16 21.08 2.71 5.12
49.47 39.01 21.30 11.83 21.15 39.96 5.76 10.88
62.72 49.49 29.94 16.64 28.42 53.69 8.41 15.88
69.61 54.91 35.08 19.49 32.36 61.13 10.04 18.97
82.78 65.14 46.46 25.81 40.10 75.74 13.80 26.06
92.32 72.40 56.40 31.33 45.77 86.46 17.22 32.53
100.95 78.77 67.00 37.22 50.80 95.95 21.02 39.70
105.59 82.11 73.45 40.80 53.37 100.81 23.40 44.19
114.86 88.55 87.94 48.85 57.99 109.53 28.92 54.63
122.16 93.43 100.64 55.91 60.90 115.03 33.98 64.18
"""
ANNEX5_TABLE = np.array([[float(x) for x in line.split()] for line in ANNEX5.strip().splitlines()])
ANNEX5_COLUMNS = [
    dict(asset_class="corporate", lgd=0.45),
    dict(asset_class="corporate", lgd=0.45, turnover_meur=5),
    dict(asset_class="residential_mortgage", lgd=0.45),
    dict(asset_class="residential_mortgage", lgd=0.25),
    dict(asset_class="other_retail", lgd=0.45),
    dict(asset_class="other_retail", lgd=0.85),
    dict(asset_class="qualifying_revolving", lgd=0.45),
    dict(asset_class="qualifying_revolving", lgd=0.85),
]


@pytest.mark.parametrize("column", range(len(ANNEX5_COLUMNS)))
def test_basel_irb_reproduces_annex5_risk_weights(column):
    rw = 100 * 12.5 * basel_irb_capital(np.array(ANNEX5_PD) / 100, **ANNEX5_COLUMNS[column])
    # published to two decimals: within one unit of the last digit
    np.testing.assert_allclose(rw, ANNEX5_TABLE[:, column], atol=0.01)


def test_basel_irb_maturity_floor_and_errors():
    short, long = basel_irb_capital(0.01, 0.45, maturity=1.0), basel_irb_capital(0.01, 0.45, maturity=5.0)
    assert short < basel_irb_capital(0.01, 0.45) < long
    assert basel_irb_capital(0.0, 0.45) == basel_irb_capital(0.0003, 0.45)  # 0.03 % floor
    # the capital is the Vasicek quantile less expected loss (retail: no maturity adjustment)
    assert basel_irb_capital(0.02, 0.5, asset_class="residential_mortgage") == pytest.approx(
        0.5 * (vasicek_quantile(0.999, 0.02, 0.15) - 0.02))
    with pytest.raises(ValueError, match="asset_class"):
        basel_irb_capital(0.01, 0.45, asset_class="sovereign-ish")


def test_creditriskplus_reproduces_bkww_1999_example():
    # Bürgisser, Kurth, Wagner and Wolf, "Integrating correlations", Risk, July 1999, tables A and B
    # and figure 1 (values as used by QuantLib's test-suite/creditriskplus.cpp): 1000 obligors of
    # exposure 1 and PD 4 % in sector 1, 1000 of exposure 2 and PD 2 % in sector 2, relative
    # default standard deviation 0.75 each, sector correlation 0.5, loss unit 0.1.
    exposures = np.r_[np.full(1000, 1.0), np.full(1000, 2.0)]
    pds = np.r_[np.full(1000, 0.04), np.full(1000, 0.02)]
    weights = np.zeros((2000, 2))
    weights[:1000, 0] = weights[1000:, 1] = 1.0
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    pmf = creditriskplus_loss_pmf(exposures, pds, weights, [0.75**2, 0.75**2], 0.1,
                                  sector_correlation=corr, max_units=20_000)
    assert 1 - pmf.sum() < 1e-10
    loss = np.arange(pmf.size) * 0.1
    el = pmf @ loss
    ul = np.sqrt(pmf @ (loss - el) ** 2)
    assert el == pytest.approx(80.0, abs=1e-8)
    assert ul == pytest.approx(53.1, abs=0.01)
    q99 = loss[np.searchsorted(np.cumsum(pmf), 0.99)]
    assert q99 == pytest.approx(250, abs=0.5)
    # each sector alone: UL 30.7 and 31.3 (table A)
    for k, expected in ((0, 30.7), (1, 31.3)):
        rows = slice(0, 1000) if k == 0 else slice(1000, 2000)
        alone = creditriskplus_loss_pmf(exposures[rows], pds[rows], np.ones((1000, 1)), [0.75**2], 0.1, max_units=12_000)
        x = np.arange(alone.size) * 0.1
        assert np.sqrt(alone @ (x - alone @ x) ** 2) == pytest.approx(expected, abs=0.05)


def test_vasicek_quantile_reproduces_annex5_mortgage_weights():
    # residential mortgages have no maturity adjustment: RW = 12.5 LGD (q_99.9(PD, 0.15) - PD),
    # a direct published check of the Vasicek quantile (BCBS 2006, Annex 5; §328)
    pd_ = np.array(ANNEX5_PD) / 100
    rw = 100 * 12.5 * 0.45 * (vasicek_quantile(0.999, pd_, 0.15) - pd_)
    np.testing.assert_allclose(rw, ANNEX5_TABLE[:, 2], atol=0.01)

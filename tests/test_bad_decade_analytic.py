"""The t factor copula's references (issue 15) against independent truths: brute-force sampling
of the latent variables, the bivariate t distribution, and Vasicek as nu -> infinity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from levier.analysis.analytic import (
    bivariate_normal_cdf,
    one_factor_defaults_pmf,
    t_copula_defaults_pmf,
    t_large_pool_cdf,
    t_large_pool_quantile,
    t_mixing_nodes,
    vasicek_cdf,
    vasicek_quantile,
)

PD, RHO, NU = 0.02, 0.12, 4.0


def test_mixing_nodes_integrate_the_inverse_chi_square_exactly():
    for nu in (2.5, 4.0, 30.0, 1e5):
        w, weight = t_mixing_nodes(nu)
        assert weight.sum() == pytest.approx(1.0, abs=1e-14)
        assert weight @ (1 / w) == pytest.approx(1.0, rel=1e-9)  # E[chi2 / nu] = 1
        if nu > 4:
            assert weight @ w == pytest.approx(nu / (nu - 2), rel=1e-8)
    # halving the step changes nothing at the precision claimed
    a = t_large_pool_cdf(0.1, PD, RHO, NU)
    w, weight = t_mixing_nodes(NU, step=1 / 16)
    c = stats.t.ppf(PD, NU) / np.sqrt(w)
    b = weight @ special.ndtr((np.sqrt(1 - RHO) * special.ndtri(0.1) - c) / np.sqrt(RHO))
    assert a == pytest.approx(b, abs=1e-9)


def test_t_large_pool_cdf_matches_brute_force_sampling_of_the_factor_and_the_mixing_variable():
    rng = np.random.default_rng(15)
    n = 2_000_000
    z = rng.standard_normal(n)
    w = NU / rng.chisquare(NU, n)
    loss = special.ndtr((stats.t.ppf(PD, NU) / np.sqrt(w) - np.sqrt(RHO) * z) / np.sqrt(1 - RHO))
    for x in (0.001, 0.01, 0.05, 0.2, 0.5):
        p = float(t_large_pool_cdf(x, PD, RHO, NU))
        empirical = np.mean(loss <= x)
        assert abs(empirical - p) <= 4 * np.sqrt(p * (1 - p) / n), (x, empirical, p)
    assert loss.mean() == pytest.approx(PD, abs=4 * loss.std() / np.sqrt(n))


def test_t_large_pool_quantile_inverts_the_cdf_and_tends_to_vasicek():
    for alpha in (0.5, 0.99, 0.999):
        q = t_large_pool_quantile(alpha, PD, RHO, NU)
        assert t_large_pool_cdf(q, PD, RHO, NU) == pytest.approx(alpha, abs=1e-10)
    gaps = [abs(float(t_large_pool_quantile(0.999, PD, RHO, nu)) - float(vasicek_quantile(0.999, PD, RHO)))
            for nu in (5.0, 50.0, 500.0, 1e6)]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))  # closer and closer
    assert gaps[-1] < 1e-4 * float(vasicek_quantile(0.999, PD, RHO))
    assert t_large_pool_cdf(0.05, PD, RHO, 1e6) == pytest.approx(vasicek_cdf(0.05, PD, RHO), abs=1e-6)
    # fat tails: at equal PD and correlation the t copula's far quantile is higher
    assert t_large_pool_quantile(0.999, PD, RHO, NU) > 1.5 * vasicek_quantile(0.999, PD, RHO)


def test_t_copula_pmf_has_the_pd_and_the_bivariate_t_joint_default_probability():
    n = 200
    pmf = t_copula_defaults_pmf(n, PD, RHO, NU)
    k = np.arange(n + 1)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12) and pmf.min() >= -1e-15
    assert pmf @ k == pytest.approx(n * PD, rel=1e-10)
    c = stats.t.ppf(PD, NU)
    # P(two given firms default) = P(T1 <= c, T2 <= c) for the bivariate t, integrated over the
    # chi-square by adaptive quadrature (not the module's nodes)
    joint = integrate.quad(lambda v: bivariate_normal_cdf(c * np.sqrt(v / NU), c * np.sqrt(v / NU), RHO)
                           * stats.chi2.pdf(v, NU), 0, np.inf, epsabs=1e-14, epsrel=1e-11, limit=200)[0]
    assert pmf @ (k * (k - 1)) == pytest.approx(n * (n - 1) * joint, rel=1e-8)


def test_t_copula_pmf_matches_brute_force_latent_variables():
    rng = np.random.default_rng(7)
    n, draws = 4, 1_000_000
    z = rng.standard_normal((draws, 1))
    w = NU / rng.chisquare(NU, (draws, 1))
    latent = np.sqrt(w) * (np.sqrt(RHO) * z + np.sqrt(1 - RHO) * rng.standard_normal((draws, n)))
    counts = np.bincount((latent <= stats.t.ppf(0.1, NU)).sum(axis=1), minlength=n + 1) / draws
    pmf = t_copula_defaults_pmf(n, 0.1, RHO, NU)
    np.testing.assert_array_less(np.abs(counts - pmf), 4 * np.sqrt(pmf * (1 - pmf) / draws))


def test_t_copula_pmf_tends_to_the_gaussian_one_factor_law():
    gaussian = one_factor_defaults_pmf(300, PD, RHO)
    gaps = [np.abs(t_copula_defaults_pmf(300, PD, RHO, nu) - gaussian).max() for nu in (10.0, 1e3, 1e6)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-5
    np.testing.assert_allclose(t_copula_defaults_pmf(10, 0.1, 0.0, 1e6), stats.binom.pmf(np.arange(11), 10, 0.1),
                               atol=1e-6)

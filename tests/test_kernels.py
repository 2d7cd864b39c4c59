"""The engine's fast kernels against exact or brute-force truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from levier.engine.paths import _default_years, class_default_cdf
from levier.model.terms import RECOVERY_GRID, beta_quantile_table, project_terms
from levier.engine.kernels import recovery_rate
from levier.model.portfolio import build_portfolio
from levier.streams import normals_f32, uniform_bits

from conftest import make_scenario


@pytest.mark.parametrize("mean, a, b", [(0.4, 0.5, 0.75), (0.3, 2.0, 4.67), (0.9, 27.0, 3.0)])
def test_tabulated_beta_is_within_one_interval_of_the_exact_beta(mean, a, b):
    table = beta_quantile_table(mean, a, b)
    x = np.linspace(0.0, 1.0, 200_001)
    cdf_table = np.interp(x, table, np.linspace(0.0, 1.0, RECOVERY_GRID + 1))
    assert np.max(np.abs(special.betainc(a, b, x) - cdf_table)) <= 1.0 / RECOVERY_GRID
    # at the nodes the draws are the exact quantiles
    nodes = np.arange(0, RECOVERY_GRID, 97) / RECOVERY_GRID
    rates = recovery_rate(nodes, np.zeros(nodes.size, dtype=np.intp), table[None, :])
    np.testing.assert_allclose(rates, special.betaincinv(a, b, nodes), rtol=1e-12, atol=1e-14)


def test_fixed_recovery_is_its_mean():
    table = beta_quantile_table(0.35, 0.0, 0.0)
    u = np.random.default_rng(0).random(1000)
    assert np.all(recovery_rate(u, np.zeros(1000, dtype=np.intp), table[None, :]) == 0.35)


def test_default_years_and_residuals_against_brute_force():
    rng = np.random.default_rng(7)
    n, classes, years = 50, 6, 9
    cdf = np.sort(rng.random((n, classes, years)), axis=2)
    u = rng.random((n, classes)) * cdf[:, :, -1]  # every draw defaults within the horizon
    rows, cls = np.nonzero(np.ones((n, classes), dtype=bool))
    found, residual = _default_years(u[rows, cls], rows, cls, cdf)
    for k, (p, c) in enumerate(zip(rows, cls)):
        j = int(np.sum(cdf[p, c] <= u[p, c]))
        lower = cdf[p, c, j - 1] if j else 0.0
        assert found[k] == j
        assert residual[k] == pytest.approx((u[p, c] - lower) / (cdf[p, c, j] - lower), rel=1e-12)


def test_recovery_residual_is_uniform_whatever_the_default_year():
    # conditional on the factors, u given a default in year j is uniform on its slice of F
    scenario = make_scenario(defaults={"macro_loading": 0.4})
    terms = project_terms(scenario, build_portfolio(scenario))
    rng = np.random.default_rng(3)
    n = 4000
    factors = rng.standard_normal((n, terms.horizon, terms.n_factors))
    classes = terms.class_members[:1]
    cdf = class_default_cdf(terms, classes, 1, factors)
    u = rng.random(n)
    hit = np.flatnonzero(u < cdf[:, 0, -1])
    found, residual = _default_years(u[hit], hit, np.zeros(hit.size, dtype=np.intp), cdf)
    assert hit.size > 300
    assert stats.kstest(residual, "uniform").pvalue > 1e-4
    early, late = residual[found < 2], residual[found >= 2]
    assert early.size > 50 and late.size > 50
    assert stats.ks_2samp(early, late).pvalue > 1e-4


def test_float32_normals_and_uniform_bits():
    gen = np.random.default_rng(11)
    z = normals_f32(gen, (400, 500)).astype(float).ravel()
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1.0) < 4 * np.sqrt(2.0 / n)
    assert stats.kstest(z[:20_000], "norm").pvalue > 1e-4
    bits = uniform_bits(gen, (300, 301))
    assert bits.dtype == np.uint32 and bits.shape == (300, 301)
    u = bits.astype(float).ravel() / 2**32
    assert stats.kstest(u[:20_000], "uniform").pvalue > 1e-4

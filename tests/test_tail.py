"""Tail estimation: importance sampling against the exact one-factor law, variance, coverage."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.analysis.analytic import one_factor_defaults_pmf
from levier.analysis.tail import TailSampler, exceedance_probability, tail_risk

from conftest import SHIPPED, book_row, make_scenario, write_book


def one_factor_book(tmp_path, n=1_000, h=0.01, rho=0.2, seed=3):
    write_book(tmp_path / "book.csv", [book_row(i, annual_pd=h, loan_amount=1, bank_amount=0) for i in range(n)])
    return make_scenario(
        base_dir=tmp_path, pipeline=None, loan_book={"path": "book.csv"},
        simulation={"horizon_years": 1, "seed": seed},
        defaults={"macro_loading": float(np.sqrt(rho)), "macro_autocorrelation": 0.0},
        sectors=[{"name": "plasturgie", "annual_pd": h, "recovery_mean": 0.0}, {"name": "automobile", "annual_pd": h}],
        territories=[{"name": "Forbach"}, {"name": "Alès"}],
    )


def exact_tail(n, h, rho, alpha):
    cdf = np.cumsum(one_factor_defaults_pmf(n, h, rho))
    k = int(np.searchsorted(cdf, alpha))
    return k, 1 - cdf[k]


def test_importance_sampling_is_exact_and_ten_times_less_variable(tmp_path):
    n, h, rho, paths = 1_000, 0.01, 0.2, 8_000
    scenario = one_factor_book(tmp_path, n, h, rho)
    k, p = exact_tail(n, h, rho, 0.999)  # the 99.9 % quantile of the number of defaults
    est = exceedance_probability(scenario, "n_defaults", k, paths=paths, seed=1)
    assert est.low <= p <= est.high, (est, p)
    # variance per path: plain is Bernoulli(p); importance is that of the weighted indicator
    run = TailSampler.prepare(scenario, "n_defaults", paths, 1, "importance", 20, None)
    values, weights = run.sample(run.root, paths, est.shift)
    terms = weights * (values > k)
    assert abs(terms.mean() - p) <= 4 * terms.std(ddof=1) / np.sqrt(paths)
    ratio = p * (1 - p) / terms.var(ddof=1)
    assert ratio >= 10, ratio


def test_tail_risk_matches_the_exact_quantile(tmp_path):
    n, h, rho = 1_000, 0.01, 0.2
    scenario = one_factor_book(tmp_path, n, h, rho)
    # the shift is tuned for the highest level; the count of defaults is integer-valued, so the
    # interval is given one lattice unit of slack on each side
    est = tail_risk(scenario, "n_defaults", (0.999,), paths=8_000, seed=2)
    k, _ = exact_tail(n, h, rho, 0.999)
    row = est.table.loc[0.999]
    assert np.floor(row["var_low"]) - 1 <= k <= np.ceil(row["var_high"]) + 1, (k, row.to_dict())
    assert row["es"] >= row["var"]


def test_importance_and_plain_agree_on_a_moderate_quantile():
    scenario = make_scenario(simulation={"horizon_years": 4})
    a = tail_risk(scenario, "fund_loss", (0.9,), paths=6_000, seed=3, method="importance").table.loc[0.9]
    b = tail_risk(scenario, "fund_loss", (0.9,), paths=6_000, seed=3, method="plain").table.loc[0.9]
    for key in ("var", "es"):
        half = np.hypot(a[f"{key}_high"] - a[key], b[f"{key}_high"] - b[key])
        assert abs(a[key] - b[key]) <= half * 4 / 1.96, (key, a.to_dict(), b.to_dict())


def test_importance_sampling_with_a_twist_stays_unbiased_when_the_fund_watches():
    # the twist moves the first default draw only; detection, cure and a cured firm's fresh
    # default keep their own streams and laws, so the likelihood ratio is unchanged
    scenario = make_scenario(simulation={"horizon_years": 4},
                             vigilance={"detection_rate": 0.6, "cure_rate": 0.5, "false_alarm_rate": 0.05,
                                        "cost_per_case": 100.0, "extension_years": 2})
    a = tail_risk(scenario, "fund_loss", (0.9,), paths=6_000, seed=3, method="importance", twist=True).table.loc[0.9]
    b = tail_risk(scenario, "fund_loss", (0.9,), paths=6_000, seed=3, method="plain").table.loc[0.9]
    for key in ("var", "es"):
        half = np.hypot(a[f"{key}_high"] - a[key], b[f"{key}_high"] - b[key])
        assert abs(a[key] - b[key]) <= half * 4 / 1.96, (key, a.to_dict(), b.to_dict())
    assert levier.simulate(scenario, paths=500, seed=3).paths["n_cured"].sum() > 0  # the watch is at work


def test_plain_tail_equals_the_summary_var(tmp_path):
    scenario = make_scenario()
    est = tail_risk(scenario, "fund_loss", (0.95, 0.99), paths=1_000, seed=4, method="plain")
    summary = levier.simulate(scenario, paths=1_000, seed=4).summary().loc["fund_loss"]
    for alpha in (0.95, 0.99):
        assert est.table.loc[alpha, "var"] == summary[f"var_{alpha:g}"]
        assert est.table.loc[alpha, "es"] == pytest.approx(summary[f"es_{alpha:g}"], rel=1e-12)


def test_same_seed_same_bytes_any_chunk(tmp_path):
    scenario = one_factor_book(tmp_path, n=200)
    a = tail_risk(scenario, "n_defaults", (0.99,), paths=1_000, seed=5, chunk_size=7)
    b = tail_risk(scenario, "n_defaults", (0.99,), paths=1_000, seed=5, chunk_size=10_000)
    assert a.table.to_numpy().tobytes() == b.table.to_numpy().tobytes()
    np.testing.assert_array_equal(a.shift, b.shift)
    # with the default twist on a multi-year pipeline (the twist's theta is found path by path:
    # it must not depend on which paths share a chunk)
    pipeline = make_scenario(simulation={"horizon_years": 3})
    first = tail_risk(pipeline, "fund_loss", (0.99,), paths=600, seed=4, pilot_paths=300)
    assert first.meta["twist_target"] is not None
    for chunk in (1, 7, 50):
        other = tail_risk(pipeline, "fund_loss", (0.99,), paths=600, seed=4, pilot_paths=300, chunk_size=chunk)
        assert first.table.to_numpy().tobytes() == other.table.to_numpy().tobytes(), chunk
    p = exceedance_probability(pipeline, "fund_loss", 1e6, paths=600, seed=4, pilot_paths=300, chunk_size=7)
    q = exceedance_probability(pipeline, "fund_loss", 1e6, paths=600, seed=4, pilot_paths=300)
    assert (p.probability, p.low, p.high) == (q.probability, q.low, q.high)


@pytest.mark.slow
def test_importance_sampling_intervals_cover(tmp_path):
    n, h, rho = 200, 0.02, 0.2
    scenario = one_factor_book(tmp_path, n, h, rho)
    k, p = exact_tail(n, h, rho, 0.995)
    reps = 120
    hits = sum(
        (lambda e: e.low <= p <= e.high)(exceedance_probability(scenario, "n_defaults", k, paths=2_000, seed=s))
        for s in range(reps)
    )
    coverage = hits / reps
    assert abs(coverage - 0.95) <= 4 * np.sqrt(0.95 * 0.05 / reps), coverage


def test_bad_arguments():
    scenario = make_scenario()
    with pytest.raises(ValueError, match="unknown metric"):
        tail_risk(scenario, "happiness")
    with pytest.raises(ValueError, match="method"):
        tail_risk(scenario, method="magic", paths=100)
    with pytest.raises(ValueError, match="levels"):
        tail_risk(scenario, levels=(1.2,), paths=100)


def test_twisting_the_default_probabilities_pays_in_a_small_weakly_correlated_book(tmp_path):
    # Glasserman and Li's second step: where the factor shift cannot reach the tail alone
    n, h, rho, paths = 100, 0.01, 0.05, 6_000
    scenario = one_factor_book(tmp_path, n, h, rho)
    k, p = exact_tail(n, h, rho, 0.999)
    variances = {}
    for twist in (False, True):
        est = exceedance_probability(scenario, "n_defaults", k, paths=paths, seed=2, twist=twist)
        assert est.low <= p <= est.high, (twist, est, p)
        run = TailSampler.prepare(scenario, "n_defaults", paths, 2, "importance", 20, None, twist)
        values, weights = run.sample(run.root, paths, est.shift, twist=run.twist(float(k)))
        terms = weights * (values > k)
        assert abs(terms.mean() - p) <= 4 * terms.std(ddof=1) / np.sqrt(paths)
        variances[twist] = terms.var(ddof=1)
    assert p * (1 - p) / variances[True] >= 30, variances
    assert variances[False] / variances[True] >= 3, variances


def test_twist_theta_solves_the_twisted_mean_equation():
    from levier.engine.kernel import twist_thetas
    from levier.engine.paths import _twisted

    rng = np.random.default_rng(0)
    p = rng.random((4, 5)) * 0.05
    loss = np.array([1.0, 2.0, 0.5, 3.0, 0.0])
    weight = np.ones(5)
    target = 2.0
    theta = np.empty(4)
    twist_thetas(0, 4, p, loss, weight, target, theta)
    assert np.all(theta > 0)
    np.testing.assert_allclose((loss * _twisted(p, theta, loss)).sum(axis=1), target, rtol=1e-9)
    # no twist where the factors already bring the expected loss to the target
    twist_thetas(0, 4, p, loss, weight, 0.01, theta)
    assert np.all(theta == 0)


def test_sections_with_too_few_paths_beyond_the_var_are_flagged():
    import warnings

    from levier.errors import LevierWarning

    moselle = levier.load_scenario(SHIPPED)
    # 2 000 plain paths in 20 sections: 10 beyond the 90 % VaR in each, 1 beyond the 99 %
    with pytest.warns(LevierWarning, match=r"at 0.99, each of the 20 sections holds 1.1 paths beyond the VaR on average \(fewer than 5\)"):
        levier.tail_risk(moselle, levels=(0.99,), paths=2000, method="plain", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LevierWarning)
        levier.tail_risk(moselle, levels=(0.9,), paths=2000, method="plain", seed=1)
        levier.tail_risk(moselle, levels=(0.99,), paths=4000, pilot_paths=1000, seed=1)  # the shift puts paths there


def test_plain_sampling_gives_the_exact_binomial_interval_of_its_hits():
    from levier.stats import binomial_interval

    moselle = levier.load_scenario(SHIPPED)
    found = exceedance_probability(moselle, "fund_loss", 4e6, paths=2000, method="plain", seed=3)
    assert found.hits > 0 and found.probability == found.hits / 2000
    assert (found.low, found.high) == binomial_interval(found.hits, 2000)
    assert found.std_error == pytest.approx((found.probability * (1 - found.probability) / 2000) ** 0.5, rel=1e-12)

"""Calibration: recover known parameters from simulated data, and intervals that cover."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from levier.analysis.calibrate import bank_acceptance, pd_from_survival, recovery_beta, vasicek_from_default_rates


def vasicek_rates(rng, pd, rho, years):
    z = rng.standard_normal(years)
    return special.ndtr((special.ndtri(pd) - np.sqrt(rho) * z) / np.sqrt(1 - rho))


def coverage(z_scores, level=0.95):
    """Share of |z| within the normal interval, and the binomial tolerance (4 sigma) around it."""
    z = np.asarray(z_scores)
    inside = np.mean(np.abs(z) <= 1.959963984540054)
    return inside, 4 * np.sqrt(level * (1 - level) / z.size)


def test_pd_from_exact_survival_is_exact():
    h = 0.0625
    fit = pd_from_survival([3, 5], [(1 - h) ** 3, (1 - h) ** 5])
    assert fit.parameters["annual_pd"] == pytest.approx(h, rel=1e-12)
    assert fit.standard_errors["annual_pd"] == pytest.approx(0, abs=1e-12)
    assert "annual_pd = 0.0625" in fit.to_toml("plasturgie") and 'name = "plasturgie"' in fit.to_toml("plasturgie")


def test_pd_from_insee_like_survival():
    # INSEE-style five-year survival of 60 % and three-year of 72 %: h between the two implied rates
    fit = pd_from_survival([3, 5], [0.72, 0.60])
    h = fit.parameters["annual_pd"]
    assert 1 - 0.72 ** (1 / 3) < h < 1 - 0.60 ** (1 / 5) or 1 - 0.60 ** (1 / 5) < h < 1 - 0.72 ** (1 / 3)
    assert fit.standard_errors["annual_pd"] > 0


def test_pd_mle_from_cohorts_covers():
    rng = np.random.default_rng(5)
    h, n, horizons = 0.08, 2_000, np.array([1, 3, 5])
    z = []
    for _ in range(300):
        death_year = rng.geometric(h, n)  # year of death, 1, 2, ...
        survival = [(death_year > t).mean() for t in horizons]
        fit = pd_from_survival(horizons, survival, cohort=n)
        z.append((fit.parameters["annual_pd"] - h) / fit.standard_errors["annual_pd"])
    inside, tol = coverage(z)
    assert abs(inside - 0.95) <= tol
    assert abs(np.mean(z)) <= 4 / np.sqrt(len(z))


def test_vasicek_mle_recovers_and_covers():
    rng = np.random.default_rng(1)
    pd, rho = 0.03, 0.1
    fit = vasicek_from_default_rates(vasicek_rates(rng, pd, rho, 5_000))
    assert abs(fit.parameters["annual_pd"] - pd) <= 4 * fit.standard_errors["annual_pd"]
    assert abs(fit.derived["rho"][0] - rho) <= 4 * fit.derived["rho"][1]
    assert fit.parameters["loading"] == pytest.approx(np.sqrt(fit.derived["rho"][0]))
    z_pd, z_rho = [], []
    for _ in range(400):
        f = vasicek_from_default_rates(vasicek_rates(rng, pd, rho, 200))
        z_pd.append((f.parameters["annual_pd"] - pd) / f.standard_errors["annual_pd"])
        z_rho.append((f.derived["rho"][0] - rho) / f.derived["rho"][1])
    for z in (z_pd, z_rho):
        inside, tol = coverage(z)
        assert abs(inside - 0.95) <= tol


def test_vasicek_moments_agree_with_mle():
    rng = np.random.default_rng(2)
    x = vasicek_rates(rng, 0.04, 0.15, 3_000)
    mle = vasicek_from_default_rates(x)
    mom = vasicek_from_default_rates(x, method="moments")
    estimates = {
        "annual_pd": [(f.parameters["annual_pd"], f.standard_errors["annual_pd"]) for f in (mle, mom)],
        "rho": [f.derived["rho"] for f in (mle, mom)],
    }
    for key, ((a, sa), (b, sb)) in estimates.items():
        assert abs(a - b) <= 4 * np.hypot(sa, sb)
        assert abs(b - {"annual_pd": 0.04, "rho": 0.15}[key]) <= 4 * sb


def test_vasicek_binomial_mixture_handles_zero_default_years():
    rng = np.random.default_rng(3)
    pd, rho, n, years = 0.02, 0.12, 300, 150
    p = vasicek_rates(rng, pd, rho, years)
    defaults = rng.binomial(n, p)
    assert (defaults == 0).any()
    fit = vasicek_from_default_rates(defaults=defaults, obligors=np.full(years, n))
    assert abs(fit.parameters["annual_pd"] - pd) <= 4 * fit.standard_errors["annual_pd"], fit
    assert abs(fit.derived["rho"][0] - rho) <= 4 * fit.derived["rho"][1], fit
    with pytest.raises(ValueError, match="strictly between"):
        vasicek_from_default_rates(defaults / n)  # zeros: the closed-form MLE cannot take them


def test_recovery_beta_mle_and_moments():
    rng = np.random.default_rng(4)
    a, b = 2.0, 5.0
    x = rng.beta(a, b, 4_000)
    fit = recovery_beta(x)
    mean, sd = a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert fit.method == "Beta maximum likelihood"
    assert abs(fit.parameters["recovery_mean"] - mean) <= 4 * fit.standard_errors["recovery_mean"]
    assert abs(fit.parameters["recovery_sd"] - sd) <= 4 * fit.standard_errors["recovery_sd"]
    with_zeros = np.r_[x[:500], np.zeros(50)]
    fit0 = recovery_beta(with_zeros)
    assert fit0.method == "method of moments" and fit0.parameters["recovery_mean"] == pytest.approx(with_zeros.mean())


@pytest.mark.parametrize("support, weights, n", [((0.0, 0.1), (0.5, 0.5), 4), ((0.0, 0.3, 0.9), (0.5, 0.3, 0.2), 5)])
def test_the_sample_variance_s_variance_against_every_sample(support, weights, n):
    # the exact truth by enumeration: every sample of n draws of a small discrete law, with its probability
    from itertools import product

    from levier.analysis.calibrate import _sample_variance_variance

    values, probs = np.array(support), np.array(weights)
    s2, w = [], []
    for idx in product(range(values.size), repeat=n):
        s2.append(np.var(values[list(idx)], ddof=1))
        w.append(np.prod(probs[list(idx)]))
    s2, w = np.array(s2), np.array(w)
    exact = w @ (s2 - w @ s2) ** 2
    mean = probs @ values
    variance, mu4 = probs @ (values - mean) ** 2, probs @ (values - mean) ** 4
    assert w @ s2 == pytest.approx(variance, rel=1e-12)  # unbiased, as the formula assumes
    assert _sample_variance_variance(mu4, variance, n) == pytest.approx(exact, rel=1e-12)


def test_recovery_sd_standard_error_from_a_few_rates_is_not_zero_and_tracks_brute_force():
    # the moments' error of recovery_sd was sqrt(mu4 - sd^4 ...): 0 for [0, 0.1, 0, 0.1], and 0 for 42 %
    # of the samples of 4 Beta(2, 5) recoveries, whose sd moves by 0.06 from sample to sample
    fit = recovery_beta([0.0, 0.1, 0.0, 0.1])
    assert fit.standard_errors["recovery_sd"] > 0.005
    assert any("rough" in note for note in fit.notes)
    rng = np.random.default_rng(11)
    for n, low in ((4, 0.4), (40, 0.9)):
        samples = rng.beta(2.0, 5.0, (4_000, n))
        samples[:, 0] = 0.0  # a zero in each: the moments, as for last-rank creditors
        se = np.array([recovery_beta(x).standard_errors["recovery_sd"] for x in samples])
        truth = samples.std(axis=1, ddof=1).std()  # how much the estimate moves: brute force
        assert np.all(se > 0)
        # the delta method on plug-in moments understates at n = 4; its rms within [low, 1.15] of the truth
        # (the truth's own Monte Carlo error at 4 000 samples is about 1 %)
        assert low * truth <= np.sqrt(np.mean(se**2)) <= 1.15 * truth


def test_bank_acceptance_recovers_the_logistic_curve_and_covers():
    rng = np.random.default_rng(6)
    threshold, steepness = 0.3, 0.03
    q = rng.uniform(0.1, 0.5, 5_000)
    y = rng.random(q.size) < special.expit((q - threshold) / steepness)
    fit = bank_acceptance(q, y)
    assert abs(fit.parameters["threshold"] - threshold) <= 4 * fit.standard_errors["threshold"]
    assert abs(fit.parameters["steepness"] - steepness) <= 4 * fit.standard_errors["steepness"]
    assert "[bank]" in fit.to_toml() and "threshold = " in fit.to_toml()
    z = []
    for _ in range(300):
        q = rng.uniform(0.1, 0.5, 400)
        y = rng.random(q.size) < special.expit((q - threshold) / steepness)
        f = bank_acceptance(q, y)
        z.append((f.parameters["threshold"] - threshold) / f.standard_errors["threshold"])
    inside, tol = coverage(z)
    assert abs(inside - 0.95) <= tol


@pytest.mark.parametrize("call, words", [
    (lambda: pd_from_survival([3, 5], [0.6, 0.7]), "must not increase"),
    (lambda: pd_from_survival([3], [1.2]), "strictly between"),
    (lambda: vasicek_from_default_rates([0.01, 0.02]), "at least 3"),
    (lambda: bank_acceptance([0.2, 0.3], [1, 1]), "both accepted and refused"),
    (lambda: recovery_beta([0.5]), "at least 2"),
])
def test_bad_calibration_data_is_refused_clearly(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_macro_loading_is_taken_out_of_the_sector_loading(tmp_path):
    import levier

    x = vasicek_rates(np.random.default_rng(8), 0.03, 0.2, 500)
    fit = vasicek_from_default_rates(x, macro_loading=0.3)
    rho = fit.derived["rho"][0]
    assert fit.parameters["loading"] == pytest.approx(np.sqrt(rho - 0.09))
    # the fragment pastes into a scenario and validates
    from conftest import base_dict
    import tomllib

    fragment = tomllib.loads(fit.to_toml("plasturgie"))["sectors"][0]
    data = base_dict()
    data["sectors"][0].update(fragment)
    scenario = levier.Scenario.from_dict(data)
    assert scenario.sectors[0].loading == pytest.approx(fit.parameters["loading"], rel=1e-5)  # 6 digits printed


def test_a_fragment_is_valid_toml_or_refused(capsys):
    import tomllib

    from levier.cli import main

    assert main(["calibrate", "survival", "--horizons", "3", "--survival", "0.8", "--name", 'a"b']) == 0
    assert tomllib.loads(capsys.readouterr().out)["sectors"][0]["name"] == 'a"b'
    # recoveries that do not vary give no Beta law: refused, not "recovery_sd = nan"
    assert main(["calibrate", "recovery", "--rates", "0.3", "0.3", "0.3"]) == 2
    assert "all equal (0.3): a Beta law needs rates that vary" in capsys.readouterr().err
    assert main(["calibrate", "default-rates", "--rates", "0.01", "0.02", "0.03", "--macro-loading", "nan"]) == 2
    assert "macro_loading must be in [0, 1)" in capsys.readouterr().err


def test_a_calibration_without_a_value_gives_no_fragment():
    from levier.analysis.calibrate import Calibration

    fit = Calibration({"annual_pd": float("nan")}, {"annual_pd": float("nan")}, "test", 3, "sectors")
    with pytest.raises(ValueError, match="give no value for annual_pd"):
        fit.to_toml("a")

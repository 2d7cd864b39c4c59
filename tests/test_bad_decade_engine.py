"""A bad decade as it really comes (issue 15), in the engine: the t copula, downturn recoveries and
stress paths against closed forms and quadrature, with Monte Carlo tolerances; off means identical."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import levier
from levier.analysis.analytic import t_copula_defaults_pmf, t_large_pool_cdf, t_large_pool_quantile
from levier.errors import ScenarioError

from conftest import make_scenario
from test_oracles import P_VALUE_FLOOR, _independent, chi_square_pvalue


def _pool(tmp_path, n, h, rho, nu=None, horizon=1, recovery=None, **extra):
    defaults = {"macro_loading": float(np.sqrt(rho)), "macro_autocorrelation": 0.0}
    if nu is not None:
        defaults.update(copula="t", degrees_of_freedom=nu)
    sector = {"name": "plasturgie", "annual_pd": h, "recovery_mean": 0.0}
    if recovery is not None:
        sector.update(recovery)
    return _independent(tmp_path, [h] * n, horizon=horizon, defaults=defaults,
                        sectors=[sector, {"name": "automobile", "annual_pd": h}], **extra)


def test_t_copula_default_counts_of_1000_equal_loans_match_the_quadrature_law(tmp_path):
    n, h, rho, nu = 1_000, 0.02, 0.1, 4.0
    n_paths = 6_000
    d = levier.simulate(_pool(tmp_path, n, h, rho, nu), paths=n_paths, seed=15).paths["n_defaults"].to_numpy()
    pmf = t_copula_defaults_pmf(n, h, rho, nu)
    assert chi_square_pvalue(np.bincount(d.astype(int), minlength=n + 1), pmf) > P_VALUE_FLOOR
    k = np.arange(n + 1)
    sd = np.sqrt(pmf @ (k - n * h) ** 2)
    assert abs(d.mean() - n * h) <= 4 * sd / np.sqrt(n_paths)
    # and the fat tail is there: P(D > 99.9 % Gaussian quantile) is well above 0.1 %
    from levier.analysis.analytic import one_factor_defaults_pmf

    gauss_q = int(np.searchsorted(np.cumsum(one_factor_defaults_pmf(n, h, rho)), 0.999))
    assert pmf[gauss_q + 1:].sum() > 0.005 and np.mean(d > gauss_q) > 0.005


def test_t_copula_large_pool_loss_quantiles_match_the_closed_form(tmp_path):
    n, h, rho, nu = 3_000, 0.05, 0.15, 5.0
    n_paths = 6_000
    paths = levier.simulate(_pool(tmp_path, n, h, rho, nu), paths=n_paths, seed=2026).paths
    loss_fraction = (paths["fund_loss"] / paths["fund_lent"]).to_numpy()
    cdf = np.cumsum(t_copula_defaults_pmf(n, h, rho, nu))
    for alpha in (0.5, 0.9, 0.99):
        q = float(t_large_pool_quantile(alpha, h, rho, nu))
        empirical = np.mean(loss_fraction <= q)
        granularity = abs(cdf[int(np.floor(q * n + 1e-9))] - alpha)  # finite pool vs the n → ∞ limit
        sigma = np.sqrt(alpha * (1 - alpha) / n_paths)
        assert abs(empirical - alpha) <= 4 * sigma + granularity, (alpha, empirical, granularity)
        assert granularity < 2 * sigma


def test_gaussian_copula_and_zero_loading_are_byte_identical_to_no_key():
    base = make_scenario()
    explicit = make_scenario(defaults={"macro_loading": 0.3, "macro_autocorrelation": 0.4, "copula": "gaussian"},
                             sectors=[dict(s, recovery_loading=0.0) for s in base.model_dump()["sectors"]])
    a = levier.simulate(base, paths=300, seed=3).paths
    b = levier.simulate(explicit, paths=300, seed=3).paths
    assert a.to_numpy().tobytes() == b.to_numpy().tobytes()


def test_t_copula_is_the_same_for_any_chunk_size():
    s = make_scenario(defaults={"macro_loading": 0.3, "copula": "t", "degrees_of_freedom": 4.0})
    whole = levier.simulate(s, paths=300, seed=5).paths.to_numpy()
    for chunk in (1, 77):
        assert levier.simulate(s, paths=300, seed=5, chunk_size=chunk).paths.to_numpy().tobytes() == whole.tobytes()


def _recovery_rate(paths):
    recovered = paths["fund_recoveries"] + paths["bank_recoveries"]
    lost = recovered + paths["fund_loss"] + paths["bank_loss"]
    return (recovered / lost.where(lost > 0)).to_numpy()


def test_downturn_recovery_falls_in_bad_years_and_raises_the_mean_loss(tmp_path):
    n, h, rho = 400, 0.05, 0.2
    beta = {"recovery_mean": 0.4, "recovery_sd": 0.2}
    n_paths = 3_000
    results = {}
    for gamma in (0.0, 0.6):
        rows = [dict(firm_id=f"F{i}", sector="plasturgie", territory="Forbach", investment=1e6, equity=2e5,
                     jobs_planned=10, entry_year=1, annual_pd=h, loan_amount=1e5, bank_amount=1e5) for i in range(n)]
        from conftest import write_book

        write_book(tmp_path / "book.csv", rows)
        s = _pool(tmp_path, 0, h, rho, recovery=dict(beta, recovery_loading=gamma))
        results[gamma] = levier.simulate(s, paths=n_paths, seed=8).paths
    for gamma, paths in results.items():
        rate, d = _recovery_rate(paths), paths["n_defaults"].to_numpy()
        ok = ~np.isnan(rate)
        r = np.corrcoef(d[ok], rate[ok])[0, 1]
        se = 1 / np.sqrt(ok.sum() - 3)  # Fisher's z, whose sd is 1 / sqrt(n - 3)
        if gamma == 0:
            assert abs(np.arctanh(r)) <= 4 * se, r  # recoveries independent of the cycle
        else:
            assert np.arctanh(r) < -4 * se, r
    diff = (results[0.6]["fund_loss"] - results[0.0]["fund_loss"]).to_numpy()  # common random numbers
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(n_paths)
    # the default times are untouched: only the recoveries move
    assert results[0.6]["n_defaults"].equals(results[0.0]["n_defaults"])


@pytest.mark.parametrize("z", [-2.0, 0.0, 1.5])
def test_a_stress_fixing_the_macro_factor_gives_the_conditional_default_rate(tmp_path, z):
    n, h, rho = 500, 0.04, 0.16
    s = _pool(tmp_path, n, h, rho)
    s = s.with_overrides({"stresses": [{"name": "shock", "macro": [z]}]})
    n_paths = 1_000
    rate = levier.simulate(s, paths=n_paths, seed=4, stress="shock").paths["n_defaults"].to_numpy() / n
    beta = np.sqrt(rho)
    p = special.ndtr((special.ndtri(h) - beta * z) / np.sqrt(1 - beta**2))
    assert abs(rate.mean() - p) <= 4 * np.sqrt(p * (1 - p) / (n * n_paths)), (rate.mean(), p)


def test_a_stress_keeps_common_random_numbers_and_continues_the_ar1(tmp_path):
    s = make_scenario(defaults={"macro_loading": 0.4, "macro_autocorrelation": 0.6},
                      simulation={"horizon_years": 5, "seed": 7},
                      stresses=[{"name": "late", "first_year": 4, "macro": [-2.5]},
                                {"name": "basin", "territories": {"Forbach": [-2.5, -2.5]}}])
    base = levier.simulate(s, paths=400, seed=1)
    late = levier.simulate(s, paths=400, seed=1, stress="late")
    assert late.meta["stress"] == "late"
    years = base.by_year().loc["defaults", "mean"].to_numpy(), late.by_year().loc["defaults", "mean"].to_numpy()
    np.testing.assert_array_equal(years[0][:3], years[1][:3])  # before the stress: the same paths
    assert years[1][3] > years[0][3] and years[1][4] > years[0][4]  # year 5 starts from -2.5 (AR 0.6)
    basin = levier.simulate(s, paths=400, seed=1, stress="basin")
    assert basin.paths["n_defaults"].mean() > base.paths["n_defaults"].mean()
    with pytest.raises(KeyError, match="unknown stress 'nope'.*late, basin"):
        levier.simulate(s, paths=10, stress="nope")


def test_stress_and_copula_keys_are_checked_with_their_key_path():
    cases = [
        ({"stresses": [{"name": "x", "sectors": {"chimie": [-1.0]}}]}, "stresses[0] (x).sectors.chimie",
         "unknown sector 'chimie'"),
        ({"stresses": [{"name": "x", "territories": {"Forbch": [-1.0]}}]}, "territories.Forbch", "did you mean 'Forbach'"),
        ({"stresses": [{"name": "x", "first_year": 4, "macro": [-1.0, -1.0, -1.0]}]}, "stresses[0] (x).macro",
         "reach year 6, beyond simulation.horizon_years = 5"),
        ({"stresses": [{"name": "x"}]}, "stresses[0] (x)", "gives no factor values"),
        ({"stresses": [{"name": "x", "macro": [-1]}, {"name": "x", "macro": [1]}]}, "stresses[1] (x).name", "taken"),
        ({"defaults": {"copula": "t"}}, "defaults.degrees_of_freedom", "needs its degrees of freedom"),
        ({"defaults": {"copula": "gaussian", "degrees_of_freedom": 4}}, "defaults.degrees_of_freedom",
         'copula is "gaussian"'),
        ({"defaults": {"copula": "t", "degrees_of_freedom": 2}}, "defaults.degrees_of_freedom", "greater than 2"),
        ({"defaults": {"copula": "clayton"}}, "defaults.copula", "gaussian"),
    ]
    for tables, where, what in cases:
        with pytest.raises(ScenarioError) as info:
            make_scenario(**tables)
        text = str(info.value)
        assert where in text and what in text, text
    assert make_scenario(defaults={"degrees_of_freedom": 4}).defaults.copula == "t"  # nu alone asks for t
    assert make_scenario().with_overrides({"defaults.degrees_of_freedom": 6}).defaults.copula == "t"
    with pytest.raises(ScenarioError, match="recovery_loading"):
        make_scenario(sectors=[{"name": "plasturgie", "annual_pd": 0.05, "recovery_loading": 1.0},
                               {"name": "automobile", "annual_pd": 0.05}])


def _stressed():
    return make_scenario(stresses=[{"name": "slump", "macro": [-1.5, -1.5]},
                                   {"name": "basin", "first_year": 2, "territories": {"Forbach": [-2.5, -2.5]}}])


def test_levier_stress_pairs_each_stress_with_the_baseline():
    s = _stressed()
    out = levier.stress(s, paths=600, seed=3, statistics=["n_defaults", "fund_loss"])
    assert list(out.results) == ["baseline", "slump", "basin"]
    row = out.table.loc[("n_defaults", "slump")]
    # the paired difference is exactly the difference of the two runs' means, and it is sure
    paired = out.paired("n_defaults", "slump")
    assert row["difference"] == pytest.approx(paired.mean())
    assert row["difference_se"] == pytest.approx(paired.std(ddof=1) / np.sqrt(600))
    assert row["low"] > 0 and row["variance_reduction"] > 1
    assert list(levier.stress(s, ["basin"], paths=300, seed=3).results) == ["baseline", "basin"]
    with pytest.raises(ValueError, match="unknown stress 'nope'; the scenario's stresses: slump, basin"):
        levier.stress(s, ["nope"], paths=100)
    with pytest.raises(ValueError, match="no \\[\\[stresses\\]\\]"):
        levier.stress(make_scenario(), paths=100)


def test_cli_stress(tmp_path, capsys):
    from levier.cli import main

    path = tmp_path / "s.toml"
    path.write_text((__import__("conftest").SHIPPED).read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["stress", str(path), "--paths", "300", "--stress", "recession_2008", "--metric", "fund_loss"]) == 0
    out = capsys.readouterr().out
    assert "recession_2008" in out and "fund_loss" in out and "main_employer_closure" not in out.split("\n\n")[1]
    assert main(["stress", str(path), "--paths", "100", "--stress", "nope"]) == 2
    assert "unknown stress 'nope'" in capsys.readouterr().err
    assert main(["stress", str(path), "--paths", "100", "--set", "stresses.recession_2008.first_year=12"]) == 2
    assert "beyond simulation.horizon_years" in capsys.readouterr().err


def test_report_has_a_bad_decade_section_when_the_scenario_has_stresses(moselle):
    from levier.present.report import report_html

    page = report_html(levier.simulate(moselle, paths=300, seed=1))
    assert "<h2>Stresses, and the shape of a bad decade</h2>" in page
    for text in ("t copula, nu = 4: fund&#x27;s loss, 99 % ES (€)", "downturn recovery, gamma = 0.5: bank&#x27;s loss, 99 % ES (€)",
                 "recession_2008: fund&#x27;s loss, 99 % ES (€)", "main_employer_closure: defaults, mean"):
        assert text in page, text
    assert "Stresses, and the shape" not in report_html(levier.simulate(make_scenario(), paths=100, seed=1))
    assert "baseline: fund&#x27;s loss, 99 % ES (€)" in page
    french = report_html(levier.simulate(moselle, paths=300, seed=1), lang="fr")
    assert "référence : perte du fonds" in french and "baseline" not in french


def test_model_risk_pairs_gaussian_t_and_downturn(moselle):
    from levier.analysis.stress import model_risk

    out = model_risk(moselle, paths=2_000, seed=2, statistics=["n_defaults.es_0.99", "bank_loss"])
    t_row = out.table.loc[("n_defaults.es_0.99", "t copula, nu = 4")]
    assert t_row["low"] > 0  # fatter joint-default tail, for sure
    down = out.table.loc[("bank_loss", "downturn recovery, gamma = 0.5")]
    assert down["low"] > 0  # the bank, senior, feels the lower recoveries


def test_cli_run_with_a_stress_and_bad_copula_keys(capsys):
    from conftest import SHIPPED
    from levier.cli import main

    assert main(["run", str(SHIPPED), "--paths", "200", "--stress", "recession_2008", "--format", "json"]) == 0
    assert '"stress": "recession_2008"' in capsys.readouterr().out
    assert main(["run", str(SHIPPED), "--paths", "100", "--stress", "nope"]) == 2
    assert "--stress: unknown stress 'nope'" in capsys.readouterr().err
    assert main(["run", str(SHIPPED), "--paths", "100", "--set", "defaults.copula=t"]) == 2
    err = capsys.readouterr().err
    assert "defaults.degrees_of_freedom" in err and "Traceback" not in err


def test_the_kernels_inverse_normal_matches_scipy():
    from levier.engine.kernel import normal_ppf

    u = np.r_[2.0**-60, 1e-12, 1e-6, np.linspace(0.001, 0.999, 999), 1 - 1e-9, 1 - 2.0**-40]
    mine = np.array([normal_ppf(x) for x in u])
    np.testing.assert_allclose(mine, special.ndtri(u), rtol=0, atol=5e-13)


def test_stressed_shocks_give_the_stress_values_in_the_kernels_recursion():
    from levier.engine.kernels import ar1_factors
    from levier.engine.paths import stressed_shocks

    rng = np.random.default_rng(0)
    shocks = rng.standard_normal((50, 6, 3))
    a = np.array([0.6, 0.0, 0.3])
    fixed = np.full((6, 3), np.nan)
    fixed[2:4, 0] = [-2.0, -1.0]
    fixed[0, 2] = 1.5
    z = ar1_factors(stressed_shocks(shocks, a, fixed), a)  # the kernel's recursion, in numpy
    np.testing.assert_allclose(z[:, 2:4, 0], np.broadcast_to([-2.0, -1.0], (50, 2)), atol=1e-12)
    np.testing.assert_allclose(z[:, 0, 2], 1.5, atol=1e-12)
    np.testing.assert_array_equal(z[:, :2, 0], ar1_factors(shocks, a)[:, :2, 0])  # before: untouched
    np.testing.assert_array_equal(z[:, :, 1], shocks[:, :, 1])  # an unstressed factor keeps its shocks

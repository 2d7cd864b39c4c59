"""Issue 17: default rates of established firms, the bank's economics, calibration vs validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import levier
from levier.analysis.calibrate import bank_economics, check_calibration, pd_from_rating_mix
from levier.cli import main
from levier.model import datasets

from conftest import ROOT, make_scenario

SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_the_new_tables_load_with_their_sources():
    bench = datasets.load("default_rate_benchmarks").set_index("credit_quality_step")
    assert list(bench.index) == [1, 2, 3, 4, 5, 6]
    assert (bench["low"] <= bench["default_rate"]).all() and (bench["default_rate"] <= bench["high"]).all()
    assert bench["default_rate"].is_monotonic_increasing and (bench["horizon_years"] == 3).all()
    # the bounds tile [0, 1]: each step's upper bound meets the next one's lower bound (to 0.01 %)
    assert np.allclose(bench["high"].to_numpy()[:-1] + 1e-4, bench["low"].to_numpy()[1:])
    scale = datasets.load("bdf_rating_scale").set_index("cote")["credit_quality_step"]
    assert scale["3++"] == 1 and scale["4"] == scale["5+"] == 3 and scale["5"] == scale["6"] == 4
    assert scale.is_monotonic_increasing
    ranges = datasets.load("assumption_ranges")
    assert (ranges["low"] < ranges["high"]).all()
    for table in (bench, scale.to_frame().join(datasets.load("bdf_rating_scale").set_index("cote")[["source", "url"]]),
                  ranges):
        assert table["source"].notna().all() and (table["source"].str.len() > 10).all()
    # every range names a key the scenario has
    for row in ranges.itertuples():
        levier.load_scenario(ROOT / "scenarios" / f"{row.scenario}.toml").value_at(row.key)


def test_rating_mix_against_a_hand_computation():
    # 20 % in 4 and 30 % in 5+ (step 3: 1 % over 3 years), 30 % in 5 and 20 % in 6 (step 4: 7.5 %)
    fit = pd_from_rating_mix({"4": 0.2, "5+": 0.3, "5": 0.3, "6": 0.2})
    d3 = 0.5 * 0.01 + 0.5 * 0.075
    assert fit.derived["default_rate_3y"][0] == pytest.approx(0.0425, abs=1e-12)
    assert fit.parameters["annual_pd"] == pytest.approx(1 - (1 - d3) ** (1 / 3), abs=1e-12)
    assert fit.parameters["annual_pd"] == pytest.approx(0.014372238, abs=1e-9)
    # bounds: 0.5 * 0.55 % + 0.5 * 2.40 % and 0.5 * 2.39 % + 0.5 * 10.99 %
    assert fit.derived["annual_pd_low"][0] == pytest.approx(1 - (1 - 0.01475) ** (1 / 3), abs=1e-12)
    assert fit.derived["annual_pd_high"][0] == pytest.approx(1 - (1 - 0.0669) ** (1 / 3), abs=1e-12)
    assert math.isnan(fit.standard_errors["annual_pd"])
    # one cote alone: its step's benchmark; a multiplier scales the PD
    one = pd_from_rating_mix({"7": 1.0}, multiplier=1.5)
    assert one.parameters["annual_pd"] == pytest.approx(1.5 * (1 - 0.8 ** (1 / 3)), abs=1e-12)
    assert "annual_pd = 0.0143722" in fit.to_toml("plasturgie")


@pytest.mark.parametrize("mix, message", [
    ({"4": 0.5, "5": 0.4}, "sum to 1"),
    ({"4": 0.5, "Z": 0.5}, "unknown cote 'Z'"),
    ({"4": -0.5, "5": 1.5}, ">= 0"),
    ({}, "at least one cote"),
])
def test_rating_mix_refuses_bad_mixes(mix, message):
    with pytest.raises(ValueError, match=message):
        pd_from_rating_mix(mix)


def test_calibrate_rating_mix_command(capsys):
    assert main(["calibrate", "rating-mix", "--mix", "4=0.2", "5+=0.3", "5=0.3", "6=0.2", "--name", "x"]) == 0
    out = capsys.readouterr().out
    assert 'name = "x"' in out and "annual_pd = 0.0143722" in out and "2016/1799" in out
    assert main(["calibrate", "rating-mix", "--mix", "4=half"]) == 2
    assert "4=half" in capsys.readouterr().err


def test_bank_interest_of_a_loan_that_never_defaults():
    # linear 5-year bank loan at 5 %, no grace: opening balances 1, .8, .6, .4, .2 of the loan
    s = make_scenario(sectors=[{"name": "plasturgie", "annual_pd": 1e-12}, {"name": "automobile", "annual_pd": 1e-12}],
                      simulation={"paths": 50, "horizon_years": 8, "seed": 3, "discount_rate": 0.03})
    r = levier.simulate(s)
    assert r.paths["n_defaults"].sum() == 0 and r.paths["bank_lent"].min() > 0
    assert np.allclose(r.paths["bank_interest"], 0.05 * 3.0 * r.paths["bank_lent"], rtol=1e-12)


def test_the_bank_check_fires_on_a_losing_scenario(capsys, tmp_path):
    # a bank lending at 1 % to firms that default at 30 % a year loses money on its own loans
    losing = make_scenario(bank={"threshold": 0.3, "gearing": 3.0, "rate": 0.01, "maturity_years": 5},
                           policy={"loan_per_job": 10_000.0, "loan_cap": 500_000.0, "max_share_of_investment": 0.3,
                                   "rate": 0.02, "maturity_years": 5, "grace_years": 1, "max_pd": 0.9},
                           sectors=[{"name": "plasturgie", "annual_pd": 0.3, "recovery_mean": 0.2},
                                    {"name": "automobile", "annual_pd": 0.3, "recovery_mean": 0.2}])
    economics = bank_economics(losing, paths=500)
    assert economics.margin < 0 and not economics.covers
    assert economics.message().startswith("WARNING: the bank's expected interest does not cover its expected loss")
    # the test scenario's own PDs (5 % and 8 % a year, new-firm levels) lose money too; at 1 % it pays
    assert not bank_economics(make_scenario(), paths=500).covers
    fine = bank_economics(make_scenario(sectors=[{"name": "plasturgie", "annual_pd": 0.01, "recovery_mean": 0.3},
                                                 {"name": "automobile", "annual_pd": 0.01, "recovery_mean": 0.2}]),
                          paths=500)
    assert fine.covers and fine.message().startswith("bank economics:")


def test_validate_warns_with_the_figures(capsys, tmp_path):
    text = (ROOT / "scenarios" / "moselle_est.toml").read_text(encoding="utf-8")
    assert main(["validate", "--bank-paths", "300", str(ROOT / "scenarios" / "moselle_est.toml")]) == 0
    out = capsys.readouterr().out
    assert "bank economics: interest" in out and "300 paths" in out and "WARNING" not in out
    bad = text.replace("rate = 0.045", "rate = 0.002", 1).replace("annual_pd = 0.0125", "annual_pd = 0.2", 1)
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    assert main(["validate", "--bank-paths", "300", str(tmp_path / "bad.toml")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: the bank's expected interest does not cover its expected loss" in out and "% of bank loans" in out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_pay_the_bank_and_hold_out_a_default_figure(path):
    scenario = levier.load_scenario(path)
    result = levier.simulate(scenario, paths=1_000)
    assert bank_economics(result=result).covers
    table = check_calibration(scenario, result=result)
    held_out = table[table.kind == "validated"]
    assert len(held_out) >= 1 and set(held_out.metric) <= {"bank_default_rate_by_amount", "loss_rate", "bank_loss_rate"}
    assert held_out["source"].str.len().min() > 20 and held_out["range_reason"].str.contains("before running").all()


def test_bank_default_rate_by_amount_against_the_loan_years():
    # the derived metric is exposure at default over the opening balances of the loan-years
    scenario = levier.load_scenario(ROOT / "scenarios" / "moselle_est.toml")
    result = levier.simulate(scenario, paths=400)
    table = check_calibration(scenario, result=result).set_index("figure")
    p = result.paths
    at_default = p["bank_loss"] + p["bank_recoveries"]
    loan_years = p["bank_interest"] / scenario.bank.rate + at_default
    assert table.loc["bdf_sme_defaulted_credit_share", "levier"] == pytest.approx(at_default.mean() / loan_years.mean(),
                                                                                    rel=1e-12)


def test_targets_carry_their_kind():
    with pytest.raises(levier.ScenarioError, match="targets\\[0\\].kind"):
        make_scenario(targets=[{"figure": "prt_2010_leverage", "metric": "leverage_bank", "kind": "fitted"}])
    s = make_scenario(targets=[{"figure": "prt_2010_leverage", "metric": "leverage_bank"}])
    assert s.targets[0].kind == "calibrated" and not s.targets[0].restates_input


def test_funding_costs_come_out_of_the_same_loan_years(capsys):
    scenario = levier.load_scenario(ROOT / "scenarios" / "moselle_est.toml")
    result = levier.simulate(scenario, paths=300)
    gross = bank_economics(scenario, result=result)
    net = bank_economics(scenario, result=result, funding_rate=0.03)
    assert net.interest == pytest.approx(gross.interest * (1 - 0.03 / 0.045), rel=1e-12)
    assert net.loss == gross.loss and "net of funding at 3 %" in net.message()
    # funded at the loan's own rate, the bank earns nothing and only loses
    assert not bank_economics(scenario, result=result, funding_rate=0.045).covers
    assert main(["validate", "--bank-paths", "200", "--bank-funding-rate", "0.03",
                 str(ROOT / "scenarios" / "moselle_est.toml")]) == 0
    assert "net of funding at 3 %" in capsys.readouterr().out

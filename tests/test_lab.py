"""The policy lab: common random numbers, frontier, optimiser, sensitivity — against known truths."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import levier
from levier.analysis import lab
from levier.errors import LevierWarning
from levier.model.terms import project_terms
from levier.names import PATH_COLUMNS

from conftest import SHIPPED, make_scenario


def test_an_identical_variant_differs_by_exactly_zero_on_every_path():
    scenario = make_scenario()
    comparison = lab.compare(scenario, {"same": {}, "same_value": {"policy.rate": scenario.policy.rate}},
                             paths=300, seed=4)
    for variant in ("same", "same_value"):
        for metric in PATH_COLUMNS:
            diff = comparison.paired(metric, variant).to_numpy()
            assert np.all((diff == 0) | np.isnan(diff)), metric
        rows = comparison.table.xs(variant, level="variant")
        assert (rows["difference"] == 0).all() and (rows["difference_se"] == 0).all()
    summary = comparison.summary()
    pd.testing.assert_frame_equal(summary.loc["same"], summary.loc["baseline"])
    assert "Comparison against 'baseline'" in repr(comparison) and "<table" in comparison._repr_html_()


def test_common_random_numbers_shrink_the_error_of_a_small_change_at_least_fivefold():
    # loan per job + 10 %: the error of the difference with common random numbers, against the
    # error of the same difference from two independent runs (a second seed), both measured
    scenario = make_scenario(bank={"threshold": 0.1}, pipeline={"projects_per_year": 30, "years": 3})
    change = {"policy.loan_per_job": scenario.policy.loan_per_job * 1.1}
    paths = 3_000
    paired = lab.compare(scenario, {"plus10": change}, paths=paths, seed=1, statistics=["fund_loss", "cost_per_job"])
    independent = levier.simulate(scenario.with_overrides(change), paths=paths, seed=2)
    for spec in ("fund_loss", "cost_per_job"):
        crn_se = paired.table.loc[(spec, "plus10"), "difference_se"]
        base_se = paired.table.loc[(spec, "baseline"), "se"]
        independent_se = math.hypot(base_se, lab.statistic(independent, spec)[1])
        assert independent_se / crn_se >= 5, (spec, independent_se, crn_se)
        # and the reported reduction is that measurement, up to the second run's sampling error
        reported = paired.table.loc[(spec, "plus10"), "variance_reduction"]
        assert reported == pytest.approx((independent_se / crn_se) ** 2, rel=0.25)


def test_variants_from_the_scenario_file(tmp_path):
    toml = (tmp_path / "s.toml")
    text = (levier.load_scenario.__module__ and open("scenarios/moselle_est.toml", encoding="utf-8").read())
    toml.write_text(text + '\n[[variants]]\nname = "generous"\nset = { "policy.loan_per_job" = 12000 }\n\n'
                    '[[variants]]\nname = "capped"\nset = { policy = { loan_cap = 300000 } }\n', encoding="utf-8")
    scenario = levier.load_scenario(toml)
    assert [v.name for v in scenario.variants] == ["generous", "capped"]
    assert scenario.variant("capped").policy.loan_cap == 300_000
    comparison = lab.compare(scenario, paths=256, seed=3, statistics=["jobs_additional"])
    assert list(comparison.results) == ["baseline", "generous", "capped"]
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[[variants]]\nname = "oops"\nset = { "policy.loan_per_jobs" = 1 }\n', encoding="utf-8")
    with pytest.raises(levier.ScenarioError, match=r"variants\[0\]\.set\.policy\.loan_per_jobs"):
        levier.load_scenario(bad)


def test_pareto_front_on_a_hand_made_table():
    table = pd.DataFrame({
        "jobs": [10, 12, 12, 8, 12, 5, np.nan],
        "loss": [5, 6, 7, 4, 6, 9, 1],
    })
    front = lab.pareto_front(table, {"jobs": "max", "loss": "min"})
    # 1 and 4 tie (neither dominates the other), 2 is dominated by 1, 5 by everything, 6 is missing
    assert front.tolist() == [True, True, False, True, True, False, False]
    # reversed senses: point 5 (fewest jobs, largest loss) dominates every other
    assert lab.pareto_front(table, {"jobs": "min", "loss": "max"}).tolist() == [False] * 5 + [True, False]
    with pytest.raises(ValueError, match="'max' or 'min'"):
        lab.pareto_front(table, {"jobs": "up"})


def test_sweep_grid_and_design():
    scenario = make_scenario()
    grid = lab.sweep(scenario, grid={"policy.loan_per_job": "6000:14000:3", "fund.recycle": [False, True]},
                     paths=200, seed=1)
    assert len(grid.table) == 6 and {"policy.loan_per_job", "fund.recycle", "pareto"} <= set(grid.table)
    assert grid.table["pareto"].any()
    assert set(grid.frontier().index) <= set(grid.table.index)
    design = lab.sweep(scenario, design="lhs", n=5, bounds={"policy.maturity_years": (3, 8)}, paths=128, seed=1)
    assert design.table["policy.maturity_years"].between(3, 8).all()
    with pytest.raises(ValueError, match="either grid"):
        lab.sweep(scenario, paths=10)
    # a Sobol' design of 5 points: levier's note, not scipy's UserWarning at its own line
    with pytest.warns(LevierWarning, match="power of 2 points: 5 is not one") as said:
        lab.sweep(scenario, design="sobol", n=5, bounds={"policy.maturity_years": (3, 8)}, paths=16, seed=1)
    assert all(issubclass(w.category, LevierWarning) for w in said)


def test_a_sweep_reports_the_integer_values_it_ran():
    """An integer parameter of a grid or a design is rounded, and the table gives the rounded
    value with the statistics of that value (a grid 3:10:4 of years reported 5.33 and 7.67)."""
    scenario = make_scenario()
    swept = lab.sweep(scenario, grid={"policy.maturity_years": "3:10:4"}, statistics=["fund_loss.mean"], paths=64, seed=2)
    assert swept.table["policy.maturity_years"].tolist() == [3, 5, 8, 10]
    assert str(swept.table["policy.maturity_years"].dtype).startswith("int")  # not 5.0: the whole number run
    direct = lab.sweep(scenario, grid={"policy.maturity_years": [5, 8]}, statistics=["fund_loss.mean"], paths=64, seed=2)
    assert swept.table["fund_loss.mean"].iloc[[1, 2]].tolist() == direct.table["fund_loss.mean"].tolist()
    design = lab.sweep(scenario, design="lhs", n=4, bounds={"policy.maturity_years": (3, 8)},
                       statistics=["fund_loss.mean"], paths=64, seed=1)
    assert all(isinstance(v, (int, np.integer)) for v in design.table["policy.maturity_years"])


def test_the_optimiser_finds_a_known_optimum():
    # Every project is additional and is financed iff its loan brings the quasi-equity ratio to
    # the bank's threshold, i.e. iff loan_per_job >= c_i = (threshold I_i - E_i) / J_i. No
    # defaults, no spread in jobs: jobs and the fund's lending are known for every loan per job.
    # The best policy under a budget B takes the k cheapest projects with the largest k such
    # that c_(k) x (jobs of those k) <= B.
    scenario = make_scenario(
        fund={"capital": 1e12},
        policy={"loan_cap": 1e9, "max_share_of_investment": 1.0, "max_pd": 1.0},
        bank={"threshold": 0.45, "gearing": 20.0},
        sectors=[{"name": "plasturgie", "annual_pd": 0.0}, {"name": "automobile", "annual_pd": 0.0}],
        pipeline={"projects_per_year": 12, "years": 1, "equity_ratio_mean": 0.3, "equity_ratio_sd": 0.08},
    )
    terms = project_terms(scenario, levier.build_portfolio(scenario))
    cost = (0.45 * terms.investment - terms.equity) / terms.jobs
    order = np.argsort(cost)
    jobs_sorted = terms.jobs[order]
    budget = 0.6 * float(cost[order][-1] * terms.jobs.sum())
    feasible = [k for k in range(1, cost.size + 1) if cost[order][k - 1] * jobs_sorted[:k].sum() <= budget]
    best_jobs = jobs_sorted[: max(feasible)].sum()
    assert 1 < max(feasible) < cost.size  # the budget binds strictly inside
    found = lab.optimise(scenario, bounds={"policy.loan_per_job": (0.0, float(cost.max()) * 1.2)},
                         maximise="jobs_additional", subject_to={"fund_lent": f"<= {budget}"}, paths=64, seed=5)
    objective = found.table.loc["jobs_additional"]
    assert objective["value"] == pytest.approx(best_jobs)
    assert objective["check"] == pytest.approx(best_jobs)  # no randomness left in this scenario
    assert bool(found.table.loc["fund_lent", "satisfied"]) and bool(found.table.loc["fund_lent", "check_satisfied"])


def test_sobol_indices_of_an_additive_toy_match_their_analytic_values():
    # f = 2 a + b with a, b ~ U(0, 1): Var = 4/12 + 1/12, so S1 = ST = (0.8, 0.2)
    indices = lab.sobol_indices(lambda x: 2 * x[:, 0] + x[:, 1], {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n=1024)
    np.testing.assert_allclose(indices["S1"], [0.8, 0.2], atol=0.02)
    np.testing.assert_allclose(indices["ST"], [0.8, 0.2], atol=0.02)
    assert (indices["S1_conf"] > 0).all()


def test_tornado_and_sensitivity_of_the_model():
    scenario = make_scenario()
    table = lab.tornado(scenario, {"policy.loan_per_job": (6000, 14000), "bank.threshold": (0.2, 0.4),
                                   "policy.rate": (0.01, 0.03)}, "jobs_additional", paths=200, seed=1).table
    assert list(table.index)[-1] == "policy.rate"  # the rate does not change who is financed
    assert table.loc["policy.rate", "swing"] == 0
    assert table.loc["bank.threshold", "swing"] < 0  # a stricter bank finances fewer projects
    with warnings.catch_warnings():  # 16 base samples may be called rough: the note is tested below
        warnings.simplefilter("ignore", levier.errors.LevierWarning)
        indices = lab.sensitivity(scenario, {"bank.threshold": (0.2, 0.4), "policy.rate": (0.01, 0.03)},
                                  "jobs_additional", n=16, paths=64, seed=2).table
    rounded = lab.tornado(scenario, {"policy.maturity_years": (4.4, 8.6)}, "fund_loss", paths=64, seed=1).table
    assert rounded.loc["policy.maturity_years", ["low_value", "high_value"]].tolist() == [4, 9]  # what ran
    assert indices.loc["policy.rate", "ST"] == pytest.approx(0.0, abs=1e-9)
    assert indices.loc["bank.threshold", "ST"] > 0.5


def test_sobol_indices_too_rough_to_read_say_so():
    """Two base samples give indices no one should read: a note says so (the table is kept)."""
    scenario = make_scenario()
    with pytest.warns(levier.errors.LevierWarning, match="too rough to read"):
        rough = lab.sensitivity(scenario, {"bank.threshold": (0.2, 0.4), "policy.loan_per_job": (6000, 14000)},
                                "jobs_additional", n=2, paths=64, seed=2)
    assert list(rough.table.index) == ["bank.threshold", "policy.loan_per_job"]


def test_bad_specs_are_named():
    scenario = make_scenario()
    with pytest.raises(ValueError, match="unknown metric 'jobz'"):
        lab.compare(scenario, {"a": {}}, paths=10, statistics=["jobz"])
    with pytest.raises(ValueError, match="'<= VALUE'"):
        lab.optimise(scenario, bounds={"policy.rate": (0.0, 0.1)}, maximise="jobs_additional",
                     subject_to={"fund_loss": "less than 5"})
    with pytest.raises(ValueError, match="baseline"):
        lab.compare(scenario, {"baseline": {}}, paths=10)


def test_a_tail_error_is_not_given_when_the_sections_miss_the_tail():
    """With 20 sections of 50 paths, a section's 99 % or 99.9 % ES is its largest path: the two
    got the same error. Such an error is NaN; where each section holds a tail path it is given."""
    result = levier.simulate(make_scenario(), paths=1000, seed=3)
    assert math.isnan(lab.statistic(result, "fund_loss.es_0.99")[1])
    assert math.isnan(lab.statistic(result, "fund_loss.es_0.999")[1])
    value, se = lab.statistic(result, "fund_loss.es_0.95")
    assert math.isfinite(se) and se > 0
    bigger = levier.simulate(make_scenario(), paths=2000, seed=3)
    assert math.isfinite(lab.statistic(bigger, "fund_loss.var_0.99")[1])


def test_the_bank_s_default_rate_by_amount_is_a_statistic_of_the_lab():
    # it needs the bank's rate (its loan-years are its interest over its rate): computed for the lab
    # as for check-calibration, and by hand here from the per-path columns
    moselle = levier.load_scenario(SHIPPED)
    compared = levier.compare(moselle, {"generous": {"policy.loan_per_job": 15_000}}, paths=300, seed=2,
                              statistics=["bank_default_rate_by_amount"])
    for name, result in compared.results.items():
        p = result.paths
        at_default = p["bank_loss"] + p["bank_recoveries"]
        by_hand = at_default.sum() / (p["bank_interest"] / moselle.bank.rate + at_default).sum()
        value = compared.table.loc[("bank_default_rate_by_amount", name), "value"]
        assert value == pytest.approx(by_hand, rel=1e-12)
    from levier.analysis.calibrate import check_calibration

    checked = check_calibration(moselle, result=compared.results["baseline"])
    row = checked[checked["metric"] == "bank_default_rate_by_amount"].iloc[0]
    assert row["levier"] == compared.table.loc[("bank_default_rate_by_amount", "baseline"), "value"]

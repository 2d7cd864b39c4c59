"""The fund's instruments (issue 14): subsidies the bank counts, public guarantees, noisy ratings,
clawback as practised, profit-linked interest; each against an independent truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

import levier
from levier.cli import main
from levier.model.portfolio import build_portfolio
from levier.model.terms import project_terms

from conftest import SHIPPED, make_scenario

#: Every new key at the value that means "off".
OFF = {"bank.subsidy_is_equity": False, "guarantee.share": 0.0, "guarantee.fee_rate": 0.0,
       "policy.rating_noise": 0.0, "policy.clawback_tolerance": 1.0, "policy.clawback_collected": 1.0,
       "policy.variable_rate": 0.0}


def _tables(result):
    return [result.paths, result.by_year(), result.by_sector(), result.by_territory()]


def test_off_is_byte_identical_to_a_scenario_without_the_keys(moselle):
    plain = levier.simulate(moselle, paths=300, seed=4)
    keyed = levier.simulate(moselle.with_overrides(OFF), paths=300, seed=4)
    for a, b in zip(_tables(plain), _tables(keyed)):
        assert a.to_numpy().tobytes() == b.to_numpy().tobytes()
    for column in ("guarantor_loss", "guarantor_fees", "fund_variable_interest"):
        assert (plain.paths[column] == 0).all()


def _ample(**tables):
    """A scenario where the fund's capital never binds and the bank's acceptance does not depend
    on the guarantee (threshold 0): the guarantee cannot change which projects are financed."""
    tables.setdefault("fund", {"capital": 1e11})
    tables.setdefault("bank", {"threshold": 0.0, "steepness": 0.0})
    return make_scenario(**tables)


def test_a_full_guarantee_leaves_the_bank_nothing_to_lose():
    base = _ample()
    full = levier.simulate(base.with_overrides({"guarantee.share": 1.0}), paths=400, seed=3).paths
    plain = levier.simulate(base, paths=400, seed=3).paths
    assert plain["bank_loss"].sum() > 0  # the bank would have lost money without it
    assert (full["bank_loss"].abs() <= 1e-9 * full["bank_lent"]).all()
    np.testing.assert_allclose(full["guarantor_loss"], plain["bank_loss"], rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize("share", [0.25, 0.5, 0.9])
def test_bank_and_guarantor_losses_add_up_to_the_unguaranteed_loss_path_by_path(share):
    base = _ample()
    plain = levier.simulate(base, paths=400, seed=8).paths
    g = levier.simulate(base.with_overrides({"guarantee.share": share}), paths=400, seed=8).paths
    assert (g["n_financed"] == plain["n_financed"]).all()  # the guarantee changed no decision
    np.testing.assert_allclose(g["bank_loss"] + g["guarantor_loss"], plain["bank_loss"], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(g["guarantor_loss"], share * plain["bank_loss"], rtol=1e-12, atol=1e-6)


def test_the_cap_bounds_the_guarantor_per_firm():
    cap = 20_000.0
    base = _ample()
    plain = levier.simulate(base, paths=300, seed=5).paths
    g = levier.simulate(base.with_overrides({"guarantee.share": 1.0, "guarantee.cap_per_firm": cap}),
                        paths=300, seed=5).paths
    assert (g["guarantor_loss"] <= cap * g["n_defaults"] + 1e-6).all()
    assert (g["guarantor_loss"] < plain["bank_loss"] - 1e-6).any()  # the cap binds somewhere
    np.testing.assert_allclose(g["bank_loss"] + g["guarantor_loss"], plain["bank_loss"], rtol=1e-12, atol=1e-6)


def test_the_fee_is_the_rate_on_the_guaranteed_outstanding():
    # one project, no default: fees = rate * g * B * sum of the bank's outstanding shares by year
    one = dict(pipeline={"projects_per_year": 1, "years": 1, "investment_sigma": 0.0, "pd_sigma": 0.0,
                         "sector_mix": {"plasturgie": 1.0, "automobile": 0.0}},
               sectors=[{"name": "plasturgie", "annual_pd": 0.0}, {"name": "automobile", "annual_pd": 0.0}])
    s = _ample(**one).with_overrides({"guarantee.share": 0.5, "guarantee.fee_rate": 0.01})
    terms = project_terms(s, build_portfolio(s))
    expected = 0.01 * 0.5 * terms.bank_loan[0] * terms.bank_out[0, 1 : terms.horizon + 1].sum()
    fees = levier.simulate(s, paths=50, seed=1).paths["guarantor_fees"]
    np.testing.assert_allclose(fees, expected, rtol=1e-12)


def test_the_envelope_caps_the_guaranteed_principal():
    envelope = 1_000_000.0
    s = make_scenario(fund={"capital": 1e11}, guarantee={"share": 0.5, "envelope": envelope})
    r = levier.simulate(s, paths=300, seed=2)
    terms = project_terms(s, build_portfolio(s))
    assert 0.5 * terms.bank_loan[terms.eligible].sum() > 2 * envelope  # it must run out
    unlimited = levier.simulate(s.with_overrides({"guarantee.envelope": None}), paths=300, seed=2).paths
    # the guarantor can lose at most the principal it committed
    assert (r.paths["guarantor_loss"] <= envelope + 1e-6).all()
    assert r.paths["guarantor_loss"].mean() < unlimited["guarantor_loss"].mean()


def _uniform_pipeline(equity_ratio=0.2, **extra):
    """Projects alike up to small spreads, so that every one's ratios can be placed around a threshold."""
    return dict(
        fund={"capital": 1e11},
        policy={"loan_per_job": 10_000.0, "loan_cap": 1e7, "max_share_of_investment": 1.0, "max_pd": 1.0,
                "subsidy_per_job": 15_000.0, **extra},
        pipeline={"projects_per_year": 30, "years": 2, "investment_median": 1e6, "investment_sigma": 0.3,
                  "jobs_per_million": 10.0, "jobs_sigma": 0.05, "equity_ratio_mean": equity_ratio,
                  "equity_ratio_sd": 0.01, "pd_sigma": 0.3,
                  "sector_mix": {"plasturgie": 0.5, "automobile": 0.5}, "territory_mix": {"Forbach": 0.5, "Alès": 0.5}},
    )


@pytest.mark.parametrize("counted", [True, False])
def test_a_threshold_bank_counting_subsidies_finances_every_project_and_none_without(counted):
    tables = _uniform_pipeline()
    s0 = make_scenario(**tables)
    p = build_portfolio(s0)
    t0 = project_terms(s0, p)
    without = (t0.equity + t0.loan) / t0.investment
    with_s = (t0.equity + t0.loan + t0.subsidy) / t0.investment
    threshold = 0.5 * (without.max() + with_s.min())
    assert without.max() < threshold < with_s.min()  # the case the test is about
    s = make_scenario(**{**tables, "bank": {"threshold": float(threshold), "steepness": 0.0, "gearing": 10.0,
                                             "subsidy_is_equity": counted}})
    n = levier.simulate(s, paths=64, seed=1).paths["n_financed"]
    assert (n == (len(p) if counted else 0)).all()


def test_subsidies_counted_as_equity_raise_the_gearing_cap():
    tables = _uniform_pipeline()
    s = make_scenario(**{**tables, "bank": {"threshold": 0.0, "gearing": 0.5}})
    plain = project_terms(s, build_portfolio(s))
    counted = project_terms(s.with_overrides({"bank.subsidy_is_equity": True}), build_portfolio(s))
    cap = 0.5 * (plain.equity + plain.loan + plain.subsidy)
    rest = plain.investment - plain.equity - plain.loan - plain.subsidy
    np.testing.assert_allclose(counted.bank_loan, np.minimum(rest, cap))
    assert (counted.bank_loan > plain.bank_loan).all()


# -- screening on a noisy rating -----------------------------------------------------------------

def _rated(sigma: float, max_pd: float = 0.05):
    tables = _uniform_pipeline()
    tables["pipeline"] = {**tables["pipeline"], "projects_per_year": 4000, "years": 1, "pd_sigma": 0.8}
    tables["policy"] = {**tables["policy"], "max_pd": max_pd, "rating_noise": sigma}
    tables["bank"] = {"threshold": 0.0}
    s = make_scenario(**tables)
    return s, project_terms(s, build_portfolio(s))


@pytest.mark.parametrize("sigma", [0.5, 2.0, 5.0])
def test_the_share_screened_in_matches_the_lognormal_rating_law(sigma):
    # P(PD exp(sigma eps - sigma^2/2) <= m) = Phi(sigma / 2 + ln(m / PD) / sigma), independently per file
    s, terms = _rated(sigma)
    p = special.ndtr(sigma / 2 + np.log(0.05 / terms.pd) / sigma)
    passed = terms.pd_rated <= 0.05
    assert abs(passed.sum() - p.sum()) <= 4 * math.sqrt((p * (1 - p)).sum())
    # the log of the rating error is N(-sigma^2 / 2, sigma^2): mean factor 1, the rating unbiased in PD
    log_factor = np.log(terms.pd_rated / terms.pd)
    n = log_factor.size
    assert abs(log_factor.mean() + sigma**2 / 2) <= 4 * sigma / math.sqrt(n)
    assert abs(log_factor.var(ddof=1) / sigma**2 - 1) <= 4 * math.sqrt(2 / (n - 1))


def test_at_zero_noise_the_fund_screens_on_the_true_pd():
    s, terms = _rated(0.0)
    assert terms.pd_rated is terms.pd or np.array_equal(terms.pd_rated, terms.pd)
    np.testing.assert_array_equal(terms.eligible[terms.n_book:], terms.pd[terms.n_book:] <= 0.05)


def test_a_very_noisy_rating_takes_screening_s_effect_on_the_loss_away():
    base = make_scenario(**{**_uniform_pipeline(), "bank": {"threshold": 0.0}})
    unscreened = levier.simulate(base.with_overrides({"policy.max_pd": 1.0}), paths=400, seed=6).paths["fund_loss"]

    def effect(sigma):
        s = base.with_overrides({"policy.max_pd": 0.05, "policy.rating_noise": sigma})
        diff = unscreened - levier.simulate(s, paths=400, seed=6).paths["fund_loss"]
        terms = project_terms(s, build_portfolio(s))
        return diff.mean(), diff.std(ddof=1) / math.sqrt(diff.size), terms

    sharp, sharp_se, _ = effect(0.0)
    assert sharp > 4 * sharp_se  # screening on the truth cuts the loss
    vague, vague_se, terms = effect(5.0)
    # what is left is at most the loss of the files the rating still screens out (their whole loan),
    # each out with probability 1 - Phi(sigma / 2 + ln(m / PD) / sigma)
    out = 1 - special.ndtr(2.5 + np.log(0.05 / terms.pd) / 5.0)
    bound = (out * terms.loan)[terms.n_book:].sum()
    assert -4 * vague_se <= vague <= bound + 4 * vague_se
    assert bound < 0.05 * sharp


# -- clawback as practised, variable interest: one project, closed forms path by path ------------

def _one_project(**policy):
    return make_scenario(
        fund={"capital": 1e9},
        policy={"loan_per_job": 10_000.0, "loan_cap": 1e7, "max_share_of_investment": 1.0, "max_pd": 1.0,
                "subsidy_per_job": 4_000.0, "clawback_year": 2, "maturity_years": 5, "grace_years": 1, **policy},
        bank={"threshold": 0.0},
        sectors=[{"name": "plasturgie", "annual_pd": 0.0, "job_realisation_mean": 1.0, "job_realisation_sd": 0.3,
                  "job_ramp": [1.0]},
                 {"name": "automobile", "annual_pd": 0.0}],
        pipeline={"projects_per_year": 1, "years": 1, "investment_median": 1e6, "jobs_per_million": 10.0,
                  "equity_ratio_mean": 0.2, "sector_mix": {"plasturgie": 1.0, "automobile": 0.0},
                  "territory_mix": {"Forbach": 1.0, "Alès": 0.0}},
    )


@pytest.mark.parametrize("rule", ["pro_rata", "full"])
@pytest.mark.parametrize("tolerance, collected", [(1.0, 1.0), (0.8, 1.0), (0.8, 0.5), (0.6, 0.25)])
def test_clawback_with_tolerance_and_collection_is_its_closed_form(rule, tolerance, collected):
    s = _one_project(clawback=rule, clawback_tolerance=tolerance, clawback_collected=collected)
    r = levier.simulate(s, paths=2000, seed=9).paths
    terms = project_terms(s, build_portfolio(s))
    subsidy, jobs = terms.subsidy[0], terms.jobs[0]
    phi = r["jobs_at_check"].to_numpy() / jobs  # no default, ramp 1: the job realisation itself
    short = np.where(phi < tolerance, 1.0 if rule == "full" else np.clip(1 - phi, 0, 1), 0.0)
    np.testing.assert_allclose(r["clawbacks"], collected * subsidy * short, rtol=1e-9, atol=1e-6)
    # and in law: phi lognormal with mean 1 and sd 0.3
    sigma = math.sqrt(math.log1p(0.09))
    below = special.ndtr((math.log(tolerance) + sigma**2 / 2) / sigma)
    partial = special.ndtr((math.log(tolerance) - sigma**2 / 2) / sigma)  # E[phi; phi < t]
    mean = collected * subsidy * (below if rule == "full" else below - partial)
    claw = r["clawbacks"]
    assert abs(claw.mean() - mean) <= 4 * claw.std(ddof=1) / math.sqrt(claw.size) + 1e-9


def test_variable_interest_is_zero_at_rate_zero_and_its_closed_form_otherwise():
    s0 = _one_project()
    assert (levier.simulate(s0, paths=200, seed=3).paths["fund_variable_interest"] == 0).all()
    terms = project_terms(s0, build_portfolio(s0))
    runs = {}
    for rate in (0.01, 0.02, 0.05):
        s = _one_project(variable_rate=rate, variable_cap=1.4)
        runs[rate] = levier.simulate(s, paths=200, seed=3).paths
        phi = runs[rate]["jobs_at_check"].to_numpy() / terms.jobs[0]
        performance = np.minimum(np.maximum(phi - 1, 0) / 0.4, 1)
        expected = rate * terms.loan[0] * terms.fund_out[0, 1 : terms.horizon + 1].sum() * performance
        np.testing.assert_allclose(runs[rate]["fund_variable_interest"], expected, rtol=1e-9, atol=1e-6)
    assert (runs[0.01]["fund_variable_interest"] > 0).any()
    assert (runs[0.02]["fund_variable_interest"] >= runs[0.01]["fund_variable_interest"]).all()
    assert (runs[0.05]["fund_variable_interest"] >= runs[0.02]["fund_variable_interest"]).all()
    # it is an inflow of the fund: its net cost falls by its present value
    assert (runs[0.05]["fund_net_cost"] <= runs[0.01]["fund_net_cost"] + 1e-6).all()


def test_variable_interest_grows_path_by_path_with_the_rate_on_a_full_scenario(moselle):
    low = levier.simulate(moselle.with_overrides({"policy.variable_rate": 0.01}), paths=200, seed=2).paths
    high = levier.simulate(moselle.with_overrides({"policy.variable_rate": 0.03}), paths=200, seed=2).paths
    assert (low["fund_variable_interest"] > 0).all()
    assert (high["fund_variable_interest"] >= low["fund_variable_interest"]).all()
    np.testing.assert_allclose(high["fund_variable_interest"], 3 * low["fund_variable_interest"], rtol=1e-9)


# -- the keys as users reach them -------------------------------------------------------------------

def test_an_absent_guarantee_table_is_set_from_the_command_line(capsys):
    assert main(["run", str(SHIPPED), "--paths", "200", "--seed", "1", "--set", "guarantee.share=0.5",
                 "--set", "guarantee.fee_rate=0.005", "--set", "policy.variable_rate=0.02"]) == 0
    out = capsys.readouterr().out
    for words in ("Guarantor loss", "Guarantee fees", "Fund variable interest"):
        assert words in out


def test_bad_instrument_values_are_named():
    with pytest.raises(levier.ScenarioError, match="guarantee.share"):
        make_scenario(guarantee={"share": 1.5})
    with pytest.raises(levier.ScenarioError, match="policy.variable_cap"):
        make_scenario(policy={"loan_per_job": 1.0, "loan_cap": 1.0, "variable_cap": 1.0})
    with pytest.raises(levier.ScenarioError, match="did you mean 'share'"):
        make_scenario().with_overrides({"guarantee.shar": 0.5})


def test_bad_set_on_the_command_line_exits_2(capsys):
    assert main(["run", str(SHIPPED), "--paths", "10", "--set", "guarantee.share=2"]) == 2
    err = capsys.readouterr().err
    assert "guarantee.share" in err and "Traceback" not in err


def test_variants_and_the_lab_reach_the_new_keys(moselle):
    comparison = levier.compare(moselle, {"guarantee": {"guarantee.share": 0.5},
                                          "counted": {"bank.subsidy_is_equity": True}},
                                paths=256, seed=5, statistics=["n_financed", "guarantor_loss", "bank_loss"])
    table = comparison.table
    assert table.loc[("guarantor_loss", "guarantee"), "value"] > 0
    assert table.loc[("guarantor_loss", "counted"), "value"] == 0
    s = levier.Scenario.from_dict({**moselle.model_dump(exclude_unset=True),
                                   "variants": [{"name": "g", "set": {"guarantee": {"share": 0.5}}}]})
    assert s.variant("g").guarantee.share == 0.5


def test_check_calibration_shows_the_guarantee_s_effect_on_the_cited_leverage(capsys):
    figures = {}
    for share in (0.0, 0.5):
        assert main(["check-calibration", str(SHIPPED), "--paths", "300", "--seed", "1",
                     "--set", f"guarantee.share={share}"]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if "(leverage_bank)" in x)
        figures[share] = float(line.split()[1])
    assert figures[0.5] > figures[0.0]


def test_the_worked_comparison_and_its_place_in_the_report(moselle, tmp_path):
    from levier.present.report import report_html

    comparison = levier.instruments.compare_instruments(moselle, paths=256, seed=7)
    table = levier.instruments.instrument_table(comparison)
    assert set(table.index.get_level_values("instrument")) == {"loan only", "loan + subsidy", "loan + guarantee"}
    guarantor = table.xs("Guarantor loss (€)")
    assert guarantor.loc["loan only", "value"] == 0 and guarantor.loc["loan + guarantee", "value"] > 0
    assert (table["value_low"] <= table["value"]).all() and (table["low"] <= table["difference"]).all()
    # the baseline is the scenario without subsidy or guarantee, run on the same draws
    plain = levier.simulate(moselle.with_overrides({"policy.subsidy_per_job": 0.0}), paths=256, seed=7)
    assert comparison.results["loan only"].paths.equals(plain.paths)
    html = report_html(comparison.results["loan only"], comparison=comparison)
    assert "Loan, subsidy or guarantee" in html and "Guarantor loss" in html
    assert "guarantee share" not in html
    # rows and columns in words (they were Python tuples and code names), and in French
    assert "Guarantor loss (€) — loan + guarantee" in html and "difference with the loan alone" in html
    assert "('" not in html and "value_low" not in html
    french = report_html(comparison.results["loan only"], comparison=comparison, lang="fr")
    assert "Perte du garant (€) — prêt + garantie" in french and "écart avec le prêt seul" in french
    guaranteed = report_html(comparison.results["loan + guarantee"])
    assert "guarantee share / cap per firm" in guaranteed and "Guarantor loss" in guaranteed
    with pytest.raises(ValueError, match="subsidy"):
        levier.instruments.compare_instruments(moselle, subsidy_per_job=0.0)


@pytest.mark.slow
def test_the_readme_comparison_is_what_a_fresh_run_gives():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Loan only, loan + subsidy, loan + 50 % guarantee**", 1)[1].split("In Python:", 1)[0]
    documented = {}
    figure = None
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1] in ("loan only", "loan + subsidy", "loan + guarantee"):
            figure = cells[0] or figure
            documented[(figure, cells[1])] = cells[2].split(" [")[0]
    assert len(documented) == 18
    table = levier.instruments.instrument_table(
        levier.instruments.compare_instruments(levier.load_scenario(SHIPPED), paths=4000, seed=2005))
    for (figure, instrument), text in documented.items():
        value = table.loc[(figure, instrument), "value"]
        digits = len(text.split(".")[1]) if "." in text else 0
        assert f"{value:,.{digits}f}" == text, (figure, instrument)


def test_the_instruments_keep_the_bytes_whatever_the_chunk_size_and_the_caller_s_seed():
    s = make_scenario(fund={"capital": 900_000.0, "recycle": True},
                      policy={"subsidy_per_job": 500.0, "rating_noise": 0.7, "clawback_tolerance": 0.9,
                              "clawback_collected": 0.5, "variable_rate": 0.03},
                      bank={"subsidy_is_equity": True, "steepness": 0.05},
                      guarantee={"share": 0.6, "cap_per_firm": 1e5, "fee_rate": 0.01, "envelope": 1.5e6})
    seed = np.random.SeedSequence(77)
    state = (seed.entropy, seed.spawn_key, seed.n_children_spawned)
    n = 2 * 128 + 37
    reference = levier.simulate(s, paths=n, seed=seed, chunk_size=10_000)
    assert (seed.entropy, seed.spawn_key, seed.n_children_spawned) == state  # never mutated
    assert reference.paths["guarantor_loss"].sum() > 0
    for chunk, threads in ((1, 1), (128, 2), (200, 3)):
        other = levier.simulate(s, paths=n, seed=seed, chunk_size=chunk, threads=threads)
        for a, b in zip(_tables(reference), _tables(other)):
            assert a.to_numpy().tobytes() == b.to_numpy().tobytes()

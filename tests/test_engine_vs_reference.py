"""The vectorised engine against a brute-force scalar implementation, on the same draws."""

from __future__ import annotations

import numpy as np
import pytest

from levier.engine.paths import block_draws, simulate_paths
from levier.model.terms import project_terms
from levier.model.portfolio import build_portfolio
from levier.streams import coerce_seed

from conftest import book_row, make_scenario, write_book
from reference_model import reference_path

COMPARED = ["fund_lent", "bank_lent", "fund_loss", "bank_loss", "fund_net_cost", "n_financed", "n_additional",
            "n_defaults", "jobs_created", "jobs_additional", "job_years", "subsidies", "clawbacks",
            "fund_interest", "operating_costs", "fund_recoveries", "bank_recoveries", "fund_principal", "jobs_at_check",
            "jobs_net", "jobs_planned", "investment", "guarantor_loss", "guarantor_fees", "fund_variable_interest",
            "bank_interest"]

VARIANTS = {
    "base": {},
    "tight capital, recycling, limits, logistic bank": dict(
        fund={"capital": 900_000.0, "recycle": True},
        policy={"max_sector_share": 0.7, "max_territory_share": 0.8, "subsidy_per_job": 2_000.0,
                "clawback_year": 2, "takeover_job_share": 0.3},
        bank={"steepness": 0.05, "threshold": 0.35},
    ),
    "full clawback, generous recoveries, independent years": dict(
        policy={"subsidy_per_job": 3_000.0, "clawback": "full", "clawback_year": 1},
        defaults={"macro_loading": 0.4, "macro_autocorrelation": 0.0},
        sectors=[
            {"name": "plasturgie", "annual_pd": 0.15, "loading": 0.3, "recovery_mean": 0.9, "recovery_sd": 0.05,
             "job_realisation_mean": 0.8, "job_realisation_sd": 0.4, "job_ramp": [0.3, 0.7, 1.0]},
            {"name": "automobile", "annual_pd": 0.1, "recovery_mean": 1.0, "job_ramp": [1.0]},
        ],
    ),
    "guarantee with envelope and cap, subsidy as equity, noisy rating, tolerant clawback, variable rate": dict(
        fund={"capital": 2_500_000.0, "recycle": True},
        policy={"subsidy_per_job": 2_500.0, "clawback_tolerance": 0.8, "clawback_collected": 0.6,
                "rating_noise": 1.0, "variable_rate": 0.04, "variable_cap": 1.3},
        bank={"threshold": 0.4, "steepness": 0.03, "subsidy_is_equity": True},
        guarantee={"share": 0.6, "cap_per_firm": 150_000.0, "fee_rate": 0.01, "envelope": 1_200_000.0},
        sectors=[
            {"name": "plasturgie", "annual_pd": 0.12, "loading": 0.3, "recovery_mean": 0.3, "recovery_sd": 0.1,
             "job_realisation_mean": 1.0, "job_realisation_sd": 0.3, "job_ramp": [0.6, 1.0]},
            {"name": "automobile", "annual_pd": 0.15, "recovery_mean": 0.1, "job_ramp": [1.0]},
        ],
    ),
    "full guarantee without envelope, full clawback with tolerance": dict(
        policy={"subsidy_per_job": 3_000.0, "clawback": "full", "clawback_year": 2, "clawback_tolerance": 0.9,
                "variable_rate": 0.02},
        bank={"threshold": 0.45},
        guarantee={"share": 1.0, "fee_rate": 0.005},
        sectors=[
            {"name": "plasturgie", "annual_pd": 0.15, "recovery_mean": 0.2, "recovery_sd": 0.1,
             "job_realisation_mean": 1.0, "job_realisation_sd": 0.3, "job_ramp": [1.0]},
            {"name": "automobile", "annual_pd": 0.1, "recovery_mean": 0.3, "job_ramp": [1.0]},
        ],
    ),
}


def assert_matches_reference(terms, draws):
    block = simulate_paths(terms, draws)
    engine = block.paths
    for p in range(draws.u_bank.shape[0]):
        ref = reference_path(terms, draws, p)
        for metric in COMPARED:
            assert engine[metric][p] == pytest.approx(ref[metric], rel=1e-9, abs=1e-6), (metric, p)
        for metric, values in ref["years"].items():
            np.testing.assert_allclose(block.by_year[metric][p], values, rtol=1e-9, atol=1e-6, err_msg=metric)
    for groups in (block.by_sector, block.by_territory):  # the groups add up to the totals
        for metric, values in groups.items():
            np.testing.assert_allclose(values.sum(axis=1), engine[metric], rtol=1e-12, atol=1e-6, err_msg=metric)
    return engine


@pytest.mark.parametrize("name", list(VARIANTS))
def test_engine_matches_scalar_reference(name):
    scenario = make_scenario(**VARIANTS[name])
    terms = project_terms(scenario, build_portfolio(scenario))
    engine = assert_matches_reference(terms, block_draws(terms, coerce_seed(11), 0).rows(0, 40))
    # the variants must exercise what they claim: some defaults, some refusals for capital
    assert engine["n_defaults"].sum() > 0
    assert engine["bank_interest"].min() > 0
    if "guarantee" in VARIANTS[name]:
        assert engine["guarantor_loss"].sum() > 0 and engine["guarantor_fees"].sum() > 0
        assert engine["fund_variable_interest"].sum() > 0 and engine["clawbacks"].sum() > 0
    if "envelope" in VARIANTS[name].get("guarantee", {}):  # the envelope runs out on some paths
        assert (engine["bank_lent"] * 0.6 > VARIANTS[name]["guarantee"]["envelope"]).any()


def test_engine_matches_reference_with_loan_book(tmp_path):
    rows = [book_row(1, entry_year=-2, loan_amount=150_000, rate=0.03, maturity_years=6, grace_years=2,
                     bank_amount=500_000, annual_pd=0.2),
            book_row(2, sector="automobile", territory="Alès", entry_year=2, annual_pd=0.1),
            book_row(3, entry_year=0)]
    write_book(tmp_path / "book.csv", rows,
               ["firm_id", "sector", "territory", "investment", "equity", "jobs_planned", "entry_year",
                "annual_pd", "loan_amount", "rate", "maturity_years", "grace_years", "bank_amount"])
    scenario = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv"}, fund={"capital": 1_500_000.0, "recycle": True})
    terms = project_terms(scenario, build_portfolio(scenario))
    assert terms.n_book == 3
    engine = assert_matches_reference(terms, block_draws(terms, coerce_seed(3), 2).rows(0, 30))
    assert np.all(engine["n_financed"] >= 3)
    # the instruments beside a loan book (whose loans carry no guarantee), with and without an envelope
    for envelope in (None, 1_500_000.0):
        instruments = scenario.with_overrides({"guarantee.share": 0.7, "guarantee.fee_rate": 0.01,
                                               "guarantee.envelope": envelope, "policy.variable_rate": 0.03,
                                               "bank.threshold": 0.45, "fund.capital": 6e6,
                                               "sectors.plasturgie.annual_pd": 0.2})
        terms = project_terms(instruments, build_portfolio(instruments))
        assert (terms.accept_without[: terms.n_book] == terms.accept_without_unguaranteed[: terms.n_book]).all()
        engine = assert_matches_reference(terms, block_draws(terms, coerce_seed(3), 2).rows(0, 30))
        assert engine["guarantor_loss"].sum() > 0

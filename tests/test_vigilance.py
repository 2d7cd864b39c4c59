"""Vigilance (detection, cure, false alarms, rescheduling) against closed forms and by hand."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.engine.paths import Draws, block_draws, simulate_paths
from levier.model.portfolio import build_portfolio
from levier.model.terms import project_terms
from levier.streams import coerce_seed
from conftest import base_dict

H, T, JOBS = 0.15, 6, 20.0


def one_firm(vigilance: dict | None = None, **simulation) -> levier.Scenario:
    """One firm, independent defaults with annual PD ``H``, all jobs from year 1, no recovery."""
    data = base_dict(
        simulation={"paths": 4000, "horizon_years": T, "seed": 11, **simulation},
        defaults={"macro_loading": 0.0, "macro_autocorrelation": 0.0},
        bank={"threshold": 0.0, "gearing": 3.0, "rate": 0.05, "maturity_years": 5},
        fund={"capital": 5_000_000.0, "operating_cost_per_file": 0.0, "recycle": False},
        policy={"loan_per_job": 10_000.0, "loan_cap": 500_000.0, "max_share_of_investment": 0.3,
                "rate": 0.04, "maturity_years": 5, "grace_years": 0, "max_pd": 1.0},
        sectors=[{"name": "plasturgie", "annual_pd": H, "recovery_mean": 0.0, "job_ramp": [1.0]}],
        territories=[{"name": "Forbach"}],
        pipeline={"projects_per_year": 1, "years": 1, "investment_median": 1_000_000.0,
                  "jobs_per_million": JOBS, "equity_ratio_mean": 0.3, "sector_mix": None, "territory_mix": None, "pd_sigma": 0.0, "investment_sigma": 0.0,
                  "jobs_sigma": 0.0, "equity_ratio_sd": 0.0},
    )
    if vigilance is not None:
        data["vigilance"] = vigilance
    return levier.Scenario.from_dict(data, source="<test>")


def _within(values: np.ndarray, expected: float, sigmas: float = 4.0) -> None:
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - expected) <= sigmas * max(se, 1e-12), (values.mean(), expected, se)


@pytest.mark.parametrize("lead", [0, 2])
def test_one_firm_detection_times_cure_closed_form(lead):
    d, c, k = 0.6, 0.5, 12_000.0
    r = levier.simulate(one_firm({"detection_rate": d, "cure_rate": c, "lead_years": lead, "cost_per_case": k}))
    p = r.paths
    first = H * (1 - H) ** np.arange(T)  # first default in year 1 .. T
    year = np.arange(1, T + 1)
    watchable = year - lead >= 1  # the firm was in the book lead years before
    dc = d * c * watchable
    again = 1 - (1 - H) ** (T - year)  # a cured firm defaults again by T
    _within(p["n_defaults"].to_numpy(), float((first * (1 - dc + dc * again)).sum()))
    _within(p["n_watched"].to_numpy(), float((first * d * watchable).sum()))
    _within(p["n_cured"].to_numpy(), float((first * dc).sum()))
    _within(p["vigilance_costs"].to_numpy(), k * float((first * d * watchable).sum()))
    _within(p["jobs_saved"].to_numpy(), JOBS * float((first * dc * (1 - again)).sum()))
    # the vigilance cost is part of the fund's net cost, and of nothing else
    assert np.allclose(p["vigilance_costs"], k * p["n_watched"])


def test_false_alarms_binomial_on_healthy_files():
    fa, k = 0.2, 1_000.0
    r = levier.simulate(one_firm({"false_alarm_rate": fa, "cost_per_case": k, "lead_years": 0}))
    # lead 0: every live year without a default is a healthy file-year; the loan is live
    # (outstanding at the year's start) in years 1 .. 5 (maturity 5)
    live = np.arange(1, 6)
    expected = fa * float(((1 - H) ** live).sum())
    _within(r.paths["n_watched"].to_numpy(), expected)
    assert np.allclose(r.paths["vigilance_costs"], k * r.paths["n_watched"])
    assert (r.paths["n_cured"] == 0).all()


def test_off_is_byte_identical_to_no_table():
    plain = levier.simulate(one_firm(), paths=300)
    off = levier.simulate(one_firm({"detection_rate": 0.0, "cure_rate": 0.9, "cost_per_case": 5.0}), paths=300)
    for name in plain.paths.columns:
        assert plain.paths[name].to_numpy().tobytes() == off.paths[name].to_numpy().tobytes(), name
    assert plain.by_year().to_numpy().tobytes() == off.by_year().to_numpy().tobytes()


def test_vigilance_same_bytes_for_any_chunk():
    s = levier.Scenario.from_dict({**base_dict(), "vigilance": {"detection_rate": 0.5, "cure_rate": 0.5,
                                                                 "false_alarm_rate": 0.05, "cost_per_case": 100.0,
                                                                 "extension_years": 2}}, source="<test>")
    ref = levier.simulate(s, paths=300, seed=3, chunk_size=300).paths
    for chunk in (1, 7, 128):
        other = levier.simulate(s, paths=300, seed=3, chunk_size=chunk).paths
        assert ref.to_numpy().tobytes() == other.to_numpy().tobytes(), chunk


def test_cured_loan_rescheduled_by_hand():
    """Default drawn in year 3, detected and cured, never again: the principal left after year
    3 is repaid in equal parts over the 2 years left to maturity + 2 of extension."""
    s = one_firm({"detection_rate": 1.0, "cure_rate": 1.0, "lead_years": 1, "extension_years": 2})
    terms = project_terms(s, build_portfolio(s))
    draws = block_draws(terms, coerce_seed(1), 0).rows(0, 1)
    f = [1 - (1 - H) ** t for t in range(1, T + 1)]
    u_default = np.array([[0.5 * (f[1] + f[2])]])  # first default in year 3
    draws = Draws(draws.shocks, np.zeros_like(draws.u_bank), u_default, draws.z_jobs, u_watch=np.zeros((1, 1)),
                  u_redefault=np.full((1, 1), 1 - 1e-12), u_alarm=draws.u_alarm)
    block = simulate_paths(terms, draws)
    loan = terms.loan[0]
    # linear over 5 years: outstanding at the start of years 1..4: 1, .8, .6, .4; after year 3,
    # 0.4 is left, over 4 instalments of 0.1 in years 4..7 (the horizon is 6)
    start = np.array([1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1])
    principal = loan * (start[:T] - start[1:])
    assert np.allclose(block.by_year["fund_outstanding"][0], loan * start[1:])
    assert np.allclose(block.paths["fund_principal"][0], principal.sum())
    assert np.allclose(block.paths["fund_interest"][0], 0.04 * loan * start[:T].sum())
    assert block.paths["n_defaults"][0] == 0 and block.paths["n_cured"][0] == 1
    assert np.isclose(block.paths["jobs_saved"][0], block.paths["jobs_created"][0])
    assert np.isclose(block.paths["fund_outstanding_end"][0], 0.1 * loan)


def test_cli_set_vigilance_and_table_rows(capsys):
    from conftest import SHIPPED

    from levier.cli import main

    assert main(["run", str(SHIPPED), "--paths", "200", "--seed", "1", "--set", "vigilance.detection_rate=0.5",
                 "--set", "vigilance.cure_rate=0.3", "--set", "vigilance.cost_per_case=8000"]) == 0
    out = capsys.readouterr().out
    for label in ("Files watched", "of which cured", "Vigilance costs", "Jobs saved by cures", "Fund IRR",
                  "Capital needed at the trough", "Capital left to lend", "Jobs at the check year", "Job-years",
                  "Loss rate"):
        assert label in out, label
    assert main(["run", str(SHIPPED), "--paths", "50", "--set", "vigilance.cure_rate=2"]) == 2
    assert "vigilance.cure_rate" in capsys.readouterr().err

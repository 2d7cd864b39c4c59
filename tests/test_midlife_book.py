"""A loan book as it stands: mid-life loans (years_since_entry, outstanding) and files on watch."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from conftest import base_dict, book_row, write_book

H, T, K = 0.08, 8, 3  # annual PD, horizon of the loan's whole life, years before the valuation date


def _scenario(tmp_path, name, rows, horizon, **tables):
    book = write_book(tmp_path / f"{name}.csv", rows)
    data = base_dict(
        simulation={"paths": 6000, "horizon_years": horizon, "seed": 5},
        defaults={"macro_loading": 0.0, "macro_autocorrelation": 0.0},
        policy={"loan_per_job": 10_000.0, "loan_cap": 500_000.0, "rate": 0.05, "maturity_years": 6,
                "grace_years": 1, "max_pd": 1.0},
        sectors=[{"name": "plasturgie", "annual_pd": H, "recovery_mean": 0.25, "job_ramp": [0.5, 1.0]}],
        territories=[{"name": "Forbach"}], pipeline=None,
        loan_book={"path": book.name}, **tables)
    return levier.Scenario.from_dict(data, source=str(tmp_path / f"{name}.toml"), base_dir=tmp_path)


ROW = dict(loan_amount=100_000, bank_amount=300_000)


def test_midlife_loan_flows_are_the_whole_life_ones_given_survival(tmp_path):
    whole = levier.simulate(_scenario(tmp_path, "whole", [book_row(1, entry_year=1, **ROW)], T))
    rows = [book_row(1, entry_year="", years_since_entry=K, **ROW)]
    mid = levier.simulate(_scenario(tmp_path, "mid", rows, T - K))
    survived = whole.year_paths("defaults").to_numpy()[:, :K].sum(axis=1) == 0
    assert 0.5 < survived.mean() < 0.9
    for metric in ("fund_cash_flow", "fund_outstanding", "defaults", "jobs", "bank_outstanding"):
        a = whole.year_paths(metric).to_numpy(dtype=float)[survived, K:]
        b = mid.year_paths(metric).to_numpy(dtype=float)
        se = np.sqrt(a.var(axis=0, ddof=1) / a.shape[0] + b.var(axis=0, ddof=1) / b.shape[0])
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4 * se + 1e-6 * np.abs(b).max()), metric
    # nothing is lent in the horizon; what the book still owes is the fund's exposure
    assert (mid.paths["fund_lent"] == 0).all() and (mid.paths["bank_lent"] == 0).all()
    assert mid.paths["fund_loss"].max() <= 100_000 * (1 - 0.25) * 5 / 5 + 1e-6


def test_outstanding_rescales_the_rest_of_the_schedule(tmp_path):
    # after 3 years of a 6-year loan with 1 year of grace the contract says 60 % is left
    full = levier.simulate(_scenario(tmp_path, "c", [book_row(1, years_since_entry=K, entry_year="", **ROW)], 4), paths=400)
    half = levier.simulate(_scenario(tmp_path, "h", [book_row(1, years_since_entry=K, entry_year="",
                                                              outstanding=30_000, **ROW)], 4), paths=400)
    f = full.year_paths("fund_outstanding").to_numpy(dtype=float)
    h = half.year_paths("fund_outstanding").to_numpy(dtype=float)
    assert np.allclose(h, 0.5 * f, rtol=1e-6)
    assert np.allclose(half.paths["fund_interest"], 0.5 * full.paths["fund_interest"], rtol=1e-9)
    assert np.allclose(half.paths["fund_loss"], 0.5 * full.paths["fund_loss"], rtol=1e-9)


@pytest.mark.parametrize("row, message", [
    (dict(years_since_entry=2, entry_year=0), "disagrees with entry_year"),
    (dict(entry_year=1, outstanding=5_000), "not yet lent"),
    (dict(years_since_entry=7, entry_year="", outstanding=5_000), "past its maturity"),
    (dict(years_since_entry=2, entry_year="", outstanding=500_000), "must not exceed loan_amount"),
    (dict(entry_year=0, status="doubtful"), "status: expected one of performing, watch"),
])
def test_bad_midlife_columns_are_named(tmp_path, row, message):
    rows = [book_row(1, **{**ROW, **row})]
    with pytest.raises(levier.LoanBookError, match=message):
        levier.build_portfolio(_scenario(tmp_path, "bad", rows, 4))


def test_midlife_columns_read_the_french_way_and_from_excel(tmp_path):
    # a semicolon CSV with decimal commas and grouped thousands, as a French spreadsheet saves it
    text = ("firm_id;sector;territory;investment;equity;jobs_planned;entry_year;loan_amount;bank_amount;"
            "years_since_entry;outstanding;status\n"
            "F1;plasturgie;Forbach;1 000 000;200 000;10;;100 000;300 000;3;30 000,5;Watch\n")
    (tmp_path / "fr.csv").write_text(text, encoding="utf-8")
    s = _scenario(tmp_path, "x", [book_row(1, **ROW)], 4)
    data = s.model_dump(mode="json")
    data["loan_book"] = {"path": "fr.csv"}
    fr = levier.Scenario.from_dict(data, source=str(tmp_path / "fr.toml"), base_dir=tmp_path)
    p = levier.build_portfolio(fr)
    assert p.entry.tolist() == [-2] and p.outstanding.tolist() == [30_000.5] and p.watch.tolist() == [True]
    pytest.importorskip("openpyxl")
    import pandas as pd

    pd.DataFrame([book_row(1, entry_year=None, years_since_entry=3, outstanding=30_000.5, status="watch", **ROW)]
                 ).to_excel(tmp_path / "book.xlsx", index=False)
    data["loan_book"] = {"path": "book.xlsx"}
    xl = levier.build_portfolio(levier.Scenario.from_dict(data, source=str(tmp_path / "xl.toml"), base_dir=tmp_path))
    assert xl.entry.tolist() == [-2] and xl.outstanding.tolist() == [30_000.5] and xl.watch.tolist() == [True]


def test_watch_files_are_riskier_and_detected(tmp_path):
    rows = [book_row(i, entry_year=0, status="watch" if i % 2 else "performing", **ROW) for i in range(1, 41)]
    vig = {"vigilance": {"detection_rate": 0.0, "false_alarm_rate": 0.0, "cure_rate": 1.0, "lead_years": 5,
                         "watch_pd_multiplier": 2.0}}
    portfolio = levier.build_portfolio(_scenario(tmp_path, "w", rows, 4, **vig))
    assert np.allclose(portfolio.pd[portfolio.watch], 2 * H) and np.allclose(portfolio.pd[~portfolio.watch], H)
    # detection_rate 0 yet files on watch are detected: the watch itself turns vigilance on
    r = levier.simulate(_scenario(tmp_path, "w2", rows, 4, **vig),
                        paths=500)
    p = r.paths
    # every coming default of a watched file is detected and cured (cure_rate 1), first time
    first = 1 - (1 - 2 * H) ** 4
    _mean, se = p["n_cured"].mean(), p["n_cured"].std(ddof=1) / np.sqrt(len(p))
    assert abs(_mean - 20 * first) <= 4 * se

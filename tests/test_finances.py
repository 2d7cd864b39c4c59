"""The fund's own finances: IRR, peak need, capital left, against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import levier
from conftest import SHIPPED
from levier.engine.finances import IRR_BRACKET, internal_rate_of_return


@pytest.fixture(scope="module")
def result():
    return levier.simulate(levier.load_scenario(SHIPPED), paths=300, seed=5)


def _npv(flows, r):
    return float(np.sum(flows / (1.0 + r) ** np.arange(flows.size)))


def test_fund_irr_matches_brentq_on_the_paths_yearly_flows(result):
    cash = result.year_paths("fund_cash_flow").to_numpy(dtype=float)  # float32 as kept
    paid = result.year_paths("fund_disbursed").to_numpy(dtype=float)
    end = result.paths["fund_outstanding_end"].to_numpy()
    irr = result.paths["fund_irr"].to_numpy()
    checked = 0
    for i in range(cash.shape[0]):
        # disbursements at the start of their year, the rest at its end (as the net cost)
        flows = np.r_[0.0, cash[i] + paid[i]] - np.r_[paid[i], 0.0]
        flows[-1] += end[i]
        lo, hi = IRR_BRACKET
        # every real root of the NPV as a polynomial in v = 1 / (1 + r), by its companion matrix
        v = np.roots(flows[::-1]) if np.any(flows) else np.array([])
        v = v[(np.abs(v.imag) < 1e-9) & (v.real > 0)].real
        rates = 1.0 / v - 1.0
        rates = rates[(rates > lo) & (rates < hi)]
        if rates.size == 0:
            assert np.isnan(irr[i])
            continue
        guess = rates[np.argmin(np.abs(np.log1p(rates)))]  # the root nearest to 0 %
        # polished by Brent's method on the NPV itself, in a bracket around it
        width = 1e-3 * (1.0 + abs(guess))
        a, b = max(lo, guess - width), min(hi, guess + width)
        root = brentq(lambda r: _npv(flows, r), a, b, xtol=1e-15) if _npv(flows, a) * _npv(flows, b) < 0 else guess
        # the kept yearly cash is float32: each flow is off by at most 2^-24 of itself, which
        # moves the root by at most sum |delta_t| v^t / |NPV'(root)|
        t = np.arange(flows.size)
        slope = abs(np.sum(-t * flows / (1.0 + root) ** (t + 1)))
        err = np.r_[0.0, np.abs(cash[i]) + np.abs(paid[i])] + np.r_[np.abs(paid[i]), 0.0]
        bound = np.sum(err * 2.0**-24 / (1.0 + root) ** t) / slope
        assert abs(irr[i] - root) <= bound + 1e-10, (i, irr[i], root, bound)
        checked += 1
    assert checked > 0.9 * cash.shape[0]


def test_irr_known_cases():
    # -100 then +110: 10 %; -100, 0, +121: 10 %; all positive: no rate
    flows = np.array([[-100.0, 110.0, 0.0], [-100.0, 0.0, 121.0], [5.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    irr = internal_rate_of_return(flows)
    assert np.allclose(irr[:2], 0.10, atol=1e-12)
    assert np.isnan(irr[2:]).all()


def test_peak_need_is_the_trough_after_each_year_s_loans_and_capital_end_the_lending_rule(result):
    cash = result.year_paths("fund_cash_flow").to_numpy(dtype=float)
    paid = result.year_paths("fund_disbursed").to_numpy(dtype=float)
    need = result.paths["fund_peak_need"].to_numpy()
    for i in range(cash.shape[0]):  # the fund's till, year by year: loans out at the start, the rest at the end
        till, trough = 0.0, 0.0
        for t in range(cash.shape[1]):
            till -= paid[i, t]
            trough = min(trough, till)
            till += cash[i, t] + paid[i, t]
            trough = min(trough, till)
        scale = (np.abs(cash[i]).sum() + np.abs(paid[i]).sum()) * 2.0**-23  # the float32 of the kept yearly cash
        assert abs(need[i] - max(0.0, -trough)) <= scale, i
    # before the year's repayments come in, the fund has paid out more than its year-end cash says
    ends = np.maximum(0.0, -np.minimum.accumulate(np.cumsum(cash, axis=1), axis=1)[:, -1])
    assert np.all(need >= ends - 1.0) and np.mean(need - ends) > 1e5
    # what is left to lend: the capital, less what went out, plus (a revolving fund) the principal,
    # recoveries and clawbacks that came back; interest and operating costs are not lent again
    scenario = result.scenario
    assert scenario.fund.recycle and result.meta["n_loan_book"] == 0
    p = result.paths
    rule = (scenario.fund.capital - p["fund_lent"] - p["subsidies"] + p["fund_principal"] + p["fund_recoveries"]
            + p["clawbacks"]).to_numpy()
    assert np.allclose(p["fund_capital_end"].to_numpy(), rule, rtol=0, atol=1e-6 * scenario.fund.capital)
    cum = result.year_paths("fund_cumulative_cash").to_numpy(dtype=float)
    assert np.allclose(cum, np.cumsum(cash, axis=1), rtol=1e-6, atol=1.0)


def test_irr_at_the_discount_rate_means_zero_net_cost_one_path():
    """One firm that never defaults: its IRR is its loan rate (flows at year ends)."""
    data = {
        "simulation": {"paths": 10, "horizon_years": 4, "seed": 1, "discount_rate": 0.05},
        "fund": {"capital": 1e6},
        "policy": {"loan_per_job": 1e4, "loan_cap": 1e5, "rate": 0.07, "maturity_years": 3},
        "bank": {"threshold": 0.0, "gearing": 5.0},
        "sectors": [{"name": "a", "annual_pd": 0.0}],
        "territories": [{"name": "b"}],
        "pipeline": {"projects_per_year": 1, "investment_median": 1e6, "jobs_per_million": 10.0,
                     "equity_ratio_mean": 0.3},
    }
    r = levier.simulate(levier.Scenario.from_dict(data, source="<test>"))
    # lent at the start of year 1, repaid with interest at the ends of years 1..3
    assert np.allclose(r.paths["fund_irr"], 0.07, atol=1e-10)
    at_irr = levier.simulate(levier.Scenario.from_dict({**data, "simulation": {**data["simulation"],
                                                                               "discount_rate": 0.07}}))
    assert np.allclose(at_irr.paths["fund_net_cost"], 0.0, atol=1e-6)
    # the whole loan is out before the first repayment comes in; nothing is lent again (no recycle)
    assert np.allclose(r.paths["fund_peak_need"], 1e5)
    assert np.allclose(r.paths["fund_capital_end"], 1e6 - 1e5)
    revolving = levier.simulate(levier.Scenario.from_dict({**data, "fund": {"capital": 1e6, "recycle": True}}))
    assert np.allclose(revolving.paths["fund_capital_end"], 1e6)  # the principal back, the interest apart


def test_cli_table_shows_what_funds_report_and_what_a_board_asks(capsys):
    from levier.cli import main

    assert main(["run", str(SHIPPED), "--paths", "100", "--seed", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    for label in ("Jobs at the check year (year 3 of each project)", "Job-years", "Loss rate", "Fund IRR",
                  "Capital needed at the trough", "Capital left to lend (year 12"):
        assert label in out, label
    assert main(["run", str(SHIPPED), "--paths", "100", "--seed", "1", "--quiet", "--lang", "fr"]) == 0
    out = capsys.readouterr().out
    for label in ("Emplois-années", "TRI du fonds", "Capital nécessaire au creux", "Taux de perte"):
        assert label in out, label


def test_headline_rows_are_the_summary_and_ratio_values(result):
    from levier.present.display import headline_table

    table = headline_table(result)
    summary, ratios = result.summary(), result.ratios()
    assert table.loc["Fund IRR", "mean"] == summary.loc["fund_irr", "mean"]
    assert table.loc["Capital needed at the trough (€)", "mean"] == summary.loc["fund_peak_need", "mean"]
    assert table.loc["Loss rate (fund loss / fund lent)", "mean"] == ratios.loc["loss_rate", "value"]
    assert table.loc["Job-years", "mean"] == summary.loc["job_years", "mean"]


def test_irr_search_is_the_scalar_algorithm_to_the_bit():
    """The compiled search (the grid's NPVs in one vectorised loop) gives the bits of the same
    algorithm written out in plain Python: Horner's rule in exp(-g) per grid point, the sign
    change nearest to 0, 64 bisections, expm1 of the midpoint."""
    import math

    from levier.engine.finances import _BISECTIONS, _LOG_GRID

    def npv(row, g):
        v, total = math.exp(-g), 0.0
        for f in row[::-1]:
            total = total * v + f
        return total

    def sign(x):
        return 1.0 if x > 0 else (-1.0 if x < 0 else (0.0 if x == 0 else math.nan))

    def scalar_irr(row):
        values = [npv(row, g) for g in _LOG_GRID]
        cell, nearest = -1, math.inf
        for k in range(len(values) - 1):
            change = sign(values[k]) * sign(values[k + 1]) <= 0 and not (values[k] == 0 and values[k + 1] == 0)
            if change and abs(0.5 * (_LOG_GRID[k] + _LOG_GRID[k + 1])) < nearest:
                cell, nearest = k, abs(0.5 * (_LOG_GRID[k] + _LOG_GRID[k + 1]))
        if cell < 0:
            return math.nan
        a, b, fa = _LOG_GRID[cell], _LOG_GRID[cell + 1], values[cell]
        for _ in range(_BISECTIONS):
            mid = 0.5 * (a + b)
            fm = npv(row, mid)
            if sign(fm) == sign(fa):
                a, fa = mid, fm
            else:
                b = mid
        return math.expm1(0.5 * (a + b))

    rng = np.random.default_rng(13)
    flows = np.concatenate([-rng.uniform(0.5, 2.0, (60, 1)), rng.normal(0.15, 0.4, (60, 10))], axis=1)
    flows[0] = 0.0  # no sign change: NaN
    got = internal_rate_of_return(flows)
    want = np.array([scalar_irr(row) for row in flows])
    assert np.isnan(got[0]) and np.isfinite(got[1:]).sum() > 40
    assert np.array_equal(got.view(np.int64), want.view(np.int64))

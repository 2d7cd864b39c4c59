"""levier.breakeven: the loan rate at which the fund's expected net cost is zero."""

from __future__ import annotations

import re

import numpy as np
import pytest

import levier
from conftest import SHIPPED


def _no_default(discount: float, pd: float = 0.0, paths: int = 50) -> levier.Scenario:
    data = {
        "simulation": {"paths": paths, "horizon_years": 8, "seed": 1, "discount_rate": discount},
        "fund": {"capital": 1e7},
        "policy": {"loan_per_job": 1e4, "loan_cap": 1e5, "rate": 0.0, "maturity_years": 5, "grace_years": 1},
        "bank": {"threshold": 0.0, "gearing": 5.0},
        "sectors": [{"name": "a", "annual_pd": pd, "recovery_mean": 0.4}],
        "territories": [{"name": "b"}],
        "pipeline": {"projects_per_year": 5, "years": 2, "investment_median": 1e6, "jobs_per_million": 10.0,
                     "equity_ratio_mean": 0.3},
    }
    return levier.Scenario.from_dict(data, source="<test>")


def test_root_is_the_discount_rate_when_nothing_defaults():
    # loans repaid as agreed, no cost: the net cost is zero exactly when the loan rate is the
    # rate the flows are discounted at
    b = levier.breakeven(_no_default(0.045))
    assert b.rate == pytest.approx(0.045, abs=1e-6)
    assert b.se == pytest.approx(0.0, abs=1e-9)  # the same on every path
    assert b.slope < 0


def test_root_is_where_a_rerun_breaks_even_and_the_error_is_honest():
    s = _no_default(0.03, pd=0.04, paths=2000)
    b = levier.breakeven(s, seed=9)
    assert 0.03 < b.rate < 0.3 and b.se > 0
    # on the same paths the net cost at the root is zero (to the root-finder's tolerance)
    same = levier.simulate(s.with_overrides({"policy.rate": b.rate}), seed=9).paths["fund_net_cost"]
    assert abs(same.mean()) <= abs(b.slope) * 2e-6
    # on fresh paths it is zero within the Monte Carlo error (4 sigma, of the difference)
    fresh = levier.simulate(s.with_overrides({"policy.rate": b.rate}), seed=10).paths["fund_net_cost"]
    se_fresh = fresh.std(ddof=1) / np.sqrt(fresh.size)
    assert abs(fresh.mean()) <= 4 * np.hypot(se_fresh, abs(b.slope) * b.se)
    assert "Breakeven rate" in repr(b) and "<table" in b._repr_html_()
    assert list(b.to_frame().columns) == ["rate", "se", "low", "high", "slope", "paths"]


def test_no_sign_change_is_said():
    with pytest.raises(ValueError, match="does not change sign"):
        levier.breakeven(_no_default(0.045), bounds=(0.0, 0.01))


def test_cli_breakeven(capsys):
    from levier.cli import main

    assert main(["breakeven", str(SHIPPED), "--paths", "200", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "break-even loan rate" in out and "±" in out
    assert re.search(r"rate \d+\.\d+ % ± \d\.\d+ % \(95 %: \d+\.\d+ % – \d+\.\d+ %\)", out), out  # as "99 %" is written
    assert main(["breakeven", str(SHIPPED), "--paths", "50", "--high", "0.01"]) == 2
    assert "does not change sign" in capsys.readouterr().err

"""The tail of "more is better" metrics (jobs) is their lower tail, everywhere (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.names import GAIN_METRICS, LOSS_METRICS, PATH_COLUMNS, tail_side
from levier.stats import describe, weighted_tail

from conftest import make_scenario


def test_the_rule_has_one_home_and_covers_every_jobs_column():
    assert {c for c in PATH_COLUMNS if c.startswith("job") and c != "jobs_planned"} == set(GAIN_METRICS)
    assert all(tail_side(m) == "upper" for m in LOSS_METRICS)
    assert all(tail_side(m) == "lower" for m in GAIN_METRICS)


def test_lower_tail_var_and_es_are_the_worst_share_of_the_sample():
    x = np.random.default_rng(0).permutation(np.arange(1.0, 1001.0))  # 1 .. 1000
    out = describe(x, [0.5], [0.95, 0.99], side="lower")
    assert out["var_0.95"] == 51.0  # at least 51 with probability 95 %: P(X >= 51) = 0.95, the mirror of L_(950)
    assert out["es_0.95"] == pytest.approx(np.arange(1, 51).mean())  # the worst 50
    assert out["var_0.99"] == 11.0 and out["es_0.99"] == pytest.approx(5.5)
    assert out["var_0.95_low"] <= out["var_0.95"] <= out["var_0.95_high"]
    upper = describe(x, [0.5], [0.95])
    assert upper["var_0.95"] == 950.0 and upper["es_0.95"] == pytest.approx(np.arange(951, 1001).mean())
    var, es = weighted_tail(x, np.ones_like(x), 0.95, side="lower")
    assert (var, es) == (out["var_0.95"], pytest.approx(out["es_0.95"]))
    with pytest.raises(ValueError, match="side"):
        describe(x, [0.5], [0.9], side="left")


def test_summary_and_exceedance_of_jobs_are_of_the_shortfall():
    result = levier.simulate(make_scenario(), paths=1_000, seed=2)
    table = result.summary()
    jobs = result.paths["jobs_additional"].to_numpy()
    row = table.loc["jobs_additional"]
    assert row["es_0.99"] <= row["var_0.99"] <= row["var_0.95"] <= row["mean"]
    assert row["var_0.95"] == np.sort(jobs)[50]  # the 51st worst of 1 000 paths: 950 at or above it
    assert table.loc["fund_loss", "var_0.95"] >= table.loc["fund_loss", "mean"]  # losses: the upper tail, as before
    target = float(np.median(jobs))
    p, se = result.exceedance_probability("jobs_additional", target - 1)
    assert p == pytest.approx(np.mean(jobs < target - 1)) and p < 0.5
    assert np.isnan(table.loc["investment", "var_0.95"])

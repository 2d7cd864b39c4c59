"""Shipped public data, scenario targets, and the shipped scenarios against what they cite."""

from __future__ import annotations


import pytest

import levier
from levier.model import datasets
from levier.analysis.calibrate import check_calibration, pd_from_survival
from levier.cli import main
from levier.names import RATIOS
from levier.model.scenario import DERIVED_TARGET_METRICS, TARGET_METRICS

from conftest import ROOT, make_scenario

SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_every_shipped_row_has_a_source():
    assert set(datasets.available()) == {"assumption_ranges", "basel_lgd", "bdf_rating_scale", "default_rate_benchmarks",
                                         "insee_survival", "programme_figures", "recovery_by_rank"}
    for name in datasets.available():
        table = datasets.load(name)
        assert len(table) > 0
        assert table["source"].notna().all() and table["url"].notna().all(), name
        assert (table["source"].str.len() > 10).all(), name


def test_a_loaded_table_is_the_file_and_the_callers_own():
    """Read once per process, each call gets its own copy: what one caller changes, the next does
    not see; and the copy is the file as pandas reads it."""
    import pandas as pd
    from importlib import resources

    for name in datasets.available():
        first = datasets.load(name)
        with (resources.files("levier") / "data" / f"{name}.csv").open("r", encoding="utf-8") as fh:
            fresh = pd.read_csv(fh, dtype={"cote": str} if name == "bdf_rating_scale" else None)
        pd.testing.assert_frame_equal(first, fresh)
        first.iloc[0, 0] = None
        first["added"] = 1
        pd.testing.assert_frame_equal(datasets.load(name), fresh)


def test_shipped_figures_are_internally_consistent():
    f = datasets.load("programme_figures").set_index("id")
    # the derived figures follow from the published totals they cite
    assert f.loc["finorpa_per_job", "value"] == pytest.approx(400e6 / 59_000, rel=1e-3)
    assert f.loc["prt_2010_leverage", "value"] == pytest.approx(227.6 / 41.73, rel=1e-3)
    assert f.loc["prt_2010_investment_leverage", "value"] == pytest.approx(326.8 / 41.73, rel=1e-3)
    assert f.loc["lorraine_per_job", "value"] == pytest.approx(280e6 / 16_000, rel=1e-3)
    ranged = f.dropna(subset=["low", "high"])
    assert ((ranged["low"] <= ranged["value"]) & (ranged["value"] <= ranged["high"])).all()
    lgd = datasets.load("basel_lgd").set_index("claim")["lgd"]
    assert lgd["senior_unsecured"] == 0.45 and lgd["subordinated"] == 0.75


def test_insee_survival_gives_the_pds_the_scenarios_use():
    table = datasets.load("insee_survival")
    industry = table[(table.sector == "industrie") & (table.cohort == 2010)].sort_values("horizon_years")
    fit = pd_from_survival(industry.horizon_years, industry.survival)
    assert fit.parameters["annual_pd"] == pytest.approx(0.074, abs=5e-4)  # the new-firm PD the scenarios scale to their rating mix


def test_target_metrics_are_the_result_ratios_then_the_derived_ones():
    assert tuple(RATIOS) + DERIVED_TARGET_METRICS == TARGET_METRICS


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_reproduce_what_they_were_sized_on(path):
    scenario = levier.load_scenario(path)
    table = check_calibration(scenario, paths=1_500)
    assert len(table) >= 1, "every shipped scenario cites at least one published figure"
    for row in table[table.kind == "calibrated"].itertuples():
        assert row.agrees, (row.figure, row.levier, row.low, row.high)


def test_a_scenario_that_misses_its_figure_says_so(capsys):
    scenario = levier.load_scenario(ROOT / "scenarios" / "moselle_est.toml").with_overrides({"bank.gearing": 1.5})
    table = check_calibration(scenario, paths=500)
    leverage = table.set_index("figure").loc["prt_2010_leverage"]
    assert not leverage["agrees"] and leverage["levier"] < leverage["low"]


def test_targets_are_validated():
    with pytest.raises(levier.ScenarioError, match="targets\\[0\\].figure"):
        make_scenario(targets=[{"figure": "no_such_figure", "metric": "leverage_bank"}])
    with pytest.raises(levier.ScenarioError, match="targets\\[0\\].metric"):
        make_scenario(targets=[{"figure": "prt_2010_leverage", "metric": "happiness"}])
    with pytest.raises(levier.ScenarioError, match="targets\\[0\\].sector"):
        make_scenario(targets=[{"figure": "prt_2010_leverage", "metric": "leverage_bank", "sector": "chimie"}])


def test_check_calibration_command(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check-calibration", "--paths", "300", "scenarios/nord_pas_de_calais.toml"]) == 0
    out = capsys.readouterr().out
    assert "Finorpa" in out and "agrees" in out and "95 % MC" in out and "disagreement(s)" in out
    assert "[calibrated]" in out and "bank economics" in out
    assert "assemblee-nationale.fr" in out


def test_check_calibration_reports_disagreement(tmp_path, capsys):
    text = (ROOT / "scenarios" / "moselle_est.toml").read_text(encoding="utf-8").replace("gearing = 3.0", "gearing = 1.5")
    (tmp_path / "low.toml").write_text(text, encoding="utf-8")
    assert main(["check-calibration", "--paths", "300", str(tmp_path / "low.toml")]) == 0
    out = capsys.readouterr().out
    assert "DISAGREES: below the published range" in out

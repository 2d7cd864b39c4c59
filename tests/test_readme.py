"""Docs that stay true: the README's worked example is what `levier run` prints today."""

from __future__ import annotations

import re

import pytest

from levier.cli import main

from conftest import ROOT, SHIPPED


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(\S.*?)\s{2,}(-?[\d,.]+(?:\s+-?[\d,.]+)+)\s*$", line)
        if match:
            rows[match.group(1).strip()] = match.group(2).split()
    return rows


def test_readme_worked_example_matches_a_fresh_run(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("`levier run scenarios/moselle_est.toml` (20 000 paths", 1)[1].split("```", 2)[1]
    assert main(["run", str(SHIPPED)]) == 0
    fresh = capsys.readouterr().out
    documented, now = _table_rows(block), _table_rows(fresh)
    assert len(documented) >= 17
    for label, values in documented.items():
        assert now.get(label) == values, label
    assert block.strip().splitlines()[0] == fresh.strip().splitlines()[0]


def test_shipped_scenario_regression_values():
    # seeded regression values: a change in any of these is a change of the model, to be explained
    import levier

    result = levier.simulate(levier.load_scenario(SHIPPED), paths=1_000, seed=2005)
    mean = result.paths.mean()
    assert mean["n_financed"] == pytest.approx(55.092, abs=5e-4)
    assert mean["fund_loss"] == pytest.approx(REGRESSION["fund_loss"], rel=1e-12)
    assert mean["jobs_additional"] == pytest.approx(REGRESSION["jobs_additional"], rel=1e-12)
    assert mean["fund_net_cost"] == pytest.approx(REGRESSION["fund_net_cost"], rel=1e-12)


REGRESSION = {"fund_loss": 1303039.6265721216, "jobs_additional": 1294.5476680500592, "fund_net_cost": 5980857.177821924}


def test_readme_python_example_figures():
    import levier

    scenario = levier.load_scenario(SHIPPED)
    result = levier.simulate(scenario, paths=5_000, seed=1)
    assert f"{result.paths['jobs_additional'].mean():.0f}" == "1286"
    ratios = result.ratios()
    assert f"{ratios.loc['cost_per_job', 'value']:,.0f}" == "4,675"
    assert f"{ratios.loc['cost_per_job', 'mc_se']:.0f}" == "15"
    assert f"{ratios.loc['leverage_bank', 'value']:.3f}" == "5.027"
    assert f"{ratios.loc['loss_rate', 'value']:.3f}" == "0.069"
    generous = levier.simulate(scenario.with_overrides({"policy.loan_per_job": 15_000}), paths=5_000, seed=1)
    diff = generous.paths["jobs_additional"] - result.paths["jobs_additional"]
    assert f"{diff.mean():.1f}" == "-239.7" and f"{diff.std() / len(diff) ** 0.5:.2f}" == "1.46"


def test_readme_lists_every_per_path_column_in_order():
    """The README's list of per-path columns is the engine's, none missing, in the frame's order."""
    from levier.names import PATH_COLUMNS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = readme.split("Per path (`result.paths`):", 1)[1].split("Ratios with a zero denominator", 1)[0]
    listed = [name.strip() for quoted in re.findall(r"`([^`]+)`", paragraph) for name in quoted.split(",")]
    assert listed == list(PATH_COLUMNS)

"""The public names are a contract: adding one is a decision, removing one a breaking change."""

import levier


def test_public_names_are_pinned():
    assert sorted(levier.__all__) == sorted([
        "Comparison", "InputError", "LoanBookError", "OutputError", "Portfolio", "Scenario", "ScenarioError",
        "SimulationResult", "__version__", "build_portfolio", "compare", "exceedance_probability", "load_scenario",
        "optimise", "simulate", "stress", "sweep", "tail_risk", "write_result", "Breakeven", "breakeven",
        "compile_engine",
    ])
    for name in levier.__all__:
        assert hasattr(levier, name), name


def test_path_columns_contract(moselle):
    result = levier.simulate(moselle, paths=20, seed=0)
    contract = ["fund_lent", "fund_loss", "fund_net_cost", "bank_lent", "bank_loss", "investment", "n_financed",
                "n_additional", "n_defaults", "jobs_created", "jobs_additional", "job_years", "cost_per_job",
                "leverage_bank", "leverage_investment"]
    assert list(result.paths.columns[: len(contract)]) == contract
    assert result.paths.index.name == "path"


def test_submodules_reachable_from_the_package():
    assert callable(levier.analytic.vasicek_quantile)
    assert callable(levier.calibrate.pd_from_survival)
    assert callable(levier.lab.tornado) and callable(levier.lab.sensitivity)

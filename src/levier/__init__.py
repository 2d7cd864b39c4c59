"""levier — Monte Carlo simulation of a regional development fund's quasi-equity loans.

A development fund lends *prêts participatifs sans garantie* (quasi-equity loans, subordinated
and unsecured); banks count them as equity and co-finance the project (the *effet de levier*).
levier simulates the fund's portfolio — the bank's decision, correlated defaults, the recovery
waterfall, the fund's cash flows and the jobs created — and answers: how many jobs, at what cost
per job, how much bank money per euro, and how much can the fund lose.

Examples
--------
>>> import levier
>>> scenario = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
>>> result = levier.simulate(scenario, paths=5_000, seed=2005)  # doctest: +SKIP
>>> result.summary().loc[["jobs_additional", "fund_loss"], ["mean", "mc_se"]]  # doctest: +SKIP
"""

from levier._version import __version__
from levier.analysis import analytic, calibrate, instruments, lab  # noqa: F401 - submodules reachable as levier.lab etc.
from levier.model import datasets  # noqa: F401
from levier.engine.run import simulate
from levier.analysis.lab import Comparison, compare, optimise, sweep
from levier.analysis.breakeven import Breakeven, breakeven
from levier.errors import InputError, LoanBookError, OutputError, ScenarioError
from levier.model.portfolio import Portfolio, build_portfolio
from levier.engine.result import SimulationResult
from levier.model.scenario import Scenario, load_scenario
from levier.analysis.tail import exceedance_probability, tail_risk
from levier.analysis.stress import stress
from levier.present.output import write_result
from levier.warmup import compile_engine

__all__ = [
    "Breakeven",
    "Comparison",
    "InputError",
    "LoanBookError",
    "OutputError",
    "Portfolio",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "__version__",
    "breakeven",
    "build_portfolio",
    "compare",
    "compile_engine",
    "exceedance_probability",
    "load_scenario",
    "optimise",
    "simulate",
    "stress",
    "sweep",
    "tail_risk",
    "write_result",
]

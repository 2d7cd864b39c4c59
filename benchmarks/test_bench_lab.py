"""The policy lab's overhead: an optimisation's time against the time of the simulations it ran.

    LEVIER_BENCH_LAB_PATHS=20000 pytest benchmarks/test_bench_lab.py   # the issue's full size

The optimisation is the one of ``levier optimise scenarios/moselle_est.toml --over
policy.loan_per_job=3000:20000 --maximise jobs_additional --subject-to
'fund_loss.es_0.99<=9e6'``. Every simulation it runs is timed as it runs (one prepared run,
re-targeted at each point), so the two figures come from the same run; what remains — the
optimiser, the statistics, re-targeting the run — is the lab's overhead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import levier
from conftest import LAB
from levier.engine import run as run_layer

ROOT = Path(__file__).resolve().parents[1]
PATHS = int(os.environ.get("LEVIER_BENCH_LAB_PATHS", "2000"))


def test_optimise_costs_little_more_than_its_simulations(benchmark, monkeypatch):
    scenario = levier.load_scenario(ROOT / "scenarios" / "moselle_est.toml")
    spent = {"seconds": 0.0, "runs": 0}
    simulate = run_layer.PreparedRun.simulate

    def timed(self, progress=None):
        started = time.perf_counter()
        try:
            return simulate(self, progress)
        finally:
            spent["seconds"] += time.perf_counter() - started
            spent["runs"] += 1

    monkeypatch.setattr(run_layer.PreparedRun, "simulate", timed)

    def optimise():
        spent.update(seconds=0.0, runs=0)
        return levier.optimise(scenario, {"policy.loan_per_job": (3000, 20000)}, maximise="jobs_additional",
                               subject_to={"fund_loss.es_0.99": "<= 9e6"}, paths=PATHS)

    started = time.perf_counter()
    found = benchmark.pedantic(optimise, rounds=1, iterations=1)
    total = time.perf_counter() - started
    LAB["paths"] = PATHS
    LAB["runs"] = spent["runs"]
    LAB["total"] = total
    LAB["simulations"] = spent["seconds"]
    LAB["overhead share"] = (total - spent["seconds"]) / total
    benchmark.extra_info.update(LAB)
    assert found.x["policy.loan_per_job"] >= 3000

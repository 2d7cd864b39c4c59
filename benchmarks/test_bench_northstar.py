"""The north star: levier's full engine against the straightforward reference, same paths.

    pytest benchmarks/test_bench_northstar.py --benchmark-columns=min,median,rounds
    LEVIER_BENCH_PATHS=10000 pytest benchmarks/test_bench_northstar.py   # the issue's full size

Prints loan-path-years per second for both, their ratio, and levier's speed as a share of the
machine's raw uniform-draw rate, measured in the same run.
"""

from __future__ import annotations

import numpy as np

import levier
import reference
from conftest import PATHS, RESULTS
from northstar import HORIZON, N_LOANS

WORK = PATHS * N_LOANS * HORIZON  # loan-path-years


def test_levier_full_engine(benchmark, northstar):
    benchmark.extra_info["loan_path_years"] = WORK
    benchmark.pedantic(lambda: levier.simulate(northstar, paths=PATHS, seed=1), rounds=1, iterations=1)
    RESULTS["levier (loan-path-years)"] = WORK / benchmark.stats.stats.min


def test_reference_engine(benchmark, northstar):
    ref = reference.prepare(northstar)
    benchmark.extra_info["loan_path_years"] = WORK
    benchmark.pedantic(lambda: reference.simulate_losses(ref, PATHS, 1), rounds=1, iterations=1)
    RESULTS["reference (loan-path-years)"] = WORK / benchmark.stats.stats.min


def test_raw_uniform_rate(benchmark):
    rng = np.random.default_rng(0)
    size = 4_000_000
    benchmark(lambda: rng.random(size))
    RESULTS["raw uniform draws"] = size / benchmark.stats.stats.min

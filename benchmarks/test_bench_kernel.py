"""Where the kernel's time goes on the north star: what a loan costs when it survives, when it
defaults, and in the paths' own mix, measured in one run.

    pytest benchmarks/test_bench_kernel.py -s
    LEVIER_BENCH_PATHS=2048 pytest benchmarks/test_bench_kernel.py -s

The same prepared paths are handed to the compiled kernel three times (one thread, the fund's
finances left out): with their own default uniforms; with every uniform just below 1, so that no
loan defaults; and with every uniform at 0, so that every loan defaults in its first year (its
year search, recovery and waterfall done as for any defaulter; its recovery read from the first
cell of its sector's table, where the paths' own defaulters read cells all over it: a test with
a table of 256 cells instead of 16 384 moved no figure beyond the noise). The factors, the job draws and the plan are
the same in the three. A loan's cost in the mix beyond the average of the two pure cases,
weighted by the share of loans that default, is for the most part what the processor loses in
guessing the default test wrong: a coin toss it cannot learn, whose wrong guesses throw away the
work it had started on the next loans. These three figures bound what the kernel, as it is
written (one path at a time), can gain on its ratio to the reference.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

import levier
from conftest import KERNEL, PATHS
from levier.engine.paths import Draws, block_draws, plan_work, simulate_paths
from levier.model.terms import project_terms
from levier.streams import BLOCK_PATHS, coerce_seed
from northstar import N_LOANS

ROUNDS = 5


def test_loan_costs_by_outcome(benchmark, northstar):
    terms = project_terms(northstar, levier.build_portfolio(northstar))
    plan = plan_work(terms)
    blocks = -(-PATHS // BLOCK_PATHS)
    draws = Draws.concat([block_draws(terms, coerce_seed(1), block) for block in range(blocks)])
    n = draws.u_default.shape[0]
    cases = {
        "own draws": draws,
        "none defaults": replace(draws, u_default=np.full_like(draws.u_default, 1.0 - 2.0**-53)),
        "all default": replace(draws, u_default=np.zeros_like(draws.u_default)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    defaults: dict[str, float] = {}
    for name, case in cases.items():  # compiled or loaded, and each case's count of defaults
        block = simulate_paths(terms, case, plan, threads=1, finances=False)
        defaults[name] = float(block.paths["n_defaults"].mean())

    def one_round():
        for name, case in cases.items():  # round by round: a drift of the machine's speed moves all three alike
            started = time.perf_counter()
            simulate_paths(terms, case, plan, threads=1, finances=False)
            seconds[name].append(time.perf_counter() - started)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    per_loan = {name: 1e9 * min(times) / (n * N_LOANS) for name, times in seconds.items()}
    share = defaults["own draws"] / defaults["all default"]  # of the loans the kernel tests
    expected = (1.0 - share) * per_loan["none defaults"] + share * per_loan["all default"]
    KERNEL.update({f"a loan-path, {name}": ns for name, ns in per_loan.items()})
    KERNEL["share of the loans defaulting in the paths' own draws"] = share
    KERNEL["the mix's cost beyond the weighted pure cases"] = per_loan["own draws"] - expected
    assert defaults["none defaults"] == 0.0
    assert 0.0 < share < 1.0

"""The north star: levier's full engine against the straightforward reference, same paths.

    pytest benchmarks/test_bench_northstar.py --benchmark-columns=min,median,rounds
    LEVIER_BENCH_PATHS=10000 pytest benchmarks/test_bench_northstar.py   # the issue's full size

Both engines are prepared outside the timing (levier's loan book read and plan made, the
reference's arrays). Prints loan-path-years per second for levier on one thread and on all the
cores, for the reference, their ratios, and levier's speed as a share of its own random-draw
floor: the keyed streams of the same paths drawn alone (``block_draws``: the factors, defaults
and jobs; a loan book alone draws no bank decision), measured in the same run. The reference runs round by round next to levier, and levier's ratio to it is also
given round by round (median, lowest, highest): a shared machine's speed drifts during a run.
The compiled kernel is compiled (or loaded from its cache) before the timings.
"""

from __future__ import annotations

import os
import time

import numpy as np

import levier
import reference
from conftest import PAIRED, PATHS, RESULTS
from levier.engine.paths import block_draws
from levier.engine.run import prepare
from levier.model.terms import project_terms
from levier.streams import BLOCK_PATHS, coerce_seed
from northstar import HORIZON, N_LOANS

WORK = PATHS * N_LOANS * HORIZON  # loan-path-years
CORES = len(os.sched_getaffinity(0))
#: Rounds of every timing; each figure is its fastest round (a shared machine's speed drifts
#: within a run: the reference's single round moved its ratio by a quarter between runs).
ROUNDS = int(os.environ.get("LEVIER_BENCH_ROUNDS", "3"))


def _levier(benchmark, northstar, threads, name):
    levier.simulate(northstar, paths=2, seed=1, threads=threads)  # compile or load once, outside the timing
    # prepared once outside the timing (the loan book read, the plan made), as the reference's is
    run = prepare(northstar, paths=PATHS, seed=1, threads=threads)
    benchmark.extra_info.update(loan_path_years=WORK, threads=threads)
    benchmark.pedantic(run.simulate, rounds=ROUNDS, iterations=1)
    RESULTS[name] = WORK / benchmark.stats.stats.min


def test_levier_full_engine_one_thread(benchmark, northstar):
    _levier(benchmark, northstar, 1, "levier, 1 thread (loan-path-years)")


def test_levier_full_engine_all_cores(benchmark, northstar):
    _levier(benchmark, northstar, CORES, f"levier, {CORES} threads (loan-path-years)")


def test_random_draw_floor(benchmark, northstar):
    """The paths' streams alone, as levier draws them: what no engine using them can beat."""
    terms = project_terms(northstar, levier.build_portfolio(northstar))
    root = coerce_seed(1)
    blocks = -(-PATHS // BLOCK_PATHS)

    def draw():
        for block in range(blocks):
            block_draws(terms, root, block)

    benchmark.pedantic(draw, rounds=ROUNDS, iterations=1)
    RESULTS["its streams alone (loan-path-years)"] = blocks * BLOCK_PATHS * N_LOANS * HORIZON / benchmark.stats.stats.min


def test_reference_engine_round_by_round(benchmark, northstar):
    """The reference, each round next to a round of levier on one thread and on all the cores:
    the ratios are taken round by round, so that a drift of the machine's speed during the run
    (a shared machine's is large) moves both sides of each ratio alike."""
    ref = reference.prepare(northstar)
    runs = {threads: prepare(northstar, paths=PATHS, seed=1, threads=threads) for threads in sorted({1, CORES})}
    for threads in runs:
        levier.simulate(northstar, paths=2, seed=1, threads=threads)  # compiled or loaded, outside the timing
    seconds: dict = {"reference": [], **{threads: [] for threads in runs}}

    def one_round():
        for threads, run in runs.items():
            started = time.perf_counter()
            run.simulate()
            seconds[threads].append(time.perf_counter() - started)
        started = time.perf_counter()
        reference.simulate_losses(ref, PATHS, 1)
        seconds["reference"].append(time.perf_counter() - started)

    benchmark.extra_info["loan_path_years"] = WORK
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    RESULTS["reference (loan-path-years)"] = WORK / min(seconds["reference"])
    for threads in runs:
        ratios = np.array(seconds["reference"]) / np.array(seconds[threads])
        PAIRED[f"levier, {threads} thread{'s' if threads > 1 else ''}"] = (
            float(np.median(ratios)), float(ratios.min()), float(ratios.max()))

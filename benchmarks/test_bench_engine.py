"""Speed of levier (pytest-benchmark). Not part of the normal test run; run with

    pytest benchmarks --benchmark-columns=min,median,mean,rounds

Compare the rows as ratios within one run: absolute times on a shared machine are noisy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import levier
from levier.engine.paths import block_draws, simulate_paths
from levier.model.terms import project_terms
from levier.streams import BLOCK_PATHS, coerce_seed

SHIPPED = Path(__file__).resolve().parents[1] / "scenarios" / "moselle_est.toml"


@pytest.fixture(scope="module")
def moselle():
    return levier.load_scenario(SHIPPED)


def test_north_star_moselle_est_end_to_end(benchmark, moselle):
    """The README's main job at 5 000 paths: load → simulate → summary tables."""

    def run():
        result = levier.simulate(moselle, paths=5_000)
        return result.summary(), result.by_year(), result.by_sector()

    benchmark.extra_info["paths"] = 5_000
    benchmark.pedantic(run, rounds=3, iterations=1)


def test_one_block_kernel(benchmark, moselle):
    """One block of 128 paths: draws + vectorised kernel (the unit a scheduler hands out)."""
    portfolio = levier.build_portfolio(moselle)
    terms = project_terms(moselle, portfolio)
    root = coerce_seed(1)
    benchmark.extra_info["loan_path_years"] = BLOCK_PATHS * terms.n_projects * terms.horizon
    benchmark(lambda: simulate_paths(terms, block_draws(terms, root, 0)))


def test_raw_uniform_draws_for_one_block(benchmark, moselle):
    """The machine's raw uniform rate for the same number of draws as one block's default stream."""
    terms = project_terms(moselle, levier.build_portfolio(moselle))
    rng = np.random.default_rng(1)
    benchmark(lambda: rng.random((BLOCK_PATHS, terms.n_projects)))

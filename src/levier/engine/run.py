"""The run layer: a prepared run, and its paths run chunk by chunk, locally or on Dask."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from levier._version import __version__
from levier.engine.cohorts import Plan, plan_work
from levier.engine.paths import Draws, PathBlock, block_draws, simulate_paths
from levier.engine.resources import default_chunk_size
from levier.engine.result import SimulationResult
from levier.model.portfolio import Portfolio, build_portfolio
from levier.model.scenario import Scenario
from levier.model.terms import Terms, project_terms
from levier.names import PATH_COLUMNS, SECTOR_COLUMNS, YEAR_COLUMNS
from levier.streams import BLOCK_PATHS, SAMPLERS, SobolFactors, coerce_seed, entropy_of

__all__ = ["KEEP", "Collector", "iterate_chunks", "simulate", "simulate_range"]

def iterate_chunks(
    terms: Terms,
    root: np.random.SeedSequence,
    n_paths: int,
    chunk: int,
    factor_shift: np.ndarray | None = None,
    sampler: str = "random",
    first: int = 0,
):
    """Yield ``(start, stop, draws)`` for consecutive chunks of paths ``first .. n_paths - 1``.

    The draws of each path come from its block's streams (a block's draws are made once and
    reused while chunks cross it), so they never depend on ``chunk``. ``factor_shift`` (T, F),
    if given, is added to every path's factor shocks (importance sampling, :mod:`levier.analysis.tail`).
    ``sampler="sobol"`` takes the factor shocks from a scrambled Sobol' sequence.
    """
    sobol = SobolFactors(root, terms.horizon, terms.n_factors) if sampler == "sobol" else None
    cached: tuple[int, Draws] | None = None
    for start in range(first, n_paths, chunk):
        stop = min(start + chunk, n_paths)
        parts = []
        for block in range(start // BLOCK_PATHS, (stop - 1) // BLOCK_PATHS + 1):
            if cached is None or cached[0] != block:
                cached = (block, block_draws(terms, root, block, sobol))
            lo = max(start, block * BLOCK_PATHS) - block * BLOCK_PATHS
            hi = min(stop, (block + 1) * BLOCK_PATHS) - block * BLOCK_PATHS
            parts.append(cached[1].rows(lo, hi))
        draws = Draws.concat(parts)
        if factor_shift is not None:
            draws = replace(draws, shocks=draws.shocks + factor_shift)
        yield start, stop, draws


def simulate_range(terms: Terms, plan: Plan, root: np.random.SeedSequence, start: int, stop: int, chunk: int,
                   sampler: str = "random") -> PathBlock:
    """Paths ``start .. stop - 1``, chunk by chunk: the pure unit of work of a distributed run.

    Its result depends only on its arguments — not on the chunk, nor on which process runs it.
    """
    parts = [simulate_paths(terms, draws, plan)
             for _, _, draws in iterate_chunks(terms, root, stop, chunk, sampler=sampler, first=start)]
    return PathBlock.concat(parts)


#: What :func:`simulate` keeps path by path (see its ``keep`` parameter).
KEEP = ("all", "compact")


class Collector:
    """Gathers the per-path reductions of consecutive chunks into a :class:`SimulationResult`.

    Per-path metrics are kept in float64, per-year ones in float32 (7 significant digits: a
    tenth of a euro on a million), group ones by ``keep``. Means of the per-year and group
    metrics are running sums taken path by path in path order (``cumsum``, which adds
    sequentially), so they are the same to the last bit however the paths were chunked.
    """

    def __init__(self, n_paths: int, terms: Terms, keep: str = "all"):
        horizon, self.n_paths = terms.horizon, n_paths
        self.paths = {name: np.empty(n_paths) for name in PATH_COLUMNS}
        self.years = {name: np.empty((n_paths, horizon), dtype=np.float32) for name in YEAR_COLUMNS}
        kept = SECTOR_COLUMNS if keep == "all" else ("fund_loss",)
        self.groups = {
            by: {name: np.empty((n_paths, size), dtype=np.float64 if name == "fund_loss" else np.float32) for name in kept}
            for by, size in (("sector", terms.n_sectors), ("territory", terms.n_territories))
        }
        self.year_sums = {name: np.zeros(horizon) for name in YEAR_COLUMNS}
        self.group_sums = {
            by: {name: np.zeros(size) for name in SECTOR_COLUMNS}
            for by, size in (("sector", terms.n_sectors), ("territory", terms.n_territories))
        }

    @staticmethod
    def _running(total: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.cumsum(np.concatenate([total[None, :], values]), axis=0)[-1]

    def add(self, start: int, stop: int, block: PathBlock) -> None:
        for name, values in block.paths.items():
            self.paths[name][start:stop] = values
        for name, values in block.by_year.items():
            self.years[name][start:stop] = values
            self.year_sums[name] = self._running(self.year_sums[name], values)
        for by, values_by in (("sector", block.by_sector), ("territory", block.by_territory)):
            for name, values in values_by.items():
                if name in self.groups[by]:
                    self.groups[by][name][start:stop] = values
                self.group_sums[by][name] = self._running(self.group_sums[by][name], values)

    def result(self, scenario: Scenario, portfolio: Portfolio, meta: dict) -> SimulationResult:
        n = self.n_paths
        return SimulationResult(
            scenario=scenario,
            portfolio=portfolio,
            path_values=self.paths,
            year_values=self.years,
            sector_values=self.groups["sector"],
            territory_values=self.groups["territory"],
            year_means={name: total / n for name, total in self.year_sums.items()},
            sector_means={name: total / n for name, total in self.group_sums["sector"].items()},
            territory_means={name: total / n for name, total in self.group_sums["territory"].items()},
            meta=meta,
        )


def simulate(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    portfolio: Portfolio | None = None,
    keep: str = "all",
    sampler: str = "random",
    progress: Any = None,
    client: Any = None,
    check_resources: bool = True,
    stress: str | None = None,
) -> SimulationResult:
    """Run the Monte Carlo simulation of a scenario.

    Parameters
    ----------
    scenario : Scenario
        From :func:`levier.load_scenario` (or :meth:`Scenario.from_dict`).
    paths : int, optional
        Number of Monte Carlo paths (default: ``simulation.paths``).
    seed : int, SeedSequence, Generator or None, optional
        Anything :func:`numpy.random.default_rng` accepts (default: ``simulation.seed``; if that
        is absent too, fresh entropy, recorded in ``result.meta``). Same seed, same results.
    chunk_size : int, optional
        Paths processed at once. It bounds memory and never changes the results.
    portfolio : Portfolio, optional
        The scenario's projects, if already built (default: :func:`build_portfolio`).
    keep : {"all", "compact"}, optional
        What is kept path by path besides the per-path metrics (float64) and the per-year
        metrics (float32): ``"all"`` keeps every :data:`~levier.names.SECTOR_COLUMNS` metric by
        path and sector / territory (float32; fund loss in float64); ``"compact"`` keeps only the
        fund loss by group (for the ES contributions) and the means of the others.
    sampler : {"random", "sobol"}, optional
        How the systematic factors are sampled: pseudo-random normals (default) or a scrambled
        Sobol' sequence (quasi-Monte Carlo). Sobol' cuts the error of means by about 2x in
        standard deviation on Moselle-Est (``benchmarks/test_bench_qmc.py``), not that of the
        far quantiles; ``mc_se`` keeps the iid formula, conservative under Sobol'. Use a power
        of 2 paths.
    progress : callable, optional
        Called as ``progress(paths_done, paths_total)`` after each chunk (e.g. a
        :class:`levier.present.display.ProgressBar`).
    client : distributed.Client, optional
        Run the chunks as tasks on a Dask cluster (``pip install 'levier[dask]'``): the
        scenario's arrays are scattered once, each task returns its paths' reductions, and the
        result is the same, byte for byte, as a local run (see :mod:`levier.engine.dask`).
    check_resources : bool, optional
        Refuse up front a run whose estimated memory or time is beyond reason
        (:func:`levier.resources.check`, a :class:`~levier.resources.ResourceError`).
    stress : str, optional
        The name of one of the scenario's ``[[stresses]]``: its factor values are imposed, the
        rest stays random, on the same random numbers as the baseline (so the two compare path
        by path; :func:`levier.stress` does that).

    Returns
    -------
    SimulationResult

    Notes
    -----
    Working memory is O(chunk_size · m) for m projects, whatever the number of paths; the kept
    per-path outputs take ``8 · 26 + 4 · 7 · T`` bytes a path, plus ``8 · (S + K)`` (compact) or
    ``48 · (S + K)`` (all) for S sectors and K territories. Nothing of size paths × projects is
    ever held.
    Random streams are keyed by (seed, block of 128 paths, purpose); see :mod:`levier.streams`.

    Examples
    --------
    >>> import levier
    >>> s = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
    >>> levier.simulate(s, paths=2_000, seed=1).summary().loc["jobs_additional", "mean"]  # doctest: +SKIP
    """
    started = time.perf_counter()
    n_paths = int(scenario.simulation.paths if paths is None else paths)
    if n_paths < 1:
        raise ValueError(f"paths must be at least 1, got {n_paths}")
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}, got {keep!r}")
    if check_resources and client is None:
        from levier.engine.resources import check

        check(scenario, n_paths, chunk_size, keep)
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    portfolio = build_portfolio(scenario) if portfolio is None else portfolio
    terms = project_terms(scenario, portfolio, stress)
    chunk = default_chunk_size(terms.n_projects, n_paths) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk}")
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}, got {keep!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")

    collector = Collector(n_paths, terms, keep)
    plan = plan_work(terms)
    if client is not None:
        from levier.engine.dask import map_ranges, tuned

        for start, stop, block in map_ranges(client, tuned(simulate_range), [terms, plan], n_paths, chunk,
                                             (root, chunk, sampler), progress):
            collector.add(start, stop, block)
    else:
        for start, stop, draws in iterate_chunks(terms, root, n_paths, chunk, sampler=sampler):
            collector.add(start, stop, simulate_paths(terms, draws, plan))
            if progress is not None:
                progress(stop, n_paths)
    horizon = terms.horizon

    meta = {
        "levier_version": __version__,
        "numpy_version": np.__version__,
        "scenario_name": scenario.meta.name,
        "scenario_source": scenario.source,
        "scenario_hash": scenario.content_hash(),
        "seed_entropy": entropy_of(root),
        "seed_spawn_key": list(root.spawn_key),
        "paths": n_paths,
        "block_paths": BLOCK_PATHS,
        "chunk_size": chunk,
        "n_projects": terms.n_projects,
        "n_loan_book": terms.n_book,
        "horizon_years": horizon,
        "elapsed_seconds": round(time.perf_counter() - started, 3),
    }
    if stress is not None:
        meta["stress"] = stress
    meta["keep"] = keep
    meta["sampler"] = sampler
    meta["dask_workers"] = len(client.scheduler_info()["workers"]) if client is not None else 0
    return collector.result(scenario, portfolio, meta)

"""The run layer: a scenario prepared once, and its paths run range by range, locally or on Dask.

:func:`prepare` turns a scenario into a :class:`PreparedRun` — portfolio, terms, plan, the seed's
root, the chunk size, the resource check — and :meth:`PreparedRun.ranges` runs one unit of work
over consecutive ranges of paths and hands the results back in path order, on this machine or
as Dask tasks. :func:`simulate`, the tail estimators and every function of the policy lab go
through it: the seed rule, the chunking and the dispatch are written here and nowhere else.

A unit of work is a pure function ``task(terms, plan, start, stop, root, chunk, *args)`` of the
paths ``start .. stop - 1``: its result depends on its arguments only, never on the ranges, the
chunk size or the process that runs it (random streams are keyed by block of paths,
:mod:`levier.streams`), so every way of cutting the paths gives the same bytes.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from levier._version import __version__
from levier.engine.paths import (FINANCE_PATHS, Draws, PathBlock, Plan, Twist, block_draws, plan_work, simulate_paths,
                                 thread_pool, with_finances)
from levier.engine.resources import available_memory, check, default_chunk_size
from levier.engine.result import SimulationResult
from levier.model.portfolio import Portfolio, build_portfolio, check_portfolio, portfolio_key
from levier.model.scenario import Scenario
from levier.model.terms import Terms, project_terms
from levier.names import PATH_COLUMNS, SECTOR_COLUMNS, YEAR_COLUMNS
from levier.progress import Progress, as_progress
from levier.streams import BLOCK_PATHS, SAMPLERS, SobolFactors, coerce_seed, entropy_of, whole_blocks

__all__ = ["KEEP", "Collector", "DrawCache", "DrawPool", "PreparedRun", "iterate_chunks", "prepare", "seed_root", "simulate",
           "simulate_range"]

#: What :func:`simulate` keeps path by path (see its ``keep`` parameter).
KEEP = ("all", "compact")


def seed_root(scenario: Scenario, seed: Any = None) -> np.random.SeedSequence:
    """The seed rule, in its one home: ``seed`` if given, else ``simulation.seed``, else fresh
    entropy (recorded in the result). A SeedSequence passed in is copied, never mutated."""
    return coerce_seed(scenario.simulation.seed if seed is None else seed)


def _in_dask_worker() -> bool:
    if "distributed" not in sys.modules:  # a worker has imported it; importing it to ask costs half a second
        return False
    try:
        from distributed import get_worker
    except ImportError:  # no Dask here, so no worker either
        return False
    try:
        get_worker()
    except ValueError:  # Dask's way of saying "not in a worker"
        return False
    return True


def default_threads() -> int:
    """The kernel's threads by default: the cores this process may use, 1 in a Dask worker."""
    if _in_dask_worker():
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


class DrawPool:
    """The draws of blocks a thread has finished with, lent to its next block (``block_draws(reuse=)``):
    a large book's fresh arrays cost a third of its draws in pages to fault in. One per run, its
    threads each with their own; what a run leaves in it goes with the run."""

    def __init__(self) -> None:
        self._spent: dict[int, Draws] = {}
        self._lock = threading.Lock()

    def take(self) -> Draws | None:
        with self._lock:
            return self._spent.pop(threading.get_ident(), None)

    def give(self, draws: Draws) -> None:
        with self._lock:
            self._spent[threading.get_ident()] = draws


class DrawCache:
    """The draws of a run's chunks, kept for the run's next simulations on the same paths: the
    policy lab re-targets one prepared run at every point of a search (common random numbers, so
    the very same numbers), which then draws them once. Up to ``limit`` bytes; beyond it chunks
    are drawn as before. A chunk's draws are keyed by all they depend on — the seed, the sampler,
    the chunk, and the terms' shapes and streams (projects, years, factors, bank decisions,
    vigilance, the t copula's degrees of freedom) — so a policy that changes any of them draws
    afresh. The numbers are the same either way; only their cost goes."""

    def __init__(self, limit: float) -> None:
        self.limit = float(limit)
        self.size = 0
        self._draws: dict[tuple, Draws] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(terms: Terms, root: np.random.SeedSequence, sampler: str, start: int, stop: int) -> tuple:
        return (repr(root.entropy), tuple(root.spawn_key), sampler, start, stop, terms.n_projects, terms.horizon,
                terms.n_factors, terms.bank_decides, terms.vigilance is not None, terms.degrees_of_freedom)

    def get(self, key: tuple) -> Draws | None:
        with self._lock:
            return self._draws.get(key)

    def put(self, key: tuple, draws: Draws) -> None:
        nbytes = sum(a.nbytes for a in vars(draws).values() if isinstance(a, np.ndarray))
        with self._lock:
            if key not in self._draws and self.size + nbytes <= self.limit:
                self._draws[key] = draws
                self.size += nbytes


def iterate_chunks(
    terms: Terms,
    root: np.random.SeedSequence,
    n_paths: int,
    chunk: int,
    factor_shift: np.ndarray | None = None,
    sampler: str = "random",
    first: int = 0,
    pool: DrawPool | None = None,
    cache: DrawCache | None = None,
) -> Iterator[tuple[int, int, Draws]]:
    """Yield ``(start, stop, draws)`` for consecutive chunks of paths ``first .. n_paths - 1``.

    The draws of each path come from its block's streams (a block's draws are made once and
    reused while chunks cross it), so they never depend on ``chunk``. ``factor_shift`` (T, F),
    if given, is added to every path's factor shocks (importance sampling, :mod:`levier.analysis.tail`).
    ``sampler="sobol"`` takes the factor shocks from a scrambled Sobol' sequence. With a ``pool``
    a block's default uniforms and job normals are drawn into the arrays of the block before
    (``block_draws(reuse=)``; the first block into those the pool lends, the last one given to it
    when the chunks are done): a chunk's draws then hold only until the next chunk is asked for,
    which is how :func:`simulate_range` reads them (its factor shocks are always its own). With a
    ``cache`` a chunk's draws already made are taken from it, and new ones are kept there (no
    ``pool`` then: kept arrays are not drawn into again).
    """
    sobol = SobolFactors(root, terms.horizon, terms.n_factors) if sampler == "sobol" else None
    cached: tuple[int, Draws] | None = None
    pool = None if cache is not None else pool
    for start in range(first, n_paths, chunk):
        stop = min(start + chunk, n_paths)
        draws = None
        if cache is not None:
            key = DrawCache.key(terms, root, sampler, start, stop)
            draws = cache.get(key)
        if draws is None:
            parts: list[Draws] = []
            for block in range(start // BLOCK_PATHS, (stop - 1) // BLOCK_PATHS + 1):
                if cached is None or cached[0] != block:
                    # the block before is spent unless this chunk began in it (it is among the parts)
                    spent = None
                    if pool is not None and not parts:
                        spent = cached[1] if cached is not None else pool.take()
                    cached = (block, block_draws(terms, root, block, sobol, reuse=spent))
                lo = max(start, block * BLOCK_PATHS) - block * BLOCK_PATHS
                hi = min(stop, (block + 1) * BLOCK_PATHS) - block * BLOCK_PATHS
                parts.append(cached[1].rows(lo, hi))
            draws = Draws.concat(parts)
            if cache is not None:
                cache.put(key, draws)
        if factor_shift is not None:
            draws = replace(draws, shocks=draws.shocks + factor_shift)
        yield start, stop, draws
    if pool is not None and cached is not None:  # the last chunk is done with: lend its block
        pool.give(cached[1])


def simulate_range(
    terms: Terms,
    plan: Plan,
    start: int,
    stop: int,
    root: np.random.SeedSequence,
    chunk: int,
    sampler: str = "random",
    factor_shift: np.ndarray | None = None,
    twist: Twist | None = None,
    only: str | None = None,
    keep_shocks: bool = False,
    threads: int = 1,
    pool: DrawPool | None = None,
    cache: DrawCache | None = None,
) -> PathBlock:
    """Paths ``start .. stop - 1``, chunk by chunk: the engine's one unit of work.

    With ``factor_shift`` (importance sampling) the factor shocks are shifted and the block's
    ``log_weight`` holds each path's log likelihood ratio (the shift's, plus the twist's if a
    ``twist`` is given). ``only`` keeps just that per-path metric (the tail estimators need no
    more); ``keep_shocks`` keeps the factor shocks (the cross-entropy pilots); ``threads`` share
    each chunk's paths in the compiled kernel; a ``pool`` (local runs) lends it the arrays of the
    thread's previous range, a ``cache`` (:class:`DrawCache`) the draws a run made before. Its result depends only on its paths' draws — not on the chunk, the
    threads, nor on which process runs it.
    """
    parts = []
    # the fund's finances once for the whole range, not chunk by chunk (the same numbers: numpy's
    # cost per call made them several per cent of a run); per chunk only if ``only`` is one of them
    per_chunk = only in FINANCE_PATHS
    pool = DrawPool() if pool is None else pool  # without a run's pool, the range's blocks still share
    for _, _, draws in iterate_chunks(terms, root, stop, chunk, factor_shift, sampler, first=start, pool=pool,
                                      cache=cache):
        block = simulate_paths(terms, draws, plan, twist, threads=threads, finances=per_chunk)
        log_weight = block.log_weight
        if factor_shift is not None:
            shifted = -(draws.shocks * factor_shift).sum(axis=(1, 2)) + 0.5 * float((factor_shift * factor_shift).sum())
            log_weight = shifted if log_weight is None else log_weight + shifted
        if only is not None:
            block = PathBlock({only: block.paths[only]}, {}, {}, {})
        parts.append(replace(block, log_weight=log_weight, shocks=draws.shocks if keep_shocks else None))
    block = PathBlock.concat(parts)
    return with_finances(block, plan) if only is None else block


class Collector:
    """Gathers the per-path reductions of consecutive ranges into a :class:`SimulationResult`.

    Per-path metrics are kept in float64, per-year ones in float32 (7 significant digits: a
    tenth of a euro on a million), group ones by ``keep``. Means of the per-year and group
    metrics are running sums taken path by path in path order (``cumsum``, which adds
    sequentially), so they are the same to the last bit however the paths were cut.
    """

    def __init__(self, n_paths: int, terms: Terms, keep: str = "all"):
        horizon, self.n_paths = terms.horizon, n_paths
        # zeroed arrays, and a chunk of zeros is not written (_put): the pages of a column that
        # stays 0 — a mechanism the run does not use, a subsidy it does not pay — are never
        # touched, and the system gives them no memory (a fifth of what a run keeps, on the
        # memory benchmark's book)
        self.paths = {name: np.zeros(n_paths) for name in PATH_COLUMNS}
        self.years = {name: np.zeros((n_paths, horizon), dtype=np.float32) for name in YEAR_COLUMNS}
        kept = SECTOR_COLUMNS if keep == "all" else ("fund_loss",)
        self.groups = {
            by: {name: np.zeros((n_paths, size), dtype=np.float64 if name == "fund_loss" else np.float32) for name in kept}
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

    @staticmethod
    def _put(target: np.ndarray, start: int, stop: int, values: np.ndarray) -> None:
        """``target[start:stop] = values``, unless every value is +0.0 (bit for bit: a -0.0 or a
        NaN is written), which the zeroed target already holds."""
        if np.ascontiguousarray(values).view(np.uint8).any():  # no copy for the kernel's arrays
            target[start:stop] = values

    def add(self, start: int, stop: int, block: PathBlock) -> None:
        for name, values in block.paths.items():
            self._put(self.paths[name], start, stop, values)
        for name, values in block.by_year.items():
            self._put(self.years[name], start, stop, values)
            self.year_sums[name] = self._running(self.year_sums[name], values)
        for by, values_by in (("sector", block.by_sector), ("territory", block.by_territory)):
            for name, values in values_by.items():
                if name in self.groups[by]:
                    self._put(self.groups[by][name], start, stop, values)
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


@dataclass(frozen=True, eq=False)
class PreparedRun:
    """A scenario made ready to run: its projects, terms and plan, the seed's root, the chunk.

    Build it with :func:`prepare`; :meth:`with_scenario` re-targets it at another policy on the
    same paths (common random numbers) and reuses the projects when the policy change leaves
    them alone, which is what the policy lab does at every evaluation.
    """

    scenario: Scenario
    portfolio: Portfolio
    terms: Terms
    plan: Plan
    root: np.random.SeedSequence
    paths: int
    chunk: int
    keep: str = "all"
    sampler: str = "random"
    client: Any = None
    threads: int = 1
    stress: str | None = None  #: the ``[[stresses]]`` entry imposed on the factors, if any
    draws: DrawCache | None = None  #: the draws kept for the next simulations (:class:`DrawCache`; local runs)

    def with_scenario(self, scenario: Scenario) -> PreparedRun:
        """The same run (seed, paths, chunk, client) for another scenario."""
        if scenario is self.scenario:
            return self
        same = portfolio_key(scenario) == portfolio_key(self.scenario)
        portfolio = self.portfolio if same else build_portfolio(scenario)
        terms = project_terms(scenario, portfolio, self.stress)
        return replace(self, scenario=scenario, portfolio=portfolio, terms=terms, plan=plan_work(terms))

    def keeping_draws(self) -> PreparedRun:
        """This run, keeping its draws for its next simulations (a :class:`DrawCache` of up to a
        quarter of the memory available, at most 1 GiB), for a caller that runs the same paths
        again and again (the policy lab); a Dask run as it is (its draws are made by the workers)."""
        if self.client is not None or self.draws is not None:
            return self
        free = available_memory()
        return replace(self, draws=DrawCache(min(2.0**30, 0.25 * free) if free else 2.0**28))

    def with_stress(self, name: str | None) -> PreparedRun:
        """The same run with the factor values of the scenario's stress ``name`` imposed (None:
        none): the same paths and draws, so that it compares with the baseline path by path.

        Raises
        ------
        KeyError
            If the scenario has no stress of that name.
        """
        terms = project_terms(self.scenario, self.portfolio, name)
        return replace(self, terms=terms, plan=plan_work(terms), stress=name)

    def ranges(
        self,
        task: Callable[..., Any],
        args: tuple = (),
        *,
        paths: int | None = None,
        root: np.random.SeedSequence | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[int, int, Any]]:
        """Run ``task(terms, plan, start, stop, root, chunk, *args)`` over consecutive ranges
        of ``paths`` paths (default: the run's) and yield ``(start, stop, result)`` in path order.

        Locally the ranges are a few blocks long (so that progress moves); on Dask they are the
        tasks of :func:`levier.engine.dask.map_ranges`. The results never depend on the ranges.
        """
        n = self.paths if paths is None else int(paths)
        root = self.root if root is None else root
        if self.client is not None:
            from levier.engine.dask import map_ranges, tuned

            yield from map_ranges(self.client, tuned(task), [self.terms, self.plan], n, self.chunk,
                                  (root, self.chunk, *args), progress)
            return
        step = self._step()
        edges = [(start, min(start + step, n)) for start in range(0, n, step)]
        workers = self.workers(n)
        if workers == 1:
            for start, stop in edges:
                yield start, stop, task(self.terms, self.plan, start, stop, root, self.chunk, *args)
                if progress is not None:
                    progress(stop, n)
            return
        # ranges side by side on the run's threads (numpy's generators and the kernel release the
        # GIL), a few at a time so that memory stays a few chunks, handed back in path order
        pool = thread_pool(workers, "levier-range")
        pending: deque = deque()
        todo = iter(edges)

        def submit(count: int) -> None:
            for start, stop in itertools.islice(todo, count):
                pending.append((start, stop, pool.submit(task, self.terms, self.plan, start, stop, root, self.chunk,
                                                         *args)))

        try:
            submit(workers + 1)
            while pending:
                start, stop, future = pending.popleft()
                result = future.result()
                submit(1)
                yield start, stop, result
                if progress is not None:
                    progress(stop, n)
        finally:  # stopped early (an error, an interrupt): what has not started will not
            for _, _, future in pending:
                future.cancel()

    def _step(self) -> int:
        """Paths of a local range: at least a chunk, in whole blocks (each block's draws made once:
        ranges of whole chunks that straddled blocks drew such a block twice)."""
        return whole_blocks(self.chunk)

    def workers(self, paths: int | None = None) -> int:
        """How many of ``paths`` paths' ranges run side by side locally: the run's threads when
        they have two ranges or more, else 1 (the kernel's threads then share the one range)."""
        n = self.paths if paths is None else int(paths)
        if self.client is not None or self.threads <= 1:
            return 1
        return min(self.threads, -(-n // self._step())) if n > self._step() else 1

    def kernel_threads(self, paths: int | None = None) -> int:
        """The kernel's threads within each range: all the run's threads when its ranges run one
        after the other, 1 when they run side by side (:meth:`workers`)."""
        return self.threads if self.workers(paths) == 1 else 1

    def simulate(self, progress: Callable[[int, int], None] | None = None) -> SimulationResult:
        """Run every path and gather the :class:`SimulationResult`."""
        from levier.engine.compiled import compile_seconds  # numba: imported when a run needs it

        started, compiling = time.perf_counter(), compile_seconds()
        collector = Collector(self.paths, self.terms, self.keep)
        # a local run's ranges draw into the arrays of the ones before on their thread (not across processes)
        args = (self.sampler, None, None, None, False, self.kernel_threads()) + ((DrawPool(), self.draws)
                                                                               if self.client is None else ())
        for start, stop, block in self.ranges(simulate_range, args, progress=progress):
            collector.add(start, stop, block)
        return collector.result(self.scenario, self.portfolio,
                                self.meta(time.perf_counter() - started, compile_seconds() - compiling))

    def meta(self, elapsed: float | None = None, compiling: float = 0.0) -> dict[str, Any]:
        """The provenance every result records: versions, scenario, seed, sizes."""
        meta: dict[str, Any] = {
            "levier_version": __version__,
            "numpy_version": np.__version__,
            "scenario_name": self.scenario.meta.name,
            "scenario_source": self.scenario.source,
            "scenario_hash": self.scenario.content_hash(),
            "seed_entropy": entropy_of(self.root),
            "seed_spawn_key": list(self.root.spawn_key),
            "paths": self.paths,
            "block_paths": BLOCK_PATHS,
            "chunk_size": self.chunk,
            "n_projects": self.terms.n_projects,
            "n_loan_book": self.terms.n_book,
            "horizon_years": self.terms.horizon,
        }
        if elapsed is not None:
            meta["elapsed_seconds"] = round(elapsed, 3)
            # of which compiling the kernels, in this process (a first run; a Dask worker's is its own)
            meta["compile_seconds"] = round(compiling, 3)
        if self.stress is not None:
            meta["stress"] = self.stress
        meta["keep"] = self.keep
        meta["sampler"] = self.sampler
        meta["dask_workers"] = len(self.client.scheduler_info()["workers"]) if self.client is not None else 0
        meta["threads"] = self.threads
        return meta


def prepare(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    portfolio: Portfolio | None = None,
    keep: str = "all",
    sampler: str = "random",
    client: Any = None,
    check_resources: bool = True,
    threads: int | None = None,
    stress: str | None = None,
) -> PreparedRun:
    """Validate the run's arguments and build what every path needs (see :func:`simulate`)."""
    if paths is not None and (isinstance(paths, (bool, np.bool_)) or not float(paths).is_integer()):
        raise ValueError(f"paths must be a whole number, got {paths!r}")  # 2.5 ran 2 paths, True one
    n_paths = int(scenario.simulation.paths if paths is None else paths)
    if n_paths < 1:
        raise ValueError(f"paths must be at least 1, got {n_paths}")
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {', '.join(KEEP)}, got {keep!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if sampler == "sobol" and n_paths & (n_paths - 1):
        import warnings

        from levier.errors import LevierWarning

        below = 1 << (n_paths.bit_length() - 1)
        warnings.warn(f"Sobol' points keep their balance in runs of a power of 2 paths: {n_paths:,} is not one "
                      f"({below:,} or {2 * below:,} are)", LevierWarning, stacklevel=3)
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if client is not None:
        threads = 1  # a Dask worker's parallelism is the cluster's
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if check_resources and client is None:
        check(scenario, n_paths, chunk_size, keep, threads=threads)
    root = seed_root(scenario, seed)
    if portfolio is None:
        portfolio = build_portfolio(scenario)
    else:
        check_portfolio(portfolio, scenario)
    terms = project_terms(scenario, portfolio, stress)
    chunk = default_chunk_size(terms.n_projects, n_paths) if chunk_size is None else int(chunk_size)
    return PreparedRun(scenario, portfolio, terms, plan_work(terms), root, n_paths, chunk, keep, sampler, client,
                       threads, stress)


def simulate(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    portfolio: Portfolio | None = None,
    keep: str = "all",
    sampler: str = "random",
    progress: Progress = None,
    client: Any = None,
    check_resources: bool = True,
    threads: int | None = None,
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
        is absent too, fresh entropy, recorded in ``result.meta``). Same seed, same results. A
        SeedSequence is never mutated.
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
    progress : bool or callable, optional
        ``True`` shows a progress bar (a terminal's or a notebook's); a callable is called as
        ``progress(paths_done, paths_total)``; ``None`` or ``False``: nothing.
    client : distributed.Client, optional
        Run the paths as tasks on a Dask cluster (``pip install 'levier[dask]'``): the
        scenario's arrays are scattered once, each task returns its paths' reductions, and the
        result is the same, byte for byte, as a local run (see :mod:`levier.engine.dask`).
    check_resources : bool, optional
        Refuse up front a run whose estimated memory or time is beyond reason
        (:func:`levier.engine.resources.check`, a :class:`~levier.engine.resources.ResourceError`).
    threads : int, optional
        Threads running the run's ranges (whole blocks of paths: their draws and their kernel)
        side by side, or sharing the paths of a run of one range in the compiled kernel
        (default: the cores this process may use; 1 inside a Dask worker and for a run on a
        cluster, whose parallelism is the cluster's). The results are the same, byte for byte,
        for any number. Working memory grows with them: a few blocks' draws each.
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
    per-path outputs take at most ``8 · 37 + 4 · 13 · T`` bytes a path (a column that stays 0 takes
    none: its pages are never written), plus ``8 · (S + K)`` (compact) or
    ``48 · (S + K)`` (all) for S sectors and K territories. Nothing of size paths × projects is
    ever held.
    Random streams are keyed by (seed, block of 128 paths, purpose); see :mod:`levier.streams`.

    Examples
    --------
    >>> import levier
    >>> s = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
    >>> levier.simulate(s, paths=2_000, seed=1).summary().loc["jobs_additional", "mean"]  # doctest: +SKIP
    """
    run = prepare(scenario, paths=paths, seed=seed, chunk_size=chunk_size, portfolio=portfolio, keep=keep,
                  sampler=sampler, client=client, check_resources=check_resources, threads=threads, stress=stress)
    with as_progress(progress, run.paths) as bar:
        return run.simulate(bar)

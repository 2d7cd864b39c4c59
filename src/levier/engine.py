"""The Monte Carlo engine: blocks of paths → pure vectorised kernel → per-path reductions.

:func:`simulate` validates and records; :func:`simulate_block` is the pure unit of work (a
function of the scenario's arrays, a block index and the seed) that a scheduler can hand out;
:func:`simulate_paths` does the vectorised work for any set of paths whose draws it is given.
Nothing of size paths × projects outlives a chunk.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import __version__
from .kernels import (
    Terms,
    ar1_factors,
    conditional_pd,
    group_cumsum,
    group_sums,
    lognormal_ratio,
    project_terms,
    recovery_rate,
    waterfall,
)
from .portfolio import Portfolio, build_portfolio
from .result import PATH_COLUMNS, SECTOR_COLUMNS, YEAR_COLUMNS, SimulationResult
from .scenario import Scenario
from .streams import BLOCK_PATHS, Purpose, block_generator, coerce_seed, entropy_of

__all__ = [
    "Draws",
    "PathBlock",
    "block_draws",
    "default_chunk_size",
    "iterate_chunks",
    "simulate",
    "simulate_block",
    "simulate_paths",
]

# Elements of one (paths × projects) array that a chunk aims at. About 30 such float64 arrays
# are alive at once, so the default chunk needs ~30 × 8 B × 2**17 = 32 MB; larger chunks are no
# faster (numpy's per-call overhead is already amortised) and only use more memory.
_CHUNK_ELEMENTS = 1 << 17


@dataclass(frozen=True, eq=False)
class Draws:
    """The random numbers of a set of paths, by purpose (rows are paths)."""

    shocks: np.ndarray  # (n, T, F) standard normals for the factors
    u_bank: np.ndarray  # (n, m) uniforms: bank acceptance (with and without the fund)
    u_default: np.ndarray  # (n, m) uniforms: default time
    u_recovery: np.ndarray  # (n, m) uniforms: recovery rate (inverted where a default occurs)
    z_jobs: np.ndarray  # (n, m) standard normals: job realisation

    def rows(self, start: int, stop: int) -> Draws:
        return Draws(*(getattr(self, f)[start:stop] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Draws]) -> Draws:
        if len(parts) == 1:
            return parts[0]
        return Draws(*(np.concatenate([getattr(p, f) for p in parts]) for f in Draws.__dataclass_fields__))


@dataclass(frozen=True, eq=False)
class PathBlock:
    """Per-path reductions for a set of paths: nothing here has a projects dimension."""

    paths: dict[str, np.ndarray]  # name -> (n,)
    by_year: dict[str, np.ndarray]  # name -> (n, T)
    by_sector: dict[str, np.ndarray]  # name -> (n, S)
    by_territory: dict[str, np.ndarray]  # name -> (n, K)


def block_draws(terms: Terms, root: np.random.SeedSequence, block: int) -> Draws:
    """All random numbers of one block of :data:`~levier.streams.BLOCK_PATHS` paths.

    Each purpose has its own stream, keyed by (seed, block, purpose): a path's numbers do not
    depend on the chunk size, on the other purposes, or on the policy.
    """
    n, m, horizon = BLOCK_PATHS, terms.n_projects, terms.horizon
    return Draws(
        shocks=block_generator(root, block, Purpose.FACTORS).standard_normal((n, horizon, terms.n_factors)),
        u_bank=block_generator(root, block, Purpose.BANK).random((n, m)),
        u_default=block_generator(root, block, Purpose.DEFAULT).random((n, m)),
        u_recovery=block_generator(root, block, Purpose.RECOVERY).random((n, m)),
        z_jobs=block_generator(root, block, Purpose.JOBS).standard_normal((n, m)),
    )


def simulate_block(terms: Terms, root: np.random.SeedSequence, block: int, n_paths: int = BLOCK_PATHS) -> PathBlock:
    """Simulate the first ``n_paths`` paths of one block: a pure function of its arguments."""
    return simulate_paths(terms, block_draws(terms, root, block).rows(0, n_paths))


def simulate_paths(terms: Terms, draws: Draws) -> PathBlock:
    """The model for a set of paths, vectorised over paths and projects (loop over years only).

    Memory usage is O(n · m) for n paths and m projects, plus O(n · T · F) for the factors.
    """
    n, m, horizon = draws.u_bank.shape[0], terms.n_projects, terms.horizon
    n_sec, n_ter = terms.n_sectors, terms.n_territories
    loan, subsidy, bank_loan = terms.loan, terms.subsidy, terms.bank_loan
    cost = loan + subsidy
    entry = terms.entry
    discount = (1.0 + terms.discount_rate) ** -np.arange(horizon + 1, dtype=float)
    report_year = np.clip(terms.check_year, 1, horizon)
    eps = 1e-9 * max(terms.capital, 1.0)

    # -- path draws that do not depend on time ----------------------------------------------
    accept = draws.u_bank < terms.accept_with
    # the same draw decides the counterfactual, so "financed without the fund" ⊂ "with it"
    additional_if_financed = ~(terms.closes_without & (draws.u_bank < terms.accept_without))
    candidate = terms.eligible & accept
    realisation = lognormal_ratio(draws.z_jobs, terms.realisation_mean, terms.realisation_sigma)
    realised_jobs = terms.jobs * realisation
    log_u = np.log1p(-draws.u_default)
    factors = ar1_factors(draws.shocks, terms.factor_autocorrelation) if terms.correlated else None
    if factors is None:
        log_survival_step = np.log1p(-terms.pd)

    # -- state ---------------------------------------------------------------------------------
    financed = np.zeros((n, m), dtype=bool)
    financed[:, : terms.n_book] = True
    default_year = np.full((n, m), horizon + 1, dtype=np.int32)
    log_survival = np.zeros((n, m))
    kept_jobs = np.zeros((n, m))
    fund_loss = np.zeros((n, m))
    bank_loss = np.zeros((n, m))
    job_years = np.zeros((n, m))
    jobs_check = np.zeros((n, m))
    jobs_now = np.zeros((n, m))
    available = np.full(n, terms.capital)
    sector_used = np.zeros((n, n_sec))
    territory_used = np.zeros((n, n_ter))
    year = {name: np.zeros((n, horizon)) for name in YEAR_COLUMNS}
    totals = {name: np.zeros(n) for name in ("fund_interest", "fund_principal", "fund_recoveries",
                                             "bank_recoveries", "operating_costs", "clawbacks")}

    # Loan-book loans granted before year 1 are held at their outstanding value from the start.
    pre = entry < 1
    present_value = np.full(n, float((loan[pre] * terms.fund_out[pre, 1]).sum()))

    for t in range(1, horizon + 1):
        # 1. the fund's decisions on this year's pipeline, first come first served
        sl = terms.entering(t)
        if sl.stop > sl.start:
            ok = candidate[:, sl].copy()
            price = cost[sl]
            for limit, used, codes in (
                (terms.sector_limit, sector_used, terms.sector[sl]),
                (terms.territory_limit, territory_used, terms.territory[sl]),
            ):
                if math.isfinite(limit):
                    ok &= used[:, codes] + group_cumsum(ok * price, codes) <= limit + eps
            ok &= np.cumsum(ok * price, axis=1) <= available[:, None] + eps
            financed[:, sl] = ok
            spent = ok * price
            available -= spent.sum(axis=1)
            sector_used += group_sums(spent, terms.sector[sl], n_sec)
            territory_used += group_sums(spent, terms.territory[sl], n_ter)
        entering_book = entry[: terms.n_book] == t
        if entering_book.any():
            book_cost = cost[: terms.n_book][entering_book]
            available -= book_cost.sum()
            sector_used += np.bincount(terms.sector[: terms.n_book][entering_book], book_cost, minlength=n_sec)
            territory_used += np.bincount(terms.territory[: terms.n_book][entering_book], book_cost, minlength=n_ter)
        new = financed & (entry == t)
        disbursed = (new * cost).sum(axis=1)

        # 2. defaults: first year in which the cumulative conditional PD exceeds the uniform
        entered = entry <= t
        if factors is None:
            log_survival += np.where(entered, log_survival_step, 0.0)
        else:
            z = factors[:, t - 1, :]
            c = terms.class_members  # one project per (sector, territory, PD) class
            systematic = (
                terms.loadings[c, 0] * z[:, :1]
                + terms.loadings[c, 1] * z[:, 1 + terms.sector[c]]
                + terms.loadings[c, 2] * z[:, 1 + n_sec + terms.territory[c]]
            )
            with np.errstate(divide="ignore"):
                class_step = np.log1p(-conditional_pd(terms.pd_threshold[c], systematic, terms.idiosyncratic_sd[c]))
            log_survival += np.where(entered, class_step[:, terms.default_class], 0.0)
        newly = entered & (default_year > horizon) & (log_survival < log_u)
        default_year[newly] = t

        # 3. the fund's and the bank's flows of the year
        live = financed & entered & (default_year >= t)
        defaulting = live & (default_year == t)
        surviving = live & ~defaulting
        fund_start = loan * terms.fund_out[:, t]
        fund_end = loan * terms.fund_out[:, t + 1]
        bank_start = bank_loan * terms.bank_out[:, t]
        interest = (surviving * (terms.fund_rate * fund_start)).sum(axis=1)
        principal = (surviving * (fund_start - fund_end)).sum(axis=1)
        fund_recovered = np.zeros(n)
        rows, cols = np.nonzero(defaulting)
        if rows.size:
            rate = recovery_rate(
                draws.u_recovery[rows, cols], terms.recovery_mean[cols], terms.recovery_a[cols], terms.recovery_b[cols]
            )
            pool = rate * (fund_start[cols] + bank_start[cols])
            bank_rec, fund_rec = waterfall(pool, bank_start[cols], fund_start[cols])
            fund_loss[rows, cols] = fund_start[cols] - fund_rec
            bank_loss[rows, cols] = bank_start[cols] - bank_rec
            fund_recovered = np.bincount(rows, fund_rec, minlength=n)
            totals["bank_recoveries"] += np.bincount(rows, bank_rec, minlength=n)
            kept_jobs[rows, cols] = terms.takeover * realised_jobs[rows, cols] * terms.ramp[cols, t]
        files = (live & (fund_start > 0)).sum(axis=1)
        operating = terms.operating_cost * files

        clawed = np.zeros(n)
        checked = np.flatnonzero((terms.check_year == t) & (subsidy > 0))
        if checked.size:
            achieved = realisation[:, checked] * terms.ramp[checked, t]
            short = (achieved < 1.0).astype(float) if terms.clawback_full else np.clip(1.0 - achieved, 0.0, 1.0)
            clawed = (surviving[:, checked] * short * subsidy[checked]).sum(axis=1)

        # 4. jobs at the end of the year
        alive_end = financed & entered & (default_year > t)
        jobs_now = alive_end * realised_jobs * terms.ramp[:, t] + kept_jobs
        job_years += jobs_now
        reporting = report_year == t
        if reporting.any():
            jobs_check[:, reporting] = jobs_now[:, reporting]

        inflow = interest + principal + fund_recovered + clawed
        present_value += disbursed * discount[t - 1] - (inflow - operating) * discount[t]
        if terms.recycle:
            available += principal + fund_recovered + clawed
        year["fund_outstanding"][:, t - 1] = (alive_end * fund_end).sum(axis=1)
        year["bank_outstanding"][:, t - 1] = (alive_end * (bank_loan * terms.bank_out[:, t + 1])).sum(axis=1)
        year["defaults"][:, t - 1] = defaulting.sum(axis=1)
        year["jobs"][:, t - 1] = jobs_now.sum(axis=1)
        year["fund_cash_flow"][:, t - 1] = inflow - operating - disbursed
        year["new_loans"][:, t - 1] = new.sum(axis=1)
        year["live_files"][:, t - 1] = files
        totals["fund_interest"] += interest
        totals["fund_principal"] += principal
        totals["fund_recoveries"] += fund_recovered
        totals["operating_costs"] += operating
        totals["clawbacks"] += clawed

    # what is still owed at the horizon by live firms is an asset of the fund, valued at par
    fund_outstanding_end = year["fund_outstanding"][:, -1]
    present_value -= fund_outstanding_end * discount[horizon]

    financed_f = financed.astype(float)
    additional = financed & additional_if_financed
    defaulted = financed & (default_year <= horizon)
    per_project = {
        "fund_lent": financed_f * loan,
        "fund_loss": fund_loss,
        "bank_lent": financed_f * bank_loan,
        "bank_loss": bank_loss,
        "investment": financed_f * terms.investment,
        "n_financed": financed_f,
        "n_additional": additional.astype(float),
        "n_defaults": defaulted.astype(float),
        "jobs_created": jobs_now,
        "jobs_additional": additional * jobs_now,
        "jobs_planned": financed_f * terms.jobs,
    }
    paths = {name: values.sum(axis=1) for name, values in per_project.items()}
    paths["fund_net_cost"] = present_value
    paths["subsidies"] = (financed * subsidy).sum(axis=1)
    paths["job_years"] = job_years.sum(axis=1)
    paths["jobs_net"] = (additional * jobs_now * terms.net_share).sum(axis=1)
    paths["jobs_at_check"] = jobs_check.sum(axis=1)
    paths["fund_outstanding_end"] = fund_outstanding_end
    paths.update(totals)
    paths["cost_per_job"] = _ratio(paths["fund_net_cost"], paths["jobs_additional"])
    paths["leverage_bank"] = _ratio(paths["bank_lent"], paths["fund_lent"])
    paths["leverage_investment"] = _ratio(paths["investment"], paths["fund_lent"])
    by_sector = {name: group_sums(per_project[name], terms.sector, n_sec) for name in SECTOR_COLUMNS}
    by_territory = {name: group_sums(per_project[name], terms.territory, n_ter) for name in SECTOR_COLUMNS}
    return PathBlock(paths={k: paths[k] for k in PATH_COLUMNS}, by_year=year, by_sector=by_sector, by_territory=by_territory)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Per-path ratio, missing (NaN) where the denominator is zero or negligible (< 1e-9):
    a cost per job over no job is undefined, not infinite."""
    defined = denominator >= 1e-9
    return np.where(defined, numerator / np.where(defined, denominator, 1.0), np.nan)


def default_chunk_size(n_projects: int, paths: int) -> int:
    """Paths per chunk: whole blocks, about ``2**17`` path-projects per array, at most ``paths``."""
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n_projects, 1))
    blocks = max(1, per_chunk // BLOCK_PATHS)
    return int(min(blocks * BLOCK_PATHS, max(paths, 1)))


def iterate_chunks(
    terms: Terms,
    root: np.random.SeedSequence,
    n_paths: int,
    chunk: int,
    factor_shift: np.ndarray | None = None,
):
    """Yield ``(start, stop, draws)`` for consecutive chunks of paths.

    The draws of each path come from its block's streams (a block's draws are made once and
    reused while chunks cross it), so they never depend on ``chunk``. ``factor_shift`` (T, F),
    if given, is added to every path's factor shocks (importance sampling, :mod:`levier.tail`).
    """
    cached: tuple[int, Draws] | None = None
    for start in range(0, n_paths, chunk):
        stop = min(start + chunk, n_paths)
        parts = []
        for block in range(start // BLOCK_PATHS, (stop - 1) // BLOCK_PATHS + 1):
            if cached is None or cached[0] != block:
                cached = (block, block_draws(terms, root, block))
            lo = max(start, block * BLOCK_PATHS) - block * BLOCK_PATHS
            hi = min(stop, (block + 1) * BLOCK_PATHS) - block * BLOCK_PATHS
            parts.append(cached[1].rows(lo, hi))
        draws = Draws.concat(parts)
        if factor_shift is not None:
            draws = replace(draws, shocks=draws.shocks + factor_shift)
        yield start, stop, draws


def simulate(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    portfolio: Portfolio | None = None,
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

    Returns
    -------
    SimulationResult

    Notes
    -----
    Memory usage is O((chunk_size + BLOCK_PATHS) · m) for m projects, plus the per-path outputs
    O(paths · (20 + T · 7 + 10 · (S + K))): nothing of size paths × projects is ever held.
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
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    portfolio = build_portfolio(scenario) if portfolio is None else portfolio
    terms = project_terms(scenario, portfolio)
    chunk = default_chunk_size(terms.n_projects, n_paths) if chunk_size is None else int(chunk_size)
    if chunk < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk}")

    horizon = terms.horizon
    out_paths = {name: np.empty(n_paths) for name in PATH_COLUMNS}
    out_year = {name: np.empty((n_paths, horizon)) for name in YEAR_COLUMNS}
    out_sector = {name: np.empty((n_paths, terms.n_sectors)) for name in SECTOR_COLUMNS}
    out_territory = {name: np.empty((n_paths, terms.n_territories)) for name in SECTOR_COLUMNS}

    for start, stop, draws in iterate_chunks(terms, root, n_paths, chunk):
        block_out = simulate_paths(terms, draws)
        for target, source in (
            (out_paths, block_out.paths),
            (out_year, block_out.by_year),
            (out_sector, block_out.by_sector),
            (out_territory, block_out.by_territory),
        ):
            for name, values in source.items():
                target[name][start:stop] = values

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
    return SimulationResult(
        scenario=scenario,
        portfolio=portfolio,
        path_values=out_paths,
        year_values=out_year,
        sector_values=out_sector,
        territory_values=out_territory,
        meta=meta,
    )

"""The Monte Carlo engine's entry points: a block's draws → the compiled kernel → per-path reductions.

:func:`block_draws` makes a block's random numbers with numpy from the keyed streams;
:func:`simulate_paths` hands any set of paths and their draws to the compiled kernel
(:mod:`levier.engine.kernel`), on one or several threads; the run layer (:mod:`levier.engine.run`)
cuts the paths into ranges and gathers the results. Nothing of size paths × projects outlives a
chunk.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from levier.engine.finances import fund_finances
from levier.engine.plan import KERNEL_PATHS, KERNEL_YEARS, Plan, plan_work
from levier.model.terms import Terms
from levier.names import PATH_COLUMNS, SECTOR_COLUMNS, YEAR_COLUMNS
from levier.streams import BLOCK_PATHS, Purpose, SobolFactors, block_generator, uniform_bits

__all__ = ["FINANCE_PATHS", "FINANCE_YEARS", "Draws", "PathBlock", "Plan", "Twist", "block_draws", "plan_work", "simulate_paths",
           "thread_pool", "with_finances"]


@dataclass(frozen=True, eq=False)
class Draws:
    """The random numbers of a set of paths, by purpose (rows are paths).

    ``u_bank`` holds 32-bit integers: the bank's uniform is ``u_bank * 2**-32``; it has no column
    (shape (n, 0)) when no bank decision is drawn (:attr:`~levier.model.terms.Terms.bank_decides`:
    a loan book alone), its stream then not drawn at all, the others unchanged. ``z_jobs`` are
    float32 normals. A default's recovery uniform is not drawn: it is the residual of the default
    uniform within the year's slice of the cumulative default probability (see
    :func:`simulate_paths`), uniform and independent of the default year.
    """

    shocks: np.ndarray  # (n, T, F) standard normals for the factors
    u_bank: np.ndarray  # (n, m) uint32: bank acceptance (with and without the fund); (n, 0) if none is drawn
    u_default: np.ndarray  # (n, m) uniforms: default time (and, at default, the recovery rate)
    z_jobs: np.ndarray  # (n, m) float32 standard normals: job realisation
    mixing: np.ndarray | None = None  # (n, T) the t copula's W_t = nu / chi2_nu (None: Gaussian copula)
    # drawn only when the fund watches (vigilance), so that without it nothing else moves
    u_watch: np.ndarray | None = None  # (n, m) uniforms: a coming default detected, and cured
    u_redefault: np.ndarray | None = None  # (n, m) uniforms: a cured firm's fresh default draw
    u_alarm: np.ndarray | None = None  # (n, T) uniforms: the year's number of false alarms

    def rows(self, start: int, stop: int) -> Draws:
        parts: list[Any] = [None if getattr(self, f) is None else getattr(self, f)[start:stop]
                            for f in self.__dataclass_fields__]
        return Draws(*parts)

    @staticmethod
    def concat(parts: list[Draws]) -> Draws:
        if len(parts) == 1:
            return parts[0]
        joined: list[Any] = [None if getattr(parts[0], f) is None else np.concatenate([getattr(p, f) for p in parts])
                             for f in Draws.__dataclass_fields__]
        return Draws(*joined)


@dataclass(frozen=True, eq=False)
class PathBlock:
    """Per-path reductions for a set of paths: nothing here has a projects dimension."""

    paths: dict[str, np.ndarray]  # name -> (n,)
    by_year: dict[str, np.ndarray]  # name -> (n, T)
    by_sector: dict[str, np.ndarray]  # name -> (n, S)
    by_territory: dict[str, np.ndarray]  # name -> (n, K)
    log_weight: np.ndarray | None = None  # (n,) log likelihood ratio of a default twist, if any
    shocks: np.ndarray | None = None  # (n, T, F) the factor shocks, when a caller asked for them

    @staticmethod
    def concat(parts: list[PathBlock]) -> PathBlock:
        """The blocks of consecutive path ranges, as one block (in the order given)."""
        if len(parts) == 1:
            return parts[0]

        def join(dicts):
            return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}

        def stack(name):
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return PathBlock(join([p.paths for p in parts]), join([p.by_year for p in parts]),
                         join([p.by_sector for p in parts]), join([p.by_territory for p in parts]),
                         stack("log_weight"), stack("shocks"))


@dataclass(frozen=True, eq=False)
class Twist:
    """Exponential twist of the conditional default probabilities (Glasserman and Li 2005).

    Given the factors, loan ``i`` defaults within the horizon with probability ``p_i`` (its
    class's cumulative conditional PD), independently of the others. The twist draws it with
    ``p_i(theta) = p_i e^(theta l_i) / (1 + p_i (e^(theta l_i) - 1))`` instead, the path's
    ``theta >= 0`` solving ``sum_i l_i p_i(theta) = target`` (0 when the factors already bring
    the conditional expected loss to the target); a defaulter's uniform is then uniform below
    ``p_i``, so its default year and recovery keep their conditional law. The path's likelihood
    ratio is ``prod_i (p_i / p_i(theta))`` over defaulters times ``prod_i (1 - p_i) /
    (1 - p_i(theta))`` over the others.

    Attributes
    ----------
    loss : ndarray (m,)
        Each project's loss if it defaults (``l_i >= 0``, e.g. its fund loss at mean recovery).
    target : float
        The loss the twisted conditional expectation aims at.
    financed : ndarray (m,), optional
        Each project's probability of being financed, weighting it in the equation for
        ``theta`` (pipeline candidates are decided during the path; default 1).
    """

    loss: np.ndarray
    target: float
    financed: np.ndarray | None = None


def block_draws(terms: Terms, root: np.random.SeedSequence, block: int, sobol: SobolFactors | None = None,
                reuse: Draws | None = None) -> Draws:
    """All random numbers of one block of :data:`~levier.streams.BLOCK_PATHS` paths.

    Each purpose has its own stream, keyed by (seed, block, purpose): a path's numbers do not
    depend on the chunk size, on the other purposes, or on the policy. With ``sobol``, the
    factor shocks are the block's points of the run's scrambled Sobol' sequence instead.
    ``reuse``, the draws of another block of the same terms that nothing reads any more, lends
    its default uniforms' and job normals' arrays, overwritten with this block's numbers (the
    same numbers; a fresh array's pages cost a third of a large book's draws to fault in).
    """
    n, m, horizon = BLOCK_PATHS, terms.n_projects, terms.horizon
    u_default = z_jobs = None
    if reuse is not None and reuse.u_default.shape == (n, m) and reuse.z_jobs.shape == (n, m):
        u_default, z_jobs = reuse.u_default, reuse.z_jobs
    watch = {}
    if terms.vigilance is not None:
        watch = {
            "u_watch": block_generator(root, block, Purpose.WATCH).random((n, m)),
            "u_redefault": block_generator(root, block, Purpose.REDEFAULT).random((n, m)),
            "u_alarm": block_generator(root, block, Purpose.ALARM).random((n, horizon)),
        }
    return Draws(
        shocks=(sobol.block(block, n) if sobol is not None else
                block_generator(root, block, Purpose.FACTORS).standard_normal((n, horizon, terms.n_factors))),
        # a loan book alone draws no bank decision: a fifth of its draws' cost, spared (not read anywhere)
        u_bank=(uniform_bits(block_generator(root, block, Purpose.BANK), (n, m)) if terms.bank_decides else
                np.zeros((n, 0), dtype=np.uint32)),
        u_default=block_generator(root, block, Purpose.DEFAULT).random((n, m), out=u_default),
        z_jobs=_kernel().job_normals(block_generator(root, block, Purpose.JOBS), (n, m), out=z_jobs),
        # drawn only for the t copula, from its own stream: the Gaussian copula's numbers are untouched
        mixing=(terms.degrees_of_freedom / block_generator(root, block, Purpose.MIXING).chisquare(
            terms.degrees_of_freedom, (n, horizon)) if terms.degrees_of_freedom > 0 else None),
        **watch,
    )


def stressed_shocks(shocks: np.ndarray, autocorrelation: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """The shocks that make the kernel's AR(1) factors take a stress's values (NaN = random).

    A fixed year's shock is ``(v - a Z_{t-1}) / sqrt(1 - a^2)``, so that ``Z_t = v`` on every
    path; the years after it continue the recursion from ``v``; the others keep their shocks.
    """
    out = np.array(shocks, dtype=float, copy=True)
    a = np.asarray(autocorrelation, dtype=float)
    scale = np.sqrt(1.0 - a * a)
    given = ~np.isnan(fixed)
    z_prev = np.zeros(out.shape[::2])  # (n, F): the factors of the year before
    for t in range(out.shape[1]):
        cols = given[t]
        if t == 0:
            out[:, 0, cols] = fixed[0, cols]
            z_prev = out[:, 0, :].copy()
            continue
        out[:, t, cols] = (fixed[t, cols] - a[cols] * z_prev[:, cols]) / scale[cols]
        z_prev = a * z_prev + scale * out[:, t, :] if np.any(a) else out[:, t, :].copy()
        z_prev[:, cols] = fixed[t, cols]
    return out


#: The per-path and per-year columns :func:`with_finances` adds (from the kernel's yearly cash).
FINANCE_PATHS = ("fund_peak_need", "fund_capital_end", "fund_irr")
FINANCE_YEARS = ("fund_cumulative_cash",)


def simulate_paths(terms: Terms, draws: Draws, plan: Plan | None = None, twist: Twist | None = None,
                   threads: int = 1, finances: bool = True) -> PathBlock:
    """The model for a set of paths: the compiled kernel :func:`levier.engine.kernel.run_paths`.

    Each path is one pass over the loans (decisions, default test against the class's
    cumulative PD, default year and recovery, waterfall, jobs, clawbacks, flows), its sums
    taken in a fixed order: the result of a path depends only on its draws, not on the other
    paths of ``draws`` nor on ``threads``.

    Parameters
    ----------
    terms : Terms
    draws : Draws
        The paths' random numbers (rows are paths).
    plan : Plan, optional
        ``plan_work(terms)``, if already made (it is made once per run by the run layer).
    twist : Twist, optional
        Glasserman–Li twist of the default probabilities (:mod:`levier.analysis.tail`):
        the default uniforms are drawn from the twisted law and ``log_weight`` holds each path's
        log likelihood ratio.
    threads : int, optional
        Threads sharing the paths (the kernel releases the GIL); the results do not depend on it.
    finances : bool, optional
        False leaves out the fund's finances (:data:`FINANCE_PATHS`, :data:`FINANCE_YEARS`), for a
        caller that adds them to many chunks at once with :func:`with_finances` (numpy's cost per
        call made them several per cent of a run done chunk by chunk); the numbers are the same.
    """
    plan = plan_work(terms) if plan is None else plan
    n, m, horizon = draws.u_default.shape[0], terms.n_projects, terms.horizon
    shocks = np.ascontiguousarray(draws.shocks if terms.stress is None else
                                  stressed_shocks(draws.shocks, terms.factor_autocorrelation, terms.stress), dtype=float)
    # 1 / sqrt(W_t) scales the t copula's thresholds (ones under the Gaussian copula: the same bytes)
    inv_sqrt_w = np.ones((n, horizon)) if draws.mixing is None else np.ascontiguousarray(1.0 / np.sqrt(draws.mixing))
    u_bank = np.ascontiguousarray(draws.u_bank, dtype=np.uint32)
    u_default = np.ascontiguousarray(draws.u_default, dtype=float)
    z_jobs = np.ascontiguousarray(draws.z_jobs, dtype=np.float32)
    if terms.vigilance is not None:
        u_watch = np.ascontiguousarray(draws.u_watch, dtype=float)
        u_redefault = np.ascontiguousarray(draws.u_redefault, dtype=float)
        u_alarm = np.ascontiguousarray(draws.u_alarm, dtype=float)
    else:
        u_watch = u_redefault = u_alarm = np.zeros((0, 0))
    out_paths = np.empty((n, len(KERNEL_PATHS)))
    out_years = np.empty((n, len(KERNEL_YEARS), horizon))
    out_sec = np.empty((n, len(SECTOR_COLUMNS), terms.n_sectors))
    out_ter = np.empty((n, len(SECTOR_COLUMNS), terms.n_territories))
    out_logw = np.zeros(n)
    threads = max(1, min(int(threads), n))
    kernel = _kernel()
    run_paths = kernel.run_paths_for(twist is not None, *plan.mechanisms)
    kernel.compile_notice((run_paths,) + ((kernel.horizon_pd, kernel.twist_thetas) if twist is not None else ()))

    theta, twist_loss = np.zeros(n), np.zeros(m)
    if twist is not None:
        theta = _twist_theta(plan, shocks, inv_sqrt_w, twist, threads)
        twist_loss = np.ascontiguousarray(twist.loss, dtype=float)

    def work(lo: int, hi: int) -> None:
        run_paths(lo, hi, shocks, inv_sqrt_w, u_bank, u_default, z_jobs, u_watch, u_redefault, u_alarm, theta,
                  twist_loss, twist is not None, out_paths, out_years, out_sec, out_ter, out_logw, *plan.arrays)

    _in_threads(work, n, threads)
    paths = {name: out_paths[:, k] for k, name in enumerate(KERNEL_PATHS)}
    paths["cost_per_job"] = _ratio(paths["fund_net_cost"], paths["jobs_additional"])
    paths["leverage_bank"] = _ratio(paths["bank_lent"], paths["fund_lent"])
    paths["leverage_investment"] = _ratio(paths["investment"], paths["fund_lent"])
    by_year = {name: out_years[:, k] for k, name in enumerate(KERNEL_YEARS)}
    block = PathBlock(
        paths=paths,
        by_year=by_year,
        by_sector={name: out_sec[:, k] for k, name in enumerate(SECTOR_COLUMNS)},
        by_territory={name: out_ter[:, k] for k, name in enumerate(SECTOR_COLUMNS)},
        log_weight=out_logw if twist is not None else None,
    )
    return with_finances(block, plan) if finances else block


def with_finances(block: PathBlock, plan: Plan) -> PathBlock:
    """``block`` with the fund's finances (J-curve, peak need, capital left, IRR) and its columns
    in the order of :data:`~levier.names.PATH_COLUMNS` and :data:`~levier.names.YEAR_COLUMNS`.

    The finances of a path depend only on its own flows (the same numbers for any set of paths):
    they come from the kernel's float64 yearly flows, before anything is kept in float32.
    """
    paths, by_year = dict(block.paths), dict(block.by_year)
    finances = fund_finances(by_year["fund_cash_flow"], by_year["fund_disbursed"], paths["fund_outstanding_end"],
                             paths["fund_available_end"], plan.book_value)
    by_year["fund_cumulative_cash"] = finances.pop("fund_cumulative_cash")
    paths.update(finances)
    return replace(block, paths={k: paths[k] for k in PATH_COLUMNS}, by_year={k: by_year[k] for k in YEAR_COLUMNS})


_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def thread_pool(threads: int, name: str = "levier-kernel") -> ThreadPoolExecutor:
    """The process's pool of ``threads`` threads named ``name`` (made once, then shared)."""
    with _pools_lock:
        pool = _pools.get((threads, name))
        if pool is None:
            pool = _pools[(threads, name)] = ThreadPoolExecutor(threads, thread_name_prefix=name)
        return pool


def _in_threads(work, n: int, threads: int) -> None:
    """``work(lo, hi)`` over ``threads`` contiguous ranges of the ``n`` paths, in parallel."""
    if threads <= 1:
        work(0, n)
        return
    pool = thread_pool(threads)
    edges = np.linspace(0, n, threads + 1).astype(int)
    for future in [pool.submit(work, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]:
        future.result()


def _kernel():
    """The compiled kernel, imported (numba, and the compiled code from its cache) when a path
    is first simulated: ``import levier`` and the commands that simulate nothing do not pay."""
    from levier.engine import kernel

    return kernel


def _twist_theta(plan: Plan, shocks: np.ndarray, inv_sqrt_w: np.ndarray, twist: Twist, threads: int = 1) -> np.ndarray:
    """Each path's twist ``theta >= 0``: ``sum_i w_i l_i p_i(theta) = target``, by safeguarded
    Newton path by path (its theta never depends on the other paths)."""
    terms = plan.terms
    n, m = shocks.shape[0], terms.n_projects
    a = plan.arrays
    p_all = np.empty((n, m))
    in_horizon = np.maximum(terms.entry, 1) <= terms.horizon
    loss = np.asarray(twist.loss, dtype=float)
    weight = np.where(in_horizon, 1.0 if twist.financed is None else np.asarray(twist.financed, dtype=float), 0.0)
    scale = float(loss.max()) if loss.size and loss.max() > 0 else 1.0
    ell = np.ascontiguousarray(loss / scale)  # theta is found for losses in units of the largest one
    target = twist.target / scale
    if target >= (weight * ell).sum():  # beyond the largest possible loss: twist as far as is sensible
        return np.full(n, 30.0 / scale)
    theta = np.empty(n)
    scalars, ar_a, ar_scale, first, dclass = a[0], a[2], a[3], a[4], a[5]
    coef, factor, surv = a[-5], a[-4], a[-3]
    kernel = _kernel()

    def work(lo: int, hi: int) -> None:
        kernel.horizon_pd(lo, hi, shocks, inv_sqrt_w, scalars, ar_a, ar_scale, first, dclass, coef, factor, surv, p_all)
        kernel.twist_thetas(lo, hi, p_all, ell, np.ascontiguousarray(weight), target, theta)

    _in_threads(work, n, threads)
    return theta / scale


def _twisted(p: np.ndarray, theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """``p e^(theta l) / (1 + p (e^(theta l) - 1))`` for (n, k) ``p``, (n,) ``theta``, (k,) ``l``."""
    growth = np.exp(theta[:, None] * loss[None, :])
    return p * growth / (1.0 + p * (growth - 1.0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Per-path ratio, missing (NaN) where the denominator is zero or negligible (< 1e-9):
    a cost per job over no job is undefined, not infinite."""
    defined = denominator >= 1e-9
    return np.where(defined, numerator / np.where(defined, denominator, 1.0), np.nan)

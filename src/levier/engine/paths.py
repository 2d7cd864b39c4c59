"""The Monte Carlo engine: blocks of paths → pure vectorised kernel → per-path reductions.

:func:`simulate_paths` does the vectorised work for any set of paths whose draws it is given;
the run layer (:mod:`levier.engine.run`) cuts the paths into ranges and gathers the results.
Nothing of size paths × projects outlives a chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from levier.engine.cohorts import Cohort, Plan, plan_work
from levier.model.terms import Terms
from levier.engine.kernels import ar1_factors, group_cumsum, group_sums, lognormal_ratio, recovery_rate, waterfall
from levier.names import PATH_COLUMNS, SECTOR_COLUMNS
from levier.streams import BLOCK_PATHS, Purpose, SobolFactors, block_generator, normals_f32, uniform_bits

__all__ = ["Draws", "PathBlock", "Twist", "block_draws", "class_default_cdf", "simulate_paths"]


@dataclass(frozen=True, eq=False)
class Draws:
    """The random numbers of a set of paths, by purpose (rows are paths).

    ``u_bank`` holds 32-bit integers: the bank's uniform is ``u_bank * 2**-32``. ``z_jobs`` are
    float32 normals. A default's recovery uniform is not drawn: it is the residual of the default
    uniform within the year's slice of the cumulative default probability (see
    :func:`simulate_paths`), uniform and independent of the default year.
    """

    shocks: np.ndarray  # (n, T, F) standard normals for the factors
    u_bank: np.ndarray  # (n, m) uint32: bank acceptance (with and without the fund)
    u_default: np.ndarray  # (n, m) uniforms: default time (and, at default, the recovery rate)
    z_jobs: np.ndarray  # (n, m) float32 standard normals: job realisation
    mixing: np.ndarray | None = None  # (n, T) the t copula's W_t = nu / chi2_nu (None: Gaussian copula)

    def rows(self, start: int, stop: int) -> Draws:
        return Draws(*(None if getattr(self, f) is None else getattr(self, f)[start:stop]
                       for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Draws]) -> Draws:
        if len(parts) == 1:
            return parts[0]
        return Draws(*(None if getattr(parts[0], f) is None else np.concatenate([getattr(p, f) for p in parts])
                       for f in Draws.__dataclass_fields__))


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


def block_draws(terms: Terms, root: np.random.SeedSequence, block: int, sobol: SobolFactors | None = None) -> Draws:
    """All random numbers of one block of :data:`~levier.streams.BLOCK_PATHS` paths.

    Each purpose has its own stream, keyed by (seed, block, purpose): a path's numbers do not
    depend on the chunk size, on the other purposes, or on the policy. With ``sobol``, the
    factor shocks are the block's points of the run's scrambled Sobol' sequence instead.
    """
    n, m, horizon = BLOCK_PATHS, terms.n_projects, terms.horizon
    return Draws(
        shocks=(sobol.block(block, n) if sobol is not None else
                block_generator(root, block, Purpose.FACTORS).standard_normal((n, horizon, terms.n_factors))),
        u_bank=uniform_bits(block_generator(root, block, Purpose.BANK), (n, m)),
        u_default=block_generator(root, block, Purpose.DEFAULT).random((n, m)),
        z_jobs=normals_f32(block_generator(root, block, Purpose.JOBS), (n, m)),
        # drawn only for the t copula, from its own stream: the Gaussian copula's numbers are untouched
        mixing=(terms.degrees_of_freedom / block_generator(root, block, Purpose.MIXING).chisquare(
            terms.degrees_of_freedom, (n, horizon)) if terms.degrees_of_freedom > 0 else None),
    )


# Names of the per-path sums kept per segment before they are folded into paths and groups.
_SEGMENT_SUMS = ("fund_lent", "bank_lent", "investment", "n_financed", "jobs_planned", "subsidies", "n_additional",
                 "jobs_created", "jobs_additional", "jobs_net", "jobs_at_check", "fund_loss", "bank_loss", "n_defaults")
_YEAR_SUMS = ("interest", "principal", "fund_end", "bank_end", "files", "jobs", "defaults", "fund_rec", "bank_rec",
              "clawed", "disbursed", "new_loans")
_TWO32 = float(2**32)


class _Sums:
    """Per-path accumulators of a set of paths, filled cohort by cohort."""

    def __init__(self, n: int, terms: Terms):
        horizon = terms.horizon
        self.year = {name: np.zeros((n, horizon)) for name in _YEAR_SUMS}
        self.paths = {name: np.zeros(n) for name in _SEGMENT_SUMS}
        self.sector = {name: np.zeros((n, terms.n_sectors)) for name in SECTOR_COLUMNS}
        self.territory = {name: np.zeros((n, terms.n_territories)) for name in SECTOR_COLUMNS}
        self.n_sectors, self.n_territories = terms.n_sectors, terms.n_territories

    def fold(self, co: Cohort, seg: dict[str, np.ndarray]) -> None:
        """Add per-segment sums (n or 1, nseg) to the paths and to the sector / territory groups."""
        for name, values in seg.items():
            self.paths[name] += values.sum(axis=1)
            if name in self.sector:
                self.sector[name] += group_sums(values, co.seg_sector, self.n_sectors)
                self.territory[name] += group_sums(values, co.seg_territory, self.n_territories)


def simulate_paths(terms: Terms, draws: Draws, plan: Plan | None = None, twist: Twist | None = None) -> PathBlock:
    """The model for a set of paths, vectorised over paths and loans.

    Cohort by cohort (the projects whose hazard starts in the same year), in order of years:

    1. a pipeline cohort is financed by the fund's decisions of its year (first come, first
       served under the capital and the sector / territory limits);
    2. each loan's default year is the first year in which its class's cumulative conditional
       default probability ``F_t`` exceeds its uniform ``u``: one comparison with ``F_T`` per
       loan, then a binary search over the years for the defaulters only;
    3. the recovery uniform of a defaulter is ``(u - F_{tau-1}) / (F_tau - F_{tau-1})``, uniform
       on [0, 1) and independent of ``tau`` given the factors;
    4. the cohort's yearly flows are its no-default schedules weighted per bucket, minus, per
       (bucket, default year), what the defaults remove (:mod:`levier.cohorts`).

    With a :class:`Twist` (importance sampling, :mod:`levier.analysis.tail`), the default uniforms are
    drawn from the twisted law and ``log_weight`` holds each path's log likelihood ratio.

    Memory is O(n · m) for n paths and m projects, plus O(n · T · C) for C default classes.
    """
    plan = plan_work(terms) if plan is None else plan
    n, horizon = draws.u_default.shape[0], terms.horizon
    sums = _Sums(n, terms)
    factors = ar1_factors(draws.shocks, terms.factor_autocorrelation, terms.stress) if terms.correlated else None
    discount = (1.0 + terms.discount_rate) ** -np.arange(horizon + 1, dtype=float)
    eps = 1e-9 * max(terms.capital, 1.0)
    cost = terms.loan + terms.subsidy
    available = np.full(n, terms.capital)
    sector_used = np.zeros((n, terms.n_sectors))
    territory_used = np.zeros((n, terms.n_territories))
    entry_book = terms.entry[: terms.n_book]
    year = sums.year

    by_year: dict[int, list[Cohort]] = {}
    for co in plan.cohorts:
        by_year.setdefault(co.year, []).append(co)
    cdfs = {id(co): class_default_cdf(terms, co.classes, co.year, factors, draws.mixing) for co in plan.cohorts}
    theta = _twist_theta(plan, cdfs, twist, n) if twist is not None else None
    log_weight = np.zeros(n) if twist is not None else None
    for t in range(1, horizon + 1):
        for co in sorted(by_year.get(t, []), key=lambda c: not c.decided):  # pipeline first
            if co.decided:
                ok = _decide(terms, draws, co, cost, available, sector_used, territory_used, eps)
                spent = ok * cost[co.cols]
                available -= spent.sum(axis=1)
                sector_used += group_sums(spent, terms.sector[co.cols], terms.n_sectors)
                territory_used += group_sums(spent, terms.territory[co.cols], terms.n_territories)
                year["disbursed"][:, t - 1] += spent.sum(axis=1)
                year["new_loans"][:, t - 1] += ok.sum(axis=1)
            else:
                ok = None
                entering = entry_book == t
                if entering.any():
                    book_cost = cost[: terms.n_book][entering]
                    available -= book_cost.sum()
                    sector_used += np.bincount(terms.sector[: terms.n_book][entering], book_cost, minlength=terms.n_sectors)
                    territory_used += np.bincount(
                        terms.territory[: terms.n_book][entering], book_cost, minlength=terms.n_territories
                    )
            tilt = None if theta is None else (theta, twist.loss, log_weight)
            _cohort_flows(terms, draws, co, ok, cdfs.pop(id(co)), sums, tilt, factors)
        if terms.recycle:
            available += year["principal"][:, t - 1] + year["fund_rec"][:, t - 1] + year["clawed"][:, t - 1]
    year["disbursed"] += plan.book_disbursed
    year["new_loans"] += plan.book_new

    operating = terms.operating_cost * year["files"]
    inflow = year["interest"] + year["principal"] + year["fund_rec"] + year["clawed"]
    present_value = np.full(n, plan.pre_value)
    for t in range(1, horizon + 1):
        present_value += year["disbursed"][:, t - 1] * discount[t - 1] - (inflow[:, t - 1] - operating[:, t - 1]) * discount[t]
    # what is still owed at the horizon by live firms is an asset of the fund, valued at par
    fund_outstanding_end = year["fund_end"][:, -1]
    present_value -= fund_outstanding_end * discount[horizon]

    paths = dict(sums.paths)
    paths["fund_net_cost"] = present_value
    paths["job_years"] = year["jobs"].sum(axis=1)
    paths["fund_outstanding_end"] = fund_outstanding_end
    paths["fund_interest"] = year["interest"].sum(axis=1)
    paths["fund_principal"] = year["principal"].sum(axis=1)
    paths["fund_recoveries"] = year["fund_rec"].sum(axis=1)
    paths["bank_recoveries"] = year["bank_rec"].sum(axis=1)
    # the year's opening balance of each loan that survives the year; a defaulter's is bank_loss + bank_rec
    opening = paths["bank_lent"] + year["bank_end"][:, :-1].sum(axis=1) - paths["bank_loss"] - paths["bank_recoveries"]
    paths["bank_interest"] = terms.bank_rate * opening
    paths["operating_costs"] = operating.sum(axis=1)
    paths["clawbacks"] = year["clawed"].sum(axis=1)
    paths["cost_per_job"] = _ratio(paths["fund_net_cost"], paths["jobs_additional"])
    paths["leverage_bank"] = _ratio(paths["bank_lent"], paths["fund_lent"])
    paths["leverage_investment"] = _ratio(paths["investment"], paths["fund_lent"])
    by_year_out = {
        "fund_outstanding": year["fund_end"],
        "bank_outstanding": year["bank_end"],
        "defaults": year["defaults"],
        "jobs": year["jobs"],
        "fund_cash_flow": inflow - operating - year["disbursed"],
        "new_loans": year["new_loans"],
        "live_files": year["files"],
    }
    return PathBlock(
        paths={k: paths[k] for k in PATH_COLUMNS},
        by_year=by_year_out,
        by_sector=sums.sector,
        by_territory=sums.territory,
        log_weight=log_weight,
    )


def _decide(terms, draws, co, cost, available, sector_used, territory_used, eps) -> np.ndarray:
    """The fund's decisions on one year's pipeline, first come first served: (n, mc) bool."""
    sl = co.cols
    ok = terms.eligible[sl] & (draws.u_bank[:, sl] < terms.accept_with[sl] * _TWO32)
    price = cost[sl]
    for limit, used, codes in (
        (terms.sector_limit, sector_used, terms.sector[sl]),
        (terms.territory_limit, territory_used, terms.territory[sl]),
    ):
        if math.isfinite(limit):
            ok &= used[:, codes] + group_cumsum(ok * price, codes) <= limit + eps
    ok &= np.cumsum(ok * price, axis=1) <= available[:, None] + eps
    return ok


def class_default_cdf(terms: Terms, classes: np.ndarray, first_year: int, factors: np.ndarray | None,
                      mixing: np.ndarray | None = None) -> np.ndarray:
    """Cumulative default probabilities ``F[p, c, j]`` by the end of year ``first_year + j``.

    For default classes represented by the projects ``classes``, with hazard from
    ``first_year``, given each path's factors (n, T, F); without factors the result has one row
    shared by all paths. ``F = 1 - prod (1 - p_t)`` with ``p_t`` the Vasicek conditional PD
    ``Phi((Phi^-1(h) - beta . Z_t) / sqrt(1 - |beta|^2))``; under the t copula (``mixing``, the
    (n, T) draws of W_t) ``Phi((t_nu^-1(h) / sqrt(W_t) - beta . Z_t) / sqrt(1 - |beta|^2))``.
    """
    c = classes
    if factors is None:
        q = np.repeat(1.0 - terms.pd[c][None, :, None], terms.horizon - first_year + 1, axis=2)
    else:
        z = factors[:, first_year - 1 :, :].transpose(0, 2, 1)  # (n, F, Tc)
        sd = terms.idiosyncratic_sd[c][:, None]
        x = np.take(z, 1 + terms.sector[c], axis=1)  # (n, C, Tc), C-contiguous
        x *= -terms.loadings[c, 1][:, None] / sd
        x += np.take(z, 1 + terms.n_sectors + terms.territory[c], axis=1) * (-terms.loadings[c, 2][:, None] / sd)
        x += z[:, :1, :] * (-terms.loadings[c, 0][:, None] / sd)
        with np.errstate(invalid="ignore"):  # a PD of 1 (threshold +inf) is certain default
            if mixing is None:
                x += terms.pd_threshold[c][:, None] / sd
            else:  # the firm's latent variable is sqrt(W_t) times a Gaussian one: its threshold is scaled
                x += (terms.pd_threshold[c][:, None] / sd) / np.sqrt(mixing[:, None, first_year - 1 :])
        q = special.ndtr(x, out=x)
        np.subtract(1.0, q, out=q)  # conditional survival of each year
    for j in range(1, q.shape[2]):  # cumulative survival, year by year
        q[:, :, j] *= q[:, :, j - 1]
    return np.subtract(1.0, q, out=q)


def _default_years(u: np.ndarray, rows: np.ndarray, classes: np.ndarray, cdf: np.ndarray):
    """For defaulters (``u < F`` at the last year): year offset ``j`` and recovery uniform.

    ``j`` is the number of years with ``F_j <= u``, found by a branch-free binary search in
    each defaulter's (contiguous) row of ``F``.
    """
    n_cdf, n_classes, years = cdf.shape
    flat = cdf.reshape(-1)
    base = ((rows if n_cdf > 1 else 0) * n_classes + classes) * years
    found = np.zeros(u.size, dtype=np.intp)
    step = 1 << max(years - 1, 0).bit_length()
    while step > 1:
        step >>= 1
        probe = np.minimum(found + (step - 1), years - 1)
        found += step * (np.take(flat, base + probe) <= u)
    upper = np.take(flat, base + found)
    lower = np.where(found > 0, np.take(flat, base + np.maximum(found - 1, 0)), 0.0)
    return found, (u - lower) / (upper - lower)


def _cohort_flows(terms: Terms, draws: Draws, co: Cohort, ok: np.ndarray | None, cdf: np.ndarray, sums: _Sums,
                  tilt=None, factors: np.ndarray | None = None) -> None:
    """Add one cohort's flows, losses and jobs to ``sums`` (``ok``: financed, None = all).

    ``cdf`` is the cohort's :func:`class_default_cdf`; ``tilt``, if given, is ``(theta, loss,
    log_weight)`` of a :class:`Twist`: the financed loans' uniforms are twisted and each path's
    log likelihood ratio added to ``log_weight``. ``factors`` (n, T, F) tie the recovery to the
    cycle when a sector has a ``recovery_loading``.
    """
    sl, horizon = co.cols, terms.horizon
    n = draws.u_default.shape[0]
    n_buckets, n_seg, years = co.n_buckets, co.n_segments, co.years_left
    starts = co.seg_starts

    def per_segment(values: np.ndarray) -> np.ndarray:
        values = values if values.ndim == 2 else values[None, :]
        return np.add.reduceat(values, starts, axis=1) if values.shape[1] else np.zeros((values.shape[0], 0))

    def financed(x: np.ndarray) -> np.ndarray:
        return per_segment(x if ok is None else ok * x)

    # -- dense per-loan work: realised jobs, additionality, segment sums -----------------------
    realisation = lognormal_ratio(draws.z_jobs[:, sl], terms.realisation_mean[sl], terms.realisation_sigma[sl])
    realised = terms.jobs[sl] * realisation
    if ok is not None:
        realised = ok * realised
    maybe_not_additional = terms.closes_without[sl] & (terms.accept_without[sl] > 0)
    if maybe_not_additional.any():
        additional = ~(maybe_not_additional & (draws.u_bank[:, sl] < terms.accept_without[sl] * _TWO32))
        if ok is not None:
            additional &= ok
        realised_add = additional * realised
    else:
        additional = None  # every financed loan is additional
        realised_add = realised
    seg = {
        "fund_lent": financed(terms.loan[sl]),
        "bank_lent": financed(terms.bank_loan[sl]),
        "investment": financed(terms.investment[sl]),
        "n_financed": financed(np.ones(co.stop - co.start)),
        "jobs_planned": financed(terms.jobs[sl]),
        "subsidies": financed(terms.subsidy[sl]),
    }
    seg["n_additional"] = seg["n_financed"] if additional is None else per_segment(additional.astype(float))
    seg_real = per_segment(realised)
    seg_real_add = seg_real if additional is None else per_segment(realised_add)
    seg_real_net = per_segment(realised_add * terms.net_share[sl])
    final_ramp = co.ramp[co.seg_bucket, horizon]
    seg["jobs_created"] = seg_real * final_ramp
    seg["jobs_additional"] = seg_real_add * final_ramp
    seg["jobs_net"] = seg_real_net * final_ramp
    seg["jobs_at_check"] = seg_real * co.ramp[co.seg_bucket, co.report_year[co.seg_bucket]]

    # -- the no-default schedules, per bucket -------------------------------------------------
    def per_bucket(values: np.ndarray) -> np.ndarray:
        return group_sums(values, co.seg_bucket, n_buckets)

    year = sums.year
    loan_flows = _weighted(per_bucket(seg["fund_lent"]), co.base_loan)
    year["interest"] += loan_flows[:, :horizon]
    year["principal"] += loan_flows[:, horizon : 2 * horizon]
    year["fund_end"] += loan_flows[:, 2 * horizon :]
    year["bank_end"] += _weighted(per_bucket(seg["bank_lent"]), co.base_bank)
    year["files"] += _weighted(per_bucket(seg["n_financed"]), co.base_files)
    year["jobs"] += _weighted(per_bucket(seg_real), co.base_jobs)

    # -- defaults: one comparison per loan, then the defaulters only -----------------------------
    u = draws.u_default[:, sl]
    p_default = np.take(cdf[:, :, -1], co.local_class, axis=1)
    if tilt is not None:
        u = _twisted_uniforms(u, p_default, ok, tilt[0], tilt[1][sl], tilt[2])
    hit = u < p_default
    if ok is not None:
        hit &= ok
    rows, cols = np.nonzero(hit)
    offset, u_recovery = _default_years(u[rows, cols], rows, co.local_class[cols], cdf)
    g = co.start + cols
    b = co.bucket[cols]
    tau = co.year + offset
    fund_start = terms.loan[g] * co.fund_start[b, tau]
    bank_start = terms.bank_loan[g] * co.bank_start[b, tau]
    rate = terms.recovery_mean[g]  # fixed recoveries need no draw; Beta ones invert the residual
    if terms.recovery_loading is not None and factors is not None:
        u_recovery = _downturn_uniform(u_recovery, terms.recovery_loading[g], terms.loadings[g],
                                       factors[rows, tau - 1, :], terms, g)
    if terms.recovery_a.any():
        spread = terms.recovery_a[g] > 0
        rate = np.where(spread, recovery_rate(u_recovery, terms.sector[g], terms.recovery_table), rate)
    bank_rec, fund_rec = waterfall(rate * (fund_start + bank_start), bank_start, fund_start)
    jobs_i = realised[rows, cols]
    kept = terms.takeover * co.ramp[b, tau]
    lost_final = jobs_i * (co.ramp[b, horizon] - kept)
    report = co.report_year[b]
    lost_check = jobs_i * (co.ramp[b, report] - kept) * (tau <= report)
    add_i = 1.0 if additional is None else additional[rows, cols]

    at_segment = rows * n_seg + co.segment[cols]
    size = n * n_seg

    def segment_sum(weights=None) -> np.ndarray:
        return np.bincount(at_segment, weights, minlength=size).reshape(n, n_seg)

    seg["fund_loss"] = segment_sum(fund_start - fund_rec)
    seg["bank_loss"] = segment_sum(bank_start - bank_rec)
    seg["n_defaults"] = segment_sum()
    seg["jobs_created"] = seg["jobs_created"] - segment_sum(lost_final)
    seg["jobs_additional"] = seg["jobs_additional"] - segment_sum(lost_final * add_i)
    seg["jobs_net"] = seg["jobs_net"] - segment_sum(lost_final * add_i * terms.net_share[g])
    seg["jobs_at_check"] = seg["jobs_at_check"] - segment_sum(lost_check)
    sums.fold(co, seg)

    at_tail = (rows * n_buckets + b) * years + offset
    tail_size = n * n_buckets * years

    def tail_sum(weights=None) -> np.ndarray:
        return np.bincount(at_tail, weights, minlength=tail_size).reshape(n, n_buckets * years)

    loan_lost = _weighted(tail_sum(terms.loan[g]), co.tail_loan)
    year["interest"] -= loan_lost[:, :horizon]
    year["principal"] -= loan_lost[:, horizon : 2 * horizon]
    year["fund_end"] -= loan_lost[:, 2 * horizon :]
    year["bank_end"] -= _weighted(tail_sum(terms.bank_loan[g]), co.tail_bank)
    defaults = tail_sum()
    year["files"] -= _weighted(defaults, co.tail_files)
    year["jobs"] -= _weighted(tail_sum(jobs_i), co.tail_jobs)
    at_year = rows * years + offset
    first = co.year - 1
    year["defaults"][:, first:] += defaults.reshape(n, n_buckets, years).sum(axis=1)
    year["fund_rec"][:, first:] += np.bincount(at_year, fund_rec, minlength=n * years).reshape(n, years)
    year["bank_rec"][:, first:] += np.bincount(at_year, bank_rec, minlength=n * years).reshape(n, years)

    # -- conditional subsidies clawed back at the check year from surviving firms ---------------
    check = terms.check_year[sl]
    claw = (terms.subsidy[sl] > 0) & (check >= 1) & (check <= horizon)
    if claw.any():
        default_year = np.full(u.shape, horizon + 1, dtype=np.int64)
        default_year[rows, cols] = tau
        idx = np.flatnonzero(claw)
        c_year = check[idx]
        achieved = realisation[:, idx] * terms.ramp[co.start + idx, c_year]
        short = (achieved < 1.0).astype(float) if terms.clawback_full else np.clip(1.0 - achieved, 0.0, 1.0)
        surviving = default_year[:, idx] > c_year
        if ok is not None:
            surviving &= ok[:, idx]
        clawed = surviving * short * terms.subsidy[sl][idx]
        for y in np.unique(c_year):
            year["clawed"][:, y - 1] += clawed[:, c_year == y].sum(axis=1)


def _downturn_uniform(u: np.ndarray, gamma: np.ndarray, loadings: np.ndarray, z: np.ndarray, terms: Terms,
                      g: np.ndarray) -> np.ndarray:
    """The defaulters' recovery uniforms tied to the cycle: ``Phi(gamma S + sqrt(1 - gamma^2) Phi^-1(u))``.

    ``S = beta . Z_tau / |beta|`` is the firm's standardised systematic factor in its default
    year (``z``: the (k, F) factors of each defaulter's path and year); a firm with no loading
    keeps its uniform.
    """
    systematic = (loadings[:, 0] * z[:, 0]
                  + loadings[:, 1] * np.take_along_axis(z, 1 + terms.sector[g][:, None], axis=1)[:, 0]
                  + loadings[:, 2] * np.take_along_axis(z, 1 + terms.n_sectors + terms.territory[g][:, None],
                                                        axis=1)[:, 0])
    norm = np.sqrt((loadings**2).sum(axis=1))
    tied = (gamma > 0) & (norm > 0)
    s = systematic / np.where(norm > 0, norm, 1.0)
    xi = special.ndtri(np.clip(u, 2.0**-60, 1.0 - 2.0**-53))
    return np.where(tied, special.ndtr(gamma * s + np.sqrt(1.0 - gamma * gamma) * xi), u)


def _twisted(p: np.ndarray, theta: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """``p e^(theta l) / (1 + p (e^(theta l) - 1))`` for (n, k) ``p``, (n,) ``theta``, (k,) ``l``."""
    growth = np.exp(theta[:, None] * loss[None, :])
    return p * growth / (1.0 + p * (growth - 1.0))


def _twist_theta(plan: Plan, cdfs: dict, twist: Twist, n: int) -> np.ndarray:
    """Each path's twist ``theta >= 0``: ``sum_i l_i p_i(theta) = target``, by safeguarded Newton."""
    p = np.concatenate(
        [np.take(cdfs[id(co)][:, :, -1], co.local_class, axis=1) for co in plan.cohorts], axis=1
    )
    loss = np.concatenate([twist.loss[co.cols] for co in plan.cohorts])
    weight = np.ones_like(loss) if twist.financed is None else np.concatenate([twist.financed[co.cols] for co in plan.cohorts])
    p = np.broadcast_to(p, (n, p.shape[1]))
    scale = float(loss.max()) if loss.size and loss.max() > 0 else 1.0
    ell = loss / scale  # theta is found for losses in units of the largest one
    target = twist.target / scale
    theta = np.zeros(n)
    if target >= (weight * ell).sum():  # beyond the largest possible loss: twist as far as is sensible
        return np.full(n, 30.0 / scale)
    lo, hi = np.zeros(n), np.full(n, 60.0)
    active = np.ones(n, dtype=bool)  # each path stops on its own: its theta never depends on the others
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(60):
            q = _twisted(p, theta, ell)
            gap = (weight * ell * q).sum(axis=1) - target
            lo = np.where(active & (gap < 0), theta, lo)
            hi = np.where(active & (gap >= 0), theta, hi)
            slope = (weight * ell * ell * q * (1.0 - q)).sum(axis=1)
            step = np.where(slope > 0, theta - gap / np.where(slope > 0, slope, 1.0), hi)
            new = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
            new = np.where(active, new, theta)
            active &= np.abs(new - theta) > 1e-10 * (1.0 + theta)
            theta = new
            if not active.any():
                break
    base = (weight * ell * p).sum(axis=1) >= target
    return np.where(base, 0.0, theta) / scale


def _twisted_uniforms(u, p, ok, theta, loss, log_weight) -> np.ndarray:
    """Default uniforms under the twist (financed loans only), adding the log likelihood ratio."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = _twisted(p, theta, loss)
        default = u < q
        # below p for a default (uniform there), at or above p otherwise
        below = np.minimum(u * (p / np.where(q > 0, q, 1.0)), np.nextafter(p, 0.0))
        twisted = np.where(default, below, p + (u - q) * ((1.0 - p) / np.where(q < 1, 1.0 - q, 1.0)))
        ratio = np.where(default, np.log(p) - np.log(q), np.log1p(-p) - np.log1p(-q))
    ratio = np.where(q == p, 0.0, ratio)
    if ok is not None:
        twisted = np.where(ok, twisted, u)
        ratio = np.where(ok, ratio, 0.0)
    log_weight += ratio.sum(axis=1)
    return twisted


def _weighted(weights: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``weights @ table`` for (n or 1, r) weights and an (r, k) table, by ``einsum``'s own loops
    (not BLAS, whose rounding depends on the number of rows, i.e. on the chunk size)."""
    return np.einsum("nr,rk->nk", weights, table)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Per-path ratio, missing (NaN) where the denominator is zero or negligible (< 1e-9):
    a cost per job over no job is undefined, not infinite."""
    defined = denominator >= 1e-9
    return np.where(defined, numerator / np.where(defined, denominator, 1.0), np.nan)

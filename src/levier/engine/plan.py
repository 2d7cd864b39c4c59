"""The static tables of the compiled kernel (:mod:`levier.engine.kernel`), made once per run.

A *bucket* is a set of loans with the same first year of hazard and the same unit schedules
(share outstanding, bank share, job ramp, rate, report year): their yearly flows are the bucket's
unit schedules weighted by the path's sums over its loans still alive. A *cell* is a bucket's
loans of one sector and territory: the per-group sums are kept by cell. This module needs only
numpy (the compiled code is imported when a path is first simulated).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from levier import elementwise
from levier.model.terms import Terms

__all__ = ["KERNEL_PATHS", "KERNEL_YEARS", "Plan", "plan_work"]

# columns of the per-cell accumulators of a path (sums of non-negative terms only: a cell whose
# loans all default has exactly no job alive, not a rounding residue)
A_FIN, A_LOAN, A_BANK, A_INV, A_PLANNED, A_SUB, A_ADD = range(7)  # the first six are fixed for the loan book
A_ALIVE, A_ALIVE_ADD, A_ALIVE_NET, A_KEPT, A_KEPT_ADD, A_KEPT_NET, A_CHECK_ALIVE, A_CHECK_KEPT = range(7, 15)
A_FLOSS, A_BLOSS, A_NDEF = range(15, 18)
A_GLOSS, A_GFEE, A_VAR = range(18, 21)  # the instruments: guarantor's loss, guarantee fees, variable interest
N_ACC = 21
# the accumulator of each of SECTOR_COLUMNS (jobs created and additional are computed)
GROUP_ACC = np.array([A_LOAN, A_FLOSS, A_BANK, A_BLOSS, A_INV, A_FIN, A_ADD, A_NDEF, -1, -1, A_PLANNED,
                      A_GLOSS, A_GFEE, A_VAR], dtype=np.int64)

# rows of the per-year accumulators of a path
Y_INT, Y_PRIN, Y_FEND, Y_BEND, Y_BINT, Y_FILES, Y_JOBS, Y_DEF, Y_FREC, Y_BREC, Y_CLAW, Y_DISB, Y_NEW = range(13)
Y_GLOSS, Y_GFEE, Y_VAR = range(13, 16)
Y_VIG = 16  # vigilance: the cost of the year's cases
N_YEAR = 17

#: Per-path outputs of :func:`run_paths`, in the order of its ``out_paths`` columns.
KERNEL_PATHS = ("fund_lent", "bank_lent", "investment", "n_financed", "jobs_planned", "subsidies", "n_additional",
                "jobs_created", "jobs_additional", "jobs_net", "jobs_at_check", "fund_loss", "bank_loss", "n_defaults",
                "fund_net_cost", "job_years", "fund_outstanding_end", "fund_interest", "fund_principal",
                "fund_recoveries", "bank_recoveries", "operating_costs", "clawbacks", "bank_interest",
                "guarantor_loss", "guarantor_fees", "fund_variable_interest",
                "n_watched", "n_cured", "vigilance_costs", "jobs_saved",
                "fund_available_end")  # the capital the lending rule has left: fund_capital_end
#: Per-year outputs, in the order of ``out_years``.
KERNEL_YEARS = ("fund_outstanding", "bank_outstanding", "defaults", "jobs", "fund_cash_flow", "new_loans",
                "live_files", "bank_interest", "guarantor_loss", "guarantor_fees", "fund_variable_interest", "fund_disbursed")


@dataclass(frozen=True, eq=False)
class Plan:
    """The static tables of a run's kernel (path-independent, built once by :func:`plan_work`).

    ``arrays`` are passed to :func:`run_paths` in order; ``n_cells`` and ``n_buckets`` size its
    scratch. A *bucket* is a set of loans with the same first year and unit schedules (share
    outstanding, bank share, job ramp, rate, report year); a *cell* a bucket's loans of one
    sector and territory.
    """

    arrays: tuple
    terms: Terms
    book_value: float = 0.0  # what the loan book's loans granted before year 1 still owe at its start

    @cached_property  # asked at every chunk: computed once
    def mechanisms(self) -> tuple[bool, bool, bool, bool, bool]:
        """Which optional mechanisms the run can use: vigilance, a guarantee, its envelope,
        variable interest, downturn recoveries (what selects the kernel's compiled variant)."""
        scalars, rec_gamma = self.arrays[0], self.arrays[-1]
        return (bool(scalars[20] > 0), bool(scalars[11] > 0 or scalars[15] > 0), bool(scalars[15] > 0),
                bool(scalars[18] > 0), bool(np.any(rec_gamma > 0)))


def plan_work(terms: Terms) -> Plan:
    """The static tables of ``terms`` for :func:`run_paths` (once per run)."""
    T, m = terms.horizon, terms.n_projects
    first = np.maximum(terms.entry, 1).astype(np.int64)
    book = np.arange(m) < terms.n_book
    report = np.clip(terms.check_year, 1, T).astype(np.int64)

    # buckets and cells, ordered by (first year, schedules, sector, territory)
    keys = np.column_stack([first, terms.fund_out, terms.bank_out, terms.ramp, terms.fund_rate, report])
    _, bucket_of = np.unique(keys, axis=0, return_inverse=True)
    bucket_of = bucket_of.reshape(-1)
    cell_keys = np.column_stack([bucket_of, terms.sector, terms.territory])
    cells, cell_first, cell_of = np.unique(cell_keys, axis=0, return_index=True, return_inverse=True)
    cell_of = cell_of.reshape(-1).astype(np.int64)
    n_buckets = int(bucket_of.max()) + 1 if m else 0
    cell_bucket = cells[:, 0].astype(np.int64) if m else np.zeros(0, np.int64)
    cell_sector = cells[:, 1].astype(np.int64) if m else np.zeros(0, np.int64)
    cell_ter = cells[:, 2].astype(np.int64) if m else np.zeros(0, np.int64)
    bucket_rep = np.zeros(n_buckets, np.int64)
    bucket_rep[bucket_of] = np.arange(m)
    b_first = first[bucket_rep]
    cell_year = b_first[cell_bucket] if m else np.zeros(0, np.int64)

    t = np.arange(1, T + 1)
    fo, bo = terms.fund_out[bucket_rep], terms.bank_out[bucket_rep]
    live = t[None, :] >= b_first[:, None]
    unit = np.zeros((6, n_buckets, T))
    unit[0] = terms.fund_rate[bucket_rep][:, None] * fo[:, t] * live  # interest
    unit[1] = (fo[:, t] - fo[:, t + 1]) * live  # principal
    unit[2] = fo[:, t + 1] * live  # fund outstanding at the year's end
    unit[3] = bo[:, t + 1] * live  # bank outstanding at the year's end
    unit[4] = terms.bank_rate * bo[:, t] * live  # bank interest
    unit[5] = (fo[:, t] > 0) * live  # live files
    ramp_b = np.ascontiguousarray(terms.ramp[bucket_rep])

    # the loan book's fixed per-cell sums, and its entries' costs by year
    cost = terms.loan + terms.subsidy
    book_acc = np.zeros((len(cells), N_ACC))
    # a loan granted before year 1 bears flows, losses and jobs, but is not lending in the horizon
    lent = np.where(terms.entry >= 1, 1.0, 0.0)
    for col, values in ((A_FIN, np.ones(m)), (A_LOAN, terms.loan * lent), (A_BANK, terms.bank_loan * lent),
                        (A_INV, terms.investment * lent), (A_PLANNED, terms.jobs), (A_SUB, terms.subsidy)):
        book_acc[:, col] = np.bincount(cell_of[book], values[book], minlength=len(cells))
    enter_cost = np.zeros(T + 2)
    enter_sec = np.zeros((T + 2, terms.n_sectors))
    enter_ter = np.zeros((T + 2, terms.n_territories))
    book_disbursed = np.zeros(T)
    book_new = np.zeros(T)
    entry_book = terms.entry[: terms.n_book]
    for year in range(1, T + 1):
        entering = entry_book == year
        c = cost[: terms.n_book][entering]
        enter_cost[year] = c.sum()
        enter_sec[year] = np.bincount(terms.sector[: terms.n_book][entering], c, minlength=terms.n_sectors)
        enter_ter[year] = np.bincount(terms.territory[: terms.n_book][entering], c, minlength=terms.n_territories)
        book_disbursed[year - 1] = c.sum()
        book_new[year - 1] = float(entering.sum())
    pre = entry_book < 1
    pre_value = float((terms.loan[: terms.n_book][pre] * terms.fund_out[: terms.n_book][pre, 1]).sum())

    # ranges by first year: pipeline, book (both stored in order of entry), cells and buckets
    def ranges(members: np.ndarray, years: np.ndarray) -> np.ndarray:
        out = np.zeros((T + 2, 2), np.int64)
        for year in range(1, T + 1):
            idx = members[years[members] == year]
            if idx.size:
                assert np.array_equal(idx, np.arange(idx[0], idx[-1] + 1)), "a cohort's columns must be contiguous"
                out[year] = idx[0], idx[-1] + 1
        return out

    pipe_range = ranges(np.flatnonzero(~book), first)
    book_range = ranges(np.flatnonzero(book), first)
    cell_range = ranges(np.arange(len(cells)), cell_year)
    bucket_range = ranges(np.arange(n_buckets), b_first)

    # default classes: per class, the coefficients of its year's threshold
    cm = terms.class_members
    sd = terms.idiosyncratic_sd[cm]
    with np.errstate(invalid="ignore", divide="ignore"):
        class_coef = np.column_stack([-terms.loadings[cm, 0] / sd, -terms.loadings[cm, 1] / sd,
                                      -terms.loadings[cm, 2] / sd, terms.pd_threshold[cm] / sd])
    class_factor = np.column_stack([1 + terms.sector[cm], 1 + terms.n_sectors + terms.territory[cm]]).astype(np.int64)
    class_surv = 1.0 - terms.pd[cm]
    # downturn recovery: the class's standardised loadings beta / |beta| (0 without any) and each
    # loan's gamma (0 where its class loads on nothing: its recovery stays independent)
    norm = np.sqrt((terms.loadings[cm] ** 2).sum(axis=1))
    class_load = np.where(norm[:, None] > 0, terms.loadings[cm] / np.where(norm > 0, norm, 1.0)[:, None], 0.0)
    gamma = np.zeros(terms.n_projects) if terms.recovery_loading is None else terms.recovery_loading
    rec_gamma = np.where(norm[terms.default_class] > 0, gamma, 0.0)

    maybe_not_additional = terms.closes_without & (terms.accept_without > 0)
    eps = 1e-9 * max(terms.capital, 1.0)
    a = np.asarray(terms.factor_autocorrelation, dtype=float)
    vig = terms.vigilance
    scalars = np.array([terms.capital, eps, terms.operating_cost, terms.takeover, terms.sector_limit,
                        terms.territory_limit, pre_value, 1.0 if terms.recycle else 0.0,
                        1.0 if terms.clawback_full else 0.0, 1.0 if terms.correlated else 0.0,
                        1.0 if np.any(a) else 0.0,
                        # the instruments (docs/instruments.md); the envelope is inf when unlimited
                        terms.guarantee_share, terms.guarantee_cap, terms.guarantee_fee_rate,
                        terms.guarantee_envelope, 1.0 if terms.envelope_binds else 0.0,
                        terms.clawback_tolerance, terms.clawback_collected, terms.variable_rate, terms.variable_cap,
                        # vigilance (docs/vigilance.md); all zero when the fund does not watch
                        1.0 if vig is not None else 0.0, vig.lead_years if vig else 0.0,
                        vig.false_alarm_rate if vig else 0.0, vig.cure_rate if vig else 0.0,
                        vig.cost_per_case if vig else 0.0, vig.extension_years if vig else 0.0])
    c64 = np.ascontiguousarray

    def index(values: np.ndarray) -> np.ndarray:
        """An array of indices as uint32: the kernel's compiled code then knows them non-negative
        and reads with them without numba's test for a negative index (about a tenth of its time)."""
        values = np.asarray(values)
        assert values.size == 0 or (values.min() >= 0 and values.max() < 2**32), "an index out of uint32"
        return np.ascontiguousarray(values, dtype=np.uint32)

    detection = c64(vig.detection if vig else np.zeros(m), dtype=float)
    on_watch = c64(vig.on_watch if vig else np.zeros(m, dtype=bool))
    maturity_end = c64(vig.maturity_end if vig else np.zeros(m, dtype=np.int64), dtype=np.int64)
    arrays = (
        scalars,
        elementwise.power(1.0 + terms.discount_rate, -np.arange(T + 1, dtype=float)),
        c64(a), c64(np.sqrt(1.0 - a * a)),
        index(first), index(terms.default_class), index(cell_of), index(terms.sector), index(terms.territory),
        c64(terms.check_year.astype(np.int64)),
        c64(terms.eligible & np.isfinite(terms.accept_with)),
        c64(terms.accept_with * 2.0**32), c64(np.where(maybe_not_additional, terms.accept_without * 2.0**32, -1.0)),
        c64(terms.accept_unguaranteed * 2.0**32),
        c64(np.where(maybe_not_additional, terms.accept_without_unguaranteed * 2.0**32, -1.0)),
        c64(terms.guaranteed, dtype=float),
        c64(terms.loan, dtype=float), c64(terms.bank_loan, dtype=float), c64(terms.investment, dtype=float),
        c64(terms.jobs, dtype=float), c64(terms.subsidy, dtype=float), c64(cost, dtype=float),
        c64(terms.net_share, dtype=float), c64(terms.realisation_mean, dtype=float),
        c64(terms.realisation_sigma, dtype=float), c64(terms.recovery_mean, dtype=float), c64(terms.recovery_a > 0),
        # a loan's schedules are its bucket's (a bucket's loans share them): a small table, read by bucket
        c64(terms.fund_out[bucket_rep]), c64(terms.bank_out[bucket_rep]), c64(terms.recovery_table),
        pipe_range, book_range, cell_range, bucket_range,
        index(cell_bucket), index(cell_sector), index(cell_ter), index(report[bucket_rep]), unit, ramp_b, book_acc,
        enter_cost, enter_sec, enter_ter, book_disbursed, book_new,
        detection, on_watch, maturity_end, c64(terms.fund_rate, dtype=float),
        c64(class_coef), index(class_factor), c64(class_surv),
        c64(class_load), c64(rec_gamma, dtype=float),
    )
    return Plan(arrays=arrays, terms=terms, book_value=pre_value)



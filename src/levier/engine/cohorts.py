"""The static plan of the engine's work: cohorts, schedule buckets, segments and tail tables.

Projects whose hazard starts in the same year form a *cohort* (the loan book's loans granted
before year 1 start in year 1; each year's pipeline is a cohort decided by the fund). Within a
cohort, loans with identical unit schedules (share outstanding, bank share, job ramp, rate,
report year) form a *bucket*; runs of adjacent columns with the same (bucket, sector, territory)
form a *segment*. The engine works per loan only where it must (one uniform compared with its
class's cumulative default probability, the realised jobs); everything else is done per
segment, per bucket, or per defaulter with the tables built here once per run.

With every loan's default year ``tau`` in hand, a loan's yearly flows are its no-default
schedule minus the part from ``tau`` on; :class:`Cohort` holds both tables by bucket, so that
the flows of all loans of a path are ``W @ profile`` minus ``A @ tail`` with ``W`` the path's
weights per bucket and ``A`` its defaulters' weights per (bucket, default year).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from levier.model.terms import Terms

__all__ = ["Cohort", "Plan", "plan_work"]


@dataclass(frozen=True, eq=False)
class Cohort:
    """Columns ``start:stop`` whose hazard starts in ``year`` (all static, path-independent).

    Attributes
    ----------
    decided : bool
        Pipeline projects, financed by the fund's decision of the year; else loan-book loans.
    classes : ndarray (Cc,)
        One member project of each default class present; ``local_class`` maps columns to them.
    bucket, segment : ndarray (mc,)
        Each column's bucket and segment (segments are contiguous runs of columns).
    seg_starts, seg_bucket, seg_sector, seg_territory : ndarray (nseg,)
    fund_start, bank_start, ramp : ndarray (B, T + 2)
        Unit schedules by bucket, indexed by simulation year.
    report_year : ndarray (B,)
        Year at which jobs are reported for the clawback check, within ``1..T``.
    base_loan, base_bank, base_files, base_jobs : ndarray (B, k T)
        Yearly flows of a loan that never defaults, per unit of loan (interest, principal and
        outstanding at the year's end, side by side), bank loan, file and realised job.
    tail_loan, tail_bank, tail_files, tail_jobs : ndarray (B * Tc, k T)
        What a default in year ``year + j`` (row ``b * Tc + j``) removes from those flows.
    """

    year: int
    start: int
    stop: int
    decided: bool
    classes: np.ndarray
    local_class: np.ndarray
    bucket: np.ndarray
    segment: np.ndarray
    seg_starts: np.ndarray
    seg_bucket: np.ndarray
    seg_sector: np.ndarray
    seg_territory: np.ndarray
    fund_start: np.ndarray
    bank_start: np.ndarray
    ramp: np.ndarray
    report_year: np.ndarray
    base_loan: np.ndarray
    base_bank: np.ndarray
    base_files: np.ndarray
    base_jobs: np.ndarray
    tail_loan: np.ndarray
    tail_bank: np.ndarray
    tail_files: np.ndarray
    tail_jobs: np.ndarray

    @property
    def cols(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def n_buckets(self) -> int:
        return int(self.fund_start.shape[0])

    @property
    def n_segments(self) -> int:
        return int(self.seg_starts.shape[0])

    @property
    def years_left(self) -> int:
        """``Tc``: the years ``year .. T`` in which the cohort's loans can default."""
        return int(self.tail_loan.shape[0] // self.n_buckets)


@dataclass(frozen=True, eq=False)
class Plan:
    """The cohorts of a scenario, in order of their first year, and the loan book's static flows."""

    cohorts: tuple[Cohort, ...]
    book_disbursed: np.ndarray  # (T,) cost of loan-book loans entering in year t (index t - 1)
    book_new: np.ndarray  # (T,) their number
    pre_value: float  # outstanding of the book's loans granted before year 1, at the start


def plan_work(terms: Terms) -> Plan:
    """Cut the projects of ``terms`` into cohorts and tabulate their schedules (once per run)."""
    horizon, m = terms.horizon, terms.n_projects
    first_year = np.maximum(terms.entry, 1)
    book = np.arange(m) < terms.n_book
    cohorts = []
    for decided in (False, True):
        members = np.flatnonzero(book != decided)
        for year in np.unique(first_year[members]):
            cols = members[first_year[members] == year]
            if cols.size and int(year) <= horizon:
                # the book is sorted by entry and the pipeline stored in order of entry
                assert np.array_equal(cols, np.arange(cols[0], cols[-1] + 1)), "cohort columns must be contiguous"
                cohorts.append(_cohort(terms, int(year), int(cols[0]), int(cols[-1]) + 1, decided))
    cohorts.sort(key=lambda c: (c.year, c.decided))

    entry_book = terms.entry[: terms.n_book]
    cost_book = (terms.loan + terms.subsidy)[: terms.n_book]
    years = np.arange(1, horizon + 1)
    pre = entry_book < 1
    return Plan(
        cohorts=tuple(cohorts),
        book_disbursed=np.array([cost_book[entry_book == t].sum() for t in years]),
        book_new=np.array([float((entry_book == t).sum()) for t in years]),
        pre_value=float((terms.loan[: terms.n_book][pre] * terms.fund_out[: terms.n_book][pre, 1]).sum()),
    )


def _cohort(terms: Terms, year: int, start: int, stop: int, decided: bool) -> Cohort:
    horizon = terms.horizon
    cols = np.arange(start, stop)
    t_all = np.arange(horizon + 2)
    report = np.clip(terms.check_year[cols], 1, horizon)
    keys = np.column_stack(
        [terms.fund_out[cols], terms.bank_out[cols], terms.ramp[cols], terms.fund_rate[cols], report]
    )
    _, first, bucket = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    bucket = bucket.reshape(-1)
    rep = cols[first]  # a representative column of each bucket
    classes, local_class = np.unique(terms.default_class[cols], return_inverse=True)
    members = terms.class_members[classes]

    # segments: runs of equal (bucket, sector, territory) in column order
    code = (bucket * terms.n_sectors + terms.sector[cols]) * terms.n_territories + terms.territory[cols]
    seg_starts = np.r_[0, np.flatnonzero(np.diff(code)) + 1] if cols.size else np.zeros(0, np.intp)
    segment = np.cumsum(np.r_[0, (np.diff(code) != 0).astype(np.intp)]) if cols.size else np.zeros(0, np.intp)

    fund_start, bank_start, ramp = terms.fund_out[rep], terms.bank_out[rep], terms.ramp[rep]
    rate = terms.fund_rate[rep][:, None]
    t = t_all[1 : horizon + 1]
    live = (t >= year)[None, :]  # the cohort's years (loans granted before year 1 start at 1)
    interest = rate * fund_start[:, t] * live
    principal = (fund_start[:, t] - fund_start[:, t + 1]) * live
    fund_end = fund_start[:, t + 1] * live
    bank_end = bank_start[:, t + 1] * live
    files = (fund_start[:, t] > 0) * live
    jobs = ramp[:, t] * live

    years_left = horizon - year + 1
    tau = year + np.arange(years_left)  # default year of tail row j
    from_tau = (t[None, :] >= tau[:, None])[None]  # (1, Tc, T)
    after_tau = (t[None, :] > tau[:, None])[None]

    def tail(profile: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return (profile[:, None, :] * mask).reshape(-1, profile.shape[1])

    kept = terms.takeover * ramp[:, tau]  # (B, Tc) share of jobs kept after a default in tau
    jobs_tail = ((ramp[:, None, t] - kept[:, :, None]) * from_tau).reshape(-1, horizon)
    loan_profile = np.concatenate([interest, principal, fund_end], axis=1)
    return Cohort(
        year=year,
        start=start,
        stop=stop,
        decided=decided,
        classes=members,
        local_class=np.asarray(local_class, dtype=np.intp).reshape(-1),
        bucket=np.asarray(bucket, dtype=np.intp),
        segment=np.asarray(segment, dtype=np.intp),
        seg_starts=np.asarray(seg_starts, dtype=np.intp),
        seg_bucket=bucket[seg_starts],
        seg_sector=terms.sector[cols][seg_starts],
        seg_territory=terms.territory[cols][seg_starts],
        fund_start=fund_start,
        bank_start=bank_start,
        ramp=ramp,
        report_year=report[first],
        base_loan=loan_profile,
        base_bank=bank_end,
        base_files=files.astype(float),
        base_jobs=jobs,
        tail_loan=tail(loan_profile, np.concatenate([from_tau] * 3, axis=2)),
        tail_bank=tail(bank_end, from_tau),
        tail_files=tail(files.astype(float), after_tau),
        tail_jobs=jobs_tail,
    )

"""The names of levier's outputs and the rules on them, each written once: per-path, per-year
and per-group columns, derived columns, ratios, which tail of each metric is its risk (upper
for losses, lower for jobs), the default risk level, and the grammar of a statistic's spec (``fund_loss.es_0.99``). A leaf: it
imports nothing from levier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["ALL_RATIOS", "BANK_RATIOS", "DEFAULT_RISK_LEVEL", "DERIVED", "GAIN_METRICS", "LOSS_METRICS", "LOWER_TAIL_METRICS", "NO_TAIL_METRICS",
           "PATH_COLUMNS", "RATIOS", "SECTOR_COLUMNS", "Statistic", "YEAR_COLUMNS", "check_tail_metric", "parse_statistic",
           "risk_level", "tail_side", "with_derived"]

#: Columns of ``SimulationResult.paths``, one row per path. The first fifteen are a contract.
PATH_COLUMNS = (
    "fund_lent",  # € lent by the fund (participative loans) to financed projects
    "fund_loss",  # € of fund principal lost at default, after its (subordinated) recovery
    "fund_net_cost",  # present value of all the fund's flows (outflows positive)
    "bank_lent",  # € lent by the banks alongside the fund
    "bank_loss",  # € of bank principal lost at default, after its (senior) recovery
    "investment",  # total investment of financed projects
    "n_financed",
    "n_additional",  # financed with the fund, not without it
    "n_defaults",  # financed firms that default within the horizon
    "jobs_created",  # jobs at the horizon in financed firms
    "jobs_additional",  # jobs at the horizon in additional firms
    "job_years",  # sum over years of the jobs present at each year's end
    "cost_per_job",  # fund_net_cost / jobs_additional (NaN when no additional job)
    "leverage_bank",  # bank € per fund €, over financed projects (NaN when nothing lent)
    "leverage_investment",  # investment € per fund €
    "jobs_net",  # additional jobs net of the sectors' and territories' deadweight
    "jobs_planned",  # jobs planned by the financed projects (their files' J)
    "jobs_at_check",  # jobs at each project's check year (clawback_year), as funds report
    "subsidies",  # conditional subsidies paid
    "fund_interest",
    "fund_principal",  # principal repaid to the fund
    "fund_recoveries",
    "bank_recoveries",
    "operating_costs",
    "clawbacks",  # subsidies clawed back
    "fund_outstanding_end",  # fund principal still owed by live firms at the horizon
    "bank_interest",  # interest received by the banks: bank.rate x their loan outstanding at the year's start
    "guarantor_loss",  # € of bank loss borne by the guarantor ([guarantee]); bank_loss is net of it
    "guarantor_fees",  # guarantee fees paid by the firms on the guaranteed outstanding
    "fund_variable_interest",  # the participative loan's profit-linked interest (policy.variable_rate)
    "fund_irr",  # internal rate of return of the fund's yearly flows (NaN where undefined)
    "fund_peak_need",  # largest cumulative net outflow, each year's loans out before its repayments in
    "fund_capital_end",  # what the lending rule has left to lend after the horizon (interest apart)
    "n_watched",  # files the fund's vigilance flagged (coming defaults detected + false alarms)
    "n_cured",  # detected files whose restructuring saved them from that default
    "vigilance_costs",  # € spent on flagged files (cost_per_case each)
    "jobs_saved",  # jobs at the horizon that the cures kept
)

#: Per-year metrics, by path and year (``by_year()``).
YEAR_COLUMNS = (
    "fund_outstanding",  # end of year, live firms
    "bank_outstanding",
    "defaults",
    "jobs",
    "fund_cash_flow",  # inflows - outflows of the fund in the year
    "new_loans",
    "live_files",
    "bank_interest",  # the banks' interest received in the year (undiscounted)
    "guarantor_loss",
    "guarantor_fees",
    "fund_variable_interest",
    "fund_cumulative_cash",  # sum of fund_cash_flow up to the year's end (the J-curve)
    "fund_disbursed",  # € paid out at entry in the year (loans and subsidies)
)

#: Metrics kept by path and sector / territory (``by_sector()``, ``by_territory()``).
SECTOR_COLUMNS = (
    "fund_lent",
    "fund_loss",
    "bank_lent",
    "bank_loss",
    "investment",
    "n_financed",
    "n_additional",
    "n_defaults",
    "jobs_created",
    "jobs_additional",
    "jobs_planned",
    "guarantor_loss",
    "guarantor_fees",
    "fund_variable_interest",
)

#: Portfolio ratios reported by ``SimulationResult.ratios()``: name → (numerator, denominator),
#: each a ratio of means over paths.
RATIOS = {
    "cost_per_job": ("fund_net_cost", "jobs_additional"),
    "cost_per_net_job": ("fund_net_cost", "jobs_net"),
    "leverage_bank": ("bank_lent", "fund_lent"),
    "leverage_investment": ("investment", "fund_lent"),
    "loss_rate": ("fund_loss", "fund_lent"),
    "bank_loss_rate": ("bank_loss", "bank_lent"),
    "fund_lent_per_project": ("fund_lent", "n_financed"),
    "jobs_planned_per_project": ("jobs_planned", "n_financed"),
    "jobs_created_per_project": ("jobs_created", "n_financed"),
    "fund_lent_per_planned_job": ("fund_lent", "jobs_planned"),
    "fund_outlay_per_job_created": ("fund_outlay", "jobs_created"),
    "vigilance_cost_per_job_saved": ("vigilance_costs", "jobs_saved"),
}

#: Metrics whose upper tail is the risk: VaR and ES are reported for these.
LOSS_METRICS = ("fund_loss", "fund_net_cost", "bank_loss", "n_defaults", "guarantor_loss", "fund_peak_need")

#: Metrics where more is better (jobs): their risk is the *lower* tail — VaR, ES and exceedance
#: are of the shortfall (``summary()``, :func:`levier.tail_risk`, the CLI).
GAIN_METRICS = ("jobs_created", "jobs_additional", "jobs_net", "jobs_at_check", "job_years", "jobs_saved")

#: Every metric whose risk is its lower tail: the jobs, and the fund's return and what it has left
#: to lend at the horizon (``summary()`` reports VaR and ES for the jobs only; the return has no
#: tail to estimate, :data:`NO_TAIL_METRICS`, but its bad side is still the lower one).
LOWER_TAIL_METRICS = (*GAIN_METRICS, "fund_irr", "fund_capital_end")

#: Metrics without a tail, and why: VaR, ES and exceedance probabilities of them are refused.
NO_TAIL_METRICS = {
    "fund_irr": "it is undefined (NaN) on the paths whose flows never change sign, total losses among them, so "
                "its VaR, ES and exceedance would leave out the worst paths; take fund_net_cost (the present "
                "value of the same flows) or fund_capital_end",
}


def check_tail_metric(metric: str) -> str:
    """``metric`` if it has a tail, a ``ValueError`` saying why not otherwise.

    >>> check_tail_metric("fund_loss")
    'fund_loss'
    """
    if metric in NO_TAIL_METRICS:
        raise ValueError(f"{metric} has no tail: {NO_TAIL_METRICS[metric]}")
    return metric


def tail_side(metric: str) -> str:
    """Which tail of ``metric`` is its risk: ``"lower"`` for :data:`LOWER_TAIL_METRICS` (where more
    is better), else ``"upper"``.

    The one home of the rule: every VaR, ES and exceedance probability in levier asks it.

    Examples
    --------
    >>> tail_side("jobs_additional"), tail_side("fund_irr"), tail_side("fund_loss")
    ('lower', 'lower', 'upper')
    """
    return "lower" if metric in LOWER_TAIL_METRICS else "upper"


#: Columns computed from the per-path ones: name → the columns it adds up. ``fund_outlay`` is
#: what the fund pays out: its loans and its subsidies.
DERIVED = {"fund_outlay": ("fund_lent", "subsidies")}

#: The risk level used where one level must be chosen (a sweep's objective, a report's card).
DEFAULT_RISK_LEVEL = 0.99


def risk_level(levels: Sequence[float]) -> float:
    """:data:`DEFAULT_RISK_LEVEL` if the scenario reports it, else its largest level."""
    return DEFAULT_RISK_LEVEL if DEFAULT_RISK_LEVEL in levels else max(levels)


#: Ratios of means whose columns need the scenario (the bank's rate), given by :func:`with_derived`
#: with ``bank_rate``: ``bank_default_rate_by_amount`` — the bank's exposure at default over its
#: loan-years (the opening balances of each year a loan is outstanding), an annual default rate
#: weighted by amount.
BANK_RATIOS = {"bank_default_rate_by_amount": ("bank_at_default", "bank_loan_years")}
#: Every ratio a statistic may name: :data:`RATIOS` and :data:`BANK_RATIOS`.
ALL_RATIOS = {**RATIOS, **BANK_RATIOS}


def with_derived(values: Mapping[str, np.ndarray], bank_rate: float | None = None) -> dict[str, np.ndarray]:
    """The per-path columns and the :data:`DERIVED` ones; with ``bank_rate`` (``bank.rate``) the
    columns of :data:`BANK_RATIOS` too: ``bank_at_default`` (what the defaulters owed the bank,
    its loss plus its recoveries) and ``bank_loan_years`` (the surviving loans' ``bank_interest /
    rate`` plus the exposure at default; NaN when the bank lends at 0 %)."""
    out = dict(values)
    for name, parts in DERIVED.items():
        out[name] = sum((out[p] for p in parts[1:]), start=out[parts[0]])
    if bank_rate is not None:
        at_default = out["bank_loss"] + out["bank_recoveries"]
        out["bank_at_default"] = at_default
        out["bank_loan_years"] = out["bank_interest"] / bank_rate + at_default if bank_rate > 0 else at_default * np.nan
    return out


class Statistic(NamedTuple):
    """A statistic named by a spec: ``METRIC`` or ``METRIC.mean`` (a mean over paths),
    ``RATIO`` (a ratio of means, :data:`RATIOS`), ``METRIC.var_ALPHA`` or ``METRIC.es_ALPHA``."""

    spec: str
    metric: str
    kind: str  # "mean", "ratio", "var" or "es"
    level: float | None = None


_SPEC = re.compile(r"^(?P<metric>[a-z_]+)(?:\.(?P<stat>mean|es_[0-9.]+|var_[0-9.]+))?$")


def parse_statistic(spec: str) -> Statistic:
    """The statistic a spec names; a ``ValueError`` saying what is expected otherwise.

    Examples
    --------
    >>> parse_statistic("fund_loss.es_0.99")
    Statistic(spec='fund_loss.es_0.99', metric='fund_loss', kind='es', level=0.99)
    >>> parse_statistic("cost_per_job").kind
    'ratio'
    """
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"bad statistic {spec!r}: expected METRIC, RATIO, METRIC.mean, METRIC.es_ALPHA or METRIC.var_ALPHA")
    metric, stat = match.group("metric"), match.group("stat") or "mean"
    if stat == "mean" and metric in ALL_RATIOS and match.group("stat") is None:
        return Statistic(spec, metric, "ratio")
    if metric not in PATH_COLUMNS:
        known = ", ".join(list(PATH_COLUMNS) + [r for r in ALL_RATIOS if r not in PATH_COLUMNS])
        raise ValueError(f"unknown metric {metric!r} in {spec!r}; expected one of: {known}")
    if stat == "mean":
        return Statistic(spec, metric, "mean")
    kind, alpha = stat.split("_", 1)
    check_tail_metric(metric)
    level = float(alpha)
    if not 0 < level < 1:
        raise ValueError(f"bad level in {spec!r}: must be in (0, 1)")
    return Statistic(spec, metric, kind, level)

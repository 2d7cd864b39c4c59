"""The fund's instruments side by side: loan only, loan + subsidy, loan + guarantee.

:func:`compare_instruments` runs the three on common random numbers with :func:`levier.compare`
(the lab's own comparison), and :func:`instrument_table` lays out what an analyst asks of them:
jobs, cost per additional job, bank € per fund €, the fund's, the bank's and the guarantor's
losses, each with its 95 % Monte Carlo interval and its paired difference with the loan alone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from levier.analysis.lab import Comparison, compare
from levier.model.scenario import Scenario
from levier.stats import Z95

__all__ = ["INSTRUMENT_METRICS", "compare_instruments", "instrument_table"]

#: The statistics of the comparison, with their labels.
INSTRUMENT_METRICS = {
    "n_financed": "Projects financed",
    "jobs_additional": "Jobs additional",
    "cost_per_job": "Cost per additional job (€)",
    "leverage_bank": "Bank € per fund €",
    "fund_loss": "Fund loss (€)",
    "bank_loss": "Bank loss (€)",
    "guarantor_loss": "Guarantor loss (€)",
}




def compare_instruments(
    scenario: Scenario,
    *,
    subsidy_per_job: float | None = None,
    guarantee_share: float = 0.5,
    paths: int | None = None,
    seed: Any = None,
    client: Any = None,
) -> Comparison:
    """Loan only against loan + subsidy and loan + guarantee, on common random numbers.

    Parameters
    ----------
    scenario : Scenario
        Its policy gives the loan; its subsidy and guarantee are replaced by the three variants'.
    subsidy_per_job : float, optional
        The subsidy of "loan + subsidy" (default: the scenario's ``policy.subsidy_per_job``), which
        the bank counts as equity (``bank.subsidy_is_equity = true``).
    guarantee_share : float
        The guarantee of "loan + guarantee" (no cap, no fee, no envelope unless the scenario's
        ``[guarantee]`` table gives them).
    paths, seed, client :
        As for :func:`levier.compare`.

    Returns
    -------
    Comparison
        Baseline ``"loan only"`` (no subsidy, no guarantee); variants ``"loan + subsidy"`` and
        ``"loan + guarantee"``. :func:`instrument_table` formats it.

    Examples
    --------
    >>> import levier  # doctest: +SKIP
    >>> c = levier.compare_instruments(levier.load_scenario("scenarios/moselle_est.toml"), paths=2000)  # doctest: +SKIP
    >>> levier.instrument_table(c)  # doctest: +SKIP
    """
    subsidy = float(scenario.policy.subsidy_per_job if subsidy_per_job is None else subsidy_per_job)
    if subsidy <= 0:
        raise ValueError("loan + subsidy needs a subsidy: give subsidy_per_job > 0 (the scenario has none)")
    if not 0 < guarantee_share <= 1:
        raise ValueError(f"guarantee_share must be in (0, 1], got {guarantee_share}")
    loan_only = scenario.with_overrides({"policy.subsidy_per_job": 0.0, "guarantee.share": 0.0})
    variants = {
        "loan + subsidy": {"policy.subsidy_per_job": subsidy, "bank.subsidy_is_equity": True},
        "loan + guarantee": {"guarantee.share": float(guarantee_share)},
    }
    return compare(loan_only, variants, paths=paths, seed=seed, statistics=list(INSTRUMENT_METRICS),
                   baseline="loan only", client=client)


def instrument_table(comparison: Comparison) -> pd.DataFrame:
    """One row per statistic and instrument: value and difference with the loan alone, with 95 % intervals.

    Columns: ``value``, ``value_low`` / ``value_high`` (the estimate's 95 % Monte Carlo interval),
    ``difference`` (instrument − loan only, path by path on common random numbers) and its
    ``low`` / ``high``.
    """
    table = comparison.table
    rows = []
    for spec, label in INSTRUMENT_METRICS.items():
        if spec not in table.index.get_level_values(0):
            continue
        for variant in comparison.results:
            row = table.loc[(spec, variant)]
            rows.append({"figure": label, "instrument": variant, "value": row["value"],
                         "value_low": row["value"] - Z95 * row["se"], "value_high": row["value"] + Z95 * row["se"],
                         "difference": row["difference"], "low": row["low"], "high": row["high"]})
    return pd.DataFrame(rows).set_index(["figure", "instrument"])

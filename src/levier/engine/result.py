"""What a simulation returns: per-path outcomes and the tables a fund manager reads.

:class:`SimulationResult` holds one row per path (``.paths``), per-year and per-sector
reductions, and the provenance (``.meta``). Every table is computed from those arrays on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from levier.stats import describe, es_weights, ratio_of_means, tail_dot

if TYPE_CHECKING:
    from levier.model.portfolio import Portfolio
    from levier.model.scenario import Scenario

from levier.names import (GAIN_METRICS, LOSS_METRICS, PATH_COLUMNS, RATIOS, SECTOR_COLUMNS, YEAR_COLUMNS,
                          check_tail_metric, tail_side, with_derived)

__all__ = ["SimulationResult"]

class SimulationResult:
    """The outcome of :func:`levier.simulate`.

    Attributes
    ----------
    scenario : Scenario
    portfolio : Portfolio
        The projects simulated (the loan book and the candidate pipeline).
    meta : dict
        Provenance: seed entropy, scenario hash, levier version, paths, block size, timings.

    Notes
    -----
    ``summary()``'s VaR is the lower alpha-quantile and its ES the Acerbi-Tasche expected
    shortfall of the sample (right for discrete losses); see :mod:`levier.stats`.
    """

    def __init__(
        self,
        *,
        scenario: Scenario,
        portfolio: Portfolio,
        path_values: dict[str, np.ndarray],
        year_values: dict[str, np.ndarray],
        sector_values: dict[str, np.ndarray],
        territory_values: dict[str, np.ndarray],
        meta: dict[str, Any],
        year_means: dict[str, np.ndarray] | None = None,
        sector_means: dict[str, np.ndarray] | None = None,
        territory_means: dict[str, np.ndarray] | None = None,
    ):
        self.scenario = scenario
        self.portfolio = portfolio
        self.meta = dict(meta)
        self._paths = path_values
        self._years = year_values
        self._sectors = sector_values
        self._territories = territory_values

        def means(given, values):
            return given if given is not None else {k: v.mean(axis=0, dtype=np.float64) for k, v in values.items()}

        self._year_means = means(year_means, year_values)
        self._sector_means = means(sector_means, sector_values)
        self._territory_means = means(territory_means, territory_values)
        self._frame: pd.DataFrame | None = None

    # -- tables ----------------------------------------------------------------------------

    @property
    def n_paths(self) -> int:
        return int(self._paths["fund_lent"].shape[0])

    @property
    def paths(self) -> pd.DataFrame:
        """One row per path (index ``path``), the columns of :data:`PATH_COLUMNS`."""
        if self._frame is None:
            frame = pd.DataFrame({name: self._paths[name] for name in PATH_COLUMNS})
            frame.index.name = "path"
            self._frame = frame
        return self._frame

    def to_frame(self) -> pd.DataFrame:
        """Alias of :attr:`paths`."""
        return self.paths

    def path_arrays(self) -> dict[str, np.ndarray]:
        """The columns of :attr:`paths` as read-only arrays, without building the frame (the
        policy lab reads a few statistics of every evaluation)."""
        arrays = {}
        for name in PATH_COLUMNS:
            view = self._paths[name].view()
            view.flags.writeable = False
            arrays[name] = view
        return arrays

    def summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Distribution of each per-path metric, one row per metric.

        Columns: ``count``, ``missing`` (paths where a ratio is undefined), ``mean``, ``std``,
        ``mc_se`` (Monte Carlo standard error of the mean, ``std / sqrt(count)``), the
        scenario's quantiles ``q_<p>``, and for loss metrics ``var_<alpha>`` / ``es_<alpha>`` at
        the scenario's risk levels (VaR: lower alpha-quantile, with ``var_<alpha>_low`` /
        ``_high`` its 95 % distribution-free order-statistic interval — how sure the VaR is;
        ES: Acerbi-Tasche, right for discrete losses). For the jobs
        (:data:`~levier.names.GAIN_METRICS`, where more is better) they are of the *lower* tail:
        ``var_0.95`` is the number of jobs reached with probability 95 % and ``es_0.95`` the mean
        over the worst 5 % of paths. NaN for the other metrics.
        """
        sim = self.scenario.simulation
        rows = {}
        unknown = [name for name in metrics or () if name not in self._paths]
        if unknown:
            raise KeyError(f"unknown metric {unknown[0]!r} (the per-path metrics: {', '.join(self._paths)})")
        for name in metrics or PATH_COLUMNS:
            levels = sim.risk_levels if name in LOSS_METRICS or name in GAIN_METRICS else ()
            stats = describe(self._paths[name], sim.quantiles, levels, side=tail_side(name))
            for alpha in sim.risk_levels:
                for key in (f"var_{alpha:g}", f"var_{alpha:g}_low", f"var_{alpha:g}_high", f"es_{alpha:g}"):
                    stats.setdefault(key, np.nan)
            rows[name] = stats
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "metric"
        return frame

    def ratios(self) -> pd.DataFrame:
        """Portfolio ratios as ratios of means, with delta-method Monte Carlo standard errors.

        ``cost_per_job`` = E[fund_net_cost] / E[jobs_additional], ``cost_per_net_job`` the same
        over deadweight-net jobs, ``leverage_bank`` = E[bank_lent] / E[fund_lent],
        ``leverage_investment`` = E[investment] / E[fund_lent], ``loss_rate`` =
        E[fund_loss] / E[fund_lent], and the programme figures funds publish (euros lent per
        project and per planned job, jobs per project, the fund's outlay — loans and
        subsidies — per job created); see :data:`RATIOS`. These are what a fund reports for a
        policy as a whole (the per-path columns of the same names are the distribution path by
        path).
        """
        p = with_derived(self._paths)
        rows = {}
        for name, (num, den) in RATIOS.items():
            value, se = ratio_of_means(p[num], p[den])
            rows[name] = {"value": value, "mc_se": se, "numerator": num, "denominator": den}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "ratio"
        return frame

    def by_year(self) -> pd.DataFrame:
        """Per-year mean, sd and quantiles over paths; index ``(metric, year)``.

        Metrics: :data:`YEAR_COLUMNS` (fund and bank outstanding at the end of the year,
        defaults, jobs present, the fund's net cash flow, new loans, live files).
        """
        quantiles = self.scenario.simulation.quantiles
        records = []
        for name in YEAR_COLUMNS:
            values = self._years[name]
            qs = np.quantile(values, quantiles, axis=0, method="inverted_cdf").astype(np.float64)
            for t in range(values.shape[1]):
                row = {"metric": name, "year": t + 1, "mean": self._year_means[name][t],
                       "std": values[:, t].std(ddof=1, dtype=np.float64) if values.shape[0] > 1 else 0.0}
                row.update({f"q_{q:g}": qs[i, t] for i, q in enumerate(quantiles)})
                records.append(row)
        return pd.DataFrame.from_records(records).set_index(["metric", "year"])

    def year_paths(self, metric: str) -> pd.DataFrame:
        """One per-year metric by path: rows are paths, columns years 1..T."""
        if metric not in self._years:
            raise ValueError(f"{metric!r} is not a per-year metric; expected one of: {', '.join(self._years)}")
        frame = pd.DataFrame(self._years[metric].astype(np.float64),
                             columns=range(1, self.scenario.simulation.horizon_years + 1))
        frame.index.name = "path"
        frame.columns.name = "year"
        return frame

    def group_paths(self, metric: str, by: str = "sector") -> pd.DataFrame:
        """One metric of :data:`SECTOR_COLUMNS` by path and sector (or territory): paths × groups."""
        if by not in ("sector", "territory"):
            raise ValueError("by must be 'sector' or 'territory'")
        kept = self._sectors if by == "sector" else self._territories
        if metric not in kept:
            if metric in SECTOR_COLUMNS:
                raise ValueError(f"{metric} by path and {by} was not kept in this run (keep={self.meta.get('keep')!r}); "
                                 "simulate with keep='all' to keep it")
            raise ValueError(f"{metric!r} is not one of {', '.join(SECTOR_COLUMNS)}")
        names = self.scenario.sector_names if by == "sector" else self.scenario.territory_names
        frame = pd.DataFrame(kept[metric].astype(np.float64), columns=pd.Index(names, name=by))
        frame.index.name = "path"
        return frame

    def by_sector(self) -> pd.DataFrame:
        """Per sector (filière): means of :data:`SECTOR_COLUMNS` and contributions to fund ES."""
        return self._by_group(self._sectors, self._sector_means, self.scenario.sector_names, "sector")

    def by_territory(self) -> pd.DataFrame:
        """Per territory (bassin): the same as :meth:`by_sector`."""
        return self._by_group(self._territories, self._territory_means, self.scenario.territory_names, "territory")

    def _by_group(self, values: dict[str, np.ndarray], group_means: dict[str, np.ndarray], names: list[str],
                  label: str) -> pd.DataFrame:
        frame = pd.DataFrame({name: group_means[name] for name in SECTOR_COLUMNS}, index=pd.Index(names, name=label))
        total = self._paths["fund_loss"]
        order = np.argsort(total, kind="stable")
        expected = total.mean()
        frame["share_of_expected_loss"] = frame["fund_loss"] / expected if expected > 0 else np.nan
        for alpha in self.scenario.simulation.risk_levels:
            # Euler allocation of ES: the group's mean loss over the same weighted tail paths;
            # the contributions add up to the portfolio's ES exactly.
            frame[f"es_contribution_{alpha:g}"] = tail_dot(es_weights(total.size, alpha), values["fund_loss"], order)
        return frame

    def exceedance_probability(self, metric: str, threshold: float) -> tuple[float, float]:
        """P(metric > threshold) — where more is better (the jobs, the fund's capital at the
        horizon: :func:`levier.names.tail_side`), P(metric < threshold), the probability of
        falling short of a target — and its binomial Monte Carlo standard error (NaN when no
        path is beyond: 0 would claim certainty). ``fund_irr`` has none
        (:data:`levier.names.NO_TAIL_METRICS`)."""
        x = self._paths[check_tail_metric(metric)]
        x = x[~np.isnan(x)]
        beyond = x > threshold if tail_side(metric) == "upper" else x < threshold
        p = float(np.mean(beyond)) if x.size else float("nan")
        return p, float(np.sqrt(p * (1 - p) / x.size)) if x.size and p > 0 else float("nan")

    # -- display ---------------------------------------------------------------------------

    @property
    def plot(self):
        """The pictures of this result (matplotlib, ``pip install 'levier[plot]'``):
        ``loss()``, ``jobs()``, ``cost_per_job()``, ``distribution(metric)``, ``fan(metric)``,
        ``leverage()``, ``groups(by)``; each takes ``ax=None`` and returns the axes."""
        from levier.present.plots import ResultPlots

        return ResultPlots(self)

    def headline(self) -> pd.DataFrame:
        """The figures a fund manager reads first, with their Monte Carlo standard errors."""
        from levier.present.display import headline_table

        return headline_table(self)

    def __repr__(self) -> str:
        ratios = self.ratios()["value"]
        jobs = self._paths["jobs_additional"].mean()
        loss = self._paths["fund_loss"].mean()
        return (
            f"<SimulationResult {self.scenario.meta.name!r}: {self.n_paths:,} paths, "
            f"{self._paths['n_financed'].mean():.1f} projects financed, {jobs:,.0f} additional jobs, "
            f"cost per job {ratios['cost_per_job']:,.0f} €, fund expected loss {loss:,.0f} €>"
        )

    def _repr_html_(self) -> str:
        from levier.present.display import result_html

        return result_html(self)

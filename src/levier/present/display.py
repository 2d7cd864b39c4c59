"""How results read: the headline table, plain-text tables for the terminal, HTML for notebooks."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from levier.engine.result import SimulationResult
    from levier.model.scenario import Scenario

__all__ = ["format_number", "frame_html", "headline_table", "result_html", "scenario_html", "text_table"]


def format_number(value: float, digits: int = 3) -> str:
    """A number for people: thousands separators, about ``digits`` significant figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
    return f"{value:,.{min(decimals, 6)}f}"


def headline_table(result: SimulationResult, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Key figures with mean, Monte Carlo standard error and the scenario's quantiles.

    Ratios for the policy as a whole (cost per job, leverage) are ratios of means with
    delta-method standard errors; their quantile columns are the per-path distribution.
    """
    sim = result.scenario.simulation
    horizon = sim.horizon_years
    summary = result.summary() if summary is None else summary
    ratios = result.ratios()
    qcols = [f"q_{q:g}" for q in sim.quantiles]
    rows: list[tuple[str, float, float, list[float]]] = []

    def from_summary(label: str, metric: str) -> None:
        row = summary.loc[metric]
        rows.append((label, row["mean"], row["mc_se"], [row[c] for c in qcols]))

    def from_ratio(label: str, ratio: str, metric: str) -> None:
        r = ratios.loc[ratio]
        rows.append((label, r["value"], r["mc_se"], [summary.loc[metric, c] for c in qcols]))

    from_summary("Projects financed", "n_financed")
    from_summary("  of which additional", "n_additional")
    from_summary(f"Jobs created (year {horizon})", "jobs_created")
    from_summary(f"Jobs additional (year {horizon})", "jobs_additional")
    from_summary("Jobs additional, net of deadweight", "jobs_net")
    from_ratio("Cost per additional job (€)", "cost_per_job", "cost_per_job")
    from_ratio("Bank € per fund €", "leverage_bank", "leverage_bank")
    from_ratio("Investment € per fund €", "leverage_investment", "leverage_investment")
    from_summary("Fund lent (€)", "fund_lent")
    from_summary("Fund loss (€)", "fund_loss")
    from_summary("Fund net cost, PV (€)", "fund_net_cost")
    from_summary("Bank lent (€)", "bank_lent")
    from_summary("Bank loss (€)", "bank_loss")
    from_summary("Defaults", "n_defaults")
    frame = pd.DataFrame(
        [[label, mean, se, *qs] for label, mean, se, qs in rows],
        columns=["figure", "mean", "mc_se", *qcols],
    ).set_index("figure")
    return frame


_RISK_METRICS = ["fund_loss", "fund_net_cost", "bank_loss"]


def risk_table(result: SimulationResult, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """VaR and ES of the fund's loss, net cost and the bank's loss at the scenario's levels."""
    summary = result.summary(_RISK_METRICS) if summary is None else summary.loc[_RISK_METRICS]
    records = []
    for alpha in result.scenario.simulation.risk_levels:
        for metric in summary.index:
            records.append(
                {
                    "level": f"{alpha:.4g}",
                    "metric": metric,
                    "VaR": summary.loc[metric, f"var_{alpha:g}"],
                    "ES": summary.loc[metric, f"es_{alpha:g}"],
                }
            )
    frame = pd.DataFrame.from_records(records).pivot(index="metric", columns="level")
    frame.columns = [f"{stat} {float(level):.4g}" for stat, level in frame.columns]
    return frame.loc[["fund_loss", "fund_net_cost", "bank_loss"]]


def var_interval_table(result: SimulationResult, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each VaR's 95 % order-statistic interval, as text ``low – high`` ("–" where too few paths)."""
    summary = result.summary(_RISK_METRICS) if summary is None else summary.loc[_RISK_METRICS]
    columns = {}
    for alpha in result.scenario.simulation.risk_levels:
        low, high = summary[f"var_{alpha:g}_low"], summary[f"var_{alpha:g}_high"]
        columns[f"VaR {alpha:.4g}"] = [
            "–" if (lo != lo or hi != hi) else f"{format_number(lo)} – {format_number(hi)}" for lo, hi in zip(low, high)
        ]
    return pd.DataFrame(columns, index=summary.index)


def text_table(frame: pd.DataFrame, *, index_header: str = "") -> str:
    """A plain-text table with right-aligned, human-formatted numbers."""
    header = [index_header or (frame.index.name or "")] + [str(c) for c in frame.columns]
    body = [
        [str(idx)] + [format_number(v) if isinstance(v, (int, float, np.floating, np.integer)) else str(v) for v in row]
        for idx, row in zip(frame.index, frame.itertuples(index=False))
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join([header[0].ljust(widths[0])] + [h.rjust(w) for h, w in zip(header[1:], widths[1:])])]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
    return "\n".join(lines)


def run_report(result: SimulationResult) -> str:
    """What ``levier run`` prints: title, headline figures, risk figures, provenance."""
    meta = result.meta
    sim = result.scenario.simulation
    title = (
        f"{result.scenario.meta.name} — {meta['paths']:,} paths, {sim.horizon_years} years, "
        f"{meta['n_projects']} projects ({meta['n_loan_book']} in the loan book)"
    )
    if not result.paths["n_financed"].any():
        return "\n".join([
            title,
            "",
            "No project was financed on any path: check the bank's threshold and gearing, the screening",
            "(policy.max_pd), the offer (policy.loan_per_job, loan_cap) and the fund's capital.",
        ])
    summary = result.summary()  # computed once for the three tables
    headline = headline_table(result, summary).rename(columns={"mc_se": "± MC se"})
    headline.columns = [c.replace("q_", "q ") for c in headline.columns]
    parts = [
        title,
        "",
        text_table(headline),
        "",
        text_table(risk_table(result, summary), index_header="risk (€)"),
        "",
        text_table(var_interval_table(result, summary), index_header="VaR, 95 % interval"),
        "",
        f"seed entropy {meta['seed_entropy']} · scenario {meta['scenario_hash'][:12]} · "
        f"levier {meta['levier_version']} · {meta['elapsed_seconds']:.2f} s "
        f"({meta['paths'] / max(meta['elapsed_seconds'], 1e-9):,.0f} paths/s)",
    ]
    return "\n".join(parts)


def html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame.columns])
    rows = []
    for idx, row in zip(frame.index, frame.itertuples(index=False)):
        cells = "".join(
            f"<td style='text-align:right'>{html.escape(format_number(v) if isinstance(v, (int, float, np.floating)) else str(v))}</td>"
            for v in row
        )
        rows.append(f"<tr><th style='text-align:left'>{html.escape(str(idx))}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _readable(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        return format_number(v)
    return str(value)


def frame_html(frame: pd.DataFrame) -> str:
    """A result's table as HTML with numbers for people (the lab's and tail's ``_repr_html_``):
    about three significant figures with thousands separators, "–" where missing."""
    flat = frame.map(_readable)
    if isinstance(frame.index, pd.MultiIndex):
        flat.index = pd.Index([" · ".join(map(str, i)) for i in frame.index],
                              name=" · ".join(str(n) for n in frame.index.names if n))
    else:
        flat.index = pd.Index([_readable(i) for i in frame.index], name=frame.index.name)
    return html_table(flat)


def result_html(result: SimulationResult) -> str:
    """Compact HTML for notebooks: the headline figures and the provenance."""
    meta = result.meta
    title = html.escape(f"{result.scenario.meta.name} — {meta['paths']:,} paths")
    prov = html.escape(
        f"seed entropy {meta['seed_entropy']} · scenario {meta['scenario_hash'][:12]} · levier {meta['levier_version']}"
    )
    return f"<div><strong>{title}</strong>{html_table(headline_table(result))}<small>{prov}</small></div>"


def scenario_html(scenario: Scenario) -> str:
    """Compact HTML for notebooks: the policy, the bank and the sectors of a scenario."""
    pol, bank = scenario.policy, scenario.bank
    facts = pd.DataFrame(
        {
            "value": [
                pol.loan_per_job, pol.loan_cap, pol.max_share_of_investment, pol.max_pd,
                bank.threshold, bank.gearing, scenario.fund.capital, scenario.simulation.paths,
            ]
        },
        index=pd.Index(
            ["loan per job (€)", "loan cap (€)", "max share of investment", "max PD",
             "bank threshold", "bank gearing", "fund capital (€)", "paths"],
            name="",
        ),
    )
    sectors = pd.DataFrame(
        [(s.annual_pd, s.loading, s.recovery_mean, s.deadweight) for s in scenario.sectors],
        index=pd.Index(scenario.sector_names, name="sector"),
        columns=["annual PD", "loading", "recovery", "deadweight"],
    )
    return (
        f"<div><strong>{html.escape(scenario.meta.name)}</strong>"
        f"<p>{html.escape(scenario.meta.description)}</p>{html_table(facts)}{html_table(sectors)}</div>"
    )


class ProgressBar:
    """A one-line progress bar with ETA on a terminal: paths done, paths per second.

    Silent when ``stream`` is not a terminal (a log file, a pipe, CI) or when ``quiet``.
    Call it as ``bar(done, total)``; :meth:`close` ends the line.
    """

    def __init__(self, stream=None, *, quiet: bool = False, width: int = 28, every: float = 0.2, label: str = "paths"):
        import sys
        import time

        self.stream = stream if stream is not None else sys.stderr
        self.active = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self.width, self.every, self.label = width, every, label
        self._clock = time.perf_counter
        self._start = self._clock()
        self._last = -1.0
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        now = self._clock()
        if done < total and now - self._last < self.every:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("inf")
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        eta_text = "--:--" if not math.isfinite(eta) else f"{int(eta) // 60:d}:{int(eta) % 60:02d}"
        self.stream.write(f"\r[{bar}] {done:,}/{total:,} {self.label} · {rate:,.0f} {self.label}/s · ETA {eta_text} ")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

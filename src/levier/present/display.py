"""How results read: the headline table, plain-text tables for the terminal, HTML for notebooks."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, SupportsFloat

import numpy as np
import pandas as pd

from levier.present.i18n import format_number as _format_number
from levier.present.i18n import counted, format_fixed, format_percent, localise, resolves_lang
from levier.present.i18n import t as _t

if TYPE_CHECKING:
    from levier.analysis.calibrate import BankEconomics
    from levier.engine.result import SimulationResult
    from levier.model.scenario import Scenario

__all__ = ["bank_economics_line", "format_number", "frame_html", "headline_table", "result_html", "scenario_html",
           "scenario_line", "text_table", "validate_line"]


def format_number(value: SupportsFloat | None, digits: int = 3, lang: str = "en") -> str:
    """A number for people: thousands separators, about ``digits`` significant figures
    (French separators with ``lang="fr"``: see :func:`levier.present.i18n.format_number`)."""
    return _format_number(value, digits, lang)


def headline_table(result: SimulationResult, summary: pd.DataFrame | None = None, lang: str = "en") -> pd.DataFrame:
    """Key figures with mean, Monte Carlo standard error and the scenario's quantiles.

    The row labels are in ``lang``; the columns keep their code names (``mean``, ``mc_se``,
    ``q_0.05``). Ratios for the policy as a whole (cost per job, leverage) are ratios of means with
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
        rows.append((_t(label, lang, year=horizon), row["mean"], row["mc_se"], [row[c] for c in qcols]))

    def from_ratio(label: str, ratio: str, metric: str) -> None:
        r = ratios.loc[ratio]
        rows.append((_t(label, lang), r["value"], r["mc_se"], [summary.loc[metric, c] for c in qcols]))

    from_summary("Projects financed", "n_financed")
    from_summary("  of which additional", "n_additional")
    from_summary("Jobs created (year {year})", "jobs_created")
    from_summary("Jobs additional (year {year})", "jobs_additional")
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
    # what funds report, and what a board asks of a revolving fund
    check = result.scenario.policy.clawback_year
    row = summary.loc["jobs_at_check"]
    rows.append((_t("Jobs at the check year (year {check} of each project)", lang, check=check), row["mean"],
                 row["mc_se"], [row[c] for c in qcols]))
    from_summary("Job-years", "job_years")
    loss_rate = ratios.loc["loss_rate"]  # a ratio of means: no per-path distribution to quote
    rows.append((_t("Loss rate (fund loss / fund lent)", lang), loss_rate["value"], loss_rate["mc_se"],
                 [float("nan")] * len(qcols)))
    from_summary("Fund IRR", "fund_irr")
    from_summary("Capital needed at the trough (€)", "fund_peak_need")
    from_summary("Capital left to lend (year {year}, €)", "fund_capital_end")
    if result.scenario.vigilance is not None:
        from_summary("Files watched", "n_watched")
        from_summary("  of which cured", "n_cured")
        from_summary("Vigilance costs (€)", "vigilance_costs")
        from_summary("Jobs saved by cures (year {year})", "jobs_saved")
    # the instruments' own figures, shown when the scenario uses them
    if result.scenario.guarantee.share > 0:
        from_summary("Guarantor loss (€)", "guarantor_loss")
        from_summary("Guarantee fees (€)", "guarantor_fees")
    if result.scenario.policy.variable_rate > 0:
        from_summary("Fund variable interest (€)", "fund_variable_interest")
    frame = pd.DataFrame(
        [[label, mean, se, *qs] for label, mean, se, qs in rows],
        columns=[_t("figure", lang), "mean", "mc_se", *qcols],
    ).set_index(_t("figure", lang))
    return frame


_RISK_METRICS = ["fund_loss", "fund_net_cost", "bank_loss"]
#: How the risk tables name their metrics for people (English keeps the code names in the CLI).
_RISK_LABELS = {"fund_loss": "Fund loss", "fund_net_cost": "Fund's net cost", "bank_loss": "Bank loss"}


def _risk_index(frame: pd.DataFrame, lang: str, readable: bool) -> pd.DataFrame:
    if lang == "en" and not readable:
        return frame
    frame = frame.copy()
    frame.index = [_t(_RISK_LABELS[m], lang) for m in frame.index]
    return frame


def risk_table(result: SimulationResult, summary: pd.DataFrame | None = None, lang: str = "en",
               readable: bool = False) -> pd.DataFrame:
    """VaR and ES of the fund's loss, net cost and the bank's loss at the scenario's levels.

    Rows are code names (``fund_loss``) unless ``readable`` or French ("Fund loss")."""
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
    if lang == "en" and not readable:
        frame.columns = [f"{stat} {float(level):.4g}" for stat, level in frame.columns]
    else:
        frame.columns = [f"{stat} {format_percent(float(level), lang)}" for stat, level in frame.columns]
    return _risk_index(frame.loc[["fund_loss", "fund_net_cost", "bank_loss"]], lang, readable)


def var_interval_table(result: SimulationResult, summary: pd.DataFrame | None = None, lang: str = "en",
                       readable: bool = False) -> pd.DataFrame:
    """Each VaR's 95 % order-statistic interval, as text ``low – high`` ("–" where too few paths)."""
    summary = result.summary(_RISK_METRICS) if summary is None else summary.loc[_RISK_METRICS]
    columns = {}
    for alpha in result.scenario.simulation.risk_levels:
        low, high = summary[f"var_{alpha:g}_low"], summary[f"var_{alpha:g}_high"]
        name = f"VaR {alpha:.4g}" if lang == "en" and not readable else f"VaR {format_percent(alpha, lang)}"
        columns[name] = [
            "–" if (lo != lo or hi != hi) else f"{format_number(lo, lang=lang)} – {format_number(hi, lang=lang)}"
            for lo, hi in zip(low, high)
        ]
    return _risk_index(pd.DataFrame(columns, index=summary.index), lang, readable)


def text_table(frame: pd.DataFrame, *, index_header: str = "", lang: str = "en") -> str:
    """A plain-text table with right-aligned, human-formatted numbers."""
    header = [index_header or (frame.index.name or "")] + [str(c) for c in frame.columns]
    body = [
        [str(idx)] + [format_number(v, lang=lang) if isinstance(v, (int, float, np.floating, np.integer)) else str(v) for v in row]
        for idx, row in zip(frame.index, frame.itertuples(index=False))
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join([header[0].ljust(widths[0])] + [h.rjust(w) for h, w in zip(header[1:], widths[1:])])]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]))
    return "\n".join(lines)


def scenario_line(scenario: Scenario, lang: str = "en") -> str:
    """What a scenario holds, in one line (its ``repr`` in English): sectors, territories, the
    pipeline's projects, the loan book's file, paths and years."""
    pipe = scenario.pipeline
    book = scenario.loan_book
    return _t("Scenario({name}: {sectors}, {territories}, {pipeline}{book_file}, {paths} over {years})", lang,
              name=repr(scenario.meta.name), sectors=counted(len(scenario.sectors), "sector", lang),
              territories=counted(len(scenario.territories), "territory", lang),
              pipeline=counted(pipe.projects_per_year * pipe.years if pipe is not None else 0, "pipeline project", lang),
              book_file=_t(", loan book {path}", lang, path=repr(book.path)) if book is not None else "",
              paths=counted(scenario.simulation.paths, "path", lang),
              years=counted(scenario.simulation.horizon_years, "year", lang))


def validate_line(file: str, scenario: Scenario, book: int, lang: str = "en") -> str:
    """What ``levier validate`` says of a valid scenario whose loan book holds ``book`` loans."""
    return _t("{file}: valid — {scenario}; {book} in the loan book", lang, file=file,
              scenario=scenario_line(scenario, lang), book=counted(book, "loan", lang))


def bank_economics_line(economics: BankEconomics, lang: str = "en") -> str:
    """One line with the bank's expected interest, loss and margin (``validate --bank-check``)."""
    def amount(x: float) -> str:
        return format_fixed(x, 0, lang)

    def share(x: float) -> str:
        if economics.lent <= 0:
            return ""
        return _t(" ({share} % of bank loans)", lang, share=localise(f"{100 * x / economics.lent:.1f}", lang))

    if economics.lent <= 0:  # nothing financed: no interest and no loss, nothing to weigh
        return _t("bank economics: no bank loan in {paths}: nothing to check", lang,
                  paths=counted(economics.paths, "path", lang))
    head = "bank economics" if economics.covers else "WARNING: the bank's expected interest does not cover its expected loss"
    funding = (_t("net of funding at {rate} %", lang, rate=localise(f"{100 * economics.funding_rate:g}", lang))
               if economics.funding_rate else _t("before funding costs", lang))
    return _t("{head}: interest {interest} €{interest_share}, loss {loss} €{loss_share}, margin {margin} ± {se} € "
              "({paths}, undiscounted, {funding})", lang, head=_t(head, lang),
              interest=amount(economics.interest), interest_share=share(economics.interest),
              loss=amount(economics.loss), loss_share=share(economics.loss), margin=amount(economics.margin),
              se=amount(economics.margin_se), paths=counted(economics.paths, "path", lang), funding=funding)


@resolves_lang
def run_report(result: SimulationResult, lang: str = "en") -> str:
    """What ``levier run`` prints: title, headline figures, risk figures, provenance (in ``lang``)."""
    meta = result.meta
    sim = result.scenario.simulation

    def whole(n: float) -> str:
        return format_number(n, 1, lang)

    title = _t("{title} — {paths}, {years}, {projects} ({book} in the loan book)", lang,
               title=result.scenario.meta.name, paths=counted(meta["paths"], "path", lang),
               years=counted(sim.horizon_years, "year", lang), projects=counted(meta["n_projects"], "project", lang),
               book=meta["n_loan_book"])
    if meta.get("stress"):  # a stressed run is not the baseline: said where the reader looks first
        title += _t(" — under the stress {name}", lang, name=meta["stress"])
    if not result.paths["n_financed"].any():
        return "\n".join([title, "", _t(
            "No project was financed on any path: check the bank's threshold and gearing, the screening\n"
            "(policy.max_pd), the offer (policy.loan_per_job, loan_cap) and the fund's capital.", lang)])
    summary = result.summary()  # computed once for the three tables
    headline = headline_table(result, summary, lang).rename(columns={"mc_se": _t("± MC se", lang),
                                                                     "mean": _t("mean", lang)})
    if lang == "en":
        headline.columns = [c.replace("q_", "q ") for c in headline.columns]
    else:
        headline.columns = [_t("q {q}", lang, q=format_percent(float(c[2:]), lang)) if c.startswith("q_") else c
                            for c in headline.columns]
    seconds = meta["elapsed_seconds"]
    spent = meta.get("compile_seconds", 0.0)  # a first run compiles the engine: not the simulation's speed
    line = ("seed entropy {seed} · scenario {hash} · levier {version} · {seconds} s ({rate} paths/s)" if spent < 0.01
            else "seed entropy {seed} · scenario {hash} · levier {version} · {seconds} s, of which {compiling} s "
                 "compiling the engine, once ({rate} paths/s)")
    parts = [
        title,
        "",
        text_table(headline, lang=lang),
        "",
        text_table(risk_table(result, summary, lang), index_header=_t("risk (€)", lang), lang=lang),
        "",
        text_table(var_interval_table(result, summary, lang), index_header=_t("VaR, 95 % interval", lang), lang=lang),
        "",
        _t(line, lang, seed=meta["seed_entropy"], hash=meta["scenario_hash"][:12], version=meta["levier_version"],
           seconds=_seconds(seconds, lang), compiling=_seconds(spent, lang),
           rate=whole(round(meta["paths"] / max(seconds - spent, 1e-9)))),
    ]
    return "\n".join(parts)


def _seconds(seconds: float, lang: str) -> str:
    return localise(f"{seconds:.2f}", lang)


def _cell(value: object, lang: str) -> str:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        return str(value)
    if isinstance(value, (int, np.integer)):  # a count or a year: whole, with separators
        return format_number(value, 1, lang)
    return format_number(value, lang=lang)


def html_table(frame: pd.DataFrame, lang: str = "en") -> str:
    """An HTML table of ``frame``: numbers formatted for people (in ``lang``), text as is."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame.columns])
    rows = []
    for idx, row in zip(frame.index, frame.itertuples(index=False)):
        cells = "".join(
            f"<td style='text-align:right'>{html.escape(_cell(v, lang))}</td>"
            for v in row
        )
        rows.append(f"<tr><th style='text-align:left'>{html.escape(str(idx))}</th>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _readable(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):  # a count or a point's number: whole, as the command line writes it
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
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

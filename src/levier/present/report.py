"""A self-contained HTML report of a run: one file, inline SVG figures, no script, no network.

A board pack. What a fund's board reads first is the answer to "what do we get, and what can we
lose": five cards (additional jobs, cost per additional job, bank € per fund €, the fund's
expected loss and its 99 % expected shortfall), each with its own 95 % Monte Carlo interval and
rounded to what that interval supports (``5.41 M€ ± 0.03``, not ``5 412 345 €``). Then the loss in
a bad decade (the loss-exceedance curve on a log scale, with a sentence that reads it), the other
pictures, jobs and cost per job by sector and by territory, the key figures and risk tables, the
scenario (policy, bank, pipeline, sectors, territories) and the provenance. In English or French
(``lang``). The page reflows on a phone, never scrolls sideways on a 1 280 px screen, and prints
with each section on a new page and no table cut off.

The ES card's interval is a bootstrap interval (:func:`es_interval`): the ES has no
distribution-free interval like the VaR's order statistics, and sectioning would estimate a 99 %
ES from a twentieth of the paths, where it is biased.
"""

from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path

import numpy as np
import pandas as pd

from levier.analysis.instruments import instrument_table
from levier.engine.result import SimulationResult
from levier.names import risk_level
from levier.present.display import headline_table, html_table
from levier.present.i18n import (check_lang, counted, format_date, format_estimate, format_interval, format_number,
                                 format_percent, t, with_unit)
from levier.stats import Z95, expected_shortfall
from levier.streams import seed_of

__all__ = ["es_interval", "report_html", "write_report"]

#: Bootstrap resamples of the ES card's interval (its half-width is known to about 1/sqrt(2 × 400), 4 %).
ES_RESAMPLES = 400

_CSS = """
:root { --ink: #1f2430; --muted: #5b6270; --line: #d9dde3; --fund: #0072B2; --risk: #D55E00; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1040px; padding: 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 2px solid var(--line); padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin: 1rem 0 0.3rem; }
.lede, .note { color: var(--muted); margin-top: 0; }
.note { font-size: 0.85rem; }
.reading { font-size: 1.05rem; max-width: 46rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 0.75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem; break-inside: avoid; }
.card .label { color: var(--muted); font-size: 0.85rem; }
.card .value { font-size: 1.5rem; font-weight: 650; }
.card .value .num, .card .pm { white-space: nowrap; }  /* the ± goes under the number when the card is narrow */
.card .pm { font-size: 1rem; font-weight: 400; color: var(--muted); }
.card .interval { color: var(--muted); font-size: 0.8rem; }
.card.risk .value { color: var(--risk); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
.figures.wide { grid-template-columns: 1fr; }
figure.plot { margin: 0; break-inside: avoid; }
figure.plot svg { width: 100%; height: auto; display: block; }
figure.wide svg { max-width: 760px; }
figcaption { color: var(--muted); font-size: 0.85rem; }
.table { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.5rem; border-bottom: 1px solid var(--line); }
thead th { text-align: right; vertical-align: bottom; font-weight: 600; } thead th:first-child { text-align: left; }
td { white-space: nowrap; }
.pair { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 2rem; }
@media (max-width: 520px) { .figures { grid-template-columns: 1fr; } body { padding: 0.5rem; }
                            .card .value { white-space: normal; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  section { break-before: page; } section.first { break-before: auto; }
  h2 { break-after: avoid; margin-top: 0; }
  .cards { grid-template-columns: repeat(5, 1fr); gap: 0.4rem; } .card { padding: 0.4rem; }
  .card .value { font-size: 1.2rem; white-space: normal; }
  .figures { grid-template-columns: 1fr 1fr; gap: 0.5rem; } .figures.wide { grid-template-columns: 1fr; }
  .table { overflow: visible; }
  table { font-size: 8pt; width: 100%; } td { white-space: normal; }
  tr, .card, figure.plot { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def es_interval(values: np.ndarray, alpha: float, *, resamples: int = ES_RESAMPLES, seed: int = 0,
                confidence: float = 0.95) -> tuple[float, float]:
    """A bootstrap interval for the expected shortfall of ``values`` at level ``alpha``.

    The paths are resampled with replacement ``resamples`` times; the interval is the sample ES
    ± z × the standard deviation of the resampled ES (the normal bootstrap interval). The seed is
    fixed so that the same result gives the same report; ``tests/test_report.py`` checks the
    interval's coverage against the exact ES of a normal loss.

    A resample is drawn as counts over the sorted sample, so its ES needs no sort: the ES of a
    sorted sample is ``es_weights(n) @ x`` and a block of ``c`` copies of ``x_j`` occupying
    ranks ``C_{j-1} .. C_j`` takes the weights of those ranks — ``W[C_j] - W[C_{j-1}]`` with
    ``W`` the cumulative weights. The same value as sorting the resample, in O(n).

    Returns
    -------
    (low, high) : tuple of float
        NaN when there are fewer than two values.
    """
    from scipy import stats

    from levier.stats import es_weights

    x = np.sort(np.asarray(values, dtype=float))
    x = x[~np.isnan(x)]
    n = x.size
    if n < 2:
        return float("nan"), float("nan")
    cumulative = np.concatenate([[0.0], np.cumsum(es_weights(n, alpha))])
    rng = np.random.default_rng(seed)
    replicas = np.empty(resamples)
    ranks = np.zeros(n + 1, dtype=np.int64)
    for i in range(resamples):
        np.cumsum(np.bincount(rng.integers(0, n, n), minlength=n), out=ranks[1:])
        # an elementwise sum, not a BLAS dot: the same bytes whatever the threads (and 10x faster here)
        replicas[i] = (np.diff(cumulative[ranks]) * x).sum()
    centre, sd = expected_shortfall(x, alpha, presorted=True), replicas.std(ddof=1)
    z = stats.norm.ppf(0.5 + confidence / 2)
    return centre - z * sd, centre + z * sd


def _card(label: str, value: str, pm: str, interval: str, risk: bool = False) -> str:
    cls = "card risk" if risk else "card"
    pm_html = f" <span class='pm'>{html.escape(pm)}</span>" if pm else ""
    return (f"<div class='{cls}'><div class='label'>{html.escape(label)}</div>"
            f"<div class='value'><span class='num'>{html.escape(value)}</span>{pm_html}</div>"
            f"<div class='interval'>{html.escape(interval)}</div></div>")


def _estimate_card(label: str, value: float, low: float, high: float, unit: str, lang: str, risk: bool = False,
                   bootstrap: bool = False) -> str:
    half = max(value - low, high - value) if np.isfinite(low) and np.isfinite(high) else float("nan")
    text, pm, decimals = format_estimate(value, half, unit, lang)
    millions = unit == "€" and abs(value) >= 1e6
    interval = format_interval(low, high, decimals, "M€" if millions else unit, lang, 1e6 if millions else 1.0)
    key = "95 % interval {interval} (bootstrap)" if bootstrap else "95 % interval {interval}"
    return _card(label, text, pm, t(key, lang, interval=interval), risk)


def _percent_card(label: str, row: pd.Series, lang: str) -> str:
    """A rate's card in percent (the mean over the paths where it is defined)."""
    m, se = 100 * row["mean"], 100 * row["mc_se"]
    return _estimate_card(label, m, m - Z95 * se, m + Z95 * se, "%", lang)


def _cards(result: SimulationResult, summary: pd.DataFrame, ratios: pd.DataFrame, lang: str) -> str:
    sim = result.scenario.simulation

    def mean_card(label, metric, unit="", risk=False):
        m, se = summary.loc[metric, "mean"], summary.loc[metric, "mc_se"]
        return _estimate_card(label, m, m - Z95 * se, m + Z95 * se, unit, lang, risk)

    def ratio_card(label, name, unit=""):
        v, se = ratios.loc[name, "value"], ratios.loc[name, "mc_se"]
        return _estimate_card(label, v, v - Z95 * se, v + Z95 * se, unit, lang)

    alpha = risk_level(sim.risk_levels)
    losses = result.paths["fund_loss"].to_numpy()
    es = summary.loc["fund_loss", f"es_{alpha:g}"]
    es_low, es_high = es_interval(losses, alpha)
    cards = [
        mean_card(t("Additional jobs in year {year}", lang, year=sim.horizon_years), "jobs_additional"),
        ratio_card(t("Cost per additional job", lang), "cost_per_job", "€"),
        ratio_card(t("Bank € per fund €", lang), "leverage_bank"),
        mean_card(t("Fund expected loss", lang), "fund_loss", "€", risk=True),
        _estimate_card(t("Fund loss, ES {level}", lang, level=format_percent(alpha, lang)), es, es_low, es_high, "€",
                       lang, risk=True, bootstrap=True),
        mean_card(t("Capital needed at the trough", lang), "fund_peak_need", "€", risk=True),
        _percent_card(t("Fund IRR (mean over paths)", lang), summary.loc["fund_irr"], lang),
    ]
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _money(value: float, lang: str) -> str:
    """An amount in a sentence: ``10.7 M€``, ``850 k€``, three significant figures."""
    if abs(value) >= 1e6:
        return with_unit(format_number(value / 1e6, 3, lang), "M€", lang)
    return with_unit(format_number(value, 3, lang), "€", lang)


def _reading(result: SimulationResult, summary: pd.DataFrame, lang: str) -> str:
    """The sentence under the exceedance curve: once in 1/(1 − α) futures, the fund loses more than …"""
    alpha = risk_level(result.scenario.simulation.risk_levels)
    row = summary.loc["fund_loss"]
    n = round(1 / (1 - alpha))
    sentence = t("Once in {n} {years}-year futures, the fund loses more than {var} (the {level} VaR); in those futures "
                 "it loses {es} on average (the {level} ES). Its expected loss is {el}.", lang,
                 n=format_number(n, 1, lang), years=result.scenario.simulation.horizon_years,
                 var=_money(row[f"var_{alpha:g}"], lang), es=_money(row[f"es_{alpha:g}"], lang),
                 level=format_percent(alpha, lang), el=_money(row["mean"], lang))
    note = t("The ES interval is a bootstrap interval: {resamples} resamples of the paths, ES ± 1.96 × their standard "
             "deviation. The VaR interval is distribution-free (order statistics).", lang, resamples=ES_RESAMPLES)
    return f"<p class='reading'>{html.escape(sentence)}</p><p class='note'>{html.escape(note)}</p>"


def _group_table(result: SimulationResult, by: str, lang: str) -> pd.DataFrame:
    """Jobs and cost by sector or territory: what each group gets and what it costs the fund."""
    table = result.by_sector() if by == "sector" else result.by_territory()
    alpha = risk_level(result.scenario.simulation.risk_levels)
    level = format_percent(alpha, lang)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss_per_job = table["fund_loss"] / table["jobs_additional"]
        lent_per_job = table["fund_lent"] / table["jobs_additional"]
    def money(column: pd.Series) -> list[str]:
        return [_money(v, lang) if np.isfinite(v) else "–" for v in column]

    frame = pd.DataFrame({
        t("projects financed", lang): table["n_financed"],
        t("additional jobs", lang): table["jobs_additional"],
        t("fund lent", lang): money(table["fund_lent"]),
        t("expected loss", lang): money(table["fund_loss"]),
        t("contribution to ES {level}", lang, level=level): money(table[f"es_contribution_{alpha:g}"]),
        t("expected loss per additional job", lang): money(loss_per_job),
        t("fund lent per additional job", lang): money(lent_per_job),
    }, index=pd.Index(table.index, name=t(by, lang)))
    return frame


_RISK_NOTE = ("VaR: the loss exceeded with probability 1 − α (the lower α-quantile of the paths); its interval is "
              "distribution-free (order statistics; – where there are too few paths). ES: the mean loss in the worst "
              "1 − α of paths; its interval is a bootstrap one.")

_RATIO_LABELS = {
    "cost_per_job": "cost per additional job (€)", "cost_per_net_job": "cost per additional job net of deadweight (€)",
    "leverage_bank": "bank € per fund €", "leverage_investment": "investment € per fund €",
    "loss_rate": "fund loss rate", "bank_loss_rate": "bank loss rate", "fund_lent_per_project": "fund lent per project (€)",
    "jobs_planned_per_project": "planned jobs per project", "jobs_created_per_project": "jobs created per project",
    "fund_lent_per_planned_job": "fund lent per planned job (€)",
    "fund_outlay_per_job_created": "fund outlay per job created (€)",
    "vigilance_cost_per_job_saved": "vigilance cost per job saved (€)",
}


def _ratios_table(ratios: pd.DataFrame, lang: str) -> pd.DataFrame:
    rows = []
    for name, row in ratios.iterrows():
        text, pm, _ = format_estimate(row["value"], Z95 * row["mc_se"], "", lang)
        rows.append((t(_RATIO_LABELS.get(name, name), lang), f"{text} {pm}".strip()))
    return pd.DataFrame({t("value", lang): [v for _, v in rows]},
                        index=pd.Index([k for k, _ in rows], name=t("ratio", lang)))


def _headline(result: SimulationResult, summary: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The key figures, each row rounded to what its Monte Carlo error supports."""
    frame = headline_table(result, summary, lang)
    qcols = [c for c in frame.columns if c.startswith("q_")]
    names = {"q_0.5": t("median", lang)}
    out = {}
    for label, row in frame.iterrows():
        se = row["mc_se"]
        euros = label.endswith(("(€)", ", €)"))  # "Fund lent (€)", "Capital left to lend (year 12, €)"
        value, pm, decimals = format_estimate(row["mean"], Z95 * se, "€" if euros else "", lang)
        millions = euros and abs(row["mean"]) >= 1e6
        scale = 1e6 if millions else 1.0
        cells = {t("mean", lang): f"{value} {pm}".strip()}
        for c in qcols:
            q = row[c]
            places = 0 if q == q and float(q).is_integer() and not millions else decimals  # counts stay whole
            cells[names.get(c) or t("{q} quantile", lang, q=format_percent(float(c[2:]), lang))] = (
                "–" if q != q else with_unit(format_interval(q, q, places, "", lang, scale).split(" – ")[0],
                                             "M€" if millions else ("€" if euros else ""), lang))
        out[label.replace(" (€)", "").replace(", €)", ")")] = cells  # the unit is in the cells
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = t("figure", lang)
    return table


def _risk(result: SimulationResult, summary: pd.DataFrame, lang: str) -> pd.DataFrame:
    """VaR and ES of the fund's loss, its net cost and the bank's loss, level by level, each with its
    95 % interval (order statistics for the VaR, bootstrap for the ES), rounded to that interval."""
    rows = {}
    for metric, label in (("fund_loss", "Fund loss"), ("fund_net_cost", "Fund's net cost"), ("bank_loss", "Bank loss")):
        values = result.paths[metric].to_numpy()
        for alpha in result.scenario.simulation.risk_levels:
            row = summary.loc[metric]
            cells = {t("level", lang): format_percent(alpha, lang)}
            for stat, (est, low, high) in (
                ("VaR", (row[f"var_{alpha:g}"], row[f"var_{alpha:g}_low"], row[f"var_{alpha:g}_high"])),
                ("ES", (row[f"es_{alpha:g}"], *es_interval(values, alpha))),
            ):
                known = np.isfinite(low) and np.isfinite(high)
                half = max(est - low, high - est) if known else float("nan")
                text, _, decimals = format_estimate(est, half, "€", lang)
                millions = abs(est) >= 1e6
                cells[stat] = text
                cells[t(f"95 % interval of the {stat}", lang)] = (
                    format_interval(low, high, decimals, "M€" if millions else "€", lang, 1e6 if millions else 1.0)
                    if known else "–")
            rows[(t(label, lang), format_percent(alpha, lang))] = cells
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = [f"{m}, {lvl}" for m, lvl in frame.index]
    frame.index.name = t("risk", lang)
    return frame.drop(columns=[t("level", lang)])


def _parameters(result: SimulationResult, lang: str) -> str:
    s = result.scenario
    pol, bank, fund, d = s.policy, s.bank, s.fund, s.defaults

    def pct(x):
        return format_percent(x, lang)

    rows = [
        ("fund capital (€)", fund.capital), ("recycling of repayments", t("yes" if fund.recycle else "no", lang)),
        ("loan per planned job (€)", pol.loan_per_job), ("loan cap (€)", pol.loan_cap),
        ("max share of investment", pct(pol.max_share_of_investment)), ("loan rate", pct(pol.rate)),
        ("maturity / grace (years)", f"{pol.maturity_years} / {pol.grace_years}"), ("max PD (screening)", pct(pol.max_pd)),
        ("subsidy per job (€)", pol.subsidy_per_job), ("bank threshold (quasi-equity ratio)", pct(bank.threshold)),
        ("bank gearing", bank.gearing),
        ("macro loading / autocorrelation", f"{format_number(d.macro_loading, lang=lang)} / "
                                            f"{format_number(d.macro_autocorrelation, lang=lang)}"),
        ("horizon (years)", s.simulation.horizon_years), ("paths", result.n_paths),
    ]
    # the instruments, where the scenario uses them (docs/instruments.md)
    g = s.guarantee
    rows += [(k, v) for k, v, on in (
        ("bank counts subsidies as equity", "yes", bank.subsidy_is_equity),
        ("guarantee share / cap per firm (€)", f"{g.share} / {g.cap_per_firm or 'none'}", g.share > 0),
        ("guarantee fee / envelope (€)", f"{g.fee_rate} / {g.envelope or 'none'}", g.share > 0),
        ("rating noise (sigma)", pol.rating_noise, pol.rating_noise > 0),
        ("clawback tolerance / collected", f"{pol.clawback_tolerance} / {pol.clawback_collected}",
         pol.clawback_tolerance < 1 or pol.clawback_collected < 1),
        ("variable rate / cap", f"{pol.variable_rate} / {pol.variable_cap}", pol.variable_rate > 0)) if on]
    facts = pd.DataFrame({t("value", lang): [v for _, v in rows]},
                         index=pd.Index([t(k, lang) for k, _ in rows], name=t("parameter", lang)))
    parts = [f"<h3>{t('The fund and its policy', lang)}</h3><div class='table'>{html_table(facts, lang)}</div>"]
    pipe = s.pipeline
    if pipe is not None:
        prows = [
            ("projects per year / years", f"{pipe.projects_per_year} / {pipe.years}"),
            ("median investment (€)", pipe.investment_median),
            ("investment spread (σ of ln I)", pipe.investment_sigma),
            ("planned jobs per M€ invested", pipe.jobs_per_million),
            ("promoter equity ratio (mean / sd)", f"{pct(pipe.equity_ratio_mean)} / {pct(pipe.equity_ratio_sd)}"),
            ("candidate projects", result.meta["n_projects"] - result.meta["n_loan_book"]),
            ("loan book", result.meta["n_loan_book"]),
        ]
        ptable = pd.DataFrame({t("value", lang): [v for _, v in prows]},
                              index=pd.Index([t(k, lang) for k, _ in prows], name=t("parameter", lang)))
        parts.append(f"<h3>{t('The pipeline', lang)}</h3><div class='table'>{html_table(ptable, lang)}</div>")
    sector_mix = (pipe.sector_mix if pipe is not None and pipe.sector_mix else {}) or {}
    territory_mix = (pipe.territory_mix if pipe is not None and pipe.territory_mix else {}) or {}
    single = 1.0 if pipe is not None else float("nan")
    sectors = pd.DataFrame(
        [(pct(x.annual_pd), x.loading, pct(x.recovery_mean), pct(x.recovery_sd), pct(x.deadweight),
          pct(sector_mix.get(x.name, single if len(s.sectors) == 1 else 0.0)) if pipe is not None else "–")
         for x in s.sectors],
        index=pd.Index(s.sector_names, name=t("sector", lang)),
        columns=[t(c, lang) for c in ("annual PD", "loading", "recovery mean", "recovery sd", "deadweight",
                                      "share of projects")],
    )
    territories = pd.DataFrame(
        [(x.loading, x.pd_multiplier, pct(x.deadweight),
          pct(territory_mix.get(x.name, single if len(s.territories) == 1 else 0.0)) if pipe is not None else "–")
         for x in s.territories],
        index=pd.Index(s.territory_names, name=t("territory", lang)),
        columns=[t(c, lang) for c in ("loading", "PD multiplier", "deadweight", "share of projects")],
    )
    parts.append(f"<h3>{t('Sectors', lang)}</h3><div class='table'>{html_table(sectors, lang)}</div>")
    parts.append(f"<h3>{t('Territories', lang)}</h3><div class='table'>{html_table(territories, lang)}</div>")
    return "".join(parts)


def _figure(fig_id: str, draw, caption: str, wide: bool = False, size=(7.0, 4.0)) -> str:
    import matplotlib

    from levier.present.plots import pyplot, svg

    plt = pyplot()
    with matplotlib.rc_context({"svg.hashsalt": f"levier-{fig_id}", "svg.fonttype": "path", "font.size": 11}):
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        draw(ax)
        image = svg(ax)
    cls = "plot wide" if wide else "plot"
    return f"<figure class='{cls}' id='{fig_id}'>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _figures(result: SimulationResult, lang: str) -> str:
    level = format_percent(risk_level(result.scenario.simulation.risk_levels), lang)
    plot = result.plot
    specs = [
        ("fig-loss", lambda ax: plot.loss(ax=ax, lang=lang),
         t("The fund's loss over the horizon: its distribution, the expected loss, and the VaR and ES at {level}.", lang,
           level=level)),
        ("fig-jobs", lambda ax: plot.jobs(ax=ax, lang=lang), t("Additional jobs at the horizon, path by path.", lang)),
        ("fig-cost", lambda ax: plot.cost_per_job(ax=ax, lang=lang),
         t("Cost per additional job path by path (the card's figure is the ratio of the totals).", lang)),
        ("fig-fan-jobs", lambda ax: plot.fan("jobs", ax=ax, lang=lang), t("Jobs present at each year's end.", lang)),
        ("fig-fan-outstanding", lambda ax: plot.fan("fund_outstanding", ax=ax, lang=lang),
         t("The fund's principal still owed by live firms.", lang)),
        ("fig-fan-defaults", lambda ax: plot.fan("defaults", ax=ax, lang=lang), t("Defaults in each year.", lang)),
        ("fig-leverage", lambda ax: plot.leverage(ax=ax, lang=lang),
         t("What one financed project mobilises: the fund's loan, the bank's credit, the total investment.", lang)),
        ("fig-sector", lambda ax: plot.groups("sector", ax=ax, lang=lang),
         t("Expected loss and contribution to the ES, by sector (the contributions add up to the ES).", lang)),
        ("fig-territory", lambda ax: plot.groups("territory", ax=ax, lang=lang), t("The same by territory.", lang)),
        ("fig-j-curve", lambda ax: plot.j_curve(ax=ax, lang=lang),
         t("The fund's cumulative cash at each year's end (J-curve); the dashed line is the capital it actually "
           "needs, its deepest point once each year's loans are paid out.", lang)),
    ]
    return "<div class='figures'>" + "".join(_figure(*spec) for spec in specs) + "</div>"


def _provenance(meta: dict, when: str, lang: str) -> pd.DataFrame:
    rows = [("seed entropy", str(meta["seed_entropy"]))]
    spawn = meta.get("seed_spawn_key") or []
    if spawn:  # a child of a spawned SeedSequence: without its key the run cannot be repeated
        rows.append(("seed spawn key", ", ".join(str(k) for k in spawn)))
    rows += [
        ("scenario SHA-256", meta["scenario_hash"]), ("scenario file", str(meta.get("scenario_source"))),
        ("levier", meta["levier_version"]), ("numpy", meta.get("numpy_version", "")),
        ("paths", format_number(meta["paths"], 1, lang)), ("factor sampler", meta.get("sampler", "random")),
        *([("stress", str(meta["stress"]))] if meta.get("stress") else []),
        ("run time", f"{format_number(meta.get('elapsed_seconds', float('nan')), 3, lang)} s"),
        *([("of which compiling the engine (once)", f"{format_number(meta['compile_seconds'], 3, lang)} s")]
          if meta.get("compile_seconds", 0.0) >= 0.01 else []),
        ("report generated", when),
    ]
    return pd.DataFrame({t("value", lang): [v for _, v in rows]},
                        index=pd.Index([t(k, lang) for k, _ in rows], name=t("provenance", lang)))


def report_html(result: SimulationResult, *, generated: _dt.datetime | None = None, lang: str | None = "en",
                comparison=None) -> str:
    """The report of a result as one self-contained HTML page (needs matplotlib).

    Parameters
    ----------
    result : SimulationResult
    generated : datetime, optional
        The time written in the provenance (default: now).
    lang : {"en", "fr"} or None
        Language of the labels, numbers and dates; None: the locale's (``LC_ALL`` /
        ``LC_MESSAGES`` / ``LANG`` starting with "fr" → French).
    comparison : Comparison, optional
        A :func:`levier.analysis.instruments.compare_instruments` result, shown as the
        instruments' table.
    """
    lang = check_lang(lang)
    s, meta = result.scenario, result.meta
    when = format_date(generated or _dt.datetime.now(_dt.timezone.utc), lang)
    summary = result.summary()
    ratios = result.ratios()
    description = s.meta.description or ""
    lede = t("{description} {paths} over {years}, {projects} ({book} in the loan book). "
             "Figures are means over paths with the half-width of their 95 % Monte Carlo interval (±), rounded to what "
             "that error supports.", lang, description=description, paths=counted(meta["paths"], "Monte Carlo path", lang),
             years=counted(s.simulation.horizon_years, "year", lang),
             projects=counted(meta["n_projects"], "project", lang), book=meta["n_loan_book"]).strip()
    if meta.get("stress"):  # a stressed run is not the baseline: the lede says so first
        lede = t("Under the stress {name}.", lang, name=meta["stress"]) + " " + lede
    exceed = _figure("fig-exceedance", lambda ax: result.plot.exceedance(ax=ax, lang=lang),
                     t("The fund's loss: the chance of losing more than each amount (log scale), with the VaR and ES at "
                       "the scenario's levels.", lang), wide=True, size=(8.0, 4.2))
    group_note = t("Means over paths. The fund's net cost (present value of all its flows) is not split by sector or "
                   "territory; the cost shown per additional job is the fund's expected loss and its lending, group by "
                   "group. Three significant figures.", lang)

    def section(title: str, *content: str, first: bool = False) -> str:
        cls = " class='first'" if first else ""
        return f"<section{cls}><h2>{html.escape(t(title, lang))}</h2>{''.join(content)}</section>"

    body = [
        f"<header><h1>{html.escape(s.meta.name)}</h1><p class='lede'>{html.escape(lede)}</p></header>",
        section("What the fund gets, and what it can lose", _cards(result, summary, ratios, lang), first=True),
        section("The loss in a bad decade", f"<div class='figures wide'>{exceed}</div>", _reading(result, summary, lang)),
        _bad_decade(result, lang),
        section("Pictures", _figures(result, lang)),
        section("Jobs and cost by sector", f"<div class='table'>{html_table(_group_table(result, 'sector', lang), lang)}"
                "</div>", f"<p class='note'>{html.escape(group_note)}</p>",
                f"<h3>{html.escape(t('Jobs and cost by territory', lang))}</h3>"
                f"<div class='table'>{html_table(_group_table(result, 'territory', lang), lang)}</div>"),
        section("Key figures", f"<div class='table'>{html_table(_headline(result, summary, lang), lang)}</div>"),
        section("Risk", f"<div class='table'>{html_table(_risk(result, summary, lang), lang)}</div>",
                f"<p class='note'>{html.escape(t(_RISK_NOTE, lang))}</p>",
                "<h3>" + html.escape(t("Ratios of the portfolio", lang)) + "</h3>"
                f"<div class='table'>{html_table(_ratios_table(ratios, lang), lang)}</div>"),
        *([section("Loan, subsidy or guarantee (common random numbers)",
                   f"<div class='table'>{html_table(_instruments(comparison, lang), lang)}</div>")]
          if comparison is not None else []),
        section("The scenario", _parameters(result, lang)),
        section("Provenance", f"<div class='table'>{html_table(_provenance(meta, when, lang), lang)}</div>",
                f"<footer>{html.escape(t('Made by levier: the same seed and scenario give the same figures, to the last digit.', lang))}</footer>"),
    ]
    title = html.escape(t("{name} — levier report", lang, name=s.meta.name))
    return (f"<!doctype html>\n<html lang='{lang}'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _instruments(comparison, lang: str = "en") -> pd.DataFrame:
    """:func:`~levier.analysis.instruments.instrument_table` in words: one row per figure and
    instrument ("Fund loss (€) — loan + subsidy"), columns named for a reader, in ``lang``."""
    frame = instrument_table(comparison)
    frame.index = [f"{t(figure, lang)} — {t(variant, lang) if variant in _INSTRUMENTS else variant}"
                   for figure, variant in frame.index]
    frame.index.name = t("figure", lang)
    names = {"value": "value", "value_low": "value 95 % low", "value_high": "value 95 % high",
             "difference": "difference with the loan alone", "low": "difference 95 % low", "high": "difference 95 % high"}
    return frame.rename(columns={k: t(v, lang) for k, v in names.items()})


_INSTRUMENTS = ("loan only", "loan + subsidy", "loan + guarantee")


def _bad_decade(result: SimulationResult, lang: str = "en") -> str:
    """The section "Stresses, and the shape of a bad decade" when the scenario has ``[[stresses]]``: the fund's 99 % ES under a
    Gaussian copula, a t copula (nu = 4) and downturn recoveries, and each stress's paired
    differences from the baseline — all on the result's own seed and number of paths, in ``lang``
    (the stresses' names and descriptions are the scenario's own words)."""
    s = result.scenario
    if not s.stresses:
        return ""
    from levier.analysis.stress import model_risk, stress

    seed = seed_of(result.meta)
    specs = ["fund_loss.es_0.99", "fund_loss.mean", "bank_loss.es_0.99"]

    labels = {"fund_loss.es_0.99": "fund's loss, 99 % ES (€)", "fund_loss.mean": "fund's loss, mean (€)",
              "bank_loss.es_0.99": "bank's loss, 99 % ES (€)", "n_defaults": "defaults, mean",
              "jobs_additional": "additional jobs, mean"}
    models = {"gaussian copula": "Gaussian copula", "t copula, nu = 4": "t copula, nu = 4",
              "downturn recovery, gamma = 0.5": "downturn recovery, gamma = 0.5"}

    def table(comparison) -> pd.DataFrame:
        frame = comparison.table[["value", "se", "difference", "low", "high"]].copy()
        def name(variant: str) -> str:  # the models' and the baseline's in the language; the stresses' as written
            if variant in models:
                return t(models[variant], lang)
            return t("baseline", lang) if variant == comparison.baseline else variant

        frame.index = [t("{variant}: {statistic}", lang, variant=name(variant), statistic=t(labels[spec], lang))
                       for spec, variant in frame.index]
        frame.index.name = t("statistic", lang)
        names = {"value": "value", "se": "± MC se", "difference": "difference", "low": "difference 95 % low",
                 "high": "difference 95 % high"}
        return frame.rename(columns={k: t(v, lang) for k, v in names.items()})

    compared = table(model_risk(s, paths=result.n_paths, seed=seed, statistics=specs))
    stresses = table(stress(s, paths=result.n_paths, seed=seed, statistics=specs + ["n_defaults", "jobs_additional"]))
    described = "".join(f"<li><b>{html.escape(x.name)}</b>: {html.escape(x.description)}</li>" for x in s.stresses)
    return "".join([
        f"<section><h2>{html.escape(t('Stresses, and the shape of a bad decade', lang))}</h2>",
        f"<p>{html.escape(t(_BAD_DECADE_TEXT, lang))}</p>",
        f"<div class='table'>{html_table(compared, lang)}</div>",
        f"<p>{html.escape(t('The scenario’s named stresses, against the baseline on common random numbers:', lang))}</p>"
        f"<ul>{described}</ul>",
        f"<div class='table'>{html_table(stresses, lang)}</div></section>",
    ])


_BAD_DECADE_TEXT = ("How much the fund can lose depends on how a bad decade comes. The same paths under a Gaussian copula, "
                    "a Student t copula with 4 degrees of freedom (joint defaults in fat tails) and recoveries that fall "
                    "with the cycle (downturn loading 0.5 in every sector); differences are paired, on common random "
                    "numbers.")


def write_report(result: SimulationResult, path: str | Path, *, force: bool = False, lang: str | None = "en",
                 comparison=None) -> Path:
    """Write :func:`report_html` (in ``lang``) to ``path``, all or nothing (never over a file unless ``force``).

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or cannot be written.
    """
    from levier.present.output import write_file_atomic

    text = report_html(result, lang=lang, comparison=comparison)
    return write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)


def result_from_folder(folder: str | Path, *, progress=None) -> SimulationResult:
    """Re-create the result of ``levier run --out FOLDER`` by running it again (same seed, the
    scenario and loan book copied into the folder, checked by their hash), and check that it
    gives the same paths as the folder. Works from any working directory. ``progress`` is
    passed to :func:`~levier.simulate`."""
    import json

    from levier.engine.run import simulate
    from levier.errors import InputError
    from levier.present.output import scenario_of_folder

    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        stored = pd.read_csv(folder / "paths.csv")
    except (OSError, ValueError) as exc:
        raise InputError(str(folder), [f"not a results folder of levier run --out ({exc})"]) from None
    try:  # meta.json as levier wrote it: a run's fields, of their types
        if not isinstance(meta, dict):
            raise TypeError("not a table of a run's fields")
        seed, paths = seed_of(meta), int(meta["paths"])
        keep, sampler, stress = meta.get("keep", "all"), meta.get("sampler", "random"), meta.get("stress")
    except (KeyError, ValueError, TypeError) as exc:
        what = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise InputError(str(folder / "meta.json"), [f"not the meta.json of a levier run ({what}): was it edited?"]) from None
    scenario = scenario_of_folder(folder, meta)
    try:
        result = simulate(scenario, paths=paths, seed=seed, keep=keep, sampler=sampler, stress=stress,
                          progress=progress)
    except (KeyError, ValueError) as exc:
        raise InputError(str(folder / "meta.json"), [f"its run cannot be replayed ({exc}): was it edited?"]) from None
    fresh = result.paths.reset_index()
    for column in ("fund_loss", "jobs_additional", "fund_net_cost"):
        if column not in stored or len(stored) != len(fresh):
            raise InputError(str(folder / "paths.csv"), [f"not the paths table of this run (no {column!r} column "
                                                         f"or not {len(fresh):,} rows)"])
        if not np.allclose(stored[column].to_numpy(), fresh[column].to_numpy(), rtol=1e-12, atol=0, equal_nan=True):
            then, now = meta.get("levier_version"), result.meta["levier_version"]
            why = (f"levier {then} then, {now} now" if then != now else
                   "the same levier: was paths.csv changed since?")
            raise InputError(str(folder), [f"a fresh run does not reproduce {column} of this folder ({why})"])
    return result

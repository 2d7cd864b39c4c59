"""A self-contained HTML report of a run: one file, inline SVG figures, no script, no network.

What a fund manager reads first is the answer to "what do we get, and what can we lose": five
cards (additional jobs, cost per additional job, bank € per fund €, the fund's expected loss and
its 99 % expected shortfall), each with its Monte Carlo interval. Then the pictures (the loss
distribution with its VaR and ES, jobs and cost per job, the fans by year, the leverage cascade,
the losses by sector and territory), the tables, the scenario's key parameters and the
provenance (seed, scenario hash, levier version, date). The page reflows on a phone and prints
with one figure per block.
"""

from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path

import numpy as np
import pandas as pd

from levier.present.display import html_table, format_number, headline_table, risk_table, var_interval_table
from levier.engine.result import SimulationResult
from levier.names import risk_level
from levier.stats import Z95

__all__ = ["report_html", "write_report"]


_CSS = """
:root { --ink: #1f2430; --muted: #5b6270; --line: #d9dde3; --fund: #0072B2; --risk: #D55E00; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1040px; padding: 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 2px solid var(--line); padding-bottom: 0.2rem; }
.lede { color: var(--muted); margin-top: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 0.75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem; break-inside: avoid; }
.card .label { color: var(--muted); font-size: 0.85rem; }
.card .value { font-size: 1.5rem; font-weight: 650; }
.card .interval { color: var(--muted); font-size: 0.8rem; }
.card.risk .value { color: var(--risk); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
figure.plot { margin: 0; break-inside: avoid; }
figure.plot svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 0.85rem; }
.table { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.5rem; border-bottom: 1px solid var(--line); }
thead th { text-align: right; } thead th:first-child { text-align: left; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 2rem; }
@media (max-width: 520px) { .figures { grid-template-columns: 1fr; } body { padding: 0.5rem; } }
@media print { body { max-width: none; } .figures { grid-template-columns: 1fr 1fr; }
               h2 { break-after: avoid; } }
"""


def _card(label: str, value: str, interval: str, risk: bool = False) -> str:
    cls = "card risk" if risk else "card"
    return (f"<div class='{cls}'><div class='label'>{html.escape(label)}</div>"
            f"<div class='value'>{html.escape(value)}</div><div class='interval'>{html.escape(interval)}</div></div>")


def _cards(result: SimulationResult) -> str:
    summary = result.summary()
    ratios = result.ratios()
    sim = result.scenario.simulation

    def mean_card(label, metric, unit="", risk=False):
        m, se = summary.loc[metric, "mean"], summary.loc[metric, "mc_se"]
        return _card(label, format_number(m) + unit, f"95 % MC interval {format_number(m - Z95 * se)} – "
                     f"{format_number(m + Z95 * se)}", risk)

    def ratio_card(label, name, unit=""):
        v, se = ratios.loc[name, "value"], ratios.loc[name, "mc_se"]
        return _card(label, format_number(v) + unit, f"95 % MC interval {format_number(v - Z95 * se)} – "
                     f"{format_number(v + Z95 * se)}")

    alpha = risk_level(sim.risk_levels)
    es = summary.loc["fund_loss", f"es_{alpha:g}"]
    var_lo, var_hi = summary.loc["fund_loss", f"var_{alpha:g}_low"], summary.loc["fund_loss", f"var_{alpha:g}_high"]
    cards = [
        mean_card(f"Additional jobs in year {sim.horizon_years}", "jobs_additional"),
        ratio_card("Cost per additional job", "cost_per_job", " €"),
        ratio_card("Bank € per fund €", "leverage_bank"),
        mean_card("Fund expected loss", "fund_loss", " €", risk=True),
        _card(f"Fund loss, ES {100 * alpha:g} %", format_number(es) + " €",
              f"VaR {100 * alpha:g} % in {format_number(var_lo)} – {format_number(var_hi)}", risk=True),
    ]
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _parameters(result: SimulationResult) -> str:
    s = result.scenario
    pol, bank, fund, d = s.policy, s.bank, s.fund, s.defaults
    rows = [
        ("fund capital (€)", fund.capital), ("recycling of repayments", "yes" if fund.recycle else "no"),
        ("loan per planned job (€)", pol.loan_per_job), ("loan cap (€)", pol.loan_cap),
        ("max share of investment", pol.max_share_of_investment), ("loan rate", pol.rate),
        ("maturity / grace (years)", f"{pol.maturity_years} / {pol.grace_years}"), ("max PD (screening)", pol.max_pd),
        ("subsidy per job (€)", pol.subsidy_per_job), ("bank threshold (quasi-equity ratio)", bank.threshold),
        ("bank gearing", bank.gearing), ("macro loading / autocorrelation", f"{d.macro_loading} / {d.macro_autocorrelation}"),
        ("horizon (years)", s.simulation.horizon_years), ("paths", result.n_paths),
    ]
    facts = pd.DataFrame({"value": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name="parameter"))
    sectors = pd.DataFrame(
        [(x.annual_pd, x.loading, x.recovery_mean, x.recovery_sd, x.deadweight) for x in s.sectors],
        index=pd.Index(s.sector_names, name="sector"),
        columns=["annual PD", "loading", "recovery mean", "recovery sd", "deadweight"],
    )
    return f"<div class='table'>{html_table(facts)}</div><div class='table'>{html_table(sectors)}</div>"


def _figures(result: SimulationResult) -> str:
    import matplotlib

    from levier.present.plots import pyplot, svg

    plt = pyplot()
    specs = [
        ("fig-loss", lambda ax: result.plot.loss(ax=ax),
         "The fund's loss over the horizon: the expected loss and, at each risk level, the VaR and the ES."),
        ("fig-jobs", lambda ax: result.plot.jobs(ax=ax), "Additional jobs at the horizon, path by path."),
        ("fig-cost", lambda ax: result.plot.cost_per_job(ax=ax),
         "Cost per additional job path by path (the card's figure is the ratio of the totals)."),
        ("fig-fan-jobs", lambda ax: result.plot.fan("jobs", ax=ax), "Jobs present at each year's end."),
        ("fig-fan-outstanding", lambda ax: result.plot.fan("fund_outstanding", ax=ax),
         "The fund's principal still owed by live firms."),
        ("fig-fan-defaults", lambda ax: result.plot.fan("defaults", ax=ax), "Defaults in each year."),
        ("fig-leverage", lambda ax: result.plot.leverage(ax=ax),
         "What one financed project mobilises: the fund's loan, the bank's credit, the total investment."),
        ("fig-sector", lambda ax: result.plot.groups("sector", ax=ax),
         "Expected loss and contribution to the ES, by sector (the contributions add up to the ES)."),
        ("fig-territory", lambda ax: result.plot.groups("territory", ax=ax), "The same by territory."),
    ]
    parts = []
    for i, (fig_id, draw, caption) in enumerate(specs):
        with matplotlib.rc_context({"svg.hashsalt": f"levier-{fig_id}", "svg.fonttype": "path"}):
            fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
            draw(ax)
            image = svg(ax)
        parts.append(f"<figure class='plot' id='{fig_id}'>{image}<figcaption>{html.escape(caption)}</figcaption></figure>")
    return "<div class='figures'>" + "".join(parts) + "</div>"


def report_html(result: SimulationResult, *, generated: _dt.datetime | None = None) -> str:
    """The report of a result as one self-contained HTML page (needs matplotlib)."""
    s, meta = result.scenario, result.meta
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    summary = result.summary()
    headline = headline_table(result, summary).rename(columns={"mc_se": "± MC se"})
    by_sector = result.by_sector()
    by_sector.columns = [c.replace("_", " ") for c in by_sector.columns]
    provenance = pd.DataFrame({"value": [
        meta["seed_entropy"], str(meta.get("seed_spawn_key", [])), meta["scenario_hash"], str(meta.get("scenario_source")),
        meta["levier_version"], meta.get("numpy_version", ""), f"{meta['paths']:,}", meta.get("sampler", "random"),
        f"{meta.get('elapsed_seconds', float('nan')):.2f} s", when,
    ]}, index=pd.Index(["seed entropy", "seed spawn key", "scenario SHA-256", "scenario file", "levier", "numpy", "paths",
                        "factor sampler", "run time", "report generated"], name="provenance"))
    description = html.escape(s.meta.description) if s.meta.description else ""
    body = [
        f"<h1>{html.escape(s.meta.name)}</h1>",
        f"<p class='lede'>{description} {meta['paths']:,} Monte Carlo paths over {s.simulation.horizon_years} years, "
        f"{meta['n_projects']} projects ({meta['n_loan_book']} in the loan book). Figures are means over paths with "
        "their 95 % Monte Carlo intervals.</p>",
        "<h2>What the fund gets, and what it can lose</h2>",
        _cards(result),
        "<h2>Pictures</h2>",
        _figures(result),
        "<h2>Key figures</h2>",
        f"<div class='table'>{html_table(headline)}</div>",
        "<h2>Risk</h2>",
        f"<div class='table'>{html_table(risk_table(result, summary))}</div>",
        f"<div class='table'>{html_table(var_interval_table(result, summary))}</div>",
        _bad_decade(result),
        "<h2>Ratios of the portfolio</h2>",
        f"<div class='table'>{html_table(result.ratios()[['value', 'mc_se']])}</div>",
        "<h2>By sector</h2>",
        f"<div class='table'>{html_table(by_sector)}</div>",
        "<h2>The scenario</h2>",
        _parameters(result),
        "<h2>Provenance</h2>",
        f"<div class='table'>{html_table(provenance)}</div>",
        "<footer>Made by levier: the same seed and scenario give the same figures, to the last digit.</footer>",
    ]
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(s.meta.name)} — levier report</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _bad_decade(result: SimulationResult) -> str:
    """The section "A bad decade" when the scenario has ``[[stresses]]``: the fund's 99 % ES under a
    Gaussian copula, a t copula (nu = 4) and downturn recoveries, and each stress's paired
    differences from the baseline — all on the result's own seed and number of paths."""
    s = result.scenario
    if not s.stresses:
        return ""
    from levier.analysis.stress import model_risk, stress

    seed = np.random.SeedSequence(int(result.meta["seed_entropy"]), spawn_key=tuple(result.meta.get("seed_spawn_key", [])))
    specs = ["fund_loss.es_0.99", "fund_loss.mean", "bank_loss.es_0.99"]

    def table(comparison) -> pd.DataFrame:
        frame = comparison.table[["value", "se", "difference", "low", "high"]].copy()
        frame.index = [f"{variant}: {spec}" for spec, variant in frame.index]
        frame.index.name = "statistic"
        return frame.rename(columns={"se": "± MC se", "low": "difference 95 % low", "high": "difference 95 % high"})

    models = table(model_risk(s, paths=result.n_paths, seed=seed, statistics=specs))
    stresses = table(stress(s, paths=result.n_paths, seed=seed, statistics=specs + ["n_defaults", "jobs_additional"]))
    described = "".join(f"<li><b>{html.escape(x.name)}</b>: {html.escape(x.description)}</li>" for x in s.stresses)
    return "".join([
        "<h2>A bad decade</h2>",
        "<p>How much the fund can lose depends on how a bad decade comes. The same paths under a Gaussian copula, "
        "a Student t copula with 4 degrees of freedom (joint defaults in fat tails) and recoveries that fall with the "
        "cycle (downturn loading 0.5 in every sector); differences are paired, on common random numbers.</p>",
        f"<div class='table'>{html_table(models)}</div>",
        f"<p>The scenario's named stresses, against the baseline on common random numbers:</p><ul>{described}</ul>",
        f"<div class='table'>{html_table(stresses)}</div>",
    ])


def write_report(result: SimulationResult, path: str | Path, *, force: bool = False) -> Path:
    """Write :func:`report_html` to ``path``, all or nothing (never over a file unless ``force``).

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or cannot be written.
    """
    from levier.present.output import write_file_atomic

    text = report_html(result)
    return write_file_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)


def result_from_folder(folder: str | Path) -> SimulationResult:
    """Re-create the result of ``levier run --out FOLDER`` by running it again (same seed, same
    scenario, checked by its hash), and check that it gives the same paths as the folder."""
    import json

    from levier.engine.run import simulate
    from levier.errors import InputError
    from levier.model.scenario import load_scenario

    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        stored = pd.read_csv(folder / "paths.csv")
    except (OSError, ValueError) as exc:
        raise InputError(str(folder), [f"not a results folder of levier run --out ({exc})"]) from None
    source = meta.get("scenario_source")
    if not source or not Path(source).is_file():
        raise InputError(str(folder), [f"the scenario file of this run is gone: {source}"])
    scenario = load_scenario(source)
    if scenario.content_hash() != meta.get("scenario_hash"):
        raise InputError(str(folder), [f"{source} has changed since this run (its SHA-256 differs)"])
    seed = np.random.SeedSequence(int(meta["seed_entropy"]), spawn_key=tuple(meta.get("seed_spawn_key", [])))
    result = simulate(scenario, paths=int(meta["paths"]), seed=seed, keep=meta.get("keep", "all"),
                      sampler=meta.get("sampler", "random"))
    fresh = result.paths.reset_index()
    for column in ("fund_loss", "jobs_additional", "fund_net_cost"):
        if column not in stored or len(stored) != len(fresh):
            raise InputError(str(folder / "paths.csv"), [f"not the paths table of this run (no {column!r} column "
                                                         f"or not {len(fresh):,} rows)"])
        if not np.allclose(stored[column].to_numpy(), fresh[column].to_numpy(), rtol=1e-12, atol=0, equal_nan=True):
            raise InputError(str(folder), [f"a fresh run does not reproduce {column} of this folder "
                                           f"(levier {meta.get('levier_version')} then, {result.meta['levier_version']} now?)"])
    return result

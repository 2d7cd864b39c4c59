"""Pictures of a result: loss distribution, jobs and cost per job, fans by year, the leverage
cascade, groups, paired differences and the frontier of a sweep.

matplotlib is an optional extra (``pip install 'levier[plot]'``), imported only when a plot is
drawn. Every function takes ``ax=None`` (a new figure) and returns the axes it drew on; the
accessors ``result.plot``, ``comparison.plot`` and ``sweep.plot`` call them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from levier.names import risk_level
from levier.present.i18n import format_fixed, format_percent, resolves_lang, t as _t, with_unit
from levier.stats import Z95, expected_shortfall, value_at_risk

if TYPE_CHECKING:  # pragma: no cover
    from levier.analysis.lab import Comparison, Sweep, Tornado
    from levier.engine.result import SimulationResult

__all__ = ["ComparisonPlots", "ResultPlots", "SweepPlots", "exceedance", "j_curve", "pyplot", "tail"]

#: Colours of the figures (colour-blind safe: Okabe and Ito).
COLOURS = {"fund": "#0072B2", "bank": "#E69F00", "investment": "#009E73", "jobs": "#CC79A7", "risk": "#D55E00",
           "neutral": "#555555"}

_LABELS = {
    "fund_loss": "Fund loss (€)", "bank_loss": "Bank loss (€)", "fund_net_cost": "Fund net cost, PV (€)",
    "jobs_additional": "Additional jobs at the horizon", "jobs_created": "Jobs at the horizon",
    "cost_per_job": "Cost per additional job (€), path by path", "jobs": "Jobs present",
    "fund_outstanding": "Fund outstanding (€)", "bank_outstanding": "Bank outstanding (€)",
    "defaults": "Defaults in the year", "fund_cash_flow": "Fund net cash flow (€)", "new_loans": "New loans",
    "live_files": "Live files",
}


def pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt  # without a display, matplotlib picks Agg by itself
    except ImportError:
        from levier.errors import install_hint

        raise ImportError(f"plots need matplotlib: {install_hint('matplotlib', 'plot')}") from None
    return plt


def _axes(ax, figsize=(7.0, 4.0)):
    if ax is not None:
        return ax
    fig, ax = pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _label(metric: str, lang: str) -> str:
    return _t(_LABELS[metric], lang) if metric in _LABELS else metric


def _amount(v: float, lang: str = "en") -> str:
    """An axis or legend amount: ``10.7 M``, ``250 k`` (French: ``10,7 M``, the unit held to it)."""
    a = abs(v)
    if a >= 1e6:
        return with_unit(format_fixed(v / 1e6, 1, lang), "M", lang)
    return with_unit(format_fixed(v / 1e3, 0, lang), "k", lang) if a >= 1e3 else format_fixed(v, 0, lang)


def _money(ax, axis="x", lang: str = "en") -> None:
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _):
        return _amount(v, lang)

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(fmt))


@resolves_lang
def loss(result: SimulationResult, metric: str = "fund_loss", levels=None, ax=None, bins: int = 60, lang: str = "en"):
    """Distribution of a loss with its expected loss, and its VaR and ES, marked.

    ``levels`` defaults to one level (99 %, or the scenario's highest): three lines — ``EL``,
    ``VaR 99 %``, ``ES 99 %`` (their x is the statistic, as in ``result.summary()``) — that a
    reader can tell apart; the legend gives their values.
    """
    ax = _axes(ax)
    x = result.paths[metric].to_numpy()
    levels = list(levels or [risk_level(result.scenario.simulation.risk_levels)])
    ax.hist(x, bins=bins, density=True, color=COLOURS["fund"], alpha=0.55,
            label=_t("{n} paths", lang, n=f"{len(x):,}".replace(",", "\u202f" if lang == "fr" else ",")))
    ax.axvline(x.mean(), color=COLOURS["neutral"], lw=2.2, label=f"{_t('EL', lang)}: {_amount(x.mean(), lang)}")
    styles = ["--", ":", "-."]
    for i, alpha in enumerate(levels):
        style, level = styles[i % len(styles)], format_percent(alpha, lang)
        var, es = value_at_risk(x, alpha), expected_shortfall(x, alpha)
        ax.axvline(var, color=COLOURS["risk"], ls=style, lw=2.2, label=f"{_t('VaR {level}', lang, level=level)}: {_amount(var, lang)}")
        ax.axvline(es, color="black", ls=style, lw=1.6, label=f"{_t('ES {level}', lang, level=level)}: {_amount(es, lang)}")
    ax.set_xlabel(_label(metric, lang))
    ax.set_ylabel(_t("density", lang))
    ax.set_yticks([])
    _money(ax, lang=lang)
    ax.legend(fontsize="medium", frameon=True, framealpha=0.9, loc="upper right")
    ax.set_title(_t("{label}: expected loss, VaR and ES", lang, label=_label(metric, lang)))
    return ax


@resolves_lang
def exceedance(result: SimulationResult, metric: str = "fund_loss", levels=None, ax=None, lang: str = "en"):
    """The loss-exceedance curve: P(loss > x) against x, the probability on a log scale.

    Read it as "with probability p (once in 1/p futures) the loss is more than x". The VaR at
    level α is where the curve crosses ``1 − α`` (marked), and the ES — the mean loss beyond
    the VaR — is marked at the same height. Probabilities below ``1 / paths`` cannot be seen.
    """
    ax = _axes(ax)
    x = np.sort(result.paths[metric].to_numpy())
    n = x.size
    values = np.unique(x)  # ties (many paths lose nothing) make one step, not many
    survival = 1.0 - np.searchsorted(x, values, side="right") / n  # P(L > v) on the sample
    keep = survival > 0
    ax.step(values[keep], survival[keep], where="post", color=COLOURS["fund"], lw=2.0)
    ax.set_yscale("log")
    levels = list(levels or result.scenario.simulation.risk_levels)
    for alpha in levels:
        p = 1.0 - alpha
        if p < 1.0 / n:
            continue
        var, es = value_at_risk(x, alpha, presorted=True), expected_shortfall(x, alpha, presorted=True)
        level = format_percent(alpha, lang)
        ax.plot([x[0], var], [p, p], color=COLOURS["neutral"], lw=0.8, ls=":")
        ax.plot([var], [p], "o", color=COLOURS["risk"], ms=7)
        ax.plot([es], [p], "D", color="black", ms=6)
        ax.annotate(f"VaR {level} {_amount(var, lang)}  ·  ES {_amount(es, lang)}", (es, p), xytext=(8, 2),
                    textcoords="offset points", fontsize="small", va="bottom")
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color=COLOURS["risk"], marker="o", ls="", label="VaR"),
                       Line2D([], [], color="black", marker="D", ls="", label="ES")],
              loc="lower left", fontsize="medium", frameon=True, framealpha=0.9)
    ax.set_xlabel(_t("Fund loss over the horizon (€)", lang) if metric == "fund_loss" else _label(metric, lang))
    ax.set_ylabel(_t("Probability that the fund loses more", lang))
    _money(ax, lang=lang)
    ax.set_ylim(max(0.5 / n, 1e-6), 1.0)
    ax.margins(x=0.12)
    ax.set_title(_t("How much the fund can lose: the chance of losing more than each amount", lang), fontsize="medium")
    return ax


@resolves_lang
def distribution(result: SimulationResult, metric: str = "jobs_additional", ax=None, bins: int = 50, lang: str = "en"):
    """Histogram of a per-path metric with its mean and median (missing values left out)."""
    ax = _axes(ax)
    x = result.paths[metric].to_numpy()
    x = x[~np.isnan(x)]
    colour = COLOURS["jobs"] if "job" in metric and "cost" not in metric else COLOURS["fund"]
    ax.hist(x, bins=bins, color=colour, alpha=0.6,
            label=_t("{n} paths", lang, n=f"{len(x):,}".replace(",", "\u202f" if lang == "fr" else ",")))
    ax.axvline(x.mean(), color=COLOURS["neutral"], lw=2, label=_t("mean", lang))
    ax.axvline(np.quantile(x, 0.5, method="inverted_cdf"), color=COLOURS["neutral"], ls="--", lw=1.5,
               label=_t("median", lang))
    ax.set_xlabel(_label(metric, lang))
    ax.set_ylabel(_t("paths", lang))
    if "cost" in metric:
        _money(ax, lang=lang)
    ax.legend(fontsize="medium", frameon=False)
    ax.set_title(_label(metric, lang))
    return ax


@resolves_lang
def fan(result: SimulationResult, metric: str = "jobs", ax=None, lang: str = "en"):
    """Fan chart of a per-year metric: the median and the 50 % and 90 % bands across paths."""
    ax = _axes(ax)
    values = result.year_paths(metric).to_numpy()
    years = np.arange(1, values.shape[1] + 1)
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0, method="inverted_cdf")
    colour = COLOURS["jobs"] if metric == "jobs" else COLOURS["fund"]
    ax.fill_between(years, q[0], q[4], color=colour, alpha=0.18, lw=0, label=_t("90 % of paths", lang))
    ax.fill_between(years, q[1], q[3], color=colour, alpha=0.35, lw=0, label=_t("50 % of paths", lang))
    ax.plot(years, q[2], color=colour, lw=2.2, marker="o", ms=3, label=_t("median", lang))
    ax.set_xlabel(_t("year", lang))
    ax.set_ylabel(_label(metric, lang))
    ax.set_xticks(years)
    if metric in ("fund_outstanding", "bank_outstanding", "fund_cash_flow"):
        _money(ax, "y", lang)
    ax.legend(fontsize="medium", frameon=False, loc="best")
    ax.set_title(_t("{label}, year by year", lang, label=_label(metric, lang)))
    return ax


@resolves_lang
def j_curve(result: SimulationResult, ax=None, lang: str = "en"):
    """The fund's J-curve: its cumulative cash at each year's end (median, 50 % and 90 % bands),
    and the capital it needs at the trough (the mean of ``fund_peak_need``, each path's deepest
    point once each year's loans are paid out, before that year's repayments: below the curve).

    A revolving fund's cash dips while it lends and climbs back as it is repaid; the depth of
    the dip is the capital the fund actually needs, which the band shows with its uncertainty.
    """
    ax = _axes(ax)
    values = result.year_paths("fund_cumulative_cash").to_numpy(dtype=float)
    years = np.arange(0, values.shape[1] + 1)
    values = np.column_stack([np.zeros(values.shape[0]), values])  # nothing spent before year 1
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0, method="inverted_cdf")
    colour = COLOURS["fund"]
    ax.fill_between(years, q[0], q[4], color=colour, alpha=0.18, lw=0, label=_t("90 % of paths", lang))
    ax.fill_between(years, q[1], q[3], color=colour, alpha=0.35, lw=0, label=_t("50 % of paths", lang))
    ax.plot(years, q[2], color=colour, lw=2.2, marker="o", ms=3, label=_t("median", lang))
    need = float(result.paths["fund_peak_need"].mean())
    ax.axhline(-need, color=COLOURS["risk"], lw=1.2, ls="--", label=_t("capital needed (mean trough)", lang))
    ax.axhline(0.0, color=COLOURS["neutral"], lw=0.8)
    ax.set_xlabel(_t("year", lang))
    ax.set_ylabel(_t("cumulative cash of the fund (€)", lang))
    ax.set_xticks(years)
    _money(ax, "y", lang)
    ax.legend(fontsize="medium", frameon=False, loc="best")
    ax.set_title(_t("The fund's J-curve: cumulative cash", lang))
    return ax


@resolves_lang
def leverage(result: SimulationResult, ax=None, lang: str = "en"):
    """The leverage cascade: fund € → bank € → total investment per financed project (bars),
    with the totals and the jobs they carry written on the bars."""
    ax = _axes(ax)
    p = result.paths
    financed = p["n_financed"].mean()
    totals = {"fund": p["fund_lent"].mean(), "bank": p["bank_lent"].mean(), "investment": p["investment"].mean()}
    per_project = {k: v / financed if financed > 0 else np.nan for k, v in totals.items()}
    names = [_t(name, lang) for name in ("Fund's loan", "Bank credit", "Total investment")]
    colours = [COLOURS["fund"], COLOURS["bank"], COLOURS["investment"]]
    bars = ax.bar(names, list(per_project.values()), color=colours)
    fund = per_project["fund"]
    for bar, key in zip(bars, per_project):
        multiple = per_project[key] / fund if fund else np.nan
        label = _t("× {multiple}\ntotal {total} M€", lang, multiple=format_fixed(multiple, 1, lang),
                   total=format_fixed(totals[key] / 1e6, 1, lang))  # 1 234,5 in French, not 1,234,5
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize="small")
    jobs = p["jobs_additional"].mean()
    ax.set_ylabel(_t("€ per financed project", lang))
    _money(ax, "y", lang)
    ax.set_ylim(0, max(per_project.values()) * 1.3 if financed > 0 else 1)
    title = _t("Leverage: {financed} projects financed, {jobs} additional jobs ({per} per project)", lang,
               financed=f"{financed:,.1f}", jobs=f"{jobs:,.0f}", per=f"{jobs / financed if financed else 0:,.1f}")
    ax.set_title(title.replace(".", ",") if lang == "fr" else title, fontsize="medium")
    return ax


@resolves_lang
def groups(result: SimulationResult, by: str = "sector", level: float | None = None, ax=None, lang: str = "en"):
    """Expected loss and contribution to the fund's ES, by sector (or territory)."""
    ax = _axes(ax)
    table = result.by_sector() if by == "sector" else result.by_territory()
    levels = result.scenario.simulation.risk_levels
    alpha = level if level is not None else risk_level(levels)
    column = f"es_contribution_{alpha:g}"
    if column not in table:
        raise ValueError(f"no ES contribution at {alpha:g}; the scenario's risk levels are {levels}")
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["fund_loss"], height=0.4, color=COLOURS["fund"], label=_t("expected loss", lang))
    ax.barh(y + 0.2, table[column], height=0.4, color=COLOURS["risk"],
            label=_t("contribution to ES {level}", lang, level=format_percent(alpha, lang)))
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xlabel("€")
    _money(ax, lang=lang)
    ax.legend(fontsize="medium", frameon=False)
    ax.set_title(_t("Fund loss by {by}", lang, by=_t(by, lang)))
    return ax


def differences(comparison: Comparison, ax=None):
    """Paired differences with the baseline, in % of the baseline value, with 95 % intervals."""
    table = comparison.table.drop(index=comparison.baseline, level="variant")
    ax = _axes(ax, figsize=(7.0, 0.45 * len(table) + 1.2))
    base = comparison.table.xs(comparison.baseline, level="variant")["value"]
    labels, centre, half = [], [], []
    for (spec, variant), row in table.iterrows():
        scale = 100.0 / abs(base[spec]) if base[spec] else np.nan
        labels.append(f"{variant}: {spec}")
        centre.append(row["difference"] * scale)
        half.append((row["high"] - row["difference"]) * scale)
    y = np.arange(len(labels))
    ax.errorbar(centre, y, xerr=half, fmt="o", color=COLOURS["fund"], capsize=3)
    ax.axvline(0, color=COLOURS["neutral"], lw=1)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("difference with the baseline, % of its value (95 % interval)")
    ax.set_title("Policies compared")
    return ax


def frontier(sweep: Sweep, x: str | None = None, y: str | None = None, ax=None):
    """Every point of a sweep on two objectives, the Pareto frontier joined and highlighted."""
    ax = _axes(ax)
    objectives = list(sweep.objectives)
    x = x or objectives[0]
    y = y or (objectives[1] if len(objectives) > 1 else objectives[0])
    table = sweep.table
    ax.scatter(table[x], table[y], color=COLOURS["neutral"], alpha=0.5, label="policies")
    front = table[table["pareto"]].sort_values(x)
    ax.plot(front[x], front[y], color=COLOURS["risk"], marker="o", lw=2, label="Pareto frontier")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    for axis, spec in (("x", x), ("y", y)):
        if any(word in spec for word in ("loss", "cost", "lent", "investment")):
            _money(ax, axis)
    ax.legend(fontsize="small", frameon=False)
    ax.set_title("Policies: the frontier")
    return ax


def tail(estimate, ax=None):
    """VaR and ES at each level from :func:`levier.tail_risk`, with their 95 % intervals."""
    ax = _axes(ax)
    table = estimate.table
    x = np.arange(len(table))
    for offset, stat, colour, label in ((-0.1, "var", COLOURS["risk"], "VaR"), (0.1, "es", "black", "ES")):
        centre = table[stat].to_numpy()
        err = np.vstack([centre - table[f"{stat}_low"].to_numpy(), table[f"{stat}_high"].to_numpy() - centre])
        ax.errorbar(x + offset, centre, yerr=err, fmt="o", capsize=4, color=colour, label=label)
    ax.set_xticks(x, [f"{100 * a:g} %" for a in table.index])
    ax.set_xlabel("level")
    ax.set_ylabel(_LABELS.get(estimate.metric, estimate.metric))
    if estimate.metric != "n_defaults":
        _money(ax, "y")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"Tail of {estimate.metric} ({estimate.method} sampling, {estimate.paths:,} paths)")
    return ax


class ResultPlots:
    """``result.plot``: the pictures of a :class:`~levier.engine.result.SimulationResult`."""

    def __init__(self, result: SimulationResult):
        self._result = result

    def loss(self, metric: str = "fund_loss", levels=None, ax=None, bins: int = 60, lang: str = "en"):
        return loss(self._result, metric, levels, ax, bins, lang)

    def exceedance(self, metric: str = "fund_loss", levels=None, ax=None, lang: str = "en"):
        return exceedance(self._result, metric, levels, ax, lang)

    def distribution(self, metric: str = "jobs_additional", ax=None, bins: int = 50, lang: str = "en"):
        return distribution(self._result, metric, ax, bins, lang)

    def jobs(self, ax=None, lang: str = "en"):
        return distribution(self._result, "jobs_additional", ax, lang=lang)

    def cost_per_job(self, ax=None, lang: str = "en"):
        return distribution(self._result, "cost_per_job", ax, lang=lang)

    def fan(self, metric: str = "jobs", ax=None, lang: str = "en"):
        return fan(self._result, metric, ax, lang)

    def leverage(self, ax=None, lang: str = "en"):
        return leverage(self._result, ax, lang)

    def groups(self, by: str = "sector", level: float | None = None, ax=None, lang: str = "en"):
        return groups(self._result, by, level, ax, lang)

    def j_curve(self, ax=None, lang: str = "en"):
        return j_curve(self._result, ax, lang)


class ComparisonPlots:
    """``comparison.plot``: paired differences with their intervals."""

    def __init__(self, comparison: Comparison):
        self._comparison = comparison

    def differences(self, ax=None):
        return differences(self._comparison, ax)


class SweepPlots:
    """``sweep.plot``: the frontier."""

    def __init__(self, sweep: Sweep):
        self._sweep = sweep

    def frontier(self, x: str | None = None, y: str | None = None, ax=None):
        return frontier(self._sweep, x, y, ax)


def tornado(result: Tornado, ax=None):
    """The swings of a statistic, largest on top, with their 95 % intervals (paired errors)."""
    ax = _axes(ax)
    table = result.table
    y = np.arange(len(table))
    swing = table["swing"].to_numpy(dtype=float)
    colours = [COLOURS["jobs"] if v >= 0 else COLOURS["risk"] for v in swing]
    ax.barh(y, swing, xerr=Z95 * table["swing_se"].to_numpy(dtype=float), color=colours,
            height=0.6, capsize=3)
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_yticks(y, [f"{k}\n{lo:g} → {hi:g}" for k, lo, hi in zip(table.index, table["low_value"], table["high_value"])])
    ax.invert_yaxis()
    ax.set_xlabel(f"change in {_LABELS.get(result.statistic, result.statistic)} (high − low)")
    ax.set_title(f"What moves {_LABELS.get(result.statistic, result.statistic)}")
    return ax


class TornadoPlots:
    """``tornado.plot``: the swings as bars."""

    def __init__(self, result: Tornado):
        self._result = result

    def bars(self, ax=None):
        return tornado(self._result, ax)


def svg(ax: Any) -> str:
    """The figure of ``ax`` as an inline SVG element (no XML header), then closed."""
    import io

    plt = pyplot()
    fig = ax.figure
    buffer = io.StringIO()
    # no date or creator in the file: the same result gives the same picture, byte for byte
    fig.savefig(buffer, format="svg", bbox_inches="tight",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]

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
from levier.stats import Z95, expected_shortfall, value_at_risk

if TYPE_CHECKING:  # pragma: no cover
    from levier.analysis.lab import Comparison, Sweep, Tornado
    from levier.engine.result import SimulationResult

__all__ = ["ComparisonPlots", "ResultPlots", "SweepPlots", "pyplot", "tail"]

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
        raise ImportError("plots need matplotlib: pip install 'levier[plot]'") from None
    return plt


def _axes(ax, figsize=(7.0, 4.0)):
    if ax is not None:
        return ax
    fig, ax = pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _money(ax, axis="x") -> None:
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _):
        a = abs(v)
        return f"{v / 1e6:,.1f} M" if a >= 1e6 else (f"{v / 1e3:,.0f} k" if a >= 1e3 else f"{v:,.0f}")

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(fmt))


def loss(result: SimulationResult, metric: str = "fund_loss", levels=None, ax=None, bins: int = 60):
    """Distribution of a loss with its expected loss, and VaR and ES at each level, marked.

    The vertical lines are labelled ``EL``, ``VaR 99 %`` and ``ES 99 %`` (their x is the
    statistic, as in ``result.summary()``).
    """
    ax = _axes(ax)
    x = result.paths[metric].to_numpy()
    levels = list(levels or result.scenario.simulation.risk_levels)
    ax.hist(x, bins=bins, density=True, color=COLOURS["fund"], alpha=0.55, label=f"{len(x):,} paths")
    ax.axvline(x.mean(), color=COLOURS["neutral"], lw=2, label="EL")
    styles = ["--", "-.", ":"]
    for i, alpha in enumerate(levels):
        style = styles[i % len(styles)]
        ax.axvline(value_at_risk(x, alpha), color=COLOURS["risk"], ls=style, lw=1.8, label=f"VaR {100 * alpha:g} %")
        ax.axvline(expected_shortfall(x, alpha), color="black", ls=style, lw=1.2, label=f"ES {100 * alpha:g} %")
    ax.set_xlabel(_LABELS.get(metric, metric))
    ax.set_ylabel("density")
    ax.set_yticks([])
    _money(ax)
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"{_LABELS.get(metric, metric)}: expected loss, VaR and ES")
    return ax


def distribution(result: SimulationResult, metric: str = "jobs_additional", ax=None, bins: int = 50):
    """Histogram of a per-path metric with its mean and median (missing values left out)."""
    ax = _axes(ax)
    x = result.paths[metric].to_numpy()
    x = x[~np.isnan(x)]
    colour = COLOURS["jobs"] if "job" in metric and "cost" not in metric else COLOURS["fund"]
    ax.hist(x, bins=bins, color=colour, alpha=0.6, label=f"{len(x):,} paths")
    ax.axvline(x.mean(), color=COLOURS["neutral"], lw=2, label="mean")
    ax.axvline(np.quantile(x, 0.5, method="inverted_cdf"), color=COLOURS["neutral"], ls="--", lw=1.5, label="median")
    ax.set_xlabel(_LABELS.get(metric, metric))
    ax.set_ylabel("paths")
    if "cost" in metric:
        _money(ax)
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(_LABELS.get(metric, metric))
    return ax


def fan(result: SimulationResult, metric: str = "jobs", ax=None):
    """Fan chart of a per-year metric: the median and the 50 % and 90 % bands across paths."""
    ax = _axes(ax)
    values = result.year_paths(metric).to_numpy()
    years = np.arange(1, values.shape[1] + 1)
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0, method="inverted_cdf")
    colour = COLOURS["jobs"] if metric == "jobs" else COLOURS["fund"]
    ax.fill_between(years, q[0], q[4], color=colour, alpha=0.18, lw=0, label="90 % of paths")
    ax.fill_between(years, q[1], q[3], color=colour, alpha=0.35, lw=0, label="50 % of paths")
    ax.plot(years, q[2], color=colour, lw=2.2, marker="o", ms=3, label="median")
    ax.set_xlabel("year")
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.set_xticks(years)
    if metric in ("fund_outstanding", "bank_outstanding", "fund_cash_flow"):
        _money(ax, "y")
    ax.legend(fontsize="small", frameon=False, loc="best")
    ax.set_title(f"{_LABELS.get(metric, metric)}, year by year")
    return ax


def leverage(result: SimulationResult, ax=None):
    """The leverage cascade: fund € → bank € → total investment per financed project (bars),
    with the totals and the jobs they carry written on the bars."""
    ax = _axes(ax)
    p = result.paths
    financed = p["n_financed"].mean()
    totals = {"fund": p["fund_lent"].mean(), "bank": p["bank_lent"].mean(), "investment": p["investment"].mean()}
    per_project = {k: v / financed if financed > 0 else np.nan for k, v in totals.items()}
    names = ["Fund's loan", "Bank credit", "Total investment"]
    colours = [COLOURS["fund"], COLOURS["bank"], COLOURS["investment"]]
    bars = ax.bar(names, list(per_project.values()), color=colours)
    fund = per_project["fund"]
    for bar, key in zip(bars, per_project):
        multiple = per_project[key] / fund if fund else np.nan
        ax.annotate(f"× {multiple:.1f}\ntotal {totals[key] / 1e6:,.1f} M€", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), ha="center", va="bottom", fontsize="small")
    jobs = p["jobs_additional"].mean()
    ax.set_ylabel("€ per financed project")
    _money(ax, "y")
    ax.set_ylim(0, max(per_project.values()) * 1.3 if financed > 0 else 1)
    ax.set_title(f"Leverage: {financed:,.1f} projects financed, {jobs:,.0f} additional jobs "
                 f"({jobs / financed if financed else 0:,.1f} per project)")
    return ax


def groups(result: SimulationResult, by: str = "sector", level: float | None = None, ax=None):
    """Expected loss and contribution to the fund's ES, by sector (or territory)."""
    ax = _axes(ax)
    table = result.by_sector() if by == "sector" else result.by_territory()
    levels = result.scenario.simulation.risk_levels
    alpha = level if level is not None else risk_level(levels)
    column = f"es_contribution_{alpha:g}"
    if column not in table:
        raise ValueError(f"no ES contribution at {alpha:g}; the scenario's risk levels are {levels}")
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["fund_loss"], height=0.4, color=COLOURS["fund"], label="expected loss")
    ax.barh(y + 0.2, table[column], height=0.4, color=COLOURS["risk"], label=f"contribution to ES {100 * alpha:g} %")
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()
    ax.set_xlabel("€")
    _money(ax)
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(f"Fund loss by {by}")
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

    def loss(self, metric: str = "fund_loss", levels=None, ax=None, bins: int = 60):
        return loss(self._result, metric, levels, ax, bins)

    def distribution(self, metric: str = "jobs_additional", ax=None, bins: int = 50):
        return distribution(self._result, metric, ax, bins)

    def jobs(self, ax=None):
        return distribution(self._result, "jobs_additional", ax)

    def cost_per_job(self, ax=None):
        return distribution(self._result, "cost_per_job", ax)

    def fan(self, metric: str = "jobs", ax=None):
        return fan(self._result, metric, ax)

    def leverage(self, ax=None):
        return leverage(self._result, ax)

    def groups(self, by: str = "sector", level: float | None = None, ax=None):
        return groups(self._result, by, level, ax)


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

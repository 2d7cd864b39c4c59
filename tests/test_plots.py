"""Plots check their content: the lines are where the statistics are, the fan is the quantiles."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.stats import expected_shortfall, value_at_risk

from conftest import make_scenario

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def result():
    return levier.simulate(make_scenario(), paths=600, seed=3)


def _lines(ax):
    # a legend label reads "VaR 99 %: 10.7 M": the name is before the colon
    return {line.get_label().split(":")[0]: line for line in ax.get_lines()}


def test_loss_plot_marks_el_var_and_es_at_their_values(result):
    x = result.paths["fund_loss"].to_numpy()
    summary = result.summary()
    # by default one level (99 %): three lines a reader can tell apart
    lines = _lines(result.plot.loss())
    assert sorted(lines) == ["EL", "ES 99 %", "VaR 99 %"]
    ax = result.plot.loss(levels=result.scenario.simulation.risk_levels)
    lines = _lines(ax)
    assert lines["EL"].get_xdata()[0] == pytest.approx(x.mean())
    assert ax.get_lines()[0].get_label() == f"EL: {x.mean() / 1e3:,.0f} k"
    for alpha in result.scenario.simulation.risk_levels:
        assert lines[f"VaR {100 * alpha:g} %"].get_xdata()[0] == summary.loc["fund_loss", f"var_{alpha:g}"]
        assert lines[f"ES {100 * alpha:g} %"].get_xdata()[0] == pytest.approx(expected_shortfall(x, alpha))
    # the histogram holds every path: its bars integrate to one
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert (heights * widths).sum() == pytest.approx(1.0)
    assert value_at_risk(x, 0.99) <= ax.get_xlim()[1]


def test_fan_median_and_bands_are_the_quantiles_by_year(result):
    ax = result.plot.fan("jobs")
    median = _lines(ax)["median"].get_ydata()
    by_year = result.year_paths("jobs").to_numpy()
    np.testing.assert_allclose(median, np.quantile(by_year, 0.5, axis=0, method="inverted_cdf"))
    # the bands: the 90 % band's upper edge is the 95 % quantile of each year
    band = ax.collections[0].get_paths()[0].vertices
    top = np.quantile(by_year, 0.95, axis=0, method="inverted_cdf")
    for year, value in enumerate(top, start=1):
        assert np.any(np.isclose(band[:, 0], year) & np.isclose(band[:, 1], value))


def test_jobs_and_cost_distributions(result):
    ax = result.plot.jobs()
    assert _lines(ax)["mean"].get_xdata()[0] == pytest.approx(result.paths["jobs_additional"].mean())
    assert sum(p.get_height() for p in ax.patches) == result.n_paths
    ax = result.plot.cost_per_job()
    cost = result.paths["cost_per_job"].dropna()
    assert sum(p.get_height() for p in ax.patches) == len(cost)


def test_leverage_cascade_and_groups(result):
    ax = result.plot.leverage()
    heights = [bar.get_height() for bar in ax.patches]
    financed = result.paths["n_financed"].mean()
    assert heights == pytest.approx([result.paths[c].mean() / financed for c in ("fund_lent", "bank_lent", "investment")])
    ax = result.plot.groups("territory")
    table = result.by_territory()
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx(list(table["fund_loss"]) + list(table["es_contribution_0.99"]))


def test_comparison_and_sweep_plots():
    scenario = make_scenario()
    comparison = levier.compare(scenario, {"generous": {"policy.loan_per_job": 12_000}}, paths=200, seed=1,
                                statistics=["jobs_additional", "fund_loss"])
    ax = comparison.plot.differences()
    points = ax.get_lines()[0].get_xdata()
    base = comparison.table.xs("baseline", level="variant")["value"]
    row = comparison.table.loc[("jobs_additional", "generous")]
    assert points[0] == pytest.approx(100 * row["difference"] / base["jobs_additional"])
    sweep = levier.sweep(scenario, grid={"policy.loan_per_job": "6000:14000:3"}, paths=100, seed=1)
    ax = sweep.plot.frontier()
    front = _lines(ax)["Pareto frontier"]
    assert len(front.get_xdata()) == int(sweep.table["pareto"].sum())


def test_a_missing_matplotlib_is_said_clearly(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    from levier.present import plots

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install matplotlib \(or, in levier's source folder, pip install '.\[plot\]'\)"):
        plots.pyplot()


def test_tail_plot_shows_the_estimates_and_their_intervals():
    estimate = levier.tail_risk(make_scenario(), "fund_loss", (0.95, 0.99), paths=400, seed=2, pilot_paths=200)
    ax = estimate.plot()
    bars = {container.get_label(): container for container in ax.containers}
    np.testing.assert_allclose(bars["VaR"].lines[0].get_ydata(), estimate.table["var"])
    np.testing.assert_allclose(bars["ES"].lines[0].get_ydata(), estimate.table["es"])
    assert "<table" in estimate._repr_html_()


def test_exceedance_curve_is_the_share_of_paths_above_each_loss(result):
    ax = result.plot.exceedance()
    assert ax.get_yscale() == "log"
    curve = ax.get_lines()[0]
    xs, ps = curve.get_xdata(), curve.get_ydata()
    x = result.paths["fund_loss"].to_numpy()
    # at every step the height is the share of paths strictly above that loss (brute force)
    for xi, pi in list(zip(xs, ps))[:: max(1, len(xs) // 50)]:
        assert pi == pytest.approx(np.mean(x > xi))
    # the VaR marks sit at height 1 - alpha, at the VaR and at the ES
    marks = [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines() if line.get_marker() in ("o", "D")]
    for alpha in result.scenario.simulation.risk_levels:
        if 1 - alpha >= 1 / x.size:
            assert (value_at_risk(x, alpha), pytest.approx(1 - alpha)) in marks
            assert any(m[0] == pytest.approx(expected_shortfall(x, alpha)) for m in marks)


def test_plots_speak_french(result):
    ax = result.plot.exceedance(lang="fr")
    assert ax.get_ylabel() == "Probabilité que le fonds perde davantage"
    ax = result.plot.loss(lang="fr")
    assert ax.get_lines()[0].get_label().startswith("Perte moyenne: ")
    assert "\u202f%" in ax.get_lines()[1].get_label()

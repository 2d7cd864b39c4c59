"""The policy lab: compare policies on common random numbers, sweep, find the frontier, optimise.

Every run of a policy lab call uses the same seed: path ``i`` of every policy sees the same
projects, the same factor path and the same per-project draws (:mod:`levier.streams`), so the
difference between two policies on a path is due to the policy alone, and the Monte Carlo error
of a difference is that of the paired differences — usually far smaller than that of two
independent runs, and :func:`compare` measures by how much.

Statistics are named by *specs*: a per-path metric (``"jobs_additional"``: its mean), a
portfolio ratio of :data:`levier.names.RATIOS` (``"cost_per_job"``: a ratio of means), or a
metric and a statistic (``"fund_loss.mean"``, ``"fund_loss.es_0.99"``, ``"fund_loss.var_0.99"``).
Means and ratios get delta-method standard errors; VaR and ES get errors by sectioning (20
sections), paired section by section in comparisons.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from levier.engine.result import SimulationResult
from levier.engine.run import PreparedRun, prepare
from levier.errors import LevierWarning, ScenarioError
from levier.model.scenario import Scenario, integer_field, parse_assignment
from levier.names import ALL_RATIOS, Statistic, parse_statistic, risk_level, tail_side, with_derived
from levier.progress import Progress, Tracker, as_progress
from levier.stats import Z95, expected_shortfall, mean_se, sectioning, value_at_risk
from levier.streams import LabPurpose, lab_generator, lab_root

__all__ = [
    "Comparison",
    "Optimum",
    "Sensitivity",
    "Sweep",
    "Tornado",
    "compare",
    "optimise",
    "pareto_front",
    "parse_grid",
    "sensitivity",
    "statistic",
    "sweep",
    "tornado",
]

#: Sections of the paths for the errors of VaR and ES (:func:`levier.stats.sectioning`).
SECTIONS = 20

#: A parameter's range: dotted key → (low, high). The one word for it in every lab function.
Bounds = Mapping[str, tuple[Any, Any]]


# -- statistics by spec ------------------------------------------------------------------------

def _columns(result: SimulationResult) -> dict[str, np.ndarray]:
    return with_derived(result.path_arrays(), bank_rate=result.scenario.bank.rate)


def _influence(values: dict[str, np.ndarray], stat: Statistic) -> tuple[float, np.ndarray]:
    """The estimate and its per-path influence (mean of influence = 0; se = sd / sqrt(n))."""
    if stat.kind == "ratio":
        num, den = (values[c] for c in ALL_RATIOS[stat.metric])
        mean_den = den.mean()
        if mean_den == 0:
            return math.nan, np.full(num.size, math.nan)
        r = num.mean() / mean_den
        return float(r), (num - r * den) / mean_den
    x = values[stat.metric]
    return float(x.mean()), x - x.mean()


def _tail(stat: Statistic) -> Callable[[np.ndarray], float]:
    assert stat.level is not None
    level = stat.level
    one = (lambda x: value_at_risk(x, level)) if stat.kind == "var" else (lambda x: expected_shortfall(x, level))
    if tail_side(stat.metric) == "lower":  # the jobs: VaR and ES of the shortfall, as in summary()
        return lambda x: -one(-x)
    return one


def _sections_see_the_tail(n: int, stat: Statistic) -> bool:
    """Whether each of the :data:`SECTIONS` sections of ``n`` paths holds at least one path of
    the tail beyond the statistic's level. Below that, a section's VaR or ES is its largest path
    whatever the level (the 99 % and 99.9 % ES of 1 000 paths got the same error): the spread of
    the sections is not the statistic's error, which is then not given (NaN)."""
    assert stat.level is not None
    return (n // SECTIONS) * (1.0 - stat.level) >= 1.0 - 1e-9  # 200 paths at 0.9: 10 x 0.0999... is one path


def _tail_and_se(x: np.ndarray, stat: Statistic) -> tuple[float, float]:
    estimate = _tail(stat)
    sectioned = sectioning(lambda v: (estimate(v),), (x,), SECTIONS)
    se = float(sectioned.se[0]) if _sections_see_the_tail(len(x), stat) else math.nan
    return float(sectioned.estimate[0]), se


def statistic(result: SimulationResult, spec: str) -> tuple[float, float]:
    """A statistic of a result and its Monte Carlo standard error.

    Examples
    --------
    >>> statistic(result, "cost_per_job")  # doctest: +SKIP
    (11085.4, 56.5)
    """
    stat = parse_statistic(spec)
    values = _columns(result)
    if stat.kind in ("mean", "ratio"):
        estimate, influence = _influence(values, stat)
        return estimate, mean_se(influence)
    return _tail_and_se(values[stat.metric], stat)


def _runs(scenario: Scenario, paths, seed, chunk_size, client) -> PreparedRun:
    """The one prepared run every evaluation of a lab call re-targets (same paths and seed); a
    local one keeps its draws for the next evaluations (:class:`~levier.engine.run.DrawCache`)."""
    return prepare(scenario, paths=paths, seed=seed, chunk_size=chunk_size, client=client).keeping_draws()


# -- compare -----------------------------------------------------------------------------------

#: Statistics :func:`compare` reports by default.
COMPARE_STATISTICS = ("n_financed", "jobs_additional", "jobs_net", "cost_per_job", "leverage_bank", "fund_loss",
                      "fund_net_cost", "fund_loss.es_0.99")


def _html(frame: pd.DataFrame) -> str:
    from levier.present.display import frame_html

    return frame_html(frame)


@dataclass(frozen=True)
class Comparison:
    """Policies run on common random numbers, and their paired differences with a baseline.

    Attributes
    ----------
    table : DataFrame
        Index ``(statistic, variant)``. Columns: ``value`` and ``se`` (the variant's estimate
        and error), ``difference`` (variant - baseline), ``difference_se``, ``low`` / ``high``
        (95 % interval of the difference), ``independent_se`` (what the error of the difference
        would be with independent runs of the same size: the two errors in quadrature, from the
        same paths), ``variance_reduction`` (``(independent_se / difference_se)**2``: how much
        common random numbers shrank the variance of the difference; missing for the baseline
        and where the difference is the same on every path).
    results : dict
        Each policy's :class:`~levier.engine.result.SimulationResult`, the baseline first.
    """

    baseline: str
    table: pd.DataFrame
    results: dict[str, SimulationResult] = field(repr=False)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def plot(self):
        """``plot.differences()``: paired differences with their intervals (matplotlib)."""
        from levier.present.plots import ComparisonPlots

        return ComparisonPlots(self)

    def to_frame(self) -> pd.DataFrame:
        """The comparison table (index ``(statistic, variant)``)."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Each policy's :meth:`~levier.engine.result.SimulationResult.summary`, index ``(variant, metric)``."""
        return pd.concat({name: result.summary() for name, result in self.results.items()}, names=["variant"])

    def paired(self, metric: str, variant: str) -> pd.Series:
        """Per-path difference of a metric, variant minus baseline (index ``path``).

        For a sum (``jobs_additional``, ``fund_loss``) its mean is the table's difference and
        ``std / sqrt(n)`` its error. For a per-path ratio (``cost_per_job``, the leverages) it
        is not: the table's ratios are ratios of means (total cost / total jobs, with delta-method
        errors), and the mean of path-by-path ratios differs from them (paths with few jobs weigh
        as much as the others)."""
        if variant not in self.results:
            raise KeyError(f"no variant {variant!r}; expected one of: {', '.join(self.results)}")
        if metric not in self.results[variant].paths:
            raise KeyError(f"no per-path metric {metric!r}; expected one of: {', '.join(self.results[variant].paths)}")
        return self.results[variant].paths[metric] - self.results[self.baseline].paths[metric]

    def __repr__(self) -> str:
        lines = [f"<Comparison against {self.baseline!r} ({self.results[self.baseline].n_paths:,} paths, "
                 "common random numbers)"]
        for (spec, variant), row in self.table.iterrows():
            if variant == self.baseline:
                continue
            lines.append(f"  {variant}: {spec} {row['difference']:+,.4g} ± {row['difference_se']:.2g} "
                         f"(CRN variance ÷{row['variance_reduction']:.3g})")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        return _html(self.table)


def compare(
    scenario: Scenario,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    paths: int | None = None,
    seed: Any = None,
    statistics: Sequence[str] | None = None,
    baseline: str = "baseline",
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Comparison:
    """Run the scenario and its variants on common random numbers and compare them.

    Parameters
    ----------
    scenario : Scenario
        The baseline policy.
    variants : mapping, optional
        Name → dotted-key overrides, e.g. ``{"generous": {"policy.loan_per_job": 10000}}``
        (default: the scenario's ``[[variants]]``).
    paths, seed, chunk_size, client, progress :
        As for :func:`levier.simulate`; one seed for all policies (fresh entropy if neither it
        nor ``simulation.seed`` is given, recorded in each result's meta). With a Dask
        ``client`` every policy's paths run on the cluster, with the same results.
    statistics : sequence of str, optional
        Statistic specs (default :data:`COMPARE_STATISTICS`).
    baseline : str
        Name of the scenario itself in the table.

    Returns
    -------
    Comparison
    """
    if variants is None:
        variants = {v.name: v.set for v in scenario.variants}
    if not variants:
        raise ValueError("nothing to compare: give variants, or [[variants]] in the scenario")
    if baseline in variants:
        raise ValueError(f"a variant cannot be named {baseline!r}: that is the scenario itself")
    specs = list(statistics or COMPARE_STATISTICS)
    for spec in specs:
        parse_statistic(spec)
    base = scenario.without_variants()
    policies = {baseline: base}
    for name, overrides in variants.items():
        policies[name] = base.with_overrides(overrides)
    run = _runs(base, paths, seed, chunk_size, client)
    with as_progress(progress, run.paths * len(policies)) as bar:
        tracker = Tracker(bar, run.paths * len(policies))
        results = {name: run.with_scenario(s).simulate(tracker.run()) for name, s in policies.items()}
    return Comparison(baseline, comparison_table(results, specs, baseline), results,
                      {name: dict(o) for name, o in variants.items()})


def comparison_table(results: Mapping[str, SimulationResult], specs: Sequence[str], baseline: str) -> pd.DataFrame:
    """Estimates, paired differences with the baseline and the variance reduction, per spec.

    Means and ratios: delta-method errors, normal 95 % intervals. VaR and ES: errors by
    sectioning, paired section by section, Student-t 95 % intervals (:func:`levier.stats.sectioning`).
    """
    columns = {name: _columns(result) for name, result in results.items()}
    base = columns[baseline]
    rows = []
    for spec in specs:
        stat = parse_statistic(spec)
        for name, values in columns.items():
            if stat.kind in ("mean", "ratio"):
                value, infl = _influence(values, stat)
                base_value, base_infl = _influence(base, stat)
                se, base_se, diff_se = mean_se(infl), mean_se(base_infl), mean_se(infl - base_infl)
                half = Z95 * diff_se
            else:
                x, y = values[stat.metric], base[stat.metric]
                value, se = _tail_and_se(x, stat)
                base_value, base_se = _tail_and_se(y, stat)
                estimate = _tail(stat)
                paired = sectioning(lambda a, b: (estimate(a) - estimate(b),), (x, y), SECTIONS)
                diff_se, half = float(paired.se[0]), float(paired.half_width[0])
                if not _sections_see_the_tail(len(x), stat) and not np.array_equal(x, y, equal_nan=True):
                    diff_se = half = math.nan  # (the same paths twice differ by exactly 0, with no error)
            diff = value - base_value
            independent = math.sqrt(se**2 + base_se**2)
            reduction = independent**2 / diff_se**2 if diff_se > 0 else math.nan
            rows.append({"statistic": spec, "variant": name, "value": value, "se": se, "difference": diff,
                         "difference_se": diff_se, "low": diff - half, "high": diff + half,
                         "independent_se": independent, "variance_reduction": reduction})
    return pd.DataFrame(rows).set_index(["statistic", "variant"])


# -- sweep and frontier --------------------------------------------------------------------------

def parse_grid(text: str) -> tuple[str, list[Any]]:
    """``KEY=LO:HI:N`` (N evenly spaced values) or ``KEY=V1,V2,...`` → (key, values).

    Examples
    --------
    >>> parse_grid("policy.loan_per_job=5000:15000:3")
    ('policy.loan_per_job', [5000.0, 10000.0, 15000.0])
    >>> parse_grid("fund.recycle=true,false")
    ('fund.recycle', [True, False])
    """
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key or not spec.strip():
        raise ValueError(f"bad grid {text!r}: expected KEY=LO:HI:N or KEY=V1,V2,...")
    parts = spec.split(":")
    if len(parts) == 3:
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"bad grid {text!r}: LO and HI must be numbers and N an integer") from None
        if n < 1:
            raise ValueError(f"bad grid {text!r}: N must be at least 1")
        return key, [float(v) for v in np.linspace(lo, hi, n)]
    if len(parts) > 1:
        raise ValueError(f"bad grid {text!r}: expected KEY=LO:HI:N (N values from LO to HI) or KEY=V1,V2,...")
    return key, [parse_assignment(f"{key}={v.strip()}")[1] for v in spec.split(",")]


def pareto_front(table: pd.DataFrame, objectives: Mapping[str, str]) -> np.ndarray:
    """Rows of ``table`` that no other row dominates on ``objectives`` (column → "max"/"min").

    A row is dominated if another is at least as good on every objective and strictly better
    on one. Rows with a missing objective are never on the front.

    Examples
    --------
    >>> t = pd.DataFrame({"jobs": [10, 12, 12, 8], "loss": [5, 6, 7, 4]})
    >>> pareto_front(t, {"jobs": "max", "loss": "min"}).tolist()
    [True, True, False, True]
    """
    for column, sense in objectives.items():
        if sense not in ("max", "min"):
            raise ValueError(f"objective {column!r}: expected 'max' or 'min', got {sense!r}")
    signs = np.array([1.0 if sense == "max" else -1.0 for sense in objectives.values()])
    scores = table[list(objectives)].to_numpy(dtype=float) * signs  # larger is better
    valid = ~np.isnan(scores).any(axis=1)
    front = valid.copy()
    for i in np.flatnonzero(valid):
        others = scores[valid]
        dominated = np.any(np.all(others >= scores[i], axis=1) & np.any(others > scores[i], axis=1))
        front[i] = not dominated
    return front


@dataclass(frozen=True)
class Sweep:
    """Statistics at each point of a design, on common random numbers.

    ``table`` has one row per point: the parameters, each statistic and its ``_se``, and
    ``pareto`` (on the frontier of ``objectives``).
    """

    table: pd.DataFrame
    parameters: list[str]
    objectives: dict[str, str]

    @property
    def plot(self):
        """``plot.frontier(x, y)``: every point and the Pareto frontier (matplotlib)."""
        from levier.present.plots import SweepPlots

        return SweepPlots(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per point (index ``point``)."""
        return self.table.copy()

    def frontier(self) -> pd.DataFrame:
        """The Pareto-optimal points, sorted by the first objective."""
        first = next(iter(self.objectives))
        return self.table[self.table["pareto"]].sort_values(first)

    def __repr__(self) -> str:
        return (f"<Sweep of {', '.join(self.parameters)}: {len(self.table)} points, "
                f"{int(self.table['pareto'].sum())} on the frontier of {', '.join(self.objectives)}>")

    def _repr_html_(self) -> str:
        return _html(self.table)


def sweep_statistics(scenario: Scenario) -> list[str]:
    """The statistics a sweep reports by default: jobs, cost per job, fund EL, ES, leverage."""
    es = [f"fund_loss.es_{a:g}" for a in scenario.simulation.risk_levels]
    return ["jobs_additional", "cost_per_job", "fund_loss", *es, "leverage_bank", "n_financed"]


def default_objectives(scenario: Scenario) -> dict[str, str]:
    """Maximise the additional jobs, minimise the ES of the fund's loss at the default level."""
    return {"jobs_additional": "max", f"fund_loss.es_{risk_level(scenario.simulation.risk_levels):g}": "min"}


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any] | str] | None = None,
    *,
    design: str | None = None,
    n: int | None = None,
    bounds: Bounds | None = None,
    paths: int | None = None,
    seed: Any = None,
    statistics: Sequence[str] | None = None,
    objectives: Mapping[str, str] | None = None,
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Sweep:
    """Evaluate statistics over a grid or a space-filling design of policy parameters.

    Parameters
    ----------
    grid : mapping, optional
        Key → values (a list, or ``"LO:HI:N"``); every combination is run.
    design : {"lhs", "sobol"}, optional
        Instead of a grid: ``n`` points of a Latin hypercube or scrambled Sobol' design over
        ``bounds`` (key → (low, high)); integer parameters are rounded. The design is drawn
        from the seed (its own stream), so the same seed gives the same points.
    statistics : sequence of str, optional
        Statistic specs (default: :func:`sweep_statistics`).
    objectives : mapping, optional
        Statistic → "max"/"min" for the Pareto frontier (default: maximise additional jobs,
        minimise the ES 99 % of the fund's loss). Objectives are added to the statistics.
    paths, seed, chunk_size, client, progress :
        As for :func:`levier.simulate`; every point runs on the same paths.

    Returns
    -------
    Sweep
    """
    run = _runs(scenario, paths, seed, chunk_size, client)
    points = _design_points(scenario, grid, design, n, bounds, run.root)
    specs = list(statistics or sweep_statistics(scenario))
    objectives = dict(objectives or default_objectives(scenario))
    specs += [o for o in objectives if o not in specs]
    for spec in specs:
        parse_statistic(spec)
    rows = []
    with as_progress(progress, run.paths * len(points)) as bar:
        tracker = Tracker(bar, run.paths * len(points))
        for point in points:
            applied = _rounded(scenario, point)  # the table says what ran: 5, not 5.33 years
            result = run.with_scenario(scenario.with_overrides(applied)).simulate(tracker.run())
            row = dict(applied)
            for spec in specs:
                row[spec], row[f"{spec}_se"] = statistic(result, spec)
            rows.append(row)
    table = pd.DataFrame(rows)
    table["pareto"] = pareto_front(table, objectives)
    table.index.name = "point"
    return Sweep(table, list(points[0]) if points else [], objectives)


def _known(scenario: Scenario, keys) -> None:
    """Raise KeyError, naming the keys that exist, for a parameter the scenario does not have."""
    for key in keys:
        scenario.value_at(key)


def _rounded(scenario: Scenario, point: Mapping[str, Any]) -> dict[str, Any]:
    """The values a design point sets: whole-number parameters (as the schema says, set or not)
    rounded — what is run, and reported."""
    return {key: int(round(value)) if isinstance(value, float) and integer_field(key) else value
            for key, value in point.items()}


def _with(scenario: Scenario, point: Mapping[str, Any]) -> Scenario:
    """The scenario at a design point; integer parameters take rounded values."""
    return scenario.with_overrides(_rounded(scenario, point))


def _design_points(scenario, grid, design, n, bounds, root) -> list[dict[str, Any]]:
    if (grid is None) == (design is None):
        raise ValueError("give either grid= or design= (with n= and bounds=)")
    if grid is not None:
        axes = {}
        for key, values in grid.items():
            axes[key] = parse_grid(f"{key}={values}")[1] if isinstance(values, str) else list(values)
            scenario.value_at(key)  # an unknown key fails here, naming it
            if not axes[key]:
                raise ValueError(f"grid[{key!r}] has no values: give at least one")
        keys = list(axes)
        mesh = np.meshgrid(*[np.arange(len(v)) for v in axes.values()], indexing="ij")
        return [{k: axes[k][int(i)] for k, i in zip(keys, idx)} for idx in zip(*(m.ravel() for m in mesh))]
    if design not in ("lhs", "sobol"):
        raise ValueError(f"design must be 'lhs' or 'sobol', got {design!r}")
    if not bounds or not n or n < 1:
        raise ValueError("a design needs n >= 1 and bounds={key: (low, high)}")
    from scipy.stats import qmc

    keys = list(bounds)
    for key in keys:
        scenario.value_at(key)
    rng = lab_generator(root, LabPurpose.DESIGN)
    engine = qmc.LatinHypercube(len(keys), seed=rng) if design == "lhs" else qmc.Sobol(len(keys), seed=rng)
    if design == "sobol" and n & (n - 1):  # scipy's own UserWarning says it in its words, at its line
        below = 1 << (n.bit_length() - 1)
        warnings.warn(f"a Sobol' design keeps its balance in runs of a power of 2 points: {n:,} is not one "
                      f"({below:,} or {2 * below:,} are)", LevierWarning, stacklevel=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The balance properties of Sobol", category=UserWarning)
        unit = engine.random(n)
    lo = np.array([bounds[k][0] for k in keys], dtype=float)
    hi = np.array([bounds[k][1] for k in keys], dtype=float)
    x = qmc.scale(unit, lo, hi) if np.all(hi > lo) else lo + unit * (hi - lo)
    return [{k: float(v) for k, v in zip(keys, row)} for row in x]


# -- optimise ------------------------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Optimum:
    """The result of :func:`optimise`.

    Attributes
    ----------
    x : dict
        The best parameters found (rounded where the parameter is an integer).
    table : DataFrame
        The objective and each constraint at ``x``: its value and Monte Carlo error on the
        optimisation's paths (``value``, ``se``) and on fresh paths (``check``, ``check_se``),
        the bound and whether it holds (``satisfied`` on the optimisation's paths,
        ``check_satisfied`` on the fresh ones).
    evaluations : DataFrame
        Every point the optimiser tried, with the objective and constraints.
    """

    x: dict[str, Any]
    table: pd.DataFrame
    evaluations: pd.DataFrame = field(repr=False)
    sense: str = "max"

    def to_frame(self) -> pd.DataFrame:
        """The objective and constraints at the optimum (index ``statistic``)."""
        return self.table.copy()

    @property
    def feasible(self) -> bool:
        """Whether ``x`` meets every constraint on the optimisation's paths (when none of the
        points tried does, ``x`` is the one that misses them least)."""
        constraints = self.table[self.table["role"] == "constraint"]
        return bool(constraints["satisfied"].astype(bool).all()) if len(constraints) else True

    def __repr__(self) -> str:
        obj = self.table.iloc[0]
        infeasible = "" if self.feasible else " INFEASIBLE: no policy tried meets the constraints; the nearest"
        return (f"<Optimum{infeasible} {self.x}: {self.table.index[0]} = {obj['value']:,.4g} ± {obj['se']:.2g} "
                f"(fresh paths {obj['check']:,.4g} ± {obj['check_se']:.2g})>")

    def _repr_html_(self) -> str:
        point = ", ".join(f"{k} = {v:,.6g}" if isinstance(v, float) else f"{k} = {v}" for k, v in self.x.items())
        title = "Optimum" if self.feasible else "No policy tried meets the constraints; the nearest"
        return f"<div><strong>{title}: {point}</strong>{_html(self.table)}</div>"


def _evaluations_estimate(bounds: Bounds, maxiter: int, popsize: int) -> int:
    # differential evolution: popsize x d points at first, as many per generation at most
    return max(1, popsize * len(bounds)) * (maxiter + 1)


def optimise(
    scenario: Scenario,
    bounds: Bounds,
    *,
    maximise: str | None = None,
    minimise: str | None = None,
    subject_to: Mapping[str, str] | None = None,
    paths: int | None = None,
    seed: Any = None,
    check_paths: int | None = None,
    maxiter: int = 30,
    popsize: int = 8,
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Optimum:
    """Optimise policy parameters by sample-average approximation on common random numbers.

    The objective and constraints are estimated on the same paths (one seed) at every point,
    which makes them deterministic functions of the parameters; scipy's differential evolution
    (seeded, derivative-free: the estimates are piecewise constant in most policy parameters)
    searches the box ``bounds``, and the optimum is then re-estimated on fresh paths.

    Parameters
    ----------
    bounds : mapping
        Key → (low, high); integer parameters are searched over integers.
    maximise, minimise : str
        The objective statistic (exactly one of them), e.g. ``"jobs_additional"``.
    subject_to : mapping, optional
        Statistic → ``"<= value"`` or ``">= value"``, e.g. ``{"fund_loss.es_0.99": "<= 5e6"}``.
    check_paths : int, optional
        Paths of the check on fresh draws (default: the same number); the fresh paths come from
        the seed's own check stream.
    paths, seed, chunk_size, client, progress :
        As for :func:`levier.simulate`. Progress counts the paths of at most ``(maxiter + 1) ·
        popsize · d`` evaluations and of the check; the search usually stops earlier.

    Returns
    -------
    Optimum
    """
    from scipy.optimize import NonlinearConstraint, differential_evolution

    if (maximise is None) == (minimise is None):
        raise ValueError("give exactly one of maximise= and minimise=")
    objective = maximise or minimise
    assert objective is not None
    sense = "max" if maximise else "min"
    constraints = {spec: _parse_constraint(spec, text) for spec, text in (subject_to or {}).items()}
    for spec in [objective, *constraints]:
        parse_statistic(spec)
    if not bounds:
        raise ValueError("bounds= needs at least one parameter: {key: (low, high)}")
    keys = list(bounds)
    _known(scenario, keys)
    integer = np.array([integer_field(k) for k in keys])
    box = [tuple(float(v) for v in bounds[k]) for k in keys]
    for key, (lo, hi) in zip(keys, box):
        if not hi >= lo:
            raise ValueError(f"bounds[{key!r}]: high must not be below low")
    run = _runs(scenario, paths, seed, chunk_size, client)
    checking = prepare(scenario, paths=check_paths or run.paths, seed=lab_root(run.root, LabPurpose.CHECK),
                       chunk_size=chunk_size, client=client, portfolio=run.portfolio)
    cache: dict[tuple, dict[str, tuple[float, float]]] = {}
    total = run.paths * _evaluations_estimate(bounds, maxiter, popsize) + checking.paths

    with as_progress(progress, total) as bar:
        tracker = Tracker(bar, total)

        def evaluate(x: np.ndarray) -> dict[str, tuple[float, float]]:
            point = tuple(int(round(v)) if is_int else float(v) for v, is_int in zip(x, integer))
            if point not in cache:
                try:
                    result = run.with_scenario(_with(scenario, dict(zip(keys, point)))).simulate(tracker.run())
                    cache[point] = {spec: statistic(result, spec) for spec in [objective, *constraints]}
                except ScenarioError:  # a point the scenario rules out (e.g. grace >= maturity)
                    cache[point] = {spec: (math.nan, math.nan) for spec in [objective, *constraints]}
            return cache[point]

        def cost(x):
            value = evaluate(x)[objective][0]
            return math.inf if math.isnan(value) else (-value if sense == "max" else value)

        nonlinear = []
        for spec, (op, bound) in constraints.items():
            def margin(x, s=spec, o=op, b=bound):
                v = evaluate(x)[s][0]
                return -math.inf if math.isnan(v) else (b - v if o == "<=" else v - b)
            nonlinear.append(NonlinearConstraint(margin, 0.0, np.inf))
        found = differential_evolution(cost, box, constraints=nonlinear or (), seed=lab_generator(run.root, LabPurpose.OPTIMISER),
                                       maxiter=maxiter, popsize=popsize, polish=False, tol=1e-8, integrality=integer,
                                       init="sobol")
        best = _best_feasible(cache, keys, objective, sense, constraints) or tuple(
            int(round(v)) if is_int else float(v) for v, is_int in zip(found.x, integer))
        x = dict(zip(keys, best))
        tracker.done = tracker.total - checking.paths  # the search is over: the bar moves on to the check
        fresh = checking.with_scenario(_with(scenario, x)).simulate(tracker.run())
    rows = []
    for spec in [objective, *constraints]:
        value, se = cache[best][spec]
        check, check_se = statistic(fresh, spec)
        row = {"statistic": spec, "role": sense + "imise" if spec == objective else "constraint",
               "value": value, "se": se, "check": check, "check_se": check_se}
        if spec in constraints:
            op, bound = constraints[spec]
            row.update({"bound": f"{op} {bound:,.10g}", "satisfied": _holds(value, op, bound),
                        "check_satisfied": _holds(check, op, bound)})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("statistic")
    evaluations = pd.DataFrame([{**dict(zip(keys, p)), **{s: v[0] for s, v in r.items()}} for p, r in cache.items()])
    optimum = Optimum(x, table, evaluations, sense)
    if not optimum.feasible:
        import warnings

        from levier.errors import LevierWarning

        warnings.warn(f"no policy tried meets the constraints: {optimum.x} is the one that misses them least "
                      "(Optimum.feasible is False; widen the bounds, loosen a constraint, or search longer)",
                      LevierWarning, stacklevel=2)
    return optimum


def _parse_constraint(spec: str, text: str) -> tuple[str, float]:
    match = _CONSTRAINT.match(str(text))
    if not match:
        raise ValueError(f"constraint on {spec!r}: expected '<= VALUE' or '>= VALUE', got {text!r}")
    try:
        return match.group(1), float(match.group(2))
    except ValueError:
        raise ValueError(f"constraint on {spec!r}: {match.group(2)!r} is not a number") from None


def _holds(value: float, op: str, bound: float) -> bool:
    return bool(value <= bound) if op == "<=" else bool(value >= bound)


def _best_feasible(cache, keys, objective, sense, constraints):
    """The best evaluated point that meets every constraint (ties: the first found)."""
    best, best_value = None, None
    for point, values in cache.items():
        value = values[objective][0]
        if math.isnan(value) or not all(_holds(values[s][0], op, b) for s, (op, b) in constraints.items()):
            continue
        better = best_value is None or (value > best_value if sense == "max" else value < best_value)
        if better:
            best, best_value = point, value
    return best


# -- explain -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tornado:
    """One-at-a-time swings of a statistic (:func:`tornado`).

    ``table``: index ``parameter``; columns ``low_value``, ``high_value`` (the parameter's
    values), ``low``, ``high`` (the statistic there), ``base`` (the scenario's value), ``swing``
    (``high - low``) and ``swing_se`` (paired, on common random numbers); sorted by decreasing
    ``|swing|``.
    """

    statistic: str
    table: pd.DataFrame

    @property
    def plot(self):
        """``plot.bars()``: the swings as a tornado chart with their intervals (matplotlib)."""
        from levier.present.plots import TornadoPlots

        return TornadoPlots(self)

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __repr__(self) -> str:
        rows = "; ".join(f"{k} {r['swing']:+,.4g} ± {r['swing_se']:.2g}" for k, r in self.table.iterrows())
        return f"<Tornado of {self.statistic}: {rows}>"

    def _repr_html_(self) -> str:
        return f"<div><strong>Tornado of {self.statistic}</strong>{_html(self.table)}</div>"


def tornado(
    scenario: Scenario,
    bounds: Bounds,
    statistic: str = "jobs_additional",
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Tornado:
    """One-at-a-time sensitivity: the statistic with each parameter at its low and high value.

    All runs share one seed, so each swing is a paired difference with its own error.

    Returns
    -------
    Tornado
    """
    spec = statistic
    parse_statistic(spec)
    _known(scenario, bounds)
    run = _runs(scenario, paths, seed, chunk_size, client)
    total = run.paths * (1 + 2 * len(bounds))
    rows = []
    with as_progress(progress, total) as bar:
        tracker = Tracker(bar, total)
        base_value, _ = _statistic(run.simulate(tracker.run()), spec)
        for key, (low_value, high_value) in bounds.items():
            # the values run, and reported: a whole-number parameter's ends rounded
            low_value, high_value = (_rounded(scenario, {key: v})[key] for v in (low_value, high_value))
            low = run.with_scenario(scenario.with_overrides({key: low_value})).simulate(tracker.run())
            high = run.with_scenario(scenario.with_overrides({key: high_value})).simulate(tracker.run())
            table = comparison_table({"low": low, "high": high}, [spec], "low")
            swing = table.loc[(spec, "high")]
            rows.append({"parameter": key, "low_value": low_value, "high_value": high_value,
                         "low": table.loc[(spec, "low"), "value"], "high": swing["value"], "base": base_value,
                         "swing": swing["difference"], "swing_se": swing["difference_se"]})
    frame = pd.DataFrame(rows).set_index("parameter")
    return Tornado(spec, frame.reindex(frame["swing"].abs().sort_values(ascending=False).index))


_statistic = statistic  # the module's function, for the functions whose argument shadows its name


def sobol_indices(
    function: Callable[[np.ndarray], np.ndarray],
    bounds: Bounds,
    n: int = 256,
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """First-order and total Sobol' indices of ``function`` (Saltelli design, via SALib).

    ``function`` maps an (N, d) array of inputs (columns in the order of ``bounds``) to N
    outputs. Returns index ``parameter`` and columns ``S1``, ``S1_conf``, ``ST``, ``ST_conf``
    (95 % bootstrap half-widths).
    """
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError:  # pragma: no cover - exercised in an environment without the extra
        from levier.errors import install_hint

        raise ImportError(f"Sobol' indices need SALib: {install_hint('SALib', 'lab')}") from None
    problem = {"num_vars": len(bounds), "names": list(bounds), "bounds": [list(map(float, b)) for b in bounds.values()]}
    x = sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = np.asarray(function(x), dtype=float)
    res = analyze.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=seed)
    frame = pd.DataFrame({k: res[k] for k in ("S1", "S1_conf", "ST", "ST_conf")}, index=pd.Index(list(bounds), name="parameter"))
    return frame


@dataclass(frozen=True)
class Sensitivity:
    """Global Sobol' indices of a statistic (:func:`sensitivity`).

    ``table``: index ``parameter``; columns ``S1`` (first order), ``ST`` (total) and their 95 %
    bootstrap half-widths ``S1_conf``, ``ST_conf``.
    """

    statistic: str
    table: pd.DataFrame
    evaluations: int = 0

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def __repr__(self) -> str:
        rows = "; ".join(f"{k} S1 {r['S1']:.2f} ST {r['ST']:.2f}" for k, r in self.table.iterrows())
        return f"<Sensitivity of {self.statistic} ({self.evaluations} runs): {rows}>"

    def _repr_html_(self) -> str:
        return f"<div><strong>Sobol' indices of {self.statistic}</strong>{_html(self.table)}</div>"


def sensitivity(
    scenario: Scenario,
    bounds: Bounds,
    statistic: str = "jobs_additional",
    *,
    n: int = 64,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Sensitivity:
    """Global Sobol' indices of a statistic over uncertain inputs, on common random numbers.

    Runs the model at the ``n (d + 2)`` points of a Saltelli design (``d`` inputs), each on the
    same paths, so the indices measure the inputs' effect rather than Monte Carlo noise. The
    design's scrambling and the bootstrap come from the seed's own stream.
    """
    spec = statistic
    parse_statistic(spec)
    _known(scenario, bounds)
    run = _runs(scenario, paths, seed, chunk_size, client)
    keys = list(bounds)
    runs = n * (len(keys) + 2)
    with as_progress(progress, run.paths * runs) as bar:
        tracker = Tracker(bar, run.paths * runs)

        def model(x: np.ndarray) -> np.ndarray:
            out = np.empty(x.shape[0])
            for i, row in enumerate(x):
                result = run.with_scenario(_with(scenario, dict(zip(keys, map(float, row))))).simulate(tracker.run())
                out[i] = _statistic(result, spec)[0]
            return out

        salib_seed = int(lab_root(run.root, LabPurpose.SENSITIVITY).generate_state(1)[0])
        table = sobol_indices(model, bounds, n, seed=salib_seed)
    # an index is a share of the variance: outside [0, 1], or a first order above the total, the
    # design is too small to tell; the table is still given, with its intervals
    rough = (((table[["S1", "ST"]] < -0.05) | (table[["S1", "ST"]] > 1.05)).any(axis=None)
             or (table["S1"] > table["ST"] + table["S1_conf"] + table["ST_conf"]).any()
             or (table[["S1_conf", "ST_conf"]] > 0.5).any(axis=None))
    if rough:
        warnings.warn(f"Sobol' indices from n = {n} base samples are too rough to read (outside [0, 1], a first "
                      f"order above its total, or intervals wider than ± 0.5); take a larger n (64 or more)",
                      LevierWarning, stacklevel=2)
    return Sensitivity(spec, table, runs)

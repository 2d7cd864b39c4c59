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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from levier.engine.run import simulate
from levier.errors import ScenarioError
from levier.names import PATH_COLUMNS, RATIOS
from levier.engine.result import SimulationResult
from levier.model.scenario import Scenario, parse_assignment
from levier.stats import expected_shortfall, value_at_risk
from levier.streams import coerce_seed

__all__ = [
    "Comparison",
    "Optimum",
    "Sweep",
    "compare",
    "optimise",
    "pareto_front",
    "parse_grid",
    "statistic",
    "sweep",
]

_SECTIONS = 20
_Z95 = float(sps.norm.ppf(0.975))
_SPEC = re.compile(r"^(?P<metric>[a-z_]+)(?:\.(?P<stat>mean|es_[0-9.]+|var_[0-9.]+))?$")


# -- statistics by spec ------------------------------------------------------------------------

def _parse_spec(spec: str) -> tuple[str, str, float | None]:
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(f"bad statistic {spec!r}: expected METRIC, RATIO, METRIC.mean, METRIC.es_ALPHA or METRIC.var_ALPHA")
    metric, stat = match.group("metric"), match.group("stat") or "mean"
    if stat == "mean" and metric in RATIOS and match.group("stat") is None:
        return metric, "ratio", None
    if metric not in PATH_COLUMNS:
        known = ", ".join(list(PATH_COLUMNS) + [r for r in RATIOS if r not in PATH_COLUMNS])
        raise ValueError(f"unknown metric {metric!r} in {spec!r}; expected one of: {known}")
    if stat == "mean":
        return metric, "mean", None
    kind, alpha = stat.split("_", 1)
    level = float(alpha)
    if not 0 < level < 1:
        raise ValueError(f"bad level in {spec!r}: must be in (0, 1)")
    return metric, kind, level


def _columns(result: SimulationResult) -> dict[str, np.ndarray]:
    values = {name: result.paths[name].to_numpy() for name in PATH_COLUMNS}
    values["fund_outlay"] = values["fund_lent"] + values["subsidies"]
    return values


def _influence(values: dict[str, np.ndarray], metric: str, kind: str) -> tuple[float, np.ndarray]:
    """The estimate and its per-path influence (mean of influence = 0; se = sd / sqrt(n))."""
    if kind == "ratio":
        num, den = (values[c] for c in RATIOS[metric])
        mean_den = den.mean()
        if mean_den == 0:
            return math.nan, np.full(num.size, math.nan)
        r = num.mean() / mean_den
        return float(r), (num - r * den) / mean_den
    x = values[metric]
    return float(x.mean()), x - x.mean()


def _tail(x: np.ndarray, kind: str, level: float) -> float:
    return value_at_risk(x, level) if kind == "var" else expected_shortfall(x, level)


def _sections(n: int) -> list[slice]:
    edges = np.linspace(0, n, min(_SECTIONS, n) + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _tail_and_se(x: np.ndarray, kind: str, level: float) -> tuple[float, float]:
    parts = np.array([_tail(x[s], kind, level) for s in _sections(x.size)])
    se = parts.std(ddof=1) / math.sqrt(parts.size) if parts.size > 1 else math.nan
    return _tail(x, kind, level), float(se)


def statistic(result: SimulationResult, spec: str) -> tuple[float, float]:
    """A statistic of a result and its Monte Carlo standard error.

    Examples
    --------
    >>> statistic(result, "cost_per_job")  # doctest: +SKIP
    (11085.4, 56.5)
    """
    metric, kind, level = _parse_spec(spec)
    values = _columns(result)
    if kind in ("mean", "ratio"):
        estimate, influence = _influence(values, metric, kind)
        n = influence.size
        return estimate, float(influence.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return _tail_and_se(values[metric], kind, level)


# -- compare -----------------------------------------------------------------------------------

#: Statistics :func:`compare` reports by default.
COMPARE_METRICS = ("n_financed", "jobs_additional", "jobs_net", "cost_per_job", "leverage_bank", "fund_loss",
                   "fund_net_cost", "fund_loss.es_0.99")


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
        common random numbers shrank the variance of the difference; inf when the difference is
        the same on every path).
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

    def summary(self) -> pd.DataFrame:
        """Each policy's :meth:`~levier.engine.result.SimulationResult.summary`, index ``(variant, metric)``."""
        return pd.concat({name: result.summary() for name, result in self.results.items()}, names=["variant"])

    def paired(self, metric: str, variant: str) -> pd.Series:
        """Per-path difference of a metric, variant minus baseline (index ``path``)."""
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
        return self.table.to_html(float_format=lambda v: f"{v:,.4g}")


def compare(
    scenario: Scenario,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    paths: int | None = None,
    seed: Any = None,
    metrics: Sequence[str] | None = None,
    baseline: str = "baseline",
    chunk_size: int | None = None,
    client: Any = None,
) -> Comparison:
    """Run the scenario and its variants on common random numbers and compare them.

    Parameters
    ----------
    scenario : Scenario
        The baseline policy.
    variants : mapping, optional
        Name → dotted-key overrides, e.g. ``{"generous": {"policy.loan_per_job": 10000}}``
        (default: the scenario's ``[[variants]]``).
    paths, seed, chunk_size, client :
        As for :func:`levier.simulate`; one seed for all policies (fresh entropy if neither it
        nor ``simulation.seed`` is given, recorded in each result's meta). With a Dask
        ``client`` every policy's paths run on the cluster, with the same results.
    metrics : sequence of str, optional
        Statistic specs (default :data:`COMPARE_METRICS`).
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
    specs = list(metrics or COMPARE_METRICS)
    for spec in specs:
        _parse_spec(spec)
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    base = scenario.model_copy(update={"variants": []}) if scenario.variants else scenario
    if scenario.variants:
        base._source, base._base_dir = scenario._source, scenario._base_dir
    policies = {baseline: base}
    for name, overrides in variants.items():
        policies[name] = base.with_overrides(overrides)
    results = {name: simulate(s, paths=paths, seed=root, chunk_size=chunk_size, client=client) for name, s in policies.items()}
    return Comparison(baseline, comparison_table(results, specs, baseline), results,
                      {name: dict(o) for name, o in variants.items()})


def comparison_table(results: Mapping[str, SimulationResult], specs: Sequence[str], baseline: str) -> pd.DataFrame:
    """Estimates, paired differences with the baseline and the variance reduction, per spec."""
    columns = {name: _columns(result) for name, result in results.items()}
    base = columns[baseline]
    rows = []
    for spec in specs:
        metric, kind, level = _parse_spec(spec)
        for name, values in columns.items():
            if kind in ("mean", "ratio"):
                value, infl = _influence(values, metric, kind)
                base_value, base_infl = _influence(base, metric, kind)
                n = infl.size
                se = infl.std(ddof=1) / math.sqrt(n)
                base_se = base_infl.std(ddof=1) / math.sqrt(n)
                diff_se = (infl - base_infl).std(ddof=1) / math.sqrt(n)
            else:
                x, y = values[metric], base[metric]
                value, se = _tail_and_se(x, kind, level)
                base_value, base_se = _tail_and_se(y, kind, level)
                parts = np.array([_tail(x[s], kind, level) - _tail(y[s], kind, level) for s in _sections(x.size)])
                diff_se = parts.std(ddof=1) / math.sqrt(parts.size)
            diff = value - base_value
            independent = math.sqrt(se**2 + base_se**2)
            reduction = independent**2 / diff_se**2 if diff_se > 0 else (math.inf if independent > 0 else math.nan)
            rows.append({"statistic": spec, "variant": name, "value": value, "se": se, "difference": diff,
                         "difference_se": diff_se, "low": diff - _Z95 * diff_se, "high": diff + _Z95 * diff_se,
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

    def frontier(self) -> pd.DataFrame:
        """The Pareto-optimal points, sorted by the first objective."""
        first = next(iter(self.objectives))
        return self.table[self.table["pareto"]].sort_values(first)

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda v: f"{v:,.4g}")


def sweep_metrics(scenario: Scenario) -> list[str]:
    """The statistics a sweep reports by default: jobs, cost per job, fund EL, ES, leverage."""
    es = [f"fund_loss.es_{a:g}" for a in scenario.simulation.risk_levels]
    return ["jobs_additional", "cost_per_job", "fund_loss", *es, "leverage_bank", "n_financed"]


def default_objectives(scenario: Scenario) -> dict[str, str]:
    levels = scenario.simulation.risk_levels
    alpha = 0.99 if 0.99 in levels else max(levels)
    return {"jobs_additional": "max", f"fund_loss.es_{alpha:g}": "min"}


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any] | str] | None = None,
    *,
    design: str | None = None,
    n: int | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    paths: int | None = None,
    seed: Any = None,
    metrics: Sequence[str] | None = None,
    objectives: Mapping[str, str] | None = None,
    chunk_size: int | None = None,
    client: Any = None,
) -> Sweep:
    """Evaluate statistics over a grid or a space-filling design of policy parameters.

    Parameters
    ----------
    grid : mapping, optional
        Key → values (a list, or ``"LO:HI:N"``); every combination is run.
    design : {"lhs", "sobol"}, optional
        Instead of a grid: ``n`` points of a Latin hypercube or scrambled Sobol' design over
        ``bounds`` (key → (low, high)); integer parameters are rounded.
    metrics : sequence of str, optional
        Statistic specs (default: :func:`sweep_metrics`).
    objectives : mapping, optional
        Statistic → "max"/"min" for the Pareto frontier (default: maximise additional jobs,
        minimise the ES 99 % of the fund's loss). Objectives are added to the metrics.

    Returns
    -------
    Sweep
    """
    points = _design_points(scenario, grid, design, n, bounds, seed)
    specs = list(metrics or sweep_metrics(scenario))
    objectives = dict(objectives or default_objectives(scenario))
    specs += [o for o in objectives if o not in specs]
    for spec in specs:
        _parse_spec(spec)
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    rows = []
    for point in points:
        result = simulate(_with(scenario, point), paths=paths, seed=root, chunk_size=chunk_size, client=client)
        row = dict(point)
        for spec in specs:
            row[spec], row[f"{spec}_se"] = statistic(result, spec)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["pareto"] = pareto_front(table, objectives)
    table.index.name = "point"
    return Sweep(table, list(points[0]) if points else [], objectives)


def _with(scenario: Scenario, point: Mapping[str, Any]) -> Scenario:
    """The scenario at a design point; integer parameters take rounded values."""
    values = {}
    for key, value in point.items():
        current = scenario.value_at(key)
        if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
            value = int(round(value))
        values[key] = value
    return scenario.with_overrides(values)


def _design_points(scenario, grid, design, n, bounds, seed) -> list[dict[str, Any]]:
    if (grid is None) == (design is None):
        raise ValueError("give either grid= or design= (with n= and bounds=)")
    if grid is not None:
        axes = {}
        for key, values in grid.items():
            axes[key] = parse_grid(f"{key}={values}")[1] if isinstance(values, str) else list(values)
            scenario.value_at(key)  # an unknown key fails here, naming it
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
    rng = np.random.default_rng(coerce_seed(scenario.simulation.seed if seed is None else seed).spawn(1)[0])
    engine = qmc.LatinHypercube(len(keys), seed=rng) if design == "lhs" else qmc.Sobol(len(keys), seed=rng)
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

    def __repr__(self) -> str:
        obj = self.table.iloc[0]
        return (f"<Optimum {self.x}: {self.table.index[0]} = {obj['value']:,.4g} ± {obj['se']:.2g} "
                f"(fresh paths {obj['check']:,.4g} ± {obj['check_se']:.2g})>")


def optimise(
    scenario: Scenario,
    over: Mapping[str, tuple[float, float]],
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
) -> Optimum:
    """Optimise policy parameters by sample-average approximation on common random numbers.

    The objective and constraints are estimated on the same paths (one seed) at every point,
    which makes them deterministic functions of the parameters; scipy's differential evolution
    (seeded, derivative-free: the estimates are piecewise constant in most policy parameters)
    searches the box ``over``, and the optimum is then re-estimated on fresh paths.

    Parameters
    ----------
    over : mapping
        Key → (low, high); integer parameters are searched over integers.
    maximise, minimise : str
        The objective statistic (exactly one of them), e.g. ``"jobs_additional"``.
    subject_to : mapping, optional
        Statistic → ``"<= value"`` or ``">= value"``, e.g. ``{"fund_loss.es_0.99": "<= 5e6"}``.
    check_paths : int, optional
        Paths of the check on fresh draws (default: the same number).

    Returns
    -------
    Optimum
    """
    from scipy.optimize import NonlinearConstraint, differential_evolution

    if (maximise is None) == (minimise is None):
        raise ValueError("give exactly one of maximise= and minimise=")
    objective = maximise or minimise
    sense = "max" if maximise else "min"
    constraints = {spec: _parse_constraint(spec, text) for spec, text in (subject_to or {}).items()}
    for spec in [objective, *constraints]:
        _parse_spec(spec)
    if not over:
        raise ValueError("over= needs at least one parameter: {key: (low, high)}")
    keys = list(over)
    integer = np.array([isinstance(scenario.value_at(k), int) and not isinstance(scenario.value_at(k), bool)
                        for k in keys])
    bounds = [tuple(float(v) for v in over[k]) for k in keys]
    for key, (lo, hi) in zip(keys, bounds):
        if not hi >= lo:
            raise ValueError(f"over[{key!r}]: high must not be below low")
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    cache: dict[tuple, dict[str, tuple[float, float]]] = {}

    def evaluate(x: np.ndarray) -> dict[str, tuple[float, float]]:
        point = tuple(int(round(v)) if is_int else float(v) for v, is_int in zip(x, integer))
        if point not in cache:
            try:
                result = simulate(_with(scenario, dict(zip(keys, point))), paths=paths, seed=root, chunk_size=chunk_size, client=client)
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
    rng = np.random.default_rng(root.spawn(1)[0])
    found = differential_evolution(cost, bounds, constraints=nonlinear or (), seed=rng, maxiter=maxiter,
                                   popsize=popsize, polish=False, tol=1e-8, integrality=integer, init="sobol")
    best = _best_feasible(cache, keys, objective, sense, constraints) or tuple(
        int(round(v)) if is_int else float(v) for v, is_int in zip(found.x, integer))
    x = dict(zip(keys, best))

    fresh_root = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 1_000_003))
    fresh = simulate(_with(scenario, x), paths=check_paths or paths, seed=fresh_root, chunk_size=chunk_size, client=client)
    rows = []
    for spec in [objective, *constraints]:
        value, se = cache[best][spec]
        check, check_se = statistic(fresh, spec)
        row = {"statistic": spec, "role": sense + "imise" if spec == objective else "constraint",
               "value": value, "se": se, "check": check, "check_se": check_se}
        if spec in constraints:
            op, bound = constraints[spec]
            row.update({"bound": f"{op} {bound:g}", "satisfied": _holds(value, op, bound),
                        "check_satisfied": _holds(check, op, bound)})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("statistic")
    evaluations = pd.DataFrame([{**dict(zip(keys, p)), **{s: v[0] for s, v in r.items()}} for p, r in cache.items()])
    return Optimum(x, table, evaluations, sense)


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

def tornado(
    scenario: Scenario,
    ranges: Mapping[str, tuple[Any, Any]],
    output: str = "jobs_additional",
    *,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """One-at-a-time sensitivity: the output with each parameter at its low and high value.

    All runs share one seed, so each swing is a paired difference with its own error.

    Returns
    -------
    DataFrame
        Index ``parameter``; columns ``low_value``, ``high_value`` (the parameter's values),
        ``low``, ``high`` (the output there), ``base`` (the scenario's output), ``swing``
        (``high - low``), ``swing_se``; sorted by decreasing ``|swing|``.
    """
    _parse_spec(output)
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)

    def run(s: Scenario) -> SimulationResult:
        return simulate(s, paths=paths, seed=root, chunk_size=chunk_size, client=client)

    base = run(scenario)
    base_value, _ = statistic(base, output)
    rows = []
    for key, (low_value, high_value) in ranges.items():
        low, high = run(_with(scenario, {key: low_value})), run(_with(scenario, {key: high_value}))
        table = comparison_table({"low": low, "high": high}, [output], "low")
        swing = table.loc[(output, "high")]
        rows.append({"parameter": key, "low_value": low_value, "high_value": high_value,
                     "low": table.loc[(output, "low"), "value"], "high": swing["value"], "base": base_value,
                     "swing": swing["difference"], "swing_se": swing["difference_se"]})
    frame = pd.DataFrame(rows).set_index("parameter")
    return frame.reindex(frame["swing"].abs().sort_values(ascending=False).index)


def sobol_indices(
    function: Callable[[np.ndarray], np.ndarray],
    bounds: Mapping[str, tuple[float, float]],
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


def sensitivity(
    scenario: Scenario,
    bounds: Mapping[str, tuple[float, float]],
    output: str = "jobs_additional",
    *,
    n: int = 64,
    paths: int | None = None,
    seed: Any = None,
    chunk_size: int | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """Global Sobol' indices of a statistic over uncertain inputs, on common random numbers.

    Runs the model at the ``n (d + 2)`` points of a Saltelli design (``d`` inputs), each on the
    same paths, so the indices measure the inputs' effect rather than Monte Carlo noise.
    """
    _parse_spec(output)
    root = coerce_seed(scenario.simulation.seed if seed is None else seed)
    keys = list(bounds)

    def model(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape[0])
        for i, row in enumerate(x):
            result = simulate(_with(scenario, dict(zip(keys, map(float, row)))), paths=paths, seed=root,
                              chunk_size=chunk_size, client=client)
            out[i] = statistic(result, output)[0]
        return out

    return sobol_indices(model, bounds, n, seed=int(root.generate_state(1)[0]))

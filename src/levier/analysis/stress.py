"""Stress paths: a named bad decade replayed against the baseline on common random numbers.

A ``[[stresses]]`` entry of the scenario fixes some systematic factors in some years (the macro
factor through a 2008–09-like recession, one territory's factor when its main employer closes);
everything else stays random. :func:`stress` runs the baseline and each stress with the same
seed, so path ``i`` of every run sees the same projects, the same idiosyncratic draws and the
same unstressed factor shocks: the paired difference of a statistic is the stress's effect
alone, and its error is that of the paired differences (:func:`levier.analysis.lab.comparison_table`,
the machinery of :func:`levier.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from levier.analysis.lab import Comparison, compare, comparison_table
from levier.engine.run import prepare
from levier.model.scenario import Scenario
from levier.names import parse_statistic

__all__ = ["STRESS_STATISTICS", "model_risk", "stress"]

#: Statistics :func:`stress` reports by default.
STRESS_STATISTICS = ("n_defaults", "fund_loss", "fund_loss.es_0.99", "bank_loss", "fund_net_cost", "jobs_additional",
                  "cost_per_job")


def stress(
    scenario: Scenario,
    names: Sequence[str] | None = None,
    *,
    paths: int | None = None,
    seed: Any = None,
    statistics: Sequence[str] | None = None,
    chunk_size: int | None = None,
    client: Any = None,
) -> Comparison:
    """Compare the baseline with each of the scenario's stresses on common random numbers.

    Parameters
    ----------
    scenario : Scenario
        With one or more ``[[stresses]]``.
    names : sequence of str, optional
        The stresses to run (default: all of them, in file order).
    paths, seed, chunk_size, client :
        As for :func:`levier.simulate`; one seed for every run (fresh entropy if neither it nor
        ``simulation.seed`` is given, recorded in each result's meta).
    statistics : sequence of str, optional
        Statistic specs as for :func:`levier.compare` (default :data:`STRESS_STATISTICS`).

    Returns
    -------
    Comparison
        ``table`` indexed by ``(statistic, variant)``, the variants being the stresses, with the
        paired differences from the baseline, their 95 % intervals and the variance reduction
        that common random numbers bought; ``results`` holds each run.

    Examples
    --------
    >>> import levier
    >>> s = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
    >>> levier.stress(s, ["recession_2008"], paths=2_000, seed=1).table.loc["fund_loss"]  # doctest: +SKIP
    """
    known = [s.name for s in scenario.stresses]
    if not known:
        raise ValueError("the scenario has no [[stresses]]: add one (name, macro = [...], sectors = {...}, "
                         "territories = {...})")
    chosen = list(names) if names else known
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown stress {unknown[0]!r}; the scenario's stresses: {', '.join(known)}")
    specs = list(statistics or STRESS_STATISTICS)
    for spec in specs:
        parse_statistic(spec)
    run = prepare(scenario.without_variants(), paths=paths, seed=seed, chunk_size=chunk_size, client=client)
    results = {"baseline": run.simulate()}
    for name in chosen:  # the same prepared run: same paths, same draws, the stress's factors imposed
        results[name] = run.with_stress(name).simulate()
    described = {s.name: {"stress": s.description or s.name} for s in scenario.stresses if s.name in chosen}
    return Comparison("baseline", comparison_table(results, specs, "baseline"), results, described)


def model_risk(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    degrees_of_freedom: float = 4.0,
    recovery_loading: float = 0.5,
    statistics: Sequence[str] = ("fund_loss.es_0.99", "fund_loss.mean"),
    client: Any = None,
) -> Comparison:
    """How much the fund's tail depends on the shape of a bad decade: the scenario under a
    Gaussian copula, a t copula with ``degrees_of_freedom``, and Gaussian with downturn
    recoveries (every sector's ``recovery_loading`` set to ``recovery_loading``), on common random
    numbers (:func:`levier.compare`, the Gaussian run as baseline).

    The scenario's own variants are left out; the other keys are the scenario's.
    """
    base = scenario.without_variants()
    gaussian = base.with_overrides({"defaults.copula": "gaussian", "defaults.degrees_of_freedom": None,
                                    **{f"sectors.{i}.recovery_loading": 0.0 for i in range(len(base.sectors))}})
    variants: dict[str, dict[str, Any]] = {
        f"t copula, nu = {degrees_of_freedom:g}": {"defaults.copula": "t",
                                                   "defaults.degrees_of_freedom": float(degrees_of_freedom)},
        f"downturn recovery, gamma = {recovery_loading:g}": {
            f"sectors.{i}.recovery_loading": float(recovery_loading) for i in range(len(base.sectors))},
    }
    return compare(gaussian, variants, paths=paths, seed=seed, statistics=list(statistics), baseline="gaussian copula",
                   client=client)

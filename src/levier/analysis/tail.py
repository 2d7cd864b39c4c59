"""The far tail: VaR, ES and exceedance probabilities by importance sampling, with honest intervals.

A fund's bad decade lives at 99.9 %; plain Monte Carlo spends 999 paths in 1 000 away from it.
:func:`tail_risk` and :func:`exceedance_probability` shift the mean of the systematic factor
shocks towards the losses that matter and reweight each path by its likelihood ratio
``exp(-mu . e + |mu|^2 / 2)``. The shift is found by the cross-entropy method on pilot runs: the
weighted mean of the shocks of the pilot paths beyond a loss level raised step by step towards
the target — the minimiser of the Kullback-Leibler distance from the normal family to the
zero-variance sampling law (Rubinstein and Kroese 2004), in the spirit of Glasserman and Li
(2005)'s factor shift. Then, for the losses and the number of defaults, Glasserman and Li's
second step: given the factors, each loan defaults within the horizon with its class's
cumulative conditional probability, independently of the others, so those probabilities are
exponentially twisted path by path until the conditional expected loss reaches the target
(:class:`levier.engine.paths.Twist`). The twist acts only on the paths the factor shift left short of
the target, which is where it pays: in small or weakly correlated portfolios.

Intervals come from sectioning (Asmussen and Glynn 2007, §III.5a): the point estimate from all
paths, its variance from the spread of the same estimator over ``batches`` independent batches,
and a Student t quantile — valid for weighted quantiles, where a plain-sampling formula is not.

References
----------
Glasserman, P. and Li, J. (2005). Importance sampling for portfolio credit risk. Management
Science 51(11), 1643-1656. https://doi.org/10.1287/mnsc.1050.0415
Rubinstein, R. Y. and Kroese, D. P. (2004). The Cross-Entropy Method. Springer.
Asmussen, S. and Glynn, P. W. (2007). Stochastic Simulation. Springer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from levier.engine.plan import plan_work
from levier.engine.paths import Twist, simulate_paths
from levier.engine.resources import default_chunk_size
from levier.engine.run import iterate_chunks
from levier.model.terms import Terms, project_terms
from levier.engine.kernels import waterfall
from levier.model.portfolio import build_portfolio
from levier.names import PATH_COLUMNS
from levier.model.scenario import Scenario
from levier.stats import weighted_tail
from levier.streams import coerce_seed, entropy_of, pilot_root

__all__ = ["ProbabilityEstimate", "TailEstimate", "exceedance_probability", "tail_risk"]

#: Per-path metrics whose tail can be estimated (ratios, which can be missing, are excluded).
TAIL_METRICS = tuple(
    c for c in PATH_COLUMNS if c not in ("cost_per_job", "leverage_bank", "leverage_investment")
)
_METHODS = ("importance", "plain")
#: Metrics whose conditional law given the factors is a sum over loans, which the twist needs.
TWISTABLE = ("fund_loss", "bank_loss", "n_defaults")


@dataclass(frozen=True)
class TailEstimate:
    """VaR and ES of a metric at several levels, with sectioning confidence intervals.

    Attributes
    ----------
    table : DataFrame
        Index ``level``; columns ``var``, ``var_low``, ``var_high``, ``es``, ``es_low``,
        ``es_high`` (95 % intervals).
    shift : ndarray (T, F) or None
        The mean shift of the factor shocks (None for plain sampling).
    """

    metric: str
    method: str
    paths: int
    batches: int
    table: pd.DataFrame
    shift: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def plot(self, ax=None):
        """VaR and ES at each level with their 95 % intervals (matplotlib); returns the axes."""
        from levier.present.plots import tail

        return tail(self, ax)

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda v: f"{v:,.0f}")

    def __repr__(self) -> str:
        rows = "; ".join(
            f"{level:g}: VaR {r['var']:,.4g} [{r['var_low']:,.4g}, {r['var_high']:,.4g}], "
            f"ES {r['es']:,.4g} [{r['es_low']:,.4g}, {r['es_high']:,.4g}]"
            for level, r in self.table.iterrows()
        )
        return f"<TailEstimate {self.metric} ({self.method}, {self.paths:,} paths): {rows}>"


@dataclass(frozen=True)
class ProbabilityEstimate:
    """P(metric > threshold) with its sectioning 95 % confidence interval."""

    metric: str
    threshold: float
    method: str
    paths: int
    batches: int
    probability: float
    low: float
    high: float
    std_error: float
    shift: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<ProbabilityEstimate P({self.metric} > {self.threshold:,.0f}) = {self.probability:.4g} "
            f"[{self.low:.4g}, {self.high:.4g}] ({self.method}, {self.paths:,} paths)>"
        )


def tail_risk(
    scenario: Scenario,
    metric: str = "fund_loss",
    levels: Sequence[float] = (0.99, 0.999),
    *,
    paths: int | None = None,
    seed: Any = None,
    method: str = "importance",
    batches: int = 20,
    pilot_paths: int | None = None,
    chunk_size: int | None = None,
    twist: bool | None = None,
    client: Any = None,
) -> TailEstimate:
    """VaR and ES of ``metric`` at ``levels``, by importance sampling (or plain sampling).

    Parameters
    ----------
    scenario : Scenario
    metric : str
        A per-path metric of :data:`TAIL_METRICS` (default the fund's loss).
    levels : sequence of float
        Confidence levels, e.g. ``(0.99, 0.999)``.
    paths, seed, chunk_size :
        As for :func:`levier.simulate`; the same seed gives the same bytes for any chunk size.
    method : {"importance", "plain"}
    batches : int
        Sections for the confidence intervals (at least 2; 20 by default).
    pilot_paths : int, optional
        Paths of each cross-entropy pilot run (default ``min(paths // 4, 5000)``, at least 1000).
    twist : bool, optional
        Also twist the conditional default probabilities (importance sampling only; default:
        for the metrics of :data:`TWISTABLE`).
    client : distributed.Client, optional
        Run the pilots and the main run on a Dask cluster (the same bytes as locally).

    Returns
    -------
    TailEstimate
    """
    levels = [float(a) for a in levels]
    if not levels or any(not 0 < a < 1 for a in levels):
        raise ValueError("levels must be in (0, 1)")
    run = _Run.prepare(scenario, metric, paths, seed, method, batches, chunk_size, twist, client)
    shift = tilt = None
    if method == "importance":
        shift, target = run.cross_entropy_shift(pilot_paths, level=max(levels), threshold=None)
        tilt = run.twist(target)
    values, weights = run.sample(run.root, run.paths, shift, twist=tilt)
    rows = {}
    for alpha in levels:
        def estimator(x, w, a=alpha):
            return weighted_tail(x, w, a)

        (var, es), ((var_lo, var_hi), (es_lo, es_hi)) = _sectioning(values, weights, estimator, batches)
        rows[alpha] = {"var": var, "var_low": var_lo, "var_high": var_hi, "es": es, "es_low": es_lo, "es_high": es_hi}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "level"
    return TailEstimate(metric, method, run.paths, batches, table, shift, run.meta(shift, tilt))


def exceedance_probability(
    scenario: Scenario,
    metric: str,
    threshold: float,
    *,
    paths: int | None = None,
    seed: Any = None,
    method: str = "importance",
    batches: int = 20,
    pilot_paths: int | None = None,
    chunk_size: int | None = None,
    twist: bool | None = None,
    client: Any = None,
) -> ProbabilityEstimate:
    """P(metric > threshold), by importance sampling (or plain sampling), with its interval.

    Parameters are those of :func:`tail_risk`; the cross-entropy shift and the twist aim at
    ``threshold``.
    """
    run = _Run.prepare(scenario, metric, paths, seed, method, batches, chunk_size, twist, client)
    shift = tilt = None
    if method == "importance":
        shift, _ = run.cross_entropy_shift(pilot_paths, level=None, threshold=float(threshold))
        tilt = run.twist(float(threshold))
    values, weights = run.sample(run.root, run.paths, shift, twist=tilt)

    def estimator(x, w):
        return (float(np.mean(w * (x > threshold))),)

    (p,), ((lo, hi),) = _sectioning(values, weights, estimator, batches)
    half = (hi - lo) / 2
    se = half / stats.t.ppf(0.975, batches - 1)
    return ProbabilityEstimate(metric, float(threshold), method, run.paths, batches, p, max(lo, 0.0), hi, se, shift,
                               run.meta(shift, tilt))


def weighted_range(terms, plan, start, stop, root, chunk, metric, shift, twist, keep_shocks=False):
    """Paths ``start .. stop - 1`` under the shift and twist: the metric, the log likelihood
    ratios and (if asked) the factor shocks. A pure function: the unit of a distributed run."""
    n = stop - start
    values, log_w = np.empty(n), np.zeros(n)
    shocks = np.empty((n, terms.horizon, terms.n_factors)) if keep_shocks else None
    for a, b, draws in iterate_chunks(terms, root, stop, chunk, shift, first=start):
        block = simulate_paths(terms, draws, plan, twist)
        rows = slice(a - start, b - start)
        values[rows] = block.paths[metric]
        if shift is not None:
            log_w[rows] = -(draws.shocks * shift).sum(axis=(1, 2)) + 0.5 * float((shift * shift).sum())
        if block.log_weight is not None:
            log_w[rows] += block.log_weight
        if keep_shocks:
            shocks[rows] = draws.shocks
    return values, log_w, shocks


def _sectioning(values: np.ndarray, weights: np.ndarray, estimator, batches: int):
    """Point estimates from all paths; 95 % intervals from the spread over batches (Student t)."""
    full = estimator(values, weights)
    edges = np.linspace(0, values.size, batches + 1).astype(int)
    per_batch = np.array([estimator(values[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    half = stats.t.ppf(0.975, batches - 1) * per_batch.std(axis=0, ddof=1) / math.sqrt(batches)
    return full, tuple((float(f - h), float(f + h)) for f, h in zip(full, half))


@dataclass
class _Run:
    scenario: Scenario
    terms: Terms
    metric: str
    paths: int
    root: np.random.SeedSequence
    method: str
    chunk: int | None
    twisting: bool
    client: Any = None

    @classmethod
    def prepare(cls, scenario, metric, paths, seed, method, batches, chunk_size, twist=None, client=None) -> _Run:
        if metric not in TAIL_METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of: {', '.join(TAIL_METRICS)}")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if batches < 2:
            raise ValueError("batches must be at least 2")
        n = int(scenario.simulation.paths if paths is None else paths)
        if n < 2 * batches:
            raise ValueError(f"paths must be at least 2 x batches = {2 * batches}")
        from levier.engine.resources import check

        check(scenario, n, chunk_size, "compact")
        root = coerce_seed(scenario.simulation.seed if seed is None else seed)
        terms = project_terms(scenario, build_portfolio(scenario))
        if twist and metric not in TWISTABLE:
            raise ValueError(f"the twist needs a loss made of loans' defaults: one of {', '.join(TWISTABLE)}")
        twisting = method == "importance" and (metric in TWISTABLE if twist is None else bool(twist))
        return cls(scenario, terms, metric, n, root, method, chunk_size, twisting, client)

    @functools.cached_property
    def plan(self):
        return plan_work(self.terms)

    def twist(self, target: float) -> Twist | None:
        """The default twist aiming at ``target`` for this run's metric (None if not twisting)."""
        if not self.twisting or not np.isfinite(target):
            return None
        t = self.terms
        at = np.maximum(t.entry, 1)
        rows = np.arange(t.n_projects)
        fund = t.loan * t.fund_out[rows, at]  # outstanding in the first year of the loan's hazard
        bank = t.bank_loan * t.bank_out[rows, at]
        bank_rec, fund_rec = waterfall(t.recovery_mean * (fund + bank), bank, fund)
        loss = {"fund_loss": fund - fund_rec, "bank_loss": bank - bank_rec, "n_defaults": np.ones(t.n_projects)}
        # a candidate of the pipeline is financed at most with the bank's acceptance probability
        financed = np.where(np.arange(t.n_projects) < t.n_book, 1.0, t.eligible * t.accept_with)
        return Twist(loss=loss[self.metric], target=float(target), financed=financed)

    def sample(self, root, n, shift, keep_shocks=False, twist=None):
        """Run n paths: the metric, the likelihood ratios (1 without a shift or twist) and, if asked, the shocks."""
        chunk = self.chunk or default_chunk_size(self.terms.n_projects, n)
        if self.client is None:
            parts = [weighted_range(self.terms, self.plan, 0, n, root, chunk, self.metric, shift, twist, keep_shocks)]
        else:
            from levier.engine.dask import map_ranges, tuned

            parts = [out for _, _, out in map_ranges(self.client, tuned(weighted_range), [self.terms, self.plan], n, chunk,
                                                     (root, chunk, self.metric, shift, twist, keep_shocks))]
        values = np.concatenate([p[0] for p in parts])
        weights = np.exp(np.concatenate([p[1] for p in parts]))
        if keep_shocks:
            return values, weights, np.concatenate([p[2] for p in parts])
        return values, weights

    def cross_entropy_shift(self, pilot_paths, level, threshold, rho=0.1, iterations=6):
        """Mean shift of the factor shocks by multilevel cross-entropy on pilot runs.

        Returns the shift (T, F) and the last pilot's estimate of the target level.
        """
        n = pilot_paths or max(1_000, min(self.paths // 4, 5_000))
        active = self._active_factors()
        shift = np.zeros((self.terms.horizon, self.terms.n_factors))
        target = threshold if threshold is not None else np.nan
        for it in range(iterations):
            values, weights, shocks = self.sample(pilot_root(self.root, it), n, shift if it else None, keep_shocks=True)
            target = threshold if threshold is not None else weighted_tail(values, weights, level)[0]
            gamma = min(weighted_tail(values, weights, 1 - rho)[0], target)
            selected = values >= gamma
            if not selected.any() or weights[selected].sum() == 0 or gamma <= np.min(values):
                break  # the metric does not respond to the factors (or has no tail): stay plain
            w = weights[selected]
            shift = np.tensordot(w, shocks[selected], axes=1) / w.sum()
            shift[:, ~active] = 0.0
            if gamma >= target:
                break
        return shift, target

    def _active_factors(self) -> np.ndarray:
        """Factors some project loads on: shifting the others only adds variance."""
        t = self.terms
        active = np.zeros(t.n_factors, dtype=bool)
        active[0] = bool(np.any(t.loadings[:, 0] != 0))
        active[1 + t.sector[t.loadings[:, 1] != 0]] = True
        active[1 + t.n_sectors + t.territory[t.loadings[:, 2] != 0]] = True
        return active

    def meta(self, shift, tilt=None) -> dict[str, Any]:
        return {
            "seed_entropy": entropy_of(self.root),
            "scenario_hash": self.scenario.content_hash(),
            "shift_norm": float(np.sqrt((shift * shift).sum())) if shift is not None else 0.0,
            "twist_target": tilt.target if tilt is not None else None,
        }

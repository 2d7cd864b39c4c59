"""The loan rate at which the fund breaks even: its expected net cost is zero.

:func:`breakeven` finds the root of ``rate -> E[fund_net_cost]`` by Brent's method, every
evaluation on the same paths (common random numbers, one :class:`~levier.engine.run.PreparedRun`
re-targeted at each rate), so that the function the root-finder sees is smooth in the rate and
not a new sample at each step. The Monte Carlo error of the root comes by the delta method:
``se(rate*) = se(mean net cost at rate*) / |d E[net cost] / d rate|``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from levier.engine.run import prepare
from levier.model.scenario import Scenario
from levier.progress import Progress, Tracker, as_progress
from levier.stats import Z95, mean_se

__all__ = ["Breakeven", "breakeven"]

#: Rates searched by default: 0 % to 30 % a year.
DEFAULT_BOUNDS = (0.0, 0.3)
_EVALUATIONS = 12  # the bracket's two, Brent's method's 6 to 8 on these smooth functions, the slope's two


@dataclass(frozen=True)
class Breakeven:
    """The result of :func:`breakeven`.

    Attributes
    ----------
    rate : float
        The ``policy.rate`` at which the fund's expected net cost (present value of all its
        flows at ``simulation.discount_rate``) is zero on the run's paths.
    se : float
        Its Monte Carlo standard error (delta method); ``low`` / ``high`` the 95 % interval.
    slope : float
        ``d E[fund_net_cost] / d rate`` at the root (€ per unit of rate: per 100 %).
    evaluations : DataFrame
        Every rate tried, with the mean net cost and its standard error.
    """

    rate: float
    se: float
    low: float
    high: float
    slope: float
    paths: int
    evaluations: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row: ``rate``, ``se``, ``low``, ``high``, ``slope``, ``paths``."""
        return pd.DataFrame([{"rate": self.rate, "se": self.se, "low": self.low, "high": self.high,
                              "slope": self.slope, "paths": self.paths}], index=pd.Index(["breakeven"], name="figure"))

    def __repr__(self) -> str:
        from levier.present.i18n import format_rate

        rate, se, low, high = (format_rate(x, 3) for x in (self.rate, self.se, self.low, self.high))
        return f"<Breakeven rate {rate} ± {se} (95 %: {low} – {high}), {self.paths:,} paths, common random numbers>"

    def _repr_html_(self) -> str:
        from levier.present.display import frame_html
        from levier.present.i18n import format_rate

        return (f"<div><strong>Break-even loan rate: {format_rate(self.rate, 3)} ± {format_rate(self.se, 3)}</strong>"
                f"{frame_html(self.to_frame())}</div>")


def breakeven(
    scenario: Scenario,
    *,
    paths: int | None = None,
    seed: Any = None,
    bounds: tuple[float, float] = DEFAULT_BOUNDS,
    xtol: float = 1e-6,
    chunk_size: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Breakeven:
    """The loan rate at which the fund's expected net cost is zero, with its Monte Carlo error.

    Parameters
    ----------
    scenario : Scenario
        The policy; only ``policy.rate`` is varied (loan-book rows that carry their own
        ``rate`` keep it).
    paths, seed, chunk_size, client, progress :
        As for :func:`levier.simulate`; every rate is run on the same paths.
    bounds : (float, float)
        Rates between which to search (default 0 % – 30 %); the expected net cost must change
        sign between them.
    xtol : float
        Brent's absolute tolerance on the rate (far below the Monte Carlo error by default).

    Returns
    -------
    Breakeven

    Notes
    -----
    On common random numbers each path's net cost moves smoothly with the rate (linearly for
    linear and bullet repayment, whose schedule does not depend on it), so Brent's method
    converges in a few runs. The slope at the root is a central difference over ``±0.1`` point
    on the same paths; the root's error is ``se / |slope|`` (delta method), which holds when
    the error is small beside the curvature's scale — true for any usable number of paths.

    Examples
    --------
    >>> import levier
    >>> s = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
    >>> levier.breakeven(s, paths=2_000, seed=1)  # doctest: +SKIP
    """
    from scipy.optimize import brentq

    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0.0 <= lo < hi < 1.0:
        raise ValueError(f"bounds must satisfy 0 <= low < high < 1, got {bounds}")
    run = prepare(scenario, paths=paths, seed=seed, chunk_size=chunk_size, client=client).keeping_draws()
    cache: dict[float, tuple[float, float]] = {}

    with as_progress(progress, run.paths * _EVALUATIONS) as bar:
        tracker = Tracker(bar, run.paths * _EVALUATIONS)

        def net_cost(rate: float) -> tuple[float, float]:
            if rate not in cache:
                target = scenario.with_overrides({"policy.rate": float(rate)})
                values = run.with_scenario(target).simulate(tracker.run()).paths["fund_net_cost"].to_numpy()
                cache[rate] = (float(values.mean()), mean_se(values))
            return cache[rate]

        f_lo, f_hi = net_cost(lo)[0], net_cost(hi)[0]
        if f_lo == 0.0:
            root = lo
        elif f_hi == 0.0:
            root = hi
        elif np.sign(f_lo) == np.sign(f_hi):
            raise ValueError(
                f"the fund's expected net cost does not change sign between rates {lo:.2%} and {hi:.2%} "
                f"({f_lo:,.0f} € and {f_hi:,.0f} €): no break-even rate there; widen the bounds")
        else:
            root = float(brentq(lambda r: net_cost(r)[0], lo, hi, xtol=xtol))
        step = 1e-3
        a, b = max(0.0, root - step), min(0.999, root + step)
        slope = (net_cost(b)[0] - net_cost(a)[0]) / (b - a)
        se_cost = net_cost(root)[1]
        tracker.finish()
    se = se_cost / abs(slope) if slope != 0 else math.inf
    table = pd.DataFrame([{"rate": r, "fund_net_cost": m, "se": s} for r, (m, s) in sorted(cache.items())])
    return Breakeven(root, se, root - Z95 * se, root + Z95 * se, slope, run.paths, table)

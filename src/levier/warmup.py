"""The engine compiled ahead of its first run: :func:`compile_engine` and ``levier compile``.

The engine's kernels are compiled by numba the first time a process needs them and kept in the
disk cache (:mod:`levier.engine.compiled`); later processes load them in a fraction of a second.
The first ``levier run`` after an install therefore pays for the kernel without the optional
mechanisms (5 to 15 s of one core, as the processor goes), and the first run that uses one of
them, or ``levier tail``, for the full kernel (about as much again). :func:`compile_engine` pays
both at once, at a moment of the user's choosing — in a container image's build, on each node
of a cluster before its workers start, after ``pip install`` — by simulating a small built-in
scenario the way a run, a run with a guarantee and the tail estimator do: every kernel a run can
use is then in the cache.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

__all__ = ["EngineBuild", "compile_engine"]

#: A small scenario whose runs reach every compiled kernel (the kernels' signatures do not depend
#: on a scenario's sizes: its arrays are always of the same kinds).
_TINY = {
    "meta": {"name": "levier compile"},
    "simulation": {"paths": 8, "horizon_years": 3, "seed": 1},
    "fund": {"capital": 5_000_000.0},
    "policy": {"loan_per_job": 10_000.0, "loan_cap": 500_000.0, "max_share_of_investment": 0.3, "rate": 0.02,
               "maturity_years": 3, "grace_years": 1, "max_pd": 0.5},
    "bank": {"threshold": 0.3, "steepness": 0.0, "gearing": 3.0, "rate": 0.05, "maturity_years": 3},
    "defaults": {"macro_loading": 0.3},
    "sectors": [{"name": "a", "annual_pd": 0.1, "loading": 0.2, "recovery_mean": 0.3, "recovery_sd": 0.1}],
    "territories": [{"name": "b"}],
    "pipeline": {"projects_per_year": 4, "years": 1, "investment_median": 800_000.0, "investment_sigma": 0.5,
                 "jobs_per_million": 12.0, "jobs_sigma": 0.2, "equity_ratio_mean": 0.2, "equity_ratio_sd": 0.05,
                 "pd_sigma": 0.4, "sector_mix": {"a": 1.0}, "territory_mix": {"b": 1.0}},
}


@dataclass(frozen=True)
class EngineBuild:
    """What :func:`compile_engine` did.

    Attributes
    ----------
    cache : str or None
        The folder the compiled code is kept in; None when no folder was writable (then it was
        compiled in memory, for this process only, and the next process compiles again).
    compiled : tuple of str
        The kernels compiled now (their names in :mod:`levier.engine.kernel`), the helpers they
        call included; empty when everything was in the cache already.
    loaded : tuple of str
        The kernels found compiled (in the cache, or in this process): the ones Python calls,
        their helpers being part of their cached code.
    seconds : float
        Wall time taken.
    """

    cache: str | None
    compiled: tuple[str, ...]
    loaded: tuple[str, ...]
    seconds: float


def compile_engine() -> EngineBuild:
    """Compile (or load from the cache) every kernel the engine can use, so that no later run
    compiles.

    Returns
    -------
    EngineBuild

    Examples
    --------
    >>> import levier
    >>> build = levier.compile_engine()  # doctest: +SKIP
    >>> build.cache, build.compiled == ()  # doctest: +SKIP
    ('/home/me/.cache/levier-numba/znver3-4be1c2d9a0f7/engine_9f0c…', False)

    On a Dask cluster, each worker compiles or loads once: ``client.run(levier.compile_engine)``
    does it before the first task.
    """
    import numba

    from levier.analysis.tail import tail_risk
    from levier.engine import compiled, kernel
    from levier.errors import LevierWarning
    from levier.engine.run import simulate
    from levier.model.scenario import Scenario

    started = time.perf_counter()
    kernels = {name: d for name, d in vars(kernel).items() if isinstance(d, numba.core.registry.CPUDispatcher)}
    fresh = {name for name, d in kernels.items() if compiled.will_compile(d)}
    compiled.quiet_notice()  # this function says what it does; the run's own notice would repeat it
    scenario = Scenario.from_dict(_TINY, source="<levier compile>")
    simulate(scenario, paths=2, threads=1)  # the kernel without the optional mechanisms
    with warnings.catch_warnings():  # 8 paths say nothing of a tail, and are not meant to
        warnings.simplefilter("ignore", LevierWarning)
        tail_risk(scenario, paths=8, batches=2, levels=(0.9,))  # the full kernel, the twist and its pilot
    used = {name for name, d in kernels.items() if d.signatures}  # helpers inlined into their callers have none
    return EngineBuild(cache=compiled.CACHE, compiled=tuple(sorted(used & fresh)), loaded=tuple(sorted(used - fresh)),
                       seconds=time.perf_counter() - started)

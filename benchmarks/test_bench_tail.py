"""Importance sampling: variance reduction on the 99.9 % tail probability against plain sampling.

    pytest benchmarks/test_bench_tail.py        # ≈ 10 s

One-year, one-factor books of equal loans (PD 1 %), against the exact law of
``levier.analytic.one_factor_defaults_pmf``: the variance per path of the weighted indicator,
with the factor shift alone and with the default twist, compared with Bernoulli(p).
"""

from __future__ import annotations

import numpy as np

import levier
from conftest import TAIL
from levier.analysis.analytic import one_factor_defaults_pmf
from levier.analysis.tail import TailSampler, exceedance_probability

BOOKS = [(1_000, 0.01, 0.2), (1_000, 0.01, 0.02), (100, 0.01, 0.05)]  # loans, PD, asset correlation
PATHS = 8_000


def _book(folder, n, h, rho):
    lines = ["firm_id,sector,territory,investment,equity,jobs_planned,entry_year,annual_pd,loan_amount,bank_amount"]
    lines += [f"F{i},a,t,1000000,200000,10,1,{h},1,0" for i in range(n)]
    (folder / "book.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return levier.Scenario.from_dict({
        "simulation": {"horizon_years": 1, "seed": 3},
        "fund": {"capital": 0.0},
        "policy": {"loan_per_job": 1.0, "loan_cap": 1.0},
        "bank": {"threshold": 0.3, "gearing": 3.0},
        "defaults": {"macro_loading": float(np.sqrt(rho)), "macro_autocorrelation": 0.0},
        "sectors": [{"name": "a", "annual_pd": h, "recovery_mean": 0.0}],
        "territories": [{"name": "t"}],
        "loan_book": {"path": "book.csv"},
    }, base_dir=folder)


def test_variance_reduction_of_the_tail_probability(benchmark, tmp_path):
    def run():
        for n, h, rho in BOOKS:
            folder = tmp_path / f"{n}-{rho}"
            folder.mkdir()
            scenario = _book(folder, n, h, rho)
            cdf = np.cumsum(one_factor_defaults_pmf(n, h, rho))
            k = int(np.searchsorted(cdf, 0.999))
            p = 1 - cdf[k]
            ratios = []
            for twist in (False, True):
                est = exceedance_probability(scenario, "n_defaults", k, paths=PATHS, seed=1, twist=twist)
                run_ = TailSampler.prepare(scenario, "n_defaults", PATHS, 1, "importance", 20, None, twist)
                values, weights = run_.sample(run_.root, PATHS, est.shift, twist=run_.twist(float(k)))
                ratios.append(p * (1 - p) / (weights * (values > k)).var(ddof=1))
            TAIL[f"{n} loans, correlation {rho:g}"] = (p, ratios[0], ratios[1])

    benchmark.pedantic(run, rounds=1, iterations=1)

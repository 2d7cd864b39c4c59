"""The straightforward vectorised numpy engine a competent analyst would write first.

Same default-and-loss model as levier on a loan book: macro, sector and territory factors, AR(1)
across years; one standard normal per loan per year per path for the idiosyncratic part; a loan
defaults the first year its asset value ``beta . Z_t + sqrt(1 - |beta|^2) e_t`` falls below
``Phi^-1(h)``; at default a pool ``R (B_out + P_out)`` (outstanding from the amortisation
schedules) pays the bank first and the fund with the rest: the fund's loss is ``P_out`` less its
share. It is the yardstick of ``test_bench_northstar.py``, not part of
levier.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from levier.model.terms import project_terms
from levier.model.portfolio import build_portfolio


def prepare(scenario):
    terms = project_terms(scenario, build_portfolio(scenario))
    return {
        "threshold": special.ndtri(terms.pd),
        "loadings": terms.loadings,
        "sd": terms.idiosyncratic_sd,
        "sector": terms.sector,
        "territory": terms.territory,
        "n_sectors": terms.n_sectors,
        "autocorrelation": terms.factor_autocorrelation,
        "fund_out": terms.loan[:, None] * terms.fund_out,  # outstanding at the start of each year
        "bank_out": terms.bank_loan[:, None] * terms.bank_out,
        "recovery": terms.recovery_mean,
        "entry": terms.entry,
        "horizon": terms.horizon,
    }


def simulate_losses(ref, paths: int, seed: int, chunk: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m, horizon = ref["threshold"].size, ref["horizon"]
    n_factors = ref["autocorrelation"].size
    a = ref["autocorrelation"]
    losses = np.empty(paths)
    for start in range(0, paths, chunk):
        n = min(chunk, paths - start)
        z = rng.standard_normal((n, n_factors))
        alive = np.ones((n, m), dtype=bool)
        loss = np.zeros(n)
        for t in range(1, horizon + 1):
            if t > 1:
                z = a * z + np.sqrt(1 - a * a) * rng.standard_normal((n, n_factors))
            systematic = (ref["loadings"][:, 0] * z[:, :1]
                          + ref["loadings"][:, 1] * z[:, 1 + ref["sector"]]
                          + ref["loadings"][:, 2] * z[:, 1 + ref["n_sectors"] + ref["territory"]])
            asset = systematic + ref["sd"] * rng.standard_normal((n, m))
            default = alive & (asset < ref["threshold"]) & (ref["entry"] <= t)
            fund, bank = ref["fund_out"][:, t], ref["bank_out"][:, t]
            pool = ref["recovery"] * (fund + bank)
            fund_loss = fund - np.clip(pool - bank, 0.0, fund)
            loss += (default * fund_loss).sum(axis=1)
            alive &= ~default
        losses[start:start + n] = loss
    return losses

"""A brute-force, scalar implementation of the model, path by path and project by project.

It reads MODEL.md's mechanics literally, with Python floats and loops, and shares nothing with
the engine but the static terms and the random draws it is handed. Comparing the two on the same
draws checks the engine's vectorisation, indexing and bookkeeping exactly.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from levier.engine.kernels import recovery_rate


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _bank_uniform(draws, p: int, i: int) -> float:
    return int(draws.u_bank[p, i]) / 2.0**32


def _ramp(terms, i: int, t: int) -> float:
    return float(terms.ramp[i, t])


def reference_path(terms, draws, p: int) -> dict[str, float]:
    T, m = terms.horizon, terms.n_projects
    S = terms.n_sectors
    # factors: AR(1) in plain loops
    F = terms.n_factors
    z = [[0.0] * F for _ in range(T)]
    for f in range(F):
        a = float(terms.factor_autocorrelation[f])
        for t in range(T):
            e = float(draws.shocks[p, t, f])
            z[t][f] = e if t == 0 else a * z[t - 1][f] + math.sqrt(1 - a * a) * e

    # default years
    tau = [T + 1] * m
    u_recovery = [0.0] * m
    for i in range(m):
        h = float(terms.pd[i])
        c = special.ndtri(h) if h > 0 else -math.inf
        b = terms.loadings[i]
        sd = math.sqrt(1 - sum(x * x for x in b))
        log_s = 0.0
        u = float(draws.u_default[p, i])
        threshold = math.log1p(-u)
        for t in range(1, T + 1):
            if terms.entry[i] > t:
                continue
            zt = z[t - 1]
            systematic = b[0] * zt[0] + b[1] * zt[1 + terms.sector[i]] + b[2] * zt[1 + S + terms.territory[i]]
            pc = 0.0 if c == -math.inf else _phi((c - systematic) / sd)
            before = -math.expm1(log_s)  # cumulative default probability at the start of the year
            log_s += math.log1p(-pc) if pc < 1 else -math.inf
            if log_s < threshold:
                tau[i] = t
                # the recovery uniform: where u falls within this year's slice of the cdf
                u_recovery[i] = (u - before) / (-math.expm1(log_s) - before)
                break

    cost = [float(terms.loan[i] + terms.subsidy[i]) for i in range(m)]
    financed = [i < terms.n_book for i in range(m)]
    available = terms.capital
    used_s = [0.0] * S
    used_k = [0.0] * terms.n_territories
    realisation = [
        float(terms.realisation_mean[i])
        * math.exp(float(terms.realisation_sigma[i]) * float(draws.z_jobs[p, i]) - 0.5 * float(terms.realisation_sigma[i]) ** 2)
        for i in range(m)
    ]
    out = dict.fromkeys(
        ["fund_loss", "bank_loss", "fund_net_cost", "job_years", "clawbacks", "fund_interest", "operating_costs",
         "fund_recoveries", "bank_recoveries", "fund_principal", "jobs_at_check", "guarantor_loss", "guarantor_fees",
         "fund_variable_interest", "bank_interest"], 0.0)
    years = {name: [0.0] * T for name in ("jobs", "defaults", "fund_outstanding", "bank_outstanding", "live_files",
                                          "new_loans", "fund_cash_flow", "guarantor_loss", "guarantor_fees",
                                          "fund_variable_interest", "bank_interest")}
    g = terms.guarantee_share
    covered = [False] * m  # the guarantor's commitment to a financed file
    committed = 0.0
    # the participative loan's profit-linked part, with the job realisation as the performance
    performance = [min(max(r - 1.0, 0.0) / (terms.variable_cap - 1.0), 1.0) for r in realisation]
    kept = [0.0] * m
    jobs_end = [0.0] * m
    d = 1.0 + terms.discount_rate
    pv = sum(float(terms.loan[i] * terms.fund_out[i, 1]) for i in range(m) if terms.entry[i] < 1)
    for t in range(1, T + 1):
        # financing decisions, first come first served within the year
        # the guarantor's envelope, first come first served: a file the bank accepts with the
        # guarantee asks for it; once the year's asks exceed what is left, later files go without
        asked = committed
        asking = [False] * m
        for i in range(terms.n_book, m):
            if terms.entry[i] == t and terms.eligible[i] and g > 0 and _bank_uniform(draws, p, i) < terms.accept_with[i]:
                asked += float(terms.guaranteed[i])
                asking[i] = asked <= terms.guarantee_envelope + 1e-9 * max(terms.capital, 1)
        cands = []
        for i in range(terms.n_book, m):
            if terms.entry[i] != t or not terms.eligible[i]:
                continue
            accept = terms.accept_with[i] if (g == 0 or asking[i]) else terms.accept_unguaranteed[i]
            if _bank_uniform(draws, p, i) < accept:
                cands.append(i)
        run_s = [0.0] * S
        pass_s = []
        for i in cands:
            run_s[terms.sector[i]] += cost[i]
            if used_s[terms.sector[i]] + run_s[terms.sector[i]] <= terms.sector_limit + 1e-9 * max(terms.capital, 1):
                pass_s.append(i)
        run_k = [0.0] * terms.n_territories
        pass_k = []
        for i in pass_s:
            run_k[terms.territory[i]] += cost[i]
            if used_k[terms.territory[i]] + run_k[terms.territory[i]] <= terms.territory_limit + 1e-9 * max(terms.capital, 1):
                pass_k.append(i)
        running = 0.0
        for i in pass_k:
            running += cost[i]
            if running <= available + 1e-9 * max(terms.capital, 1):
                financed[i] = True
                covered[i] = asking[i]
                if covered[i]:
                    committed += float(terms.guaranteed[i])
        disbursed = 0.0
        for i in range(m):
            if financed[i] and terms.entry[i] == t:
                years["new_loans"][t - 1] += 1
                disbursed += cost[i]
                available -= cost[i]
                used_s[terms.sector[i]] += cost[i]
                used_k[terms.territory[i]] += cost[i]
        inflow = operating = returned = 0.0
        for i in range(m):
            if not financed[i] or terms.entry[i] > t or tau[i] < t:
                continue
            f0 = float(terms.loan[i] * terms.fund_out[i, t])
            f1 = float(terms.loan[i] * terms.fund_out[i, t + 1])
            b0 = float(terms.bank_loan[i] * terms.bank_out[i, t])
            if f0 > 0:
                operating += terms.operating_cost
                years["live_files"][t - 1] += 1
            if tau[i] == t:
                years["defaults"][t - 1] += 1
                u = u_recovery[i]
                # the tabulated Beta quantile (checked against betaincinv in test_kernels.py)
                rate = float(recovery_rate(np.array([u]), np.array([terms.sector[i]]), terms.recovery_table)[0])
                pool = rate * (f0 + b0)
                bank_rec = min(pool, b0)
                fund_rec = min(pool - bank_rec, f0)
                out["fund_loss"] += f0 - fund_rec
                bank_loss = b0 - bank_rec
                guarantor = min(g * bank_loss, terms.guarantee_cap) if covered[i] else 0.0
                out["bank_loss"] += bank_loss - guarantor
                out["guarantor_loss"] += guarantor
                years["guarantor_loss"][t - 1] += guarantor
                out["fund_recoveries"] += fund_rec
                out["bank_recoveries"] += bank_rec
                inflow += fund_rec
                returned += fund_rec
                kept[i] = terms.takeover * terms.jobs[i] * realisation[i] * _ramp(terms, i, t)
            else:
                interest = float(terms.fund_rate[i]) * f0
                # the bank's interest on its loan outstanding at the start of the year, as the fund's
                out["bank_interest"] += float(terms.bank_rate) * b0
                years["bank_interest"][t - 1] += float(terms.bank_rate) * b0
                out["fund_interest"] += interest
                variable = terms.variable_rate * f0 * performance[i]
                out["fund_variable_interest"] += variable
                years["fund_variable_interest"][t - 1] += variable
                if covered[i]:
                    fee = terms.guarantee_fee_rate * g * b0
                    out["guarantor_fees"] += fee
                    years["guarantor_fees"][t - 1] += fee
                inflow += interest + variable + (f0 - f1)
                out["fund_principal"] += f0 - f1
                returned += f0 - f1
                if terms.check_year[i] == t and terms.subsidy[i] > 0:
                    achieved = realisation[i] * _ramp(terms, i, t)
                    short = (1.0 if achieved < 1 else 0.0) if terms.clawback_full else min(1.0, max(0.0, 1 - achieved))
                    if achieved >= terms.clawback_tolerance:
                        short = 0.0
                    claw = short * float(terms.subsidy[i]) * terms.clawback_collected
                    out["clawbacks"] += claw
                    inflow += claw
                    returned += claw
        for i in range(m):
            if financed[i] and terms.entry[i] <= t:
                alive = tau[i] > t
                jobs_end[i] = (terms.jobs[i] * realisation[i] * _ramp(terms, i, t) if alive else 0.0) + kept[i]
                out["job_years"] += jobs_end[i]
                years["jobs"][t - 1] += jobs_end[i]
                if t == min(max(int(terms.check_year[i]), 1), T):
                    out["jobs_at_check"] += jobs_end[i]
                if alive:
                    years["fund_outstanding"][t - 1] += float(terms.loan[i] * terms.fund_out[i, t + 1])
                    years["bank_outstanding"][t - 1] += float(terms.bank_loan[i] * terms.bank_out[i, t + 1])
        out["operating_costs"] += operating
        pv += disbursed * d ** -(t - 1) - (inflow - operating) * d**-t
        years["fund_cash_flow"][t - 1] = inflow - operating - disbursed
        if terms.recycle:
            available += returned
    outstanding_end = sum(
        float(terms.loan[i] * terms.fund_out[i, T + 1]) for i in range(m) if financed[i] and tau[i] > T and terms.entry[i] <= T
    )
    pv -= outstanding_end * d**-T
    out["fund_net_cost"] = pv
    # without the fund the same firm would have had the guarantee if the envelope covered it
    accept_without = [terms.accept_without[i] if (g == 0 or covered[i]) else terms.accept_without_unguaranteed[i]
                      for i in range(m)]
    additional = [
        financed[i] and not (terms.closes_without[i] and _bank_uniform(draws, p, i) < accept_without[i]) for i in range(m)
    ]
    # lent within the horizon: a loan-book loan granted before year 1 bears flows, not lending
    out["fund_lent"] = sum(float(terms.loan[i]) for i in range(m) if financed[i] and terms.entry[i] >= 1)
    out["bank_lent"] = sum(float(terms.bank_loan[i]) for i in range(m) if financed[i] and terms.entry[i] >= 1)
    out["n_financed"] = float(sum(financed))
    out["n_additional"] = float(sum(additional))
    out["n_defaults"] = float(sum(1 for i in range(m) if financed[i] and tau[i] <= T))
    out["jobs_created"] = sum(jobs_end)
    out["jobs_additional"] = sum(j for j, a in zip(jobs_end, additional) if a)
    out["jobs_net"] = sum(j * float(terms.net_share[i]) for i, (j, a) in enumerate(zip(jobs_end, additional)) if a)
    out["jobs_planned"] = sum(float(terms.jobs[i]) for i in range(m) if financed[i])
    out["investment"] = sum(float(terms.investment[i]) for i in range(m) if financed[i] and terms.entry[i] >= 1)
    out["years"] = years
    out["subsidies"] = sum(float(terms.subsidy[i]) for i in range(m) if financed[i])
    return out

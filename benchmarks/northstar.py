"""The north-star portfolio of the benchmarks: a loan book of 10 000 loans over 20 sectors and
6 territories, rated on a 7-grade PD scale, 10-year horizon, macro + sector + territory factors
with autocorrelation. Built deterministically, written as a loan book next to a scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import levier

N_LOANS, N_SECTORS, N_TERRITORIES, HORIZON = 10_000, 20, 6, 10
RATING_PDS = np.array([0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12])


def build(folder: Path, n_loans: int = N_LOANS, n_sectors: int = N_SECTORS,
          n_territories: int = N_TERRITORIES) -> levier.Scenario:
    """Write the loan book into ``folder`` and return the scenario that reads it."""
    rng = np.random.default_rng(20_251_126)
    sectors = [f"s{k:02d}" for k in range(n_sectors)]
    territories = [f"t{k}" for k in range(n_territories)]
    investment = np.round(1e6 * np.exp(0.7 * rng.standard_normal(n_loans)), -3)
    lines = ["firm_id,sector,territory,investment,equity,jobs_planned,entry_year,annual_pd,loan_amount,bank_amount"]
    sec = rng.integers(0, n_sectors, n_loans)
    ter = rng.integers(0, n_territories, n_loans)
    pd_ = RATING_PDS[rng.integers(0, RATING_PDS.size, n_loans)]
    entry = rng.integers(-4, 2, n_loans)  # a book of loans granted over the last five years
    for i in range(n_loans):
        inv = investment[i]
        lines.append(f"L{i:05d},{sectors[sec[i]]},{territories[ter[i]]},{inv:.0f},{0.2 * inv:.0f},"
                     f"{max(1, round(11 * inv / 1e6))},{entry[i]},{pd_[i]},{0.15 * inv:.0f},{0.55 * inv:.0f}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "book.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = {
        "meta": {"name": "north star: 10 000-loan book"},
        "simulation": {"paths": 10_000, "horizon_years": HORIZON, "seed": 1},
        "fund": {"capital": 0.0, "operating_cost_per_file": 5_000.0},
        "policy": {"loan_per_job": 10_000.0, "loan_cap": 1e6, "rate": 0.025, "maturity_years": 7, "grace_years": 2},
        "bank": {"threshold": 0.3, "gearing": 3.0, "rate": 0.045, "maturity_years": 7},
        "defaults": {"macro_loading": 0.3, "macro_autocorrelation": 0.5, "sector_autocorrelation": 0.3,
                     "territory_autocorrelation": 0.3},
        "sectors": [{"name": s, "annual_pd": 0.03, "loading": 0.25, "recovery_mean": 0.3, "recovery_sd": 0.0,
                     "job_realisation_mean": 0.85, "job_realisation_sd": 0.15} for s in sectors],
        "territories": [{"name": t, "loading": 0.15} for t in territories],
        "loan_book": {"path": "book.csv"},
    }
    return levier.Scenario.from_dict(data, source=str(folder / "northstar"), base_dir=folder)

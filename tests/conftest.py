"""Shared helpers: small scenarios built from dicts, loan books written to temporary files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import levier

ROOT = Path(__file__).resolve().parents[1]
#: Cases tried by the property and fuzz suites, printed at the end of the run.
CASES: dict[str, int] = {}
SHIPPED = ROOT / "scenarios" / "moselle_est.toml"


def base_dict(**tables) -> dict:
    """A small valid scenario as a dict; keyword arguments replace or extend whole tables."""
    data = {
        "meta": {"name": "test"},
        "simulation": {"paths": 200, "horizon_years": 5, "seed": 7, "discount_rate": 0.03},
        "fund": {"capital": 5_000_000.0, "operating_cost_per_file": 1_000.0, "recycle": False},
        "policy": {
            "loan_per_job": 10_000.0, "loan_cap": 500_000.0, "max_share_of_investment": 0.3,
            "rate": 0.02, "maturity_years": 5, "grace_years": 1, "max_pd": 0.2,
        },
        "bank": {"threshold": 0.3, "steepness": 0.0, "gearing": 3.0, "rate": 0.05, "maturity_years": 5},
        "defaults": {"macro_loading": 0.3, "macro_autocorrelation": 0.4},
        "sectors": [
            {"name": "plasturgie", "annual_pd": 0.05, "loading": 0.2, "recovery_mean": 0.3,
             "recovery_sd": 0.1, "job_realisation_mean": 0.9, "job_realisation_sd": 0.1,
             "job_ramp": [0.5, 1.0], "deadweight": 0.2},
            {"name": "automobile", "annual_pd": 0.08, "loading": 0.3, "recovery_mean": 0.2,
             "recovery_sd": 0.1, "job_ramp": [1.0]},
        ],
        "territories": [{"name": "Forbach", "loading": 0.1, "pd_multiplier": 1.1}, {"name": "Alès"}],
        "pipeline": {
            "projects_per_year": 8, "years": 2, "investment_median": 800_000.0, "investment_sigma": 0.5,
            "jobs_per_million": 12.0, "jobs_sigma": 0.2, "equity_ratio_mean": 0.2, "equity_ratio_sd": 0.05,
            "pd_sigma": 0.4,
            "sector_mix": {"plasturgie": 0.5, "automobile": 0.5},
            "territory_mix": {"Forbach": 0.6, "Alès": 0.4},
        },
    }
    for key, value in tables.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return copy.deepcopy(data)


#: Marks a key to delete in :func:`set_at`.
DELETE = object()


def set_at(data, path, value):
    """Set (or, with :data:`DELETE`, remove) the item at ``path`` (keys and list indices) of a
    nested dict; returns ``data``."""
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def make_scenario(base_dir: Path | None = None, **tables) -> levier.Scenario:
    return levier.Scenario.from_dict(base_dict(**tables), source="<test>", base_dir=base_dir)


def write_book(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def book_row(i: int, **overrides) -> dict:
    row = {"firm_id": f"F{i}", "sector": "plasturgie", "territory": "Forbach", "investment": 1_000_000,
           "equity": 200_000, "jobs_planned": 10, "entry_year": 1}
    row.update(overrides)
    return row


@pytest.fixture(scope="session")
def moselle() -> levier.Scenario:
    return levier.load_scenario(SHIPPED)


def pytest_terminal_summary(terminalreporter):
    if CASES:
        terminalreporter.write_line("")
        terminalreporter.write_line("inputs tried by the property and fuzz suites:")
        for name, count in sorted(CASES.items()):
            terminalreporter.write_line(f"  {name:<44} {count:6,d}")

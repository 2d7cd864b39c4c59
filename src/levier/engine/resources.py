"""Resource guards: a run whose memory or time is beyond reason is refused before it starts.

:func:`estimate` bounds what a run will need from the scenario alone (before the pipeline is
drawn or the loan book read in full): the projects' tables, one block of random draws, the
working arrays of a chunk and the kept per-path outputs; and its time from a conservative
engine rate. :func:`check` refuses, with the estimate and how to proceed, a run that needs more
than 80 % of the memory available now, or more than an hour (``--no-resource-check`` for longer runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from levier.names import PATH_COLUMNS, YEAR_COLUMNS
from levier.errors import InputError, Problem
from levier.streams import BLOCK_PATHS, whole_blocks
from levier.model.scenario import Scenario

__all__ = ["CHUNK_ELEMENTS", "Estimate", "ResourceError", "available_memory", "check", "default_chunk_size", "estimate"]

#: Loan-path-years per second assumed for the time estimate (a slow machine's figure: the
#: benchmarks measure 100+ M on the north star; small portfolios run slower per loan).
RATE = 10e6
#: Seconds per project to draw, tabulate and plan the portfolio (measured: about 15 µs).
SETUP = 40e-6
MAX_SECONDS = 3600.0
MEMORY_SHARE = 0.8


# Elements of one (paths × projects) array that a chunk aims at: about 10 such arrays are alive
# at once (~40 MB). Measured on the north star and on Moselle-Est: smaller chunks pay numpy's
# per-call overhead, larger ones fall out of the caches and are up to 2× slower.
CHUNK_ELEMENTS = 1 << 19

def default_chunk_size(n_projects: int, paths: int) -> int:
    """Paths per chunk: about ``2**19`` path-projects per array (whole blocks when that is
    more than a block), at most ``paths``."""
    per_chunk = max(1, CHUNK_ELEMENTS // max(n_projects, 1))
    if per_chunk >= BLOCK_PATHS:
        per_chunk = per_chunk // BLOCK_PATHS * BLOCK_PATHS
    return int(min(per_chunk, max(paths, 1)))


class ResourceError(InputError):
    """A run refused up front: its estimated memory or time is beyond reason."""


@dataclass(frozen=True)
class Estimate:
    """What a run is expected to need."""

    projects: int
    memory_bytes: float
    seconds: float
    parts: dict[str, float]  # memory by component, bytes

    def describe(self) -> str:
        parts = ", ".join(f"{k} {_size(v)}" for k, v in self.parts.items() if v >= 1e6)
        return f"about {_size(self.memory_bytes)} of memory ({parts}) and {_duration(self.seconds)}"


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} hours"
    if seconds >= 60:
        return f"{seconds / 60:,.0f} minutes"
    return f"{seconds:,.0f} s"


def _book_rows(scenario: Scenario) -> int:
    path = scenario.loan_book_path
    if path is None or not Path(path).is_file():
        return 0
    if Path(path).suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # an unreadable file is the loan-book reader's to report
            return 0
    count = 0
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                count += chunk.count(b"\n")
    except OSError:  # unreadable: the loan-book reader says so, naming the file
        return 0
    return count


def estimate(scenario: Scenario, paths: int, chunk_size: int | None = None, keep: str = "all",
             threads: int = 1) -> Estimate:
    """Memory and time a run of ``paths`` paths should need (an upper estimate); with ``threads``,
    a block's draws and a chunk's arrays are held by each range in flight (``threads + 1``)."""

    pipeline = scenario.pipeline
    m = _book_rows(scenario) + (pipeline.projects_per_year * pipeline.years if pipeline else 0)
    m = max(m, 1)
    horizon = scenario.simulation.horizon_years
    groups = len(scenario.sectors) + len(scenario.territories)
    chunk = chunk_size or max(1, CHUNK_ELEMENTS // m)
    chunk = min(chunk, paths)
    ranges = -(-paths // whole_blocks(chunk))
    in_flight = 1 if threads <= 1 or ranges <= 1 else min(threads, ranges) + 1
    parts = {
        "project tables": m * (8.0 * 3 * (horizon + 2) * 3 + 8.0 * 40),
        "random draws of a block": in_flight * (float(BLOCK_PATHS) * m * (4 + 8 + 4) + chunk * m * 16.0),
        "working arrays": in_flight * 14.0 * 8 * chunk * m,
        "per-path outputs": paths * (8.0 * len(PATH_COLUMNS) + 4.0 * len(YEAR_COLUMNS) * horizon
                                     + (48.0 if keep == "all" else 8.0) * groups) * 2,
    }
    memory = sum(parts.values()) + 150e6  # the interpreter and its libraries
    seconds = paths * m * horizon / RATE + SETUP * m
    return Estimate(m, memory, seconds, parts)


def available_memory() -> float | None:
    """Bytes of memory available now (Linux ``MemAvailable``), or None if unknown."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:  # not Linux: unknown, and the memory guard stands aside
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return float(line.split()[1]) * 1024
    return None


def check(scenario: Scenario, paths: int, chunk_size: int | None = None, keep: str = "all",
          available: float | None = None, threads: int = 1) -> Estimate:
    """Refuse a run beyond reason, saying what it would need and how to proceed.

    Raises
    ------
    ResourceError
        If the estimated memory exceeds 80 % of ``available`` (default: what the machine has
        available now) or the estimated time exceeds a day.
    """
    est = estimate(scenario, paths, chunk_size, keep, threads)
    available = available_memory() if available is None else available
    problems = []
    # each remedy as the command line and Python name it; only the ones that help
    anyway = "--no-resource-check (check_resources=False) runs it anyway"
    if available is not None and est.memory_bytes > MEMORY_SHARE * available:
        if est.parts["per-path outputs"] < 0.5 * est.memory_bytes:  # the projects, not the paths, are too many
            advice = (f"fewer projects ({est.projects:,} now: pipeline.projects_per_year, pipeline.years, the loan "
                      f"book){', fewer --threads (threads=)' if threads > 1 else ''} or a machine with more memory")
        else:  # what is kept of every path is gathered in this process, on a cluster too
            compact = "" if keep == "compact" else ", --keep compact (keep='compact')"
            advice = f"fewer paths (--paths, paths=){compact} or a machine with more memory"
        problems.append(Problem("", f"this run would need {est.describe()}, but {_size(available)} is available: "
                                    f"use {advice}; {anyway}"))
    elif est.seconds > MAX_SECONDS or not math.isfinite(est.seconds):
        problems.append(Problem("", f"this run would take {_duration(est.seconds)} ({est.projects:,} projects × "
                                    f"{paths:,} paths × {scenario.simulation.horizon_years} years): use fewer paths "
                                    f"(--paths, paths=) or a Dask cluster (--dask, client=); {anyway}"))
    if problems:
        raise ResourceError(scenario.source, problems)
    return est

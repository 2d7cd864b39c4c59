"""Memory: peak resident memory of a run is set by the chunk, not by the number of paths.

    pytest benchmarks/test_bench_memory.py -s                      # 1 000 000 paths (≈ 3 min)
    LEVIER_BENCH_MEMORY_PATHS=200000 pytest benchmarks/test_bench_memory.py -s

Each run is a fresh process (its peak RSS is its own): a 1 000-loan book over 8 sectors and 4
territories, 10 years, simulated with ``keep="compact"`` and ``keep="all"``, then summarised.
Issue 4 asks for 1 000 000 paths × 1 000 loans × 10 years within 1.5 GB. The run with a tenth of
the paths shows what does not grow with them (the working memory of a chunk). Each run also
reports what its result keeps (its per-path, per-year and per-group arrays that hold a non-zero
value: a column that stays 0 is never written and takes no memory; MiB, as the peak) and the peak
beyond it, which is the part the number of paths must not move.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MEMORY

PATHS = int(os.environ.get("LEVIER_BENCH_MEMORY_PATHS", "1000000"))
LIMIT_MB = 1536

_SCRIPT = """
import resource, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
import levier, northstar
scenario = northstar.build(Path(sys.argv[1]), n_loans=1000, n_sectors=8, n_territories=4)
started = time.perf_counter()
result = levier.simulate(scenario, paths=int(sys.argv[2]), seed=1, keep=sys.argv[3])
result.summary(); result.by_year(); result.by_sector()
elapsed = time.perf_counter() - started
arrays = [a for part in (result._paths, result._years, result._sectors, result._territories) for a in part.values()]
kept = sum(a.nbytes for a in arrays if a.any()) / 2**20
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, elapsed, kept)
"""


def _peak_mb(folder: Path, paths: int, keep: str) -> tuple[float, float, float]:
    script = _SCRIPT.format(bench=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", script, str(folder), str(paths), keep], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


@pytest.mark.parametrize("keep", ["compact", "all"])
def test_peak_memory_of_a_million_paths(benchmark, tmp_path, keep):
    small, _, small_kept = _peak_mb(tmp_path, PATHS // 10, keep)
    peak = {}

    def run():
        peak["mb"], peak["s"], peak["kept"] = _peak_mb(tmp_path, PATHS, keep)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(peak_mb=peak["mb"], peak_mb_tenth=small, kept_mb=peak["kept"], paths=PATHS)
    MEMORY[f"peak RSS, {PATHS:,} paths, keep={keep} ({peak['s']:.0f} s)"] = peak["mb"]
    MEMORY[f"  of which the result's arrays, {PATHS:,} paths, keep={keep}"] = peak["kept"]
    MEMORY[f"  beyond them, {PATHS:,} paths, keep={keep}"] = peak["mb"] - peak["kept"]
    MEMORY[f"peak RSS, {PATHS // 10:,} paths, keep={keep}"] = small
    MEMORY[f"  beyond the result's arrays, {PATHS // 10:,} paths, keep={keep}"] = small - small_kept
    if keep == "compact":
        assert peak["mb"] <= LIMIT_MB, peak

"""Dask: speed-up with 2 worker processes on this 2-core machine, and the cluster's overhead.

    pytest benchmarks/test_bench_dask.py          # ≈ 2 min

Moselle-Est, 400 000 paths (a local run of more than 30 s), locally and on a LocalCluster of 2
single-threaded worker processes started beforehand (its start-up is reported apart); then a
small run (2 000 paths) both ways for the overhead. The results are byte-identical.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import levier
from conftest import DASK

distributed = pytest.importorskip("distributed")

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "moselle_est.toml"
BIG, SMALL = 400_000, 2_000


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def test_speed_up_with_two_workers(benchmark):
    scenario = levier.load_scenario(SCENARIO)
    times = {}

    def run():
        local, times["local"] = _timed(lambda: levier.simulate(scenario, paths=BIG, seed=1))
        (cluster, client), times["start-up"] = _timed(lambda: _start())
        try:
            remote, times["dask"] = _timed(lambda: levier.simulate(scenario, paths=BIG, seed=1, client=client))
            _, times["small local"] = _timed(lambda: levier.simulate(scenario, paths=SMALL, seed=1))
            _, times["small dask"] = _timed(lambda: levier.simulate(scenario, paths=SMALL, seed=1, client=client))
        finally:
            client.close()
            cluster.close()
        assert local.paths.to_numpy().tobytes() == remote.paths.to_numpy().tobytes()

    benchmark.pedantic(run, rounds=1, iterations=1)
    DASK.update(times)
    DASK["speed-up"] = times["local"] / times["dask"]
    benchmark.extra_info.update(DASK)


def _start():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    client.wait_for_workers(2)
    return cluster, client

"""The same run on a real Dask cluster (processes): identical bytes, a killed worker survived."""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest

import levier
from levier.errors import InputError

from conftest import make_scenario

distributed = pytest.importorskip("distributed")

from levier.engine.dask import WorkerLostWarning, connect  # noqa: E402


@pytest.fixture(scope="module")
def scenario():
    return make_scenario(fund={"capital": 900_000.0, "recycle": True}, pipeline={"projects_per_year": 12, "years": 3})


def _cluster(workers):
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=50)
    return cluster, distributed.Client(cluster)


def _same(a, b):
    assert a.paths.to_numpy().tobytes() == b.paths.to_numpy().tobytes()
    for x, y in zip([a.by_year(), a.by_sector(), a.by_territory(), a.summary()],
                    [b.by_year(), b.by_sector(), b.by_territory(), b.summary()]):
        pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_one_and_two_workers_give_the_local_bytes(scenario):
    local = levier.simulate(scenario, paths=1_500, seed=21)
    for workers in (1, 2):
        cluster, client = _cluster(workers)
        try:
            # small chunks: many tasks, finishing in any order
            on_cluster = levier.simulate(scenario, paths=1_500, seed=21, chunk_size=100, client=client)
            assert on_cluster.meta["dask_workers"] == workers
            _same(local, on_cluster)
            if workers == 2:
                comparison = levier.compare(scenario, {"g": {"policy.loan_per_job": 12_000}}, paths=400, seed=2,
                                            client=client)
                local_comparison = levier.compare(scenario, {"g": {"policy.loan_per_job": 12_000}}, paths=400, seed=2)
                pd.testing.assert_frame_equal(comparison.table, local_comparison.table, check_exact=True)
                _every_lab_function_gives_the_local_bytes(scenario, client)
                # the fund's watch (its own streams) under a t copula: the cluster's bytes too
                watched = make_scenario(fund={"capital": 900_000.0, "recycle": True},
                                        defaults={"copula": "t", "degrees_of_freedom": 5.0},
                                        vigilance={"detection_rate": 0.5, "cure_rate": 0.5, "false_alarm_rate": 0.05,
                                                   "cost_per_case": 100.0, "extension_years": 2})
                local_watched = levier.simulate(watched, paths=600, seed=5)
                assert local_watched.paths["n_watched"].sum() > 0 and local_watched.paths["n_cured"].sum() > 0
                _same(local_watched, levier.simulate(watched, paths=600, seed=5, chunk_size=100, client=client))
        finally:
            client.close()
            cluster.close()


def _every_lab_function_gives_the_local_bytes(scenario, client):
    bounds = {"policy.loan_per_job": (6_000, 14_000), "bank.threshold": (0.2, 0.4)}
    calls = {
        "sweep": lambda **kw: levier.sweep(scenario, design="sobol", n=4, bounds=bounds, paths=200, seed=3, **kw),
        "optimise": lambda **kw: levier.optimise(scenario, bounds, maximise="jobs_additional", paths=200, seed=3,
                                                 maxiter=1, popsize=2, **kw),
        "tornado": lambda **kw: levier.lab.tornado(scenario, bounds, "fund_loss", paths=200, seed=3, **kw),
        "sensitivity": lambda **kw: levier.lab.sensitivity(scenario, bounds, "jobs_additional", n=2, paths=200,
                                                           seed=3, **kw),
        "tail_risk": lambda **kw: levier.tail_risk(scenario, "fund_loss", (0.9,), paths=400, pilot_paths=200,
                                                   batches=4, seed=3, **kw),
    }
    for name, call in calls.items():
        local, remote = call(), call(client=client)
        pd.testing.assert_frame_equal(local.to_frame(), remote.to_frame(), check_exact=True, obj=name)


def test_a_worker_killed_mid_run_changes_nothing_but_is_reported(scenario):
    local = levier.simulate(scenario, paths=3_000, seed=5)
    cluster, client = _cluster(2)
    try:
        pids = client.run(os.getpid)
        killed = []

        def kill_one(done, total):
            if not killed:  # after the first range is back, kill a worker by its pid
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        with pytest.warns(WorkerLostWarning, match="result is unchanged"):
            on_cluster = levier.simulate(scenario, paths=3_000, seed=5, chunk_size=50, client=client,
                                         progress=kill_one)
        assert killed
        _same(local, on_cluster)
    finally:
        client.close()
        cluster.close()


def test_an_unreachable_scheduler_is_a_clear_error_in_seconds():
    started = time.perf_counter()
    with pytest.raises(InputError, match="cannot reach a Dask scheduler at tcp://127.0.0.1:9"):
        connect("tcp://127.0.0.1:9", timeout=1.0)
    assert time.perf_counter() - started < 15


def test_cli_on_a_local_cluster_and_a_bad_address(capsys):
    from levier.cli import main

    from conftest import SHIPPED

    assert main(["run", str(SHIPPED), "--paths", "600", "--workers", "2"]) == 0
    assert "Projects financed" in capsys.readouterr().out
    assert main(["run", str(SHIPPED), "--paths", "10", "--dask", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach a Dask scheduler" in err and "Traceback" not in err


def test_missing_dask_is_said_clearly(monkeypatch):
    import builtins

    from levier.engine import dask as cluster

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("no dask here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'dask\[distributed\]' \(or, in levier's source folder, pip install '.\[dask\]'\)"):
        cluster.connect(workers=1)


def test_tail_estimation_on_the_cluster_gives_the_local_bytes():
    scenario = make_scenario(simulation={"horizon_years": 3})
    local = levier.tail_risk(scenario, "fund_loss", (0.99,), paths=600, seed=4, pilot_paths=300)
    cluster, client = _cluster(2)
    try:
        remote = levier.tail_risk(scenario, "fund_loss", (0.99,), paths=600, seed=4, pilot_paths=300, chunk_size=50,
                                  client=client)
    finally:
        client.close()
        cluster.close()
    assert local.table.to_numpy().tobytes() == remote.table.to_numpy().tobytes()
    assert local.shift.tobytes() == remote.shift.tobytes()


def test_levier_compile_on_every_worker(capsys):
    from levier.cli import main

    cluster, client = _cluster(2)
    try:
        assert main(["compile", "--dask", cluster.scheduler_address]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        workers = sorted(client.scheduler_info()["workers"])
        assert [line.split(": ", 1)[0] for line in lines] == workers  # one line per worker, by address
        assert all("compiled the engine in" in line or "the engine was compiled already" in line for line in lines)
    finally:
        client.close()
        cluster.close()
    assert main(["compile", "--dask", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err

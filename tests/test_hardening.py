"""Hardening: edge cases that must work, safe outputs under signals, resource guards, no code in data."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import levier
from levier.cli import main
from levier.engine.resources import ResourceError, check, estimate

from conftest import ROOT, SHIPPED, book_row, make_scenario, write_book


# -- edge cases ----------------------------------------------------------------------------------

def test_horizon_of_one_year_and_a_single_loan(tmp_path):
    write_book(tmp_path / "book.csv", [book_row(1, annual_pd=0.2, loan_amount=100_000, bank_amount=300_000)])
    scenario = make_scenario(base_dir=tmp_path, pipeline=None, loan_book={"path": "book.csv"},
                             simulation={"horizon_years": 1, "seed": 3})
    result = levier.simulate(scenario, paths=500)
    p = result.paths
    assert (p["n_financed"] == 1).all() and set(p["n_defaults"]) <= {0.0, 1.0}
    assert abs(p["n_defaults"].mean() - 0.2) <= 4 * np.sqrt(0.2 * 0.8 / 500)
    assert list(result.by_year().loc["jobs"].index) == [1]


def test_nothing_financed_says_so_and_ratios_are_missing(capsys):
    scenario = make_scenario(bank={"threshold": 0.99})
    result = levier.simulate(scenario, paths=64)
    assert (result.paths["n_financed"] == 0).all()
    assert result.paths["cost_per_job"].isna().all() and np.isnan(result.ratios().loc["cost_per_job", "value"])
    assert main(["run", str(SHIPPED), "--paths", "64", "--set", "bank.threshold=0.99"]) == 0
    assert "No project was financed" in capsys.readouterr().out


def test_capital_exhausted_in_the_middle_of_the_pipeline():
    scenario = make_scenario(fund={"capital": 700_000.0, "recycle": False}, bank={"threshold": 0.1},
                             pipeline={"projects_per_year": 10, "years": 2})
    p = levier.simulate(scenario, paths=200, seed=1).paths
    accepted_all = levier.simulate(scenario.with_overrides({"fund.capital": 1e9}), paths=200, seed=1).paths
    assert (p["fund_lent"] + p["subsidies"] <= 700_000 * (1 + 1e-9)).all()
    assert (p["n_financed"] < accepted_all["n_financed"]).all()  # the envelope ran out on every path


@pytest.mark.parametrize("pd_", [0.0, 0.999])
def test_pd_of_zero_and_near_one(pd_, tmp_path):
    write_book(tmp_path / "book.csv", [book_row(i, annual_pd=pd_) for i in range(20)])
    scenario = make_scenario(base_dir=tmp_path, pipeline=None, loan_book={"path": "book.csv"},
                             policy={"max_pd": 1.0})
    p = levier.simulate(scenario, paths=200, seed=2).paths
    if pd_ == 0:
        assert (p["n_defaults"] == 0).all() and (p["fund_loss"] == 0).all()
    else:  # nearly every firm fails in its first year
        assert p["n_defaults"].mean() >= 19.9


def test_loadings_near_their_bound():
    scenario = make_scenario(defaults={"macro_loading": 0.7},
                             sectors=[{"name": "plasturgie", "annual_pd": 0.05, "loading": 0.5},
                                      {"name": "automobile", "annual_pd": 0.05, "loading": 0.5}],
                             territories=[{"name": "Forbach", "loading": 0.499}, {"name": "Alès", "loading": 0.499}])
    p = levier.simulate(scenario, paths=300, seed=4).paths
    assert np.isfinite(p.drop(columns=["cost_per_job", "fund_irr"]).to_numpy()).all()  # NaN where undefined


def test_more_chunks_than_paths_and_one_path():
    scenario = make_scenario()
    one = levier.simulate(scenario, paths=1, seed=8)
    assert len(one.paths) == 1
    # one path has no spread: its sd and Monte Carlo error are undefined (NaN, shown "–"), not 0
    assert one.summary()[["std", "mc_se"]].isna().all().all()
    assert one.ratios()["mc_se"].isna().all()
    one.by_year(), one.by_sector(), one.ratios()
    few = levier.simulate(scenario, paths=3, seed=8, chunk_size=1)
    big_chunk = levier.simulate(scenario, paths=3, seed=8, chunk_size=10_000)
    assert few.paths.to_numpy().tobytes() == big_chunk.paths.to_numpy().tobytes()
    assert one.paths.iloc[0].equals(few.paths.iloc[0])
    with pytest.raises(ValueError, match="paths must be at least 2 x batches"):
        levier.tail_risk(scenario, paths=1)


# -- outputs: complete or absent, previous output intact, under SIGINT and SIGTERM -----------------

def _wait_for_main(proc, timeout: float = 120.0) -> None:
    """Until the CLI's main() has installed its SIGTERM handler (imports can take seconds on a
    loaded machine); without /proc, a fixed wait."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        time.sleep(4.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        caught = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("SigCgt:")]
        if caught and int(caught[0], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.05)


@pytest.mark.parametrize("sig, code, said", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_a_signal_mid_run_leaves_the_previous_output_intact(tmp_path, sig, code, said):
    out = tmp_path / "results"
    out.mkdir()
    (out / "paths.csv").write_text("the previous run\n", encoding="utf-8")
    (out / "meta.json").write_text('{"files": ["meta.json", "paths.csv"]}', encoding="utf-8")  # a run's folder
    proc = subprocess.Popen([sys.executable, "-m", "levier.cli", "run", str(SHIPPED), "--paths", "3000000",
                             "--keep", "compact", "--out", str(out), "--force", "--no-resource-check"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_main(proc)
    time.sleep(1.0)  # into the simulation
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert said in err.decode() and b"Traceback" not in err
    assert (out / "paths.csv").read_text(encoding="utf-8") == "the previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no partial folder left


def test_a_loan_book_outside_the_scenario_folder_is_said(tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_book(outside / "book.csv", [book_row(1)])
    folder = tmp_path / "scenario"
    folder.mkdir()
    text = (ROOT / "tests" / "fuzz_corpus" / "utf8_bom.toml").read_bytes().decode("utf-8-sig")
    (folder / "s.toml").write_text(text + '\n[loan_book]\npath = "../elsewhere/book.csv"\n', encoding="utf-8")
    assert main(["validate", str(folder / "s.toml")]) == 0
    assert "is outside the scenario's folder" in capsys.readouterr().err
    # a link inside the folder that points out of it is spelled out too
    (folder / "link.csv").symlink_to(outside / "book.csv")
    (folder / "t.toml").write_text(text + '\n[loan_book]\npath = "link.csv"\n', encoding="utf-8")
    assert main(["validate", str(folder / "t.toml")]) == 0
    assert "is outside the scenario's folder" in capsys.readouterr().err
    # and a loan book beside the scenario says nothing
    write_book(folder / "book.csv", [book_row(1)])
    (folder / "u.toml").write_text(text + '\n[loan_book]\npath = "book.csv"\n', encoding="utf-8")
    assert main(["validate", str(folder / "u.toml")]) == 0
    assert "outside" not in capsys.readouterr().err


def test_nothing_in_a_scenario_is_executed_or_unpickled(tmp_path, capsys, monkeypatch):
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src" / "levier").glob("*.py"))
    for pattern in (r"\bpickle\b", r"\beval\(", r"\bexec\(", r"yaml\.load", r"__import__\(", r"marshal"):
        assert not re.search(pattern, source), pattern
    text = SHIPPED.read_text(encoding="utf-8").replace('name = "Moselle-Est reconversion fund"',
                                                      'name = "__import__(\'os\').system(\'touch pwned\')"')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(tmp_path / "s.toml"), "--paths", "32"]) == 0
    assert "__import__" in capsys.readouterr().out and not (tmp_path / "pwned").exists()


# -- resource guards ---------------------------------------------------------------------------

def test_a_run_beyond_reason_is_refused_up_front_with_the_estimate(capsys):
    scenario = levier.load_scenario(SHIPPED)
    with pytest.raises(ResourceError, match="would need about .* but 1.0 MB is available"):
        check(scenario, 20_000, available=1e6)
    with pytest.raises(ResourceError, match=r"would take .*hours"):
        check(scenario, 30_000_000, available=1e15)
    small = estimate(scenario, 20_000)
    assert small.seconds < 60 and small.memory_bytes < 2e9
    # ranges side by side each hold a block's draws and a chunk's arrays: threads + 1 in flight
    many = estimate(scenario, 20_000, threads=4)
    for part in ("random draws of a block", "working arrays"):
        assert many.parts[part] == pytest.approx(5 * small.parts[part])
    assert estimate(scenario, 100, threads=4).parts["working arrays"] == estimate(scenario, 100).parts["working arrays"]
    started = time.perf_counter()
    assert main(["run", str(SHIPPED), "--paths", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "per-path outputs" in err and "--no-resource-check" in err and time.perf_counter() - started < 10
    assert main(["run", str(SHIPPED), "--paths", "32", "--no-resource-check"]) == 0


def test_a_refused_run_is_told_only_the_remedies_that_help():
    scenario = levier.load_scenario(SHIPPED)
    # what every path keeps is gathered here, on a cluster too: neither a chunk nor Dask makes it smaller
    with pytest.raises(ResourceError) as kept:
        check(scenario, 20_000_000, keep="compact", available=4e9)
    said = str(kept.value)
    assert "per-path outputs" in said and "fewer paths (--paths, paths=)" in said
    for useless in ("--keep compact", "--chunk-size", "--dask"):
        assert useless not in said, useless
    assert "check_resources=False" in said  # the Python name too: this is also simulate's error
    with pytest.raises(ResourceError, match=r"--keep compact \(keep='compact'\)"):
        check(scenario, 20_000_000, keep="all", available=4e9)
    with pytest.raises(ResourceError, match=r"would take .*a Dask cluster \(--dask, client=\)"):
        check(scenario, 30_000_000, available=1e15)

"""The command line: run, validate, --set, --out written atomically, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import levier
from levier.cli import main

from conftest import SHIPPED


def test_run_prints_the_key_figures(capsys):
    assert main(["run", str(SHIPPED), "--paths", "300", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for words in ("Jobs additional", "Cost per additional job", "Bank € per fund €", "Investment € per fund €",
                  "Fund loss", "VaR 0.99", "ES 0.99", "bank_loss", "seed entropy 1"):
        assert words in out, words


def test_run_json_and_overrides(capsys):
    assert main(["run", str(SHIPPED), "--paths", "200", "--format", "json", "--set", "policy.loan_per_job=20000"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["meta"]["paths"] == 200
    assert "(with overrides)" in payload["meta"]["scenario_source"]
    assert payload["summary"]["fund_lent"]["mean"] > 0


def test_out_writes_every_table_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["run", str(SHIPPED), "--paths", "150", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for table in ("paths", "summary", "ratios", "by_year", "by_sector", "by_territory"):
        assert f"{table}.csv" in names
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed_entropy"] == "2005" and len(meta["scenario_hash"]) == 64 and meta["levier_version"]
    paths = pd.read_csv(out / "paths.csv")
    assert len(paths) == 150 and "cost_per_job" in paths
    before = (out / "paths.csv").read_bytes()

    assert main(["run", str(SHIPPED), "--paths", "100", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "paths.csv").read_bytes() == before  # untouched

    assert main(["run", str(SHIPPED), "--paths", "100", "--out", str(out), "--force"]) == 0
    assert len(pd.read_csv(out / "paths.csv")) == 100
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_out_into_an_existing_empty_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["run", str(SHIPPED), "--paths", "50", "--out", str(out)]) == 0
    assert (out / "summary.csv").exists()


def test_force_replaces_only_a_results_folder_levier_wrote(tmp_path, capsys, monkeypatch):
    # --force deletes the folder it replaces: never one holding the user's files, nor the one they are in
    user = tmp_path / "notes"
    (user / "sub").mkdir(parents=True)
    (user / "important.txt").write_text("mine")
    assert main(["run", str(SHIPPED), "--paths", "20", "--out", str(user), "--force"]) == 2
    assert "is not a levier results folder" in capsys.readouterr().err
    assert (user / "important.txt").read_text() == "mine" and (user / "sub").is_dir()

    out = tmp_path / "results"
    assert main(["run", str(SHIPPED), "--paths", "20", "--out", str(out)]) == 0
    (out / "mine.txt").write_text("mine")  # a file added to a results folder is the user's
    assert main(["run", str(SHIPPED), "--paths", "30", "--out", str(out), "--force"]) == 2
    assert "holds files levier did not write (mine.txt)" in capsys.readouterr().err
    assert json.loads((out / "meta.json").read_text())["paths"] == 20 and (out / "mine.txt").exists()
    (out / "mine.txt").unlink()
    monkeypatch.chdir(out)  # a replay from inside the results folder, into itself
    assert main(["run", "scenario.toml", "--paths", "30", "--out", ".", "--force"]) == 2
    assert "is the current folder" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(out / "scenario.toml"), "--paths", "30", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "meta.json").read_text())["paths"] == 30
    link = tmp_path / "link"
    link.symlink_to(out)  # replacing the link would leave the old folder behind: refused, naming it
    assert main(["run", str(SHIPPED), "--paths", "20", "--out", str(link), "--force"]) == 2
    assert f"is a link to {out.resolve()}" in capsys.readouterr().err
    link.unlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left aside


@pytest.mark.parametrize("command", [["sweep", str(SHIPPED), "--paths", "20", "--grid", "policy.loan_per_job=8000"],
                                     ["report", str(SHIPPED), "--paths", "20"]])
def test_a_file_output_that_is_a_folder_is_refused_even_with_force(tmp_path, capsys, command):
    folder = tmp_path / ("out.csv" if command[0] == "sweep" else "out.html")
    folder.mkdir()
    (folder / "kept.txt").write_text("mine")
    assert main([*command, "--out", str(folder), "--force"]) == 2
    assert f"{folder}: is a folder" in capsys.readouterr().err
    assert (folder / "kept.txt").read_text() == "mine"


def test_validate_s_bank_check_reads_a_rate_as_a_fraction_and_says_when_there_is_nothing_to_check(capsys):
    for wrong in ("2", "-0.5", "two"):  # 2 meant as 2 % was taken as 200 %: a margin of -820 %
        with pytest.raises(SystemExit) as stop:
            main(["validate", str(SHIPPED), "--bank-funding-rate", wrong])
        assert stop.value.code == 2
        assert "--bank-funding-rate: expected a yearly rate" in capsys.readouterr().err
    assert main(["validate", str(SHIPPED), "--set", "fund.capital=0", "--bank-paths", "50"]) == 0
    out = capsys.readouterr().out
    assert "bank economics: no bank loan in 50 paths: nothing to check" in out and "WARNING" not in out
    assert main(["check-calibration", "--tornado", str(SHIPPED)]) == 2  # it was silently ignored
    assert "give --markdown too" in capsys.readouterr().err


def test_lab_options_name_what_is_wrong(capsys):
    assert main(["explain", str(SHIPPED), "--range", "policy.loan_per_jb=5000:9000", "--paths", "20"]) == 2
    assert "policy.loan_per_jb: unknown key 'loan_per_jb'; did you mean 'loan_per_job'?" in capsys.readouterr().err
    assert main(["compare", str(SHIPPED), "--variant", "x:policy.loan_per_job", "--paths", "20"]) == 2
    assert "--variant: 'x:policy.loan_per_job': expected NAME:KEY=VALUE" in capsys.readouterr().err
    assert main(["sweep", str(SHIPPED), "--grid", "policy.loan_per_job=8000,9000", "--design", "lhs", "--n", "3",
                 "--bounds", "policy.loan_per_job=1:2", "--paths", "20"]) == 2
    assert "--grid: give either --grid, or --design with --n and --bounds, not both" in capsys.readouterr().err


def test_validate(capsys, tmp_path):
    assert main(["validate", str(SHIPPED)]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["validate", str(SHIPPED), "--set", "bank.gearing=-1"]) == 2
    assert "bank.gearing" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.toml")]) == 2


def test_bad_options_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(SHIPPED), "--paths", "0"])
    assert info.value.code == 2
    assert main(["run", str(SHIPPED), "--set", "nokey"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_console_script_runs_as_a_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "levier.cli", "run", str(SHIPPED), "--paths", "100", "--set", "policy.max_pd=2"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "policy.max_pd" in proc.stderr and "Traceback" not in proc.stderr


def test_a_reader_that_stops_early_is_not_an_error():
    # `levier run ... | head -1`: the pipe closes under levier's feet
    proc = subprocess.Popen([sys.executable, "-m", "levier.cli", "run", str(SHIPPED), "--paths", "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before levier has written anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_run_says_when_nothing_is_financed(capsys):
    assert main(["run", str(SHIPPED), "--paths", "50", "--set", "fund.capital=0"]) == 0
    assert "No project was financed" in capsys.readouterr().out


def test_probability_of_losing_more_than(capsys):
    assert main(["run", str(SHIPPED), "--paths", "400", "--loss-above", "4e6", "--loss-above", "1_000_000"]) == 0
    out = capsys.readouterr().out
    assert "P(fund loss > 4,000,000 €) = " in out and "P(fund loss > 1,000,000 €) = " in out
    assert main(["run", str(SHIPPED), "--paths", "100", "--loss-above", "0", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["fund_loss_exceedance"][0]["probability"] > 0.9
    assert payload["fund_loss_exceedance"][0]["upper_bound_95"] is None
    with pytest.raises(SystemExit):
        main(["run", str(SHIPPED), "--loss-above", "lots"])


def test_a_probability_no_path_reached_is_a_bound_not_a_certainty(capsys):
    # 0 ± 0 and [0, 0] read as "it cannot happen": with no path beyond, the exact 95 % upper bound
    from levier.analysis.tail import exceedance_probability
    from levier.stats import zero_count_upper_bound

    bound = zero_count_upper_bound(200)
    assert (1 - bound) ** 200 == pytest.approx(0.025, rel=1e-12)  # P(no hit | p = bound): Clopper-Pearson
    assert main(["run", str(SHIPPED), "--paths", "200", "--loss-above", "1e12", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["fund_loss_exceedance"]
    assert row["probability"] == 0.0 and row["upper_bound_95"] == pytest.approx(bound, rel=1e-12)
    assert row["mc_se"] is None  # no error to speak of, as the estimate's std_error below
    p, se = levier.simulate(levier.load_scenario(SHIPPED), paths=50, seed=1).exceedance_probability("fund_loss", 1e12)
    assert p == 0.0 and np.isnan(se)
    assert main(["--lang", "fr", "run", str(SHIPPED), "--paths", "200", "--loss-above", "1e12"]) == 0
    assert "P(perte du fonds > 1 000 000 000 000 €) < 0,0183 (borne supérieure à 95 % : aucune des 200" in (
        capsys.readouterr().out.replace("\u202f", " "))
    scenario = levier.load_scenario(SHIPPED)
    plain = exceedance_probability(scenario, "fund_loss", 1e12, paths=200, seed=1, method="plain")
    assert (plain.hits, plain.probability, plain.low) == (0, 0.0, 0.0) and plain.high == pytest.approx(bound, rel=1e-12)
    assert np.isnan(plain.std_error)
    shifted = exceedance_probability(scenario, "fund_loss", 1e12, paths=200, seed=1, pilot_paths=200)
    assert shifted.hits == 0 and np.isnan(shifted.high)  # the weights admit no such bound: said, not invented
    assert main(["tail", str(SHIPPED), "--paths", "200", "--threshold", "1e12", "--method", "plain"]) == 0
    assert "P(fund_loss > 1,000,000,000,000) < 0.018275 (95 % upper bound: no path of 200 beyond it)" in (
        capsys.readouterr().out)
    some = exceedance_probability(scenario, "fund_loss", 0.0, paths=200, seed=1, method="plain")
    assert some.hits > 0 and some.high <= 1.0 and some.std_error > 0


def test_calibrate_commands(tmp_path, capsys):
    import tomllib

    assert main(["calibrate", "survival", "--horizons", "3", "5", "--survival", "0.72", "0.60", "--name", "plasturgie"]) == 0
    out = capsys.readouterr().out
    fragment = tomllib.loads(out)  # standard output is the fragment alone: `>> scenario.toml` works
    assert fragment["sectors"][0]["name"] == "plasturgie" and 0.09 < fragment["sectors"][0]["annual_pd"] < 0.11

    (tmp_path / "series.csv").write_text("year,defaults,obligors\n" + "".join(
        f"{2000 + i},{d},400\n" for i, d in enumerate([3, 9, 0, 14, 5, 7, 2, 21, 6, 4])), encoding="utf-8")
    assert main(["calibrate", "default-rates", "--file", str(tmp_path / "series.csv"),
                 "--defaults-column", "defaults", "--obligors-column", "obligors"]) == 0
    assert "binomial-mixture" in capsys.readouterr().out

    (tmp_path / "deals.csv").write_text("quasi_equity_ratio,financed\n0.2,0\n0.25,0\n0.28,1\n0.3,0\n0.33,1\n0.4,1\n",
                                        encoding="utf-8")
    assert main(["calibrate", "bank-acceptance", "--file", str(tmp_path / "deals.csv")]) == 0
    fragment_of_deals = capsys.readouterr().out
    assert "[bank]" in fragment_of_deals

    assert main(["calibrate", "recovery", "--rates", "0.0", "0.05", "0.1", "0.02"]) == 0
    assert "method of moments" in capsys.readouterr().out

    # the same deals as French Excel writes them (semicolons, decimal commas, VRAI / FAUX, TRUE):
    # read as the loan book is, the same fit
    (tmp_path / "deals_fr.csv").write_bytes(("quasi_equity_ratio;financed\r\n0,2;FAUX\r\n0,25;false\r\n0,28;VRAI\r\n"
                                             "0,3;0\r\n;\r\n0,33;TRUE\r\n0,4;1\r\n").encode("utf-8-sig"))
    assert main(["calibrate", "bank-acceptance", "--file", str(tmp_path / "deals_fr.csv")]) == 0
    assert capsys.readouterr().out == fragment_of_deals
    # a file of one column (no separator to find), French or not; a bad cell named by its own line
    (tmp_path / "r.csv").write_text("recovery\n0.3\n0.5\n0.42\n0.61\n0.2\n", encoding="utf-8")
    assert main(["calibrate", "recovery", "--file", str(tmp_path / "r.csv")]) == 0
    one_column = capsys.readouterr().out
    (tmp_path / "r_fr.csv").write_text("recovery\n0,3\n0,5\n\n0,42\n0,61\n0,2\n", encoding="utf-8")
    assert main(["calibrate", "recovery", "--file", str(tmp_path / "r_fr.csv")]) == 0
    assert capsys.readouterr().out == one_column
    (tmp_path / "r_bad.csv").write_text("\nrecovery\n0,3\n\n0,42\nx\n", encoding="utf-8")
    assert main(["calibrate", "recovery", "--file", str(tmp_path / "r_bad.csv")]) == 2
    assert "line 6: recovery: expected a number, got 'x'" in capsys.readouterr().err

    assert main(["calibrate", "rating-mix", "--mix", "4=0.2", "5+=0.3", "5=0.3", "6=0.2"]) == 0
    captured = capsys.readouterr()
    assert tomllib.loads(captured.out) and "Calibration(" in captured.err and "nan" not in captured.out

    assert main(["calibrate", "survival", "--horizons", "3", "5", "--survival", "0.6", "0.7"]) == 2
    assert "must not increase" in capsys.readouterr().err
    assert main(["calibrate", "bank-acceptance", "--file", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["calibrate", "default-rates", "--file", str(tmp_path / "deals.csv")]) == 2
    assert "missing column(s) default_rate" in capsys.readouterr().err


def test_policy_lab_commands(tmp_path, capsys):
    assert main(["compare", str(SHIPPED), "--paths", "256", "--variant", "generous:policy.loan_per_job=11000",
                 "--variant", "capped:policy.loan_cap=300000,policy.max_pd=0.1", "--metric", "jobs_additional"]) == 0
    out = capsys.readouterr().out
    assert "CRN variance" in out and "generous" in out and "capped: policy.loan_cap = 300000, policy.max_pd = 0.1" in out
    table = tmp_path / "sweep.csv"
    args = ["sweep", str(SHIPPED), "--paths", "128", "--grid", "policy.loan_per_job=8000:12000:3", "--out", str(table)]
    assert main(args) == 0
    assert "Pareto frontier" in capsys.readouterr().out and len(pd.read_csv(table)) == 3
    assert main(args) == 2 and "exists" in capsys.readouterr().err  # never overwritten silently
    assert main(["optimise", str(SHIPPED), "--paths", "128", "--over", "policy.loan_per_job=6000:12000",
                 "--maximise", "jobs_additional", "--subject-to", "fund_lent<=2e7", "--maxiter", "2"]) == 0
    assert "policy.loan_per_job =" in capsys.readouterr().out
    # nothing meets the constraint: it says so, shows the nearest, and a script can tell (exit 3, not a failure's 1)
    assert main(["optimise", str(SHIPPED), "--paths", "64", "--over", "policy.loan_per_job=6000:12000",
                 "--maximise", "jobs_additional", "--subject-to", "fund_lent<=1", "--maxiter", "1"]) == 3
    assert "no policy tried meets the constraints" in capsys.readouterr().out
    assert main(["explain", str(SHIPPED), "--paths", "128", "--range", "policy.loan_per_job=8000:12000",
                 "--range", "policy.rate=0:0.04", "--sobol", "--n", "4"]) == 0
    out = capsys.readouterr().out
    assert "swing" in out and "total ST" in out


@pytest.mark.parametrize("argv, expected", [
    (["compare", str(SHIPPED), "--variant", "nocolon"], "NAME:KEY=VALUE"),
    (["compare", str(SHIPPED), "--variant", "x:policy.loan_per_jobb=1"], "loan_per_jobb"),
    (["compare", str(SHIPPED), "--paths", "64", "--variant", "x:policy.rate=0.01", "--metric", "jobz"], "unknown metric"),
    (["sweep", str(SHIPPED), "--grid", "policy.loan_per_job=a:b:3"], "LO and HI"),
    (["optimise", str(SHIPPED), "--over", "policy.rate=0.01", "--maximise", "jobs_additional"], "KEY=LO:HI"),
    (["optimise", str(SHIPPED), "--over", "policy.rate=0:0.1", "--maximise", "jobs_additional",
      "--subject-to", "fund_loss=3"], "SPEC<=VALUE"),
])
def test_policy_lab_bad_input_exits_2(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only():
    from levier.present.progress import ProgressBar

    screen = _Terminal()
    bar = ProgressBar(screen)
    for done in (100, 200, 400):
        bar(done, 400)
    bar.close()
    text = screen.getvalue()
    assert "400/400" in text and "100%" in text and text.endswith("\n")
    for stream, quiet in ((io.StringIO(), False), (_Terminal(), True)):
        silent = ProgressBar(stream, quiet=quiet)
        silent(10, 10)
        silent.close()
        assert stream.getvalue() == ""


def test_run_is_silent_on_stderr_when_it_is_not_a_terminal(capsys):
    assert main(["run", str(SHIPPED), "--paths", "200"]) == 0
    assert capsys.readouterr().err == ""


def test_ctrl_c_stops_cleanly_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import levier.engine.run

    def interrupted(*args, progress=None, **kwargs):
        progress(128, 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(levier.engine.run, "simulate", interrupted)
    out = tmp_path / "never"
    assert main(["run", str(SHIPPED), "--out", str(out)]) == 130
    assert "interrupted; nothing was written" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []

"""The smaller things a new user trips on: python -m levier, help for every option, the
subcommand's own usage, a global --quiet, plurals, one-pass validation, labels as given."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib

import pytest

import levier
from levier.analysis.tail import ProbabilityEstimate, threshold_text
from levier.cli import _subparsers, build_parser, main
from levier.errors import LevierWarning

from conftest import ROOT, SHIPPED, base_dict, make_scenario
from test_fuzz import to_toml


def test_python_m_levier():
    proc = subprocess.run([sys.executable, "-m", "levier", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: levier" in proc.stdout and "report" in proc.stdout


def test_every_option_of_every_command_says_what_it_does():
    parser = build_parser()
    silent = []
    for command in [parser, *_subparsers(parser)]:
        for action in command._actions:
            if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
                continue
            if not action.help:
                silent.append(f"{command.prog} {'/'.join(action.option_strings) or action.dest}")
    assert silent == []
    assert len(_subparsers(parser)) >= 14  # the walk saw calibrate's kinds too


def test_an_unknown_option_prints_the_commands_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(SHIPPED), "--bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: levier run ") and "unrecognized arguments: --bogus" in err
    with pytest.raises(SystemExit):
        main(["calibrate", "survival", "--horizons", "3", "--survival", "0.7", "--bogus"])
    assert capsys.readouterr().err.startswith("usage: levier calibrate survival ")


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_is_accepted_by_every_command(where, capsys):
    parser = build_parser()
    for command in _subparsers(parser):
        assert "--quiet" in command._option_string_actions, command.prog
    argv = ["run", str(SHIPPED), "--paths", "20"]
    argv = ["--quiet", *argv] if where == "before" else [*argv, "--quiet"]
    assert main(argv) == 0
    assert parser.parse_args(["--quiet", "validate", "x.toml"]).quiet is True
    assert parser.parse_args(["validate", "x.toml"]).quiet is False


def test_counts_read_in_english():
    one = make_scenario(territories=[{"name": "Alès"}], pipeline=dict(base_dict()["pipeline"],
                                                                     territory_mix={"Alès": 1.0}))
    assert "1 territory," in repr(one) and "2 sectors" in repr(one)
    data = base_dict()
    del data["pipeline"]["territory_mix"]
    with pytest.raises(levier.ScenarioError, match="with several territories, give"):
        levier.Scenario.from_dict(data)


def test_validate_lists_schema_and_cross_key_problems_in_one_pass(tmp_path, capsys):
    data = base_dict()
    data["bank"]["gearing"] = "three"  # a schema problem (required key)
    data["simulation"]["discount_rate"] = "high"  # a schema problem (key with a default)
    data["policy"]["grace_years"] = 9  # a cross-key problem: grace ≥ maturity
    data["sectors"][1]["name"] = "plasturgie"  # another: a duplicate name
    (tmp_path / "bad.toml").write_text(to_toml(data), encoding="utf-8")
    assert main(["validate", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    for words in ("bank.gearing", "simulation.discount_rate", "policy.grace_years: must be less than",
                  "sectors[1].name: duplicate name"):
        assert words in err, words
    # a check that involves a bad key is not run on the stand-in value
    data = base_dict()
    data["policy"]["maturity_years"] = "long"
    with pytest.raises(levier.ScenarioError) as info:
        levier.Scenario.from_dict(data)
    assert [p.where for p in info.value.problems] == ["policy.maturity_years"]


def test_a_probability_label_shows_the_threshold_as_given(capsys):
    est = ProbabilityEstimate("n_defaults", 19.5, "plain", 100, 10, 0.1, 0.05, 0.15, 0.02)
    assert "P(n_defaults > 19.5)" in repr(est)
    assert threshold_text(4e6) == "4,000,000" and threshold_text(1234567.25) == "1,234,567.25"
    assert main(["tail", str(SHIPPED), "--metric", "n_defaults", "--threshold", "19.5", "--paths", "200",
                 "--method", "plain", "--batches", "4"]) == 0
    assert "P(n_defaults > 19.5) = " in capsys.readouterr().out


def test_install_hints_name_the_package(monkeypatch):
    from levier.present import plots

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib \(or, in levier's source folder"):
        plots.pyplot()


def test_the_licence():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) == 202
    assert "[Apache License 2.0](LICENSE)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_foreign_warning_is_shown_once_and_the_command_ends(monkeypatch, capsys):
    """A warning that is not levier's (scipy's "use a power of 2", say) is shown once after the
    command; showing it while warnings were being recorded recorded it again, without end (the
    command then filled the memory)."""
    import warnings

    from levier import cli
    from levier.errors import LevierWarning

    def command(args):
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
        warnings.warn("a note of levier's", LevierWarning, stacklevel=1)
        return 0

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{category.__name__}: {message}", file=sys.stderr)

    import signal

    def hung(signum, frame):
        raise AssertionError("the command did not end: the warning was recorded again without end")

    monkeypatch.setattr(cli, "_cmd_validate", command)
    monkeypatch.setattr(warnings, "showwarning", show)  # pytest's own would record it, not print it
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)  # the bug looped forever: fail, do not hang
    try:
        assert main(["validate", str(SHIPPED)]) == 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    assert err.count("a library's warning") == 1
    assert err.count("levier: note: a note of levier's") == 1


@pytest.mark.parametrize("argv", [
    ["compare", "--variant", "g:policy.loan_per_job=11000", "--variant", "g:policy.loan_per_job=12000"],
    ["optimise", "--over", "policy.loan_per_job=3000:20000", "--over", "policy.loan_per_job=4000:5000",
     "--maximise", "jobs_additional"],
    ["sweep", "--grid", "policy.loan_per_job=8000,12000", "--grid", "policy.loan_per_job=5000,6000"],
    ["sweep", "--design", "lhs", "--n", "4", "--bounds", "policy.loan_per_job=6000:9000",
     "--bounds", "policy.loan_per_job=6000:12000"],
    ["explain", "--range", "policy.loan_per_job=8000:12000", "--range", "policy.loan_per_job=9000:11000"],
    ["run", "--set", "policy.loan_per_job=8000", "--set", "policy.loan_per_job=9000"],
    ["compare", "--variant", "g:policy.loan_per_job=11000,policy.loan_per_job=12000"],
], ids=["variant", "over", "grid", "bounds", "range", "set", "key within a variant"])
def test_an_option_given_twice_for_one_name_is_refused(argv, capsys):
    """The later one silently replaced the earlier: a user who meant both learns it at once, exit 2."""
    assert main([argv[0], str(SHIPPED), "--paths", "50", *argv[1:]]) == 2
    assert "is given twice" in capsys.readouterr().err


def test_optimise_says_when_no_policy_meets_the_constraints(capsys):
    argv = ["optimise", str(SHIPPED), "--paths", "100", "--maxiter", "1", "--over", "policy.loan_per_job=3000:20000",
            "--maximise", "jobs_additional", "--subject-to", "fund_loss.es_0.99<=1", "--quiet"]
    assert main(argv) == 3  # it ran, and has no feasible policy to give: a script can tell
    out, err = capsys.readouterr()
    assert "no policy tried meets the constraints" in out and "best policy found" not in out
    assert "no (no)" in out and "True" not in out and "False" not in out and "<= 1" in out
    assert "no policy tried meets" not in err  # said once, on the table, not again as a note
    with pytest.warns(LevierWarning, match="no policy tried meets the constraints"):
        nearest = levier.optimise(levier.load_scenario(SHIPPED), {"policy.loan_per_job": (3000, 20000)},
                                  maximise="jobs_additional", subject_to={"fund_loss.es_0.99": "<= 1"}, paths=100,
                                  maxiter=1)
    assert not nearest.feasible and "INFEASIBLE" in repr(nearest) and "the nearest" in nearest._repr_html_()
    found = levier.optimise(levier.load_scenario(SHIPPED), {"policy.loan_per_job": (3000, 20000)},
                            maximise="jobs_additional", subject_to={"fund_loss.es_0.99": "<= 9e6"}, paths=100, maxiter=1)
    assert found.feasible and found.table.loc["fund_loss.es_0.99", "bound"] == "<= 9,000,000"


@pytest.mark.parametrize("extra", [["--paths", "99"], ["--seed", "4"], ["--seed", "0"], ["--set", "policy.loan_per_job=9000"],
                                   ["--instruments"]], ids=["paths", "seed", "seed 0", "set", "instruments"])
def test_report_from_a_folder_refuses_options_it_would_ignore(tmp_path, capsys, extra):
    """The folder's run is replayed as it was: an option that would change it is refused, not
    dropped without a word (before anything runs: the folder need not even exist)."""
    argv = ["report", "--from", str(tmp_path / "results"), "--out", str(tmp_path / "r.html"), *extra]
    assert main(argv) == 2
    assert "replayed as it was" in capsys.readouterr().err


def test_report_refuses_a_name_that_is_not_html(tmp_path, capsys):
    assert main(["report", str(SHIPPED), "--out", str(tmp_path / "r.pdf")]) == 2
    assert "HTML page" in capsys.readouterr().err and not (tmp_path / "r.pdf").exists()


def test_a_grid_without_its_count_says_what_a_grid_is(capsys):
    assert main(["sweep", str(SHIPPED), "--paths", "50", "--grid", "policy.loan_per_job=8000:12000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("levier: error: --grid:") and "KEY=LO:HI:N" in err and "parse string" not in err


@pytest.mark.parametrize("option", ["--range", "--over", "--bounds"])
def test_a_reversed_range_is_refused(option, capsys):
    command = {"--range": ["explain"], "--over": ["optimise", "--maximise", "jobs_additional"],
               "--bounds": ["sweep", "--design", "lhs", "--n", "4"]}[option]
    assert main([command[0], str(SHIPPED), "--paths", "50", *command[1:], option, "policy.loan_per_job=12000:8000"]) == 2
    assert "LO must be below HI" in capsys.readouterr().err

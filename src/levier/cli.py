"""The ``levier`` command: a thin layer that parses, calls the public functions, and prints.

Exit codes: 0 success, 2 bad input (scenario, loan book, options, output folder), 1 an internal
error (a bug: please report it with the traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence

from levier._version import __version__
from levier.errors import InputError, Problem, ScenarioError, install_hint

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2
#: A command that ran as asked and has no answer: optimise found no policy meeting its constraints
#: (1 is a failure, as a Python traceback's own status, so a script could not tell the two apart).
EXIT_NO_ANSWER = 3


def _whole_number(minimum: int):
    """An argparse type: a whole number (``_`` separators allowed) of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number ≥ {minimum}, got {value}")
        return value

    return parse


def _amount(text: str) -> float:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an amount in euros, got {text!r}") from None
    if not value == value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite amount, got {text!r}")
    return value


def _yearly_rate(text: str) -> float:
    """A yearly rate as a fraction, 0 <= r < 1 (2 % is 0.02, as in a scenario file)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a yearly rate, e.g. 0.02 for 2 %, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a yearly rate as a fraction, at least 0 and below 1 (0.02 for "
                                         f"2 %), got {text!r}")
    return value


_positive_int = _whole_number(1)
_seed = _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="levier",
        description="Monte Carlo simulation of a development fund's quasi-equity loans: "
        "bank leverage, correlated defaults, recoveries, cash flows and jobs per euro.",
    )
    parser.add_argument("--version", action="version", version=f"levier {__version__}")
    parser.add_argument("--quiet", action="store_true", help=_QUIET_HELP)
    parser.add_argument("--lang", choices=("en", "fr"), default=None, help=_LANG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cluster_options(cmd: argparse.ArgumentParser) -> None:
        where = cmd.add_mutually_exclusive_group()
        where.add_argument("--dask", metavar="tcp://HOST:PORT", help="run on the Dask scheduler at this address")
        where.add_argument("--workers", type=_positive_int, metavar="N",
                           help="run on a local Dask cluster of N worker processes")

    run = sub.add_parser("run", help="simulate a scenario and print its key figures",
                         description="Simulate a scenario file and print its key figures.")
    run.add_argument("scenario", help="scenario TOML file")
    run.add_argument("--paths", type=_positive_int, help="Monte Carlo paths (default: simulation.paths)")
    run.add_argument("--seed", type=_seed, help="seed (default: simulation.seed)")
    run.add_argument("--chunk-size", type=_positive_int, help="paths held in memory at once (never changes results)")
    run.add_argument("--threads", type=_positive_int, metavar="N",
                     help="threads running paths in parallel (default: the cores available; never changes results)")
    run.add_argument("--keep", choices=("all", "compact"), default="all",
                     help="per-path group tables: all metrics (default) or only the fund loss (less memory)")
    run.add_argument("--sampler", choices=("random", "sobol"), default="random",
                     help="systematic factors: pseudo-random (default) or scrambled Sobol' (quasi-Monte Carlo)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario key, e.g. --set policy.loan_per_job=10000 (repeatable)")
    run.add_argument("--stress", metavar="NAME", help="impose one of the scenario's [[stresses]] (levier stress "
                     "compares them with the baseline)")
    run.add_argument("--out", metavar="DIR", help="write every table (paths, summary, ratios, by year, by sector, by "
                     "territory; CSV, and Parquet with pyarrow), results.xlsx, meta.json and the run's scenario with its "
                     "loan book to DIR")
    run.add_argument("--force", action="store_true", help="replace DIR if it exists and is not empty: only a results "
                     "folder levier wrote, holding nothing else")
    run.add_argument("--loss-above", dest="loss_above", type=_amount, action="append", default=[], metavar="EUROS",
                     help="also print the probability that the fund loses more than EUROS (repeatable)")
    run.add_argument("--format", choices=("table", "json"), default="table", help="how to print the summary")
    run.add_argument("--no-resource-check", dest="check_resources", action="store_false",
                     help="run even if the estimated memory or time is beyond reason")
    cluster_options(run)

    validate = sub.add_parser("validate", help="check a scenario file (and its loan book) and say what is wrong",
                              description="Check a scenario file and its loan book; exit 2 if anything is wrong.")
    validate.add_argument("scenario", help="scenario TOML file")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override a scenario key before checking (repeatable)")
    validate.add_argument("--bank-paths", type=_positive_int, default=2_000, metavar="N",
                          help="paths of the quick simulation that checks the bank's economics (default 2000)")
    validate.add_argument("--bank-funding-rate", type=_yearly_rate, default=0.0, metavar="RATE",
                          help="the bank's yearly cost of funds as a fraction (0.02 for 2 %%), taken out of its "
                               "interest (default 0: gross interest)")
    validate.add_argument("--no-bank-check", dest="bank_check", action="store_false",
                          help="skip the quick simulation of the bank's interest against its loss")
    _add_calibrate(sub)
    tail = sub.add_parser(
        "tail",
        help="VaR and ES in the far tail by importance sampling, with confidence intervals",
        description="Estimate VaR and ES of a metric at high levels (importance sampling by a factor "
        "mean shift, sectioning intervals), or the probability of exceeding a threshold.",
    )
    tail.add_argument("scenario", help="scenario TOML file")
    tail.add_argument("--level", dest="levels", type=float, action="append", metavar="ALPHA",
                      help="confidence level (repeatable; default: the scenario's risk levels)")
    tail.add_argument("--metric", default="fund_loss", help="per-path metric (default fund_loss)")
    tail.add_argument("--threshold", type=_amount, help="estimate P(metric > THRESHOLD) instead (where more is "
                      "better, the jobs and fund_capital_end: P(metric < THRESHOLD))")
    tail.add_argument("--paths", type=_positive_int, help="paths (default: simulation.paths)")
    tail.add_argument("--seed", type=_seed, help="seed (default: simulation.seed)")
    tail.add_argument("--method", choices=("importance", "plain"), default="importance",
                      help="importance sampling (default) or plain Monte Carlo (to check it)")
    tail.add_argument("--batches", type=_positive_int, default=20, help="sections for the intervals (default 20)")
    cluster_options(tail)
    tail.add_argument("--twist", action=argparse.BooleanOptionalAction, default=None,
                      help="also twist the conditional default probabilities (default: for fund_loss, bank_loss, "
                           "n_defaults)")
    tail.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a scenario key, e.g. --set policy.loan_per_job=10000 (repeatable)")
    check = sub.add_parser(
        "check-calibration",
        help="run shipped scenarios and compare them with the published figures they cite",
        description="Run each scenario and print, beside each published figure it cites in its "
        "[[targets]], levier's value with its 95 % Monte Carlo interval, and whether it agrees.",
    )
    check.add_argument("scenarios", nargs="*", help="scenario files (default: scenarios/*.toml)")
    check.add_argument("--paths", type=_positive_int, default=5_000, help="paths per scenario (default 5000)")
    check.add_argument("--seed", type=_seed, help="seed (default: each scenario's)")
    check.add_argument("--markdown", action="store_true", help="print the Markdown of docs/calibration.md")
    check.add_argument("--tornado", action="store_true",
                       help="with --markdown: append the tornado of each headline over the parameters marked "
                            "assumption (Moselle-Est; slow)")
    check.add_argument("--tornado-paths", type=_positive_int, default=2_000, metavar="N",
                       help="paths per run of the tornado (default 2000)")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a key of every scenario, e.g. guarantee.share=0.5 (repeatable)")
    def lab_options(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("scenario", help="scenario TOML file")
        cluster_options(cmd)
        cmd.add_argument("--paths", type=_positive_int, help="paths per policy (default: simulation.paths)")
        cmd.add_argument("--seed", type=_seed, help="seed shared by every policy (default: simulation.seed)")
        cmd.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a key of the baseline scenario (repeatable)")

    compare = sub.add_parser(
        "compare", help="compare policies on common random numbers: paired differences and their errors",
        description="Run the scenario and its variants (--variant, or its [[variants]]) on the same random draws "
        "and print each statistic's paired difference with the baseline, its 95 % interval, and how much common "
        "random numbers shrank its variance against independent runs.")
    lab_options(compare)
    compare.add_argument("--variant", dest="variants", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                         help="a variant, e.g. generous:policy.loan_per_job=12000 (repeatable)")
    compare.add_argument("--metric", dest="metrics", action="append", metavar="SPEC",
                         help="statistic to compare: METRIC, RATIO, METRIC.es_0.99, ... (repeatable)")

    breakeven = sub.add_parser(
        "breakeven", help="the loan rate at which the fund's expected net cost is zero, with its error",
        description="Find the policy.rate at which the fund's expected net cost (present value of its flows) is "
        "zero, by Brent's method on common random numbers, and its Monte Carlo error (delta method).")
    lab_options(breakeven)
    breakeven.add_argument("--low", type=float, default=0.0, help="lowest rate searched (default 0)")
    breakeven.add_argument("--high", type=float, default=0.3, help="highest rate searched (default 0.3)")
    stress = sub.add_parser(
        "stress", help="replay named bad decades ([[stresses]]) against the baseline on common random numbers",
        description="Run the baseline and each of the scenario's [[stresses]] (given factor values by year, the "
        "rest random) on the same random draws, and print each statistic's paired difference with its 95 % "
        "interval.")
    lab_options(stress)
    stress.add_argument("--stress", dest="stresses", action="append", metavar="NAME",
                        help="a stress to run (repeatable; default: all the scenario's stresses)")
    stress.add_argument("--metric", dest="metrics", action="append", metavar="SPEC",
                        help="statistic to compare: METRIC, RATIO, METRIC.es_0.99, ... (repeatable)")

    sweep = sub.add_parser(
        "sweep", help="evaluate a grid or design of policies and mark the Pareto frontier",
        description="Evaluate a grid (--grid) or a space-filling design (--design with --bounds) of policy "
        "parameters on common random numbers; one row per point, the Pareto frontier marked with *.")
    lab_options(sweep)
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=LO:HI:N",
                       help="grid axis: KEY=LO:HI:N or KEY=V1,V2,... (repeatable)")
    sweep.add_argument("--design", choices=("lhs", "sobol"), help="a Latin hypercube or Sobol' design instead")
    sweep.add_argument("--n", type=_positive_int, help="points of the design")
    sweep.add_argument("--bounds", action="append", default=[], metavar="KEY=LO:HI", help="design bounds (repeatable)")
    sweep.add_argument("--objective", dest="objectives", action="append", metavar="SPEC:max|min",
                       help="frontier objective (default: jobs_additional:max, fund_loss.es_0.99:min)")
    sweep.add_argument("--out", metavar="FILE.csv", help="also write the table as CSV (not overwritten without --force)")
    sweep.add_argument("--force", action="store_true", help="replace FILE if it exists")

    optimise = sub.add_parser(
        "optimise", help="optimise policy parameters by sample-average approximation",
        description="Search policy parameters (--over) for the best objective under constraints, on fixed common "
        "random numbers (scipy's differential evolution), then check the optimum on fresh paths.")
    lab_options(optimise)
    optimise.add_argument("--over", action="append", required=True, metavar="KEY=LO:HI",
                          help="a parameter and its range (repeatable)")
    goal = optimise.add_mutually_exclusive_group(required=True)
    goal.add_argument("--maximise", metavar="SPEC",
                      help="the statistic to maximise, e.g. jobs_additional or fund_capital_end (one of the two)")
    goal.add_argument("--minimise", metavar="SPEC",
                      help="the statistic to minimise, e.g. fund_loss.es_0.99 (one of the two)")
    optimise.add_argument("--subject-to", dest="constraints", action="append", default=[], metavar="SPEC<=VALUE",
                          help="a constraint, e.g. 'fund_loss.es_0.99<=5e6' (repeatable)")
    optimise.add_argument("--check-paths", type=_positive_int, help="paths of the check on fresh draws")
    optimise.add_argument("--maxiter", type=_positive_int, default=30, help="generations of the search (default 30)")

    explain = sub.add_parser(
        "explain", help="sensitivity of a statistic: tornado, and global Sobol' indices",
        description="One-at-a-time swings of a statistic over each parameter's range (a tornado), and with "
        "--sobol the global Sobol' indices over all ranges at once (needs SALib: pip install SALib).")
    lab_options(explain)
    explain.add_argument("--output", default="jobs_additional", metavar="SPEC", help="statistic (default jobs_additional)")
    explain.add_argument("--range", dest="ranges", action="append", required=True, metavar="KEY=LO:HI",
                         help="a parameter and its range (repeatable)")
    explain.add_argument("--sobol", action="store_true", help="also compute Sobol' indices")
    explain.add_argument("--n", type=_positive_int, default=32, help="base sample of the Sobol' design (default 32)")

    report = sub.add_parser(
        "report", help="write a self-contained HTML report (figures, tables, provenance)",
        description="Simulate a scenario (or re-create a results folder of levier run --out, checked against it) "
        "and write one self-contained HTML file: headline figures with their Monte Carlo intervals, the plots, the "
        "tables, the scenario's key parameters and the provenance. Needs matplotlib: pip install matplotlib.")
    report.add_argument("scenario", nargs="?", help="scenario TOML file (or use --from)")
    report.add_argument("--from", dest="folder", metavar="DIR", help="a results folder written by levier run --out")
    report.add_argument("--out", required=True, metavar="FILE.html", help="the report to write")
    report.add_argument("--force", action="store_true", help="replace FILE if it exists")
    report.add_argument("--paths", type=_positive_int, help="Monte Carlo paths (default: simulation.paths; not with --from)")
    report.add_argument("--seed", type=_seed, help="seed (default: simulation.seed; not with --from)")
    report.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario key, e.g. --set policy.loan_per_job=10000 (repeatable; not with --from)")
    report.add_argument("--instruments", action="store_true",
                        help="add the table of loan only / loan + subsidy / loan + 50 %% guarantee on common random numbers")
    cluster_options(report)

    warm = sub.add_parser(
        "compile", help="compile the engine now, so that no later run waits for it (e.g. in an image's build)",
        description="Compile every kernel of the engine (or load it from the cache) by simulating a small built-in "
        "scenario, and say where the compiled code is kept. The first run after an install otherwise compiles what "
        "it needs (5 to 15 s of one core, as much again for the optional mechanisms); later processes load from the cache. Exit status 1 when no folder can "
        "keep the compiled code (set NUMBA_CACHE_DIR to a writable one).")
    warm.add_argument("--dask", metavar="tcp://HOST:PORT", help="compile on every worker of the Dask scheduler at "
                      "this address (each worker's own cache)")

    for command in _subparsers(parser):
        # accepted after the command as well as before it; SUPPRESS keeps a subcommand from
        # resetting a --quiet given before it
        if "--quiet" not in command._option_string_actions:
            command.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP)
        if "--lang" not in command._option_string_actions:  # --lang also after the command
            command.add_argument("--lang", choices=("en", "fr"), default=argparse.SUPPRESS, help=_LANG_HELP)
    return parser


_QUIET_HELP = "no progress bar (there is none either when stderr is not a terminal)"
_LANG_HELP = "language of the tables and the report: fr or en (default: the locale, LC_ALL / LC_MESSAGES / LANG)"


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every subcommand's parser, nested ones (calibrate's) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found += [command, *_subparsers(command)]
    return found


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (innermost) subcommand that ``args`` chose."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return _chosen(action.choices[getattr(args, action.dest)], args)
    return parser


def _add_calibrate(sub) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="estimate parameters from data and print a TOML fragment",
        description="Estimate scenario parameters (with standard errors) from data; prints TOML to paste.",
    )
    kinds = cal.add_subparsers(dest="kind", required=True, metavar="KIND")
    survival = kinds.add_parser("survival", help="a sector's annual PD from survival rates at several horizons")
    survival.add_argument("--horizons", type=float, nargs="+", required=True, metavar="YEARS",
                          help="the horizons of the survival rates, in years (e.g. 3 5)")
    survival.add_argument("--survival", type=float, nargs="+", required=True, metavar="SHARE",
                          help="the share of firms still alive at each horizon, in (0, 1) (e.g. 0.72 0.60)")
    survival.add_argument("--cohort", type=_positive_int, help="firms in the cohort (maximum likelihood)")
    rates = kinds.add_parser("default-rates", help="PD and asset correlation from a yearly default-rate series")
    rates.add_argument("--rates", type=float, nargs="+", metavar="RATE",
                       help="the default rate of each year, in [0, 1] (or give --file)")
    rates.add_argument("--file", help="CSV with one row per year")
    rates.add_argument("--column", default="default_rate", help="rate column in --file (default: default_rate)")
    rates.add_argument("--defaults-column", help="column of default counts in --file (with --obligors-column)")
    rates.add_argument("--obligors-column", help="column of obligor counts in --file")
    rates.add_argument("--method", choices=("mle", "moments"), default="mle",
                       help="maximum likelihood (default) or the method of moments")
    rates.add_argument("--macro-loading", type=float, default=0.0,
                       help="the scenario's macro loading, taken out of the sector's loading")
    recovery = kinds.add_parser("recovery", help="recovery mean and sd (Beta) from observed recovery rates")
    recovery.add_argument("--rates", type=float, nargs="+", metavar="RATE",
                          help="the recovery rate of each default, in [0, 1] (or give --file)")
    recovery.add_argument("--file", help="CSV with one row per default")
    recovery.add_argument("--column", default="recovery", help="column in --file (default: recovery)")
    recovery.add_argument("--method", choices=("mle", "moments"),
                          help="Beta maximum likelihood or the method of moments (default: maximum likelihood "
                               "unless a rate is 0 or 1)")
    recovery.add_argument("--default-rates", type=float, nargs="+", metavar="RATE",
                          help="the same years' default rates: estimate the downturn recovery_loading from yearly "
                               "mean recoveries (--rates) instead of a Beta from firm-level ones")
    recovery.add_argument("--default-column", help="column of yearly default rates in --file (downturn loading)")
    recovery.add_argument("--sd", type=float, help="with default rates: the Beta recovery's sd across firms")
    recovery.add_argument("--mean", type=float, help="with default rates: the Beta's mean (default: estimated)")
    recovery.add_argument("--pd", type=float, help="with default rates: the sector's annual PD (default: Vasicek fit)")
    recovery.add_argument("--rho", type=float, help="with default rates: its asset correlation (default: Vasicek fit)")
    bank = kinds.add_parser("bank-acceptance", help="the bank's threshold and steepness from observed deals")
    bank.add_argument("--file", required=True, help="CSV with one row per deal")
    bank.add_argument("--ratio-column", default="quasi_equity_ratio",
                      help="column of each deal's quasi-equity ratio (default: quasi_equity_ratio)")
    bank.add_argument("--financed-column", default="financed",
                      help="column saying whether the bank financed it, 1/0 or true/false (default: financed)")
    mix = kinds.add_parser("rating-mix", help="annual PD of established firms from their mix of Banque de France cotes")
    mix.add_argument("--mix", nargs="+", required=True, metavar="COTE=SHARE",
                     help="share of the firms in each cote, e.g. 4=0.2 5+=0.3 5=0.3 6=0.2 (shares sum to 1)")
    mix.add_argument("--multiplier", type=float, default=1.0, help="scale the PD (a sector's relative risk)")
    for p in (survival, rates, recovery, mix):  # bank-acceptance's fragment is the [bank] table: no name
        p.add_argument("--name", help="sector name to put in the fragment")


#: Spellings of a yes / no column (a deal financed or not) as people and Excel write them.
_BOOLEANS = {"true": 1, "false": 0, "vrai": 1, "faux": 0, "yes": 1, "no": 0, "oui": 1, "non": 0}


def _csv_columns(path: str, *columns: str) -> list:
    """Numeric ``columns`` of a user's table, read as a loan book is (CSV as Excel writes it, in
    French or not, or .xlsx); a yes / no column may say true / false, vrai / faux, TRUE / FALSE."""
    import pandas as pd

    from levier.model.portfolio import read_table

    frame = read_table(path, columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(path, [f"missing column(s) {', '.join(missing)}; it has: {', '.join(map(str, frame.columns))}"])
    out = []
    for c in columns:
        text = frame[c].astype("string").str.strip()
        values = pd.to_numeric(text.str.lower().map(lambda v: _BOOLEANS.get(v, v) if isinstance(v, str) else v),
                               errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            i = int(bad.nonzero()[0][0])
            raise InputError(path, [Problem(f"line {int(frame.index[i])}", f"{c}: expected a number, got {frame[c].iloc[i]!r}")])
        out.append(values.to_numpy(dtype=float))
    return out


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from levier.analysis import calibrate

    source = getattr(args, "file", None) or f"calibrate {args.kind}"
    try:
        if args.kind == "survival":
            fit = calibrate.pd_from_survival(args.horizons, args.survival, cohort=args.cohort)
        elif args.kind == "default-rates":
            if args.file and args.defaults_column:
                if not args.obligors_column:
                    raise ValueError("--defaults-column needs --obligors-column")
                d, n = _csv_columns(args.file, args.defaults_column, args.obligors_column)
                fit = calibrate.vasicek_from_default_rates(defaults=d, obligors=n, method=args.method,
                                                           macro_loading=args.macro_loading)
            else:
                rates = _csv_columns(args.file, args.column)[0] if args.file else args.rates
                if rates is None:
                    raise ValueError("give --rates or --file")
                fit = calibrate.vasicek_from_default_rates(rates, method=args.method, macro_loading=args.macro_loading)
        elif args.kind == "recovery":
            default_rates = args.default_rates
            if args.file and args.default_column:
                rates, default_rates = _csv_columns(args.file, args.column, args.default_column)
            else:
                rates = _csv_columns(args.file, args.column)[0] if args.file else args.rates
            if rates is None:
                raise ValueError("give --rates or --file")
            if default_rates is not None:
                if args.sd is None:
                    raise ValueError("--default-rates needs --sd, the recovery's sd across firms (yearly means cannot "
                                     "tell it; estimate it with 'levier calibrate recovery --rates' on firm-level data)")
                fit = calibrate.recovery_loading(default_rates, rates, recovery_sd=args.sd, recovery_mean=args.mean,
                                                 pd=args.pd, rho=args.rho)
            else:
                fit = calibrate.recovery_beta(rates, method=args.method)
        elif args.kind == "rating-mix":
            shares = {}
            for item in args.mix:
                cote, sep, share = item.partition("=")
                try:
                    shares[cote.strip()] = float(share) if sep else float("nan")
                except ValueError:
                    raise ValueError(f"--mix {item!r}: expected COTE=SHARE with a number, e.g. 5+=0.3") from None
                if not sep:
                    raise ValueError(f"--mix {item!r}: expected COTE=SHARE, e.g. 5+=0.3")
            fit = calibrate.pd_from_rating_mix(shares, multiplier=args.multiplier)
        else:
            q, y = _csv_columns(args.file, args.ratio_column, args.financed_column)
            fit = calibrate.bank_acceptance(q, y)
        fragment = fit.to_toml(getattr(args, "name", None))
    except ValueError as exc:
        raise InputError(source, [str(exc)]) from None
    # the fragment alone on standard output, so that `>> scenario.toml` appends TOML; the one-line
    # summary for the reader on standard error
    print(repr(fit), file=sys.stderr)
    print(fragment, end="")
    return EXIT_OK


def _cmd_tail(args: argparse.Namespace) -> int:
    scenario = _load(args.scenario, args.overrides)
    try:
        with _cluster(args) as client:
            return _tail_with(args, scenario, client)
    except ValueError as exc:
        raise InputError(args.scenario, [str(exc)]) from None


def _tail_with(args: argparse.Namespace, scenario, client) -> int:
    from levier.analysis.tail import exceedance_probability, tail_risk, threshold_text
    from levier.present.i18n import counted, format_number as _format, localise, t

    lang = _lang(args)

    def format_number(x) -> str:
        return _format(x, lang=lang)

    def short(x: float) -> str:  # a probability, five figures
        return localise(f"{x:.5g}", lang)

    if args.threshold is not None:
        with _bar(args) as bar:
            est = exceedance_probability(scenario, args.metric, args.threshold, paths=args.paths, seed=args.seed,
                                         method=args.method, batches=args.batches, twist=args.twist, client=client,
                                         progress=bar)
        sign = ">" if est.side == "upper" else "<"  # the jobs: the probability of missing the target
        event = dict(metric=args.metric, sign=sign, threshold=localise(threshold_text(args.threshold), lang))
        if est.hits == 0 and est.method == "plain":
            print(t("P({metric} {sign} {threshold}) < {high} (95 % upper bound: no path of {paths} beyond it)", lang,
                    **event, high=short(est.high), paths=format_number(est.paths)))
        elif est.hits == 0:
            print(t("P({metric} {sign} {threshold}): no path of {paths} beyond it, even drawn towards it: too rare for "
                    "this run to estimate (take more paths, or a threshold nearer the bulk)", lang, **event,
                    paths=format_number(est.paths)))
        else:
            print(t("P({metric} {sign} {threshold}) = {p}   95 % interval [{low}, {high}]   ({method}, {paths})",
                    lang, **event, p=short(est.probability), low=short(est.low), high=short(est.high),
                    method=t(est.method, lang), paths=counted(est.paths, "path", lang)))
        return EXIT_OK
    levels = args.levels or scenario.simulation.risk_levels
    with _bar(args) as bar:
        tail = tail_risk(scenario, args.metric, levels, paths=args.paths, seed=args.seed, method=args.method,
                        batches=args.batches, twist=args.twist, client=client, progress=bar)
    how = t({"plain": "plain sampling", "importance": "importance sampling: factor shift"}[tail.method], lang)
    if tail.meta.get("twist_target") is not None:
        how += t(" and default twist", lang)
    from levier.names import tail_side

    which = t("tail" if tail_side(args.metric) == "upper" else "lower tail (the shortfall: more is better)", lang)
    print(t("{name}: {which} of {metric} ({how}, {paths}, {batches} sections for the 95 % intervals)", lang,
            name=scenario.meta.name, which=which, metric=args.metric, how=how, paths=counted(tail.paths, "path", lang),
            batches=tail.batches))
    for level, row in tail.table.iterrows():
        print(f"  {localise(f'{level:.4g}', lang)}:  VaR {format_number(row['var'])}  [{format_number(row['var_low'])}, "
              f"{format_number(row['var_high'])}]   ES {format_number(row['es'])}  [{format_number(row['es_low'])}, "
              f"{format_number(row['es_high'])}]")
    return EXIT_OK


def _cmd_check_calibration(args: argparse.Namespace) -> int:
    from pathlib import Path

    from levier.analysis.calibrate import bank_economics, check_calibration
    from levier.engine.run import simulate
    from levier.present.display import format_number

    if args.tornado and not args.markdown:
        raise InputError("--tornado", ["appends the tornado to the Markdown of docs/calibration.md: give --markdown too"])
    files = args.scenarios or sorted(str(p) for p in Path("scenarios").glob("*.toml"))
    if not files:
        raise InputError("scenarios/", ["no scenario files: name them, or run from a folder with scenarios/*.toml"])
    from levier.present.i18n import t

    # the Markdown is docs/calibration.md, in English; the text is in the user's language, the
    # published figures' descriptions and sources as the programme_figures table has them (English)
    lang = "en" if args.markdown else _lang(args)

    def number(x) -> str:
        return format_number(x, lang=lang)

    disagreements, rows, banks = 0, [], []
    lines = []
    for file in files:
        scenario = _load(file, args.overrides)
        result = simulate(scenario, paths=args.paths, seed=args.seed)
        table = check_calibration(scenario, result=result)
        bank = bank_economics(result=result)
        banks.append((Path(file).stem, scenario, bank))
        rows += [(Path(file).stem, row) for row in table.itertuples()]
        if args.markdown:
            continue
        lines.append(f"{scenario.meta.name} ({file})")
        if table.empty:
            lines.append(t("  cites no published figure ([[targets]])", lang))
        for row in table.itertuples():
            if row.agrees:
                verdict = t("agrees", lang)
            elif row.levier != row.levier:  # NaN: the ratio's denominator is zero on every path
                verdict = t("DISAGREES: levier has no value (nothing financed?)", lang)
            elif row.levier > row.high:
                verdict = t("DISAGREES: above the published range", lang)
            else:
                verdict = t("DISAGREES: below the published range", lang)
            disagreements += not row.agrees
            kind = t(row.kind, lang) + (t(", restates an input", lang) if row.restates_input else "")
            lines.append(f"  [{kind}] {row.programme}: {row.published}")
            lines.append(t("    published {value} {unit} (range {low} to {high}: {why})", lang, value=number(row.value),
                           unit=row.unit, low=number(row.low), high=number(row.high), why=row.range_reason))
            lines.append(t("    levier    {value}  [{low}, {high}] 95 % MC  ({metric})  → {verdict}", lang,
                           value=number(row.levier), low=number(row.levier_low), high=number(row.levier_high),
                           metric=row.metric, verdict=verdict))
            lines.append(t("    source    {source} — {url}", lang, source=row.source, url=row.url))
        lines.append(f"  {bank.message(lang)}")
        lines.append("")
    if args.markdown:
        lines += [
            "# Calibration: the shipped scenarios against the figures they cite", "",
            f"Generated by `levier check-calibration --paths {args.paths} --markdown{' --tornado' if args.tornado else ''}"
            " > docs/calibration.md` "
            "(run from the repository root); `tests/test_docs_calibration.py` checks that the tables are what the "
            "command prints today. Each published figure, its accepted range and the reason for the range are in "
            "levier's `programme_figures` table (`levier.datasets`); levier's value is a ratio of means over paths "
            "with its 95 % Monte Carlo interval.", "",
            "A *calibrated* target is one a scenario was sized on: agreement is expected and is not evidence. A "
            "*validated* target was held out: no input was chosen on it, and its accepted range was written from "
            "the source's own spread before levier was run on it. A target marked *restates an input* is reproduced "
            "by construction (e.g. jobs per project from the pipeline's project sizes).", "",
            "Default rates: the shipped scenarios' PD level comes from a mix of Banque de France cotes "
            "(`levier calibrate rating-mix`, the mix is an assumption) through the regulatory 3-year default-rate "
            "benchmarks of the credit quality steps (tables `bdf_rating_scale`, `default_rate_benchmarks`); INSEE "
            "survival of new firms only spreads it between sectors.",
        ]
        for kind, title in (("calibrated", "Calibration targets: figures the scenarios were sized on"),
                            ("validated", "Validation targets: figures held out")):
            lines += ["", f"### {title}", "",
                      "| scenario | published figure | published | accepted range | levier (95 % MC interval) | verdict |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for stem, row in rows:
                if row.kind != kind:
                    continue
                disagreements += not row.agrees
                note = " (restates an input)" if row.restates_input else ""
                lines.append(
                    f"| {stem} | {row.programme}: {row.published}{note} "
                    f"({f'[source]({row.url})' if str(row.url).startswith('http') else row.url}) | "
                    f"{format_number(row.value)} {row.unit} | {format_number(row.low)} – {format_number(row.high)} | "
                    f"{format_number(row.levier)} [{format_number(row.levier_low)}, {format_number(row.levier_high)}] "
                    f"({row.metric}) | {'agrees' if row.agrees else '**disagrees**'} |"
                )
        lines += ["", "### The bank's economics: expected interest against expected loss", "",
                  "Undiscounted means over paths of `bank_interest` and `bank_loss` (€), before the bank's funding "
                  "and operating costs: a positive margin is necessary for the bank to lend, not sufficient. "
                  "`levier validate` prints the same check from a quick simulation.", "",
                  "| scenario | bank lent | bank interest | bank loss | margin (± MC se) | covers its loss |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for stem, _, bank in banks:
            lines.append(f"| {stem} | {format_number(bank.lent)} | {format_number(bank.interest)} | "
                         f"{format_number(bank.loss)} | {format_number(bank.margin)} ± {format_number(bank.margin_se)} | "
                         f"{'yes' if bank.covers else '**no**'} |")
        lines.append("")
    lines.append(t("{disagreements} disagreement(s) over {scenarios} scenario(s), {paths} paths each", lang,
                   disagreements=disagreements, scenarios=len(files), paths=format_number(args.paths, 1, lang)))
    if args.markdown and args.tornado:  # the tornado goes last, after the line the docs test reads
        lines += [""] + _tornado_markdown(files, args)
    print("\n".join(lines))
    return EXIT_OK


def _tornado_markdown(files: Sequence[str], args: argparse.Namespace) -> list[str]:
    from pathlib import Path

    from levier.analysis.calibrate import assumption_tornado
    from levier.model.datasets import load
    from levier.present.display import format_number

    named = {Path(f).stem: f for f in files}
    lines = ["## What the assumptions weigh", "",
             f"Generated with `--tornado` ({args.tornado_paths:,} paths a run, one seed for all). Each parameter marked "
             "\"assumption\" in the scenario moves from the low to the high end of the range in levier's "
             "`assumption_ranges` table (`levier.datasets`), the others staying put; the bar is the swing of the "
             "headline, longest first, with its Monte Carlo standard error.", ""]
    ranges = load("assumption_ranges")
    for stem in sorted(set(ranges["scenario"]) & set(named)):
        scenario = _load(named[stem], [])
        for label, frame in assumption_tornado(scenario, stem, paths=args.tornado_paths, seed=args.seed).items():
            base = frame["base"].iloc[0]
            lines += [f"### {stem}: {label} (base {format_number(base)})", "",
                      "| parameter (low – high) | at low | at high | swing (± MC se) | |", "| --- | --- | --- | --- | --- |"]
            widest = frame["swing"].abs().max() or 1.0
            for key, row in frame.iterrows():
                bar = "█" * max(1, int(round(20 * abs(row["swing"]) / widest))) if row["swing"] else ""
                lines.append(f"| {key} ({format_number(row['low_value'])} – {format_number(row['high_value'])}) | "
                             f"{format_number(row['low'])} | {format_number(row['high'])} | "
                             f"{format_number(row['swing'])} ± {format_number(row['swing_se'])} | {bar} |")
            lines.append("")
    return lines


def _load(path: str, overrides: Sequence[str]):
    from levier.model.scenario import load_scenario, parse_assignment

    scenario = load_scenario(path)
    if overrides:
        pairs = _unique((parse_assignment(item) for item in overrides), "--set")
        scenario = scenario.with_overrides(pairs)
    return scenario


def _lang(args: argparse.Namespace) -> str:
    from levier.present.i18n import check_lang

    return check_lang(getattr(args, "lang", None))


def _cmd_run(args: argparse.Namespace) -> int:
    from levier.present.display import run_report
    from levier.engine.run import simulate
    from levier.present.output import check_target, has_parquet, write_result

    scenario = _load(args.scenario, args.overrides)
    if args.stress is not None and args.stress not in [x.name for x in scenario.stresses]:
        known = ", ".join(x.name for x in scenario.stresses) or "none: add a [[stresses]] table"
        raise InputError(args.scenario, [Problem("--stress", f"unknown stress {args.stress!r} (the scenario's "
                                                 f"stresses: {known})")])
    if args.out is not None:  # "" too: refused, not silently nothing written
        check_target(args.out, force=args.force)  # refuse before spending minutes on the simulation
    from levier.present.progress import terminal_bar

    bar = terminal_bar(quiet=args.quiet)
    try:
        with _cluster(args) as client:
            result = simulate(scenario, paths=args.paths, seed=args.seed, chunk_size=args.chunk_size, keep=args.keep,
                              sampler=args.sampler, progress=bar, client=client,
                              check_resources=args.check_resources, threads=args.threads,
                              stress=args.stress)
    finally:
        bar.close()
    from levier.present.i18n import format_fixed, t
    from levier.stats import zero_count_upper_bound

    lang = _lang(args)
    exceed = {x: result.exceedance_probability("fund_loss", x) for x in args.loss_above}
    if args.format == "json":
        payload = {
            "meta": result.meta,
            "summary": json.loads(result.summary().to_json(orient="index")),
            "ratios": json.loads(result.ratios().to_json(orient="index")),
            "fund_loss_exceedance": [{"threshold": x, "probability": p, "mc_se": se if se == se else None,
                                      "upper_bound_95": zero_count_upper_bound(result.n_paths) if p == 0 else None}
                                     for x, (p, se) in exceed.items()],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(run_report(result, lang=lang))
        for x, (p, se) in exceed.items():
            if p == 0:  # no path beyond: 0 ± 0 would claim certainty
                print(t("P(fund loss > {x} €) < {high} (95 % upper bound: no path of {paths} beyond it)", lang,
                        x=format_fixed(x, 0, lang), high=format_fixed(zero_count_upper_bound(result.n_paths), 4, lang),
                        paths=format_fixed(result.n_paths, 0, lang)))
            else:
                print(t("P(fund loss > {x} €) = {p} ± {se} (MC se)", lang, x=format_fixed(x, 0, lang),
                        p=format_fixed(p, 4, lang), se=format_fixed(se, 4, lang)))
    if args.out is not None:
        files = write_result(result, args.out, force=args.force, lang=lang)
        note = "" if has_parquet() else t(" (CSV only: pip install pyarrow for Parquet copies)", lang)
        print(t("wrote {n} files to {out}", lang, n=len(files), out=args.out) + note, file=sys.stderr)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from levier.model.portfolio import build_portfolio
    from levier.present.display import validate_line

    scenario = _load(args.scenario, args.overrides)
    portfolio = build_portfolio(scenario)
    book = int(portfolio.in_book.sum())
    print(validate_line(args.scenario, scenario, book, _lang(args)))
    if args.bank_check:
        from levier.analysis.calibrate import bank_economics

        # a quick simulation: the check is about the sign of a mean, a few thousand paths settle it
        try:
            economics = bank_economics(scenario, paths=args.bank_paths, funding_rate=args.bank_funding_rate)
        except ValueError as exc:
            raise InputError("--bank-funding-rate", [str(exc)]) from None
        print(f"  {economics.message(_lang(args))}")
    return EXIT_OK


def _cluster(args: argparse.Namespace):
    """A context giving the Dask client of ``--dask`` / ``--workers`` (None without them)."""
    import contextlib

    @contextlib.contextmanager
    def context():
        address, workers = getattr(args, "dask", None), getattr(args, "workers", None)
        if address is None and workers is None:
            yield None
            return
        from levier.engine.dask import connect

        try:
            client = connect(address, workers)
        except ImportError as exc:
            raise InputError("--dask" if address else "--workers", [str(exc)]) from None
        try:
            yield client
        finally:
            cluster = client.cluster if address is None else None
            client.close()
            if cluster is not None:
                cluster.close()

    return context()


def _bar(args: argparse.Namespace, description: str | None = None):
    """The progress bar of a command (on a terminal only, not with --quiet); a context that
    closes it before the command prints its results."""
    from levier.present.progress import terminal_bar

    return terminal_bar(quiet=args.quiet, description=description)


def _lab_errors(args: argparse.Namespace, what: str | None = None):
    """Turn a lab call's ValueError / KeyError (a user's mistake) into an input error, exit 2,
    naming ``what`` (an option) or else the scenario file."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise InputError(what or args.scenario, [str(message)]) from None

    return guard()


def _unique(pairs, what: str) -> dict:
    """``dict(pairs)``, refusing a key given twice (the later would silently replace the earlier)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise InputError(what, [f"{key!r} is given twice: give each once"])
        out[key] = value
    return out


def _pairs(items: Sequence[str], what: str) -> dict[str, tuple[float, float]]:
    pairs = []
    for item in items:
        key, sep, spec = item.partition("=")
        parts = spec.split(":")
        try:
            if not sep or len(parts) != 2:
                raise ValueError
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(what, [f"{item!r}: expected KEY=LO:HI"]) from None
        if not lo < hi:
            raise InputError(what, [f"{item!r}: LO must be below HI"])
        pairs.append((key.strip(), (lo, hi)))
    return _unique(pairs, what)


def _variant(text: str) -> tuple[str, dict]:
    import re

    from levier.model.scenario import parse_assignment

    name, sep, rest = text.partition(":")
    if not sep or not name.strip() or not rest.strip():
        raise InputError("--variant", [f"{text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]"])
    items = re.split(r",(?=\s*[A-Za-z_][\w.\[\]]*\s*=)", rest)
    try:
        return name.strip(), _unique((parse_assignment(item.strip()) for item in items), f"--variant {name.strip()}")
    except ScenarioError as exc:  # parse_assignment speaks of --set, its usual caller
        raise InputError("--variant", [f"{text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]"]) from exc


def _cmd_compare(args: argparse.Namespace) -> int:
    from levier.analysis.lab import compare

    scenario = _load(args.scenario, args.overrides)
    variants = _unique((_variant(v) for v in args.variants), "--variant") or None
    with _lab_errors(args), _cluster(args) as client, _bar(args) as bar:
        result = compare(scenario, variants, paths=args.paths, seed=args.seed, statistics=args.metrics, client=client,
                         progress=bar)
    from levier.present.display import format_number
    from levier.present.i18n import counted, t

    lang = _lang(args)
    n = result.results[result.baseline].n_paths
    print(t("{name}: {count} variant(s) against the baseline, {paths} each, common random numbers", lang,
            name=scenario.meta.name, count=len(result.results) - 1, paths=counted(n, "path", lang)))
    for name, overrides in result.overrides.items():
        changes = ", ".join(f"{k} = {_toml_like(v)}" for k, v in overrides.items()) or t("(no change)", lang)
        print(f"  {name}: {changes}")
    print()
    print(_comparison_table(result, lang))
    return EXIT_OK


def _toml_like(value) -> str:
    """A value as a scenario file writes it (true, not True)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _cmd_stress(args: argparse.Namespace) -> int:
    from levier.analysis.stress import stress

    scenario = _load(args.scenario, args.overrides)
    with _lab_errors(args), _cluster(args) as client:
        result = stress(scenario, args.stresses, paths=args.paths, seed=args.seed, statistics=args.metrics,
                        client=client)
    from levier.present.display import format_number
    from levier.present.i18n import counted, t

    lang = _lang(args)
    n = result.results[result.baseline].n_paths
    print(t("{name}: {count} stress(es) against the baseline, {paths} each, common random numbers", lang,
            name=scenario.meta.name, count=len(result.results) - 1, paths=counted(n, "path", lang)))
    for name, described in result.overrides.items():
        print(f"  {name}: {described['stress']}")
    print()
    print(_comparison_table(result, lang))
    return EXIT_OK


def _comparison_table(result, lang: str = "en") -> str:
    """The paired differences of a :class:`~levier.analysis.lab.Comparison`, as a plain table in
    ``lang`` (its labels and number separators; the statistics keep their spec names)."""
    from levier.present.display import format_number
    from levier.present.i18n import t

    def number(x) -> str:
        return format_number(x, lang=lang)

    header = [t(h, lang) for h in ("statistic", "variant", "baseline", "variant value", "difference", "95 % interval",
                                   "CRN variance ÷")]
    rows = []
    for (spec, name), row in result.table.iterrows():
        if name == result.baseline:
            continue
        base = result.table.loc[(spec, result.baseline), "value"]
        reduction = row["variance_reduction"]
        rows.append([spec, name, number(base), number(row["value"]),
                     ("+" if row["difference"] > 0 else "") + number(row["difference"]),
                     "–" if math.isnan(row["low"]) else f"{number(row['low'])} – {number(row['high'])}",
                     t("identical", lang) if reduction == float("inf") else number(reduction)])
    return _plain_table(header, rows)


def _cmd_breakeven(args: argparse.Namespace) -> int:
    from levier.analysis.breakeven import breakeven

    scenario = _load(args.scenario, args.overrides)
    with _lab_errors(args), _cluster(args) as client, _bar(args) as bar:
        b = breakeven(scenario, paths=args.paths, seed=args.seed, bounds=(args.low, args.high), client=client,
                      progress=bar)
    from levier.present.i18n import counted, format_fixed, format_rate, t

    lang = _lang(args)
    rate, se, low, high = (format_rate(x, 3, lang) for x in (b.rate, b.se, b.low, b.high))  # "–": one path, no error
    print(t("{name}: break-even loan rate {rate} ± {se} (95 %: {low} – {high}), {paths}, common random numbers",
            lang, name=scenario.meta.name, rate=rate, se=se, low=low, high=high, paths=counted(b.paths, "path", lang)))
    print(t("  the fund's expected net cost is zero at that rate (discounted at {discount}); each point of rate moves "
            "it by {slope} €", lang, discount=format_rate(scenario.simulation.discount_rate, 2, lang),
            slope=format_fixed(abs(b.slope) / 100, 0, lang)))
    return EXIT_OK


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join([header[0].ljust(widths[0]), header[1].ljust(widths[1])]
                       + [h.rjust(w) for h, w in zip(header[2:], widths[2:])])]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join([str(r[0]).ljust(widths[0]), str(r[1]).ljust(widths[1])]
                               + [str(c).rjust(w) for c, w in zip(r[2:], widths[2:])]))
    return "\n".join(lines)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from levier.present.display import format_number
    from levier.analysis.lab import parse_grid, sweep

    scenario = _load(args.scenario, args.overrides)
    if args.out is not None:
        from levier.present.output import check_file_target

        if Path(args.out).suffix.lower() != ".csv":
            raise InputError(args.out, ["the sweep's table is written as CSV: name it FILE.csv"])
        check_file_target(args.out, force=args.force)  # refuse before the sweep's simulations
    objectives = None
    if args.objectives:
        senses = []
        for item in args.objectives:
            spec, _, sense = item.rpartition(":")
            if not spec or sense not in ("max", "min"):
                raise InputError("--objective", [f"{item!r}: expected SPEC:max or SPEC:min"])
            senses.append((spec, sense))
        objectives = _unique(senses, "--objective")
    if args.grid and (args.design or args.n or args.bounds):
        raise InputError("--grid", ["give either --grid, or --design with --n and --bounds, not both"])
    with _lab_errors(args, "--grid"):
        grid = _unique((parse_grid(g) for g in args.grid), "--grid") if args.grid else None
    with _lab_errors(args), _cluster(args) as client, _bar(args) as bar:
        result = sweep(scenario, grid, design=args.design, n=args.n, bounds=_pairs(args.bounds, "--bounds") or None,
                       progress=bar,
                       paths=args.paths, seed=args.seed, objectives=objectives, client=client)
    table = result.table
    shown = result.parameters + [c for c in table.columns if c not in result.parameters and not c.endswith("_se")
                                 and c != "pareto"]
    import pandas as pd

    from levier.present.i18n import localise, t

    lang = _lang(args)

    def cell(column: str, value) -> str:  # a whole-number parameter as the whole number it ran with
        if pd.api.types.is_integer_dtype(table[column]):
            return localise(f"{int(value):,}", lang)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format_number(value, lang=lang)
        return str(value)

    header = [t("point", lang), ""] + shown
    rows = [[str(i), "*" if row["pareto"] else ""] + [cell(c, row[c]) for c in shown] for i, row in table.iterrows()]
    print(t("{name}: {n} points on common random numbers; * = Pareto frontier of ", lang, name=scenario.meta.name,
            n=len(table)) + ", ".join(f"{k} ({t(v, lang)})" for k, v in result.objectives.items()))
    print(_plain_table(header, rows))
    if args.out is not None:
        from levier.present.output import write_csv_atomic

        write_csv_atomic(table, Path(args.out), force=args.force)
        from levier.present.i18n import t

        print(t("table written to {out}", _lang(args), out=args.out))
    return EXIT_OK


def _cmd_optimise(args: argparse.Namespace) -> int:
    import re

    from levier.present.display import format_number
    from levier.analysis.lab import optimise

    scenario = _load(args.scenario, args.overrides)
    constraints = {}
    for item in args.constraints:
        match = re.match(r"^\s*(\S+?)\s*(<=|>=)\s*(\S+)\s*$", item)
        if not match:
            raise InputError("--subject-to", [f"{item!r}: expected SPEC<=VALUE or SPEC>=VALUE"])
        constraints[match.group(1)] = f"{match.group(2)} {match.group(3)}"
    with _lab_errors(args), _cluster(args) as client, _bar(args) as bar, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "no policy tried meets the constraints")  # said below, and by the exit status
        found = optimise(scenario, _pairs(args.over, "--over"), maximise=args.maximise, minimise=args.minimise,
                         progress=bar,
                         subject_to=constraints, paths=args.paths, seed=args.seed, check_paths=args.check_paths,
                         maxiter=args.maxiter, client=client)
    from levier.present.i18n import localise, t

    lang = _lang(args)

    def number(x, digits: int = 3) -> str:
        return format_number(x, digits, lang)

    if found.feasible:
        print(t("{name}: best policy found over {n} evaluated points", lang, name=scenario.meta.name,
                n=len(found.evaluations)))
    else:
        print(t("{name}: no policy tried meets the constraints ({n} evaluated points); the one that misses them least:",
                lang, name=scenario.meta.name, n=len(found.evaluations)))
    for key, value in found.x.items():
        print(f"  {key} = {number(value, 6) if isinstance(value, float) else value}")
    print()
    header = [t(h, lang) for h in ("statistic", "role", "value ± se", "fresh paths ± se", "bound", "holds (fresh)")]
    rows = []
    for spec, row in found.table.iterrows():
        holds = "" if row["role"] != "constraint" else (f"{t('yes' if row['satisfied'] else 'no', lang)} "
                                                        f"({t('yes' if row['check_satisfied'] else 'no', lang)})")
        bound = localise(row.get("bound", "") if isinstance(row.get("bound", ""), str) else "", lang)
        rows.append([spec, t(row["role"], lang), f"{number(row['value'])} ± {number(row['se'])}",
                     f"{number(row['check'])} ± {number(row['check_se'])}", bound, holds])
    print(_plain_table(header, rows))
    return EXIT_OK if found.feasible else EXIT_NO_ANSWER


def _cmd_explain(args: argparse.Namespace) -> int:
    from levier.present.display import format_number
    from levier.analysis.lab import sensitivity, tornado

    scenario = _load(args.scenario, args.overrides)
    ranges = _pairs(args.ranges, "--range")
    if args.sobol:  # say so before minutes of tornado runs, not after
        try:
            import SALib  # noqa: F401
        except ImportError:
            raise InputError("--sobol", [f"Sobol' indices need SALib: {install_hint('SALib', 'lab')}"]) from None
    with _lab_errors(args), _cluster(args) as client, _bar(args, "tornado") as bar:
        table = tornado(scenario, ranges, args.output, paths=args.paths, seed=args.seed, client=client,
                        progress=bar).table
    from levier.present.i18n import t

    lang = _lang(args)

    def number(value) -> str:
        return format_number(value, lang=lang)

    print(t("{name}: sensitivity of {output} (common random numbers)", lang, name=scenario.meta.name,
            output=args.output))
    print(t("base value {value}", lang, value=number(table["base"].iloc[0])))
    header = [t(h, lang) for h in ("parameter", "range", "at low", "at high", "swing", "± se")]
    rows = [[key, f"{number(r['low_value'])} – {number(r['high_value'])}", number(r["low"]),
             number(r["high"]), number(r["swing"]), number(r["swing_se"])]
            for key, r in table.iterrows()]
    print(_plain_table(header, rows))
    if args.sobol:
        try:
            with _lab_errors(args), _cluster(args) as client, _bar(args, "Sobol' indices") as bar:
                indices = sensitivity(scenario, ranges, args.output, n=args.n, paths=args.paths, seed=args.seed,
                                      progress=bar,
                                      client=client).table
        except ImportError as exc:
            raise InputError("--sobol", [str(exc)]) from None
        print()
        header = [t(h, lang) if h else h for h in ("parameter", "", "first order S1", "± 95 %", "total ST", "± 95 %")]
        rows = [[key, "", number(r["S1"]), number(r["S1_conf"]), number(r["ST"]),
                 number(r["ST_conf"])] for key, r in indices.iterrows()]
        print(_plain_table(header, rows))
    return EXIT_OK


def _cmd_compile(args: argparse.Namespace) -> int:
    from levier.present.i18n import format_fixed, t
    from levier.warmup import EngineBuild, compile_engine

    lang = _lang(args)

    def said(build: EngineBuild) -> str:
        seconds = format_fixed(build.seconds, 1, lang)
        if build.cache is None:
            return t("compiled the engine in {seconds} s, in memory only: no folder can keep it (set NUMBA_CACHE_DIR "
                     "to a writable one); each process will compile it again", lang, seconds=seconds)
        if not build.compiled:
            return t("the engine was compiled already: loaded from {cache} in {seconds} s", lang, cache=build.cache,
                     seconds=seconds)
        return t("compiled the engine in {seconds} s, kept in {cache}: later processes load it", lang,
                 seconds=seconds, cache=build.cache)

    if args.dask is None:
        build = compile_engine()
        print(f"levier: {said(build)}")
        return EXIT_OK if build.cache is not None else EXIT_INTERNAL
    with _cluster(args) as client:
        builds = client.run(compile_engine)  # {worker address: EngineBuild}, each in its own process
    for worker, build in sorted(builds.items()):
        print(f"{worker}: {said(build)}")
    return EXIT_OK if all(b.cache is not None for b in builds.values()) else EXIT_INTERNAL


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from levier.engine.run import simulate
    from levier.present.i18n import counted, format_number, t
    from levier.present.report import result_from_folder, write_report

    if (args.scenario is None) == (args.folder is None):
        raise InputError("levier report", ["give a scenario file or --from DIR (one of them)"])
    if args.folder:  # the folder's run is replayed as it was: these would be silently ignored
        given = [name for name, value in (("--paths", args.paths is not None), ("--seed", args.seed is not None),
                                          ("--set", bool(args.overrides)), ("--instruments", args.instruments)) if value]
        if given:
            raise InputError("levier report --from", [f"{', '.join(given)}: the folder's run is replayed as it was "
                                                      "(its paths, seed and scenario); give a scenario file instead"])
    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise InputError(args.out, ["the report is an HTML page: name it FILE.html"])
    from levier.present.output import check_file_target

    out = check_file_target(args.out, force=args.force)  # refuse before the report's simulation
    try:
        from levier.present.plots import pyplot

        pyplot()
    except ImportError as exc:
        raise InputError("levier report", [str(exc)]) from None
    from levier.present.progress import terminal_bar

    bar = terminal_bar(quiet=args.quiet)
    try:
        if args.folder:
            result = result_from_folder(args.folder, progress=bar)
        else:
            scenario = _load(args.scenario, args.overrides)
            with _cluster(args) as client:
                result = simulate(scenario, paths=args.paths, seed=args.seed, progress=bar, client=client)
    finally:
        bar.close()
    comparison = None
    if args.instruments:
        from levier.analysis.instruments import compare_instruments

        with _lab_errors(args), _cluster(args) as client:
            comparison = compare_instruments(scenario, paths=args.paths, seed=args.seed, client=client)
    lang = _lang(args)
    write_report(result, out, force=args.force, lang=lang, comparison=comparison)
    print(t("report written to {out} ({size} kB, {paths})", lang, out=out,
            size=format_number(round(out.stat().st_size / 1e3), lang=lang), paths=counted(result.n_paths, "path", lang)))
    return EXIT_OK


class _Terminated(BaseException):
    """Raised by the SIGTERM handler: unwinds (cleaning up partial outputs) like Ctrl-C."""


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``levier`` console script; returns the exit code."""
    import signal

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage says what it takes, not the top-level one
        _chosen(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")

    def terminated(signum, frame):  # SIGTERM: unwind like Ctrl-C, so that nothing partial is left
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminated) if threading_main() else None
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    from levier.errors import LevierWarning

    handlers = {"run": _cmd_run, "validate": _cmd_validate, "calibrate": _cmd_calibrate,
                "check-calibration": _cmd_check_calibration, "tail": _cmd_tail, "compare": _cmd_compare, "stress": _cmd_stress,
                "breakeven": _cmd_breakeven,
                "sweep": _cmd_sweep, "optimise": _cmd_optimise, "explain": _cmd_explain, "report": _cmd_report,
                "compile": _cmd_compile}
    caught: list[warnings.WarningMessage] = []
    try:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", LevierWarning)
                return handlers[args.command](args)
        finally:
            # shown once the recording has stopped: inside it, showwarning is the recorder, and
            # showing a warning there recorded it again, without end
            for w in caught:  # levier's own warnings are notes for the user; others as usual
                if issubclass(w.category, LevierWarning):
                    print(f"levier: note: {w.message}", file=sys.stderr)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    except InputError as exc:
        print(f"levier: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except _Terminated:
        print("levier: terminated (SIGTERM); nothing was written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("levier: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`levier run ... | head`): not an error of ours
        # as the Python docs advise: point stdout at devnull so the flush at exit cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

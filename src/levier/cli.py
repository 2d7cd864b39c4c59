"""The ``levier`` command: a thin layer that parses, calls the public functions, and prints.

Exit codes: 0 success, 2 bad input (scenario, loan book, options, output folder), 1 an internal
error (a bug: please report it with the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .errors import InputError, Problem, ScenarioError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


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


_positive_int = _whole_number(1)
_seed = _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="levier",
        description="Monte Carlo simulation of a development fund's quasi-equity loans: "
        "bank leverage, correlated defaults, recoveries, cash flows and jobs per euro.",
    )
    parser.add_argument("--version", action="version", version=f"levier {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate a scenario and print its key figures",
                         description="Simulate a scenario file and print its key figures.")
    run.add_argument("scenario", help="scenario TOML file")
    run.add_argument("--paths", type=_positive_int, help="Monte Carlo paths (default: simulation.paths)")
    run.add_argument("--seed", type=_seed, help="seed (default: simulation.seed)")
    run.add_argument("--chunk-size", type=_positive_int, help="paths held in memory at once (never changes results)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a scenario key, e.g. --set policy.loan_per_job=10000 (repeatable)")
    run.add_argument("--out", metavar="DIR", help="write paths, summary, by-year, by-sector tables and meta.json to DIR")
    run.add_argument("--force", action="store_true", help="replace DIR if it exists and is not empty")
    run.add_argument("--loss-above", dest="loss_above", type=_amount, action="append", default=[], metavar="EUROS",
                     help="also print the probability that the fund loses more than EUROS (repeatable)")
    run.add_argument("--format", choices=("table", "json"), default="table", help="how to print the summary")

    validate = sub.add_parser("validate", help="check a scenario file (and its loan book) and say what is wrong",
                              description="Check a scenario file and its loan book; exit 2 if anything is wrong.")
    validate.add_argument("scenario", help="scenario TOML file")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override a scenario key before checking (repeatable)")
    return parser


def _load(path: str, overrides: Sequence[str]):
    from .scenario import load_scenario, parse_assignment

    scenario = load_scenario(path)
    if overrides:
        pairs = dict(parse_assignment(item) for item in overrides)
        scenario = scenario.with_overrides(pairs)
    return scenario


def _cmd_run(args: argparse.Namespace) -> int:
    from .display import run_report
    from .engine import simulate
    from .output import has_parquet, write_result

    scenario = _load(args.scenario, args.overrides)
    if args.out:
        # refuse a non-empty output folder before spending minutes on the simulation
        from pathlib import Path

        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
            from .errors import OutputError

            raise OutputError(str(out), ["exists and is not empty; choose another folder or pass --force to replace it"])
    result = simulate(scenario, paths=args.paths, seed=args.seed, chunk_size=args.chunk_size)
    exceed = {x: result.exceedance_probability("fund_loss", x) for x in args.loss_above}
    if args.format == "json":
        payload = {
            "meta": result.meta,
            "summary": json.loads(result.summary().to_json(orient="index")),
            "ratios": json.loads(result.ratios().to_json(orient="index")),
            "fund_loss_exceedance": [{"threshold": x, "probability": p, "mc_se": se} for x, (p, se) in exceed.items()],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(run_report(result))
        for x, (p, se) in exceed.items():
            print(f"P(fund loss > {x:,.0f} €) = {p:.4f} ± {se:.4f} (MC se)")
    if args.out:
        files = write_result(result, args.out, force=args.force)
        note = "" if has_parquet() else " (CSV only: install levier[parquet] for Parquet copies)"
        print(f"wrote {len(files)} files to {args.out}{note}", file=sys.stderr)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from .portfolio import build_portfolio

    scenario = _load(args.scenario, args.overrides)
    portfolio = build_portfolio(scenario)
    book = int(portfolio.in_book.sum())
    print(f"{args.scenario}: valid — {scenario!r}; {book} loans in the loan book")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``levier`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": _cmd_run, "validate": _cmd_validate}
    try:
        return handlers[args.command](args)
    except InputError as exc:
        print(f"levier: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("levier: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Projects as arrays: the candidate pipeline (drawn once) and the loan book (read and checked).

A :class:`Portfolio` holds what is known about each project before any policy applies:
sector, territory, investment, promoter equity, planned jobs, annual PD and entry year. Loan-book
rows come first (in file order), then pipeline projects in order of arrival. The policy's terms
are computed from it by :mod:`levier.model.terms`, so that two policies see the same projects.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas import DataFrame

from levier import elementwise
from levier.errors import LoanBookError, Problem, install_hint, not_utf8
from levier.model.scenario import MAX_EUROS, Scenario
from levier.streams import coerce_seed, pipeline_generator

__all__ = ["LOAN_BOOK_COLUMNS", "LOAN_BOOK_OPTIONAL", "Portfolio", "build_portfolio", "check_portfolio", "portfolio_key",
           "read_loan_book", "read_table"]

LOAN_BOOK_COLUMNS = ("firm_id", "sector", "territory", "investment", "equity", "jobs_planned", "entry_year")
LOAN_BOOK_OPTIONAL = ("annual_pd", "loan_amount", "rate", "maturity_years", "grace_years", "bank_amount",
                      "outstanding", "years_since_entry", "status")
#: Values of the loan book's ``status`` column (blank: performing).
LOAN_STATUSES = ("performing", "watch")
_MAX_LISTED = 30


@dataclass(frozen=True, eq=False)
class Portfolio:
    """The projects of a scenario, one entry per project in every array.

    Attributes
    ----------
    firm_id : ndarray of str
    sector, territory : ndarray of int
        Indices into ``Scenario.sectors`` / ``Scenario.territories``.
    investment, equity, jobs : ndarray of float
        Total investment I, promoter equity E, planned jobs J.
    pd : ndarray of float
        Unconditional annual default probability h.
    entry : ndarray of int
        Simulation year of entry (1 = first simulated year; loan-book loans may be ≤ 0).
    in_book : ndarray of bool
        Loans already granted (no offer, no bank decision).
    loan_amount, bank_amount, rate, maturity, grace : ndarray of float
        Loan-book terms; NaN where the book is silent (the policy's terms apply).
    outstanding : ndarray of float
        Fund principal still owed at the valuation date (the start of year 1) by a loan granted
        before it; NaN where the book is silent (the contractual schedule's).
    watch : ndarray of bool
        A loan-book file already on watch (``status = watch``).
    """

    firm_id: np.ndarray
    sector: np.ndarray
    territory: np.ndarray
    investment: np.ndarray
    equity: np.ndarray
    jobs: np.ndarray
    pd: np.ndarray
    entry: np.ndarray
    in_book: np.ndarray
    loan_amount: np.ndarray
    bank_amount: np.ndarray
    rate: np.ndarray
    maturity: np.ndarray
    grace: np.ndarray
    outstanding: np.ndarray
    watch: np.ndarray
    sector_names: list[str] = field(default_factory=list)
    territory_names: list[str] = field(default_factory=list)
    #: What the projects were drawn from (:func:`portfolio_key` of the scenario; None: built by hand)
    built_from: dict | None = None

    def __len__(self) -> int:
        return int(self.firm_id.shape[0])

    def to_frame(self) -> DataFrame:  # (the class's own ``pd`` field shadows the module here)
        """One row per project, with sector and territory names."""
        return pd.DataFrame(
            {
                "firm_id": self.firm_id,
                "sector": np.asarray(self.sector_names, dtype=object)[self.sector] if len(self) else [],
                "territory": np.asarray(self.territory_names, dtype=object)[self.territory] if len(self) else [],
                "investment": self.investment,
                "equity": self.equity,
                "jobs_planned": self.jobs,
                "annual_pd": self.pd,
                "entry_year": self.entry,
                "in_book": self.in_book,
            }
        )


def build_portfolio(scenario: Scenario) -> Portfolio:
    """The scenario's projects: the loan book (if any) followed by the drawn pipeline.

    The pipeline is drawn from ``pipeline.seed`` (default: ``simulation.seed``), not from the
    seed of a run: the candidate projects are part of the scenario, the Monte Carlo draws are not.

    Raises
    ------
    LoanBookError
        If the loan book cannot be read or has bad rows (all of them are listed).
    """
    parts = []
    if scenario.loan_book is not None:
        parts.append(read_loan_book(scenario))
    if scenario.pipeline is not None:
        parts.append(_draw_pipeline(scenario))
    return _concat(parts, scenario)


def _draw_pipeline(s: Scenario) -> dict[str, np.ndarray]:
    p = s.pipeline
    assert p is not None
    seed = p.seed if p.seed is not None else s.simulation.seed
    rng = pipeline_generator(coerce_seed(seed if seed is not None else 0))
    n = p.projects_per_year * p.years
    entry = np.repeat(np.arange(1, p.years + 1), p.projects_per_year)
    # One standard normal per project and attribute, drawn in a fixed order, so that changing
    # a parameter (a sector's PD, the investment median) moves projects but keeps their draws.
    z_inv, z_jobs, z_eq, z_pd = (rng.standard_normal(n) for _ in range(4))
    u_sector, u_territory = rng.random(n), rng.random(n)

    investment = p.investment_median * elementwise.exp(p.investment_sigma * z_inv)
    jobs = np.maximum(1.0, np.round(p.jobs_per_million * investment / 1e6 * elementwise.exp(p.jobs_sigma * z_jobs)))
    equity_ratio = np.clip(p.equity_ratio_mean + p.equity_ratio_sd * z_eq, 0.0, 0.99)
    sector = _categorical(u_sector, s.sector_names, p.sector_mix)
    territory = _categorical(u_territory, s.territory_names, p.territory_mix)
    base_pd = np.array([x.annual_pd for x in s.sectors])[sector]
    multiplier = np.array([t.pd_multiplier for t in s.territories])[territory]
    # Mean-preserving lognormal spread of project PDs around the sector's (screening bites on it).
    spread = elementwise.exp(p.pd_sigma * z_pd - 0.5 * p.pd_sigma**2)
    pd_ = np.clip(base_pd * multiplier * spread, 0.0, 0.999)
    nan = np.full(n, np.nan)
    width = len(str(max(n, 1)))
    return {
        "firm_id": np.array([f"P{k:0{width}d}" for k in range(1, n + 1)], dtype=object),
        "sector": sector,
        "territory": territory,
        "investment": investment,
        "equity": equity_ratio * investment,
        "jobs": jobs,
        "pd": pd_,
        "entry": entry,
        "in_book": np.zeros(n, dtype=bool),
        "loan_amount": nan,
        "bank_amount": nan.copy(),
        "rate": nan.copy(),
        "maturity": nan.copy(),
        "grace": nan.copy(),
        "outstanding": nan.copy(),
        "watch": np.zeros(n, dtype=bool),
    }


def _categorical(u: np.ndarray, names: list[str], mix: dict[str, float] | None) -> np.ndarray:
    weights = np.array([(mix or {}).get(name, 0.0) for name in names]) if mix else np.ones(len(names))
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, u, side="right").clip(0, len(names) - 1)


def read_loan_book(scenario: Scenario) -> dict[str, np.ndarray]:
    """Read and check the scenario's loan book; every bad row is reported, none dropped.

    Returns
    -------
    dict of arrays
        The loan book's columns as :class:`Portfolio` fields.

    Raises
    ------
    LoanBookError
        Naming the file, each bad line (CSV) or row (Parquet), the column and what was expected.
    """
    path = scenario.loan_book_path
    assert path is not None and scenario.loan_book is not None
    _say_if_outside(scenario, path)
    frame, unit = _read_table(path)
    lines = frame.index.to_numpy()  # each loan's line (or Excel row) number, for messages
    frame = frame.reset_index(drop=True)
    source = str(path)
    missing = [c for c in LOAN_BOOK_COLUMNS if c not in frame.columns]
    if missing:
        raise LoanBookError(
            source,
            [f"missing column(s) {', '.join(missing)}; required: {', '.join(LOAN_BOOK_COLUMNS)}"],
        )
    unknown = [c for c in frame.columns if c not in LOAN_BOOK_COLUMNS + LOAN_BOOK_OPTIONAL]
    if unknown:
        raise LoanBookError(
            source,
            [f"unknown column(s) {', '.join(map(str, unknown))}; optional columns are: {', '.join(LOAN_BOOK_OPTIONAL)}"],
        )
    if len(frame) == 0:
        raise LoanBookError(source, ["has no rows"])

    bad: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, message: str) -> None:
        for i in np.flatnonzero(mask):
            bad.setdefault(int(i), []).append(message)

    ids = frame["firm_id"].astype("string").str.strip()
    flag(ids.isna().to_numpy() | (ids == "").fillna(True).to_numpy(), "firm_id: empty")
    dup = ids.duplicated(keep="first").fillna(False).to_numpy() & ids.notna().to_numpy()
    flag(dup, "firm_id: duplicate (ids must be unique)")

    sector_codes = _codes(frame["sector"], scenario.sector_names, "sector", flag)
    territory_codes = _codes(frame["territory"], scenario.territory_names, "territory", flag)

    def number(col: str, *, required: bool, lo: float | None = None, lo_open: bool = False,
               hi: float | None = None, hi_open: bool = False, integer: bool = False) -> np.ndarray:
        if col not in frame.columns:
            return np.full(len(frame), np.nan)
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        blank = raw.isna().to_numpy() | (raw.astype("string").str.strip() == "").fillna(True).to_numpy()
        not_number = ~blank & np.isnan(values)
        flag(not_number, f"{col}: expected a number, got {{}}")
        if required:
            flag(blank, f"{col}: empty (required)")
        ok = np.isfinite(values)
        flag(~blank & ~not_number & ~ok, f"{col}: expected a finite number")
        expect = _range_text(lo, lo_open, hi, hi_open, integer)
        with np.errstate(invalid="ignore"):
            out_of_range = np.zeros(len(values), dtype=bool)
            if lo is not None:
                out_of_range |= (values <= lo) if lo_open else (values < lo)
            if hi is not None:
                out_of_range |= (values >= hi) if hi_open else (values > hi)
            if integer:
                out_of_range |= values != np.round(values)
        flag(ok & out_of_range, f"{col}: expected {expect}, got {{}}")
        return values

    investment = number("investment", required=True, lo=0.0, lo_open=True, hi=MAX_EUROS)
    equity = number("equity", required=True, lo=0.0, hi=MAX_EUROS)
    jobs = number("jobs_planned", required=True, lo=0.0, hi=1e6)
    since = number("years_since_entry", required=False, lo=0.0, hi=100.0, integer=True)
    # a mid-life loan may say when it was granted by its age at the valuation date instead
    entry_year = number("entry_year", required="years_since_entry" not in frame.columns, integer=True)
    if "years_since_entry" in frame.columns:
        flag(np.isnan(entry_year) & np.isnan(since) & ~_filled(frame, "entry_year"),
             "entry_year: empty (required unless years_since_entry is given)")
    pd_ = number("annual_pd", required=False, lo=0.0, hi=1.0, hi_open=True)
    loan = number("loan_amount", required=False, lo=0.0, hi=MAX_EUROS)
    rate = number("rate", required=False, lo=0.0, hi=1.0, hi_open=True)
    maturity = number("maturity_years", required=False, lo=1.0, hi=50.0, integer=True)
    grace = number("grace_years", required=False, lo=0.0, hi=49.0, integer=True)
    bank = number("bank_amount", required=False, lo=0.0, hi=MAX_EUROS)
    outstanding = number("outstanding", required=False, lo=0.0, hi=MAX_EUROS)
    watch = _statuses(frame, flag)

    with np.errstate(invalid="ignore"):
        flag(equity > investment, "equity: must not exceed investment")
        flag(loan > investment, "loan_amount: must not exceed investment")
        flag(grace >= np.where(np.isnan(maturity), scenario.policy.maturity_years, maturity),
             "grace_years: must be less than maturity_years")
    first = scenario.loan_book.first_year
    entry = entry_year - (first - 1) if first is not None else entry_year
    with np.errstate(invalid="ignore"):
        flag(~np.isnan(since) & ~np.isnan(entry) & (entry != 1 - since),
             "years_since_entry: disagrees with entry_year (a loan granted k years before the valuation "
             "date enters in simulation year 1 - k)")
    entry = np.where(np.isnan(since), entry, 1 - since)
    contractual = np.where(np.isnan(maturity), scenario.policy.maturity_years, maturity)
    with np.errstate(invalid="ignore"):
        flag(~np.isnan(outstanding) & (entry >= 1),
             "outstanding: given for a loan not yet lent (entry in simulation year 1 or later)")
        flag(outstanding > loan, "outstanding: must not exceed loan_amount")
        # a blank loan_amount is the policy's offer, min(loan_cap, loan_per_job x jobs, share x investment)
        pol = scenario.policy
        offer = np.minimum(np.minimum(pol.loan_cap, pol.loan_per_job * jobs), pol.max_share_of_investment * investment)
        flag(np.isnan(loan) & (outstanding > offer),
             "outstanding: must not exceed the loan, here the policy's offer (loan_amount is blank)")
        flag((outstanding > 0) & (1 - entry >= contractual),
             "outstanding: still owed by a loan past its maturity (years since entry >= maturity_years)")
    horizon = scenario.simulation.horizon_years
    with np.errstate(invalid="ignore"):
        late = entry > horizon
        calendar = late & (entry_year >= 1900) if first is None else np.zeros(len(entry), dtype=bool)
    flag(late & ~calendar, f"entry_year: after the horizon (simulation year > {horizon})")
    if calendar.any():
        # a calendar year read as a simulation year: say which key makes it one
        example = int(np.nanmin(entry_year[calendar]))
        flag(calendar, f"entry_year: after the horizon (simulation year > {horizon}); it looks like a calendar "
                       f"year: set first_year in [loan_book] to the calendar year of simulation year 1 "
                       f"(e.g. first_year = {example})")

    if bad:
        problems = []
        for i in sorted(bad)[:_MAX_LISTED]:
            where = f"{unit} {lines[i]}"
            texts = [m.format(repr(_cell(frame, m, i))) if "{}" in m else m for m in bad[i]]
            problems.append(Problem(where, "; ".join(texts)))
        if len(bad) > _MAX_LISTED:
            problems.append(Problem("", f"... and {len(bad) - _MAX_LISTED} more bad {unit}s"))
        raise LoanBookError(source, problems)

    s_pd = np.array([x.annual_pd for x in scenario.sectors])[sector_codes]
    multiplier = np.array([t.pd_multiplier for t in scenario.territories])[territory_codes]
    pd_ = np.where(np.isnan(pd_), np.clip(s_pd * multiplier, 0.0, 0.999), pd_)
    if scenario.vigilance is not None:  # a file on watch is riskier, by the scenario's judgement
        pd_ = np.where(watch, np.clip(pd_ * scenario.vigilance.watch_pd_multiplier, 0.0, 0.999), pd_)
    # A canonical order (by entry, terms, sector, territory, PD, then firm id): the book's
    # loans that share a schedule and a default class sit side by side, which the engine's
    # per-class work relies on, and the results do not depend on the order of the file's rows.
    order = np.lexsort((ids.to_numpy(dtype=str), pd_, territory_codes, sector_codes,
                        np.nan_to_num(rate, nan=-1.0), np.nan_to_num(grace, nan=-1.0),
                        np.nan_to_num(maturity, nan=-1.0), entry))
    return {key: values[order] for key, values in {
        "firm_id": ids.to_numpy(dtype=object),
        "sector": sector_codes,
        "territory": territory_codes,
        "investment": investment,
        "equity": equity,
        "jobs": jobs,
        "pd": pd_,
        "entry": entry.astype(np.int64),
        "in_book": np.ones(len(frame), dtype=bool),
        "loan_amount": loan,
        "bank_amount": bank,
        "rate": rate,
        "maturity": maturity,
        "grace": grace,
        "outstanding": outstanding,
        "watch": watch,
    }.items()}


def _filled(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Rows whose ``col`` is not blank."""
    raw = frame[col]
    return ~(raw.isna().to_numpy() | (raw.astype("string").str.strip() == "").fillna(True).to_numpy())


def _statuses(frame: pd.DataFrame, flag) -> np.ndarray:
    """The ``status`` column as "on watch" (blank is performing); other values are flagged."""
    if "status" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    text = frame["status"].astype("string").str.strip().str.lower().fillna("")
    flag(~text.isin(["", *LOAN_STATUSES]).to_numpy(),
         f"status: expected one of {', '.join(LOAN_STATUSES)} (or blank), got {{}}")
    return (text == "watch").to_numpy()


def _say_if_outside(scenario: Scenario, path: Path) -> None:
    """Warn when the loan book (links resolved) lies outside the scenario's folder: levier reads
    only the file the scenario names, but a path like ``../../x`` or a link out of the folder
    should be spelled out to the user, not followed silently."""
    import warnings

    from levier.errors import OutsideFolderWarning

    folder = Path(scenario._base_dir).resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(folder):
        warnings.warn(f"the loan book {resolved} is outside the scenario's folder {folder}", OutsideFolderWarning,
                      stacklevel=3)


#: Columns read as numbers (the others are names).
_NUMERIC = ("investment", "equity", "jobs_planned", "entry_year", "annual_pd", "loan_amount", "rate",
            "maturity_years", "grace_years", "bank_amount", "outstanding", "years_since_entry")
#: Columns in euros: an amount there is never written to the thousandth of a euro.
_EUROS = ("investment", "equity", "loan_amount", "bank_amount", "outstanding")
_EXCEL = (".xlsx", ".xlsm")
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
#: Excel's "CSV UTF-8" choice, in the words French Excel uses for it.
_SAVE_AS = ("save it from Excel as \"CSV UTF-8 (délimité par des virgules)\" or give the .xlsx workbook "
            "itself")


def read_table(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """A table of numbers a user gives (CSV as Excel writes it, French or not, or .xlsx), read as
    a loan book is: its separator found from ``columns``, decimal commas and grouped thousands
    taken as numbers, empty rows skipped; text cells, indexed by their line (Excel: row) number.
    For the data of ``levier calibrate``."""
    return _read_table(Path(path), names=tuple(columns), numeric=tuple(columns))[0]


def _read_table(path: Path, names: tuple[str, ...] | None = None,
                numeric: tuple[str, ...] | None = None) -> tuple[pd.DataFrame, str]:
    """:func:`_read_rows` without the rows that hold nothing (Excel writes ``;;;;;;`` for one, and
    keeps empty rows inside a sheet): not data, skipped as a blank line is; the frame is indexed
    by each row's line (or Excel row) number, so that a message names the file's own line."""
    frame, offset, unit = _read_rows(path, names, numeric)
    frame = frame.reset_index(drop=True)  # positions (a Parquet file may carry an index of its own)
    frame.index = frame.index + offset
    if len(frame.columns):
        frame = frame[~frame.isna().all(axis=1).to_numpy()]
    return frame, unit


def _read_rows(path: Path, names: tuple[str, ...] | None = None,
               numeric: tuple[str, ...] | None = None) -> tuple[pd.DataFrame, int, str]:
    """Read CSV, Excel (.xlsx) or Parquet; returns the frame (text cells for CSV and Excel),
    the offset from row index to what is reported, and the name of the unit ("line" for CSV —
    the header is line 1 —, "row" for Excel, as Excel numbers them, and Parquet). ``names`` are
    the columns expected (the loan book's by default), ``numeric`` those read as numbers."""
    required = names or LOAN_BOOK_COLUMNS  # what an empty file is told to have
    names = names or LOAN_BOOK_COLUMNS + LOAN_BOOK_OPTIONAL
    numeric = numeric or _NUMERIC
    source = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise LoanBookError(
                    source, [f"reading Parquet needs pyarrow: {install_hint('pyarrow', 'parquet')}; or give a CSV"]
                ) from None
            return pd.read_parquet(path), 1, "row"
        if suffix == ".xls":
            raise LoanBookError(source, ["is an old-style Excel .xls workbook; save it as .xlsx (or as CSV UTF-8)"])
        raw = path.read_bytes()
        if suffix in _EXCEL or raw.startswith(b"PK\x03\x04"):  # a zip: an Excel workbook, whatever its name
            return _read_excel(path, required, numeric), 2, "row"
        try:
            text = raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
        except UnicodeDecodeError as exc:
            raise LoanBookError(source, [f"{not_utf8(raw, exc)}; {_SAVE_AS}"]) from None
        lines = text.splitlines(keepends=True)
        lead = next((k for k, line in enumerate(lines) if line.strip()), len(lines))  # blank lines before the header
        text = "".join(lines[lead:])
        separator = _separator(text, source, names)
        # blank lines kept (as empty rows, skipped later), so that a line number in a message is the file's
        frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_values=[""],
                            skipinitialspace=True, skip_blank_lines=False,
                            index_col=False)  # a separator at the end of each row (an export's habit) is nothing
        return _decimal_comma(frame, source, first_line=2 + lead, numeric=numeric), 2 + lead, "line"
    except LoanBookError:
        raise
    except FileNotFoundError:
        raise LoanBookError(source, ["no such file"]) from None
    except UnicodeDecodeError:
        raise LoanBookError(source, [f"is not UTF-8 text; {_SAVE_AS}"]) from None
    except pd.errors.EmptyDataError:
        raise LoanBookError(source, ["is empty; expected a header line with the columns "
                                     + ", ".join(required)]) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        kind = "Parquet" if suffix in (".parquet", ".pq") else "CSV"
        raise LoanBookError(source, [f"cannot be read as {kind}: {exc}"]) from None


def _read_excel(path: Path, required: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    """The first sheet of a workbook, as text cells (numbers as Excel stores them)."""
    import zipfile

    source = str(path)
    try:
        frame = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl", keep_default_na=False,
                              na_values=[""])
    except FileNotFoundError:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many kinds for a file that is not a workbook
        kind = "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else f"{type(exc).__name__}: {exc}"
        raise LoanBookError(source, [f"cannot be read as an Excel workbook ({kind})"]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # Excel keeps rows that were once formatted: trailing rows with nothing in them are not loans
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    frame = frame.iloc[:last]
    if len(frame) == 0 and len(frame.columns) == 0:
        raise LoanBookError(source, ["its first sheet is empty; expected a header row with the columns "
                                     + ", ".join(required)])
    return _decimal_comma(frame, source, first_line=2, unit="row", numeric=numeric)


def _separator(text: str, source: str, names: tuple[str, ...]) -> str:
    """The CSV's separator (comma, semicolon or tab): the one that splits the header line into
    the most of the loan book's column names. French Excel writes semicolons."""
    import csv

    header = next((line for line in text.splitlines() if line.strip()), "")
    scores = {}
    for sep in _SEPARATORS:
        fields = next(csv.reader([header], delimiter=sep), [])
        scores[sep] = sum(f.strip() in names for f in fields)
    best = max(scores.values())
    winners = [sep for sep, score in scores.items() if score == best]
    present = [sep for sep in winners if sep in header]
    if best > 0 and not present:  # one column: no separator in the header; one it lacks, so that
        return ";"                # a French "0,3" below stays one number (its comma is decimal)
    winners = present or winners
    if best > 0 and len(winners) > 1:
        both = " and ".join(_SEPARATORS[s] for s in winners)
        raise LoanBookError(source, [Problem("line 1", f"cannot tell the separator: the header splits as well on "
                                             f"{both}; separate the columns with one of them only")])
    return winners[0] if best > 0 else ","


_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?$")
_COMMA_DECIMAL = re.compile(r"^[+-]?\d*,\d+$")
_POINT_DECIMAL = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _decimal_comma(frame: pd.DataFrame, source: str, *, first_line: int, unit: str = "line",
                   numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """Numbers written the French way (``0,05``; ``1 500 000`` grouped by spaces) read as numbers.

    A file that mixes decimal commas and decimal points is refused, naming a cell of each:
    ``1,500`` could then be one and a half or fifteen hundred.
    """
    columns = [c for c in (numeric or _NUMERIC) if c in frame.columns]
    commas: list[tuple[int, str, Any]] = []
    points: list[tuple[int, str, Any]] = []
    cleaned = {}
    for col in columns:
        text = frame[col].astype("string").str.strip()
        grouped = text.str.fullmatch(_GROUPED.pattern).fillna(False)
        text = text.where(~grouped, text.str.replace(r"[ \u00a0\u202f]", "", regex=True))
        comma = text.str.fullmatch(_COMMA_DECIMAL.pattern).fillna(False).to_numpy()
        point = text.str.fullmatch(_POINT_DECIMAL.pattern).fillna(False).to_numpy()
        for found, cells in ((comma, commas), (point, points)):  # the first of each kind is named
            if found.any():
                i = int(np.argmax(found))
                cells.append((i, col, frame[col].iloc[i]))
        cleaned[col] = text
    for col in (c for c in _EUROS if c in cleaned):  # 800.000: 800 000 in much of Europe, 800 here
        dotted = cleaned[col].str.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+").fillna(False).to_numpy()
        if dotted.any():
            i = int(np.argmax(dotted))
            raise LoanBookError(source, [Problem(f"{unit} {i + first_line}", f"{col}: {frame[col].iloc[i]!r} could be "
                                                 "euros with a dot between thousands or a decimal point: write the "
                                                 "amount without separators, or with spaces between thousands")])
    if commas and points:
        (i, a, x), (j, b, y) = min(commas), min(points)
        raise LoanBookError(source, [f"mixes decimal commas ({unit} {i + first_line}, {a}: {x!r}) and decimal points "
                                     f"({unit} {j + first_line}, {b}: {y!r}); write every number with the same one"])
    if not commas and not any((cleaned[c] != frame[c].astype("string").str.strip()).fillna(False).any()
                              for c in columns):
        return frame
    frame = frame.copy()
    for col in columns:
        frame[col] = cleaned[col].str.replace(",", ".", regex=False).astype(object).where(frame[col].notna(), None)
    return frame


def _codes(column: pd.Series, names: list[str], label: str, flag) -> np.ndarray:
    values = column.astype("string").str.strip()
    lookup = {name: i for i, name in enumerate(names)}
    codes = values.map(lookup).astype("Float64").fillna(-1).to_numpy(dtype=np.int64)
    flag(codes < 0, f"{label}: unknown {{}} (expected one of: {', '.join(names)})")
    return np.where(codes < 0, 0, codes)


def _cell(frame: pd.DataFrame, message: str, row: int) -> object:
    col = message.split(":", 1)[0]
    return frame[col].iloc[row] if col in frame.columns else None


def _range_text(lo, lo_open, hi, hi_open, integer) -> str:
    kind = "an integer" if integer else "a number"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '≥'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '≤'} {hi:g}")
    return kind + (" " + " and ".join(parts) if parts else "")


def _concat(parts: list[dict[str, np.ndarray]], s: Scenario) -> Portfolio:
    keys = Portfolio.__dataclass_fields__.keys() - {"sector_names", "territory_names", "built_from"}
    merged = {}
    for key in keys:
        arrays = [p[key] for p in parts]
        merged[key] = np.concatenate(arrays) if arrays else np.empty(0)
    merged["sector"] = merged["sector"].astype(np.intp)
    merged["territory"] = merged["territory"].astype(np.intp)
    merged["entry"] = merged["entry"].astype(np.int64)
    merged["in_book"] = merged["in_book"].astype(bool)
    merged["watch"] = merged["watch"].astype(bool)
    return Portfolio(**merged, sector_names=s.sector_names, territory_names=s.territory_names, built_from=portfolio_key(s))


def portfolio_key(scenario: Scenario) -> dict[str, str]:
    """What a scenario's projects depend on, part by part: two scenarios with the same key have the
    same portfolio (the policy, the bank, the defaults' correlations do not move a project)."""
    data = scenario.model_dump(mode="json", include={"pipeline", "loan_book"})
    key = {
        "pipeline": repr(data.get("pipeline")),
        "simulation.seed": repr(scenario.simulation.seed),  # the pipeline's when it has none of its own
        "loan_book": repr((data.get("loan_book"), str(scenario.loan_book_path))),
        "sectors' names and annual_pd": repr([(x.name, x.annual_pd) for x in scenario.sectors]),
        "territories' names and pd_multiplier": repr([(t.name, t.pd_multiplier) for t in scenario.territories]),
    }
    if scenario.loan_book is not None:  # what its files are checked against, and a watched file's PD
        watch = scenario.vigilance.watch_pd_multiplier if scenario.vigilance is not None else None
        pol = scenario.policy
        key["simulation.horizon_years, the policy's maturity and offer, vigilance.watch_pd_multiplier"] = repr(
            (scenario.simulation.horizon_years, pol.maturity_years, pol.loan_cap, pol.loan_per_job,
             pol.max_share_of_investment, watch))
    return key


def check_portfolio(portfolio: Portfolio, scenario: Scenario) -> None:
    """Refuse a portfolio built from another scenario's projects (a run would silently simulate
    them under this scenario's name). A portfolio built by hand (no ``built_from``) is taken as given.

    Raises
    ------
    ValueError
        Naming the parts of the scenario the projects do not come from.
    """
    if portfolio.built_from is None:
        return
    key = portfolio_key(scenario)
    differ = [part for part in key if portfolio.built_from.get(part) != key[part]]
    if differ:
        raise ValueError(f"this portfolio was built from another scenario: its {', '.join(differ)} differ from this "
                         "one's; build it with levier.build_portfolio(scenario), or leave portfolio out")

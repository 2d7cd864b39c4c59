"""Loan books as an analyst saves them: an Excel workbook, a French CSV (semicolons, decimal
commas, grouped thousands), a byte-order mark — each read as the same portfolio as a plain CSV."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.model.portfolio import build_portfolio

from conftest import book_row, make_scenario, write_book

ROWS = [
    book_row(1, territory="Alès", investment=1_500_000.5, equity=250_000, rate=0.035, annual_pd=0.04),
    book_row(2, sector="automobile", investment=820_000, equity=100_000.25, jobs_planned=7, entry_year=2,
             rate=0.02, annual_pd=0.1),
    book_row(3, entry_year=0, investment=2_000_000, equity=0, rate=0.05, annual_pd=0.075),
]
COLUMNS = list(ROWS[0])


def _portfolio(tmp_path, name):
    return build_portfolio(make_scenario(base_dir=tmp_path, loan_book={"path": name}, pipeline=None))


def _same(a, b) -> None:
    for field in ("firm_id", "sector", "territory", "investment", "equity", "jobs", "pd", "entry", "rate"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


@pytest.fixture
def plain(tmp_path):
    write_book(tmp_path / "plain.csv", ROWS, COLUMNS)
    return _portfolio(tmp_path, "plain.csv")


def _french(value) -> str:
    """A number as French Excel writes it in a CSV: decimal comma, thousands grouped by a space."""
    if isinstance(value, str):
        return value
    whole, _, frac = f"{value}".partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u00a0")
    return grouped + ("," + frac if frac and frac != "0" else "")


def test_a_french_excel_csv_reads_as_the_plain_one(tmp_path, plain):
    lines = [";".join(COLUMNS)] + [";".join(_french(r[c]) for c in COLUMNS) for r in ROWS]
    (tmp_path / "fr.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    _same(_portfolio(tmp_path, "fr.csv"), plain)


def test_tab_separated_and_byte_order_mark(tmp_path, plain):
    lines = ["\t".join(COLUMNS)] + ["\t".join(str(r[c]) for c in COLUMNS) for r in ROWS]
    (tmp_path / "tab.tsv").write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))
    _same(_portfolio(tmp_path, "tab.tsv"), plain)


def test_an_xlsx_loan_book_reads_as_the_plain_csv(tmp_path, plain):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(COLUMNS)
    for r in ROWS:
        sheet.append([r[c] for c in COLUMNS])
    sheet.append([None] * len(COLUMNS))  # a trailing row Excel kept: not a loan
    book.save(tmp_path / "book.xlsx")
    _same(_portfolio(tmp_path, "book.xlsx"), plain)
    # a workbook under a .csv name is still read as a workbook, not refused as "not UTF-8"
    (tmp_path / "book.csv").write_bytes((tmp_path / "book.xlsx").read_bytes())
    _same(_portfolio(tmp_path, "book.csv"), plain)


def test_rows_with_nothing_in_them_are_not_loans(tmp_path, plain):
    """A row of bare separators (Excel's ";;;;;;") or an empty row inside a workbook is skipped, as
    a blank line is; a bad row after it is still named by its own line."""
    from openpyxl import Workbook

    empty = ";" * (len(COLUMNS) - 1)
    lines = [";".join(COLUMNS), ";".join(str(ROWS[0][c]) for c in COLUMNS), empty,
             *(";".join(str(r[c]) for c in COLUMNS) for r in ROWS[1:]), empty]
    (tmp_path / "gaps.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _same(_portfolio(tmp_path, "gaps.csv"), plain)
    book = Workbook()
    book.active.append(COLUMNS)
    book.active.append([ROWS[0][c] for c in COLUMNS])
    book.active.append([None] * len(COLUMNS))
    for r in ROWS[1:]:
        book.active.append([r[c] for c in COLUMNS])
    book.save(tmp_path / "gaps.xlsx")
    _same(_portfolio(tmp_path, "gaps.xlsx"), plain)
    lines[3] = lines[3].replace(str(ROWS[1]["investment"]), "beaucoup")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(levier.LoanBookError, match=r"line 4: investment: expected a number, got 'beaucoup'"):
        _portfolio(tmp_path, "bad.csv")
    # truly blank lines too, before the header and between rows: the file's own line numbers
    blank = ["", lines[0], lines[1], "", "", lines[3]]
    (tmp_path / "blank.csv").write_text("\n".join(blank) + "\n", encoding="utf-8")
    with pytest.raises(levier.LoanBookError, match=r"line 6: investment: expected a number, got 'beaucoup'"):
        _portfolio(tmp_path, "blank.csv")


def test_bad_rows_of_a_workbook_are_named_by_excel_row(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(COLUMNS)
    book.active.append([ROWS[0][c] for c in COLUMNS])
    book.active.append([ROWS[1][c] if c != "investment" else "beaucoup" for c in COLUMNS])
    book.save(tmp_path / "book.xlsx")
    with pytest.raises(levier.LoanBookError, match=r"row 3: investment: expected a number, got 'beaucoup'"):
        _portfolio(tmp_path, "book.xlsx")


def test_mixed_decimal_marks_are_refused_with_both_cells(tmp_path):
    rows = [dict(ROWS[0], rate="0,035"), dict(ROWS[1], rate="0.02")]
    lines = [";".join(COLUMNS)] + [";".join(str(r[c]) for c in COLUMNS) for r in rows]
    (tmp_path / "mixed.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(levier.LoanBookError) as info:
        _portfolio(tmp_path, "mixed.csv")
    text = str(info.value)
    assert "decimal commas (line 2" in text and "decimal points (line 2" in text and "the same one" in text


def test_a_header_that_splits_on_two_separators_is_refused(tmp_path):
    (tmp_path / "odd.csv").write_text("firm_id;sector,territory\nF1;plasturgie,Alès\n", encoding="utf-8")
    with pytest.raises(levier.LoanBookError, match="cannot tell the separator"):
        _portfolio(tmp_path, "odd.csv")


def test_a_file_that_is_not_utf8_is_placed_by_line_and_byte_with_or_without_a_byte_order_mark(tmp_path):
    for lead in (b"", b"\xef\xbb\xbf"):  # offsets count from after the mark: the line and byte must not move
        (tmp_path / "s.toml").write_bytes(lead + b'[meta]\nname = "x"\n# C\xe8te\n')
        with pytest.raises(levier.ScenarioError, match="line 3, byte 0xE8 "):
            levier.load_scenario(tmp_path / "s.toml")


def test_a_windows_1252_csv_says_how_to_save_it(tmp_path):
    lines = [";".join(COLUMNS)] + [";".join(str(r[c]) for c in COLUMNS) for r in ROWS]
    (tmp_path / "cp.csv").write_bytes("\n".join(lines).encode("cp1252"))
    with pytest.raises(levier.LoanBookError, match="not UTF-8 text: line 2, byte 0xE8 .*CSV UTF-8"):
        _portfolio(tmp_path, "cp.csv")


def test_calendar_years_without_first_year_get_the_hint(tmp_path):
    write_book(tmp_path / "cal.csv", [book_row(1, entry_year=2019), book_row(2, entry_year=2021)])
    with pytest.raises(levier.LoanBookError) as info:
        _portfolio(tmp_path, "cal.csv")
    assert "looks like a calendar year" in str(info.value) and "first_year = 2019" in str(info.value)
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "cal.csv", "first_year": 2019}, pipeline=None)
    assert list(build_portfolio(s).entry) == [1, 3]
    write_book(tmp_path / "late.csv", [book_row(1, entry_year=9)])
    with pytest.raises(levier.LoanBookError) as info:
        _portfolio(tmp_path, "late.csv")
    assert "after the horizon" in str(info.value) and "looks like a calendar year" not in str(info.value)


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"\x00\x01garbage" * 20])
def test_a_broken_workbook_is_refused_clearly(tmp_path, content):
    (tmp_path / "book.xlsx").write_bytes(content)
    with pytest.raises(levier.LoanBookError, match="cannot be read as an Excel workbook"):
        _portfolio(tmp_path, "book.xlsx")


def test_an_amount_with_dots_between_thousands_is_refused_not_read_as_decimals(tmp_path):
    # Belgian, German or Italian Excel: 800.000 is eight hundred thousand euros; read as 800 it
    # would give a plausible-looking but tiny fund
    (tmp_path / "dots.csv").write_text(
        "firm_id;sector;territory;investment;equity;jobs_planned;entry_year\n"
        "A;plasturgie;Forbach;800.000;150.000;8;1\n", encoding="utf-8")
    with pytest.raises(levier.LoanBookError, match=r"line 2.*investment: '800.000' could be euros with a dot"):
        _portfolio(tmp_path, "dots.csv")
    (tmp_path / "decimal.csv").write_text(  # a decimal point is fine where it cannot be thousands
        "firm_id,sector,territory,investment,equity,jobs_planned,entry_year\nA,plasturgie,Forbach,800000.5,150000,8,1\n",
        encoding="utf-8")
    assert _portfolio(tmp_path, "decimal.csv").investment[0] == 800_000.5


def test_an_outstanding_above_the_policy_s_offer_is_refused_when_loan_amount_is_blank(tmp_path):
    # outstanding 9 MEUR on a project whose loan is the policy's offer (at most loan_cap)
    write_book(tmp_path / "book.csv", [book_row(1, entry_year="", years_since_entry=3, outstanding=9_000_000,
                                                loan_amount="")])
    with pytest.raises(levier.LoanBookError, match="outstanding: must not exceed the loan, here the policy's offer"):
        _portfolio(tmp_path, "book.csv")


def test_a_separator_at_the_end_of_every_row_is_nothing(tmp_path, plain):
    # some exports end each data row with a separator: the columns must not shift by one
    lines = (tmp_path / "plain.csv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "trailing.csv").write_text("\n".join([lines[0]] + [line + "," for line in lines[1:]]) + "\n",
                                           encoding="utf-8")
    _same(_portfolio(tmp_path, "trailing.csv"), plain)

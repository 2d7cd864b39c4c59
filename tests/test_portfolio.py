"""Projects: the pipeline drawn once per scenario seed, the loan book read with every bad row named."""

from __future__ import annotations

import numpy as np
import pytest

import levier
from levier.model.portfolio import build_portfolio

from conftest import book_row, make_scenario, write_book


def test_pipeline_is_drawn_from_the_scenario_seed_not_the_run_seed():
    s = make_scenario()
    a, b = build_portfolio(s), build_portfolio(s)
    np.testing.assert_array_equal(a.investment, b.investment)
    other = build_portfolio(make_scenario(simulation={"seed": 8}))
    assert not np.array_equal(a.investment, other.investment)
    pinned = build_portfolio(make_scenario(simulation={"seed": 8}, pipeline={"seed": 7}))
    np.testing.assert_array_equal(a.investment, pinned.investment)
    r1 = levier.simulate(s, paths=10, seed=1)
    r2 = levier.simulate(s, paths=10, seed=2)
    np.testing.assert_array_equal(r1.portfolio.investment, r2.portfolio.investment)


def test_pipeline_shape_and_mix():
    s = make_scenario(pipeline={"projects_per_year": 500, "years": 3})
    p = build_portfolio(s)
    assert len(p) == 1_500
    assert np.all(np.diff(p.entry) >= 0) and set(p.entry) == {1, 2, 3}
    share = np.mean(p.sector == 0)
    assert abs(share - 0.5) <= 4 * np.sqrt(0.25 / 1_500)
    assert np.all((p.equity >= 0) & (p.equity < p.investment)) and np.all(p.jobs >= 1)
    # PD spread is mean-preserving around sector PD x territory multiplier
    expected = np.array([0.05, 0.08])[p.sector] * np.array([1.1, 1.0])[p.territory]
    ratio = p.pd / expected
    assert abs(ratio.mean() - 1) <= 4 * ratio.std() / np.sqrt(ratio.size)


def test_pipeline_change_of_a_parameter_keeps_the_projects_draws():
    a = build_portfolio(make_scenario())
    b = build_portfolio(make_scenario(pipeline={"investment_median": 1_600_000.0}))
    np.testing.assert_allclose(b.investment, 2 * a.investment)
    np.testing.assert_array_equal(a.sector, b.sector)


def test_loan_book_is_read_with_optional_columns(tmp_path):
    rows = [book_row(1, annual_pd=0.2, loan_amount=120_000), book_row(2, sector="automobile", territory="Alès")]
    write_book(tmp_path / "book.csv", rows, list(rows[0]))
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv", "first_year": 2020}, pipeline=None)
    p = build_portfolio(s)
    assert list(p.firm_id) == ["F1", "F2"] and p.in_book.all()
    assert p.pd[0] == 0.2 and p.pd[1] == pytest.approx(0.08)  # sector PD x territory multiplier
    assert np.isnan(p.loan_amount[1]) and p.loan_amount[0] == 120_000
    assert list(p.entry) == [1 - 2019, 1 - 2019]  # calendar year 1 → simulation year -2018


def test_loan_book_and_pipeline_together(tmp_path):
    write_book(tmp_path / "book.csv", [book_row(1), book_row(2)])
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv"})
    p = build_portfolio(s)
    assert len(p) == 2 + 16 and p.in_book[:2].all() and not p.in_book[2:].any()
    r = levier.simulate(s, paths=50, seed=1)
    assert (r.paths["n_financed"] >= 2).all()


def test_bad_rows_are_all_reported_with_their_lines(tmp_path):
    rows = [
        book_row(1),
        book_row(2, sector="chimie"),
        book_row(3, investment="abc"),
        book_row(1, equity=2_000_000),  # duplicate id, equity above investment
        book_row(5, jobs_planned=-3, annual_pd=1.5),
        book_row(6, entry_year=2.5),
        book_row(7),
    ]
    columns = ["firm_id", "sector", "territory", "investment", "equity", "jobs_planned", "entry_year", "annual_pd"]
    write_book(tmp_path / "book.csv", rows, columns)
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv"}, pipeline=None)
    with pytest.raises(levier.LoanBookError) as info:
        build_portfolio(s)
    message = str(info.value)
    assert "book.csv" in message
    assert "line 3: sector: unknown 'chimie'" in message
    assert "line 4: investment: expected a number, got 'abc'" in message
    assert "line 5: firm_id: duplicate" in message and "equity: must not exceed investment" in message
    assert "line 6: jobs_planned: expected a number ≥ 0 and ≤ 1e+06, got '-3'" in message and "annual_pd" in message
    assert "line 7: entry_year: expected an integer" in message
    assert "line 2" not in message and "line 8" not in message  # good rows are not accused
    assert len(info.value.problems) == 5


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "is empty"),
        ("firm_id,sector\nF1,plasturgie\n", "missing column(s) territory, investment"),
        ("firm_id,sector,territory,investment,equity,jobs_planned,entry_year,colour\n", "unknown column(s) colour"),
        ("firm_id,sector,territory,investment,equity,jobs_planned,entry_year\n", "has no rows"),
    ],
)
def test_bad_loan_book_files(tmp_path, content, words):
    (tmp_path / "book.csv").write_text(content, encoding="utf-8")
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv"}, pipeline=None)
    with pytest.raises(levier.LoanBookError) as info:
        build_portfolio(s)
    assert words in str(info.value)


def test_loan_book_in_latin1_is_refused_clearly(tmp_path):
    (tmp_path / "book.csv").write_bytes(
        "firm_id,sector,territory,investment,equity,jobs_planned,entry_year\nF1,plasturgie,Alès,1,0,1,1\n".encode("latin-1")
    )
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.csv"}, pipeline=None)
    with pytest.raises(levier.LoanBookError, match="not UTF-8"):
        build_portfolio(s)


def test_loan_book_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    pd.DataFrame([book_row(1), book_row(2)]).to_parquet(tmp_path / "book.parquet")
    s = make_scenario(base_dir=tmp_path, loan_book={"path": "book.parquet"}, pipeline=None)
    assert len(build_portfolio(s)) == 2

"""Outputs on a shared drive: modes that follow the umask, a results folder that replays from
anywhere, CSVs and a workbook that Excel opens."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import levier
from levier.cli import main
from levier.present.output import scenario_toml, write_csv_atomic, write_file_atomic, write_result
from levier.present.report import result_from_folder

from conftest import ROOT, SHIPPED, base_dict, book_row, write_book
from test_fuzz import to_toml


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_to(mask: int) -> None:
        os.umask(mask)

    yield set_to
    os.umask(saved)


@pytest.mark.parametrize("mask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_follow_the_umask(tmp_path, umask, mask, file_mode, folder_mode):
    umask(mask)
    book_dir = tmp_path / "in" / "books"
    book_dir.mkdir(parents=True)
    write_book(book_dir / "book.csv", [book_row(1), book_row(2)])
    (tmp_path / "in" / "s.toml").write_text(to_toml(base_dict(loan_book={"path": "books/book.csv"})), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "in" / "s.toml"), "--paths", "40", "--out", str(out), "--quiet"]) == 0
    assert _mode(out) == folder_mode and _mode(out / "books") == folder_mode
    for path in out.rglob("*"):
        assert _mode(path) == (folder_mode if path.is_dir() else file_mode), path
    written = write_file_atomic(tmp_path / "r.html", lambda tmp: tmp.write_text("<p>", encoding="utf-8"))
    table = write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert _mode(written) == file_mode and _mode(table) == file_mode


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.toml")) + sorted((ROOT / "examples").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_the_scenario_copy_reads_back_as_the_same_scenario(path):
    scenario = levier.load_scenario(path)
    copy = levier.Scenario.from_dict(tomllib.loads(scenario_toml(scenario)), base_dir=path.parent)
    assert copy.content_hash() == scenario.content_hash()


def test_the_scenario_copy_keeps_overrides_and_odd_strings():
    scenario = levier.load_scenario(SHIPPED).with_overrides(
        {"policy.loan_per_job": 12_345.5, "meta.name": 'Alès "bassin"\n\\ 名', "simulation.risk_levels": [0.9, 0.999]})
    copy = levier.Scenario.from_dict(tomllib.loads(scenario_toml(scenario)), base_dir=SHIPPED.parent)
    assert copy.content_hash() == scenario.content_hash()
    assert copy.meta.name == 'Alès "bassin"\n\\ 名' and copy.policy.loan_per_job == 12_345.5


@pytest.mark.parametrize("reference", ["books/book.csv", "../outside/book.csv", "ABSOLUTE"])
def test_report_from_replays_anywhere_after_the_originals_are_gone(tmp_path, monkeypatch, reference):
    home = tmp_path / "project"
    book = (home / reference).resolve() if reference != "ABSOLUTE" else tmp_path / "abs" / "book.csv"
    book.parent.mkdir(parents=True, exist_ok=True)
    write_book(book, [book_row(1), book_row(2, sector="automobile", entry_year=2)])
    home.mkdir(exist_ok=True)
    ref = str(book) if reference == "ABSOLUTE" else reference
    (home / "s.toml").write_text(to_toml(base_dict(loan_book={"path": ref})), encoding="utf-8")
    monkeypatch.chdir(home)  # a relative scenario path, as a user types it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", levier.errors.OutsideFolderWarning)
        assert main(["run", "s.toml", "--paths", "60", "--seed", "3", "--out", "results", "--quiet",
                     "--set", "policy.loan_per_job=9000"]) == 0
    folder = home / "results"
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    copied = folder / (reference if reference == "books/book.csv" else "loan_book/book.csv")
    assert copied.read_bytes() == book.read_bytes() and f"{copied.relative_to(folder).as_posix()}" in meta["files"]
    before = pd.read_csv(folder / "paths.csv")
    # --force replaces it, its loan book's folder included; and it replays into itself
    (folder / ".DS_Store").write_bytes(b"")  # a file manager's, deleted with the folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", levier.errors.OutsideFolderWarning)
        assert main(["run", "s.toml", "--paths", "60", "--seed", "3", "--out", "results", "--quiet", "--force",
                     "--set", "policy.loan_per_job=9000"]) == 0
        assert main(["run", "results/scenario.toml", "--paths", "60", "--seed", "3", "--out", "results", "--quiet",
                     "--force"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(folder / "paths.csv"), before)
    (copied.parent / "mine.txt").write_text("mine")  # but not a file of the user's in its sub-folder
    assert main(["run", "s.toml", "--paths", "60", "--out", "results", "--quiet", "--force"]) == 2
    (copied.parent / "mine.txt").unlink()

    shutil.move(str(folder), str(tmp_path / "moved"))  # the folder travels; the originals go
    shutil.rmtree(home)
    book.unlink(missing_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    replayed = result_from_folder(tmp_path / "moved")
    assert replayed.scenario.policy.loan_per_job == 9000  # the override travels with the folder
    assert int(replayed.portfolio.in_book.sum()) == 2
    pd.testing.assert_frame_equal(replayed.paths.reset_index(), before, check_dtype=False, rtol=1e-12)


@pytest.mark.parametrize("name", ["summary.csv", "paths.csv", "Summary.csv"])
def test_a_loan_book_named_like_an_output_file_is_copied_apart(tmp_path, monkeypatch, name):
    """A loan book called ``summary.csv`` neither replaces the summary nor is replaced by it: its
    copy goes to ``loan_book/``, and the folder replays."""
    home = tmp_path / "project"
    home.mkdir()
    write_book(home / name, [book_row(1), book_row(2, sector="automobile", entry_year=2)])
    (home / "s.toml").write_text(to_toml(base_dict(loan_book={"path": name})), encoding="utf-8")
    monkeypatch.chdir(home)
    assert main(["run", "s.toml", "--paths", "40", "--out", "results", "--quiet"]) == 0
    folder = home / "results"
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert (folder / "loan_book" / name).read_bytes() == (home / name).read_bytes()
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == meta["files"]
    assert pd.read_csv(folder / "summary.csv")["metric"].iloc[0] == "fund_lent"
    replayed = result_from_folder(folder)
    assert int(replayed.portfolio.in_book.sum()) == 2


def test_a_folder_whose_copy_was_edited_is_refused(tmp_path):
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    folder = tmp_path / "r"
    write_result(result, folder)
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    (folder / "scenario.toml").write_text(text.replace("loan_per_job = ", "loan_per_job = 1"), encoding="utf-8")
    with pytest.raises(levier.InputError, match="has changed since this run"):
        result_from_folder(folder)


def test_a_stressed_run_replays_with_its_stress(tmp_path):
    """``run --stress NAME --out DIR`` records the stress; the replay imposes it again (it ran the
    baseline, and refused the folder as not reproduced)."""
    scenario = levier.load_scenario(SHIPPED)
    stressed = levier.simulate(scenario, paths=40, seed=3, stress="recession_2008")
    write_result(stressed, tmp_path / "r")
    replayed = result_from_folder(tmp_path / "r")
    assert replayed.meta["stress"] == "recession_2008"
    pd.testing.assert_frame_equal(replayed.paths, stressed.paths)
    baseline = levier.simulate(scenario, paths=40, seed=3)
    assert not np.array_equal(baseline.paths["fund_loss"], stressed.paths["fund_loss"])


def test_report_from_on_the_command_line_in_another_folder(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    shutil.copy(SHIPPED, tmp_path / "s.toml")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "s.toml", "--paths", "30", "--out", "res", "--quiet"]) == 0
    (tmp_path / "s.toml").unlink()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    assert main(["report", "--from", "../res", "--out", "r.html"]) == 0
    assert (tmp_path / "other" / "r.html").stat().st_size > 10_000


def test_csvs_carry_a_byte_order_mark_and_full_precision(tmp_path):
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=50, seed=2)
    write_result(result, tmp_path / "r", parquet=False)
    raw = (tmp_path / "r" / "paths.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(tmp_path / "r" / "paths.csv")
    assert list(back.columns)[0] == "path"  # the mark is not part of the first column's name
    assert np.array_equal(back["fund_loss"].to_numpy(), result.paths["fund_loss"].to_numpy())


def test_the_workbook_holds_the_csvs_values(tmp_path):
    from openpyxl import load_workbook

    result = levier.simulate(levier.load_scenario(ROOT / "scenarios" / "ales.toml"), paths=80, seed=5)
    folder = tmp_path / "r"
    write_result(result, folder, parquet=False)
    book = load_workbook(folder / "results.xlsx")
    assert book.sheetnames == ["summary", "ratios", "by year", "by sector", "by territory", "meta"]
    for name, sheet_name in [("summary", "summary"), ("ratios", "ratios"), ("by_year", "by year"),
                             ("by_sector", "by sector"), ("by_territory", "by territory")]:
        sheet = book[sheet_name]
        assert sheet.freeze_panes == "B2"
        rows = list(sheet.iter_rows(values_only=True))
        csv = pd.read_csv(folder / f"{name}.csv", keep_default_na=False)
        assert list(rows[0]) == list(csv.columns)
        assert len(rows) - 1 == len(csv)
        for cells, (_, expected) in zip(rows[1:], csv.iterrows()):
            for got, want in zip(cells, expected):
                if isinstance(got, (int, float)) and not isinstance(got, bool):
                    # a number; openpyxl writes 16 significant digits (Excel computes with 15)
                    assert got == pytest.approx(float(want), rel=2e-16 * 8, abs=0)
                elif got is None:
                    assert want == ""
                else:
                    assert str(got) == str(want)
        numeric_formats = {c.number_format for row in sheet.iter_rows(min_row=2) for c in row
                           if isinstance(c.value, float)}
        assert numeric_formats and "General" not in numeric_formats
    meta = {k: v for k, v in book["meta"].iter_rows(min_row=2, values_only=True)}
    assert meta["scenario_hash"] == result.meta["scenario_hash"] and meta["paths"] == 80


def test_no_number_of_the_workbook_shows_as_zero_unless_it_is_tiny(tmp_path):
    """A rate, a ratio, a small count or a Monte Carlo error keeps digits on its sheet: the count of
    paths in the summary's row, or a year's millions in euros, no longer round a fund's IRR, its
    leverage or a year's 0.25 defaults to a whole number."""
    from openpyxl import load_workbook

    result = levier.simulate(levier.load_scenario(SHIPPED), paths=2000, seed=5)
    folder = tmp_path / "r"
    write_result(result, folder, parquet=False)
    book = load_workbook(folder / "results.xlsx")
    decimals = {"#,##0": 0, "#,##0.0": 1, "0.000": 3, "0.0000": 4, "0": 0}
    checked = 0
    for sheet_name in ("summary", "ratios", "by year", "by sector", "by territory"):
        for row in book[sheet_name].iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, float) and abs(cell.value) >= 5e-5:
                    assert round(abs(cell.value), decimals[cell.number_format]) > 0, (sheet_name, cell.coordinate, cell.value)
                    checked += 1
    assert checked > 500
    summary = {row[0].value: row for row in book["summary"].iter_rows(min_row=2)}
    assert summary["fund_irr"][3].number_format == "0.0000"  # the mean
    assert summary["fund_lent"][1].number_format == "#,##0"  # the count of paths


def test_number_formats():
    from levier.present.excel import number_format

    assert number_format(np.array([1.0, 2.0, np.nan])) == "#,##0"
    assert number_format(np.array([1234.5, 2.0])) == "#,##0"
    assert number_format(np.array([12.5])) == "#,##0.0"
    assert number_format(np.array([5.14])) == "0.000"
    assert number_format(np.array([0.285, -0.01])) == "0.0000"
    assert number_format(np.array([math.nan])) == "General"


def test_a_drive_that_refuses_chmod_still_gets_the_results(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    monkeypatch.setattr(os, "chmod", refuse)
    files = write_result(result, tmp_path / "r", parquet=False)
    assert (tmp_path / "r" / "results.xlsx") in files and (tmp_path / "r" / "scenario.toml").is_file()


def test_a_stressed_result_says_so_in_the_run_table_and_the_report():
    from levier.present.display import run_report

    scenario = levier.load_scenario(SHIPPED)
    stressed = levier.simulate(scenario, paths=40, seed=3, stress="recession_2008")
    baseline = levier.simulate(scenario, paths=40, seed=3)
    for lang, words in (("en", "under the stress recession_2008"), ("fr", "sous le choc recession_2008")):
        assert words in run_report(stressed, lang=lang).splitlines()[0]
        assert "recession_2008" not in run_report(baseline, lang=lang)
    pytest.importorskip("matplotlib")
    from levier.present.report import report_html

    page = report_html(stressed)
    assert "Under the stress recession_2008." in page and ">stress</th><td style='text-align:right'>recession_2008<" in page


def test_an_output_under_a_file_names_the_file(tmp_path):
    """``--out afile/sub``: the error says that afile is a file (it said 'cannot create a folder in
    .../afile: File exists'), for a results folder and for a single output file alike."""
    from levier.present.output import write_file_atomic

    (tmp_path / "afile").write_text("x", encoding="utf-8")
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    for write in (lambda: write_result(result, tmp_path / "afile" / "sub" / "deeper"),
                  lambda: write_file_atomic(tmp_path / "afile" / "r.html", lambda p: p.write_text("x"))):
        with pytest.raises(levier.OutputError, match=rf"{tmp_path / 'afile'} is a file, not a folder"):
            write()


def test_the_workbook_in_french_names_its_sheets_and_columns_in_french(tmp_path):
    """With lang="fr" (levier run --lang fr --out), the sheets and fixed columns of results.xlsx
    are French; the numbers, the metrics' code names and the CSVs are the same as in English."""
    from openpyxl import load_workbook

    from levier.present.excel import header

    result = levier.simulate(levier.load_scenario(SHIPPED), paths=300, seed=5)
    write_result(result, tmp_path / "en", parquet=False)
    write_result(result, tmp_path / "fr", parquet=False, lang="fr")
    en, fr = load_workbook(tmp_path / "en" / "results.xlsx"), load_workbook(tmp_path / "fr" / "results.xlsx")
    assert fr.sheetnames == ["synthèse", "ratios", "par année", "par filière", "par territoire", "provenance"]
    rows = list(fr["synthèse"].iter_rows(values_only=True))
    assert rows[0][:6] == ("indicateur", "nombre", "manquants", "moyenne", "écart-type", "erreur MC")
    assert "VaR 99 %, borne basse" in rows[0] and "ES 99,9 %" in rows[0] and "q 5 %" in rows[0]
    for a, b in zip(en.worksheets, fr.worksheets):
        assert [r for r in a.iter_rows(min_row=2, values_only=True)] == [r for r in b.iter_rows(min_row=2, values_only=True)]
    assert (tmp_path / "en" / "summary.csv").read_bytes() == (tmp_path / "fr" / "summary.csv").read_bytes()
    assert header("fund_loss", "fr") == "fund_loss" and header("mean", "en") == "mean"


@pytest.mark.parametrize("seed", [[1, 2], "generator"], ids=["list", "generator"])
def test_a_run_seeded_by_a_list_or_a_generator_replays(tmp_path, seed):
    # numpy keeps such a seed's entropy as a list of integers: meta.json holds "[a, b]"
    seed = np.random.default_rng(4) if seed == "generator" else seed
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=40, seed=seed)
    assert result.meta["seed_entropy"].startswith("[")
    write_result(result, tmp_path / "r")
    replayed = result_from_folder(tmp_path / "r")
    pd.testing.assert_frame_equal(replayed.paths, result.paths)


def test_an_output_that_cannot_be_kept_is_refused_before_the_simulation(tmp_path, monkeypatch, capsys):
    from levier.cli import main

    # an unset shell variable: --out "" wrote nothing and exited 0
    assert main(["run", str(SHIPPED), "--paths", "20", "--out", ""]) == 2
    assert "--out: is empty" in capsys.readouterr().err
    assert main(["sweep", str(SHIPPED), "--paths", "20", "--grid", "policy.loan_per_job=8000:9000:2",
                 "--out", str(tmp_path / "sweep.xlsx")]) == 2
    assert "written as CSV: name it FILE.csv" in capsys.readouterr().err
    # a folder this user cannot write in is found before the run, not after it
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode))
    ran = []
    monkeypatch.setattr(levier.engine.run.PreparedRun, "simulate", lambda *a, **k: ran.append(1))
    assert main(["run", str(SHIPPED), "--paths", "20", "--out", str(tmp_path / "r")]) == 2
    assert f"cannot write in {tmp_path}: permission denied" in capsys.readouterr().err and ran == []


def _another_group() -> int | None:
    if os.geteuid() == 0:
        return 1
    return next((g for g in os.getgroups() if g != os.getegid()), None)


def test_a_results_folder_in_a_group_s_shared_folder_goes_to_the_group(tmp_path):
    group = _another_group()
    if group is None:
        pytest.skip("this user is in one group only")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, -1, group)
    shared.chmod(0o2770)  # set-group-id: what is made in it is the group's
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    old = os.umask(0o007)
    try:
        write_result(result, shared / "r")
    finally:
        os.umask(old)
    folder = shared / "r"
    assert folder.stat().st_gid == group and folder.stat().st_mode & stat.S_ISGID
    for f in folder.iterdir():
        assert f.stat().st_gid == group and stat.S_IMODE(f.stat().st_mode) == 0o660, f.name


def test_an_empty_folder_the_user_made_keeps_its_mode(tmp_path):
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    write_result(levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1), private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700 and (private / "meta.json").exists()


@pytest.mark.parametrize("edit", [{"paths": "abc"}, {"seed_entropy": None}, {"keep": "bar"}, "list"],
                         ids=["paths", "no seed", "keep", "not a table"])
def test_a_results_folder_whose_meta_was_edited_is_refused_without_a_traceback(tmp_path, edit):
    write_result(levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1), tmp_path / "r")
    meta_file = tmp_path / "r" / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if edit == "list":
        meta = [1, 2]
    elif edit == {"seed_entropy": None}:
        del meta["seed_entropy"]
    else:
        meta.update(edit)
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(levier.InputError, match="meta.json"):
        result_from_folder(tmp_path / "r")


def test_a_control_character_in_a_name_does_not_stop_the_workbook(tmp_path):
    import openpyxl

    scenario = levier.load_scenario(SHIPPED).with_overrides({"meta.name": "Fonds\u000bx"})  # pasted from Word
    write_result(levier.simulate(scenario, paths=20, seed=1), tmp_path / "r")
    book = openpyxl.load_workbook(tmp_path / "r" / "results.xlsx")
    assert "Fondsx" in [c.value for row in book[book.sheetnames[-1]].iter_rows() for c in row]

"""French and English: the locale picks the language, numbers are written each language's way,
and `--lang fr` turns the CLI's tables and the report into French (scenario keys stay English)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from levier.cli import main
from levier.present.i18n import (FRENCH, NNBSP, counted, default_lang, format_date, format_estimate, format_number,
                                 format_percent, localise, t)

from conftest import SHIPPED


@pytest.mark.parametrize("env, lang", [
    ({"LANG": "fr_FR.UTF-8"}, "fr"), ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LC_ALL": "fr_CA.UTF-8", "LANG": "en_US"}, "fr"), ({"LC_ALL": "C", "LANG": "fr_FR"}, "en"),
    ({"LC_MESSAGES": "fr_BE", "LANG": "en_US"}, "fr"), ({"LC_ALL": "", "LC_MESSAGES": "", "LANG": "fr"}, "fr"),
])
def test_the_locale_decides_the_default_language(env, lang):
    assert default_lang(env) == lang


def test_numbers_amounts_percentages_and_dates_in_french():
    assert format_number(10_904.4, lang="fr") == f"10{NNBSP}904"
    assert format_number(10_904.4) == "10,904"
    assert format_number(5.1434, lang="fr") == "5,14" and format_number(-1234.0, lang="fr") == f"\u22121{NNBSP}234"
    # the unit held to its number by a narrow no-break space: "5,41 M€" never breaks between them
    assert format_estimate(5_409_228, 28_220, "€", "fr")[:2] == (f"5,41{NNBSP}M€", "± 0,03")
    assert format_estimate(11_133, 56, "€", "fr")[:2] == (f"11{NNBSP}130{NNBSP}€", "± 60")
    assert format_estimate(5_409_228, 28_220, "€")[:2] == ("5.41 M€", "± 0.03")  # English keeps its space
    assert format_estimate(830.2, 2.4)[:2] == ("830", "± 2")
    assert format_percent(0.999, "fr") == f"99,9{NNBSP}%" and format_percent(0.99) == "99 %"
    when = dt.datetime(2026, 12, 1, 19, 5, tzinfo=dt.timezone.utc)
    assert format_date(when, "fr") == "1er décembre 2026, 19 h 05 UTC"
    assert format_date(when.replace(day=14), "fr") == "14 décembre 2026, 19 h 05 UTC"
    assert format_date(when) == "2026-12-01 19:05 UTC"


def test_counts_take_the_singular_each_language_wants():
    assert [counted(n, "path") for n in (0, 1, 2, 20_000)] == ["0 paths", "1 path", "2 paths", "20,000 paths"]
    assert [counted(n, "year", "fr") for n in (0, 1, 2)] == ["0 an", "1 an", "2 ans"]  # French: singular below 2
    assert counted(1, "Monte Carlo path", "fr") == "1 trajectoire Monte Carlo"
    assert counted(1500, "project", "fr") == f"1{NNBSP}500 projets"


def test_one_path_says_one_path_and_no_monte_carlo_error(capsys):
    english = _run(["run", str(SHIPPED), "--paths", "1", "--seed", "1"], capsys)
    french = _run(["--lang", "fr", "run", str(SHIPPED), "--paths", "1", "--seed", "1"], capsys)
    assert " — 1 path, 12 years, " in english and " — 1 trajectoire, 12 ans, " in french
    # one path measures no spread: the error column says "–" (undefined), never a 0 that reads as exact
    row = [w for w in english.split("Projects financed")[1].split("\n")[0].split("  ") if w.strip()]
    assert row[1].strip() == "–", row
    # and the lab's one-liners: no "1 paths", no "± 0" (RuntimeWarnings are errors here: no std of one value)
    breakeven = _run(["breakeven", str(SHIPPED), "--paths", "1", "--quiet"], capsys)
    assert "± – (95 %: – – –), 1 path, common random numbers" in breakeven
    compare = _run(["--lang", "fr", "compare", str(SHIPPED), "--paths", "1", "--quiet",
                    "--variant", "g:policy.loan_per_job=12000"], capsys)
    assert "1 trajectoire chacune" in compare


def test_validate_speaks_french(capsys):
    english = _run(["validate", str(SHIPPED), "--bank-paths", "400"], capsys)
    french = _run(["--lang", "fr", "validate", str(SHIPPED), "--bank-paths", "400"], capsys)
    assert ": valid — Scenario('Moselle-Est reconversion fund': 3 sectors, 4 territories, 150 pipeline projects, " \
        "20,000 paths over 12 years); 0 loans in the loan book" in english
    assert " : valide — scénario 'Moselle-Est reconversion fund' : 3 filières, 4 territoires, 150 projets du flux, " \
        f"20{NNBSP}000 trajectoires sur 12 ans ; 0 prêt en portefeuille" in french
    assert "bank economics: interest " in english and "(400 paths, undiscounted, before funding costs)" in english
    assert "économie de la banque : intérêts " in french and "(400 trajectoires, non actualisés, " in french
    # the same figures: the margin, in French separators
    margin = english.split("margin ")[1].split(" €")[0]
    assert french.split("marge ")[1].split(f"{NNBSP}€")[0] == margin.replace(",", NNBSP)  # the euro held to it


def test_every_french_label_fills_the_same_fields_as_its_english():
    import string

    for english, french in FRENCH.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(english) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(french) if f}, english
    with pytest.raises(KeyError):
        t("a label nobody translated", "fr")


def _run(argv, capsys) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_lang_fr_turns_the_run_tables_into_french(capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C")
    english = _run(["run", str(SHIPPED), "--paths", "400", "--seed", "1"], capsys)
    french = _run(["--lang", "fr", "run", str(SHIPPED), "--paths", "400", "--seed", "1"], capsys)
    assert "Projects financed" in english and "Projets financés" not in english
    for words in ("Projets financés", "Emplois additionnels (année 12)", "Coût par emploi additionnel (€)",
                  "moyenne", "± erreur MC", f"q 5{NNBSP}%", "Perte du fonds", f"VaR 99{NNBSP}%", "trajectoires/s"):
        assert words in french, words
    assert "fund_loss" not in french and "Projects financed" not in french
    # the numbers are French: narrow no-break spaces between thousands, decimal commas
    assert f"{NNBSP}" in french and "," in french.split("€ de banque par € du fonds")[1].split("\n")[0]
    # the same figures, only written differently: the first table's cost-per-job mean agrees
    cost_en = [w for w in english.split("Cost per additional job (€)")[1].split(" ") if w][0]
    cost_fr = [w for w in french.split("Coût par emploi additionnel (€)")[1].split(" ") if w][0]  # not on NNBSP
    assert cost_fr == cost_en.replace(",", NNBSP)
    # --lang after the command works too
    assert "Projets financés" in _run(["run", str(SHIPPED), "--paths", "200", "--lang", "fr"], capsys)


def test_a_french_locale_gives_french_unless_told_otherwise(capsys, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert "Projets financés" in _run(["run", str(SHIPPED), "--paths", "200"], capsys)
    assert "Projects financed" in _run(["--lang", "en", "run", str(SHIPPED), "--paths", "200"], capsys)


def test_a_bad_lang_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--lang", "de", "run", str(SHIPPED)])
    assert info.value.code == 2 and "invalid choice: 'de'" in capsys.readouterr().err


def test_report_command_in_french(tmp_path, capsys):
    out = tmp_path / "rapport.html"
    assert main(["report", str(SHIPPED), "--paths", "300", "--lang", "fr", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<html lang='fr'>" in text and "Ce que le fonds obtient" in text


def test_compare_and_stress_speak_french(capsys):
    """The tables of compare and stress in French: labels, and numbers with French separators."""
    assert main(["--lang", "fr", "compare", str(SHIPPED), "--paths", "300", "--quiet",
                 "--variant", "g:policy.loan_per_job=12000,fund.recycle=true"]) == 0
    out = capsys.readouterr().out
    assert "1 variante(s) face à la référence, 300 trajectoires chacune" in out
    assert "fund.recycle = true" in out and "valeur de la variante" in out and f"intervalle à 95{NNBSP}%" in out
    assert main(["--lang", "fr", "stress", str(SHIPPED), "--paths", "300", "--quiet", "--metric", "fund_loss"]) == 0
    out = capsys.readouterr().out
    assert "choc(s) face à la référence" in out and "référence" in out
    assert re.search(r"\d[\s\u202f\u00a0]\d{3}[\s\u202f\u00a0]\d{3}", out)  # a loss in euros grouped the French way
    assert main(["compare", str(SHIPPED), "--paths", "300", "--quiet", "--lang", "en",
                 "--variant", "g:policy.loan_per_job=12000"]) == 0
    assert "variant value" in capsys.readouterr().out


def test_the_exceedance_line_of_run_speaks_french(capsys):
    assert main(["--lang", "fr", "run", str(SHIPPED), "--paths", "200", "--quiet", "--loss-above", "5e6"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("P(perte du fonds > 5") and "€) = 0," in last and "(erreur MC)" in last


def test_tail_speaks_french(capsys):
    assert main(["--lang", "fr", "tail", str(SHIPPED), "--paths", "400", "--quiet", "--level", "0.95"]) == 0
    out = capsys.readouterr().out
    assert "queue de fund_loss" in out and "trajectoires" in out and "0,95:  VaR" in out
    assert main(["--lang", "fr", "tail", str(SHIPPED), "--paths", "400", "--quiet", "--threshold", "5e6"]) == 0
    assert f"intervalle à 95{NNBSP}%" in capsys.readouterr().out
    assert main(["tail", str(SHIPPED), "--paths", "400", "--quiet", "--level", "0.95", "--lang", "en"]) == 0
    assert "tail of fund_loss" in capsys.readouterr().out


def test_breakeven_speaks_french(capsys):
    assert main(["--lang", "fr", "breakeven", str(SHIPPED), "--paths", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "taux du prêt à l'équilibre" in out and "trajectoires" in out and re.search(r"\d,\d{3}\u202f%", out)


def test_sweep_and_optimise_speak_french(capsys):
    assert main(["--lang", "fr", "sweep", str(SHIPPED), "--paths", "200", "--quiet",
                 "--grid", "policy.loan_per_job=8000,12000"]) == 0
    out = capsys.readouterr().out
    assert "points sur les mêmes tirages aléatoires" in out and "frontière de Pareto" in out
    assert re.search(r"\b8[\s\u202f\u00a0]000\b", out) and "8,000" not in out
    assert main(["--lang", "fr", "optimise", str(SHIPPED), "--paths", "200", "--quiet", "--maxiter", "1",
                 "--over", "policy.loan_per_job=3000:20000", "--maximise", "jobs_additional",
                 "--subject-to", "fund_loss.es_0.99<=9e6"]) == 0
    out = capsys.readouterr().out
    assert "meilleure politique trouvée" in out and "contrainte" in out and "oui (oui)" in out
    assert re.search(r"<= 9[\s\u202f\u00a0]000[\s\u202f\u00a0]000", out)


def test_explain_speaks_french(capsys):
    argv = ["explain", str(SHIPPED), "--paths", "128", "--quiet", "--range", "policy.loan_per_job=8000:12000"]
    english = _run(argv, capsys)
    french = _run(["--lang", "fr"] + argv, capsys)
    assert "sensitivity of jobs_additional (common random numbers)" in english
    assert "sensibilité de jobs_additional (mêmes tirages aléatoires)" in french and "valeur de base" in french
    for words in ("paramètre", "plage", "en bas", "en haut", "écart", "± erreur"):
        assert words in french, words
    assert "swing" not in french and "base value" not in french
    # the same swing and error, written the French way
    last_en, last_fr = (out.strip().splitlines()[-1].split()[-2:] for out in (english, french))
    assert last_fr == [localise(w, "fr") for w in last_en]


def test_an_unknown_language_is_refused_not_read_as_english(tmp_path):
    import levier
    from levier.present.display import run_report
    from levier.present.output import write_result

    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    for lang in ("de", "FR"):
        with pytest.raises(ValueError, match="lang must be one of en, fr"):
            write_result(result, tmp_path / lang, lang=lang)
        assert not (tmp_path / lang).exists()  # refused before anything was written
        with pytest.raises(ValueError, match="lang must be one of en, fr"):
            run_report(result, lang)
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="lang must be one of en, fr"):
        result.plot.loss(lang="de")


def test_no_language_is_the_locale_s(tmp_path, monkeypatch):
    import openpyxl

    import levier
    from levier.present.display import run_report
    from levier.present.output import write_result

    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=20, seed=1)
    write_result(result, tmp_path / "r", lang=None)
    assert "synthèse" in openpyxl.load_workbook(tmp_path / "r" / "results.xlsx").sheetnames
    assert "trajectoires" in run_report(result, None)


def test_check_calibration_speaks_french_and_its_markdown_stays_english(capsys):
    french = _run(["--lang", "fr", "check-calibration", str(SHIPPED), "--paths", "200"], capsys)
    for words in ("[calibré]", "publié ", "fourchette de", "MC à 95", "économie de la banque", "désaccord(s) sur",
                  "trajectoires chacun"):
        assert words in french, words
    for english in ("    published ", "→ agrees", "disagreement(s) over", "[calibrated]", "bank economics"):  # the frame's
        assert english not in french, english  # (the figures' own descriptions are English data)
    markdown = _run(["--lang", "fr", "check-calibration", str(SHIPPED), "--paths", "200", "--markdown"], capsys)
    assert "| scenario | published figure |" in markdown and "disagreement(s) over" in markdown  # docs/calibration.md

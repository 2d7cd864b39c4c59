"""The HTML report: a board pack — self-contained, complete, readable (no code names, money rounded
to its Monte Carlo error, each card's own interval), in English and French, and rendered by a
real browser at desktop, phone and print sizes without errors or sideways scrolling."""

from __future__ import annotations

import datetime as dt
import html
import os
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import levier
from levier.cli import main
from levier.present.i18n import NNBSP, format_estimate
from levier.present.report import es_interval, report_html, write_report
from levier.stats import expected_shortfall

from conftest import SHIPPED

pytest.importorskip("matplotlib")

FIGURES = ["fig-exceedance", "fig-loss", "fig-jobs", "fig-cost", "fig-fan-jobs", "fig-fan-outstanding", "fig-fan-defaults",
           "fig-leverage", "fig-sector", "fig-territory", "fig-j-curve"]


WHEN = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=2_000, seed=2005)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_html(result, generated=WHEN), encoding="utf-8")
    return path, result


@pytest.fixture(scope="module")
def report_fr(report, tmp_path_factory):
    _, result = report
    return write_report(result, tmp_path_factory.mktemp("report") / "rapport.html", lang="fr"), result


def _text(html_text: str) -> str:
    """What a reader sees: the page without its style, its SVG figures and its tags."""
    body = re.sub(r"<style>.*?</style>|<svg.*?</svg>", " ", html_text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _card(html_text: str, label: str) -> tuple[str, str, str]:
    match = re.search(r"<div class='label'>" + re.escape(label) + r"</div><div class='value'><span class='num'>(.*?)</span>"
                      r"(?: <span class='pm'>(.*?)</span>)?</div><div class='interval'>(.*?)</div>", html_text)
    assert match, label
    return match.group(1), match.group(2) or "", match.group(3)


def test_cards_are_rounded_to_their_monte_carlo_error_and_give_their_own_interval(report):
    path, result = report
    text = path.read_text(encoding="utf-8")
    summary = result.summary()
    z = 1.959963984540054
    mean, se = summary.loc["fund_loss", "mean"], summary.loc["fund_loss", "mc_se"]
    value, pm, interval = _card(text, "Fund expected loss")
    assert (value, pm) == format_estimate(mean, z * se, "€")[:2]
    assert value.endswith(" M€") and len(value.split(".")[1].split()[0]) <= 3  # not to the euro
    # the ES card's interval is the ES's own (bootstrap), not the VaR's order-statistic interval
    es_value, es_pm, es_text = _card(text, "Fund loss, ES 99 %")
    low, high = es_interval(result.paths["fund_loss"].to_numpy(), 0.99)
    es = summary.loc["fund_loss", "es_0.99"]
    assert low < es < high and "bootstrap" in es_text
    decimals = format_estimate(es, max(es - low, high - es), "€")[2]
    assert f"{low / 1e6:.{decimals}f} – {high / 1e6:.{decimals}f} M€" in es_text
    var_low, var_high = summary.loc["fund_loss", "var_0.99_low"], summary.loc["fund_loss", "var_0.99_high"]
    assert f"{var_low / 1e6:.{decimals}f}" not in es_text or f"{var_high / 1e6:.{decimals}f}" not in es_text


def test_the_report_shows_no_code_names(report):
    path, result = report
    seen = _text(path.read_text(encoding="utf-8"))
    for code in ("fund_net_cost", "fund_loss", "q_0.05", "mc_se", "es_contribution", "jobs_additional",
                 "seed spawn key", "[]", "n_financed", "leverage_bank"):
        assert code not in seen, code
    assert "Fund's net cost" in seen and "5 % quantile" in seen


def test_the_loss_in_a_bad_decade_is_read_in_a_sentence(report):
    path, result = report
    seen = " ".join(_text(path.read_text(encoding="utf-8")).split())
    var = result.summary().loc["fund_loss", "var_0.99"]
    found = re.search(r"Once in 100 12-year futures, the fund loses more than ([0-9.]+) M€ \(the 99 % VaR\)", seen)
    assert found, seen[:300]
    # three significant figures: the printed figure is the VaR to half a unit of its last digit
    printed = float(found.group(1))
    assert abs(printed - var / 1e6) <= 0.5 * 10 ** (math.floor(math.log10(var / 1e6)) - 2) + 1e-12


def test_jobs_and_cost_by_sector_and_territory_and_the_scenario_are_shown(report):
    path, result = report
    text = path.read_text(encoding="utf-8")
    for heading in ("Jobs and cost by sector", "Jobs and cost by territory", "The pipeline", "Sectors", "Territories"):
        assert f">{heading}<" in text, heading
    for name in result.scenario.sector_names + result.scenario.territory_names:
        assert f">{name}<" in text
    # the by-sector figures are the result's, e.g. additional jobs of each sector
    by_sector = result.by_sector()
    for jobs in by_sector["jobs_additional"]:
        assert f">{levier.present.display.format_number(jobs)}<" in text


def test_the_report_in_french(report_fr):
    path, result = report_fr
    text = path.read_text(encoding="utf-8")
    seen = _text(text)
    assert "<html lang='fr'>" in text
    for words in ("Ce que le fonds obtient", "Emplois additionnels en année 12", "Coût par emploi additionnel",
                  "Emplois et coût par filière", "Le scénario", "Provenance", "rapport produit le"):
        assert words in seen, words
    mean, se = result.summary().loc["fund_loss", ["mean", "mc_se"]]
    value, pm, _ = _card(text, "Perte moyenne du fonds")
    assert (value, pm) == format_estimate(mean, 1.959963984540054 * se, "€", "fr")[:2] and "," in value
    assert f"{NNBSP}%" in seen and re.search(r"\d{1,3}" + NNBSP + r"\d{3}", seen)  # 99 %, 10 904
    assert not re.search(r"\d,\d{3}\b(?!\d)", seen.replace(" M€", "")) or "," in value  # no English thousands
    var = result.summary().loc["fund_loss", "var_0.99"]
    said = re.search(r"Une fois sur 100, sur 12 ans, le fonds perd plus de ([0-9]+(?:,[0-9]+)?)" + NNBSP + r"M€ \(la VaR 99"
                     + NNBSP + r"%\)", " ".join(seen.split(" ")))
    assert said, seen[:300]
    # three significant figures, with a decimal comma: the VaR to half a unit of the last digit
    printed = float(said.group(1).replace(",", "."))
    assert abs(printed - var / 1e6) <= 0.5 * 10 ** (math.floor(math.log10(var / 1e6)) - 2) + 1e-12
    assert f"intervalle à 95{NNBSP}% de l'ES" in seen and "de la ES" not in seen
    # the capital left in M€ as every other amount, the unit in the cells, not in the label
    left = re.search(r"Capital restant à prêter \(année 12\)\s+([0-9]+,[0-9]+)" + NNBSP + "M€", seen)
    assert left and "Capital restant à prêter (année 12, €)" not in seen, seen[:200]
    # scenario keys and names stay as they are
    assert "plasturgie" in seen


def test_the_bootstrap_es_interval_is_the_sorted_resamples_and_covers_the_true_es():
    from scipy import stats

    # the O(n) resampling gives exactly the ES of each sorted resample
    rng = np.random.default_rng(5)
    x = np.round(rng.exponential(size=300), 1)  # ties on purpose
    low, high = es_interval(x, 0.9, resamples=50, seed=11)
    draws = np.random.default_rng(11)
    xs = np.sort(x)
    replicas = [expected_shortfall(xs[draws.integers(0, x.size, x.size)], 0.9) for _ in range(50)]
    half = stats.norm.ppf(0.975) * np.std(replicas, ddof=1)
    assert (low, high) == pytest.approx((expected_shortfall(x, 0.9) - half, expected_shortfall(x, 0.9) + half), rel=1e-12)
    # coverage of the exact ES of a standard normal loss, phi(z_a) / (1 - a); 150 samples of 1 000
    alpha, reps = 0.95, 150
    truth = stats.norm.pdf(stats.norm.ppf(alpha)) / (1 - alpha)
    rng = np.random.default_rng(2026)
    hits, halves, estimates = 0, [], []
    for r in range(reps):
        sample = rng.standard_normal(1_000)
        lo, hi = es_interval(sample, alpha, resamples=200, seed=r)
        hits += lo <= truth <= hi
        halves.append((hi - lo) / 2)
        estimates.append(expected_shortfall(sample, alpha))
    # 95 % nominal; 4 binomial standard errors below it (the ES estimator's small bias costs a point or two)
    assert hits / reps >= 0.95 - 4 * np.sqrt(0.95 * 0.05 / reps)
    # and the interval is as wide as the estimator's real spread across samples (within 25 %)
    assert np.mean(halves) == pytest.approx(1.96 * np.std(estimates, ddof=1), rel=0.25)


def test_the_report_is_self_contained_and_complete(report):
    path, result = report
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    # nothing is fetched: no src/href to a network address, no @import, no url() outside the page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(http" not in text
    for fig in FIGURES:
        assert f"id='{fig}'" in text
    assert result.meta["scenario_hash"] in text and str(result.meta["seed_entropy"]) in text
    assert result.meta["levier_version"] in text
    assert "name='viewport'" in text and "@media print" in text


def test_the_same_result_gives_the_same_report(report):
    path, result = report
    assert report_html(result, generated=WHEN) == path.read_text(encoding="utf-8")


def _browser(width: int = 1280, height: int = 1800):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium and chromedriver are not installed (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


#: Set LEVIER_SCREENSHOTS=docs to refresh the README's screenshots from this test.
SHOTS = os.environ.get("LEVIER_SCREENSHOTS")

_OVERFLOW = ("return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
             " Array.from(document.querySelectorAll('.table')).filter(e => e.scrollWidth > e.clientWidth + 1)"
             "   .map(e => e.querySelector('table').innerText.slice(0, 40))]")


def _save(browser, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if SHOTS:
        from PIL import Image

        image = Image.open(shot).convert("RGB")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        image.quantize(colors=128).save(Path(SHOTS) / name, optimize=True)
    return shot


def test_headless_chromium_renders_every_figure_without_console_errors(report, tmp_path):
    path, _ = report
    browser = _browser()
    try:
        browser.get(path.resolve().as_uri())
        errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        sizes = browser.execute_script(
            "return Array.from(document.querySelectorAll('figure.plot')).map(f => {"
            "  const r = f.querySelector('svg').getBoundingClientRect();"
            "  const s = getComputedStyle(f);"
            "  return [f.id, r.width, r.height, s.display, s.visibility]; })")
        assert [s[0] for s in sizes] == FIGURES
        for fig_id, width, height, display, visibility in sizes:
            assert width > 300 and height > 150, (fig_id, width, height)
            assert display != "none" and visibility == "visible", fig_id
        # at 1 280 px nothing scrolls sideways: not the page, not one table
        page, inner, scrolling = browser.execute_script(_OVERFLOW)
        assert page <= inner and scrolling == []
        # no card's figure runs out of it (into the next card): a long value puts its ± below
        spilling = browser.execute_script(
            "return Array.from(document.querySelectorAll('.card')).filter(c => c.scrollWidth > c.clientWidth)"
            ".map(c => c.querySelector('.label').textContent)")
        assert spilling == []
        _save(browser, tmp_path, "report.png")
        # on a phone the page reflows: nothing wider than the screen
        browser.set_window_size(390, 844)
        width, inner, _ = browser.execute_script(_OVERFLOW)
        assert width <= inner
        assert browser.save_screenshot(str(tmp_path / "report-phone.png"))
    finally:
        browser.quit()


def test_the_report_prints_on_a4_with_sections_on_new_pages_and_no_cut_table(report, tmp_path):
    import base64

    path, _ = report
    browser = _browser(794, 1123)  # an A4 page at 96 dpi
    try:
        browser.get(path.resolve().as_uri())
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        page, inner, scrolling = browser.execute_script(_OVERFLOW)
        assert page <= inner and scrolling == [], scrolling
        # every table fits the printed width; every section after the first starts a page
        cut = browser.execute_script(
            "const w = document.body.getBoundingClientRect().right + 1;"
            "return Array.from(document.querySelectorAll('table')).filter(t => t.getBoundingClientRect().right > w)"
            "  .map(t => t.innerText.slice(0, 40))")
        assert cut == []
        breaks = browser.execute_script(
            "return Array.from(document.querySelectorAll('section')).map(s => getComputedStyle(s).breakBefore)")
        assert breaks[0] != "page" and set(breaks[1:]) == {"page"}
        _save(browser, tmp_path, "report-print.png")
        from selenium.webdriver.common.print_page_options import PrintOptions

        options = PrintOptions()
        options.page_width, options.page_height = 21.0, 29.7
        pdf = base64.b64decode(browser.print_page(options))
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        sections = len(breaks)
        assert pdf.startswith(b"%PDF") and pages >= sections, (pages, sections)
    finally:
        browser.quit()


def test_report_command_from_a_scenario_and_from_a_results_folder(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(SHIPPED), "--paths", "300", "--out", str(out)]) == 0
    assert out.is_file() and "report written" in capsys.readouterr().out
    assert main(["--lang", "fr", "report", str(SHIPPED), "--paths", "300", "--out", str(tmp_path / "fr.html")]) == 0
    assert f"rapport écrit dans {tmp_path / 'fr.html'} (" in capsys.readouterr().out
    assert main(["report", str(SHIPPED), "--paths", "300", "--out", str(out)]) == 2  # never overwritten silently
    assert "exists" in capsys.readouterr().err
    folder = tmp_path / "run"
    assert main(["run", str(SHIPPED), "--paths", "300", "--seed", "9", "--out", str(folder)]) == 0
    assert main(["report", "--from", str(folder), "--out", str(tmp_path / "again.html")]) == 0
    capsys.readouterr()
    # a folder that the scenario no longer reproduces is refused, and says why
    paths_csv = folder / "paths.csv"
    paths_csv.write_text(paths_csv.read_text().replace(",", ";", 3), encoding="utf-8")
    assert main(["report", "--from", str(folder), "--out", str(tmp_path / "bad.html")]) == 2
    assert not (tmp_path / "bad.html").exists()
    assert main(["report", "--out", str(tmp_path / "x.html")]) == 2
    assert "scenario file or --from" in capsys.readouterr().err


@pytest.mark.parametrize("lang, interval", [("en", "95 % interval –"), ("fr", "intervalle à 95 % : –")])
def test_a_report_of_one_path_shows_no_interval_and_no_warning(moselle, lang, interval):
    # one path measures no Monte Carlo error: the cards give the value and "–" for the interval
    # (RuntimeWarnings are errors here: no std of one value is taken)
    text = report_html(levier.simulate(moselle, paths=1, seed=5), lang=lang)
    plain = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))
    assert interval in plain
    assert ("1 Monte Carlo path over 12 years" if lang == "en" else "1 trajectoire Monte Carlo sur 12 ans") in plain

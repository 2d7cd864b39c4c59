"""The HTML report: self-contained, complete, and rendered by a real browser without errors."""

from __future__ import annotations

import re
import shutil

import pytest

import levier
from levier.cli import main
from levier.present.report import report_html, write_report

from conftest import SHIPPED

pytest.importorskip("matplotlib")

FIGURES = ["fig-loss", "fig-jobs", "fig-cost", "fig-fan-jobs", "fig-fan-outstanding", "fig-fan-defaults",
           "fig-leverage", "fig-sector", "fig-territory"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    result = levier.simulate(levier.load_scenario(SHIPPED), paths=1_000, seed=2005)
    return write_report(result, tmp_path_factory.mktemp("report") / "report.html"), result


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
    import datetime as dt

    _, result = report
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert report_html(result, generated=when) == report_html(result, generated=when)


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium and chromedriver are not installed (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


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
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        # on a phone the page reflows: nothing wider than the screen
        browser.set_window_size(390, 844)
        width, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner
        assert browser.save_screenshot(str(tmp_path / "report-phone.png"))
    finally:
        browser.quit()


def test_report_command_from_a_scenario_and_from_a_results_folder(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(SHIPPED), "--paths", "300", "--out", str(out)]) == 0
    assert out.is_file() and "report written" in capsys.readouterr().out
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

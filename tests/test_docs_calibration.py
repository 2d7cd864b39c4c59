"""docs/calibration.md is what `levier check-calibration --paths 5000 --markdown --tornado` prints today."""

from __future__ import annotations

import pytest

from levier.cli import main

from conftest import ROOT

TORNADO = "## What the assumptions weigh"


def _tables(text: str) -> list[str]:
    head = text.split(TORNADO)[0]
    return [line for line in head.splitlines() if line.startswith("|")]


def test_calibration_doc_is_current(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check-calibration", "--paths", "5000", "--markdown"]) == 0
    fresh = _tables(capsys.readouterr().out)
    documented = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")
    assert _tables(documented) == fresh
    assert "### Calibration targets" in documented and "### Validation targets" in documented
    assert len(fresh) >= 2 + 10


@pytest.mark.slow
def test_calibration_doc_tornado_is_current(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check-calibration", "--paths", "5000", "--markdown", "--tornado"]) == 0
    fresh = capsys.readouterr().out.split(TORNADO)[1]
    documented = (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8").split(TORNADO)[1]
    assert [line for line in documented.splitlines() if line.startswith("|")] == \
        [line for line in fresh.splitlines() if line.startswith("|")]

"""docs/calibration.md is what `levier check-calibration --paths 5000 --markdown` prints today."""

from __future__ import annotations

from levier.cli import main

from conftest import ROOT


def test_calibration_doc_is_current(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check-calibration", "--paths", "5000", "--markdown"]) == 0
    fresh = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    documented = [line for line in (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8").splitlines()
                  if line.startswith("|")]
    assert documented == fresh
    assert len(fresh) >= 2 + 10

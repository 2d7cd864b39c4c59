"""docs/scenario.md is the schema's own reference: current, complete, and every key explained."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel

from levier.model.scenario import Scenario
from levier.present.reference import inner_model, scenario_reference

from conftest import ROOT

DOC = ROOT / "docs" / "scenario.md"


def _models() -> list[type[BaseModel]]:
    found, todo = [], [Scenario]
    while todo:
        model = todo.pop()
        found.append(model)
        for field in model.model_fields.values():
            inner = inner_model(field.annotation)
            if inner is not None and inner not in found:
                todo.append(inner)
    return found


def test_docs_scenario_md_is_current():
    fresh = scenario_reference()
    assert DOC.read_text(encoding="utf-8") == fresh, (
        "docs/scenario.md is out of date: run `python -m levier.present.reference > docs/scenario.md`")


def test_every_key_has_a_meaning_and_appears_in_the_reference():
    text = scenario_reference()
    missing = [f"{m.__name__}.{name}" for m in _models() for name, f in m.model_fields.items() if not f.description]
    assert missing == []
    for model in _models():
        if model is Scenario:
            continue
        for name in model.model_fields:
            assert f"| `{name}` |" in text, (model.__name__, name)


def test_required_keys_and_the_silent_zero_defaults_are_said():
    text = scenario_reference()
    policy = text[text.index("## `[policy]`"):text.index("## `[bank]`")]
    assert "| `loan_per_job` |" in policy and "**required**" in policy.split("| `loan_per_job` |")[1].split("\n")[0]
    sectors = text[text.index("## `[[sectors]]`"):text.index("## `[[territories]]`")]
    row = sectors.split("| `recovery_mean` |")[1].split("\n")[0]
    assert "`0.0`" in row and "nothing recovered" in row
    pipeline = text[text.index("## `[pipeline]`"):]
    assert "lognormal" in pipeline.split("| `investment_sigma` |")[1].split("\n")[0]
    assert "no bank decision" in text[text.index("## `[loan_book]`"):]


def test_the_generator_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "levier.present.reference"], capture_output=True, check=True,
                         encoding="utf-8")
    assert out.stdout == scenario_reference()

"""Scenario files: the example's names, validation that names the key, overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

import levier
from levier.model.scenario import parse_assignment

from conftest import DELETE, ROOT, SHIPPED, base_dict, make_scenario, set_at

ANNOTATED = ROOT / "examples" / "annotated.toml"


def test_shipped_scenario_loads_and_is_frozen(moselle):
    assert moselle.meta.name == "Moselle-Est reconversion fund"
    assert moselle.sector_names == ["plasturgie", "automobile", "logistique"]
    with pytest.raises(Exception):
        moselle.policy.loan_per_job = 1  # frozen


def test_the_annotated_example_is_a_valid_scenario_that_comments_every_key():
    scenario = levier.load_scenario(ANNOTATED)
    assert scenario.policy.loan_per_job == 7_500 and scenario.loan_book is not None and scenario.variants
    lines = ANNOTATED.read_text(encoding="utf-8").splitlines()
    data = tomllib.loads("\n".join(lines))
    from levier.present.reference import inner_model

    def check(model, table, where):
        for key, field in model.model_fields.items():
            assert key in table, f"{where}.{key} is not in examples/annotated.toml"
            inner = inner_model(field.annotation)
            value = table[key]
            if inner is not None and isinstance(value, dict) and key != "set":
                check(inner, value, f"{where}.{key}")
            elif inner is not None and isinstance(value, list):
                for i, item in enumerate(value):
                    check(inner, item, f"{where}.{key}[{i}]")

    from levier.model.scenario import Scenario

    check(Scenario, data, "scenario")
    # every line that sets a key says what it is (a comment on the line)
    for line in lines:
        code = line.split("#")[0]
        if "=" in code and not line.lstrip().startswith("#"):
            assert "#" in line, f"uncommented key in examples/annotated.toml: {line}"


def test_shipped_scenario_uses_the_contract_names():
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    for table in ("meta", "simulation", "fund", "policy", "bank", "defaults", "sectors", "territories", "pipeline"):
        assert table in data
    for key in ("loan_per_job", "loan_cap", "max_share_of_investment", "rate", "maturity_years", "grace_years",
                "max_pd", "subsidy_per_job", "clawback_year", "takeover_job_share"):
        assert key in data["policy"], key


def test_with_overrides_returns_a_new_validated_scenario(moselle):
    changed = moselle.with_overrides({"policy.loan_per_job": 10_000, "sectors.automobile.annual_pd": 0.05,
                                      "territories[0].loading": 0.1, "simulation.paths": 10})
    assert changed.policy.loan_per_job == 10_000
    assert changed.sectors[1].annual_pd == 0.05
    assert changed.territories[0].loading == 0.1
    assert moselle.policy.loan_per_job != 10_000 or moselle.simulation.paths != 10  # original intact
    assert moselle.sectors[1].annual_pd == 0.0149
    assert changed.content_hash() != moselle.content_hash()


@pytest.mark.parametrize(
    "overrides, key, words",
    [
        ({"policy.loan_per_jb": 1}, "policy.loan_per_jb", "did you mean 'loan_per_job'"),
        ({"policy.max_pd": "high"}, "policy.max_pd", "valid number"),
        ({"sectors.chimie.annual_pd": 0.1}, "sectors.chimie.annual_pd", "unknown name 'chimie'"),
        ({"sectors.automobile.annual_pd": 1.5}, "sectors[1] (automobile).annual_pd", "less than 1"),
    ],
)
def test_bad_overrides_name_the_key(moselle, overrides, key, words):
    with pytest.raises(levier.ScenarioError) as info:
        moselle.with_overrides(overrides)
    assert key in str(info.value) and words in str(info.value)


def test_parse_assignment_reads_toml_values():
    assert parse_assignment("policy.rate=0.03") == ("policy.rate", 0.03)
    assert parse_assignment("fund.recycle=true") == ("fund.recycle", True)
    assert parse_assignment("meta.name=Alès") == ("meta.name", "Alès")
    assert parse_assignment("simulation.risk_levels=[0.9, 0.99]") == ("simulation.risk_levels", [0.9, 0.99])
    with pytest.raises(levier.ScenarioError):
        parse_assignment("policy.rate")


_mutate, _DELETE = set_at, DELETE

# one case per kind of mistake the issue names: (mutation, key named in the message, words)
BAD_CASES = {
    "typo": ((["policy", "loan_per_jobs"], 5), "policy.loan_per_jobs", "unknown key"),
    "wrong type": ((["fund", "capital"], "lots"), "fund.capital", "valid number"),
    "pd above 1": ((["sectors", 0, "annual_pd"], 1.2), "sectors[0] (plasturgie).annual_pd", "less than 1"),
    "pd negative": ((["sectors", 1, "annual_pd"], -0.1), "sectors[1] (automobile).annual_pd", "greater than or equal to 0"),
    "loadings too big": ((["sectors", 1, "loading"], 0.95), "sectors[1] (automobile).loading", "sum to less than 1"),
    "mix not summing to 1": ((["pipeline", "sector_mix", "plasturgie"], 0.7), "pipeline.sector_mix", "must sum to 1"),
    "mix names unknown sector": ((["pipeline", "sector_mix"], {"plasturgie": 0.5, "chimie": 0.5}),
                                 "pipeline.sector_mix.chimie", "unknown sector 'chimie'"),
    "missing key": ((["policy", "loan_cap"], _DELETE), "policy.loan_cap", "missing"),
    "missing loan book": ((["loan_book"], {"path": "absent.csv"}), "loan_book.path", "no such file"),
    "grace longer than maturity": ((["policy", "grace_years"], 5), "policy.grace_years", "less than policy.maturity_years"),
    "duplicate sector": ((["sectors", 1, "name"], "plasturgie"), "sectors[1].name", "duplicate"),
    "pipeline past the horizon": ((["pipeline", "years"], 9), "pipeline.years", "after the horizon"),
    "infinite": ((["fund", "capital"], float("inf")), "fund.capital", "finite"),
}


def _write(tmp_path: Path, data: dict) -> Path:
    lines = []

    def emit(prefix, table):
        scalars = {k: v for k, v in table.items() if not isinstance(v, (dict, list)) or
                   (isinstance(v, list) and not (v and isinstance(v[0], dict))) or
                   (isinstance(v, dict) and prefix)}
        lines.append(f"[{prefix}]" if prefix else "")
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml(v)}")

    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"[[{key}]]")
                lines.extend(f"{k} = {_toml(v)}" for k, v in item.items())
        else:
            emit(key, value)
    path = tmp_path / "scenario.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v == float("inf"):
        return "inf"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def test_round_trip_of_the_writer(tmp_path):
    scenario = levier.load_scenario(_write(tmp_path, base_dict()))
    assert scenario.model_dump() == make_scenario().model_dump()


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_each_kind_of_bad_file_is_named(tmp_path, case, capsys):
    (path, value), key, words = BAD_CASES[case]
    data = _mutate(base_dict(), path, value) if path[0] != "loan_book" else {**base_dict(), "loan_book": value}
    file = _write(tmp_path, data)
    with pytest.raises(levier.ScenarioError) as info:
        levier.load_scenario(file)
    message = str(info.value)
    assert str(file) in message and key in message and words in message, message
    # and from the command line: exit 2, the same message, no traceback
    from levier.cli import main

    assert main(["validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


def test_unreadable_files_are_input_errors(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(levier.ScenarioError, match="no such file"):
        levier.load_scenario(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy\nloan = 1", encoding="utf-8")
    with pytest.raises(levier.ScenarioError, match="not valid TOML"):
        levier.load_scenario(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(levier.ScenarioError, match="not UTF-8"):
        levier.load_scenario(binary)
    with pytest.raises(levier.ScenarioError, match="is a folder"):
        levier.load_scenario(tmp_path)


def test_scenario_needs_projects():
    with pytest.raises(levier.ScenarioError, match="needs a \\[pipeline\\]"):
        make_scenario(pipeline=None)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("fund.recycle", "yes", "valid boolean"),
    ("fund.recycle", 1, "valid boolean"),
    ("policy.loan_per_job", "10000", "valid number"),
    ("policy.maturity_years", 7.0, "valid integer"),
])
def test_a_value_of_the_wrong_type_is_refused_not_converted(key, value, expected):
    """A string where a number or a boolean belongs, a 1 for true or 7.0 years, is the user's
    slip: refused, naming the key, rather than read as what it might have meant."""
    data = base_dict()
    section, name = key.split(".")
    data[section] = dict(data[section], **{name: value})
    with pytest.raises(levier.ScenarioError, match=rf"{key}: Input should be a {expected}"):
        levier.Scenario.from_dict(data, source="<test>")
    data[section][name] = {"fund.recycle": True, "policy.loan_per_job": 10_000, "policy.maturity_years": 7}[key]
    levier.Scenario.from_dict(data, source="<test>")  # the right type passes (an integer where a number goes)


def test_numpy_scalars_are_taken_as_python_numbers():
    """A notebook's ``np.arange`` of maturities or ``np.float64`` rate is what it stands for."""
    import numpy as np

    scenario = make_scenario()
    for years in np.arange(3, 6):
        assert scenario.with_overrides({"policy.maturity_years": years}).policy.maturity_years == int(years)
    assert scenario.with_overrides({"policy.rate": np.float64(0.03), "fund.recycle": np.True_}).fund.recycle is True


def test_a_problem_of_the_scenario_is_not_repeated_for_each_variant(tmp_path):
    """A missing loan book is the scenario's problem: said once, not again under variants[i];
    a problem a variant makes is still said under its name."""
    data = base_dict(loan_book={"path": "missing.csv"},
                     variants=[{"name": "v", "set": {"policy.loan_per_job": 9000}},
                               {"name": "w", "set": {"policy.loan_per_job": -1}}])
    with pytest.raises(levier.ScenarioError) as caught:
        levier.Scenario.from_dict(data, source="<test>", base_dir=tmp_path)
    wheres = [pr.where for pr in caught.value.problems]
    assert wheres.count("loan_book.path") == 1 and not any(w.startswith("variants[0]") for w in wheres)
    assert any(w.startswith("variants[1].set") for w in wheres)


def test_tuples_and_numpy_arrays_are_taken_as_lists():
    """What a notebook passes for a list key (a tuple, a numpy array) is the list it stands for."""
    import numpy as np

    scenario = make_scenario()
    assert list(scenario.with_overrides({"simulation.risk_levels": (0.9, 0.99)}).simulation.risk_levels) == [0.9, 0.99]
    ramp = scenario.with_overrides({"sectors.0.job_ramp": np.array([0.5, 1.0])}).sectors[0].job_ramp
    assert list(ramp) == [0.5, 1.0]


def test_one_pass_lists_every_problem_with_numpy_values_too():
    """numpy values are converted before validation, so the checks across keys still run with them."""
    import numpy as np

    data = base_dict()
    data["policy"] = dict(data["policy"], maturity_years=np.int64(7), grace_years=7)
    data["bank"] = dict(data["bank"], gearing="x")
    with pytest.raises(levier.ScenarioError) as caught:
        levier.Scenario.from_dict(data, source="<test>")
    wheres = {pr.where for pr in caught.value.problems}
    assert "bank.gearing" in wheres and any("grace_years" in w for w in wheres)


def test_an_unset_whole_number_key_is_rounded_by_the_lab():
    """pipeline.seed is unset (None) in most scenarios: the schema says it is whole, so a grid's
    floats are rounded for it as for any integer key."""
    from levier.model.scenario import integer_field

    assert integer_field("pipeline.seed") and integer_field("policy.maturity_years")
    assert not integer_field("policy.rate") and not integer_field("fund.recycle")
    swept = levier.lab.sweep(make_scenario(), grid={"pipeline.seed": "0:2:3"}, statistics=["fund_loss.mean"],
                             paths=32, seed=1)
    assert swept.table["pipeline.seed"].tolist() == [0, 1, 2]
    assert str(swept.table["pipeline.seed"].dtype).startswith("int")


def test_nested_overrides_set_keys_and_keep_the_table_s_others():
    from conftest import SHIPPED

    moselle = levier.load_scenario(SHIPPED)
    shorter = moselle.with_overrides({"simulation": {"horizon_years": 10}})
    assert (shorter.simulation.horizon_years, shorter.simulation.seed, shorter.simulation.paths) == (
        10, moselle.simulation.seed, moselle.simulation.paths)
    nested = moselle.with_overrides({"policy": {"loan_per_job": 12_000}, "sectors": {"automobile": {"annual_pd": 0.05}}})
    dotted = moselle.with_overrides({"policy.loan_per_job": 12_000, "sectors.automobile.annual_pd": 0.05})
    assert nested == dotted
    assert moselle.with_overrides({"policy": {}}).content_hash() == moselle.content_hash()  # an empty table sets nothing
    # a mapping that is a key's value is kept whole, as a value
    mix = moselle.with_overrides({"pipeline": {"sector_mix": {name: 1.0 if i == 0 else 0.0
                                                              for i, name in enumerate(moselle.sector_names)}}})
    assert mix.pipeline.sector_mix[moselle.sector_names[0]] == 1.0
    # the lab's variants, from Python as from a scenario file
    table = levier.compare(moselle, {"v": {"policy": {"loan_per_job": 12_000}}}, paths=20, seed=1).table
    same = levier.compare(moselle, {"v": {"policy.loan_per_job": 12_000}}, paths=20, seed=1).table
    pd.testing.assert_frame_equal(table, same)
    with pytest.raises(levier.ScenarioError, match="policy.typo"):
        moselle.with_overrides({"policy": {"typo": 1}})

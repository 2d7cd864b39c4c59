"""Fuzzing the inputs: mutated scenario files and loan books end in a valid run or in exit code 2
with a message naming the problem — never a traceback, never a hang.

Cases that broke levier once are kept in ``tests/fuzz_corpus/`` and replayed by
:func:`test_regression_corpus`.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levier.cli import main

from conftest import CASES, DELETE, ROOT, SHIPPED, base_dict, set_at

CORPUS = Path(__file__).parent / "fuzz_corpus"
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# -- a small TOML writer (the standard library only reads TOML) ----------------------------------

def _key(k: str) -> str:
    bare = k and all(c.isascii() and (c.isalnum() or c in "-_") for c in k)
    return k if bare else json.dumps(k, ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(data: dict) -> str:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, (dict, list)) or
             (isinstance(v, list) and not all(isinstance(x, dict) for x in v)) or (isinstance(v, list) and not v)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"\n[{_key(k)}]")
            lines += [f"{_key(a)} = {_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines.append(f"\n[[{_key(k)}]]")
                lines += [f"{_key(a)} = {_value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        for i, v in enumerate(node):
            yield from _leaves(v, (*prefix, i))
    yield prefix


BASE = base_dict(loan_book=None)
LEAVES = [p for p in _leaves(BASE) if p]

bad_values = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, -1, 0, -0.5, 10**30, 2**63, "", "ü名🙂", [], {},
                     True, False, "12", [1, "a"], {"x": 1}, 1e-320]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**12), 10**12),
    st.text(max_size=20),
)


_set, _DELETE = set_at, DELETE


@st.composite
def mutated_scenarios(draw) -> bytes:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["value", "value", "delete", "unknown", "duplicate", "mix", "empty"]))
        path = draw(st.sampled_from(LEAVES))
        try:
            if kind == "value":
                _set(data, path, draw(bad_values))
            elif kind == "delete":
                _set(data, path, _DELETE)
            elif kind == "unknown":
                table = data if len(path) == 1 else data[path[0]]
                if isinstance(table, dict):
                    table[draw(st.text(min_size=1, max_size=8))] = draw(bad_values)
            elif kind == "duplicate":
                data["sectors"].append(copy.deepcopy(data["sectors"][0]))
            elif kind == "mix" and "pipeline" in data:
                data["pipeline"]["sector_mix"] = {"plasturgie": draw(st.floats(-1, 2)), "automobile": 0.3}
            elif kind == "empty":
                data[draw(st.sampled_from(["sectors", "territories"]))] = []
        except (KeyError, IndexError, TypeError, AttributeError):  # the table was already mutated away
            pass
    try:
        text = to_toml(data)
    except TypeError:
        text = "[broken\n"
    raw = text.encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage", "latin1", "utf16", "binary"]))
    if damage == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "garbage":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=20)) + raw[at:]
    elif damage == "latin1":
        raw = text.replace("test", "tést ü").encode("latin-1", errors="replace")
    elif damage == "utf16":
        raw = text.encode("utf-16")
    elif damage == "binary":
        raw = draw(st.binary(max_size=200))
    return raw


BOOK_HEADER = ["firm_id", "sector", "territory", "investment", "equity", "jobs_planned", "entry_year", "annual_pd",
               "loan_amount", "bank_amount"]


@st.composite
def mutated_books(draw) -> bytes:
    rows = [[f"F{i}", "plasturgie" if i % 2 else "automobile", "Forbach" if i % 3 else "Alès", "1000000", "200000",
             "10", str(1 + i % 2), "0.05", "150000", "500000"] for i in range(draw(st.integers(0, 6)))]
    header = list(BOOK_HEADER)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["cell", "cell", "drop_column", "rename", "duplicate_id", "extra_column",
                                     "short_row", "empty"]))
        if not header:
            break
        if kind == "cell" and rows and rows[0]:
            row = draw(st.integers(0, len(rows) - 1))
            col = draw(st.integers(0, len(rows[row]) - 1)) if rows[row] else 0
            if not rows[row]:
                continue
            rows[row][col] = draw(st.sampled_from(["", "nan", "inf", "-inf", "-5", "1e308", "abc", "ü", "1,5",
                                                   "\"quoted, cell\"", "0", "99999", "-1e-300", "NULL"]))
        elif kind == "drop_column":
            col = draw(st.integers(0, len(header) - 1))
            header.pop(col)
            for r in rows:
                if col < len(r):
                    r.pop(col)
        elif kind == "rename":
            header[draw(st.integers(0, len(header) - 1))] = draw(st.text(max_size=10).filter(lambda t: "," not in t
                                                                                            and "\n" not in t))
        elif kind == "duplicate_id" and rows:
            rows.append(list(rows[0]))
        elif kind == "extra_column":
            header.append("comment")
            for r in rows:
                r.append("x")
        elif kind == "short_row" and rows:
            rows[-1] = rows[-1][: draw(st.integers(0, max(len(header) - 1, 0)))]
        elif kind == "empty":
            header, rows = [], []
    text = "\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "garbage"]))
    if encoding == "garbage":
        return draw(st.binary(max_size=300))
    return text.encode(encoding, errors="replace")


def _outcome(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _check(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("levier: error:") and len(err.strip()) > len("levier: error:") + 5, err


@SETTINGS
@given(mutated_scenarios())
def test_mutated_scenario_files_never_crash(tmp_path, capsys, raw):
    CASES["fuzz: scenario files"] = CASES.get("fuzz: scenario files", 0) + 1
    path = tmp_path / "fuzzed.toml"
    path.write_bytes(raw)
    code, err = _outcome(["validate", "--no-bank-check", str(path)], capsys)  # run below simulates
    _check(code, err)
    if code == 0:
        code, err = _outcome(["run", str(path), "--paths", "16"], capsys)
        _check(code, err)


@SETTINGS
@given(mutated_books())
def test_mutated_loan_books_never_crash(tmp_path, capsys, raw):
    CASES["fuzz: loan books"] = CASES.get("fuzz: loan books", 0) + 1
    (tmp_path / "book.csv").write_bytes(raw)
    scenario = base_dict(loan_book={"path": "book.csv"}, pipeline=None)
    (tmp_path / "s.toml").write_text(to_toml(scenario), encoding="utf-8")
    code, err = _outcome(["run", str(tmp_path / "s.toml"), "--paths", "16"], capsys)
    _check(code, err)


def test_the_toml_writer_round_trips_the_shipped_scenario():
    for data in (tomllib.loads(SHIPPED.read_text(encoding="utf-8")), BASE):
        assert tomllib.loads(to_toml(data)) == data


def _corpus():
    return sorted(p for p in CORPUS.glob("*") if p.suffix in (".toml", ".csv"))


@pytest.mark.parametrize("case", _corpus(), ids=lambda p: p.name)
def test_regression_corpus(case, tmp_path, capsys):
    """Inputs that once broke levier: each now runs or is refused with exit 2 and a message."""
    CASES["fuzz: regression corpus"] = CASES.get("fuzz: regression corpus", 0) + 1
    if case.suffix == ".csv":
        (tmp_path / "book.csv").write_bytes(case.read_bytes())
        (tmp_path / "s.toml").write_text(to_toml(base_dict(loan_book={"path": "book.csv"}, pipeline=None)),
                                         encoding="utf-8")
        target = tmp_path / "s.toml"
    else:
        target = tmp_path / case.name
        target.write_bytes(case.read_bytes())
    code, err = _outcome(["run", str(target), "--paths", "16"], capsys)
    _check(code, err)
    expected = (case.with_suffix(case.suffix + ".expect")).read_text(encoding="utf-8").strip()
    assert expected in (err if code else "exit 0"), (expected, err)


def test_corpus_is_there():
    assert _corpus(), f"no regression cases in {CORPUS.relative_to(ROOT)}"

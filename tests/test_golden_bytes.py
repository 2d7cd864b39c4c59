"""The bytes of every shipped scenario's tables at a fixed seed, recorded before the layered
refactor: a refactor keeps them; a change that moves them on purpose re-records them
(``python tests/test_golden_bytes.py``) and says which and why in its commit.

Only the columns (and, for ``by_year``, the rows) recorded are hashed, so a new output column
does not move the hash of the old ones.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import levier

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden") / "tables.json"
PATHS, SEED = 500, 2026
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def _tables(result: levier.SimulationResult) -> dict[str, pd.DataFrame]:
    return {"paths": result.paths, "by_year": result.by_year(), "by_sector": result.by_sector(),
            "by_territory": result.by_territory()}


def _digest(frame: pd.DataFrame) -> str:
    values = np.ascontiguousarray(frame.to_numpy(dtype=np.float64))
    labels = json.dumps([[str(i) for i in frame.index], [str(c) for c in frame.columns]])
    return hashlib.sha256(values.tobytes() + labels.encode()).hexdigest()


def _restricted(frame: pd.DataFrame, entry: dict) -> pd.DataFrame:
    frame = frame[[c for c in frame.columns if str(c) in entry["columns"]]]
    return frame[[str(i) in entry["index"] for i in frame.index]]


def record() -> dict:
    golden: dict = {}
    for path in SCENARIOS:
        result = levier.simulate(levier.load_scenario(path), paths=PATHS, seed=SEED)
        golden[path.stem] = {}
        for name, frame in _tables(result).items():
            entry = {"columns": [str(c) for c in frame.columns], "index": [str(i) for i in frame.index]}
            entry["sha256"] = _digest(frame)
            golden[path.stem][name] = entry
    return golden


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_tables_keep_their_bytes(path):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[path.stem]
    result = levier.simulate(levier.load_scenario(path), paths=PATHS, seed=SEED)
    for name, frame in _tables(result).items():
        entry = golden[name]
        kept = _restricted(frame, entry)
        assert [str(c) for c in kept.columns] == entry["columns"], f"{path.stem}.{name}: a recorded column is gone"
        assert len(kept) == len(entry["index"]), f"{path.stem}.{name}: a recorded row is gone"
        assert _digest(kept) == entry["sha256"], f"{path.stem}.{name}: the bytes changed"


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(record(), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {GOLDEN}")

"""levier against the benchmarks' straightforward engine, an independent implementation.

The reference (benchmarks/reference.py) draws one normal per loan per year per path and pays
the bank first from a fixed recovery pool; on the same loan book levier's mean fund loss and its
mean defaults per year must agree with it within 4 standard errors (independent samples).
"""

from __future__ import annotations

import sys

import numpy as np

import levier

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import northstar  # noqa: E402
import reference  # noqa: E402


def test_levier_agrees_with_the_reference_engine(tmp_path):
    scenario = northstar.build(tmp_path, n_loans=600)
    paths = 3_000
    ref_losses = reference.simulate_losses(reference.prepare(scenario), paths, seed=5)
    ours = levier.simulate(scenario, paths=paths, seed=6).paths["fund_loss"].to_numpy()
    se = np.hypot(ref_losses.std(ddof=1), ours.std(ddof=1)) / np.sqrt(paths)
    assert abs(ref_losses.mean() - ours.mean()) <= 4 * se
    assert ours.mean() > 0

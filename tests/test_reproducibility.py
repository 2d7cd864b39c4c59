"""Same seed, same bytes — whatever the chunk size; same draws under two policies (CRN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import levier
from levier.streams import BLOCK_PATHS, Purpose, block_generator, coerce_seed

from conftest import make_scenario


@pytest.fixture(scope="module")
def scenario():
    return make_scenario(fund={"capital": 900_000.0, "recycle": True}, policy={"subsidy_per_job": 500.0})


def _frames(result):
    return [result.paths, result.by_year(), result.by_sector(), result.by_territory(), result.summary()]


def test_chunk_size_never_changes_results(scenario):
    n = 2 * BLOCK_PATHS + 37  # crosses block boundaries, ends in a partial block
    reference = levier.simulate(scenario, paths=n, seed=123, chunk_size=10_000)
    for chunk in (1, 7, BLOCK_PATHS, 200):
        other = levier.simulate(scenario, paths=n, seed=123, chunk_size=chunk)
        for a, b in zip(_frames(reference), _frames(other)):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert reference.paths.to_numpy().tobytes() == other.paths.to_numpy().tobytes()


def test_more_paths_extend_never_change_the_first(scenario):
    short = levier.simulate(scenario, paths=150, seed=9)
    long = levier.simulate(scenario, paths=400, seed=9)
    pd.testing.assert_frame_equal(short.paths, long.paths.iloc[:150], check_exact=True)


def test_same_seed_same_bytes_different_seed_different(scenario):
    a = levier.simulate(scenario, paths=300, seed=5)
    b = levier.simulate(scenario, paths=300, seed=5)
    c = levier.simulate(scenario, paths=300, seed=6)
    assert a.paths.to_numpy().tobytes() == b.paths.to_numpy().tobytes()
    assert not np.array_equal(a.paths["fund_loss"], c.paths["fund_loss"])
    assert a.meta["seed_entropy"] == "5" and a.meta["scenario_hash"] == b.meta["scenario_hash"]


def test_scenario_seed_is_the_default_and_fresh_entropy_is_recorded(scenario):
    from_file = levier.simulate(scenario, paths=50)
    explicit = levier.simulate(scenario, paths=50, seed=scenario.simulation.seed)
    pd.testing.assert_frame_equal(from_file.paths, explicit.paths, check_exact=True)
    fresh = levier.simulate(make_scenario(simulation={"seed": None}), paths=50)
    again = levier.simulate(make_scenario(simulation={"seed": None}), paths=50, seed=int(fresh.meta["seed_entropy"]))
    pd.testing.assert_frame_equal(fresh.paths, again.paths, check_exact=True)


def test_block_streams_are_seedsequence_spawn_children():
    root = coerce_seed(2005)
    child = root.spawn(1)[0].spawn(4)[3].spawn(Purpose.DEFAULT + 1)[Purpose.DEFAULT]
    direct = block_generator(root, 3, Purpose.DEFAULT).random(5)
    np.testing.assert_array_equal(np.random.Generator(np.random.PCG64(child)).random(5), direct)
    # purposes and blocks are independent streams
    assert not np.array_equal(direct, block_generator(root, 3, Purpose.BANK).random(5))
    assert not np.array_equal(direct, block_generator(root, 4, Purpose.DEFAULT).random(5))


def test_seed_coercion():
    assert coerce_seed(0).entropy == 0  # 0 is a seed, not "no seed"
    ss = np.random.SeedSequence(42, spawn_key=(3,))
    copied = coerce_seed(ss)  # a copy with the same entropy and key: the caller's object is theirs
    assert copied is not ss and (copied.entropy, copied.spawn_key) == (ss.entropy, ss.spawn_key)
    a = coerce_seed(np.random.default_rng(1)).entropy
    assert a == coerce_seed(np.random.default_rng(1)).entropy
    with pytest.raises(ValueError):
        coerce_seed(-1)
    with pytest.raises(TypeError):
        coerce_seed(True)


def test_policy_change_keeps_the_draws(scenario):
    # a policy that changes only costs leaves every loss, default and job identical path by path
    base = levier.simulate(scenario, paths=300, seed=8)
    costly = levier.simulate(scenario.with_overrides({"fund.operating_cost_per_file": 9_999}), paths=300, seed=8)
    for col in ("fund_loss", "bank_loss", "n_defaults", "jobs_created", "n_financed"):
        np.testing.assert_array_equal(base.paths[col], costly.paths[col])
    assert (costly.paths["fund_net_cost"] > base.paths["fund_net_cost"]).all()


def test_ten_percent_more_per_job_keeps_defaults_and_jobs():
    # with ample capital and a bank that accepts every round, the same projects are financed
    # under both policies: their defaults and jobs are the same draws
    s = make_scenario(fund={"capital": 1e9}, policy={"loan_cap": 1e9, "max_share_of_investment": 1.0},
                      bank={"threshold": 0.0, "gearing": 50.0})
    a = levier.simulate(s, paths=300, seed=8)
    b = levier.simulate(s.with_overrides({"policy.loan_per_job": 11_000}), paths=300, seed=8)
    np.testing.assert_array_equal(a.paths["n_financed"], b.paths["n_financed"])
    np.testing.assert_array_equal(a.paths["n_defaults"], b.paths["n_defaults"])
    np.testing.assert_array_equal(a.paths["jobs_created"], b.paths["jobs_created"])
    np.testing.assert_allclose(b.paths["fund_lent"], 1.1 * a.paths["fund_lent"])


def test_compact_keep_gives_the_same_tables_and_says_what_it_dropped(scenario):
    full = levier.simulate(scenario, paths=300, seed=5, chunk_size=64)
    compact = levier.simulate(scenario, paths=300, seed=5, chunk_size=100, keep="compact")
    for a, b in zip(_frames(full), _frames(compact)):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(full.group_paths("fund_loss"), compact.group_paths("fund_loss"), check_exact=True)
    with pytest.raises(ValueError, match="keep='all'"):
        compact.group_paths("n_defaults")
    with pytest.raises(ValueError, match="keep must be one of"):
        levier.simulate(scenario, paths=10, keep="everything")


def test_per_year_values_are_kept_to_float32_precision(scenario):
    from levier.engine.paths import block_draws, simulate_paths
    from levier.model.terms import project_terms

    result = levier.simulate(scenario, paths=BLOCK_PATHS, seed=8)
    terms = project_terms(scenario, result.portfolio)
    exact = simulate_paths(terms, block_draws(terms, coerce_seed(8), 0)).by_year
    for name, values in exact.items():
        kept = result.year_paths(name).to_numpy()
        np.testing.assert_allclose(kept, values, rtol=2.0**-24, atol=0.0)
        # the means are exact sums of the float64 values, not of the rounded ones
        assert result.by_year().loc[name, "mean"].to_numpy() == pytest.approx(values.mean(axis=0), rel=1e-13)


def test_sobol_sampler_same_bytes_any_chunk_and_points_of_one_sequence(scenario):
    from scipy import special
    from scipy.stats import qmc

    from levier.streams import SobolFactors

    n = BLOCK_PATHS + 40
    a = levier.simulate(scenario, paths=n, seed=4, sampler="sobol", chunk_size=n)
    b = levier.simulate(scenario, paths=n, seed=4, sampler="sobol", chunk_size=50)
    assert a.paths.to_numpy().tobytes() == b.paths.to_numpy().tobytes()
    assert a.meta["sampler"] == "sobol"
    plain = levier.simulate(scenario, paths=n, seed=4)
    assert not np.array_equal(a.paths["fund_loss"], plain.paths["fund_loss"])
    # block b holds points b*128 .. of one scrambled sequence, whatever the order of asking
    horizon, n_factors = scenario.simulation.horizon_years, 1 + len(scenario.sectors) + len(scenario.territories)
    sobol = SobolFactors(coerce_seed(4), horizon, n_factors)
    second, first = sobol.block(1, 10), sobol.block(0, BLOCK_PATHS)
    assert np.array_equal(sobol.block(1, 10), second)
    again = SobolFactors(coerce_seed(4), horizon, n_factors)._engine
    points = again.random(2 * BLOCK_PATHS)
    np.testing.assert_array_equal(first, special.ndtri(points[:BLOCK_PATHS]).reshape(BLOCK_PATHS, horizon, n_factors))
    np.testing.assert_array_equal(second, special.ndtri(points[BLOCK_PATHS:BLOCK_PATHS + 10]).reshape(10, horizon, n_factors))
    assert isinstance(again, qmc.Sobol)
    with pytest.raises(ValueError, match="sampler must be one of"):
        levier.simulate(scenario, paths=10, sampler="halton")


def test_sobol_sampler_is_unbiased_for_the_default_rate(tmp_path):
    # one year, equal loans: E[defaults] = m h exactly, whatever the factor sampler
    from conftest import book_row, write_book

    m, h = 200, 0.05
    write_book(tmp_path / "book.csv", [book_row(i, annual_pd=h) for i in range(m)])
    scenario = make_scenario(base_dir=tmp_path, pipeline=None, loan_book={"path": "book.csv"},
                             simulation={"horizon_years": 1, "seed": 1}, defaults={"macro_loading": 0.5},
                             sectors=[{"name": "plasturgie", "annual_pd": h}, {"name": "automobile", "annual_pd": h}])
    result = levier.simulate(scenario, paths=4096, seed=12, sampler="sobol")
    defaults = result.paths["n_defaults"]
    assert abs(defaults.mean() - m * h) <= 4 * defaults.std() / np.sqrt(defaults.size)


SHIPPED = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


def _table_bytes(result) -> list[bytes]:
    frames = [result.paths, result.by_year(), result.by_sector(), result.by_territory(), result.year_paths("jobs")]
    return [f.to_numpy(dtype=np.float64).tobytes() for f in frames]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_same_bytes_for_any_chunk_size_and_thread_count_on_every_shipped_scenario(path):
    # each path's sums are taken in a fixed order in the compiled kernel: a chunk of 1 path and
    # one of the whole run give the same bits (numpy's pairwise sums, which depend on the
    # array's shape, made job_years and clawbacks differ by 1e-12 before)
    scenario = levier.load_scenario(path)
    n = 200  # across two blocks of 128 paths
    expected = _table_bytes(levier.simulate(scenario, paths=n, seed=9, chunk_size=n + 1, threads=1))
    for chunk, threads in ((1, 1), (2, 1), (3, 2), (7, 1), (7, 2), (64, 3), (n + 1, 2)):
        got = _table_bytes(levier.simulate(scenario, paths=n, seed=9, chunk_size=chunk, threads=threads))
        assert got == expected, (path.stem, chunk, threads)


def test_a_loan_book_alone_draws_no_bank_decision_and_loses_nothing(tmp_path):
    # no pipeline and no firm that closes without the fund: the bank's uniforms are read nowhere,
    # so they are not drawn; the results are the bytes of a run that draws them
    from dataclasses import replace

    from conftest import book_row, write_book
    from levier.engine.paths import block_draws, simulate_paths
    from levier.model.terms import project_terms
    from levier.streams import uniform_bits

    rows = [book_row(i, entry_year=1 - i % 3, annual_pd=0.02 + 0.01 * (i % 4), loan_amount=150_000,
                     bank_amount=400_000) for i in range(12)]
    write_book(tmp_path / "book.csv", rows)
    book = make_scenario(base_dir=tmp_path, pipeline=None, loan_book={"path": "book.csv"})
    terms = project_terms(book, levier.build_portfolio(book))
    root = coerce_seed(4)
    draws = block_draws(terms, root, 0)
    assert not terms.bank_decides and draws.u_bank.shape == (BLOCK_PATHS, 0)
    full = replace(draws, u_bank=uniform_bits(block_generator(root, 0, Purpose.BANK), (BLOCK_PATHS, terms.n_projects)))
    a, b = simulate_paths(terms, draws), simulate_paths(terms, full)
    for name in a.paths:
        assert np.array_equal(a.paths[name], b.paths[name], equal_nan=True), name
    for name in a.by_year:
        assert np.array_equal(a.by_year[name], b.by_year[name], equal_nan=True), name
    assert (a.paths["n_defaults"] > 0).any()
    # with a pipeline the bank decides, and its uniforms are drawn
    pipeline = make_scenario()
    terms = project_terms(pipeline, levier.build_portfolio(pipeline))
    assert terms.bank_decides and block_draws(terms, root, 0).u_bank.shape == (BLOCK_PATHS, terms.n_projects)


def test_draws_into_a_spent_block_s_arrays_are_the_fresh_numbers():
    # a run's ranges draw a block into the arrays of the block before (DrawPool): the same numbers
    from levier.engine.paths import block_draws
    from levier.model.terms import project_terms

    scenario = make_scenario()
    terms = project_terms(scenario, levier.build_portfolio(scenario))
    root = coerce_seed(6)
    spent = block_draws(terms, root, 0)
    arrays = spent.u_default, spent.z_jobs
    fresh, reused = block_draws(terms, root, 3), block_draws(terms, root, 3, reuse=spent)
    assert np.shares_memory(reused.u_default, arrays[0]) and np.shares_memory(reused.z_jobs, arrays[1])  # in place
    for name in ("shocks", "u_bank", "u_default", "z_jobs"):
        assert np.array_equal(getattr(fresh, name), getattr(reused, name)), name


_DIGESTS = """
import hashlib, json, sys
from pathlib import Path
import numpy as np
import levier
out = {}
for path in sorted(Path(sys.argv[1]).glob("*.toml")):
    r = levier.simulate(levier.load_scenario(path), paths=300, seed=2026)
    for name, frame in (("paths", r.paths), ("by_year", r.by_year()), ("by_sector", r.by_sector()),
                        ("by_territory", r.by_territory()), ("summary", r.summary())):
        values = np.ascontiguousarray(frame.to_numpy(dtype=np.float64)).tobytes()
        out[path.stem + "." + name] = hashlib.sha256(values).hexdigest()
print(json.dumps(out))
"""


def _digests(env: dict[str, str]) -> dict[str, str]:
    import json
    import os
    import subprocess
    import sys

    scenarios = Path(__file__).resolve().parents[1] / "scenarios"
    done = subprocess.run([sys.executable, "-c", _DIGESTS, str(scenarios)], capture_output=True, text=True,
                          check=True, env={**os.environ, **env})
    return json.loads(done.stdout)


def _numpy_vector_extensions() -> list[str]:
    """The processor extensions numpy found and dispatches to beyond its baseline (``AVX512_ICL``,
    ``X86_V3``... on an x86-64)."""
    from numpy._core import _multiarray_umath as umath

    return [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f) and f not in umath.__cpu_baseline__]


def test_the_same_bytes_whatever_the_processor():
    """Every table of the shipped scenarios is the same bytes as on another machine (with the
    same C library and, for glibc, fused multiply-adds: its variants without them differ, see the
    README's Reproducibility), emulated three ways in fresh processes: numpy's vector code of another processor (none of the
    extensions it found here, ``NPY_DISABLE_CPU_FEATURES``: its float64 ``exp`` and ``log``, and
    its float32 ``log``, ``cos`` and ``sin`` differ between processors), and OpenBLAS's generic
    kernel and its AVX-512 one, or AVX2 (``OPENBLAS_CORETYPE``, on an x86-64: each sums a dot
    product in its own order; only the kernels this processor can run). Before
    the set-up's exponentials went to the C library (:mod:`levier.elementwise`), the job normals
    to a compiled Box-Muller (:func:`levier.engine.kernel.job_normals`) and the expected
    shortfall to :func:`levier.stats.ordered_dot`, all 25 moved without numpy's vector code."""
    import platform

    from numpy._core import _multiarray_umath as umath

    native = _digests({})
    others = {}
    if platform.machine() in ("x86_64", "AMD64"):  # OpenBLAS's x86-64 kernels, those this processor can run
        cores = ["Prescott"] + (["SkylakeX"] if umath.__cpu_features__.get("AVX512F") else
                                ["Haswell"] if umath.__cpu_features__.get("AVX2") else [])
        others = {f"OPENBLAS_CORETYPE={core}": {"OPENBLAS_CORETYPE": core} for core in cores}
    extensions = _numpy_vector_extensions()
    if extensions:
        others["NPY_DISABLE_CPU_FEATURES"] = {"NPY_DISABLE_CPU_FEATURES": " ".join(extensions)}
    for name, env in others.items():
        other = _digests(env)
        assert [k for k in native if other[k] != native[k]] == [], name


@pytest.mark.slow
def test_the_same_bytes_from_the_kernel_compiled_for_a_generic_processor(tmp_path):
    """The compiled kernel, built for a generic processor of this architecture (no vector
    extension beyond the baseline, no fused multiply-add instruction: ``NUMBA_CPU_NAME=generic``,
    compiled afresh into its own cache), gives the same bytes: no ``fastmath``, the vector loops
    keep their order, and the jobs' ``exp`` asks for its fused multiply-adds by name."""
    native = _digests({})
    generic = _digests({"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path)})
    assert [k for k in native if generic[k] != native[k]] == []

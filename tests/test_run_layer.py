"""One run layer under every entry point: the same bytes for any chunk size, a caller's seed
object never touched, and every result object behaving alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import levier
from levier import lab
from levier.engine.run import prepare, seed_root
from levier.streams import LabPurpose, lab_root

from conftest import SHIPPED as SHIPPED_FILE
from conftest import make_scenario

PATHS = 45  # crosses no block, but chunks of 2, 3 and 7 end mid-way
CHUNKS = (1, 2, 3, 7, 1_000)


@pytest.fixture(scope="module")
def scenario():
    return make_scenario(fund={"capital": 3_000_000.0, "recycle": True}, policy={"subsidy_per_job": 500.0})


def _frames(value) -> list[pd.DataFrame]:
    """Every table an entry point's result carries."""
    if isinstance(value, levier.SimulationResult):
        return [value.paths, value.by_year(), value.by_sector(), value.by_territory()]
    if isinstance(value, lab.Comparison):
        return [value.table, *(f for r in value.results.values() for f in _frames(r))]
    if isinstance(value, lab.Optimum):
        return [value.table, value.evaluations]
    return [value.to_frame()]


def _same(a, b) -> None:
    for x, y in zip(_frames(a), _frames(b), strict=True):
        pd.testing.assert_frame_equal(x, y, check_exact=True)


ENTRY_POINTS = {
    "simulate": lambda s, **kw: levier.simulate(s, paths=PATHS, **kw),
    "tail_risk": lambda s, **kw: levier.tail_risk(s, "fund_loss", (0.9,), paths=PATHS, batches=4, pilot_paths=40,
                                                  **kw),
    "exceedance_probability": lambda s, **kw: levier.exceedance_probability(s, "n_defaults", 2.5, paths=PATHS,
                                                                            batches=4, pilot_paths=40, **kw),
    "compare": lambda s, **kw: levier.compare(s, {"rich": {"policy.loan_per_job": 12_000.0}}, paths=PATHS, **kw),
    "sweep": lambda s, **kw: levier.sweep(s, design="lhs", n=3, bounds={"policy.loan_per_job": (6_000, 14_000)},
                                          paths=PATHS, **kw),
    "optimise": lambda s, **kw: levier.optimise(s, {"policy.loan_per_job": (6_000, 14_000)},
                                                maximise="jobs_additional", paths=PATHS, maxiter=1, popsize=2, **kw),
    "tornado": lambda s, **kw: lab.tornado(s, {"policy.loan_per_job": (6_000, 14_000)}, "fund_loss", paths=PATHS,
                                           **kw),
    "sensitivity": lambda s, **kw: lab.sensitivity(s, {"policy.loan_per_job": (6_000, 14_000),
                                                       "bank.threshold": (0.2, 0.4)}, "jobs_additional", n=4,
                                                   paths=PATHS, **kw),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_gives_the_same_bytes_for_every_chunk_size(scenario, name):
    run = ENTRY_POINTS[name]
    reference = run(scenario, seed=11, chunk_size=CHUNKS[-1])
    for chunk in CHUNKS[:-1]:
        _same(reference, run(scenario, seed=11, chunk_size=chunk))


def _state(seed: np.random.SeedSequence) -> tuple:
    return (seed.entropy, seed.spawn_key, seed.pool_size, seed.n_children_spawned, tuple(seed.generate_state(4)))


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_a_seedsequence_passed_in_is_never_mutated(scenario, name):
    run = ENTRY_POINTS[name]
    seed = np.random.SeedSequence(2026)
    before = _state(seed)
    first = run(scenario, seed=seed)
    assert _state(seed) == before
    _same(first, run(scenario, seed=seed))
    _same(first, run(scenario, seed=np.random.SeedSequence(2026)))  # and the same as a fresh one


def test_the_seed_rule_has_one_home(scenario):
    assert seed_root(scenario).entropy == scenario.simulation.seed
    assert seed_root(scenario, 5).entropy == 5
    spawned = np.random.SeedSequence(9).spawn(3)[2]
    assert seed_root(scenario, spawned).spawn_key == spawned.spawn_key
    assert seed_root(scenario, spawned) is not spawned


def test_lab_streams_come_from_their_own_family(scenario):
    root = seed_root(scenario, 3)
    keys = {purpose: lab_root(root, purpose).spawn_key for purpose in LabPurpose}
    assert len(set(keys.values())) == len(LabPurpose)
    # none coincides with a stream of the paths, the pipeline or the pilots (families 0 to 3)
    assert all(key[0] == 4 for key in keys.values())


def test_a_prepared_run_is_retargeted_on_the_same_paths(scenario):
    run = prepare(scenario, paths=PATHS, seed=1)
    richer = scenario.with_overrides({"policy.loan_per_job": 12_000.0})
    other = run.with_scenario(richer)
    assert other.portfolio is run.portfolio  # a policy change keeps the projects
    _same(other.simulate(), levier.simulate(richer, paths=PATHS, seed=1))
    moved = run.with_scenario(scenario.with_overrides({"pipeline.investment_median": 900_000.0}))
    assert moved.portfolio is not run.portfolio


def test_progress_counts_every_path_of_a_lab_call(scenario):
    seen: list[tuple[int, int]] = []
    levier.compare(scenario, {"rich": {"policy.loan_per_job": 12_000.0}}, paths=PATHS, seed=1,
                   progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2 * PATHS, 2 * PATHS)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# -- one protocol for results -----------------------------------------------------------------

@pytest.fixture(scope="module")
def results(scenario):
    return {name: run(scenario, seed=4) for name, run in ENTRY_POINTS.items()}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_result_has_a_frame_a_short_repr_and_readable_html(results, name):
    value = results[name]
    frame = value.to_frame()
    assert isinstance(frame, pd.DataFrame) and not frame.empty
    text = repr(value)
    assert text.startswith("<") and len(text.splitlines()[0]) < 400
    html = value._repr_html_()
    assert "<table" in html
    for unreadable in ("e+0", "e+1", ">inf<", ">nan<", "NaN"):
        assert unreadable not in html, (name, unreadable)
    if name == "sweep":  # its points are numbered 0, 1, 2 as on the command line, not 1.00, 2.00
        assert "<th style='text-align:left'>1</th>" in html and ">1.00<" not in html


def test_the_baseline_has_no_variance_reduction_and_no_infinity(results):
    table = results["compare"].table
    assert np.isnan(table.xs("baseline", level="variant")["variance_reduction"]).all()
    rich = table.xs("rich", level="variant")
    assert not np.isinf(table["variance_reduction"]).any()
    # missing exactly where the difference is the same on every path, or its error is not given
    # (a tail statistic whose sections hold no path of the tail)
    assert (np.isnan(rich["variance_reduction"]) == ((rich["difference_se"] == 0) | rich["difference_se"].isna())).all()
    assert np.isfinite(rich.loc["jobs_additional", "variance_reduction"])


def test_misuse_says_what_was_expected(results):
    result = results["simulate"]
    with pytest.raises(ValueError, match="per-year metric.*expected one of: fund_outstanding"):
        result.plot.fan("jobs_created")
    with pytest.raises(KeyError, match="no variant 'nope'"):
        results["compare"].paired("fund_loss", "nope")
    with pytest.raises(ValueError, match="unknown metric 'jobz'"):
        lab.statistic(result, "jobz.mean")


def _range_task(terms, plan, start, stop, root, chunk, fail_at, seen):
    """A unit of work that records its range and fails on the one that starts at ``fail_at``."""
    seen.append((start, stop))
    if start == fail_at:
        raise ValueError(f"range {start}..{stop} failed")
    return stop - start


def test_ranges_side_by_side_come_back_in_order_and_stop_at_an_error(scenario):
    run = prepare(scenario, paths=1000, seed=1, chunk_size=64, threads=3)
    assert run.workers() == 3 and run.kernel_threads() == 1
    seen: list = []
    got = list(run.ranges(_range_task, (-1, seen)))
    assert [(a, b) for a, b, _ in got] == [(a, min(a + 128, 1000)) for a in range(0, 1000, 128)]  # whole blocks
    assert [r for _, _, r in got] == [b - a for a, b, _ in got]
    seen.clear()
    with pytest.raises(ValueError, match="range 256..384 failed"):
        for _ in run.ranges(_range_task, (256, seen)):
            pass
    assert len(seen) <= 3 + 1 + 2  # the ranges in flight, not the whole run
    one = prepare(scenario, paths=100, seed=1, threads=3)  # a single range: the kernel's threads share it
    assert (one.workers(), one.kernel_threads()) == (1, 3)


def test_a_run_keeping_its_draws_draws_once_and_gives_the_same_bytes(monkeypatch):
    """The lab's runs keep their draws (DrawCache): a second simulation of the same paths draws
    nothing, re-targeted at another policy it gives the bytes of a fresh run of that policy, on
    several threads and with chunks that end mid-block; a cache too small to keep anything, and a
    policy that changes what is drawn (a longer pipeline, more projects), draw afresh."""
    from dataclasses import replace

    import levier.engine.run as run_layer
    from levier.engine.run import DrawCache

    scenario = levier.load_scenario(SHIPPED_FILE)
    calls = {"n": 0}
    draw = run_layer.block_draws

    def counted(*args, **kwargs):
        calls["n"] += 1
        return draw(*args, **kwargs)

    monkeypatch.setattr(run_layer, "block_draws", counted)
    options = dict(paths=300, seed=4, chunk_size=70, threads=2)
    run = prepare(scenario, **options)
    kept = run.keeping_draws()
    assert kept.draws is not None and kept.keeping_draws() is kept
    first = kept.simulate()
    drawn = calls["n"]
    _same(first, run.simulate())
    calls["n"] = 0
    again = kept.simulate()
    assert drawn > 0 and calls["n"] == 0
    _same(again, first)
    policy = scenario.with_overrides({"policy.loan_per_job": 6_000.0})
    retargeted = kept.with_scenario(policy).simulate()
    assert calls["n"] == 0
    _same(retargeted, prepare(policy, **options).simulate())
    longer = scenario.with_overrides({"pipeline.projects_per_year": 2 * scenario.pipeline.projects_per_year})
    calls["n"] = 0
    retargeted = kept.with_scenario(longer).simulate()
    assert calls["n"] > 0
    _same(retargeted, prepare(longer, **options).simulate())
    tiny = replace(run, draws=DrawCache(0))
    _same(tiny.simulate(), first)
    assert tiny.draws is not None and tiny.draws.size == 0


def test_the_collector_writes_no_chunk_of_zeros_and_keeps_signed_zeros_and_nans():
    """A result's columns start zeroed and a chunk of +0.0 is not written (the pages of a column
    that stays 0, a mechanism the run does not use, then cost no memory): a read-only target
    takes such a chunk without a write; -0.0 and NaN are values, written bit for bit."""
    from levier.engine.run import Collector

    target = np.zeros(6)
    target.flags.writeable = False
    Collector._put(target, 0, 3, np.zeros(3))  # nothing to write: no error
    Collector._put(target, 0, 3, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError):
        Collector._put(target, 0, 3, np.array([0.0, -0.0, 0.0]))
    target.flags.writeable = True
    Collector._put(target, 3, 6, np.array([-0.0, np.nan, 1e-60]))
    assert target[:3].view(np.uint64).tolist() == [0, 0, 0]
    assert np.signbit(target[3]) and np.isnan(target[4]) and target[5] == 1e-60
    narrow = np.zeros(2, dtype=np.float32)
    Collector._put(narrow, 0, 2, np.array([1e-60, -1e-60]))  # float32 rounding, as an assignment
    assert narrow.view(np.uint32).tolist() == np.array([1e-60, -1e-60]).astype(np.float32).view(np.uint32).tolist()


def test_a_sobol_run_of_other_than_a_power_of_2_paths_is_told_so():
    import warnings

    from levier.errors import LevierWarning

    scenario = make_scenario()
    with pytest.warns(LevierWarning, match="power of 2 paths: 1,000 is not one \\(512 or 1,024 are\\)"):
        levier.simulate(scenario, paths=1000, seed=1, sampler="sobol")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LevierWarning)
        levier.simulate(scenario, paths=1024, seed=1, sampler="sobol")
        levier.simulate(scenario, paths=1000, seed=1)  # the random sampler has no such need


def test_a_portfolio_built_from_another_scenario_is_refused():
    # the projects of one scenario run under another's name would be its numbers with wrong provenance
    moselle = levier.load_scenario(SHIPPED_FILE)
    projects = levier.build_portfolio(moselle)
    riskier = moselle.with_overrides({"sectors.automobile.annual_pd": 0.05})
    with pytest.raises(ValueError, match="sectors' names and annual_pd differ"):
        levier.simulate(riskier, paths=10, seed=1, portfolio=projects)
    with pytest.raises(ValueError, match="pipeline differ"):
        levier.simulate(moselle.with_overrides({"pipeline.projects_per_year": 10}), paths=10, portfolio=projects)
    # what the projects do not depend on (the policy, the bank, the correlations) may change
    generous = moselle.with_overrides({"policy.loan_per_job": 15_000, "sectors.automobile.loading": 0.1})
    given = levier.simulate(generous, paths=50, seed=1, portfolio=projects)
    built = levier.simulate(generous, paths=50, seed=1)
    assert given.paths.to_numpy().tobytes() == built.paths.to_numpy().tobytes()


def test_breakeven_s_progress_ends_at_its_end():
    # its total is an estimate of the evaluations Brent's method needs: it ends where the work did
    seen: list[tuple[int, int]] = []
    found = levier.breakeven(levier.load_scenario(SHIPPED_FILE), paths=128, seed=1,
                             progress=lambda done, total: seen.append((done, total)))
    evaluations = len(found.evaluations)  # the rates run, each on 128 paths
    assert seen[-1] == (128 * evaluations, 128 * evaluations)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_small_misuses_get_a_message_not_a_silent_run(scenario):
    for paths in (2.5, True):
        with pytest.raises(ValueError, match="paths must be a whole number"):
            levier.simulate(scenario, paths=paths)
    assert levier.simulate(scenario, paths=1e2, seed=1).n_paths == 100  # a whole float is a count
    result = levier.simulate(scenario, paths=50, seed=1)
    with pytest.raises(KeyError, match="unknown metric 'nope' \\(the per-path metrics: fund_lent"):
        result.summary(["nope"])
    with pytest.raises(ValueError, match="has no values"):
        levier.sweep(scenario, grid={"policy.loan_per_job": []}, paths=10)
    # a lower tail taken by symmetry writes no -0.0 (a metric that is 0 on every path)
    saved = result.summary(["jobs_saved"]).filter(like="es_").to_numpy()
    assert (saved == 0).all() and not np.signbit(saved).any()


def test_a_loan_book_s_projects_also_depend_on_what_they_are_checked_against(tmp_path):
    from conftest import base_dict, book_row, write_book

    write_book(tmp_path / "book.csv", [book_row(1), book_row(2, entry_year=8)])
    data = base_dict(loan_book={"path": "book.csv"})
    data["simulation"]["horizon_years"] = 10
    ten = levier.Scenario.from_dict(data, base_dir=tmp_path)
    projects = levier.build_portfolio(ten)
    with pytest.raises(ValueError, match="horizon_years, the policy's maturity and offer, vigilance.watch_pd_multiplier differ"):
        levier.simulate(ten.with_overrides({"simulation.horizon_years": 6}), paths=10, portfolio=projects)
    # without a loan book, a maturity is the policy's alone: the projects stay
    plain = levier.load_scenario(SHIPPED_FILE)
    levier.simulate(plain.with_overrides({"policy.maturity_years": 5}), paths=10, portfolio=levier.build_portfolio(plain))

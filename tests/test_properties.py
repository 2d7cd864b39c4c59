"""Invariants over randomly generated valid scenarios (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import levier
from levier.model.portfolio import build_portfolio
from levier.model.terms import project_terms

from conftest import make_scenario

unit = st.floats(0.0, 1.0)


@st.composite
def scenarios(draw):
    macro = draw(st.floats(0.0, 0.6))
    room = np.sqrt(max(1 - macro**2, 0) / 2) * 0.99
    sector = {
        "name": "plasturgie", "annual_pd": draw(st.floats(0.0, 0.5)), "loading": draw(st.floats(0.0, room)),
        "recovery_mean": draw(st.floats(0.05, 0.95)), "recovery_sd": draw(st.floats(0.0, 0.2)),
        "job_realisation_mean": draw(st.floats(0.0, 1.5)), "job_realisation_sd": draw(st.floats(0.0, 0.5)),
        "job_ramp": draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4)), "deadweight": draw(unit),
    }
    return make_scenario(
        simulation={"horizon_years": draw(st.integers(2, 8)), "seed": draw(st.integers(0, 2**32))},
        fund={"capital": draw(st.floats(0.0, 5e6)), "recycle": draw(st.booleans()),
              "operating_cost_per_file": draw(st.floats(0.0, 1e4))},
        policy={"loan_per_job": draw(st.floats(0.0, 5e4)), "loan_cap": draw(st.floats(0.0, 1e6)),
                "max_share_of_investment": draw(unit), "rate": draw(st.floats(0.0, 0.1)),
                "maturity_years": 4, "grace_years": draw(st.integers(0, 3)), "max_pd": draw(st.floats(0.01, 1.0)),
                "subsidy_per_job": draw(st.floats(0.0, 5e3)), "takeover_job_share": draw(unit),
                "clawback": draw(st.sampled_from(["pro_rata", "full"])),
                "max_sector_share": draw(st.floats(0.1, 1.0))},
        bank={"threshold": draw(unit), "steepness": draw(st.floats(0.0, 0.2)), "gearing": draw(st.floats(0.0, 10.0))},
        defaults={"macro_loading": macro, "macro_autocorrelation": draw(st.floats(-0.9, 0.9))},
        sectors=[sector, {"name": "automobile", "annual_pd": draw(st.floats(0.0, 0.5))}],
        territories=[{"name": "Forbach", "loading": draw(st.floats(0.0, room))}, {"name": "Alès"}],
        pipeline={"years": 2, "pd_sigma": draw(st.floats(0.0, 1.0))},
    )


# derandomize: CI runs the same examples every time (explore locally with --hypothesis-seed=N)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_hold_for_any_valid_scenario(scenario):
    _count("property: scenarios")
    p = levier.simulate(scenario, paths=64).paths
    tol = 1e-6
    assert ((p["fund_loss"] >= -tol) & (p["fund_loss"] <= p["fund_lent"] + tol)).all()
    assert ((p["bank_loss"] >= -tol) & (p["bank_loss"] <= p["bank_lent"] + tol)).all()
    assert (p["n_defaults"] <= p["n_financed"]).all() and (p["n_additional"] <= p["n_financed"]).all()
    for col in ("jobs_created", "jobs_additional", "jobs_net", "job_years"):
        assert (p[col] >= 0).all()
    total = p["fund_principal"] + p["fund_recoveries"] + p["fund_loss"] + p["fund_outstanding_end"]
    np.testing.assert_allclose(total, p["fund_lent"], rtol=1e-9, atol=1e-6)
    if not scenario.fund.recycle:
        assert (p["fund_lent"] + p["subsidies"] <= scenario.fund.capital + 1e-6 * max(scenario.fund.capital, 1)).all()
    # a ratio is finite where its denominator is positive, and missing (not inf) elsewhere
    assert not np.isinf(p["cost_per_job"]).any()
    assert (p["cost_per_job"].notna() == (p["jobs_additional"] >= 1e-9)).all()
    assert (p["clawbacks"] <= p["subsidies"] + tol).all()


#: The random loan books' folder, removed when the tests end (hypothesis's strategies cannot take
#: pytest's tmp_path; a folder per example left thousands behind in the temporary folder).
_BOOKS = tempfile.TemporaryDirectory(prefix="levier-books-")


@st.composite
def books(draw):
    """A valid scenario with a random loan book (and sometimes a pipeline)."""
    from conftest import book_row, write_book

    n = draw(st.integers(1, 12))
    horizon = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        investment = draw(st.floats(1e4, 5e6))
        rows.append(book_row(i, sector=draw(st.sampled_from(["plasturgie", "automobile"])),
                             territory=draw(st.sampled_from(["Forbach", "Alès"])),
                             investment=round(investment), equity=round(investment * draw(st.floats(0.0, 0.9))),
                             entry_year=draw(st.integers(-5, horizon)), annual_pd=draw(st.floats(0.0, 0.6)),
                             loan_amount=round(investment * draw(st.floats(0.0, 0.5))),
                             bank_amount=round(investment * draw(st.floats(0.0, 0.5)))))
    folder = Path(tempfile.mkdtemp(prefix="book-", dir=_BOOKS.name))
    write_book(folder / "book.csv", rows)
    pipeline = draw(st.sampled_from([None, {"years": 1, "projects_per_year": 3}]))
    return make_scenario(base_dir=folder, loan_book={"path": "book.csv"}, pipeline=pipeline,
                         simulation={"horizon_years": horizon, "seed": draw(st.integers(0, 2**32))},
                         fund={"capital": draw(st.floats(0.0, 1e7)), "recycle": draw(st.booleans())})


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_invariants_hold_with_random_loan_books(scenario):
    _count("property: loan books")
    p = levier.simulate(scenario, paths=48).paths
    tol = 1e-6
    # the exposure: what is lent in the horizon, and what the book lent before still owes
    terms = project_terms(scenario, build_portfolio(scenario))
    before = terms.entry < 1
    fund_book = float((terms.loan * terms.fund_out[:, 1])[before].sum())
    bank_book = float((terms.bank_loan * terms.bank_out[:, 1])[before].sum())
    assert ((p["fund_loss"] >= -tol) & (p["fund_loss"] <= p["fund_lent"] + fund_book + tol)).all()
    assert ((p["bank_loss"] >= -tol) & (p["bank_loss"] <= p["bank_lent"] + bank_book + tol)).all()
    assert (p["n_defaults"] <= p["n_financed"]).all()
    assert (p[["jobs_created", "jobs_additional", "jobs_net", "job_years"]] >= 0).all().all()
    assert not np.isinf(p["cost_per_job"]).any()


def _safe(scenario_kwargs):
    """Common settings under which the monotonicity properties hold path by path: ample capital,
    no recycling, no limits, no screening, fixed recoveries (see the test's docstring)."""
    return dict(fund={"capital": 1e12, "recycle": False}, policy={"max_pd": 1.0}, **scenario_kwargs)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0.001, 0.3), st.floats(1.05, 3.0), st.floats(0.0, 0.5), st.floats(0.0, 0.9))
def test_common_random_numbers_monotone_in_pd_and_bank_threshold(pd_, factor, macro, recovery):
    """On common random numbers a higher PD never lowers the loss (each loan defaults earlier or
    as early, on a larger exposure), and a stricter bank never finances more projects.

    Both hold path by path when nothing else moves: capital that never binds (with a binding
    envelope, refusing a large project can leave room for two small ones), no screening on PD
    (a higher PD would screen projects out), fixed recoveries (a Beta recovery is drawn from the
    uniform's residual, which moves with the PD).
    """
    _count("property: monotonicity")
    sectors = [{"name": "plasturgie", "annual_pd": pd_, "recovery_mean": recovery, "loading": 0.2},
               {"name": "automobile", "annual_pd": pd_ / 2, "recovery_mean": recovery}]
    base = make_scenario(**_safe({"sectors": sectors, "defaults": {"macro_loading": macro}}))
    riskier = base.with_overrides({"sectors.plasturgie.annual_pd": min(pd_ * factor, 0.99),
                                   "sectors.automobile.annual_pd": min(pd_ * factor / 2, 0.99)})
    a, b = (levier.simulate(s, paths=64, seed=3).paths for s in (base, riskier))
    assert (b["fund_loss"] >= a["fund_loss"] - 1e-6).all()
    assert (b["n_defaults"] >= a["n_defaults"]).all()
    assert b["fund_loss"].mean() >= a["fund_loss"].mean()
    stricter = base.with_overrides({"bank.threshold": base.bank.threshold + 0.1 * factor})
    c = levier.simulate(stricter, paths=64, seed=3).paths
    assert (c["n_financed"] <= a["n_financed"]).all()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_full_recovery_means_no_loss_and_zero_loadings_make_factors_irrelevant(scenario):
    _count("property: recovery and loadings")
    from levier.engine.paths import block_draws, simulate_paths
    from levier.model.terms import project_terms
    from levier.streams import coerce_seed

    names = scenario.sector_names
    full = scenario.with_overrides({**{f"sectors.{n}.recovery_mean": 1.0 for n in names},
                                    **{f"sectors.{n}.recovery_sd": 0.0 for n in names}})
    p = levier.simulate(full, paths=32).paths
    assert (p["fund_loss"].abs() <= 1e-6).all() and (p["bank_loss"].abs() <= 1e-6).all()

    flat = scenario.with_overrides({"defaults.macro_loading": 0.0,
                                    **{f"sectors.{n}.loading": 0.0 for n in names},
                                    **{f"territories.{t}.loading": 0.0 for t in scenario.territory_names}})
    terms = project_terms(flat, levier.build_portfolio(flat))
    draws = block_draws(terms, coerce_seed(1), 0).rows(0, 32)
    other = type(draws)(np.random.default_rng(99).standard_normal(draws.shocks.shape), draws.u_bank,
                        draws.u_default, draws.z_jobs)
    x, y = simulate_paths(terms, draws).paths, simulate_paths(terms, other).paths
    for name in x:
        np.testing.assert_array_equal(x[name], y[name])


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.sampled_from([None, 5e4, 3e5]))
def test_more_guarantee_never_raises_the_bank_s_loss(scenario, g1, g2, cap):
    """With ample capital, a larger guarantee share never raises the bank's loss on a path where it
    finances the same files, and never finances fewer (the bank's q_eff only rises with the share).

    Where the larger share lets the bank accept more files, its loss may rise with its lending:
    that is the leverage the guarantee buys. With a bank that accepts every closing round the
    files cannot change, and the property holds on every path.
    """
    _count("property: guarantee share")
    low, high = sorted((g1, g2))
    ample = scenario.with_overrides({"fund.capital": 1e12, "guarantee.cap_per_firm": cap})
    for bank in ({}, {"bank.threshold": 0.0, "bank.steepness": 0.0}):
        a, b = (levier.simulate(ample.with_overrides({**bank, "guarantee.share": g}), paths=48).paths
                for g in (low, high))
        assert (b["n_financed"] >= a["n_financed"]).all()
        same = (b["n_financed"] == a["n_financed"]).to_numpy()
        if bank:
            assert same.all()
        assert (b["bank_loss"][same] <= a["bank_loss"][same] + 1e-6).all()
        for p, g in ((a, low), (b, high)):
            total = p["bank_loss"] + p["guarantor_loss"]
            assert (p["guarantor_loss"] >= -1e-9).all() and (p["guarantor_loss"] <= g * total + 1e-6).all()
        # where the guarantee financed the same files, bank + guarantor bear the unguaranteed loss
        plain = levier.simulate(ample.with_overrides(bank), paths=48).paths
        unchanged = (b["n_financed"] == plain["n_financed"]).to_numpy()
        total = (b["bank_loss"] + b["guarantor_loss"])[unchanged]
        np.testing.assert_allclose(total, plain["bank_loss"][unchanged], rtol=1e-9, atol=1e-6)


def _count(name: str) -> None:
    from conftest import CASES

    CASES[name] = CASES.get(name, 0) + 1

"""The policy's terms for each project: the static arrays the engine needs.

:func:`project_terms` turns a scenario and its portfolio into :class:`Terms`: the fund's offer,
the bank's loan and acceptance probability with and without the fund, the repayment and job
schedules by year, and each sector's tabulated recovery quantile.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from levier import elementwise
from levier.model.portfolio import Portfolio
from levier.model.scenario import Scenario
from levier.streams import coerce_seed, rating_generator

__all__ = ["RECOVERY_GRID", "Terms", "VigilanceTerms", "acceptance_probability", "beta_quantile_table", "outstanding_fraction", "project_terms", "rating_error"]


@dataclass(frozen=True, eq=False)
class Terms:
    """Static, path-independent arrays for one scenario (``m`` projects, horizon ``T``).

    Schedule tables are indexed by simulation year ``t = 0 .. T + 1`` (column ``t``).

    Attributes
    ----------
    loan, subsidy, bank_loan, investment, equity, jobs : ndarray (m,)
        Fund loan P, conditional subsidy S, bank loan B (with the fund), I, E, J.
    eligible : ndarray of bool (m,)
        Pipeline project that passes screening and whose round closes with the fund.
    accept_with, accept_without : ndarray (m,)
        Bank acceptance probability a(q) with the fund and a(q0) without it.
    closes_without : ndarray of bool (m,)
        The round closes without the fund (``E + B0 >= I``).
    fund_out, bank_out : ndarray (m, T + 2)
        Share of the original loan outstanding at the start of year t (0 before entry).
    fund_rate : ndarray (m,)
    ramp : ndarray (m, T + 2)
        Share of realised jobs present at the end of year t while the firm lives.
    accept_unguaranteed, accept_without_unguaranteed : ndarray (m,)
        The same acceptance probabilities for a file the guarantor's envelope no longer covers
        (equal to ``accept_with`` / ``accept_without`` when there is no guarantee).
    guarantee_share, guarantee_cap, guarantee_fee_rate, guarantee_envelope : float
        The ``[guarantee]`` table (cap and envelope ``inf`` when unlimited; share 0 = none).
    guaranteed : ndarray (m,)
        Guaranteed principal ``g * B`` of each pipeline file (0 for the loan book).
    pd_rated : ndarray (m,)
        The PD the fund screens on: ``PD * exp(sigma eps - sigma^2 / 2)`` (the true PD at sigma 0).
    """

    horizon: int
    n_book: int
    entry: np.ndarray
    sector: np.ndarray
    territory: np.ndarray
    loan: np.ndarray
    subsidy: np.ndarray
    bank_loan: np.ndarray
    investment: np.ndarray
    equity: np.ndarray
    jobs: np.ndarray
    eligible: np.ndarray
    accept_with: np.ndarray
    accept_without: np.ndarray
    closes_without: np.ndarray
    fund_rate: np.ndarray
    fund_out: np.ndarray
    bank_out: np.ndarray
    ramp: np.ndarray
    check_year: np.ndarray
    pd: np.ndarray
    pd_threshold: np.ndarray
    loadings: np.ndarray
    idiosyncratic_sd: np.ndarray
    default_class: np.ndarray  # (m,) index of the project's (sector, territory, PD) class
    class_members: np.ndarray  # (C,) one project of each class, whose parameters the class shares
    factor_autocorrelation: np.ndarray
    recovery_mean: np.ndarray
    recovery_a: np.ndarray
    recovery_b: np.ndarray
    recovery_table: np.ndarray  # (S, RECOVERY_GRID + 1) quantile table of each sector's recovery
    realisation_mean: np.ndarray
    realisation_sigma: np.ndarray
    net_share: np.ndarray
    capital: float
    recycle: bool
    operating_cost: float
    discount_rate: float
    takeover: float
    clawback_full: bool
    sector_limit: float
    territory_limit: float
    n_sectors: int
    n_territories: int
    accept_unguaranteed: np.ndarray
    accept_without_unguaranteed: np.ndarray
    guaranteed: np.ndarray
    guarantee_share: float
    guarantee_cap: float
    guarantee_fee_rate: float
    guarantee_envelope: float
    pd_rated: np.ndarray
    clawback_tolerance: float
    clawback_collected: float
    variable_rate: float
    variable_cap: float
    bank_rate: float = 0.0  # the bank's interest rate (for the banks' interest received)
    #: Degrees of freedom of the t copula (0 = Gaussian); ``pd_threshold`` is then ``t_nu^-1(h)``.
    degrees_of_freedom: float = 0.0
    #: (m,) downturn-recovery loading gamma of each project's recovery uniform (None = all 0).
    recovery_loading: np.ndarray | None = None
    #: (T, F) factor values fixed by a stress (NaN = random), None without a stress.
    stress: np.ndarray | None = None
    vigilance: VigilanceTerms | None = None  # None: the fund does not watch (nothing is drawn)

    @property
    def guarantee(self) -> bool:
        """Whether a guarantee covers the pipeline's bank loans."""
        return self.guarantee_share > 0.0

    @property
    def envelope_binds(self) -> bool:
        """Whether the guarantor's envelope may run out (then coverage is decided path by path)."""
        return self.guarantee and bool(np.isfinite(self.guarantee_envelope))

    @property
    def n_projects(self) -> int:
        return int(self.loan.shape[0])

    @property
    def bank_decides(self) -> bool:
        """Whether any bank decision is drawn: a pipeline candidate the fund may finance, or a firm
        whose round would close without the fund (its additionality). Otherwise, as for a loan book
        alone, the bank's uniforms are read nowhere and are not drawn."""
        return bool(self.eligible.any() or self.closes_without.any())

    @property
    def n_factors(self) -> int:
        return 1 + self.n_sectors + self.n_territories

    @property
    def correlated(self) -> bool:
        # the t copula's mixing variable correlates defaults even with all loadings 0
        return bool(np.any(self.loadings != 0.0)) or self.degrees_of_freedom > 0


@dataclass(frozen=True, eq=False)
class VigilanceTerms:
    """What the fund's vigilance needs per project (see :class:`levier.model.scenario.Vigilance`).

    Attributes
    ----------
    detection : ndarray (m,)
        Probability that a coming default is detected ``lead_years`` ahead (1 for a loan-book
        file already on watch).
    on_watch : ndarray of bool (m,)
        A loan-book file already on watch: detected whatever the lead.
    maturity_end : ndarray of int (m,)
        Simulation year at whose start the loan is repaid (entry + maturity): a restructuring
        reschedules what is left over the years up to it plus ``extension_years``.
    """

    detection: np.ndarray
    on_watch: np.ndarray
    maturity_end: np.ndarray
    lead_years: int
    false_alarm_rate: float
    cure_rate: float
    cost_per_case: float
    extension_years: int


def outstanding_fraction(
    years_elapsed: np.ndarray,
    maturity: np.ndarray,
    grace: np.ndarray,
    profile: str = "linear",
    rate: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Share of a loan's principal outstanding after ``years_elapsed`` years of its life.

    Interest only during ``grace`` years, then repayment until ``maturity`` by one of three
    profiles: ``"linear"`` (equal principal instalments), ``"annuity"`` (equal payments of
    principal and interest at ``rate``), ``"bullet"`` (everything at maturity). The share is 1
    for negative elapsed years (before disbursement is the caller's business).

    Examples
    --------
    >>> outstanding_fraction(np.arange(8), np.array(7), np.array(2)).round(2).tolist()
    [1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    >>> outstanding_fraction(np.arange(4), np.array(3), np.array(1), "bullet").tolist()
    [1.0, 1.0, 1.0, 0.0]
    """
    years_elapsed = np.asarray(years_elapsed, dtype=float)
    n = np.maximum(maturity - grace, 1)  # number of instalments
    k = np.clip(years_elapsed - grace, 0.0, n)  # instalments paid
    if profile == "linear":
        return 1.0 - k / n
    if profile == "bullet":
        return np.where(k >= n, 0.0, 1.0)
    if profile == "annuity":
        growth = 1.0 + np.asarray(rate, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            annuity = (growth**n - growth**k) / (growth**n - 1.0)
        return np.where(np.asarray(rate) > 0, annuity, 1.0 - k / n)
    raise ValueError(f"unknown amortisation profile {profile!r}")


def acceptance_probability(q: np.ndarray, threshold: float, steepness: float) -> np.ndarray:
    """The bank's probability of accepting a round with quasi-equity ratio ``q``.

    A hard threshold (``steepness = 0``: accept iff ``q >= threshold``) or a logistic curve
    ``1 / (1 + exp(-(q - threshold) / steepness))``.
    """
    q = np.asarray(q, dtype=float)
    if steepness == 0.0:
        # ratios computed as (E + P) / I can land a hair below an exact threshold
        return (q >= threshold - 1e-12).astype(float)
    with np.errstate(over="ignore"):  # a tiny steepness is a threshold: expit(±inf) is 1 or 0
        return special.expit((q - threshold) / steepness)


RECOVERY_GRID = 1 << 14


@functools.lru_cache(maxsize=256)
def _beta_quantiles(mean: float, a: float, b: float, size: int) -> np.ndarray:
    if a <= 0:
        table = np.full(size + 1, float(mean))
    else:
        table = special.betaincinv(a, b, np.linspace(0.0, 1.0, size + 1))
    table.flags.writeable = False  # shared between calls: nobody may change it
    return table


def beta_quantile_table(mean: float, a: float, b: float, size: int = RECOVERY_GRID) -> np.ndarray:
    """Exact Beta(a, b) quantiles at ``k / size``, ``k = 0 .. size`` (all ``mean`` if ``a = 0``).

    Interpolating linearly between these nodes gives a continuous law whose CDF agrees with the
    Beta's at every node and is monotone between them, so the two CDFs never differ by more
    than one interval's probability, ``1 / size``: a recovery drawn from the table is a Beta
    recovery up to 6e-5 in Kolmogorov distance, at a thousandth of the cost of ``betaincinv``.
    The tables are remembered (a read-only array), so that the policy lab, which re-derives the
    terms at every point, computes each sector's once (about 45 ms each).
    """
    return _beta_quantiles(float(mean), float(a), float(b), int(size))


def project_terms(scenario: Scenario, portfolio: Portfolio, stress: str | None = None) -> Terms:
    """The policy's terms for every project: offer, bank decision inputs, schedules.

    Loan-book rows keep the amounts and terms of the book where it gives them and take the
    policy's otherwise; they get no subsidy (already granted) and need no bank decision.
    ``stress`` names a ``[[stresses]]`` entry whose factor values the engine then imposes.
    """
    s, p = scenario, portfolio
    pol, bank = s.policy, s.bank
    horizon = s.simulation.horizon_years
    book = p.in_book
    investment, equity, jobs = p.investment, p.equity, p.jobs

    guarantee = s.guarantee
    offer = np.minimum.reduce(
        [np.full(len(p), pol.loan_cap), pol.loan_per_job * jobs, pol.max_share_of_investment * investment]
    )
    loan = np.where(book & ~np.isnan(p.loan_amount), p.loan_amount, offer)
    subsidy = np.where(book, 0.0, pol.subsidy_per_job * jobs)
    # what the bank counts as the firm's own funds: a subsidy too if it reads French accounts so
    counted = equity + loan + subsidy if bank.subsidy_is_equity else equity + loan
    gap = investment - equity - loan - subsidy  # what is left for the bank
    bank_loan_formula = np.maximum(0.0, np.minimum(gap, bank.gearing * counted))
    bank_loan = np.where(book & ~np.isnan(p.bank_amount), p.bank_amount, bank_loan_formula)
    tol = bank.closing_tolerance * investment
    # E + P + S + B >= I - tol, as I - E - P - S - B <= tol: a round the bank fills to the euro
    # (B = the gap) then leaves exactly 0, where the sum E + P + S + B could round below I and
    # judge it not to close (with closing_tolerance = 0, 5 of Moselle-Est's 150 projects were)
    closes = gap - bank_loan_formula <= tol
    gap_without = investment - equity
    bank_without = np.maximum(0.0, np.minimum(gap_without, bank.gearing * equity))
    closes_without = gap_without - bank_without <= tol
    q_with = counted / investment
    q_without = equity / investment
    accept_with = acceptance_probability(q_with, bank.threshold, bank.steepness)
    accept_without = acceptance_probability(q_without, bank.threshold, bank.steepness)
    accept_unguaranteed, accept_without_unguaranteed = accept_with, accept_without
    g = float(guarantee.share)
    if g > 0:
        # The bank decides on its own risk: the guaranteed share of its loan counts as a cushion,
        # q_eff = q + g B / I (= 1 - (1 - g) B / I when q counts every non-bank euro of a closed
        # round). The guarantee exists without the fund too, on that counterfactual's loan B0.
        # loan-book loans were granted before the run and carry no guarantee (docs/instruments.md)
        accept_with = np.where(book, accept_with, acceptance_probability(
            q_with + g * bank_loan_formula / investment, bank.threshold, bank.steepness))
        accept_without = np.where(book, accept_without, acceptance_probability(
            q_without + g * bank_without / investment, bank.threshold, bank.steepness))
    pd_rated = p.pd
    if pol.rating_noise > 0:
        pd_rated = p.pd.copy()
        pd_rated[~book] = p.pd[~book] * rating_error(s, int((~book).sum()))
    screened = pd_rated <= pol.max_pd
    eligible = ~book & screened & closes & (loan + subsidy > 0)

    rate = np.where(book & ~np.isnan(p.rate), p.rate, pol.rate)
    maturity = np.where(book & ~np.isnan(p.maturity), p.maturity, pol.maturity_years)
    grace = np.where(book & ~np.isnan(p.grace), p.grace, pol.grace_years)
    years = np.arange(horizon + 2)
    elapsed = years[None, :] - p.entry[:, None]
    started = elapsed >= 0
    fund_out = np.where(
        started, outstanding_fraction(elapsed, maturity[:, None], grace[:, None], pol.amortisation, rate[:, None]), 0.0
    )
    fund_out = _resume_from_outstanding(fund_out, loan, p.outstanding)
    bank_out = np.where(
        started,
        outstanding_fraction(elapsed, np.array(bank.maturity_years), np.array(bank.grace_years), bank.amortisation, bank.rate),
        0.0,
    )

    ramps = [sec.job_ramp for sec in s.sectors]
    life = elapsed + 1  # life year k during simulation year t
    ramp = np.zeros((len(p), horizon + 2))
    for code, profile in enumerate(ramps):  # a loop over sectors, not projects
        rows = p.sector == code
        prof = np.asarray(profile, dtype=float)
        k = np.clip(life[rows], 1, prof.size)
        ramp[rows] = np.where(life[rows] >= 1, prof[k - 1], 0.0)

    sectors, territories = s.sectors, s.territories
    sec_loading = np.array([x.loading for x in sectors])[p.sector]
    ter_loading = np.array([t.loading for t in territories])[p.territory]
    loadings = np.column_stack([np.full(len(p), s.defaults.macro_loading), sec_loading, ter_loading])
    d = s.defaults
    autocorrelation = np.concatenate(
        [
            [d.macro_autocorrelation],
            np.full(len(sectors), d.macro_autocorrelation if d.sector_autocorrelation is None else d.sector_autocorrelation),
            np.full(
                len(territories),
                d.macro_autocorrelation if d.territory_autocorrelation is None else d.territory_autocorrelation,
            ),
        ]
    )

    rec_mean = np.array([x.recovery_mean for x in sectors])
    rec_sd = np.array([x.recovery_sd for x in sectors])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        concentration = np.where(rec_sd > 0, rec_mean * (1 - rec_mean) / rec_sd**2 - 1.0, 0.0)
    # an sd so small that the Beta is a point mass (or overflows) is treated as fixed
    spread = (rec_sd > 0) & np.isfinite(concentration) & (concentration < 1e12)
    rec_a = np.where(spread, rec_mean * concentration, 0.0)
    rec_b = np.where(spread, (1 - rec_mean) * concentration, 0.0)
    real_mean = np.array([x.job_realisation_mean for x in sectors])
    real_sd = np.array([x.job_realisation_sd for x in sectors])
    with np.errstate(divide="ignore", invalid="ignore"):  # the branch for mean = 0 is discarded
        # sigma^2 = log(1 + sd^2 / mean^2), in logs so that a tiny mean cannot overflow it
        log_mean = elementwise.log(real_mean)
        real_sigma = np.where(
            real_mean > 0, np.sqrt(np.logaddexp(2 * log_mean, 2 * elementwise.log(real_sd)) - 2 * log_mean), 0.0
        )
    dead_sector = np.array([x.deadweight for x in sectors])[p.sector]
    dead_territory = np.array([t.deadweight for t in territories])[p.territory]

    t_copula = s.defaults.copula == "t"
    nu = float(s.defaults.degrees_of_freedom or 0.0) if t_copula else 0.0
    with np.errstate(divide="ignore"):
        if t_copula:
            from scipy import stats  # only the t copula needs it (the command line starts faster)

            threshold = stats.t.ppf(p.pd, nu)
        else:
            threshold = special.ndtri(p.pd)
    rec_loading = np.array([x.recovery_loading for x in sectors])
    # Projects of one (sector, territory, PD) class share their conditional PD path: computing
    # it once per class, not per project, is what a 10 000-loan book with a rating scale needs.
    keys = np.column_stack([p.sector, p.territory, p.pd]) if len(p) else np.empty((0, 3))
    _, class_members, default_class = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return Terms(
        horizon=horizon,
        n_book=int(book.sum()),
        entry=p.entry.astype(np.int64),
        sector=p.sector,
        territory=p.territory,
        loan=loan,
        subsidy=subsidy,
        bank_loan=bank_loan,
        investment=investment,
        equity=equity,
        jobs=jobs,
        eligible=eligible,
        accept_with=accept_with,
        accept_without=accept_without,
        closes_without=closes_without,
        fund_rate=rate,
        bank_rate=float(bank.rate),
        fund_out=fund_out,
        bank_out=bank_out,
        ramp=ramp,
        check_year=p.entry + pol.clawback_year - 1,
        pd=p.pd,
        pd_threshold=threshold,
        loadings=loadings,
        idiosyncratic_sd=np.sqrt(1.0 - np.sum(loadings**2, axis=1)),
        default_class=np.asarray(default_class, dtype=np.intp).reshape(-1),
        class_members=np.asarray(class_members, dtype=np.intp),
        factor_autocorrelation=autocorrelation,
        recovery_mean=rec_mean[p.sector],
        recovery_a=rec_a[p.sector],
        recovery_b=rec_b[p.sector],
        recovery_table=np.array([beta_quantile_table(*params) for params in zip(rec_mean, rec_a, rec_b)]).reshape(
            len(sectors), RECOVERY_GRID + 1
        ),
        realisation_mean=real_mean[p.sector],
        realisation_sigma=real_sigma[p.sector],
        net_share=(1.0 - dead_sector) * (1.0 - dead_territory),
        capital=float(s.fund.capital),
        recycle=s.fund.recycle,
        operating_cost=float(s.fund.operating_cost_per_file),
        discount_rate=float(s.simulation.discount_rate),
        takeover=float(pol.takeover_job_share),
        clawback_full=pol.clawback == "full",
        # a share of 1 means no limit (with recycling, commitments may exceed the capital)
        sector_limit=pol.max_sector_share * s.fund.capital if pol.max_sector_share < 1 else np.inf,
        territory_limit=pol.max_territory_share * s.fund.capital if pol.max_territory_share < 1 else np.inf,
        n_sectors=len(sectors),
        n_territories=len(territories),
        accept_unguaranteed=accept_unguaranteed,
        accept_without_unguaranteed=accept_without_unguaranteed,
        guaranteed=np.where(book, 0.0, g * bank_loan),
        guarantee_share=g,
        guarantee_cap=np.inf if guarantee.cap_per_firm is None else float(guarantee.cap_per_firm),
        guarantee_fee_rate=float(guarantee.fee_rate),
        guarantee_envelope=np.inf if guarantee.envelope is None else float(guarantee.envelope),
        pd_rated=pd_rated,
        clawback_tolerance=float(pol.clawback_tolerance),
        clawback_collected=float(pol.clawback_collected),
        variable_rate=float(pol.variable_rate),
        variable_cap=float(pol.variable_cap),
        degrees_of_freedom=nu,
        recovery_loading=rec_loading[p.sector] if np.any(rec_loading > 0) else None,
        stress=stress_matrix(s, stress) if stress is not None else None,
        vigilance=_vigilance_terms(s, p, maturity),
    )


def _vigilance_terms(s: Scenario, p: Portfolio, maturity: np.ndarray) -> VigilanceTerms | None:
    """The vigilance's per-project terms, or None when the fund does not watch."""
    v = s.vigilance
    # files already on watch are in the vigilance's care even when it detects nothing new
    if v is None or not (v.active or (p.watch.any() and v.cure_rate > 0)):
        return None
    return VigilanceTerms(
        detection=np.where(p.watch, 1.0, float(v.detection_rate)),
        on_watch=p.watch.copy(),
        maturity_end=(p.entry + maturity).astype(np.int64),
        lead_years=int(v.lead_years),
        false_alarm_rate=float(v.false_alarm_rate),
        cure_rate=float(v.cure_rate),
        cost_per_case=float(v.cost_per_case),
        extension_years=int(v.extension_years),
    )


def _resume_from_outstanding(fund_out: np.ndarray, loan: np.ndarray, outstanding: np.ndarray) -> np.ndarray:
    """A mid-life loan's schedule from the valuation date: what it still owes at the start of
    year 1, ``outstanding``, repaid on the contractual profile of the rest of its life (the
    contractual shares from year 1 on, scaled so that year 1 starts at ``outstanding``)."""
    given = ~np.isnan(outstanding)
    if not given.any():
        return fund_out
    fund_out = fund_out.copy()
    rows = np.flatnonzero(given)
    at_start = fund_out[rows, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where((at_start > 0) & (loan[rows] > 0), outstanding[rows] / (loan[rows] * at_start), 0.0)
    fund_out[rows, 1:] *= scale[:, None]
    return fund_out


def rating_error(scenario: Scenario, n: int) -> np.ndarray:
    """The factor ``exp(sigma eps - sigma^2 / 2)`` between each pipeline project's rated and true PD.

    One standard normal ``eps`` per pipeline project, in order of arrival, from its own stream keyed
    like the pipeline (``pipeline.seed``, else ``simulation.seed``): a project's rating is part of
    its file, the same on every path and under every policy, so screening stays a static decision
    and a policy comparison screens the same ratings. The factor has mean 1 (the rating is unbiased
    in PD); its median ``exp(-sigma^2 / 2)`` falls with sigma, so a noisy rating lets more files
    through a PD ceiling, and in the limit all of them.
    """
    sigma = float(scenario.policy.rating_noise)
    pipe = scenario.pipeline
    seed = pipe.seed if pipe is not None and pipe.seed is not None else scenario.simulation.seed
    eps = rating_generator(coerce_seed(seed if seed is not None else 0)).standard_normal(n)
    return elementwise.exp(sigma * eps - 0.5 * sigma * sigma)


def stress_matrix(s: Scenario, name: str) -> np.ndarray:
    """The factor values a ``[[stresses]]`` entry fixes, as a (T, F) array (NaN = random).

    Columns follow the engine's factors: macro, then sectors, then territories, in file order.

    Raises
    ------
    KeyError
        If the scenario has no stress of that name (the message lists those it has).
    """
    names = [x.name for x in s.stresses]
    if name not in names:
        listing = ", ".join(names) if names else "none: add a [[stresses]] table"
        raise KeyError(f"unknown stress {name!r} (the scenario's stresses: {listing})")
    stress = s.stresses[names.index(name)]
    horizon = s.simulation.horizon_years
    out = np.full((horizon, 1 + len(s.sectors) + len(s.territories)), np.nan)
    start = stress.first_year - 1
    paths = [(0, stress.macro)] if stress.macro is not None else []
    paths += [(1 + s.sector_names.index(k), v) for k, v in stress.sectors.items()]
    paths += [(1 + len(s.sectors) + s.territory_names.index(k), v) for k, v in stress.territories.items()]
    for column, values in paths:
        out[start : start + len(values), column] = values
    return out

"""Scenario files: TOML → frozen, validated :class:`Scenario`.

The table and key names follow ``scenario-example.toml`` (a contract: keys may be added, never
renamed). Every model forbids unknown keys, so a typo is an error rather than a silent default,
and every error names the file, the key path and what was expected.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from levier.errors import Problem, ScenarioError, not_utf8

__all__ = [
    "Bank",
    "Defaults",
    "Fund",
    "Guarantee",
    "LoanBook",
    "Meta",
    "Pipeline",
    "Policy",
    "Scenario",
    "Sector",
    "Simulation",
    "Stress",
    "Target",
    "Territory",
    "Vigilance",
    "load_scenario",
    "parse_assignment",
]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
PD = Annotated[float, Field(ge=0.0, lt=1.0)]
Loading = Annotated[float, Field(gt=-1.0, lt=1.0)]
Autocorrelation = Annotated[float, Field(gt=-1.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
#: An amount in euros: at most a trillion (beyond it sums of amounts lose their meaning in float).
MAX_EUROS = 1e12
Euros = Annotated[float, Field(ge=0.0, le=MAX_EUROS, allow_inf_nan=False)]
#: The spread of a lognormal (at most 5: exp(5 z) already spans twelve orders of magnitude).
Sigma = Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    # strict: a string where a number or a boolean belongs ("10000", "yes"), a 1 for true or 7.0
    # for a whole number of years is refused, naming the key, not read as what it might mean
    # (numpy's scalars are taken as the Python numbers they are: see Scenario.from_dict)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class Meta(_Model):
    """Name and description of the scenario (free text)."""

    name: str = Field("unnamed scenario", description="Name of the scenario, shown in tables and reports.")
    description: str = Field("", description="Free text shown under the name in the report.")


class Simulation(_Model):
    """Monte Carlo settings: paths, horizon, seed, discounting and reported risk levels."""

    paths: Annotated[int, Field(ge=1, le=100_000_000)] = Field(10_000, description="Monte Carlo paths of a run (the CLI's --paths overrides it).", json_schema_extra={"unit": "paths"})
    horizon_years: Annotated[int, Field(ge=1, le=100)] = Field(10, description="Years simulated, counted from the first entry year (year 1).", json_schema_extra={"unit": "years"})
    seed: Annotated[int, Field(ge=0)] | None = Field(None, description="Seed of the Monte Carlo draws; absent: fresh entropy, recorded in the results so that the run can be repeated.")
    discount_rate: Annotated[float, Field(gt=-1.0, lt=1.0)] = Field(0.03, description="Annual rate at which the fund's flows are discounted to year 0 for its net cost.", json_schema_extra={"unit": "per year"})
    risk_levels: Annotated[list[Annotated[float, Field(gt=0.0, lt=1.0)]], Field(min_length=1)] = Field([0.95, 0.99, 0.999], description="Levels α of the VaR and expected shortfall reported for losses.", json_schema_extra={"unit": "probability"})
    quantiles: Annotated[list[Annotated[float, Field(gt=0.0, lt=1.0)]], Field(min_length=1)] = Field([0.05, 0.5, 0.95], description="Quantiles reported for every metric in summaries and tables.", json_schema_extra={"unit": "probability"})


class Fund(_Model):
    """The fund: capital available to lend (and pay subsidies from), running costs, recycling."""

    capital: Euros = Field(description="What the fund can commit from year 1 on: loans and subsidies of the pipeline are refused once it is spent (loan-book loans granted before year 1 do not count against it; operating costs are paid apart).", json_schema_extra={"unit": "€"})
    operating_cost_per_file: Euros = Field(0.0, description="Running cost of each live file (loan not yet repaid or defaulted), per year; 0 = none.", json_schema_extra={"unit": "€ per file per year"})
    recycle: bool = Field(False, description="Lend repaid principal, the fund's recoveries and clawed-back subsidies again to later years' pipeline.")


class Policy(_Model):
    """The fund's rules (what a policy comparison varies)."""

    loan_per_job: Euros = Field(description="Participative loan offered per planned job; the offer is min(loan_cap, loan_per_job · J, max_share_of_investment · I).", json_schema_extra={"unit": "€ per planned job"})
    loan_cap: Euros = Field(description="Largest loan to one firm.", json_schema_extra={"unit": "€"})
    max_share_of_investment: Probability = Field(1.0, description="Largest loan as a share of the project's investment I; 1 = no such limit.", json_schema_extra={"unit": "share of I"})
    rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.0, description="Fixed interest rate of the fund's loan; 0 = an interest-free loan.", json_schema_extra={"unit": "per year"})
    maturity_years: Annotated[int, Field(ge=1, le=50)] = Field(7, description="Life of the fund's loan, from disbursement to the last repayment.", json_schema_extra={"unit": "years"})
    grace_years: Annotated[int, Field(ge=0, le=49)] = Field(0, description="Years of interest only before repayment starts (less than maturity_years).", json_schema_extra={"unit": "years"})
    amortisation: Literal["linear", "annuity", "bullet"] = Field("linear", description="Repayment after the grace years: equal principal instalments (linear), equal payments (annuity, at rate) or all at maturity (bullet).")
    max_pd: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1.0, description="Screening: projects whose annual PD is above it get no loan; 1 = no screening.", json_schema_extra={"unit": "probability per year"})
    subsidy_per_job: Euros = Field(0.0, description="Conditional subsidy paid at entry per planned job, clawed back at clawback_year if the jobs did not come; 0 = none.", json_schema_extra={"unit": "€ per planned job"})
    clawback_year: Annotated[int, Field(ge=1, le=100)] = Field(3, description="Life year of the firm at which job targets are checked for the clawback (and jobs at check are counted).", json_schema_extra={"unit": "life year"})
    clawback: Literal["pro_rata", "full"] = Field("pro_rata", description="What is clawed back from a surviving firm below its target: the missing share of the subsidy (pro_rata) or all of it (full).")
    takeover_job_share: Probability = Field(0.0, description="Share of a defaulted firm's jobs kept by a takeover; 0 = all lost.", json_schema_extra={"unit": "share of jobs"})
    max_sector_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1.0, description="Most the fund may commit to one sector, as a share of capital; 1 = no limit.", json_schema_extra={"unit": "share of capital"})
    max_territory_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1.0, description="Most the fund may commit to one territory, as a share of capital; 1 = no limit.", json_schema_extra={"unit": "share of capital"})
    rating_noise: Sigma = Field(0.0, description=(
        "sigma of the rating error: the fund screens on PD * exp(sigma * eps - sigma^2 / 2), eps a standard normal "
        "per project drawn once per scenario seed (0 = the fund sees the true PD)"))
    clawback_tolerance: Annotated[float, Field(gt=0.0, le=1.0)] = Field(1.0, description=(
        "a subsidy is clawed back only if the jobs achieved at the check year are below this share of the target "
        "(1 = any shortfall)"))
    clawback_collected: Probability = Field(1.0, description="share of the clawback due that is actually recovered")
    variable_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.0, description=(
        "profit-linked extra annual rate on the fund's outstanding (participative loan, 1978 law), scaled by "
        "min(max(phi - 1, 0) / (variable_cap - 1), 1) with phi the firm's job realisation (0 = none)"))
    variable_cap: Annotated[float, Field(gt=1.0, le=100.0, allow_inf_nan=False)] = Field(2.0, description=(
        "job realisation at which the variable rate is paid in full (> 1)"))


class Guarantee(_Model):
    """A public guarantee on the bank loan (Oséo / Bpifrance type); off while ``share = 0``.

    The guarantor bears ``share`` of the bank's loss after its senior recovery, at most
    ``cap_per_firm`` euros per firm, for a fee of ``fee_rate`` a year on the guaranteed outstanding
    (``share`` times the bank's outstanding); ``envelope`` bounds the guaranteed principal it
    commits, first come first served over financed projects in entry order.
    """

    share: Probability = Field(0.0, description="share g of the bank's loss borne by the guarantor (0 = no guarantee)")
    cap_per_firm: Euros | None = Field(None, description="€ of guaranteed loss per firm at most (none = no cap)")
    fee_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.0, description=(
        "annual fee on the guaranteed outstanding, paid by the firm to the guarantor"))
    envelope: Euros | None = Field(None, description=(
        "€ of guaranteed principal the guarantor may commit, first come first served (none = unlimited)"))


class Bank(_Model):
    """The co-financing bank: acceptance rule on the quasi-equity ratio, gearing, its loan."""

    threshold: Probability = Field(description="Quasi-equity ratio (E + P) / I the bank asks for before it lends.", json_schema_extra={"unit": "share of I"})
    steepness: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = Field(0.0, description="0: a hard threshold (accept iff the ratio reaches it); > 0: width of a logistic acceptance curve around it.", json_schema_extra={"unit": "share of I"})
    gearing: Annotated[float, Field(ge=0.0, le=1000.0, allow_inf_nan=False)] = Field(description="The bank lends at most gearing × (equity + quasi-equity).", json_schema_extra={"unit": "€ per € of (E + P)"})
    rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.0, description="The bank loan's rate: the interest its live firms pay it (bank_interest, per path and per year), and the shape of an annuity repayment profile.", json_schema_extra={"unit": "per year"})
    maturity_years: Annotated[int, Field(ge=1, le=50)] = Field(7, description="Life of the bank loan.", json_schema_extra={"unit": "years"})
    grace_years: Annotated[int, Field(ge=0, le=49)] = Field(0, description="Years of interest only before the bank loan is repaid (less than maturity_years).", json_schema_extra={"unit": "years"})
    amortisation: Literal["linear", "annuity", "bullet"] = Field("linear", description="Repayment profile of the bank loan (linear, annuity at rate, or bullet).")
    closing_tolerance: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(1e-6, description="The round closes if E + P + S + B ≥ I − tolerance × I.", json_schema_extra={"unit": "share of I"})
    subsidy_is_equity: bool = Field(False, description=(
        "the bank counts the fund's investment subsidy as equity (French accounts carry it in capitaux propres): "
        "q = (E + P + S) / I and the gearing cap applies to E + P + S"))


class Defaults(_Model):
    """The latent factor model: macro loading and the AR(1) autocorrelation of the factors."""

    macro_loading: Loading = Field(0.0, description="Loading β of every firm on the economy-wide factor; 0 with zero sector and territory loadings = independent defaults.")
    macro_autocorrelation: Autocorrelation = Field(0.0, description="Year-to-year AR(1) autocorrelation of the factors; 0 = independent years.")
    sector_autocorrelation: Autocorrelation | None = Field(None, description="AR(1) autocorrelation of the sector factors; absent: macro_autocorrelation.")
    territory_autocorrelation: Autocorrelation | None = Field(None, description="AR(1) autocorrelation of the territory factors; absent: macro_autocorrelation.")
    copula: Literal["gaussian", "t"] = Field(
        default="gaussian",
        description='"gaussian" (the default) or "t": a Student t factor copula, one mixing variable '
        "W = nu / chi2_nu per path and year shared by all firms, fattening the tail of joint defaults",
    )
    degrees_of_freedom: Annotated[float, Field(gt=2.0, le=1e6, allow_inf_nan=False)] | None = Field(
        default=None,
        description='degrees of freedom nu of the "t" copula (> 2; 3 to 10 are the usual range, larger '
        "tends to the Gaussian); required with copula = \"t\"; given alone, it means copula = \"t\"",
    )

    @model_validator(mode="before")
    @classmethod
    def _degrees_of_freedom_mean_t(cls, data: Any) -> Any:
        # --set defaults.degrees_of_freedom=4 (a sweep over nu) is enough to ask for the t copula
        if isinstance(data, Mapping) and data.get("degrees_of_freedom") is not None and "copula" not in data:
            return {**data, "copula": "t"}
        return data


class Sector(_Model):
    """A sector (filière): default, recovery and job parameters."""

    name: Name = Field(description="Name of the sector (filière), unique; the mixes and the loan book refer to it.")
    annual_pd: PD = Field(description="Unconditional annual default probability of the sector's firms.", json_schema_extra={"unit": "probability per year"})
    loading: Loading = Field(0.0, description="Loading on the sector's own factor; 0 = no sector effect.")
    recovery_mean: Probability = Field(0.0, description="Mean recovery R of the pool at default, as a share of the outstanding debt (bank + fund); 0 = nothing recovered.", json_schema_extra={"unit": "share of debt"})
    recovery_sd: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = Field(0.0, description="Standard deviation of R (a Beta law); 0 = R is fixed at recovery_mean.", json_schema_extra={"unit": "share of debt"})
    job_realisation_mean: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = Field(1.0, description="Mean ratio φ of realised to planned jobs (lognormal).", json_schema_extra={"unit": "ratio"})
    job_realisation_sd: Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)] = Field(0.0, description="Standard deviation of φ; 0 = every firm creates exactly mean × planned jobs.", json_schema_extra={"unit": "ratio"})
    job_ramp: Annotated[list[Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]], Field(min_length=1, max_length=100)] = Field([1.0], description="Share of realised jobs present at the end of life years 1, 2, …; the last value holds afterwards.", json_schema_extra={"unit": "share of jobs"})
    deadweight: Probability = Field(0.0, description="Share of the sector's additional jobs that would have existed anyway (for jobs net of deadweight).", json_schema_extra={"unit": "share of jobs"})
    recovery_loading: Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)] = Field(
        default=0.0,
        description="downturn recovery: loading gamma of the recovery's uniform on the firm's "
        "systematic factor in its default year (0 = recoveries independent of the cycle)",
    )


class Territory(_Model):
    """A territory (bassin): its own factor loading, PD multiplier and deadweight."""

    name: Name = Field(description="Name of the territory (bassin), unique.")
    loading: Loading = Field(0.0, description="Loading on the territory's own factor; 0 = no territory effect.")
    pd_multiplier: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] = Field(1.0, description="Multiplies the sector's annual PD for firms of this territory.", json_schema_extra={"unit": "ratio"})
    deadweight: Probability = Field(0.0, description="Share of the territory's additional jobs that would have existed anyway (combined with the sector's: (1 − d_s)(1 − d_t) are net).", json_schema_extra={"unit": "share of jobs"})


class Pipeline(_Model):
    """The candidate projects the fund will see, drawn once per scenario seed."""

    projects_per_year: Annotated[int, Field(ge=0, le=1_000_000)] = Field(description="Candidate projects arriving each year.", json_schema_extra={"unit": "projects per year"})
    years: Annotated[int, Field(ge=1, le=100)] = Field(1, description="Years during which projects arrive (years 1 … years; at most horizon_years).", json_schema_extra={"unit": "years"})
    investment_median: Annotated[float, Field(gt=0.0, le=1e11, allow_inf_nan=False)] = Field(description="Median investment I of a project (lognormal).", json_schema_extra={"unit": "€"})
    investment_sigma: Sigma = Field(0.0, description="σ of log I: the lognormal spread of investments around the median; 0 = all equal.", json_schema_extra={"unit": "σ of ln €"})
    jobs_per_million: Annotated[float, Field(gt=0.0, le=1e5, allow_inf_nan=False)] = Field(description="Planned jobs per million euros invested (median); J = max(1, round(jobs_per_million · I / 1e6 · e^(jobs_sigma·z))).", json_schema_extra={"unit": "jobs per M€"})
    jobs_sigma: Sigma = Field(0.0, description="σ of the log of planned jobs around jobs_per_million · I; 0 = proportional to I.", json_schema_extra={"unit": "σ of ln jobs"})
    equity_ratio_mean: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(description="Mean promoter equity E / I (normal, clipped to [0, 0.99]).", json_schema_extra={"unit": "share of I"})
    equity_ratio_sd: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = Field(0.0, description="Standard deviation of E / I.", json_schema_extra={"unit": "share of I"})
    pd_sigma: Sigma = Field(0.0, description="Mean-preserving lognormal spread of project PDs around the sector's (screening bites on it); 0 = every project has its sector's PD.", json_schema_extra={"unit": "σ of ln PD"})
    sector_mix: dict[str, NonNegative] | None = Field(None, description="Share of projects in each sector, by name; must sum to 1 (may be omitted with a single sector).", json_schema_extra={"unit": "share of projects"})
    territory_mix: dict[str, NonNegative] | None = Field(None, description="Share of projects in each territory, by name; must sum to 1 (may be omitted with a single territory).", json_schema_extra={"unit": "share of projects"})
    seed: Annotated[int, Field(ge=0)] | None = Field(None, description="Seed of the candidate projects (part of the scenario, not of the run); absent: simulation.seed, or 0.")


class Vigilance(_Model):
    """The creditor who watches (the seed's *organiser la vigilance*): detection of coming
    defaults, restructuring that cures a share of them, and what it costs.

    Off by default (no table, or ``detection_rate = 0`` and ``false_alarm_rate = 0`` and no
    loan-book file on watch): then nothing is drawn and the results are byte-identical to a
    scenario without the table. See ``docs/vigilance.md``.
    """

    detection_rate: Probability = Field(0.0, description=(
        "share of coming defaults that show distress lead_years ahead and are detected (0: none is; the watch is "
        "off when false_alarm_rate is 0 too and no loan-book file is on watch)"))
    lead_years: Annotated[int, Field(ge=0, le=20)] = Field(1, description=(
        "years before its default a distress shows; a default is detected only if the loan was then in the book"),
        json_schema_extra={"unit": "years"})
    false_alarm_rate: Probability = Field(0.0, description=(
        "share of live healthy files flagged each year (they cost cost_per_case, and nothing else)"),
        json_schema_extra={"unit": "per year"})
    cure_rate: Probability = Field(0.0, description=(
        "share of detected distress the fund's restructuring saves: the loan extended, the jobs kept"))
    cost_per_case: Euros = Field(0.0, description="€ spent on each flagged file (true or false alarm)",
                                 json_schema_extra={"unit": "€"})
    extension_years: Annotated[int, Field(ge=0, le=20)] = Field(0, description=(
        "years added to a restructured loan's maturity (what is left is repaid in equal parts)"),
        json_schema_extra={"unit": "years"})
    watch_pd_multiplier: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)] = Field(1.0, description=(
        "multiplier of the annual PD of loan-book files whose status is watch"))

    @property
    def active(self) -> bool:
        """Whether the fund watches at all (else nothing is drawn and nothing changes)."""
        return self.detection_rate > 0 or self.false_alarm_rate > 0


class LoanBook(_Model):
    """The fund's existing portfolio, a CSV, Parquet or Excel (.xlsx, .xlsm) file (path relative to the scenario)."""

    path: Annotated[str, Field(min_length=1)] = Field(description="CSV, Parquet or Excel file of the fund's existing loans, relative to the scenario file. Its firms are already financed: no screening and no bank decision.")
    first_year: int | None = Field(None, description="Calendar year of simulation year 1; absent: entry_year counts in simulation years (≤ 0 = before the start).", json_schema_extra={"unit": "calendar year"})


#: Portfolio ratios a calibration target may name: the keys of ``levier.names.RATIOS``, then
#: :data:`DERIVED_TARGET_METRICS`.
TARGET_METRICS = (
    "cost_per_job",
    "cost_per_net_job",
    "leverage_bank",
    "leverage_investment",
    "loss_rate",
    "bank_loss_rate",
    "fund_lent_per_project",
    "jobs_planned_per_project",
    "jobs_created_per_project",
    "fund_lent_per_planned_job",
    "fund_outlay_per_job_created",
    "vigilance_cost_per_job_saved",
    "bank_default_rate_by_amount",
)

#: Target metrics that are not result ratios, computed by ``check_calibration``:
#: ``bank_default_rate_by_amount`` — the bank's exposure at default over its loan-years (the opening
#: balances of each year a loan is outstanding), an annual default rate weighted by amount.
DERIVED_TARGET_METRICS = ("bank_default_rate_by_amount",)


class Target(_Model):
    """A published figure the scenario claims to reproduce (``levier check-calibration``).

    ``figure`` is an id of levier's ``programme_figures`` table (``levier.datasets``),
    ``metric`` the portfolio ratio to compare with it, ``sector`` restricts it to one sector.
    ``kind`` says what the figure is to the scenario: ``"calibrated"`` if the scenario's inputs
    were sized on it (agreement is then expected, not evidence), ``"validated"`` if it was held
    out (agreement is evidence). ``restates_input = true`` marks a calibrated figure that levier
    reproduces by construction from an input (e.g. jobs per project from the pipeline's sizes).
    """

    figure: Name = Field(description="Id of a published figure in levier.datasets.load('programme_figures').")
    metric: Literal[TARGET_METRICS] = Field(description="The portfolio ratio to compare with it: one of result.ratios(), or bank_default_rate_by_amount (the bank's exposure at default over its loan-years).")  # type: ignore[valid-type]
    sector: str | None = Field(None, description="Restrict the comparison to one sector; absent: the whole portfolio.")
    kind: Literal["calibrated", "validated"] = Field(
        "calibrated", description="calibrated: the scenario was sized on this figure; validated: held out, its "
        "accepted range written from the source before running levier.")
    restates_input: bool = Field(False, description="The figure restates an input of the scenario (not evidence "
                                 "of the model): reported, never counted as agreement.")


class Variant(_Model):
    """A policy variant compared with the scenario itself (``levier compare``, ``[[variants]]``).

    ``set`` maps dotted keys to their new values (``{"policy.loan_per_job" = 10000}``; nested
    tables are flattened into dotted keys).
    """

    name: Name = Field(description="Name of the variant (unique; not 'baseline').")
    set: dict[str, Any] = Field(description="Dotted keys → new values, e.g. {\"policy.loan_per_job\" = 11000}.")

    @field_validator("set", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return flatten_keys(value) if isinstance(value, Mapping) else value


#: A stressed factor path: its value in each year from ``first_year`` on.
FactorPath = Annotated[list[Annotated[float, Field(ge=-10.0, le=10.0, allow_inf_nan=False)]],
                       Field(min_length=1, max_length=100)]


class Stress(_Model):
    """A named bad decade (``[[stresses]]``): given factor values by year, the rest random.

    ``macro`` is the macro factor's value in years ``first_year``, ``first_year + 1``, ...;
    ``sectors`` and ``territories`` map names to their factor's values in the same years. Years
    not given and factors not named stay random (with AR(1) autocorrelation, a random year
    after a stressed one starts from the stressed value). ``levier stress`` compares it with
    the baseline on common random numbers.
    """

    name: Name = Field(description="the stress's name (levier stress --stress NAME)")
    description: str = Field(default="", description="what the stress represents and where its numbers come from")
    first_year: Annotated[int, Field(ge=1, le=100)] = Field(
        default=1, description="simulation year of the first value of each factor path")
    macro: FactorPath | None = Field(default=None, description="the macro factor's values by year (standard normal units)")
    sectors: dict[str, FactorPath] = Field(
        default={}, description="sector name -> that sector's factor values by year (standard normal units)")
    territories: dict[str, FactorPath] = Field(
        default={}, description="territory name -> that territory's factor values by year (standard normal units)")


def flatten_keys(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"policy": {"rate": 0.03}}`` → ``{"policy.rate": 0.03}``: a mapping under a key that is a
    table of the scenario (``policy``, ``sectors.automobile``) is flattened into its keys, so that
    the table's other keys stay; a mapping that is a key's value (``pipeline.sector_mix``) is kept
    whole, and lists are values."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and _model_at(_split_key(dotted)) is not None:
            flat.update(flatten_keys(value, dotted + "."))  # an empty table sets nothing
        else:
            flat[dotted] = value
    return flat


class Scenario(_Model):
    """A complete, validated levier scenario (frozen: change it with :meth:`with_overrides`).

    Build one with :func:`load_scenario` (from a TOML file) or :meth:`from_dict`.

    Examples
    --------
    >>> import levier
    >>> s = levier.load_scenario("scenarios/moselle_est.toml")  # doctest: +SKIP
    >>> s.with_overrides({"policy.loan_per_job": 10_000}).policy.loan_per_job  # doctest: +SKIP
    10000.0
    """

    meta: Meta = Field(Meta(), description="Name and description.")
    simulation: Simulation = Field(Simulation(), description="Monte Carlo settings.")
    fund: Fund = Field(description="The fund's capital, running costs and recycling.")
    policy: Policy = Field(description="The fund's rules: what a policy comparison varies.")
    bank: Bank = Field(description="The co-financing bank.")
    guarantee: Guarantee = Field(Guarantee(), description="A public guarantee on the bank loans; off while share = 0.")
    defaults: Defaults = Field(Defaults(), description="The factor model of defaults.")
    sectors: Annotated[list[Sector], Field(min_length=1)] = Field(description="The sectors (filières), at least one.")
    territories: Annotated[list[Territory], Field(min_length=1)] = Field(description="The territories (bassins), at least one.")
    pipeline: Pipeline | None = Field(None, description="The candidate projects (a pipeline, a loan book, or both).")
    loan_book: LoanBook | None = Field(None, description="The fund's existing portfolio.")
    vigilance: Vigilance | None = Field(None, description=(
        "The fund's watch over its files: detection, restructuring, cure; off while absent or detection_rate = 0."))
    targets: list[Target] = Field([], description="Published figures the scenario claims to reproduce.")
    variants: list[Variant] = Field([], description="Policies compared with the scenario on common random numbers.")
    stresses: list[Stress] = Field(default=[], description="named stress paths of the factors ([[stresses]])")

    _source: str = PrivateAttr(default="<dict>")
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", base_dir: str | Path | None = None
    ) -> Scenario:
        """Validate a nested mapping (as read from TOML) into a :class:`Scenario`.

        Parameters
        ----------
        data : mapping
            Tables and keys as in a scenario file.
        source : str
            Name used in error messages (usually the file path).
        base_dir : path, optional
            Folder that a relative ``loan_book.path`` is resolved against (default: cwd).

        Raises
        ------
        ScenarioError
            Listing every problem with its key path and what was expected.
        """
        data = _plain_scalars(data)
        try:
            scenario = cls.model_validate(data)
        except ValidationError as exc:
            problems = _problems_from_pydantic(exc, data)
            # the checks across keys too, so that one pass lists everything to fix
            raise ScenarioError(source, problems + _cross_key_despite(exc, data, problems)) from None
        scenario._source = source
        scenario._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        problems = _consistency_problems(scenario)
        own = {(pr.where, pr.message) for pr in problems}
        for i, variant in enumerate(scenario.variants):  # each variant must give a valid scenario
            try:
                scenario.variant(variant.name)
            except ScenarioError as exc:
                # a problem of the scenario itself (its loan book missing) is said once, not again per variant
                problems += [Problem(f"variants[{i}].set.{pr.where}" if pr.where else f"variants[{i}]", pr.message)
                             for pr in exc.problems if (pr.where, pr.message) not in own]
        if problems:
            raise ScenarioError(source, problems)
        return scenario

    def variant(self, name: str) -> Scenario:
        """The scenario as changed by its ``[[variants]]`` entry ``name`` (without variants)."""
        names = [v.name for v in self.variants]
        if name not in names:
            raise KeyError(_unknown_key_message(name, names, what="variant"))
        base = self.without_variants()
        try:
            return base.with_overrides(self.variants[names.index(name)].set)
        except ScenarioError as exc:
            raise ScenarioError(f"{self._source} (variant {name!r})", exc.problems) from None

    def without_variants(self) -> Scenario:
        """The scenario itself, its ``[[variants]]`` left out (the baseline of a comparison)."""
        if not self.variants:
            return self
        base = self.model_copy(update={"variants": []})
        base._source, base._base_dir = self._source, self._base_dir
        return base

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Return a new validated scenario with dotted keys replaced.

        Parameters
        ----------
        overrides : mapping
            ``{"policy.loan_per_job": 10000, "sectors.automobile.annual_pd": 0.05}``. List
            tables are addressed by index (``sectors.0.loading`` or ``sectors[0].loading``) or by
            name (``sectors.automobile.loading``). A table that is absent is created. Nested
            tables are dotted keys too, as in ``[[variants]]``: ``{"simulation": {"horizon_years":
            10}}`` sets that key and keeps the table's others (the seed, the paths).

        Returns
        -------
        Scenario
            A new frozen scenario; this one is unchanged.

        Raises
        ------
        ScenarioError
            For an unknown key or a value that does not validate, naming the key.
        """
        data = self.model_dump(mode="python", exclude_unset=True)
        source = f"{self._source} (with overrides)"
        problems: list[Problem] = []
        for key, value in flatten_keys(overrides).items():
            try:
                _set_dotted(data, key, value)
            except KeyError as exc:
                problems.append(Problem(key, str(exc.args[0])))
        if problems:
            raise ScenarioError(source, problems)
        return Scenario.from_dict(data, source=source, base_dir=self._base_dir)

    def value_at(self, key: str) -> Any:
        """The value at a dotted key (as :meth:`with_overrides` addresses it).

        Raises
        ------
        KeyError
            If the key does not exist, with the keys that do.
        """
        node: Any = self.model_dump(mode="python")
        parts = _split_key(key)
        for i, part in enumerate(parts):
            if isinstance(node, list):
                node = node[_list_index(node, part, parts[:i])]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                known = list(node) if isinstance(node, dict) else []
                raise KeyError(f"{'.'.join(parts[:i + 1])}: {_unknown_key_message(part, known)}")  # the whole key
        return node

    # -- facts derived from the scenario ---------------------------------------------------

    @property
    def source(self) -> str:
        """Where this scenario came from (a file path, or ``<dict>``)."""
        return self._source

    @property
    def loan_book_path(self) -> Path | None:
        """The loan-book file, resolved against the scenario's folder (None if no loan book)."""
        if self.loan_book is None:
            return None
        path = Path(self.loan_book.path)
        return path if path.is_absolute() else self._base_dir / path

    @property
    def sector_names(self) -> list[str]:
        """Sector names, in file order (their index is the sector code in arrays)."""
        return [s.name for s in self.sectors]

    @property
    def territory_names(self) -> list[str]:
        """Territory names, in file order (their index is the territory code in arrays)."""
        return [t.name for t in self.territories]

    def content_hash(self) -> str:
        """SHA-256 of the validated content (and of the loan-book file's bytes, if any).

        Two scenarios with the same hash produce the same results for the same seed.
        """
        digest = hashlib.sha256()
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        digest.update(canonical.encode())
        book = self.loan_book_path
        if book is not None and book.is_file():
            digest.update(book.read_bytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        from levier.present.display import scenario_line

        return scenario_line(self)

    def _repr_html_(self) -> str:
        from levier.present.display import scenario_html

        return scenario_html(self)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path : str or Path
        The scenario file. A relative ``[loan_book] path`` inside it is resolved against the
        file's folder.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        If the file is missing, is not UTF-8 TOML, or does not validate; the message names the
        file, the key path and what was expected.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(source, ["no such file"]) from None
    except IsADirectoryError:
        raise ScenarioError(source, ["is a folder, expected a scenario .toml file"]) from None
    except OSError as exc:
        raise ScenarioError(source, [f"cannot be read ({exc.strerror})"]) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is fine
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, [f"{not_utf8(raw, exc)}; expected a TOML scenario file in UTF-8"]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(source, [f"is not valid TOML: {exc}"]) from None
    return Scenario.from_dict(data, source=source, base_dir=path.parent)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` from the command line; VALUE is read as a TOML value.

    ``policy.rate=0.03`` gives a float, ``fund.recycle=true`` a bool, ``meta.name=Alès`` (not
    valid TOML) the string ``"Alès"``, ``simulation.risk_levels=[0.9,0.99]`` a list.

    Raises
    ------
    ScenarioError
        If there is no ``=`` or no key.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError("--set", [Problem(text, "expected KEY=VALUE, e.g. policy.loan_per_job=10000")])
    value = value.strip()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key, parsed


# -- helpers: dotted keys ----------------------------------------------------------------------

_LIST_TABLES = ("sectors", "territories")


def _split_key(key: str) -> list[str]:
    parts: list[str] = []
    for piece in key.replace("]", "").split("."):
        parts.extend(p for p in piece.split("[") if p != "")
    return parts


def _plain_scalars(value: Any) -> Any:
    """``value`` with numpy's scalars made the Python ones they stand for (a notebook's
    ``np.arange(3, 10)`` of maturities), numpy arrays and tuples made lists, in nested mappings
    and lists; the rest as it is."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _plain_scalars(value.tolist())
    if isinstance(value, Mapping):
        return {k: _plain_scalars(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # a tuple is a list here, as TOML knows only arrays
        return [_plain_scalars(v) for v in value]
    return value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = _split_key(key)
    if not parts:
        raise KeyError("empty key")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_list_index(node, part, parts[:i])]
            continue
        if not isinstance(node, dict):
            raise KeyError(f"'{'.'.join(parts[:i])}' is a value, not a table")
        if part not in node:
            if part not in _known_keys(parts[:i]):
                raise KeyError(_unknown_key_message(part, _known_keys(parts[:i])))
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[_list_index(node, last, parts[:-1])] = value
        return
    if not isinstance(node, dict):
        raise KeyError(f"'{'.'.join(parts[:-1])}' is a value, not a table")
    known = _known_keys(parts[:-1])
    if known and last not in known:
        raise KeyError(_unknown_key_message(last, known))
    node[last] = value


def _list_index(items: list[Any], part: str, prefix: list[str]) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(items) <= index < len(items):
            raise KeyError(f"index {index} out of range: '{'.'.join(prefix)}' has {len(items)} entries")
        return index
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if part in names:
        return names.index(part)
    raise KeyError(_unknown_key_message(part, [str(n) for n in names], what="name"))


def integer_field(key: str) -> bool:
    """Whether the scenario key ``key`` holds a whole number (``policy.maturity_years``,
    ``pipeline.seed``), read from the schema: an optional one is unset (None) in most scenarios."""
    parts = _split_key(key)
    model = _model_at(parts[:-1])
    if model is None or parts[-1] not in model.model_fields:
        return False
    annotation = model.model_fields[parts[-1]].annotation
    options = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    return int in [typing.get_args(o)[0] if typing.get_origin(o) is Annotated else o for o in options]


def _model_at(prefix: list[str]) -> type[BaseModel] | None:
    """The pydantic model class that a key prefix points into (None for dicts and values)."""
    model: type[BaseModel] | None = Scenario
    for part in prefix:
        if model is None:
            return None
        if part.lstrip("-").isdigit() or part not in model.model_fields:
            # an index or a name inside a list table: the element model is already selected
            continue
        model = _inner_model(model.model_fields[part].annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _known_keys(prefix: list[str]) -> list[str]:
    model = _model_at(prefix)
    if model is None:
        return []
    # inside a list table addressed by index or name, the model is the element's
    return list(model.model_fields)


def _unknown_key_message(key: str, known: list[str], what: str = "key") -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(known) if len(known) <= 20 else ", ".join(known[:20]) + ", ..."
    return f"unknown {what} '{key}'{hint} (expected one of: {listing})"


# -- helpers: error messages -------------------------------------------------------------------


def _loc_to_key(loc: tuple[Any, ...], data: Any) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            name = None
            if isinstance(node, list) and 0 <= part < len(node) and isinstance(node[part], dict):
                name = node[part].get("name")
            out += f"[{part}]" + (f" ({name})" if isinstance(name, str) and name else "")
        else:
            out += ("." if out else "") + str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _problems_from_pydantic(exc: ValidationError, data: Any) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        key = _loc_to_key(loc, data)
        kind = err["type"]
        if kind == "extra_forbidden":
            prefix = [str(p) for p in loc[:-1]]
            message = _unknown_key_message(str(loc[-1]), _known_keys(prefix))
        elif kind == "missing":
            message = "missing (this key is required)"
        else:
            message = f"{err['msg']}, got {_short(err.get('input'))}"
        problems.append(Problem(key, message))
    return problems


def _cross_key_despite(exc: ValidationError, data: Any, found: list[Problem]) -> list[Problem]:
    """The cross-key problems of data that failed the schema: each bad value is replaced by its
    default (or, for a required key, by some value its type accepts), the checks run, and any
    problem that names a replaced key is dropped, since its value was not the user's. Gives up
    (no problem) when a whole table is missing or malformed."""
    import copy

    if not isinstance(data, Mapping):
        return []
    repaired: Any = copy.deepcopy(dict(data))
    replaced: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        parent: Any = repaired
        try:
            for part in loc[:-1]:
                parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return []
        if not isinstance(parent, dict) or not loc or not isinstance(loc[-1], str):
            return []
        name = loc[-1]
        if err["type"] == "extra_forbidden":
            parent.pop(name, None)
            continue
        model = _model_at([str(p) for p in loc[:-1]])
        if model is None or name not in model.model_fields:
            return []
        info = model.model_fields[name]
        replaced.add(name)
        if not info.is_required():
            parent.pop(name, None)
            continue
        stand_in = _stand_in(info)
        if stand_in is None:
            return []
        parent[name] = stand_in
    try:
        scenario = Scenario.model_validate(repaired)
    except ValidationError:
        return []
    seen = {p.where for p in found}
    return [p for p in _consistency_problems(scenario)
            if p.where not in seen and not any(name in p.where or name in p.message for name in replaced)]


def _stand_in(info: Any) -> Any:
    """Some value a required field accepts (for :func:`_cross_key_despite`), or None."""
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Annotated[info.annotation, *info.metadata]) if info.metadata else TypeAdapter(info.annotation)
    candidates: tuple[Any, ...] = (0.5, 1, 0.1, 0, 2, 10, 1_000, 1e6, "x", True, [1.0], {})
    for candidate in candidates:
        try:
            return adapter.validate_python(candidate)
        except ValidationError:
            continue
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _consistency_problems(s: Scenario) -> list[Problem]:
    """Checks that span several keys (pydantic validates each key on its own)."""
    problems: list[Problem] = []
    for table, names in (("sectors", [x.name for x in s.sectors]), ("territories", [x.name for x in s.territories])):
        first: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in first:
                problems.append(Problem(f"{table}[{i}].name", f"duplicate name {name!r} (also {table}[{first[name]}])"))
            first.setdefault(name, i)
    if s.policy.grace_years >= s.policy.maturity_years:
        problems.append(Problem("policy.grace_years", "must be less than policy.maturity_years"))
    if s.bank.grace_years >= s.bank.maturity_years:
        problems.append(Problem("bank.grace_years", "must be less than bank.maturity_years"))
    macro2 = s.defaults.macro_loading**2
    for i, sector in enumerate(s.sectors):
        for territory in s.territories:
            total = macro2 + sector.loading**2 + territory.loading**2
            if total >= 1.0:
                problems.append(
                    Problem(
                        f"sectors[{i}] ({sector.name}).loading",
                        "the squared loadings (macro + sector + territory) must sum to less than 1; "
                        f"with territory {territory.name!r} they sum to {total:.4g}",
                    )
                )
                break
    for i, sector in enumerate(s.sectors):
        m, sd = sector.recovery_mean, sector.recovery_sd
        if sd > 0 and not (0 < m < 1 and sd * sd < m * (1 - m)):
            limit = math.sqrt(m * (1 - m)) if 0 < m < 1 else 0.0
            problems.append(
                Problem(
                    f"sectors[{i}] ({sector.name}).recovery_sd",
                    f"a Beta recovery with mean {m:g} needs 0 < mean < 1 and sd < {limit:.4g}, got {sd:g}",
                )
            )
    if s.pipeline is None and s.loan_book is None:
        problems.append(Problem("", "a scenario needs a [pipeline] table, a [loan_book] table, or both"))
    if s.pipeline is not None and s.pipeline.years > s.simulation.horizon_years:
        problems.append(
            Problem(
                "pipeline.years",
                f"projects would enter after the horizon: {s.pipeline.years} pipeline years, "
                f"simulation.horizon_years = {s.simulation.horizon_years}",
            )
        )
    if s.pipeline is not None:
        for mix_key, names, label, labels in (
            ("sector_mix", s.sector_names, "sector", "sectors"),
            ("territory_mix", s.territory_names, "territory", "territories"),
        ):
            mix = getattr(s.pipeline, mix_key)
            where = f"pipeline.{mix_key}"
            if mix is None:
                if len(names) > 1:
                    problems.append(Problem(where, f"missing: with several {labels}, give each one's share"))
                continue
            unknown = [k for k in mix if k not in names]
            for k in unknown:
                problems.append(Problem(f"{where}.{k}", _unknown_key_message(k, names, what=label)))
            total = sum(mix.values())
            if not math.isclose(total, 1.0, abs_tol=1e-6):
                problems.append(Problem(where, f"shares must sum to 1, they sum to {total:.6g}"))
    if s.targets:
        from levier.model.datasets import load

        known = set(load("programme_figures")["id"])
        for i, target in enumerate(s.targets):
            if target.figure not in known:
                problems.append(Problem(f"targets[{i}].figure", _unknown_key_message(target.figure, sorted(known), what="figure")))
            if target.sector is not None and target.sector not in s.sector_names:
                problems.append(Problem(f"targets[{i}].sector", _unknown_key_message(target.sector, s.sector_names, what="sector")))
    seen: set[str] = set()
    for i, variant in enumerate(s.variants):
        if variant.name in seen or variant.name == "baseline":
            problems.append(Problem(f"variants[{i}].name", f"{variant.name!r} is taken (names must be unique, "
                                    "and 'baseline' is the scenario itself)"))
        seen.add(variant.name)
    problems += _stress_problems(s)
    book = s.loan_book_path
    if book is not None and not book.is_file():
        what = "not a regular file" if book.exists() else "no such file"
        problems.append(Problem("loan_book.path", f"{what}: {book}"))
    return problems



def _stress_problems(s: Scenario) -> list[Problem]:
    """The copula's degrees of freedom, and stresses that name existing factors within the horizon."""
    problems: list[Problem] = []
    d = s.defaults
    if d.copula == "t" and d.degrees_of_freedom is None:
        problems.append(Problem("defaults.degrees_of_freedom", 'missing: copula = "t" needs its degrees of freedom '
                                "(e.g. 4)"))
    if d.copula == "gaussian" and d.degrees_of_freedom is not None:
        problems.append(Problem("defaults.degrees_of_freedom", 'only used with defaults.copula = "t", but the '
                                'copula is "gaussian": set defaults.copula = "t" (or remove degrees_of_freedom)'))
    horizon = s.simulation.horizon_years
    seen: set[str] = set()
    for i, stress in enumerate(s.stresses):
        where = f"stresses[{i}] ({stress.name})"
        if stress.name in seen or stress.name == "baseline":
            problems.append(Problem(f"{where}.name", f"{stress.name!r} is taken (names must be unique, and "
                                    "'baseline' is the scenario itself)"))
        seen.add(stress.name)
        given = [("macro", stress.macro)] if stress.macro is not None else []
        for table, names in (("sectors", s.sector_names), ("territories", s.territory_names)):
            for name, values in getattr(stress, table).items():
                if name not in names:
                    problems.append(Problem(f"{where}.{table}.{name}",
                                            _unknown_key_message(name, names, what=table[:-1] if table == "sectors"
                                                                 else "territory")))
                given.append((f"{table}.{name}", values))
        if not given:
            problems.append(Problem(where, "gives no factor values: expected macro, sectors or territories"))
        for key, values in given:
            last = stress.first_year + len(values) - 1
            if last > horizon:
                problems.append(Problem(f"{where}.{key}", f"{len(values)} values from year {stress.first_year} reach "
                                        f"year {last}, beyond simulation.horizon_years = {horizon}"))
    return problems

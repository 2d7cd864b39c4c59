"""Labels in English and French, and numbers, amounts and dates as each language writes them.

The code names (``fund_loss``, ``q_0.05``) and the scenario keys stay English everywhere; only
what people read — the CLI's tables and the report — changes with ``lang``. French numbers use
a narrow no-break space (U+202F) between thousands and a decimal comma: ``10 904 €``,
``5,41 M€``, ``99 %``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import ParamSpec, SupportsFloat, TypeVar

__all__ = ["LANGS", "check_lang", "counted", "default_lang", "format_date", "format_estimate", "format_fixed",
           "format_number", "format_percent", "format_rate", "localise", "resolves_lang", "t", "with_unit"]

LANGS = ("en", "fr")
_P = ParamSpec("_P")
_R = TypeVar("_R")
#: The thousands separator of French numbers: a narrow no-break space.
NNBSP = "\u202f"


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """The language of the user's locale: ``"fr"`` if it is French, else ``"en"``.

    As POSIX reads them, the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set and
    not empty decides (``fr_FR.UTF-8``, ``fr_CA``, ``fr`` are French).
    """
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"


def check_lang(lang: str | None) -> str:
    """``lang`` itself if it is one of :data:`LANGS`, the locale's language if None."""
    if lang is None:
        return default_lang()
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def resolves_lang(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """A presentation function whose ``lang`` goes through :func:`check_lang` first: None is the
    locale's language (as for ``write_result`` and ``write_report``), another value is refused."""
    import functools
    import inspect

    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        bound = signature.bind(*args, **kwargs)
        if "lang" in bound.arguments:
            bound.arguments["lang"] = check_lang(bound.arguments["lang"])
        return function(*bound.args, **bound.kwargs)

    return wrapper


def localise(text: str, lang: str = "en") -> str:
    """A number Python wrote (``1,234.5``, ``-3``) with the language's separators and minus sign."""
    if lang == "fr":
        return text.replace(",", NNBSP).replace(".", ",").replace("-", "\u2212")
    return text


def format_number(value: SupportsFloat | None, digits: int = 3, lang: str = "en") -> str:
    """A number for people: thousands separators, about ``digits`` significant figures.

    >>> format_number(10904.2), format_number(10904.2, lang="fr")
    ('10,904', '10\u202f904')
    >>> format_number(5.1434, lang="fr")
    '5,14'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** (digits - 1):
        return localise(f"{value:,.0f}", lang)
    decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
    return localise(f"{value:,.{min(decimals, 6)}f}", lang)


#: A counted noun's forms: English singular and plural, French singular and plural.
NOUNS = {
    "path": ("path", "paths", "trajectoire", "trajectoires"),
    "Monte Carlo path": ("Monte Carlo path", "Monte Carlo paths", "trajectoire Monte Carlo", "trajectoires Monte Carlo"),
    "year": ("year", "years", "an", "ans"),
    "project": ("project", "projects", "projet", "projets"),
    "pipeline project": ("pipeline project", "pipeline projects", "projet du flux", "projets du flux"),
    "sector": ("sector", "sectors", "filière", "filières"),
    "territory": ("territory", "territories", "territoire", "territoires"),
    "loan": ("loan", "loans", "prêt", "prêts"),
}


def counted(n: float, noun: str, lang: str = "en") -> str:
    """``n`` and ``noun`` in ``lang``, the noun singular where the language wants it (English: 1;
    French: below 2, so 0 too), the number as :func:`format_number` writes whole counts.

    >>> counted(1, "path"), counted(20000, "path"), counted(0, "project", "fr")
    ('1 path', '20,000 paths', '0 projet')
    """
    en_one, en_many, fr_one, fr_many = NOUNS[noun]
    one = abs(float(n)) < 2 if lang == "fr" else float(n) == 1
    word = (fr_one if one else fr_many) if lang == "fr" else (en_one if one else en_many)
    return f"{format_number(n, 1, lang)} {word}"


def with_unit(text: str, unit: str, lang: str = "en") -> str:
    """A number and its unit, kept together in French by a narrow no-break space (``5,41 M€``
    never breaks between the two): ``with_unit("5,41", "M€", "fr")``."""
    return f"{text}{NNBSP if lang == 'fr' else ' '}{unit}" if unit else text


def format_fixed(value: float, decimals: int, lang: str = "en") -> str:
    """``value`` with ``decimals`` decimals (a negative count rounds to tens, hundreds...),
    thousands grouped, in the language's separators: ``format_fixed(0.0123, 4, "fr")`` → ``0,0123``;
    ``–`` for a value that is not a number (an undefined error or bound)."""
    if not math.isfinite(value):
        return "–"
    if decimals <= 0:
        step = 10.0 ** (-decimals)
        return localise(f"{round(value / step) * step:,.0f}", lang)
    return localise(f"{value:,.{decimals}f}", lang)


def format_rate(share: float, decimals: int, lang: str = "en") -> str:
    """A rate in per cent with ``decimals`` decimals: ``0.13794`` → ``13.794 %`` (``13,794 %`` in
    French); ``–`` for a value that is not a number."""
    return "–" if not math.isfinite(share) else with_unit(format_fixed(100 * share, decimals, lang), "%", lang)


def format_estimate(value: float, half_width: float, unit: str = "", lang: str = "en") -> tuple[str, str, int]:
    """An estimate rounded to what its Monte Carlo error supports.

    The value is rounded at the decimal of the first significant figure of ``half_width`` (the
    half-width of its 95 % interval), and amounts in euros of a million or more are written in
    M€. Returns ``(value with unit, "± half-width", decimals)`` — ``decimals`` (in the unit
    shown, M€ or not) lets the interval's ends be written the same way.

    >>> format_estimate(5_409_228, 28_220, "€")
    ('5.41 M€', '± 0.03', 2)
    >>> format_estimate(11_133, 56, "€", lang="fr")
    ('11\u202f130\u202f€', '± 60', -1)
    >>> format_estimate(5.1434, 0.0023)
    ('5.143', '± 0.002', 3)
    """
    if value is None or not math.isfinite(value):
        return "–", "", 0
    scale, shown_unit = (1e6, "M€") if unit == "€" and abs(value) >= 1e6 else (1.0, unit)
    v, h = value / scale, abs(half_width) / scale if half_width == half_width else 0.0
    if h > 0 and math.isfinite(h):
        decimals = -int(math.floor(math.log10(h)))
    else:  # no error to speak of (a constant): three significant figures
        decimals = 2 - int(math.floor(math.log10(abs(v)))) if v else 0
    decimals = min(decimals, 6)
    text = format_fixed(v, decimals, lang)
    pm = f"± {format_fixed(h, decimals, lang)}" if h > 0 else ""
    return with_unit(text, shown_unit, lang), pm, decimals


def format_interval(low: float, high: float, decimals: int, unit: str = "", lang: str = "en", scale: float = 1.0) -> str:
    """``low – high`` written with ``decimals`` (as from :func:`format_estimate`), in its unit; ``–``
    when an end is undefined (one path: no Monte Carlo error)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    text = f"{format_fixed(low / scale, decimals, lang)} – {format_fixed(high / scale, decimals, lang)}"
    return with_unit(text, unit, lang)


def format_percent(share: float, lang: str = "en") -> str:
    """``0.99`` → ``99 %`` (``99 %`` with a narrow no-break space in French)."""
    number = f"{100 * share:g}"
    return with_unit(number.replace(".", ",") if lang == "fr" else number, "%", lang)


_MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre"]


def format_date(when: _dt.datetime, lang: str = "en") -> str:
    """A UTC time as the language writes it: ``2026-12-01 19:30 UTC``, ``1er décembre 2026, 19 h 30 UTC``."""
    when = when.astimezone(_dt.timezone.utc)
    if lang == "fr":
        day = "1er" if when.day == 1 else str(when.day)
        return f"{day} {_MONTHS_FR[when.month - 1]} {when.year}, {when.hour} h {when.minute:02d} UTC"
    return when.strftime("%Y-%m-%d %H:%M UTC")


#: French for every English label levier shows (the English text is the key).
FRENCH: dict[str, str] = {
    # report: the instruments (docs/instruments.md)
    "Guarantor loss (€)": "Perte du garant (€)", "Guarantee fees (€)": "Commissions de garantie (€)",
    "Fund variable interest (€)": "Intérêts variables du fonds (€)",
    "bank counts subsidies as equity": "la banque compte les subventions en fonds propres",
    "guarantee share / cap per firm (€)": "quotité garantie / plafond par entreprise (€)",
    "guarantee fee / envelope (€)": "commission de garantie / enveloppe (€)",
    "rating noise (sigma)": "erreur de notation (sigma)",
    "clawback tolerance / collected": "tolérance de reversement / part recouvrée",
    "variable rate / cap": "taux variable / plafond",
    "Loan, subsidy or guarantee (common random numbers)":
        "Prêt, subvention ou garantie (mêmes tirages aléatoires)",
    # headline table
    "figure": "indicateur", "mean": "moyenne", "± MC se": "± erreur MC", "median": "médiane",
    "{q} quantile": "quantile {q}", "q {q}": "q {q}",
    "Projects financed": "Projets financés", "  of which additional": "  dont additionnels",
    "Jobs created (year {year})": "Emplois créés (année {year})",
    "Jobs additional (year {year})": "Emplois additionnels (année {year})",
    "Jobs additional, net of deadweight": "Emplois additionnels, nets de l'effet d'aubaine",
    "Cost per additional job (€)": "Coût par emploi additionnel (€)", "Bank € per fund €": "€ de banque par € du fonds",
    "Investment € per fund €": "€ d'investissement par € du fonds", "Fund lent (€)": "Prêté par le fonds (€)",
    "Fund loss (€)": "Perte du fonds (€)", "Fund net cost, PV (€)": "Coût net du fonds, valeur actuelle (€)",
    "Bank lent (€)": "Prêté par la banque (€)", "Bank loss (€)": "Perte de la banque (€)", "Defaults": "Défaillances",
    "Jobs at the check year (year {check} of each project)":
        "Emplois à l'année de contrôle (année {check} de chaque projet)",
    "Job-years": "Emplois-années", "Loss rate (fund loss / fund lent)": "Taux de perte (perte / prêté par le fonds)",
    "Fund IRR": "TRI du fonds", "Capital needed at the trough (€)": "Capital nécessaire au creux (€)",
    "Capital left to lend (year {year}, €)": "Capital restant à prêter (année {year}, €)",
    "Capital needed at the trough": "Capital nécessaire au creux",
    "Files watched": "Dossiers sous surveillance", "  of which cured": "  dont redressés",
    "Vigilance costs (€)": "Coûts de la vigilance (€)",
    "Jobs saved by cures (year {year})": "Emplois sauvés par les redressements (année {year})",
    "Fund IRR (mean over paths)": "TRI du fonds (moyenne des trajectoires)",
    "The fund's cumulative cash at each year's end (J-curve); the dashed line is the capital it actually needs, "
    "its deepest point once each year's loans are paid out.":
        "La trésorerie cumulée du fonds en fin d'année (courbe en J) ; la ligne en tirets est le capital dont il a "
        "réellement besoin, son point le plus bas une fois versés les prêts de l'année.",
    "capital needed (mean trough)": "capital nécessaire (creux moyen)",
    "cumulative cash of the fund (€)": "trésorerie cumulée du fonds (€)",
    "The fund's J-curve: cumulative cash": "La courbe en J du fonds : trésorerie cumulée",
    # risk tables
    "risk (€)": "risque (€)", "VaR, 95 % interval": "VaR, intervalle à 95 %", "Fund loss": "Perte du fonds",
    "Fund's net cost": "Coût net du fonds", "Bank loss": "Perte de la banque",
    # check-calibration (the published figures' own words stay as the programme_figures table has them)
    "  cites no published figure ([[targets]])": "  ne cite aucun chiffre publié ([[targets]])",
    "agrees": "concorde", "calibrated": "calibré", "validated": "validé",
    ", restates an input": ", reprend une donnée d'entrée",
    "DISAGREES: levier has no value (nothing financed?)": "DÉSACCORD : levier n'a pas de valeur (rien de financé ?)",
    "DISAGREES: above the published range": "DÉSACCORD : au-dessus de la fourchette publiée",
    "DISAGREES: below the published range": "DÉSACCORD : en dessous de la fourchette publiée",
    "    published {value} {unit} (range {low} to {high}: {why})":
        "    publié    {value} {unit} (fourchette de {low} à {high} : {why})",
    "    levier    {value}  [{low}, {high}] 95 % MC  ({metric})  → {verdict}":
        "    levier    {value}  [{low} ; {high}] MC à 95 %  ({metric})  → {verdict}",
    "    source    {source} — {url}": "    source    {source} — {url}",
    "{disagreements} disagreement(s) over {scenarios} scenario(s), {paths} paths each":
        "{disagreements} désaccord(s) sur {scenarios} scénario(s), {paths} trajectoires chacun",
    "{title} — {paths}, {years}, {projects} ({book} in the loan book)":
        "{title} — {paths}, {years}, {projects} ({book} en portefeuille)",
    "seed entropy {seed} · scenario {hash} · levier {version} · {seconds} s ({rate} paths/s)":
        "graine {seed} · scénario {hash} · levier {version} · {seconds} s ({rate} trajectoires/s)",
    "seed entropy {seed} · scenario {hash} · levier {version} · {seconds} s, of which {compiling} s compiling the "
    "engine, once ({rate} paths/s)":
        "graine {seed} · scénario {hash} · levier {version} · {seconds} s, dont {compiling} s de compilation du "
        "moteur, une fois ({rate} trajectoires/s)",
    "No project was financed on any path: check the bank's threshold and gearing, the screening\n"
    "(policy.max_pd), the offer (policy.loan_per_job, loan_cap) and the fund's capital.":
        "Aucun projet n'est financé sur aucune trajectoire : vérifiez le seuil et le levier de la banque, la "
        "sélection\n(policy.max_pd), l'offre (policy.loan_per_job, loan_cap) et le capital du fonds.",
    # report: cards and sections
    "What the fund gets, and what it can lose": "Ce que le fonds obtient, et ce qu'il peut perdre",
    "Additional jobs in year {year}": "Emplois additionnels en année {year}",
    "Cost per additional job": "Coût par emploi additionnel", "Fund expected loss": "Perte moyenne du fonds",
    "Fund loss, ES {level}": "Perte du fonds, ES {level}",
    "95 % interval {interval}": "intervalle à 95 % : {interval}",
    "95 % interval {interval} (bootstrap)": "intervalle à 95 % : {interval} (bootstrap)",
    "The loss in a bad decade": "La perte dans une mauvaise décennie",
    "Pictures": "Figures", "Key figures": "Chiffres clés", "Risk": "Risque",
    "Ratios of the portfolio": "Ratios du portefeuille",
    "Jobs and cost by sector": "Emplois et coût par filière", "Jobs and cost by territory": "Emplois et coût par territoire",
    "The scenario": "Le scénario", "Provenance": "Provenance",
    # validate
    "Scenario({name}: {sectors}, {territories}, {pipeline}{book_file}, {paths} over {years})":
        "scénario {name} : {sectors}, {territories}, {pipeline}{book_file}, {paths} sur {years}",
    ", loan book {path}": ", portefeuille {path}",
    "{file}: valid — {scenario}; {book} in the loan book": "{file} : valide — {scenario} ; {book} en portefeuille",
    "bank economics": "économie de la banque",
    "WARNING: the bank's expected interest does not cover its expected loss":
        "ATTENTION : les intérêts attendus de la banque ne couvrent pas sa perte attendue",
    "{head}: interest {interest} €{interest_share}, loss {loss} €{loss_share}, margin {margin} ± {se} € "
    "({paths}, undiscounted, {funding})":
        "{head} : intérêts {interest} €{interest_share}, pertes {loss} €{loss_share}, marge {margin} ± {se} € "
        "({paths}, non actualisés, {funding})",
    " ({share} % of bank loans)": " ({share}\u202f% des prêts bancaires)",
    "before funding costs": "avant le coût de son financement",
    "net of funding at {rate} %": "nets d'un coût de financement de {rate}\u202f%",
    "{description} {paths} over {years}, {projects} ({book} in the loan book). "
    "Figures are means over paths with the half-width of their 95 % Monte Carlo interval (±), rounded to what "
    "that error supports.":
        "{description} {paths} sur {years}, {projects} ({book} en "
        "portefeuille). Les chiffres sont des moyennes sur les trajectoires, avec la demi-largeur de leur "
        "intervalle Monte Carlo à 95 % (±), arrondies à ce que cette erreur permet.",
    "Made by levier: the same seed and scenario give the same figures, to the last digit.":
        "Produit par levier : la même graine et le même scénario donnent les mêmes chiffres, au dernier chiffre près.",
    "Once in {n} {years}-year futures, the fund loses more than {var} (the {level} VaR); in those futures it "
    "loses {es} on average (the {level} ES). Its expected loss is {el}.":
        "Une fois sur {n}, sur {years} ans, le fonds perd plus de {var} (la VaR {level}) ; dans ces cas-là, il "
        "perd en moyenne {es} (l'ES {level}). Sa perte moyenne est de {el}.",
    "The ES interval is a bootstrap interval: {resamples} resamples of the paths, ES ± 1.96 × their standard "
    "deviation. The VaR interval is distribution-free (order statistics).":
        "L'intervalle de l'ES est un intervalle bootstrap : {resamples} rééchantillonnages des trajectoires, "
        "ES ± 1,96 × leur écart type. L'intervalle de la VaR est non paramétrique (statistiques d'ordre).",
    # report: figures
    "Probability that the fund loses more": "Probabilité que le fonds perde davantage",
    "Fund loss over the horizon (€)": "Perte du fonds sur l'horizon (€)",
    "How much the fund can lose: the chance of losing more than each amount":
        "Ce que le fonds peut perdre : la probabilité de perdre plus que chaque montant",
    "paths": "trajectoires", "density": "densité", "expected loss": "perte moyenne", "year": "année",
    "{n} paths": "{n} trajectoires", "EL": "Perte moyenne",
    "VaR {level}": "VaR {level}", "ES {level}": "ES {level}",
    "{label}: expected loss, VaR and ES": "{label} : perte moyenne, VaR et ES",
    "Additional jobs at the horizon": "Emplois additionnels à l'horizon", "Jobs at the horizon": "Emplois à l'horizon",
    "Cost per additional job (€), path by path": "Coût par emploi additionnel (€), trajectoire par trajectoire",
    "Jobs present": "Emplois présents", "Fund outstanding (€)": "Encours du fonds (€)",
    "Bank outstanding (€)": "Encours bancaire (€)", "Defaults in the year": "Défaillances de l'année",
    "Fund net cash flow (€)": "Flux net du fonds (€)", "New loans": "Nouveaux prêts", "Live files": "Dossiers vivants",
    "90 % of paths": "90 % des trajectoires", "50 % of paths": "50 % des trajectoires",
    "{label}, year by year": "{label}, année par année",
    "Fund's loan": "Prêt du fonds", "Bank credit": "Crédit bancaire", "Total investment": "Investissement total",
    "€ per financed project": "€ par projet financé",
    "× {multiple}\ntotal {total} M€": "× {multiple}\ntotal {total} M€",
    "Leverage: {financed} projects financed, {jobs} additional jobs ({per} per project)":
        "Effet de levier : {financed} projets financés, {jobs} emplois additionnels ({per} par projet)",
    "contribution to ES {level}": "contribution à l'ES {level}", "Fund loss by {by}": "Perte du fonds par {by}",
    "sector": "filière", "territory": "territoire",
    "The fund's loss: the chance of losing more than each amount (log scale), with the VaR and ES at the "
    "scenario's levels.":
        "La perte du fonds : la probabilité de perdre plus que chaque montant (échelle logarithmique), avec la VaR "
        "et l'ES aux niveaux du scénario.",
    "The fund's loss over the horizon: its distribution, the expected loss, and the VaR and ES at {level}.":
        "La perte du fonds sur l'horizon : sa distribution, la perte moyenne, la VaR et l'ES à {level}.",
    "Additional jobs at the horizon, path by path.": "Emplois additionnels à l'horizon, trajectoire par trajectoire.",
    "Cost per additional job path by path (the card's figure is the ratio of the totals).":
        "Coût par emploi additionnel, trajectoire par trajectoire (le chiffre de la carte est le rapport des totaux).",
    "Jobs present at each year's end.": "Emplois présents à la fin de chaque année.",
    "The fund's principal still owed by live firms.": "Le capital dû au fonds par les entreprises vivantes.",
    "Defaults in each year.": "Défaillances de chaque année.",
    "What one financed project mobilises: the fund's loan, the bank's credit, the total investment.":
        "Ce que mobilise un projet financé : le prêt du fonds, le crédit bancaire, l'investissement total.",
    "Expected loss and contribution to the ES, by sector (the contributions add up to the ES).":
        "Perte moyenne et contribution à l'ES, par filière (les contributions s'additionnent à l'ES).",
    "The same by territory.": "La même chose par territoire.",
    "95 % interval of the VaR": "intervalle à 95 % de la VaR", "95 % interval of the ES": "intervalle à 95 % de l'ES",
    "risk": "risque",
    "wrote {n} files to {out}": "{n} fichiers écrits dans {out}",
    "{variant}: {statistic}": "{variant} : {statistic}",
    "bank economics: no bank loan in {paths}: nothing to check":
        "économie de la banque : aucun prêt bancaire sur {paths} : rien à vérifier",
    " (CSV only: pip install pyarrow for Parquet copies)":
        " (CSV seulement : pip install pyarrow pour des copies Parquet)",
    "table written to {out}": "tableau écrit dans {out}",
    "report written to {out} ({size} kB, {paths})": "rapport écrit dans {out} ({size} ko, {paths})",
    "VaR: the loss exceeded with probability 1 − α (the lower α-quantile of the paths); its interval is "
    "distribution-free (order statistics; – where there are too few paths). ES: the mean loss in the worst "
    "1 − α of paths; its interval is a bootstrap one.":
        "VaR : la perte dépassée avec la probabilité 1 − α (le quantile α des trajectoires) ; son intervalle est non "
        "paramétrique (statistiques d'ordre ; – quand les trajectoires sont trop peu nombreuses). ES : la perte "
        "moyenne dans les 1 − α pires trajectoires ; son intervalle est un intervalle bootstrap.",
    # report: group tables
    "projects financed": "projets financés", "additional projects": "projets additionnels",
    "additional jobs": "emplois additionnels", "fund lent": "prêté par le fonds",
    "expected loss per additional job": "perte moyenne par emploi additionnel",
    "fund lent per additional job": "prêt du fonds par emploi additionnel",
    "Means over paths. The fund's net cost (present value of all its flows) is not split by sector or territory; "
    "the cost shown per additional job is the fund's expected loss and its lending, group by group. Three "
    "significant figures.":
        "Moyennes sur les trajectoires. Le coût net du fonds (valeur actuelle de tous ses flux) n'est pas réparti "
        "par filière ni par territoire ; le coût par emploi additionnel indiqué ici est la perte moyenne du fonds "
        "et son prêt, groupe par groupe. Trois chiffres significatifs.",
    # report: tables
    "ratio": "ratio", "value": "valeur", "parameter": "paramètre", "level": "niveau",
    "cost per additional job (€)": "coût par emploi additionnel (€)",
    "cost per additional job net of deadweight (€)": "coût par emploi additionnel net d'aubaine (€)",
    "bank € per fund €": "€ de banque par € du fonds", "investment € per fund €": "€ d'investissement par € du fonds",
    "fund loss rate": "taux de perte du fonds", "bank loss rate": "taux de perte de la banque",
    "fund lent per project (€)": "prêt du fonds par projet (€)", "planned jobs per project": "emplois prévus par projet",
    "jobs created per project": "emplois créés par projet",
    "fund lent per planned job (€)": "prêt du fonds par emploi prévu (€)",
    "fund outlay per job created (€)": "décaissement du fonds par emploi créé (€)",
    "vigilance cost per job saved (€)": "coût de la vigilance par emploi sauvé (€)",
    "fund capital (€)": "capital du fonds (€)", "recycling of repayments": "recyclage des remboursements",
    "yes": "oui", "no": "non", "loan per planned job (€)": "prêt par emploi prévu (€)", "loan cap (€)": "plafond du prêt (€)",
    "max share of investment": "part maximale de l'investissement", "loan rate": "taux du prêt",
    "maturity / grace (years)": "durée / différé (ans)", "max PD (screening)": "PD maximale (sélection)",
    "subsidy per job (€)": "subvention par emploi (€)", "bank threshold (quasi-equity ratio)": "seuil de la banque (ratio de quasi-fonds propres)",
    "bank gearing": "levier bancaire maximal", "macro loading / autocorrelation": "sensibilité macro / autocorrélation",
    "horizon (years)": "horizon (ans)", "annual PD": "PD annuelle", "loading": "sensibilité",
    "recovery mean": "récupération moyenne", "recovery sd": "écart type de la récupération", "deadweight": "effet d'aubaine",
    "PD multiplier": "multiplicateur de PD", "share of projects": "part des projets",
    "projects per year / years": "projets par an / années", "median investment (€)": "investissement médian (€)",
    "investment spread (σ of ln I)": "dispersion de l'investissement (σ de ln I)",
    "planned jobs per M€ invested": "emplois prévus par M€ investi", "promoter equity ratio (mean / sd)": "ratio de fonds propres du porteur (moyenne / écart type)",
    "candidate projects": "projets candidats", "loan book": "portefeuille existant",
    "The fund and its policy": "Le fonds et sa politique", "The pipeline": "Le flux de projets", "Sectors": "Filières",
    "Territories": "Territoires",
    "provenance": "provenance", "levier": "levier", "numpy": "numpy", "seed entropy": "graine (entropie)", "seed spawn key": "clé de dérivation de la graine",
    "scenario SHA-256": "SHA-256 du scénario", "scenario file": "fichier du scénario", "factor sampler": "tirage des facteurs",
    "run time": "durée du calcul", "of which compiling the engine (once)": "dont compilation du moteur (une fois)",
    "report generated": "rapport produit le",
    "{name} — levier report": "{name} — rapport levier",
    # the section on stresses and the shape of a bad decade
    "Stresses, and the shape of a bad decade": "Chocs, et la forme d’une mauvaise décennie",
    ("How much the fund can lose depends on how a bad decade comes. The same paths under a Gaussian copula, "
     "a Student t copula with 4 degrees of freedom (joint defaults in fat tails) and recoveries that fall "
     "with the cycle (downturn loading 0.5 in every sector); differences are paired, on common random "
     "numbers."): (
        "Ce que le fonds peut perdre dépend de la façon dont vient une mauvaise décennie. Les mêmes trajectoires "
        "sous une copule gaussienne, une copule de Student à 4 degrés de liberté (défaillances simultanées dans "
        "des queues épaisses) et des récupérations qui baissent avec le cycle (sensibilité 0,5 dans chaque "
        "filière) ; les écarts sont appariés, sur des nombres aléatoires communs."),
    "The scenario’s named stresses, against the baseline on common random numbers:": (
        "Les chocs nommés du scénario, face à la référence sur des nombres aléatoires communs :"),
    "Gaussian copula": "copule gaussienne", "t copula, nu = 4": "copule de Student, ν = 4",
    "downturn recovery, gamma = 0.5": "récupération en récession, γ = 0,5",
    "fund's loss, 99 % ES (€)": "perte du fonds, ES 99 % (€)", "fund's loss, mean (€)": "perte du fonds, moyenne (€)",
    "bank's loss, 99 % ES (€)": "perte de la banque, ES 99 % (€)", "defaults, mean": "défaillances, moyenne",
    "additional jobs, mean": "emplois additionnels, moyenne",
    "statistic": "statistique", "difference": "écart",
    "difference 95 % low": "écart, borne basse 95 %", "difference 95 % high": "écart, borne haute 95 %",
    # compare and stress on the command line
    "{name}: {count} variant(s) against the baseline, {paths} each, common random numbers": (
        "{name} : {count} variante(s) face à la référence, {paths} chacune, mêmes tirages aléatoires"),
    "{name}: {count} stress(es) against the baseline, {paths} each, common random numbers": (
        "{name} : {count} choc(s) face à la référence, {paths} chacun, mêmes tirages aléatoires"),
    "P(fund loss > {x} €) = {p} ± {se} (MC se)": "P(perte du fonds > {x} €) = {p} ± {se} (erreur MC)",
    "P(fund loss > {x} €) < {high} (95 % upper bound: no path of {paths} beyond it)":
        "P(perte du fonds > {x} €) < {high} (borne supérieure à 95 % : aucune des {paths} trajectoires au-delà)",
    "P({metric} {sign} {threshold}) < {high} (95 % upper bound: no path of {paths} beyond it)":
        "P({metric} {sign} {threshold}) < {high} (borne supérieure à 95 % : aucune des {paths} trajectoires au-delà)",
    "P({metric} {sign} {threshold}): no path of {paths} beyond it, even drawn towards it: too rare for this run to "
    "estimate (take more paths, or a threshold nearer the bulk)":
        "P({metric} {sign} {threshold}) : aucune des {paths} trajectoires au-delà, même tirées vers ce seuil : trop "
        "rare pour être estimée par ce calcul (prenez plus de trajectoires, ou un seuil moins extrême)",
    # breakeven on the command line
    "{name}: break-even loan rate {rate} ± {se} (95 %: {low} – {high}), {paths}, common random numbers": (
        "{name} : taux du prêt à l'équilibre {rate} ± {se} (95 % : {low} – {high}), {paths}, "
        "mêmes tirages aléatoires"),
    ("  the fund's expected net cost is zero at that rate (discounted at {discount}); each point of rate moves it by "
     "{slope} €"): "  le coût net espéré du fonds est nul à ce taux (actualisé à {discount}) ; chaque point de taux le "
                   "déplace de {slope} €",
    # sweep and optimise on the command line
    "point": "point", "{name}: {n} points on common random numbers; * = Pareto frontier of ": (
        "{name} : {n} points sur les mêmes tirages aléatoires ; * = frontière de Pareto de "),
    "max": "max", "min": "min",
    "{name}: best policy found over {n} evaluated points": "{name} : meilleure politique trouvée sur {n} points évalués",
    ("{name}: no policy tried meets the constraints ({n} evaluated points); the one that misses them least:"): (
        "{name} : aucune politique essayée ne respecte les contraintes ({n} points évalués) ; celle qui s'en écarte "
        "le moins :"),
    "role": "rôle", "value ± se": "valeur ± erreur", "fresh paths ± se": "nouvelles trajectoires ± erreur",
    "bound": "borne", "holds (fresh)": "respectée (nouvelles)", "maximise": "maximiser", "minimise": "minimiser",
    "constraint": "contrainte",
    # compile on the command line
    ("compiled the engine in {seconds} s, in memory only: no folder can keep it (set NUMBA_CACHE_DIR to a writable "
     "one); each process will compile it again"): (
        "moteur compilé en {seconds} s, en mémoire seulement : aucun dossier ne peut le garder (donnez-en un "
        "accessible en écriture par NUMBA_CACHE_DIR) ; chaque processus le compilera à nouveau"),
    "the engine was compiled already: loaded from {cache} in {seconds} s": (
        "le moteur était déjà compilé : chargé depuis {cache} en {seconds} s"),
    "compiled the engine in {seconds} s, kept in {cache}: later processes load it": (
        "moteur compilé en {seconds} s, gardé dans {cache} : les processus suivants le chargeront"),
    # explain on the command line
    "{name}: sensitivity of {output} (common random numbers)":
        "{name} : sensibilité de {output} (mêmes tirages aléatoires)",
    "base value {value}": "valeur de base {value}", "range": "plage",
    "at low": "en bas", "at high": "en haut", "swing": "écart", "± se": "± erreur",
    "first order S1": "premier ordre S1", "total ST": "total ST", "± 95 %": "± 95\u202f%",
    # tail on the command line
    "P({metric} {sign} {threshold}) = {p}   95 % interval [{low}, {high}]   ({method}, {paths})": (
        "P({metric} {sign} {threshold}) = {p}   intervalle à 95 % [{low} ; {high}]   ({method}, {paths})"),
    "importance": "échantillonnage préférentiel", "plain": "échantillonnage simple",
    "plain sampling": "échantillonnage simple", "importance sampling: factor shift":
        "échantillonnage préférentiel : déplacement des facteurs", " and default twist": " et inclinaison des défaillances",
    "tail": "queue", "lower tail (the shortfall: more is better)": "queue basse (le manque : plus vaut mieux)",
    "{name}: {which} of {metric} ({how}, {paths}, {batches} sections for the 95 % intervals)": (
        "{name} : {which} de {metric} ({how}, {paths}, {batches} sections pour les intervalles à 95 %)"),
    "(no change)": "(aucun changement)", "variant": "variante", "baseline": "référence",
    "variant value": "valeur de la variante", "95 % interval": "intervalle à 95 %",
    "CRN variance ÷": "variance ÷ (mêmes tirages)", "identical": "identique",
    " — under the stress {name}": " — sous le choc {name}", "Under the stress {name}.": "Sous le choc {name}.",
    "stress": "choc",
    # the report's comparison of the fund's instruments
    "Jobs additional": "Emplois additionnels", "loan only": "prêt seul", "loan + subsidy": "prêt + subvention",
    "loan + guarantee": "prêt + garantie", "value 95 % low": "valeur, borne basse 95 %",
    "value 95 % high": "valeur, borne haute 95 %", "difference with the loan alone": "écart avec le prêt seul",
}


def t(text: str, lang: str = "en", **values: object) -> str:
    """``text`` in ``lang``, with ``{name}`` fields filled from ``values``.

    A French label missing from :data:`FRENCH` is a bug: it raises ``KeyError`` (the tests
    render every French table and report, so a missing one fails there, not in front of a user).
    """
    if lang == "fr":
        template = _FRENCH_SPACED[text]
    elif lang == "en":
        template = text
    else:  # every table, figure and file of a language passes here: an unknown one is refused, not read as English
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return template.format(**values) if values else template


_AFTER_A_NUMBER = re.compile(r"(?<=[\d}]) (?=M€|€|%)")


def _french_spaces(template: str) -> str:
    """French's narrow no-break space between a number (or a field) and ``%`` or ``€``, where a
    template writes a plain one (``95 %``, ``{x} €``, ``{total} M€``): the sign never starts a
    line. A sign after a word (``€ de banque par € du fonds``) keeps its space."""
    return _AFTER_A_NUMBER.sub(NNBSP, template)


#: :data:`FRENCH` as :func:`t` writes it: its spaces made French once, not on every call.
_FRENCH_SPACED = {english: _french_spaces(french) for english, french in FRENCH.items()}

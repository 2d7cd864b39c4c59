"""Public figures shipped with levier (``src/levier/data/*.csv``), each row with its source.

* ``insee_survival`` — survival of new French firms at 3 and 5 years by sector (INSEE, Sine);
* ``basel_lgd`` — Basel II foundation-IRB supervisory LGDs (senior unsecured, subordinated);
* ``recovery_by_rank`` — recoveries by creditor rank in French insolvencies (Unédic-AGS) and
  banks' recoveries in France, Germany and the UK (Davydenko and Franks);
* ``default_rate_benchmarks`` — the regulatory long-run 3-year default rates of the six credit
  quality steps, with their bounds (Regulation (EU) 2016/1799, Annex I);
* ``bdf_rating_scale`` — Banque de France cotes (the 2004-2021 scale, 3++ to 9) and the credit
  quality step each is mapped to (Regulation (EU) 2016/1800, Annex);
* ``assumption_ranges`` — the range of each parameter a shipped scenario marks "assumption",
  for the tornado of ``docs/calibration.md``;
* ``programme_figures`` — published figures of loan programmes and conversion funds (PRT,
  Initiative France, Finorpa, the Lorraine coal basin, the seed article's poles, the UK Regional
  Growth Fund), with the range a scenario citing them must land in and why.

Examples
--------
>>> from levier import datasets
>>> sorted(datasets.available())
['assumption_ranges', 'basel_lgd', 'bdf_rating_scale', 'default_rate_benchmarks', 'insee_survival', 'programme_figures', 'recovery_by_rank']
>>> float(datasets.load("basel_lgd").set_index("claim").loc["subordinated", "lgd"])
0.75
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

__all__ = ["available", "load", "programme_figure"]


def available() -> list[str]:
    """Names of the shipped tables."""
    folder = resources.files("levier") / "data"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".csv"))


def load(name: str) -> pd.DataFrame:
    """One shipped table as a DataFrame (every row has ``source`` and ``url`` columns): a copy of
    the table read once per process (the files ship with the package; a scenario that cites a
    published figure reads ``programme_figures`` at every validation, and the policy lab
    validates one scenario per point)."""
    if name not in available():
        raise KeyError(f"no shipped table {name!r}; available: {', '.join(available())}")
    return _read(name).copy()


@functools.lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    with (resources.files("levier") / "data" / f"{name}.csv").open("r", encoding="utf-8") as fh:
        # cotes such as "3" and "3+" are labels, not numbers
        return pd.read_csv(fh, dtype={"cote": str} if name == "bdf_rating_scale" else None)


def programme_figure(figure_id: str) -> pd.Series:
    """One row of ``programme_figures`` by its id."""
    table = load("programme_figures").set_index("id")
    if figure_id not in table.index:
        raise KeyError(f"no published figure {figure_id!r}; known: {', '.join(table.index)}")
    return table.loc[figure_id]

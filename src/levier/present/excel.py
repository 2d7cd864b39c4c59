"""One Excel workbook of a run's tables, for an analyst who opens results in Excel.

Numbers are written as numbers, to 16 significant digits (openpyxl's writing; Excel itself
computes with 15; the CSVs keep every digit); only their display is rounded, by a number
format chosen from each column's values (thousands grouped for euros and counts, four decimals
for rates and shares). Excel shows them with the reader's own separators (``1 234 567`` and
``0,2850`` in French Excel), because a format code is locale-independent. Each sheet has a bold,
frozen header row and a frozen first column, and columns wide enough for their content.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SHEETS", "header", "number_format", "write_workbook"]

#: Tables with one metric per row: their numbers are formatted row by row (a loss rate and a loss
#: in euros share a column); the others, column by column.
_BY_ROW = ("summary", "ratios", "by_year")
#: Columns of those tables that are not the row's metric, with a format of their own: the paths
#: counted and the year (a count of 20 000 paths must not round a rate of the same row).
_OWN_FORMAT = {"count": "#,##0", "missing": "#,##0", "year": "0"}
#: Columns whose cells each get the format of their own value: a Monte Carlo error is far smaller
#: than the mean beside it (0.06 defaults, shown as 0.0600, not as 0).
_CELL_BY_CELL = ("mc_se",)
#: The sheet of each table, in the workbook's order.
SHEETS = {"summary": "summary", "ratios": "ratios", "by_year": "by year", "by_sector": "by sector",
          "by_territory": "by territory"}
_MAX_WIDTH = 40


#: The workbook's sheets and fixed column names in French (``lang="fr"``); the metrics keep their
#: code names, the keys of the CSVs and of the Python API.
_FRENCH_SHEETS = {"summary": "synthèse", "ratios": "ratios", "by year": "par année", "by sector": "par filière",
                  "by territory": "par territoire", "meta": "provenance"}
_FRENCH_COLUMNS = {"metric": "indicateur", "count": "nombre", "missing": "manquants", "mean": "moyenne",
                   "std": "écart-type", "mc_se": "erreur MC", "ratio": "ratio", "value": "valeur",
                   "numerator": "numérateur", "denominator": "dénominateur", "year": "année", "sector": "filière",
                   "territory": "territoire", "key": "clé"}


def header(name: str, lang: str = "en") -> str:
    """A column's name on its sheet: the code name in English; in French the fixed words, and
    ``q_0.05`` → ``q 5 %``, ``var_0.99_low`` → ``VaR 99 %, borne basse``, ``es_0.99`` → ``ES 99 %``."""
    if lang != "fr":
        return name
    if name in _FRENCH_COLUMNS:
        return _FRENCH_COLUMNS[name]
    parts = name.split("_")
    if len(parts) >= 2 and parts[0] in ("q", "var", "es"):
        try:
            level = float(parts[1])
        except ValueError:
            return name
        percent = f"{100 * level:g}".replace(".", ",") + " %"
        label = {"q": "q", "var": "VaR", "es": "ES"}[parts[0]] + " " + percent
        bound = {"low": ", borne basse", "high": ", borne haute"}.get(parts[2], "") if len(parts) == 3 else ""
        return label + bound
    return name


def number_format(values: np.ndarray) -> str:
    """The display format for a column of numbers (the stored values keep full precision).

    Whole numbers and magnitudes from 1 000 get grouped thousands and no decimals; from 10, one
    decimal; from 1, three; below 1 (shares, rates, probabilities), four.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "General"
    largest = float(np.max(np.abs(finite)))
    if np.all(finite == np.round(finite)) or largest >= 1_000:
        return "#,##0"
    if largest >= 10:
        return "#,##0.0"
    if largest >= 1:
        return "0.000"
    return "0.0000"


def _cell(value):
    """A value openpyxl writes as Excel reads it: numbers as numbers, NaN as an empty cell."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")  # Excel has no infinity
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # control characters (a vertical tab pasted from Word into a name): no worksheet holds them
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def write_workbook(tables: Mapping[str, pd.DataFrame], meta: Mapping, path: str | Path, lang: str = "en") -> Path:
    """Write ``tables`` (one sheet each, see :data:`SHEETS`) and ``meta`` to an ``.xlsx`` file.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Tables with a plain index (as written to CSV: ``frame.reset_index()``), keyed by the
        names of :data:`SHEETS`; others get a sheet of their own name.
    meta : mapping
        The run's provenance, written as a ``meta`` sheet of key / value rows (lists and
        tables as JSON text).
    path : path
        The file to write (replaced if it exists: callers write into a staging folder).
    lang : {"en", "fr"}
        The language of the sheet names and of the fixed column names (the metrics keep their
        code names; the numbers are the same).

    Returns
    -------
    Path
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for name, frame in tables.items():
        title = SHEETS.get(name, name)
        sheet = book.create_sheet((_FRENCH_SHEETS.get(title, title) if lang == "fr" else title)[:31])
        sheet.append([header(str(c), lang) for c in frame.columns])
        for row in frame.itertuples(index=False):
            sheet.append([_cell(v) for v in row])
        numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
                   for c in frame.columns]
        values = frame.to_numpy(dtype=object)
        formats = np.full(values.shape, "General", dtype=object)
        if name in _BY_ROW:
            own = [str(c) in _OWN_FORMAT or str(c) in _CELL_BY_CELL for c in frame.columns]
            metric = [n and not o for n, o in zip(numeric, own)]
            for i in range(len(frame)):
                row = np.array([float(v) for v, n in zip(values[i], metric) if n], dtype=float)
                formats[i, metric] = number_format(row)
            for j, column in enumerate(frame.columns):
                if numeric[j] and str(column) in _OWN_FORMAT:
                    formats[:, j] = _OWN_FORMAT[str(column)]
                elif numeric[j] and str(column) in _CELL_BY_CELL:
                    formats[:, j] = [number_format(np.array([float(v)])) for v in values[:, j]]
        else:
            for j, n in enumerate(numeric):
                if n:
                    formats[:, j] = number_format(frame.iloc[:, j].to_numpy(dtype=float))
        for j, column in enumerate(frame.columns, start=1):
            sheet.cell(1, j).font = bold
            shown = [header(str(column), lang)]
            for i in range(len(frame)):
                if numeric[j - 1]:
                    sheet.cell(i + 2, j).number_format = formats[i, j - 1]
                    shown.append(_shown(values[i, j - 1], formats[i, j - 1]))
                else:
                    shown.append("" if values[i, j - 1] is None else str(values[i, j - 1]))
            sheet.column_dimensions[get_column_letter(j)].width = min(_MAX_WIDTH, max(map(len, shown)) + 2)
        sheet.freeze_panes = "B2"
    sheet = book.create_sheet(_FRENCH_SHEETS["meta"] if lang == "fr" else "meta")
    sheet.append([header("key", lang), header("value", lang)])
    for key in sorted(meta):
        value = meta[key]
        sheet.append([key, _cell(value) if not isinstance(value, (list, dict, tuple)) else _cell(json.dumps(value))])
    sheet.cell(1, 1).font = sheet.cell(1, 2).font = bold
    sheet.column_dimensions["A"].width = max(len(str(k)) for k in [*meta, "key"]) + 2
    sheet.column_dimensions["B"].width = _MAX_WIDTH * 2
    sheet.freeze_panes = "A2"
    path = Path(path)
    book.save(path)
    return path


def _shown(value, fmt: str) -> str:
    """About the text Excel shows for ``value`` in ``fmt`` (for the column's width)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "" if math.isnan(value) else "-inf"
    decimals = len(fmt.rsplit(".", 1)[1]) if "." in fmt else 0
    return f"{value:,.{decimals}f}"

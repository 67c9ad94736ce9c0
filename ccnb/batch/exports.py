"""CSV exports for CRM activation, written by the notebooks during a batch run.

The ``outputs/<client>/exports/*.csv`` of a batch run (README, "Running clients in batch"): a
notebook calls `export`; it writes only when ``ccnb run`` has set ``CCNB_EXPORT_DIR`` for the
kernel, so a consultant re-running a notebook in JupyterLab never writes into ``outputs/``.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pandas as pd

__all__ = [
    "EXPORT_DIR_VARIABLE",
    "csv_data_rows",
    "export",
    "export_dir",
    "spreadsheet_safe",
    "write_csv",
]

EXPORT_DIR_VARIABLE = "CCNB_EXPORT_DIR"
"""Environment variable naming the folder exports go to (set by ``ccnb run`` for the kernel)."""

_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

#: first characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: text that is a plain number ("-12.50", "+3e2") is data, not a formula: left as it is
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _neutralised(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if not _PLAIN_NUMBER.match(value):
            return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cannot run as a spreadsheet formula.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a
    leading apostrophe (OWASP's guidance on CSV injection: Excel and LibreOffice then show the
    text instead of evaluating it), unless the text is a plain number such as ``-12.50``.
    Numeric, date and boolean columns are left as they are, as are the column names unless
    they are text of that kind.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any table about to be written for a client.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy (same index, columns and dtypes).
    """
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            safe[column] = values.map(_neutralised, na_action="ignore").astype(values.dtype)
    safe.columns = [_neutralised(name) for name in safe.columns]
    if not isinstance(safe.index, pd.MultiIndex) and (
        pd.api.types.is_object_dtype(safe.index) or pd.api.types.is_string_dtype(safe.index)
    ):
        safe.index = safe.index.map(lambda v: _neutralised(v) if pd.notna(v) else v)
    return safe


def write_csv(frame: pd.DataFrame, path: Path, *, index: bool = False) -> Path:
    """Write ``frame`` as UTF-8 CSV for a client, spreadsheet-safe (:func:`spreadsheet_safe`).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : pathlib.Path
        The file.
    index : bool, default False
        Write the index as the first column(s).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    # 12 significant digits: far beyond what a CRM needs, and no float noise in the files.
    spreadsheet_safe(frame).to_csv(
        path, index=index, encoding="utf-8", lineterminator="\n", float_format="%.12g"
    )
    return path


def csv_data_rows(path: Path) -> int:
    """Rows below the header of a CSV export (a quoted line break inside a value counts once).

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.

    Returns
    -------
    int
        Its data rows.
    """
    with open(path, encoding="utf-8", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


def export_dir() -> Path | None:
    """Return the folder exports are written to, or None outside a batch run.

    Returns
    -------
    pathlib.Path or None
        The value of ``CCNB_EXPORT_DIR``, or None when it is unset or empty.
    """
    folder = os.environ.get(EXPORT_DIR_VARIABLE, "").strip()
    return Path(folder) if folder else None


def export(frame: pd.DataFrame, name: str, *, index: bool = False) -> Path | None:
    """Write ``frame`` to ``<CCNB_EXPORT_DIR>/<name>.csv`` during a batch run, spreadsheet-safe.

    Parameters
    ----------
    frame
        The table to export (e.g. one row per customer with its segment).
    name
        File name without ``.csv``: letters, digits, ``-`` and ``_``, e.g. ``"segments"``.
        The names the reports use are ``kpis``, ``segments``, ``clv``, ``allocation`` and
        ``test_assignment``.
    index
        Write the frame's index as the first column(s).

    Returns
    -------
    pathlib.Path or None
        The file written, or None when ``CCNB_EXPORT_DIR`` is not set (interactive use).

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name.
    TypeError
        When ``frame`` is not a pandas DataFrame.
    """
    if not _EXPORT_NAME.match(name):
        raise ValueError(
            f"export name {name!r} must be a plain file name without extension: letters, "
            "digits, '-' and '_' (e.g. 'segments')"
        )
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"export {name!r} needs a pandas DataFrame, got {type(frame).__name__}")
    folder = export_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(frame, folder / f"{name}.csv", index=index)

"""CSV exports for CRM activation, written by the notebooks during a batch run.

The ``outputs/<client>/exports/*.csv`` of a batch run (README, "Running clients in batch"): a
notebook calls `export`; it writes only when ``ccnb run`` has set ``CCNB_EXPORT_DIR`` for the
kernel, so a consultant re-running a notebook in JupyterLab never writes into ``outputs/``.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

__all__ = [
    "CSV_BLOCK_ROWS",
    "EXPORT_DIR_VARIABLE",
    "csv_data_rows",
    "export",
    "export_dir",
    "spreadsheet_safe",
    "write_csv",
]

EXPORT_DIR_VARIABLE = "CCNB_EXPORT_DIR"
"""Environment variable naming the folder exports go to (set by ``ccnb run`` for the kernel)."""

#: rows formatted at a time: the neutralised copy and the text of one block are in memory, not
#: a second copy of a million-customer table
CSV_BLOCK_ROWS = 100_000

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
        if isinstance(values.dtype, pd.CategoricalDtype):
            # its categories are neutralised: cast back to the old ones, a changed text is lost
            safe[column] = values.map(_neutralised, na_action="ignore")
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            safe[column] = values.map(_neutralised, na_action="ignore").astype(values.dtype)
    safe.columns = [_neutralised(name) for name in safe.columns]
    if not isinstance(safe.index, pd.MultiIndex) and (
        pd.api.types.is_object_dtype(safe.index) or pd.api.types.is_string_dtype(safe.index)
    ):
        safe.index = safe.index.map(lambda v: _neutralised(v) if pd.notna(v) else v)
    return safe


def write_csv(
    table: pd.DataFrame | Iterable[pd.DataFrame], path: Path, *, index: bool = False
) -> Path:
    """Write a table as UTF-8 CSV for a client, spreadsheet-safe (:func:`spreadsheet_safe`).

    Written a block of rows at a time (:data:`CSV_BLOCK_ROWS`), to a file beside ``path``
    renamed when complete: an interrupted export leaves the previous file, never half a one.

    Parameters
    ----------
    table : pandas.DataFrame or iterable of pandas.DataFrame
        The table, or its blocks of rows in order (same columns; at least one block, which
        may be empty), e.g. a per-customer table read from parquet a row group at a time.
    path : pathlib.Path
        The file.
    index : bool, default False
        Write the index as the first column(s).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        When ``table`` gives no block (there is no header to write).
    """
    temporary = path.with_name(f".{path.name}.part")  # the folder's usual permissions
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            written = 0
            for written, block in enumerate(_row_blocks(table), start=1):
                # 12 significant digits: far beyond what a CRM needs, and no float noise
                spreadsheet_safe(block).to_csv(
                    stream,
                    index=index,
                    header=written == 1,
                    lineterminator="\n",
                    float_format="%.12g",
                )
        if not written:
            raise ValueError(f"{path.name}: the table gave no block of rows, not even a header")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _row_blocks(table: pd.DataFrame | Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``table``'s blocks of at most :data:`CSV_BLOCK_ROWS` rows (an empty table: one)."""
    frames = [table] if isinstance(table, pd.DataFrame) else table
    for frame in frames:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"a table's blocks must be pandas DataFrames, got {type(frame).__name__}"
            )
        yield frame.iloc[:CSV_BLOCK_ROWS]
        for start in range(CSV_BLOCK_ROWS, len(frame), CSV_BLOCK_ROWS):
            yield frame.iloc[start : start + CSV_BLOCK_ROWS]


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


def export(
    table: pd.DataFrame | Iterable[pd.DataFrame], name: str, *, index: bool = False
) -> Path | None:
    """Write a table to ``<CCNB_EXPORT_DIR>/<name>.csv`` during a batch run, spreadsheet-safe.

    Parameters
    ----------
    table
        The table to export (e.g. one row per customer with its segment), or its blocks of
        rows in order (e.g. ``analysis.segment_rows.blocks()``): a block is in memory at a
        time, never the whole table.
    name
        File name without ``.csv``: letters, digits, ``-`` and ``_``, e.g. ``"segments"``.
        The names the reports use are ``kpis``, ``segments``, ``clv``, ``allocation`` and
        ``test_assignment``.
    index
        Write the frame's index as the first column(s).

    Returns
    -------
    pathlib.Path or None
        The file written, or None when ``CCNB_EXPORT_DIR`` is not set (interactive use: the
        blocks are then not read).

    Raises
    ------
    ValueError
        When ``name`` is not a plain file name.
    TypeError
        When ``table`` is neither a pandas DataFrame nor an iterable of them.
    """
    if not _EXPORT_NAME.match(name):
        raise ValueError(
            f"export name {name!r} must be a plain file name without extension: letters, "
            "digits, '-' and '_' (e.g. 'segments')"
        )
    if not isinstance(table, pd.DataFrame) and (
        isinstance(table, (str, bytes)) or not isinstance(table, Iterable)
    ):
        raise TypeError(
            f"export {name!r} needs a pandas DataFrame or blocks of one, got {type(table).__name__}"
        )
    folder = export_dir()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return write_csv(table, folder / f"{name}.csv", index=index)

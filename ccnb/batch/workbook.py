"""The client's Excel workbook: every export as a typed sheet, behind a cover sheet.

Written by ``ccnb run`` as ``outputs/<client>/exports/<client>.xlsx`` from the CSV exports of
the run (README, "Running clients in batch"). Text is never a formula: every text cell is
stored as text, and text a spreadsheet would run (``=``, ``+``, ``-``, ``@``, tab, carriage
return at the start) keeps the leading apostrophe the CSV has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ccnb.batch.exports import csv_data_rows

__all__ = ["WORKBOOK_MAX_ROWS", "write_workbook"]

#: a CSV with more data rows stays a CSV only: a sheet that size takes minutes to write and to
#: open, and a spreadsheet is not where a CRM list of that length is used
WORKBOOK_MAX_ROWS = 100_000
#: rows looked at to size a column
_WIDTH_SAMPLE = 200
_MAX_WIDTH = 60

_TEXT_COLUMNS = re.compile(r"(^|_)(id|ids|code|row_line|raw_line|segment|channel|tactic)$|_id$")
_MONEY = re.compile(
    r"revenue|value|rclv|clv|spend|amount|cost|margin|gain|budget|ceiling|cac|monetary"
)
_SHARE = re.compile(r"^p_|share|rate|probability|roi|_pct$")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV text back to numbers and dates where a whole column reads as such; ids stay text."""
    typed = {}
    for name in frame.columns:
        column = frame[name]
        if _TEXT_COLUMNS.search(str(name).lower()):
            typed[name] = column
            continue
        numbers = pd.to_numeric(column, errors="coerce")
        if column.notna().any() and numbers.notna().sum() == column.notna().sum():
            typed[name] = numbers
            continue
        if (
            column.dropna().astype(str).str.match(r"^\d{4}-\d{2}-\d{2}$").all()
            and column.notna().any()
        ):
            typed[name] = pd.to_datetime(column, errors="coerce")
            continue
        typed[name] = column
    return pd.DataFrame(typed)


def _number_format(name: str, column: pd.Series, currency: str) -> str | None:
    lower = str(name).lower()
    if pd.api.types.is_datetime64_any_dtype(column):
        return "yyyy-mm-dd"
    if not pd.api.types.is_numeric_dtype(column):
        return None
    if _SHARE.search(lower) and column.dropna().between(-1, 1).all():
        return "0.0%"
    if _MONEY.search(lower):
        return f'#,##0.00 "{currency}"'
    if pd.api.types.is_integer_dtype(column) or (column.dropna() % 1 == 0).all():
        return "#,##0"
    return "#,##0.00"


def _width(name: str, column: pd.Series) -> float:
    lengths = [len(str(value)) for value in column.head(_WIDTH_SAMPLE) if not pd.isna(value)]
    longest = max([len(str(name)), *lengths])
    return min(longest + 2, _MAX_WIDTH)


def _cell(sheet, value, number_format: str | None, *, bold: bool = False) -> WriteOnlyCell:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return WriteOnlyCell(sheet, value=None)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif hasattr(value, "item"):  # numpy scalar
        value = value.item()
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text stays text, whatever it starts with
    if number_format:
        cell.number_format = number_format
    if bold:
        cell.font = Font(bold=True)
    return cell


def _add_sheet(book: Workbook, title: str, frame: pd.DataFrame, currency: str) -> None:
    sheet = book.create_sheet(title=title[:31])
    formats = [_number_format(name, frame[name], currency) for name in frame.columns]
    for position, name in enumerate(frame.columns, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = _width(name, frame[name])
    sheet.freeze_panes = "A2"
    last = get_column_letter(max(len(frame.columns), 1))
    sheet.auto_filter.ref = f"A1:{last}{len(frame) + 1}"
    sheet.append([_cell(sheet, str(name), None, bold=True) for name in frame.columns])
    for row in frame.itertuples(index=False):
        sheet.append([_cell(sheet, value, fmt) for value, fmt in zip(row, formats, strict=True)])


def write_workbook(
    exports: Path, path: Path, *, cover: list[tuple[str, str]], currency: str = "EUR"
) -> Path:
    """Write every ``*.csv`` of ``exports`` as a sheet of ``path``, after a cover sheet.

    Parameters
    ----------
    exports : pathlib.Path
        The run's export folder.
    path : pathlib.Path
        The workbook to write.
    cover : list of (str, str)
        Label and value lines of the cover sheet (client, run date, observation end, data
        quality, ccnb version).
    currency : str, default "EUR"
        Shown in the money columns' number format.

    Returns
    -------
    pathlib.Path
        ``path``. Sheets are named after the CSVs (cut to Excel's 31 characters); numbers and
        ISO dates are typed with number, currency and percent formats; each sheet has a
        frozen header, an autofilter and widths from its content. A CSV of more than
        ``WORKBOOK_MAX_ROWS`` rows is not made a sheet: the cover names it and its length.
    """
    book = Workbook(write_only=True)
    csvs = sorted(exports.glob("*.csv"))
    lines = list(cover)
    frames = {}
    for csv_path in csvs:
        rows = csv_data_rows(csv_path)
        if rows > WORKBOOK_MAX_ROWS:
            lines.append(
                (
                    f"not a sheet: {csv_path.stem}",
                    f"{rows:,} rows, more than a workbook sheet here holds "
                    f"({WORKBOOK_MAX_ROWS:,}): in {csv_path.name} beside this workbook",
                )
            )
            continue
        frame = _typed(pd.read_csv(csv_path, dtype=str, keep_default_na=False).replace("", None))
        frames[csv_path.stem] = frame
        lines.append((f"sheet {csv_path.stem[:31]}", f"{len(frame):,} rows"))
    sheet = book.create_sheet(title="Cover")
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 90
    for label, value in lines:
        sheet.append([_cell(sheet, label, None, bold=True), _cell(sheet, str(value), None)])
    for name, frame in frames.items():
        _add_sheet(book, name, frame, currency)
    book.save(path)
    return path

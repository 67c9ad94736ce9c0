"""The engine boundary: the backend that runs transaction-level work, and reading sources into it.

Everything engine-specific (file readers, text-to-date parsing with a format) lives here; the
rest of ccnb writes portable Ibis expressions (DESIGN.md, Data flow).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb.params import EngineSettings

__all__ = ["connect", "parse_date_text", "read_table", "register_frame"]

_CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")
_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")


def connect(settings: EngineSettings | None = None) -> ibis.BaseBackend:
    """Open the engine named in the params (DuckDB in-process by default).

    Parameters
    ----------
    settings
        The params' ``engine`` section; defaults to an in-memory DuckDB.

    Returns
    -------
    ibis.BaseBackend
        An Ibis connection.
    """
    settings = settings or EngineSettings()
    return ibis.duckdb.connect(settings.database or ":memory:")


def register_frame(connection: ibis.BaseBackend, frame: pd.DataFrame, *, name: str) -> ir.Table:
    """Hand a pandas frame to the engine as a table."""
    # Through a memtable: ibis 12 mis-quotes the temporary view when given the frame itself.
    return connection.create_table(name, ibis.memtable(frame), overwrite=True)


def read_table(
    connection: ibis.BaseBackend,
    path: str,
    *,
    name: str,
    table: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
) -> ir.Table:
    """Read a csv, parquet, xlsx or DuckDB table into the engine, text columns as text.

    CSV and xlsx are read with every column as text so that ccnb, not the reader, decides
    which values are bad (and counts them); parquet and database tables keep their types.

    Parameters
    ----------
    connection
        The engine.
    path
        File path (already resolved to absolute by ``load_params``).
    name
        Name to give the table in the engine.
    table
        Table name inside a DuckDB database file.
    sheet
        Sheet of an xlsx workbook (the first when None).
    delimiter
        CSV delimiter (detected when None).

    Returns
    -------
    ibis.expr.types.Table
        The raw table.
    """
    file = Path(path)
    lower = file.name.lower()
    if not file.exists():
        raise FileNotFoundError(f"data file {file} not found")
    if table is not None or lower.endswith(_DUCKDB_SUFFIXES):
        if table is None:
            raise ValueError(f"{file} is a DuckDB database: name the table with `table:`")
        alias = f"src_{name}"
        connection.attach(str(file), name=alias, read_only=True)
        return connection.table(table, database=(alias, "main"))
    if lower.endswith(_CSV_SUFFIXES):
        options = {"all_varchar": True, "header": True}
        if delimiter:
            options["delim"] = delimiter
        elif lower.endswith((".tsv", ".tsv.gz")):
            options["delim"] = "\t"
        return connection.read_csv(str(file), table_name=name, **options)
    if lower.endswith(".parquet") or file.is_dir():
        return connection.read_parquet(str(file), table_name=name)
    if lower.endswith((".xlsx", ".xlsm")):
        frame = pd.read_excel(file, sheet_name=sheet or 0, dtype=str, keep_default_na=False)
        return register_frame(connection, frame.replace("", None), name=name)
    raise ValueError(
        f"cannot read {file}: use a .csv, .txt, .tsv (optionally .gz), .parquet, .xlsx file "
        "or a DuckDB database with `table:`"
    )


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, format: str) -> datetime.datetime:
    """DuckDB's try_strptime: NULL instead of an error when the text does not match."""


def parse_date_text(text: ir.StringValue, *, date_format: str | None) -> ir.DateValue:
    """Parse text dates: ISO dates and timestamps, or the given strftime format.

    Parameters
    ----------
    text
        A text column.
    date_format
        strftime format such as ``'%d/%m/%Y'``; ISO when None.

    Returns
    -------
    ibis.expr.types.DateValue
        The date, NULL where the text does not parse.
    """
    if date_format:
        return _try_strptime(text, date_format).date()
    return ibis.coalesce(text.try_cast("date"), text.try_cast("timestamp").date())

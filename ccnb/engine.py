"""The engine boundary: the backend that runs transaction-level work, and reading sources into it.

Everything engine-specific (opening DuckDB or Spark, file readers, row positions, text-to-date
parsing with a format) lives here; the rest of ccnb writes portable Ibis expressions (README,
"Running on Spark": what runs where). PySpark is optional (``pip install ccnb[spark]``) and imported
only when selected.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb._process_folders import process_folder, process_prefix
from ccnb.errors import EngineError
from ccnb.params import EngineSettings

__all__ = [
    "EngineError",
    "UnreadableText",
    "check_readable",
    "connect",
    "is_text_file",
    "keep",
    "parse_date_text",
    "read_table",
    "register_frame",
    "is_spark",
    "spark_frame",
    "spark_is_local",
    "spark_pandas",
    "spark_session_of",
    "spark_session",
    "value_at_first",
    "with_row_positions",
]

_CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz")
_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")
_SPARK = "pyspark"  # Ibis' name of the Spark backend

# Small-data defaults for a Spark session ccnb starts itself; `engine.config` overrides them.
_SPARK_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
}


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

    Raises
    ------
    EngineError
        When Spark is selected but PySpark is not installed.
    """
    settings = settings or EngineSettings()
    if settings.backend == "spark":
        session = spark_session(settings)
        try:
            backend = ibis.pyspark  # Ibis loads its PySpark backend on first access
        except ImportError as error:
            raise EngineError(
                _missing_pyspark(f"Ibis could not load its PySpark backend ({error})")
            ) from error
        return backend.connect(session)
    connection = ibis.duckdb.connect(settings.database or ":memory:")
    connection.raw_sql(f"SET memory_limit = '{settings.memory_limit}'")
    # DuckDB's default for an in-memory database is .tmp in the working directory: the
    # consultant's engagement folder
    connection.raw_sql(f"SET temp_directory = '{process_folder('duckdb-spill')}'")
    # its bar goes to the terminal (or a notebook's output) on queries over two seconds
    connection.raw_sql("SET enable_progress_bar = false")
    # freed memory goes back to the system in the background, not when a later query frees
    # more: the worker's resident size between tables, which the kernels' memory adds to
    connection.raw_sql("SET allocator_background_threads = true")
    return connection


def keep(
    table: ir.Table, *, grouped_by: str | None = None, ordered_by: Sequence[str] = ()
) -> ir.Table:
    """The table computed once and kept in the engine, so that what it came from can go.

    DuckDB writes a cached table at once; Spark caches lazily, so the table is counted here to
    compute it now: releasing the tables it was computed from (``release()``) before that would
    make Spark compute them again from the file.

    Parameters
    ----------
    table
        An expression of the engine.
    grouped_by
        A column whose rows are kept together: on Spark in one partition (hashed on it), so
        that later groupings and windows on this column, alone or with others, read the rows
        where they are instead of moving every row again. DuckDB, on one machine, has no
        partitions: there it only leads ``ordered_by``.
    ordered_by
        The order of the rows kept (on Spark within each partition): by ``grouped_by`` first,
        then these columns.

    Returns
    -------
    ibis.expr.types.Table
        The kept table (release it with ``release()``).
    """
    # a table of pandas frames only (memtables) is kept by ibis's default backend, DuckDB
    connection = table._find_backend(use_default=True)
    order = [grouped_by, *ordered_by] if grouped_by and ordered_by else list(ordered_by)
    if is_spark(connection) and grouped_by:
        frame = spark_frame(table, connection=connection).repartition(grouped_by)
        if order:
            frame = frame.sortWithinPartitions(*order)
        # The view stays: dropping it would drop the cache built on it. A name, no data.
        table = spark_table(frame, connection=connection)
    elif order:
        table = table.order_by(order)
    kept = table.cache()
    if is_spark(connection):
        kept.count().execute()
    return kept


def spark_session(settings: EngineSettings):
    """The Spark session for ``settings``: the active one, else a new one on ``master``.

    Parameters
    ----------
    settings
        The params' ``engine`` section (``backend: spark``).

    Returns
    -------
    pyspark.sql.SparkSession
        The session; ``settings.config`` entries are set on it.
    """
    if importlib.util.find_spec("pyspark") is None:
        raise EngineError(_missing_pyspark("PySpark is not installed"))
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(_missing_pyspark(f"PySpark does not import ({error})")) from error

    # PySpark 4.0's toPandas passes astype(copy=False), deprecated in pandas 3: harmless, and
    # not ours to fix; ignored for pyspark's calls only.
    warnings.filterwarnings(
        "ignore", message="The copy keyword is deprecated", category=Warning, module="pyspark"
    )
    config = {**_SPARK_DEFAULTS, **settings.config}
    session = SparkSession.getActiveSession()
    if session is None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise EngineError(
                "the params select `engine: {backend: spark}` but Java is not installed (no "
                "`java` on PATH and JAVA_HOME unset); Spark needs Java 17, e.g. "
                "`apt-get install openjdk-17-jre-headless`"
            )
        master = settings.master or "local[*]"
        if master.startswith("local"):
            # Python workers (pandas UDFs: `ccnb.clv.partitioned`) run this interpreter, which
            # has ccnb; PySpark's default is the first `python3` on PATH. It reads only the
            # environment, when the session starts.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.appName("ccnb").master(master)
        for key, value in config.items():
            builder = builder.config(key, value)
        session = _start_quietly(builder, master)
    else:
        # A running session (a notebook on a cluster) keeps its static settings.
        for key, value in settings.config.items():
            if session.conf.isModifiable(key):
                session.conf.set(key, value)
    return session


def _missing_pyspark(reason: str) -> str:
    """The message for a Spark client on an installation without a working Spark extra."""
    return (
        f"the params select `engine: {{backend: spark}}` but {reason}; install the Spark extra "
        "with `pip install 'ccnb[spark]'` (it also needs Java 17, e.g. "
        "`apt-get install openjdk-17-jre-headless`), or use `backend: duckdb`"
    )


def _start_quietly(builder, master: str):
    """Start Spark with the JVM's console output in a log file, not in notebooks and reports."""
    log = tempfile.NamedTemporaryFile(prefix=process_prefix("spark"), suffix=".log", delete=False)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    # The JVM inherits the process' stdout and stderr when it starts and keeps them.
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        return builder.getOrCreate()
    except Exception as error:
        raise EngineError(
            f"Spark did not start on master {master!r}; its log is {log.name} "
            "(Java 17 must be installed, or JAVA_HOME set)"
        ) from error
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in saved:
            os.close(descriptor)
        log.close()


def is_spark(connection: ibis.BaseBackend | None) -> bool:
    """Whether ``connection`` is the Spark engine."""
    return connection is not None and connection.name == _SPARK


def spark_session_of(connection: ibis.BaseBackend):
    """The Spark session behind the Spark engine's connection."""
    if not is_spark(connection):
        raise ValueError(f"the Spark engine is needed here, got {connection.name!r}")
    return connection.raw_sql("SELECT 1").sparkSession


def spark_is_local(connection: ibis.BaseBackend) -> bool:
    """Whether the Spark engine's executors run on this machine (master ``local[...]``)."""
    return spark_session_of(connection).sparkContext.master.startswith("local")


def remove_spark_path(connection: ibis.BaseBackend, path: str) -> bool:
    """Delete a file or folder (recursively) wherever Spark reaches it: a path or any URI.

    Through the file system Spark's Hadoop configuration gives for ``path`` (``s3a://``,
    ``hdfs://``, a local folder), so what the executors wrote on shared storage goes too.

    Parameters
    ----------
    connection : ibis.BaseBackend
        The Spark engine.
    path : str
        What to delete.

    Returns
    -------
    bool
        Whether something was deleted (False when nothing was there).
    """
    session = spark_session_of(connection)
    hadoop_path = session._jvm.org.apache.hadoop.fs.Path(path)
    system = hadoop_path.getFileSystem(session._jsc.hadoopConfiguration())
    return bool(system.delete(hadoop_path, True))


def spark_frame(table: ir.Table, *, connection: ibis.BaseBackend):
    """The Spark DataFrame of an Ibis table of the Spark engine: nothing runs or is collected.

    Parameters
    ----------
    table : ibis.Table
        A table expression of ``connection``.
    connection : ibis.BaseBackend
        The Spark engine.

    Returns
    -------
    pyspark.sql.DataFrame
        For the work Ibis does not express: pandas UDFs over partitions, writes by executors.
    """
    if not is_spark(connection):
        raise ValueError(f"spark_frame needs the Spark engine, got {connection.name!r}")
    return connection.raw_sql(connection.compile(table))


def spark_table(frame, *, connection: ibis.BaseBackend) -> ir.Table:
    """An Ibis table of a Spark DataFrame, to join it to the engine's tables: nothing runs.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        A DataFrame of ``connection``'s session (e.g. what the executors wrote, read back).
    connection : ibis.BaseBackend
        The Spark engine.

    Returns
    -------
    ibis.Table
        A table over a new temporary view of ``frame`` (a name, no data).
    """
    if not is_spark(connection):
        raise ValueError(f"spark_table needs the Spark engine, got {connection.name!r}")
    name = f"ccnb_frame_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    return connection.table(name)


def to_arrow(table: ir.Table):
    """The rows of ``table`` as an Arrow table, on either engine.

    Ibis' Spark backend collects through PySpark's ``toPandas`` (a Python row per record
    unless the session switches Arrow on) and converts that to Arrow again; Spark's own
    ``toArrow`` does neither. For the per-customer tables the driver collects.

    Parameters
    ----------
    table : ibis.Table
        What to collect.

    Returns
    -------
    pyarrow.Table
        Its columns in the engine's Arrow types.
    """
    connection = table._find_backend(use_default=True)
    if is_spark(connection):
        return spark_frame(table, connection=connection).toArrow()
    return table.to_pyarrow()


def distinct_values(table: ir.Table, column: str) -> pd.Series:
    """The distinct values of ``table[column]``, collected through Arrow (`to_arrow`).

    Parameters
    ----------
    table : ibis.Table
        Where to read them.
    column : str
        Which column (e.g. ``customer_id``: one value per customer).

    Returns
    -------
    pandas.Series
        Each distinct value once, in no particular order.
    """
    return to_arrow(table.select(column).distinct()).column(column).to_pandas()


def spark_pandas(frame) -> pd.DataFrame:
    """A Spark DataFrame collected to pandas through Arrow.

    PySpark's ``toPandas`` builds a Python row per record unless Arrow is switched on for the
    session: 3.3 GB on the driver for a million customers' 48 prediction columns, against a
    few hundred MB through Arrow. For the per-customer tables the driver reads back.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        What to collect.

    Returns
    -------
    pandas.DataFrame
        Arrow's conversion: text as pandas' string dtype, float columns keep their width.
    """
    return frame.toArrow().to_pandas()


def register_frame(connection: ibis.BaseBackend, frame: pd.DataFrame, *, name: str) -> ir.Table:
    """Hand a pandas frame to the engine as a table."""
    # Through a memtable: ibis 12 mis-quotes the temporary view when given the frame itself.
    if is_spark(connection):
        # A temporary view: a Spark "table" would be written to the warehouse directory.
        return connection.create_view(name, ibis.memtable(frame), overwrite=True)
    return connection.create_table(name, ibis.memtable(frame), overwrite=True)


def _is_url(path: str) -> bool:
    return "://" in path


def is_text_file(path: str | None) -> bool:
    """Whether ``path`` is a local delimited text file (csv, txt, tsv, optionally gzipped)."""
    return path is not None and not _is_url(path) and path.lower().endswith(_CSV_SUFFIXES)


class UnreadableText(Exception):
    """The engine could not read a text file as the header says (ragged lines, bad bytes)."""


def check_readable(raw: ir.Table) -> None:
    """Scan a text source once so that a line the engine cannot split fails now.

    Raises
    ------
    UnreadableText
        When DuckDB rejects a line (too many or too few fields, invalid UTF-8) or finds a
        single column only (the header and the lines disagree about the delimiter).
    """
    import duckdb

    if raw._find_backend(use_default=True).name != "duckdb":
        return
    if len(raw.columns) < 2:
        raise UnreadableText("one column only")
    try:
        raw.count().execute()
    except duckdb.Error as error:
        raise UnreadableText(str(error)) from None


def read_table(
    connection: ibis.BaseBackend,
    path: str | None,
    *,
    name: str,
    table: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    skip_rows: int = 0,
) -> ir.Table:
    """Read a csv, parquet, xlsx file or an engine table, text columns as text.

    CSV and xlsx are read with every column as text so that ccnb, not the reader, decides
    which values are bad (and counts them); parquet and database tables keep their types.

    Parameters
    ----------
    connection
        The engine.
    path
        File path (already resolved to absolute by ``load_params``) or a URL the engine reads;
        None for a table of the engine itself.
    name
        Name to give the table in the engine.
    table
        Table name inside a DuckDB database file, or of the engine when ``path`` is None
        (``'db.table'`` names the database too).
    sheet
        Sheet of an xlsx workbook (the first when None).
    delimiter
        CSV delimiter (detected when None).
    skip_rows
        Title rows above the header of an xlsx sheet (CSV title lines are handled by
        ``ccnb.client_files.normalise_csv``).

    Returns
    -------
    ibis.expr.types.Table
        The raw table.
    """
    if path is None:
        if table is None:
            raise ValueError("a source needs a `path` or a `table`")
        *database, table_name = table.split(".")
        return connection.table(table_name, database=".".join(database) or None)
    file = Path(path).expanduser()
    lower = file.name.lower()
    if not _is_url(path) and not file.exists():
        raise FileNotFoundError(f"data file {file} not found")
    spark = is_spark(connection)
    if table is not None or lower.endswith(_DUCKDB_SUFFIXES):
        if table is None:
            raise ValueError(f"{file} is a DuckDB database: name the table with `table:`")
        if spark:
            raise ValueError(
                f"{file} is a DuckDB database, which Spark cannot read: export the table to "
                "parquet, or name a table of Spark's catalog with `table:` and no `path`"
            )
        alias = f"src_{name}"
        connection.attach(str(file), name=alias, read_only=True)
        return connection.table(table, database=(alias, "main"))
    if lower.endswith(_CSV_SUFFIXES):
        if lower.endswith((".tsv", ".tsv.gz")) and not delimiter:
            delimiter = "\t"
        if spark:
            options = {"inferSchema": False, "header": True}
            if delimiter:
                options["sep"] = delimiter
            return connection.read_csv(path, table_name=name, **options)
        options = {"all_varchar": True, "header": True}
        if delimiter:
            options["delim"] = delimiter
            options["quote"] = '"'  # the sniffer can otherwise pick a quote that breaks lines
        return connection.read_csv(str(file), table_name=name, **options)
    if lower.endswith(".parquet") or _is_url(path) or file.is_dir():
        if not spark:
            return connection.read_parquet(str(file), table_name=name)
        try:
            return connection.read_parquet(path, table_name=name)
        except Exception as error:  # Spark's AnalysisException: say what to do instead
            if "TIMESTAMP(NANOS" not in str(error):
                raise
            raise EngineError(
                f"Spark cannot read {file.name}: it holds timestamps in nanoseconds (pandas' "
                "default when writing parquet). Write it with microseconds, e.g. "
                "frame.to_parquet(path, coerce_timestamps='us', allow_truncated_timestamps=True), "
                "or run this client on DuckDB."
            ) from None
    if lower.endswith((".xlsx", ".xlsm")):
        frame = read_sheet(file, sheet=sheet, skip_rows=skip_rows)
        return register_frame(connection, frame, name=name)
    raise ValueError(
        f"cannot read {file}: use a .csv, .txt, .tsv (optionally .gz), .parquet, .xlsx file "
        "or a DuckDB database with `table:`"
    )


def read_sheet(path: Path, *, sheet: str | None = None, skip_rows: int = 0) -> pd.DataFrame:
    """An xlsx sheet as text: header names trimmed, empty cells NULL, dates as ISO text.

    Cells Excel stores as dates come back as ``YYYY-MM-DD`` (with a time only when it is not
    midnight); numbers stored as numbers keep their digits (a serial date such as 45296 is
    read by the date parser).
    """
    frame = pd.read_excel(path, sheet_name=sheet or 0, header=skip_rows, dtype=object)
    frame.columns = [str(name).strip() for name in frame.columns]

    def text(value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        if isinstance(value, datetime.datetime):
            return (
                value.date().isoformat()
                if value.time() == datetime.time()
                else value.isoformat(" ")
            )
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        value = str(value)
        return value if value.strip() else None

    return frame.apply(lambda column: column.map(text)).astype(object)


@ibis.udf.scalar.builtin(name="monotonically_increasing_id")
def _spark_row_id() -> int:
    """Spark's row id: the partition index times 2**33 plus the position in the partition."""


#: Spark's row id keeps a row's position within its partition in the lower 33 bits
_SPARK_POSITION_BITS = 33


def with_row_positions(
    table: ir.Table, *, name: str, connection: ibis.BaseBackend | None = None
) -> ir.Table:
    """The table with each row's 0-based position in source order as column ``name``.

    Parameters
    ----------
    table
        The raw table as read.
    name
        The new column's name.
    connection
        The engine holding ``table``.

    Returns
    -------
    ibis.expr.types.Table
        ``table`` and the position of each row in the source as read.

    Notes
    -----
    Spark numbers rows only in an explicit order, and a window over a whole file runs in one
    task. Its row id follows the file order within and across partitions, so the position is
    the id's place in its partition plus the rows of the partitions before: one count per
    partition, read first, and no row moves.
    """
    if not is_spark(connection):
        return table.mutate(**{name: ibis.row_number()})
    row_id = _spark_row_id()
    partition = (row_id >> _SPARK_POSITION_BITS).cast("int32")
    with_ids = table.mutate(
        _ccnb_partition=partition, _ccnb_in_partition=row_id & (2**_SPARK_POSITION_BITS - 1)
    )
    sizes = with_ids.group_by("_ccnb_partition").agg(rows=with_ids.count()).execute()
    rows = dict(zip(sizes["_ccnb_partition"].astype(int), sizes["rows"].astype(int), strict=True))
    offsets, before = [], 0
    for index in range(max(rows, default=-1) + 1):
        offsets.append(before)
        before += rows.get(index, 0)
    offset = ibis.literal(offsets or [0], type="array<int64>")[with_ids._ccnb_partition]
    return with_ids.mutate(**{name: offset + with_ids._ccnb_in_partition}).drop(
        "_ccnb_partition", "_ccnb_in_partition"
    )


@ibis.udf.agg.builtin(name="arg_min")
def _duckdb_arg_min(arg: float, key: datetime.date) -> float:  # pragma: no cover - in DuckDB
    """DuckDB's ``arg_min``: ``arg`` at the smallest ``key``."""


def value_at_first(
    value: ir.FloatingColumn, key: ir.Column, *, where: ir.BooleanValue | None = None
) -> ir.FloatingScalar:
    """Aggregate: ``value`` at the row with the smallest ``key`` (e.g. first purchase's value).

    Ibis compiles ``argmin`` to an ordered ``FIRST`` aggregate, which DuckDB evaluates by
    sorting every group; DuckDB's own ``arg_min`` streams and is several times faster. Other
    engines get the portable expression.
    """
    if value._find_backend(use_default=True).name == "duckdb":
        return _duckdb_arg_min(value, key, where=where)
    return value.argmin(key, where=where)


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(text: str, format: str) -> datetime.datetime:
    """DuckDB's try_strptime: NULL instead of an error when the text does not match."""


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _spark_try_to_timestamp(text: str, format: str) -> datetime.datetime:
    """Spark's try_to_timestamp: NULL instead of an error when the text does not match."""


# strftime directives -> Spark (java.time) pattern letters. Numeric fields use the one-letter
# form, which like strptime accepts values with or without a leading zero.
_JAVA_PATTERN = {
    "d": "d",
    "m": "M",
    "Y": "yyyy",
    "y": "yy",
    "H": "H",
    "I": "h",
    "M": "m",
    "S": "s",
    "f": "SSSSSS",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "a": "EEE",
    "A": "EEEE",
    "j": "D",
    "%": "%",
}


def spark_date_pattern(date_format: str) -> str:
    """Translate a strftime format (``'%d/%m/%Y'``) into a Spark datetime pattern (``'d/M/yyyy'``).

    Raises
    ------
    ValueError
        For a directive Spark has no equivalent for.
    """
    pieces = []
    for literal, directive in re.findall(r"([^%]*)(?:%(.))?", date_format):
        if literal:
            # Letters are pattern symbols in Spark: quote them ('' is a literal quote).
            pieces.append(
                "'" + literal.replace("'", "''") + "'"
                if re.search("[A-Za-z']", literal)
                else literal
            )
        if directive:
            if directive not in _JAVA_PATTERN:
                raise ValueError(
                    f"date_format {date_format!r}: %{directive} has no Spark equivalent; use "
                    f"{', '.join('%' + key for key in _JAVA_PATTERN)}"
                )
            pieces.append(_JAVA_PATTERN[directive])
    return "".join(pieces)


def parse_date_text(
    text: ir.StringValue,
    *,
    date_format: str | None,
    connection: ibis.BaseBackend | None = None,
) -> ir.DateValue:
    """Parse text dates: ISO dates and timestamps, or the given strftime format.

    Parameters
    ----------
    text
        A text column.
    date_format
        strftime format such as ``'%d/%m/%Y'``; ISO when None.
    connection
        The engine holding ``text`` (DuckDB when None).

    Returns
    -------
    ibis.expr.types.DateValue
        The date, NULL where the text does not parse.
    """
    if is_spark(connection):
        if date_format:
            return _spark_try_to_timestamp(text, spark_date_pattern(date_format)).date()
        # Spark casts '2024' and '2024-05' to dates too; DuckDB (and ccnb) want a full date.
        iso = text.re_search(r"^\d{4}-\d{1,2}-\d{1,2}(?:$|[T ])")
        return ibis.cases((iso, text.try_cast("timestamp").date()), else_=ibis.null("date"))
    if date_format:
        return _try_strptime(text, date_format).date()
    return ibis.coalesce(text.try_cast("date"), text.try_cast("timestamp").date())

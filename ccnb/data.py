"""Sources -> validated transactions, customers and survey, with every excluded row accounted for.

The data contract (docs/methodology.md, "Data quality"): each row that cannot be used is counted
under a reason and kept, with that reason, for ``rejected_rows.csv``; rows read always equal rows
used plus rows rejected. Transaction work is written as Ibis expressions run in the engine.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb import client_files, datasets, engine, orders, plausibility, privacy
from ccnb._checks import did_you_mean
from ccnb.errors import DataError
from ccnb.params import (
    CustomersSource,
    Params,
    PopulationFilter,
    SurveySource,
    TransactionsSource,
)
from ccnb.quality import DataQuality, SourceQuality

__all__ = [
    "MAX_POPULATIONS",
    "TRANSACTION_COLUMNS",
    "ClientData",
    "DataError",
    "DataQuality",
    "SourceQuality",
    "load_client",
    "load_customers",
    "load_survey",
    "load_transactions",
]

TRANSACTION_COLUMNS = (
    "customer_id",
    "date",
    "amount",
    "order_id",
    "channel",
    "product",
    "category",
)
_ROW = "_ccnb_row"
_REASON = "reason"
# Share of rows with a customer id whose date fails to parse above which the mapping or the
# date format is wrong rather than a few rows being bad.
_BAD_DATE_LIMIT = 0.5


@dataclass
class ClientData:
    """Everything loaded for one client.

    Attributes
    ----------
    transactions
        Validated transactions as an Ibis table in the engine, columns
        ``customer_id, date, amount, order_id, channel`` (see `TRANSACTION_COLUMNS`).
    customers
        Customers table (``customer_id, acquisition_channel, acquisition_cost``) or None.
    survey
        Survey answers (``customer_id, date, nps, csat``) or None.
    quality
        The data-quality report.
    observation_end
        The date everything is measured at (from the params, else the last transaction).
    connection
        The engine connection holding ``transactions``.
    """

    transactions: ir.Table
    customers: pd.DataFrame | None
    survey: pd.DataFrame | None
    quality: DataQuality
    observation_end: dt.date
    connection: ibis.BaseBackend = field(repr=False)


# --- reading and mapping -------------------------------------------------------------------


@dataclass
class _Raw:
    """A source as read: the raw table, a label for messages, and the lines set aside."""

    table: ir.Table
    label: str
    set_aside: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The source's own columns (without the row-position column of a clean copy)."""
        return [name for name in self.table.columns if name != client_files.ROW_COLUMN]

    def with_positions(self, connection: ibis.BaseBackend) -> ir.Table:
        """The raw table with each row's 0-based position in the original file as ``_ROW``."""
        if client_files.ROW_COLUMN in self.table.columns:
            position = self.table[client_files.ROW_COLUMN].cast("int64")
            return self.table.mutate(**{_ROW: position}).drop(client_files.ROW_COLUMN)
        return engine.with_row_positions(self.table, name=_ROW, connection=connection)


def _read(
    connection: ibis.BaseBackend,
    source: TransactionsSource | CustomersSource | SurveySource,
    name,
    *,
    register_as: str | None = None,
) -> _Raw:
    """Raw table of a source; a CSV that is not clean UTF-8 is read through a clean copy.

    ``name`` is the source's kind (a built-in dataset's table); the engine holds the table as
    ``raw_<register_as or name>``.
    """
    registered = f"raw_{register_as or name}"
    if source.path is not None and source.path.startswith("builtin:"):
        dataset = source.path.removeprefix("builtin:")
        frame = datasets.builtin_frame(dataset, table=name)  # raises for unknown names
        return _Raw(engine.register_frame(connection, frame, name=registered), source.path)
    label = Path(source.path).name if source.path is not None else f"table {source.table}"
    options = {"name": registered, "table": source.table, "sheet": source.sheet}
    try:
        if engine.is_text_file(source.path):
            return _read_text(connection, source, label, options)
        raw = engine.read_table(
            connection,
            source.path,
            delimiter=source.delimiter,
            skip_rows=source.skip_rows,
            **options,
        )
    except FileNotFoundError as error:
        raise DataError(str(error)) from None
    return _Raw(raw, label)


def _read_text(connection, source, label: str, options: dict) -> _Raw:
    """A CSV: straight into the engine when clean, else through :func:`normalise_csv`."""
    path = Path(source.path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data file {path} not found")
    encoding = source.encoding or client_files.detect_encoding(path)
    delimiter = source.delimiter or client_files.detect_delimiter(
        path, encoding=encoding, skip_rows=source.skip_rows
    )
    if encoding in ("utf-8", "utf-8-sig") and source.skip_rows == 0:
        try:
            raw = engine.read_table(connection, str(path), delimiter=delimiter, **options)
            engine.check_readable(raw)  # a ragged line fails here, not in a notebook
            untrimmed = {name.strip(): name for name in raw.columns if name != name.strip()}
            return _Raw(raw.rename(untrimmed) if untrimmed else raw, label)
        except engine.UnreadableText:
            pass
    clean = client_files.normalise_csv(
        path, encoding=encoding, delimiter=delimiter, skip_rows=source.skip_rows
    )
    raw = engine.read_table(connection, str(clean.path), delimiter=",", **options)
    return _Raw(raw, label, clean.set_aside)


def _check_columns(present: list[str], mapping: dict[str, str | None], label: str) -> None:
    for field_name, column in mapping.items():
        if column is None or column in present:
            continue
        hint = did_you_mean(column, present, cutoff=0.5)
        raise DataError(
            f"column {column!r} (mapped as {field_name}) not found in {label}; "
            f"columns are {present}{hint}"
        )


def _text(column: ir.Value) -> ir.StringValue:
    """A column as trimmed text, NULL when empty."""
    text = column.cast("string").strip()
    return ibis.cases((text == "", ibis.null("string")), else_=text)


def _number(column: ir.Value, *, decimal: str, thousands: str) -> ir.FloatingValue:
    """Parse amounts like ``1.234,50 EUR`` or ``$1,234.50`` per the separators; NULL if unsure."""
    if column.type().is_numeric():
        return column.cast("float64")
    text = _text(column)
    # Currency symbols and codes around the number, and spaces used as separators.
    text = text.re_replace(r"^[\p{Sc}A-Za-z\s]+|[\p{Sc}A-Za-z\s]+$", "")
    negative = text.re_search(r"^\(.*\)$")
    # Without a regex back-reference: DuckDB writes it \1, Spark $1.
    text = ibis.cases((negative, text.substr(1, text.length() - 2)), else_=text)
    if thousands == " ":
        text = text.re_replace(r"\s", "")
        thousands = ""
    dec = re.escape(decimal)
    grouped = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+" if thousands else None
    integer = rf"(?:{grouped}|\d+)" if grouped else r"\d+"
    pattern = rf"^[+-]?{integer}(?:{dec}\d+)?$"
    plain = text.replace(thousands, "") if thousands else text
    plain = plain.replace(decimal, ".") if decimal != "." else plain
    value = ibis.cases((text.re_search(pattern), plain.try_cast("float64")), else_=ibis.null())
    return ibis.cases((negative, -value), else_=value)


#: Excel serial day numbers read as dates (1990-01-01 to 2099-12-31): day 0 is 1899-12-30
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIALS = (32874, 73050)


def _date(
    column: ir.Value, *, date_format: str | None, connection: ibis.BaseBackend
) -> ir.DateValue:
    """Dates from a date column, or text in ISO form or ``date_format``, or Excel serials."""
    if column.type().is_temporal():
        return column.cast("date")
    text = _text(column)
    parsed = engine.parse_date_text(text, date_format=date_format, connection=connection)
    serial = text.re_replace(r"\.0+$", "").try_cast("int64")
    low, high = _EXCEL_SERIALS
    is_serial = text.re_search(r"^\d{5}(\.0+)?$") & serial.between(low, high)
    from_serial = ibis.literal(_EXCEL_EPOCH) + serial.as_interval("D")
    return ibis.cases((parsed.isnull() & is_serial, from_serial.cast("date")), else_=parsed)


def _rejected_frame(
    table: ir.Table, source: str, columns: dict[str, str | None], raw_columns: list[str]
) -> pd.DataFrame:
    """Excluded rows with their reason and the mapped raw values as text."""
    mapped = [column for column in dict.fromkeys(columns.values()) if column is not None]
    kept = [column for column in raw_columns if column in mapped]
    rejected = (
        table.filter(table[_REASON].notnull())
        .select(
            row=table[_ROW] + 1,
            reason=table[_REASON],
            **{column: table[column].cast("string") for column in kept},
        )
        .order_by("row")
        .execute()
    )
    rejected.insert(0, "source", source)
    return rejected


_PARSED = "_ccnb_parsed_"


def _parsed(**columns: ir.Value) -> dict[str, ir.Value]:
    """Parsed values under internal names, so the raw columns stay for rejected_rows."""
    return {_PARSED + name: value for name, value in columns.items()}


def _unparsed(table: ir.Table, names) -> ir.Table:
    """The parsed columns under their contract names."""
    return table.select(**{name: table[_PARSED + name] for name in names})


def _non_product(
    raw: ir.Table, mapping: dict[str, str | None], lines, product: ir.StringValue
) -> ir.BooleanValue | None:
    """Rows whose product code or description marks them as postage, fees, adjustments."""
    found = []
    if lines.codes:
        codes = sorted({code.strip().upper() for code in lines.codes})
        found.append(product.upper().isin(codes))
    if lines.descriptions:
        description = _text(raw[mapping["description"]])
        pattern = "|".join(f"(?:{pattern})" for pattern in lines.descriptions)
        found.append(description.lower().re_search(pattern.lower()))
    if not found:
        return None
    flagged = found[0]
    for other in found[1:]:
        flagged = flagged | other
    return flagged.fill_null(False)


def _amounts(table: ir.Table) -> tuple[float, dict[str, float]]:
    """Net amount of the rows used and of the excluded rows by reason (unreadable: 0).

    Totals rows count 0: their amount repeats the rows above them, so it is not revenue the
    exclusion loses (nor part of the file's revenue the shares are taken of).
    """
    amount = table[_PARSED + "amount"]
    readable = amount.notnull() & ~amount.isnan() & ~amount.isinf()
    sums = table.group_by(_REASON).agg(amount=amount.sum(where=readable)).execute()
    by_reason = {
        (reason if isinstance(reason, str) else "used"): round(float(amount or 0.0), 6)
        for reason, amount in zip(sums[_REASON], sums["amount"].fillna(0.0), strict=True)
    }
    used = by_reason.pop("used", 0.0)
    if "totals_row" in by_reason:
        by_reason["totals_row"] = 0.0  # a total repeats the rows above it: no revenue of its own
    return used, dict(sorted(by_reason.items()))


def _set_aside(
    counts: dict[str, int], rejected: pd.DataFrame, raw: _Raw, source: str
) -> tuple[dict[str, int], pd.DataFrame]:
    """Add the lines the reader set aside (malformed, totals) to the counts and rejected rows."""
    if not raw.set_aside:
        return counts, rejected
    counts = dict(counts)
    for _, reason, _ in raw.set_aside:
        counts[reason] = counts.get(reason, 0) + 1
    lines = pd.DataFrame(raw.set_aside, columns=["row", "reason", "raw_line"])
    lines["row"] += 1
    lines.insert(0, "source", source)
    rejected = pd.concat([rejected, lines], ignore_index=True).sort_values("row", kind="stable")
    return dict(sorted(counts.items())), rejected.reset_index(drop=True)


def _accounting(table: ir.Table) -> dict[str, int]:
    counts = table.group_by(_REASON).agg(rows=table.count()).execute()
    by_reason = {
        (reason if isinstance(reason, str) else "used"): int(rows)
        for reason, rows in zip(counts[_REASON], counts["rows"], strict=True)
    }
    return dict(sorted(by_reason.items()))  # the engine returns groups in any order


def _hide_ids(rejected: pd.DataFrame, id_column: str, key: bytes | None) -> pd.DataFrame:
    """Rejected rows of a pseudonymised run: raw ids replaced by pseudonyms, raw lines withheld."""
    if key is None or rejected.empty:
        return rejected
    rejected = rejected.copy()
    if id_column in rejected:
        ids = rejected[id_column].astype("string").str.strip()
        rejected[id_column] = privacy.pseudonymize(ids.where(ids != ""), key=key)
    if "raw_line" in rejected:
        withheld = "(withheld: customer ids are pseudonymised)"
        rejected["raw_line"] = rejected["raw_line"].where(rejected["raw_line"].isna(), withheld)
    return rejected


# --- transactions --------------------------------------------------------------------------


def _meets(
    raw: ir.Table, conditions: Sequence[PopulationFilter], *, connection, decimal=".", thousands=","
) -> ir.BooleanValue:
    """Whether each raw row meets every population condition (a missing value never does)."""
    keep = ibis.literal(True)
    for condition in conditions:
        column = raw[condition.column]
        bounds = condition.bounds
        if bounds is None:
            values = [condition.equals] if condition.equals is not None else condition.in_
            meets = _text(column).isin([value.strip() for value in values])
        elif isinstance(bounds[0], float):
            meets = _number(column, decimal=decimal, thousands=thousands).between(*bounds)
        else:
            meets = _date(column, date_format=None, connection=connection).between(*bounds)
        keep = keep & meets.fill_null(False)
    return keep


def _population(raw: ir.Table, keep: ir.BooleanValue | None) -> tuple[ir.Table, int]:
    """The rows meeting ``keep`` (all when None) and how many do not."""
    if keep is None:
        return raw, 0
    marked = raw.mutate(_in_population=keep).cache()
    outside = int(marked.filter(~marked._in_population).count().execute())
    return marked.filter(marked._in_population).drop("_in_population"), outside


def _missing_filter_columns(conditions, present: list[str], where: str) -> None:
    """Raise when a condition names a column that is not ``present`` (``where`` says where)."""
    missing = [condition.column for condition in conditions if condition.column not in present]
    if missing:
        raise DataError(
            f"filter column {missing[0]!r} is not in {where}: columns are {present}"
            f"{did_you_mean(missing[0], present)}"
        )


def load_transactions(
    source: TransactionsSource,
    *,
    connection: ibis.BaseBackend,
    observation_end: dt.date | None = None,
    returns: str = "net",
    pseudonym_key: bytes | None = None,
    normalise_ids: bool = False,
    population: Sequence[PopulationFilter] = (),
    customers_meeting: Callable[[list[PopulationFilter]], ir.Table] | None = None,
) -> tuple[ir.Table, SourceQuality, pd.DataFrame]:
    """Read, map and validate transactions; count and keep every excluded row.

    Parameters
    ----------
    source
        The params' ``transactions`` section.
    connection
        The engine (see `ccnb.engine.connect`).
    observation_end
        Rows dated later are excluded as ``after_observation_end``; no cut when None.
    returns
        ``"net"`` keeps negative amounts (returns) to net them into revenue; ``"exclude"``
        drops them as ``return``.
    pseudonym_key
        When given, customer ids are replaced by keyed pseudonyms (``ccnb.privacy``), in the
        rejected rows too.
    normalise_ids
        Read ids as a number prints them ('00123' -> '123', '17851.0' -> '17851').
    population
        Conditions (params ``filter``) on who is analysed: those on a column of this file
        keep the rows meeting them; the others are handed to ``customers_meeting``, which
        returns the ids (a one-column engine table) of the customers meeting them, whose
        rows are kept. Rows outside are counted (``outside_population``), not rejected.
    customers_meeting
        See ``population``; required when a condition names a column this file lacks.

    Returns
    -------
    transactions : ibis.expr.types.Table
        Validated rows, columns ``customer_id, date, amount, order_id, channel``, materialised
        in the engine.
    quality : SourceQuality
        Row accounting; ``rows_read == rows_used + sum(rejected.values())``.
    rejected : pandas.DataFrame
        Excluded rows: ``source, row, reason`` and the mapped raw values.

    Raises
    ------
    DataError
        When a mapped column is missing, or most dates fail to parse.
    """
    source_raw = _read(connection, source, "transactions")
    label = source_raw.label
    mapping = source.columns.model_dump()
    _check_columns(source_raw.columns, mapping, label)
    raw_columns = source_raw.columns
    raw = source_raw.with_positions(connection)
    raw, outside_population = _population(
        raw,
        _transaction_population(
            raw,
            population,
            raw_columns,
            label=label,
            customers_meeting=customers_meeting,
            normalise_ids=normalise_ids,
            id_column=mapping["customer_id"],
            connection=connection,
            number_format={"decimal": source.decimal, "thousands": source.thousands},
        ),
    )

    customer_id = _text(raw[mapping["customer_id"]])
    if normalise_ids:
        customer_id = plausibility.normalise_id(customer_id)
    date = _date(raw[mapping["date"]], date_format=source.date_format, connection=connection)
    parse = {"decimal": source.decimal, "thousands": source.thousands}
    if mapping["amount"] is not None:
        amount = _number(raw[mapping["amount"]], **parse)
    else:
        amount = _number(raw[mapping["quantity"]], **parse) * _number(
            raw[mapping["unit_price"]], **parse
        )
    order_id = _text(raw[mapping["order_id"]]) if mapping["order_id"] else ibis.null("string")
    channel = _text(raw[mapping["channel"]]) if mapping["channel"] else ibis.null("string")
    product = _text(raw[mapping["product"]]) if mapping["product"] else ibis.null("string")
    category = _text(raw[mapping["category"]]) if mapping["category"] else ibis.null("string")

    totals = customer_id.lower().re_search(client_files.TOTALS_PATTERN).fill_null(False)
    if mapping["order_id"]:
        order_text = order_id.lower().re_search(client_files.TOTALS_PATTERN).fill_null(False)
        totals = totals | order_text
    # a line with an amount and neither a customer nor a date: the sum of the lines above (a
    # date that is there but unreadable makes it a broken line, counted as such)
    blank_date = _text(raw[mapping["date"]]).isnull()
    totals = totals | (customer_id.isnull() & blank_date & amount.notnull())
    checks = [
        (totals, "totals_row"),
        (customer_id.isnull(), "missing_customer_id"),
        (date.isnull(), "bad_date"),
        (_implausible(date), "implausible_date"),
        (amount.isnull() | amount.isnan() | amount.isinf(), "bad_amount"),
    ]
    non_product = _non_product(raw, mapping, source.non_product, product)
    if non_product is not None:
        checks.append((non_product, "non_product"))
    if observation_end is not None:
        checks.append((date > ibis.literal(observation_end), "after_observation_end"))
    if returns == "exclude":
        checks.append((amount < 0, "return"))
    if mapping["order_id"] is not None:
        # Exact duplicates (every source column equal) are only recognisable with an order id;
        # without one, two identical lines may be two real purchases. Checked last: a copy
        # rejected for another reason is counted under that one.
        copy_number = ibis.row_number().over(
            group_by=[raw[column] for column in raw_columns], order_by=raw[_ROW]
        )
        checks.append((copy_number > 0, "duplicate"))
    parsed = raw.mutate(
        **_parsed(
            customer_id=customer_id,
            date=date,
            amount=amount,
            order_id=order_id,
            channel=channel,
            product=product,
            category=category,
        ),
        **{_REASON: ibis.cases(*checks, else_=ibis.null("string"))},
    ).cache()
    counts = _accounting(parsed)
    rows_used = counts.pop("used", 0)
    _check_dates(counts, rows_used, label, source.columns.date, parsed, source.date_format)
    amount_used, amount_rejected = _amounts(parsed)
    rejected = _rejected_frame(parsed, "transactions", mapping, raw_columns)
    counts, rejected = _set_aside(counts, rejected, source_raw, "transactions")
    rejected = _hide_ids(rejected, mapping["customer_id"], pseudonym_key)

    valid = _unparsed(parsed.filter(parsed[_REASON].isnull()), TRANSACTION_COLUMNS)
    # before the ids become pseudonyms, which no longer show leading zeros
    collisions = None if normalise_ids else plausibility.id_collisions(valid)
    if pseudonym_key is not None:
        valid = privacy.pseudonymize_ids(valid, key=pseudonym_key, connection=connection)
    transactions = engine.keep(valid)
    parsed.release()  # the engine's copy of the file, once the valid rows are kept
    span = transactions.agg(
        first=transactions.date.min(),
        last=transactions.date.max(),
        customers=transactions.customer_id.nunique(),
    ).execute()
    quality = SourceQuality(
        source="transactions",
        file=label,
        rows_read=rows_used + sum(counts.values()),
        rows_used=rows_used,
        rejected=counts,
        customers=int(span["customers"].iloc[0]),
        first_date=_as_date(span["first"].iloc[0]),
        last_date=_as_date(span["last"].iloc[0]),
        amount_used=amount_used,
        amount_rejected=amount_rejected,
        warnings=(collisions,) if collisions else (),
        outside_population=outside_population,
    )
    return transactions, quality, rejected


def _transaction_population(
    raw,
    population,
    raw_columns,
    *,
    label,
    customers_meeting,
    normalise_ids,
    id_column,
    connection,
    number_format,
):
    """The transactions' population condition: their own columns, then the customers'."""
    if not population:
        return None
    own = [condition for condition in population if condition.column in raw_columns]
    other = [condition for condition in population if condition.column not in raw_columns]
    keep = _meets(raw, own, connection=connection, **number_format)
    if other:
        if customers_meeting is None:
            _missing_filter_columns(other, raw_columns, f"the transactions file {label}")
        ids = customers_meeting(other)
        customer_id = _text(raw[id_column])
        if normalise_ids:
            customer_id = plausibility.normalise_id(customer_id)
        keep = keep & customer_id.isin(ids.customer_id).fill_null(False)
    return keep


def _as_date(value) -> dt.date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


#: dates before this are placeholders or misread years, not purchases
FIRST_PLAUSIBLE_DATE = dt.date(1990, 1, 1)


def _implausible(date: ir.DateValue) -> ir.BooleanValue:
    """Before 1990 (1900-01-01 placeholders, two-digit years read as AD 22) or after today."""
    today = dt.date.today()
    return (date < ibis.literal(FIRST_PLAUSIBLE_DATE)) | (date > ibis.literal(today))


def _check_dates(
    counts: dict[str, int], used: int, label: str, column: str, parsed, date_format: str | None
) -> None:
    bad = counts.get("bad_date", 0)
    dated = used + sum(
        n for reason, n in counts.items() if reason not in ("missing_customer_id", "totals_row")
    )
    implausible = counts.get("implausible_date", 0)
    if dated and implausible / dated > _BAD_DATE_LIMIT:
        examples = _examples(parsed, "implausible_date", column)
        fix = "check the column mapping and `date_format`"
        if date_format and "%Y" in date_format:
            short = date_format.replace("%Y", "%y")
            fix = f"the years look like two digits: set `date_format: '{short}'`"
        raise DataError(
            f"{implausible:,} of {dated:,} dates in column {column!r} of {label} fall before "
            f"{FIRST_PLAUSIBLE_DATE.year} or after today (e.g. {examples}); {fix} in the params "
            "file"
        )
    if dated and bad / dated > _BAD_DATE_LIMIT:
        examples = _examples(parsed, "bad_date", column)
        raise DataError(
            f"{bad:,} of {dated:,} dates in column {column!r} of {label} do not parse "
            f"(e.g. {examples}); check the column mapping or set `date_format` "
            "(e.g. '%d/%m/%Y') in the params file"
        )


def _examples(parsed: ir.Table, reason: str, column: str) -> list[str]:
    """Up to three raw values of a column among the rows rejected for ``reason``."""
    rows = parsed.filter(parsed[_REASON] == reason).select(value=parsed[column].cast("string"))
    return rows.limit(3).execute()["value"].tolist()


# --- customers and survey ------------------------------------------------------------------


def _finish_small_source(
    parsed: ir.Table,
    *,
    source_raw: _Raw,
    source: str,
    label: str,
    columns: dict[str, str | None],
    raw_columns: list[str],
    keep: list[str],
    pseudonym_key: bytes | None,
) -> tuple[pd.DataFrame, SourceQuality, pd.DataFrame]:
    counts = _accounting(parsed)
    used = counts.pop("used", 0)
    rejected = _rejected_frame(parsed, source, columns, raw_columns)
    counts, rejected = _set_aside(counts, rejected, source_raw, source)
    rejected = _hide_ids(rejected, columns["customer_id"], pseudonym_key)
    frame = _unparsed(parsed.filter(parsed[_REASON].isnull()).order_by(_ROW), keep).execute()
    if pseudonym_key is not None:
        frame["customer_id"] = privacy.pseudonymize(frame["customer_id"], key=pseudonym_key)
    dates = frame["date"] if "date" in frame else pd.Series(dtype="datetime64[ns]")
    quality = SourceQuality(
        source=source,
        file=label,
        rows_read=used + sum(counts.values()),
        rows_used=used,
        rejected=counts,
        customers=int(frame["customer_id"].nunique()),
        first_date=_as_date(dates.min()),
        last_date=_as_date(dates.max()),
    )
    return frame, quality, rejected


def load_customers(
    source: CustomersSource,
    *,
    connection: ibis.BaseBackend,
    pseudonym_key: bytes | None = None,
    normalise_ids: bool = False,
) -> tuple[pd.DataFrame, SourceQuality, pd.DataFrame]:
    """Read the customers table: acquisition channel and cost per customer.

    Parameters
    ----------
    source
        The params' ``customers`` section.
    connection
        The engine.
    pseudonym_key
        When given, customer ids are replaced by the same pseudonyms as the transactions'.
    normalise_ids
        As for the transactions.

    Returns
    -------
    customers : pandas.DataFrame
        ``customer_id`` (text), ``acquisition_channel`` (text, "unknown" when blank),
        ``acquisition_cost`` (float, NaN when unknown). One row per customer.
    quality : SourceQuality
        Row accounting. Reasons: ``missing_customer_id``, ``bad_amount`` (cost that does not
        parse), ``duplicate_customer`` (a later row for a customer already listed).
    rejected : pandas.DataFrame
        Excluded rows with their reason.
    """
    source_raw = _read(connection, source, "customers")
    label = source_raw.label
    mapping = source.columns.model_dump()
    _check_columns(source_raw.columns, mapping, label)
    raw_columns = source_raw.columns
    raw = source_raw.with_positions(connection)
    customer_id = _text(raw[mapping["customer_id"]])
    if normalise_ids:
        customer_id = plausibility.normalise_id(customer_id)
    channel = (
        _text(raw[mapping["acquisition_channel"]]).fill_null("unknown")
        if mapping["acquisition_channel"]
        else ibis.literal("unknown")
    )
    cost_text = _text(raw[mapping["acquisition_cost"]]) if mapping["acquisition_cost"] else None
    cost = (
        _number(raw[mapping["acquisition_cost"]], decimal=".", thousands=",")
        if cost_text is not None
        else ibis.null("float64")
    )
    bad_cost = cost_text.notnull() & cost.isnull() if cost_text is not None else ibis.literal(False)
    parsed = raw.mutate(
        **_parsed(customer_id=customer_id, acquisition_channel=channel, acquisition_cost=cost),
        **{
            _REASON: ibis.cases(
                (customer_id.isnull(), "missing_customer_id"),
                (bad_cost, "bad_amount"),
                else_=ibis.null("string"),
            )
        },
    )
    copy_number = ibis.row_number().over(
        group_by=parsed[_PARSED + "customer_id"], order_by=parsed[_ROW]
    )
    parsed = parsed.mutate(
        **{
            _REASON: ibis.cases(
                (parsed[_REASON].isnull() & (copy_number > 0), "duplicate_customer"),
                else_=parsed[_REASON],
            )
        }
    ).cache()
    return _finish_small_source(
        parsed,
        source_raw=source_raw,
        source="customers",
        label=label,
        columns=mapping,
        raw_columns=raw_columns,
        keep=["customer_id", "acquisition_channel", "acquisition_cost"],
        pseudonym_key=pseudonym_key,
    )


def load_survey(
    source: SurveySource,
    *,
    connection: ibis.BaseBackend,
    observation_end: dt.date | None = None,
    pseudonym_key: bytes | None = None,
    normalise_ids: bool = False,
) -> tuple[pd.DataFrame, SourceQuality, pd.DataFrame]:
    """Read NPS (0-10) and CSAT (1-5) answers.

    Parameters
    ----------
    source
        The params' ``survey`` section.
    connection
        The engine.
    observation_end
        Answers dated later are excluded as ``after_observation_end``.
    pseudonym_key
        When given, customer ids are replaced by the same pseudonyms as the transactions'.
    normalise_ids
        As for the transactions.

    Returns
    -------
    survey : pandas.DataFrame
        ``customer_id`` (text), ``date`` (datetime, NaT when not mapped), ``nps`` and ``csat``
        (nullable integers).
    quality : SourceQuality
        Row accounting. Reasons: ``missing_customer_id``, ``bad_date``,
        ``after_observation_end``, ``nps_out_of_range`` (not an integer 0-10),
        ``csat_out_of_range`` (not an integer 1-5), ``no_score`` (neither answered).
    rejected : pandas.DataFrame
        Excluded rows with their reason.
    """
    source_raw = _read(connection, source, "survey")
    label = source_raw.label
    mapping = source.columns.model_dump()
    _check_columns(source_raw.columns, mapping, label)
    raw_columns = source_raw.columns
    raw = source_raw.with_positions(connection)
    customer_id = _text(raw[mapping["customer_id"]])
    if normalise_ids:
        customer_id = plausibility.normalise_id(customer_id)
    date = (
        _date(raw[mapping["date"]], date_format=source.date_format, connection=connection)
        if mapping["date"]
        else ibis.null("date")
    )

    # parse each score once into a column: referring to the parsing expression five times
    # would inline it five times into the SQL (seconds of SQL generation)
    scored = [name for name in ("nps", "csat") if mapping[name] is not None]
    raw = raw.mutate(
        **{
            f"_{name}_value": _number(raw[mapping[name]], decimal=".", thousands="")
            for name in scored
        }
    )

    def score(name: str, low: int, high: int) -> tuple[ir.Value, ir.BooleanValue]:
        if mapping[name] is None:
            return ibis.null("int64"), ibis.literal(False)
        text = _text(raw[mapping[name]])
        value = raw[f"_{name}_value"]
        out_of_range = text.notnull() & (
            value.isnull() | (value != value.round()) | (value < low) | (value > high)
        )
        valid = ibis.cases((out_of_range, ibis.null("int64")), else_=value.round().cast("int64"))
        return valid, out_of_range

    nps, bad_nps = score("nps", 0, 10)
    csat, bad_csat = score("csat", 1, 5)
    checks = [(customer_id.isnull(), "missing_customer_id")]
    if mapping["date"]:
        raw_date = _text(raw[mapping["date"]])
        checks.append((raw_date.notnull() & date.isnull(), "bad_date"))
        if observation_end is not None:
            checks.append((date > ibis.literal(observation_end), "after_observation_end"))
    checks += [
        (bad_nps, "nps_out_of_range"),
        (bad_csat, "csat_out_of_range"),
        (nps.isnull() & csat.isnull(), "no_score"),
    ]
    parsed = raw.mutate(
        **_parsed(customer_id=customer_id, date=date, nps=nps, csat=csat),
        **{_REASON: ibis.cases(*checks, else_=ibis.null("string"))},
    ).cache()
    survey, quality, rejected = _finish_small_source(
        parsed,
        source_raw=source_raw,
        source="survey",
        label=label,
        columns=mapping,
        raw_columns=raw_columns,
        keep=["customer_id", "date", "nps", "csat"],
        pseudonym_key=pseudonym_key,
    )
    survey["date"] = pd.to_datetime(survey["date"])
    survey[["nps", "csat"]] = survey[["nps", "csat"]].astype("Int64")
    return survey, quality, rejected


# --- one client ----------------------------------------------------------------------------


def _plausibility_warnings(params: Params, transactions: ir.Table, customers) -> tuple[str, ...]:
    """What loads but may be wrong, each with its fix (id collisions: `load_transactions`)."""
    found = [plausibility.amount_outliers(transactions)]
    if customers is not None:
        found.append(plausibility.customer_match(transactions, customers))
    return tuple(warning for warning in found if warning)


#: most report sets one run may split a client into (`population_values`)
MAX_POPULATIONS = 30


def population_values(
    params: Params, column: str, *, connection: ibis.BaseBackend | None = None
) -> list[str]:
    """The distinct values of ``column`` among the rows of the params' population, sorted.

    What ``ccnb run --each COLUMN`` runs one report set for. The column is looked up in the
    transactions file, else in the customers file; blank values are left out.

    Parameters
    ----------
    params : Params
        The client's params (their ``filter`` applies).
    column : str
        A column of the transactions or customers file.
    connection : ibis backend, optional
        The engine; opened from ``params.engine`` when None.

    Returns
    -------
    list of str
        The values.

    Raises
    ------
    DataError
        When the column is in neither file, or holds more than `MAX_POPULATIONS` values.
    """
    connection = connection or engine.connect(params.engine)
    raw = _read(connection, params.transactions, "transactions", register_as="population_values")
    if column not in raw.columns:
        if params.customers is None:
            _missing_filter_columns(
                [PopulationFilter(column=column, equals="")],
                raw.columns,
                f"the transactions file {raw.label}",
            )
        raw = _read(connection, params.customers, "customers", register_as="population_values")
        _missing_filter_columns(
            [PopulationFilter(column=column, equals="")],
            raw.columns,
            f"the transactions, nor in the customers file {raw.label}",
        )
    table = raw.table
    own = [condition for condition in params.filter if condition.column in raw.columns]
    table = table.filter(_meets(table, own, connection=connection))
    values = table.select(value=_text(table[column])).distinct().execute()["value"]
    values = sorted(str(value) for value in values.dropna())
    if len(values) > MAX_POPULATIONS:
        raise DataError(
            f"{column!r} holds {len(values):,} values; one report set each is at most "
            f"{MAX_POPULATIONS}: narrow the population with the params' filter, or choose a "
            "column with fewer values"
        )
    return values


def _customers_meeting(params: Params, connection) -> Callable | None:
    """For conditions on customers columns: the ids of the customers file's rows meeting them."""
    source = params.customers
    if source is None:
        return None

    def meeting(conditions: list[PopulationFilter]) -> ir.Table:
        raw = _read(connection, source, "customers", register_as="customers_population")
        _missing_filter_columns(
            conditions, raw.columns, f"the transactions, nor in the customers file {raw.label}"
        )
        table = raw.table
        customer_id = _text(table[source.columns.customer_id])
        if params.normalise_ids:
            customer_id = plausibility.normalise_id(customer_id)
        keep = _meets(table, conditions, connection=connection)
        return table.filter(keep).select(customer_id=customer_id).distinct()

    return meeting


def _within(
    frame: pd.DataFrame, quality: SourceQuality, members: set
) -> tuple[pd.DataFrame, SourceQuality]:
    """Rows of a customers or survey table whose customer is in the population, accounted."""
    inside = frame["customer_id"].isin(members)
    outside = int((~inside).sum())
    kept = frame[inside].reset_index(drop=True)
    return kept, dataclasses.replace(
        quality,
        rows_read=quality.rows_read - outside,
        rows_used=quality.rows_used - outside,
        customers=int(kept["customer_id"].nunique()),
        outside_population=quality.outside_population + outside,
    )


def load_client(params: Params, *, connection: ibis.BaseBackend | None = None) -> ClientData:
    """Load and validate every source of a client.

    Parameters
    ----------
    params
        The client's validated params (see `ccnb.load_params`).
    connection
        The engine; opened from ``params.engine`` when None.

    Returns
    -------
    ClientData
        Validated transactions (in the engine), customers and survey (pandas), the
        data-quality report, and the observation end.
    """
    connection = connection or engine.connect(params.engine)
    key = privacy.pseudonym_key(params.source_file) if params.pseudonymize_ids else None
    transactions, transaction_quality, rejected = load_transactions(
        params.transactions,
        connection=connection,
        observation_end=params.observation_end,
        returns=params.returns,
        pseudonym_key=key,
        normalise_ids=params.normalise_ids,
        population=params.filter,
        customers_meeting=_customers_meeting(params, connection),
    )
    if transaction_quality.rows_used == 0:
        raise DataError(
            f"no usable transactions in {transaction_quality.file}: "
            f"rejected {transaction_quality.rejected}"
        )
    validated = transactions
    transactions, netting = orders.mark_purchases(validated)
    validated.release()  # kept again with the purchase flag
    if transactions.filter(transactions.purchase).count().execute() == 0:
        raise DataError(
            f"no purchase in {transaction_quality.file}: every one of the "
            f"{transaction_quality.rows_used:,} rows used is a return or nets to zero or less; "
            "check the amount column's mapping and sign (returns are negative amounts)"
        )
    observation_end = params.observation_end or transaction_quality.last_date
    sources = [transaction_quality]
    rejected_frames = [rejected]
    customers = survey = None
    if params.customers is not None:
        customers, quality, rejected = load_customers(
            params.customers,
            connection=connection,
            pseudonym_key=key,
            normalise_ids=params.normalise_ids,
        )
        sources.append(quality)
        rejected_frames.append(rejected)
    if params.survey is not None:
        survey, quality, rejected = load_survey(
            params.survey,
            connection=connection,
            observation_end=observation_end,
            pseudonym_key=key,
            normalise_ids=params.normalise_ids,
        )
        sources.append(quality)
        rejected_frames.append(rejected)
    if params.filter:
        # the customers and survey of the population: those with a transaction in it
        members = set(engine.distinct_values(transactions, "customer_id"))
        if customers is not None:
            customers, sources[1] = _within(customers, sources[1], members)
        if survey is not None:
            survey, sources[-1] = _within(survey, sources[-1], members)
    rejected_rows = pd.concat(
        [frame for frame in rejected_frames if not frame.empty] or [rejected_frames[0]],
        ignore_index=True,
    )
    return ClientData(
        transactions=transactions,
        customers=customers,
        survey=survey,
        quality=DataQuality(
            sources=tuple(sources),
            rejected_rows=rejected_rows,
            orders=netting,
            warnings=transaction_quality.warnings
            + _plausibility_warnings(params, transactions, customers),
        ),
        observation_end=observation_end,
        connection=connection,
    )

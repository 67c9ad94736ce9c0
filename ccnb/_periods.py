"""Calendar periods and transaction tables shared by ``ccnb.cohorts`` and ``ccnb.churn``.

The conventions (docs/methodology.md, Cohorts): a purchase is a row `is_purchase` selects;
periods are calendar months ``"M"``, quarters ``"Q"`` or years ``"Y"`` indexed by a single
integer (``year * 12 + month - 1`` for months); rows after ``observation_end`` are ignored; a
period is complete when its last day is on or before ``observation_end``. Transaction-level
work is portable Ibis; :func:`execute` is the one place an expression becomes pandas.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ccnb._checks import require_columns
from ccnb._docstrings import docstring_template

#: calendar periods: month, quarter, year
PERIODS: tuple[str, ...] = ("M", "Q", "Y")
#: channel of customers the customers table does not name
UNKNOWN_CHANNEL = "unknown"


#: descriptions of the parameters shared by ccnb.cohorts and ccnb.churn
period_docstring = docstring_template(
    {
        "transactions": """transactions : ibis.Table or pandas.DataFrame
        Validated transactions (``customer_id``, ``date``, ``amount``; see ``ccnb.data``). A
        pandas frame is wrapped in ``ibis.memtable`` and runs on the default backend.""",
        "observation_end": """observation_end : date-like
        The day the analysis is run as of (inclusive). Later rows are ignored.""",
        "period": """period : {"M", "Q", "Y"}
        Cohort period: calendar month, quarter or year of the first purchase.""",
        "customers": """customers : pandas.DataFrame or ibis.Table, optional
        Customers table with ``customer_id`` and ``acquisition_channel`` (and optionally
        ``acquisition_cost``). Customers missing from it get channel ``"unknown"``.""",
        "acquired_from": """acquired_from : date-like, optional
        Customers first seen before this day are the existing base of the warm-up
        (``ccnb.windows.AnalysisWindows.base_known_from``), not acquisitions: they are left out.""",
        "complete_only": """complete_only : bool
        Report only complete periods (last day on or before ``observation_end``), the default.
        With False the current, partially observed period is reported too.""",
    }
)


def check_period(value: str, *, name: str = "period") -> str:
    if value not in PERIODS:
        raise ValueError(f"{name} must be one of {list(PERIODS)}; got {value!r}")
    return value


def check_days(value: int, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive whole number of days; got {value!r}")
    return int(value)


def observation_end_stamp(value: Any) -> pd.Timestamp:
    if value is None:
        raise ValueError("observation_end is required (the day the analysis is run as of)")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"observation_end is not a date: {value!r} ({error})") from None
    if pd.isna(stamp):
        raise ValueError(f"observation_end is not a date: {value!r}")
    return stamp.normalize()


def date_literal(stamp: pd.Timestamp) -> ir.DateScalar:
    return ibis.literal(stamp.date(), type="date")


def is_purchase(table: ir.Table) -> ir.BooleanValue:
    """The rows that are purchases: ``purchase`` when the table has it, else ``amount >= 0``.

    The validated transactions carry ``purchase`` (`ccnb.orders.mark_purchases`: an order
    cancelled or fully returned is not a purchase); a table built by hand falls back to the
    same-day rule.
    """
    return table.purchase if "purchase" in table.columns else table.amount >= 0


def transactions_table(transactions: Any, observation_end: pd.Timestamp | None) -> ir.Table:
    """Select customer_id, date (date), amount (float64), purchase up to observation_end."""
    if isinstance(transactions, pd.DataFrame):
        table = ibis.memtable(transactions)
    elif isinstance(transactions, ir.Table):
        table = transactions
    else:
        raise TypeError(
            "transactions must be an Ibis table or a pandas DataFrame; "
            f"got {type(transactions).__name__}"
        )
    require_columns(
        table,
        ("customer_id", "date", "amount"),
        what="transactions",
        hint="pass the validated transactions from ccnb.data",
    )
    customer_id = table.customer_id
    if not customer_id.type().is_string():
        customer_id = customer_id.cast("string")
    date = table.date
    if not date.type().is_date():
        date = date.cast("date")
    amount = table.amount
    if not amount.type().is_float64():
        amount = amount.cast("float64")
    table = table.select(
        customer_id=customer_id, date=date, amount=amount, purchase=is_purchase(table)
    )
    if observation_end is not None:
        table = table.filter(table.date <= date_literal(observation_end))
    return table


def period_index(date: ir.DateValue, period: str) -> ir.IntegerValue:
    """Consecutive integer per calendar period (months since year 0, quarters, or the year)."""
    year = date.year().cast("int64")
    if period == "M":
        return year * 12 + date.month().cast("int64") - 1
    if period == "Q":
        return year * 4 + date.quarter().cast("int64") - 1
    return year


def first_purchases(
    tx: ir.Table, *, acquired_from: pd.Timestamp | None = None, acquired_to: Any = None
) -> ir.Table:
    """One row per customer with a purchase: customer_id, first_purchase.

    Customers first seen before ``acquired_from`` (the existing base of the warm-up) or after
    ``acquired_to`` are left out.
    """
    purchases = tx.filter(is_purchase(tx))
    firsts = purchases.group_by("customer_id").aggregate(first_purchase=purchases.date.min())
    if acquired_from is not None:
        firsts = firsts.filter(firsts.first_purchase >= date_literal(pd.Timestamp(acquired_from)))
    if acquired_to is not None:
        firsts = firsts.filter(firsts.first_purchase <= date_literal(pd.Timestamp(acquired_to)))
    return firsts


def customers_table(customers: Any) -> ir.Table:
    """Customers as Ibis: customer_key, acquisition_channel, acquisition_cost (float64)."""
    if isinstance(customers, pd.DataFrame):
        require_columns(
            customers,
            ("customer_id", "acquisition_channel"),
            what="customers",
            hint="pass the customers table from ccnb.data",
        )
        duplicated = customers["customer_id"][customers["customer_id"].duplicated()]
        if len(duplicated):
            raise ValueError(
                f"customers has {duplicated.nunique()} customer_id(s) on more than one row "
                f"(e.g. {list(duplicated.astype(str).unique()[:3])}); keep one row per customer"
            )
        cost = (
            customers["acquisition_cost"]
            if "acquisition_cost" in customers
            else pd.Series(np.nan, index=customers.index)
        )
        frame = pd.DataFrame(
            {
                "customer_key": customers["customer_id"].astype(str).to_numpy(),
                "acquisition_channel": customers["acquisition_channel"].astype("string"),
                "acquisition_cost": pd.to_numeric(cost).astype("float64").to_numpy(),
            }
        )
        schema = {
            "customer_key": "string",
            "acquisition_channel": "string",
            "acquisition_cost": "float64",
        }
        return ibis.memtable(frame, schema=schema)
    if isinstance(customers, ir.Table):
        require_columns(customers, ("customer_id", "acquisition_channel"), what="customers")
        cost = (
            customers.acquisition_cost.cast("float64")
            if "acquisition_cost" in customers.columns
            else ibis.null("float64")
        )
        return customers.select(
            customer_key=customers.customer_id.cast("string"),
            acquisition_channel=customers.acquisition_channel.cast("string"),
            acquisition_cost=cost,
        )
    raise TypeError(
        f"customers must be a pandas DataFrame or an Ibis table; got {type(customers).__name__}"
    )


def with_channel(firsts: ir.Table, customers: Any, *, cost: bool = False) -> ir.Table:
    """Add acquisition_channel ("unknown" when missing) and optionally acquisition_cost."""
    table = customers_table(customers)
    joined = firsts.left_join(table, firsts.customer_id == table.customer_key)
    columns = {name: joined[name] for name in firsts.columns}
    columns["acquisition_channel"] = joined.acquisition_channel.fill_null(UNKNOWN_CHANNEL)
    if cost:
        columns["acquisition_cost"] = joined.acquisition_cost
    return joined.select(**columns)


def execute(expr: ir.Table) -> pd.DataFrame:
    """Run an expression in its engine and return the (small) result as pandas."""
    return expr.to_pandas()


def index_of(stamp: pd.Timestamp, period: str) -> int:
    if period == "M":
        return stamp.year * 12 + stamp.month - 1
    if period == "Q":
        return stamp.year * 4 + (stamp.month - 1) // 3
    return stamp.year


def start_of(index: int, period: str) -> pd.Timestamp:
    index = int(index)
    if period == "M":
        return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)
    if period == "Q":
        return pd.Timestamp(year=index // 4, month=(index % 4) * 3 + 1, day=1)
    return pd.Timestamp(year=index, month=1, day=1)


def end_of(index: int, period: str) -> pd.Timestamp:
    return start_of(int(index) + 1, period) - pd.Timedelta(days=1)


def first_whole_period(acquired_from: Any, period: str) -> pd.Timestamp | None:
    """Start of the first period that begins on or after ``acquired_from`` (None stays None).

    Cohorts start there: a period cut by the warm-up's end would hold only its last days'
    customers.
    """
    if acquired_from is None:
        return None
    stamp = pd.Timestamp(acquired_from)
    index = index_of(stamp, period)
    if start_of(index, period) < stamp:
        index += 1
    return start_of(index, period)


def last_index(observation_end: pd.Timestamp, period: str, *, complete_only: bool) -> int:
    """Index of the last period to report: the last complete one, or the current one."""
    index = index_of(observation_end, period)
    if complete_only and end_of(index, period) > observation_end:
        index -= 1
    return index


def period_starts(indexes: Any, period: str) -> pd.Series:
    """Period start dates (datetime64[ns]) for an array of period indexes."""
    values = [start_of(index, period) for index in np.asarray(indexes, dtype="int64")]
    return pd.Series(pd.DatetimeIndex(values, dtype="datetime64[ns]"))


def period_ends(indexes: Any, period: str) -> pd.Series:
    return period_starts(np.asarray(indexes, dtype="int64") + 1, period) - pd.Timedelta(days=1)


def as_datetime(values: Any) -> pd.Series:
    return pd.Series(pd.to_datetime(values)).astype("datetime64[ns]")


def empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """Divide as float64, with NaN where the denominator is 0 or NaN."""
    numerator = np.asarray(numerator, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out

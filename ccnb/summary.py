"""Transactions -> one row per customer (RFM and BTYD inputs), and the calibration/holdout split.

The customer summary and the RFM inputs (docs/methodology.md, "Customer summary", "Calibration
and holdout"). The reduction is one Ibis
expression executed in the engine; only the per-customer result comes back as pandas.

A *purchase day* is a day with at least one purchase row (`ccnb._periods.is_purchase`: a line
of an order that kept a positive net value, else ``amount >= 0``): several
orders on one day are one purchase, and a day with only returns is not a purchase. BTYD columns
count purchase days and value them at the day's net revenue; returns made on a later day reduce
``revenue`` (RFM) but not the spend of the purchase day. This equals lifetimes'
``summary_data_from_transaction_data(..., freq="D", freq_multiplier=k)`` fed the transactions
without the return-only days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb import engine
from ccnb._periods import is_purchase
from ccnb.formatting import MONEY_DECIMALS

__all__ = [
    "DAYS_PER_UNIT",
    "btyd_inputs_table",
    "calibration_holdout",
    "calibration_purchases",
    "collect_summary",
    "customer_patterns",
    "customer_summary",
    "first_purchase_values",
    "first_purchase_values_table",
    "revenue_between",
    "revenue_between_table",
    "repeat_purchases_by_period",
    "rfm_inputs_table",
    "summary_table",
]

TimeUnit = Literal["D", "W", "M"]
Bucket = Literal["day", "period"]

DAYS_PER_UNIT: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}
"""Length of each BTYD time unit in days."""

_EPOCH_MONDAY_OFFSET = 3  # 1970-01-01 was a Thursday; weeks start on Monday as in pandas 'W'.


def _check_unit(time_unit: str, bucket: str) -> None:
    if time_unit not in DAYS_PER_UNIT:
        raise ValueError(f"time_unit must be one of D, W, M; got {time_unit!r}")
    if bucket not in ("day", "period"):
        raise ValueError(f"bucket must be 'day' or 'period'; got {bucket!r}")


def _period_number(date: ir.DateValue, time_unit: str, bucket: str) -> ir.IntegerValue:
    """Integer index of the purchase bucket a date falls in (days, or calendar periods)."""
    days = date.epoch_days()
    if bucket == "day" or time_unit == "D":
        return days
    if time_unit == "W":
        return ((days + _EPOCH_MONDAY_OFFSET) / 7).floor().cast("int64")
    return date.year() * 12 + date.month() - 1


def _scalar_period(day: dt.date, time_unit: str, bucket: str) -> float:
    """The same index as `_period_number` for one Python date."""
    days = (day - dt.date(1970, 1, 1)).days
    if bucket == "day" or time_unit == "D":
        return days
    if time_unit == "W":
        return (days + _EPOCH_MONDAY_OFFSET) // 7
    return day.year * 12 + day.month - 1


def _units(time_unit: str, bucket: str) -> float:
    """Divisor turning bucket-index differences into time units."""
    return DAYS_PER_UNIT[time_unit] if bucket == "day" else 1.0


def _purchase_buckets(transactions: ir.Table, time_unit: str, bucket: str) -> ir.Table:
    """One row per customer and purchase bucket (a bucket with a row that is not a return)."""
    t = transactions.mutate(bucket=_period_number(transactions.date, time_unit, bucket))
    buckets = t.group_by(["customer_id", "bucket"]).agg(
        value=t.amount.sum(), purchase_rows=is_purchase(t).sum()
    )
    return buckets.filter(buckets.purchase_rows > 0).drop("purchase_rows")


def _btyd(purchases: ir.Table, *, end_bucket: float, units: float) -> ir.Table:
    """frequency, recency, T and the repeat buckets' total value per customer."""
    per_customer = purchases.group_by("customer_id").agg(
        first_bucket=purchases.bucket.min(),
        last_bucket=purchases.bucket.max(),
        purchase_buckets=purchases.count(),
        total_value=purchases.value.sum(),
        first_value=purchases.value.argmin(purchases.bucket),
    )
    frequency = per_customer.purchase_buckets - 1
    return per_customer.select(
        "customer_id",
        "first_bucket",
        "last_bucket",
        frequency=frequency.cast("float64"),
        recency=(per_customer.last_bucket - per_customer.first_bucket).cast("float64") / units,
        T=(ibis.literal(end_bucket) - per_customer.first_bucket).cast("float64") / units,
        repeat_value=per_customer.total_value - per_customer.first_value,
    )


def _days(rows: ir.Table) -> ir.Table:
    """One row per customer and day with rows: net value, purchase or not, order-id lines."""
    purchase = is_purchase(rows)
    return rows.group_by(["customer_id", "date"]).agg(
        value=rows.amount.sum(),
        is_purchase=purchase.any(),
        order_lines=rows.order_id.count(where=purchase),
    )


def _periods(days: ir.Table, time_unit: str) -> ir.Table:
    """One row per customer and calendar period of ``time_unit``, from the customer's days."""
    t = days.mutate(bucket=_period_number(days.date, time_unit, "period"))
    purchase = t.is_purchase
    return t.group_by(["customer_id", "bucket"]).agg(
        value=t.value.sum(),
        is_purchase=purchase.any(),
        purchase_days=purchase.sum(),
        order_lines=t.order_lines.sum(),
        first_purchase=t.date.min(where=purchase),
        last_purchase=t.date.max(where=purchase),
        first_row=t.date.min(),
        last_row=t.date.max(),
    )


def _repeated_lines(rows: ir.Table) -> ir.Table:
    """Per customer, purchase rows repeating the order id of another (more lines of one order).

    Distinct order ids = rows with an order id - repeated lines. Only customers with repeats
    are listed, so joining this small table is cheaper than counting distinct ids per customer.
    """
    lines = rows.filter(is_purchase(rows) & rows.order_id.notnull())
    orders = lines.group_by(["customer_id", "order_id"]).agg(lines=lines.count())
    repeated = orders.filter(orders.lines > 1)
    return repeated.group_by("customer_id").agg(repeated_lines=(repeated.lines - 1).sum())


def _settle_money(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Round money sums so that every engine returns the same numbers.

    Engines add floating-point values in different orders, which changes the last bits of a
    sum; rounding the sums (not the means) far below a cent makes the per-customer tables, and
    everything computed from them (fits, CLV, exports), identical on DuckDB and Spark. A sum
    that cancels to zero may round to -0.0 or 0.0 with the order; adding 0.0 makes it 0.0, so
    the exports do not vary between runs.
    """
    frame[columns] = frame[columns].round(MONEY_DECIMALS) + 0.0
    return frame


def _sorted_frame(table: ir.Table) -> pd.DataFrame:
    """Execute ``table`` into pandas sorted by ``customer_id``, dates as ``datetime64[s]``.

    Ibis' ``execute`` converts column by column (about a second for a million customers);
    Arrow's conversion takes milliseconds (`ccnb.engine.to_arrow`). Sorting the frame costs
    no more than the engine's ``ORDER BY`` and spares Spark a global sort.
    """
    frame = engine.to_arrow(table).to_pandas(date_as_object=False)
    for column, dtype in frame.dtypes.items():
        if dtype.kind == "M":
            frame[column] = frame[column].astype("datetime64[s]")
    return frame.sort_values("customer_id", ignore_index=True)


def _mean_or_zero(total: pd.Series, count: pd.Series) -> pd.Series:
    """Mean value per purchase: total / count, 0 without purchases (as lifetimes)."""
    return (total / count.where(count > 0)).fillna(0.0)


def customer_summary(
    transactions: ir.Table,
    *,
    observation_end: dt.date,
    time_unit: TimeUnit = "W",
    bucket: Bucket = "day",
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with the BTYD and the RFM inputs, measured at ``observation_end``.

    Parameters
    ----------
    transactions
        Validated transactions (Ibis table, columns ``customer_id, date, amount, order_id``).
    observation_end
        The date everything is measured at; later rows are ignored.
    time_unit
        BTYD period: ``"D"`` days, ``"W"`` weeks (days / 7), ``"M"`` months
        (days / (365.25 / 12)).
    bucket
        ``"day"`` (default) counts purchases once per day; ``"period"`` once per calendar
        period of ``time_unit`` (lifetimes' ``freq="W"``), never the default.
    customers
        Optional customers table; adds ``acquisition_channel``.

    Returns
    -------
    pandas.DataFrame
        Sorted by ``customer_id``, columns:

        - ``customer_id``: text;
        - ``frequency``: repeat purchase days (purchase days after the first), float;
        - ``recency``: age at the last purchase (last - first purchase), in ``time_unit``;
        - ``T``: age at ``observation_end`` (end - first purchase), in ``time_unit``;
        - ``monetary_value``: mean net revenue of the repeat purchase days, 0 without repeats;
        - ``days_since_last``: days from the last purchase to ``observation_end`` (RFM
          recency, lower is better);
        - ``orders``: distinct order ids of purchase rows, else purchase days;
        - ``revenue``: net revenue, returns included;
        - ``first_purchase``, ``last_purchase``: dates of the first and last purchase days;
        - ``acquisition_channel``: when ``customers`` is given ("unknown" when not listed).

        A customer whose rows are all returns has no purchase day: kept (RFM counts them) with
        ``frequency`` 0, ``recency`` 0 and dates of their first and last rows.
    """
    table = summary_table(
        transactions, observation_end=observation_end, time_unit=time_unit, bucket=bucket
    )
    return collect_summary(table, customers=customers)


def collect_summary(table: ir.Table, *, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The customer summary of :func:`summary_table`'s expression, as :func:`customer_summary`.

    For an engine that keeps the summary (`ccnb.engine.keep`) because other steps read it
    where it is too.

    Parameters
    ----------
    table : ibis.Table
        :func:`summary_table`'s expression, kept or not.
    customers : pandas.DataFrame, optional
        Customers table; adds ``acquisition_channel``.

    Returns
    -------
    pandas.DataFrame
        :func:`customer_summary`'s frame.
    """
    result = _settle_money(_sorted_frame(table), ["repeat_value", "revenue"])
    result.insert(
        result.columns.get_loc("repeat_value"),
        "monetary_value",
        _mean_or_zero(result.pop("repeat_value"), result["frequency"]),
    )
    if customers is not None:
        result = _with_channel(result, customers)
    return result


def rfm_inputs_table(table: ir.Table) -> ir.Table:
    """The customer summary's RFM inputs as a table in the engine, never executed here.

    For a base that stays where the data is (`ccnb.partitioned_segments` on Spark): the same
    values as :func:`customer_summary`'s columns, net revenue settled to
    ``MONEY_DECIMALS`` in the engine as the summary settles it in pandas.

    Parameters
    ----------
    table : ibis.Table
        :func:`summary_table`'s expression (whatever its time unit: these columns are in
        days, orders and money).

    Returns
    -------
    ibis.Table
        ``customer_id``, ``days_since_last``, ``orders``, ``revenue``: one row per customer,
        in no particular order.
    """
    return table.select(
        "customer_id",
        "days_since_last",
        "orders",
        revenue=table.revenue.round(MONEY_DECIMALS) + 0.0,
    )


def btyd_inputs_table(table: ir.Table) -> ir.Table:
    """The customer summary's model inputs as a table in the engine, never executed here.

    For predictions made where the customers are (`ccnb.clv.partitioned.predict_on_spark`):
    :func:`customer_summary`'s ``frequency``, ``recency``, ``T`` and ``monetary_value`` (the
    repeat purchases' value settled to ``MONEY_DECIMALS`` in the engine, then its mean).

    Parameters
    ----------
    table : ibis.Table
        :func:`summary_table`'s expression, in the time unit the models were fitted in.

    Returns
    -------
    ibis.Table
        ``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary_value``: one row per
        customer, in no particular order.
    """
    repeat_value = table.repeat_value.round(MONEY_DECIMALS) + 0.0
    return table.select(
        "customer_id",
        "frequency",
        "recency",
        "T",
        monetary_value=ibis.cases((table.frequency > 0, repeat_value / table.frequency), else_=0.0),
    )


def customer_patterns(table: ir.Table, *, columns: Sequence[str]) -> pd.DataFrame:
    """The distinct values of ``columns`` among the customers, and how many customers share each.

    What a model fit needs of a base that stays where the data is: a BTYD fit is a sum over
    customers of a term that depends on (``frequency``, ``recency``, ``T``) alone, so the
    engine groups the customers and only the distinct patterns come back
    (`ccnb.clv.fit_purchases` and `ccnb.clv.fit_spend` with ``weights="customers"``).

    Parameters
    ----------
    table : ibis.Table
        One row per customer, e.g. :func:`btyd_inputs_table`'s.
    columns : sequence of str
        The columns whose combinations are counted.

    Returns
    -------
    pandas.DataFrame
        ``columns`` and ``customers`` (int64), one row per distinct combination, sorted by
        ``columns`` in order.
    """
    columns = list(columns)
    if not columns:
        raise ValueError("customer_patterns needs at least one column")
    grouped = table.group_by(columns).agg(customers=table.count())
    frame = engine.to_arrow(grouped).to_pandas()
    return frame.sort_values(columns, ignore_index=True)


def summary_table(
    transactions: ir.Table,
    *,
    observation_end: dt.date,
    time_unit: TimeUnit = "W",
    bucket: Bucket = "day",
) -> ir.Table:
    """:func:`customer_summary` as an engine expression: nothing runs here.

    Keep it in the engine (`ccnb.engine.keep`) when several steps read it: the driver's
    summary (:func:`collect_summary`), the RFM inputs (:func:`rfm_inputs_table`) and the model
    inputs (:func:`btyd_inputs_table`) then aggregate the transactions once.

    Parameters
    ----------
    transactions, observation_end, time_unit, bucket
        As :func:`customer_summary` takes them.

    Returns
    -------
    ibis.Table
        :func:`customer_summary`'s columns before it settles money, with ``repeat_value``
        (the repeat purchase days' net value) in place of ``monetary_value``; one row per
        customer, in no particular order.
    """
    _check_unit(time_unit, bucket)
    cut = transactions.filter(transactions.date <= ibis.literal(observation_end))
    units = _units(time_unit, bucket)
    end_bucket = _scalar_period(observation_end, time_unit, bucket)
    # The expensive steps are the high-cardinality aggregates per customer and day and per
    # customer and order id, so everything (BTYD and RFM) is derived from the first, one
    # aggregate per customer, and the few order ids that have several lines.
    days = _days(cut)
    days_are_buckets = bucket == "day" or time_unit == "D"
    if days_are_buckets:  # a bucket is a date: its first and last rows are on that date
        buckets = days
        first_purchase = last_purchase = first_row = last_row = buckets.date
        counts = {}
    else:
        buckets = _periods(days, time_unit)
        first_purchase, last_purchase = buckets.first_purchase, buckets.last_purchase
        first_row, last_row = buckets.first_row, buckets.last_row
        counts = {"purchase_days": buckets.purchase_days.sum()}
    purchase = buckets.is_purchase
    per_customer = buckets.group_by("customer_id").agg(
        revenue=buckets.value.sum(),
        purchase_buckets=purchase.sum(),
        total_value=buckets.value.sum(where=purchase),
        # purchase buckets are ordered as their first purchase dates
        first_value=engine.value_at_first(buckets.value, first_purchase, where=purchase),
        first_purchase=ibis.coalesce(first_purchase.min(where=purchase), first_row.min()),
        last_purchase=ibis.coalesce(last_purchase.max(where=purchase), last_row.max()),
        order_lines=buckets.order_lines.sum(),
        **counts,
    )
    repeats = _repeated_lines(cut)
    joined = per_customer.left_join(repeats, per_customer.customer_id == repeats.customer_id)
    order_ids = joined.order_lines - joined.repeated_lines.fill_null(0)
    purchase_days = joined.purchase_buckets if days_are_buckets else joined.purchase_days
    frequency = joined.purchase_buckets - 1
    has_purchase = joined.purchase_buckets > 0
    first_bucket = _period_number(joined.first_purchase, time_unit, bucket)
    last_bucket = _period_number(joined.last_purchase, time_unit, bucket)
    days_since_last = ibis.literal(observation_end).delta(joined.last_purchase, unit="day")
    # Customers with returns only have no purchase day: first_purchase is their first row.
    age = (ibis.literal(end_bucket) - first_bucket).cast("float64") / units
    summary = joined.select(
        customer_id=per_customer.customer_id,
        frequency=ibis.cases((has_purchase, frequency.cast("float64")), else_=0.0),
        recency=ibis.cases(
            (has_purchase, (last_bucket - first_bucket).cast("float64") / units),
            else_=0.0,
        ),
        T=age,
        repeat_value=ibis.cases(
            (frequency > 0, joined.total_value - joined.first_value), else_=0.0
        ),
        days_since_last=days_since_last.cast("int64"),
        orders=ibis.cases((order_ids > 0, order_ids), else_=purchase_days).cast("int64"),
        revenue=joined.revenue.cast("float64"),
        first_purchase=joined.first_purchase,
        last_purchase=joined.last_purchase,
    )
    return summary


def _with_channel(summary: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    channels = customers.set_index("customer_id")["acquisition_channel"]
    summary["acquisition_channel"] = (
        summary["customer_id"].map(channels).fillna("unknown").astype("string")
    )
    return summary


def calibration_purchases(transactions: ir.Table, *, calibration_end: dt.date) -> ir.Table:
    """The purchase rows up to ``calibration_end``: their customers are the calibration cohort.

    The customers of `calibration_holdout` and of `repeat_purchases_by_period`, e.g. to draw
    the validation's sample from (`ccnb.customer_sample.plan_sample`).
    """
    return transactions.filter(
        (transactions.date <= ibis.literal(calibration_end)) & is_purchase(transactions)
    )


def calibration_holdout(
    transactions: ir.Table,
    *,
    calibration_end: dt.date,
    observation_end: dt.date,
    time_unit: TimeUnit = "W",
    bucket: Bucket = "day",
) -> pd.DataFrame:
    """Calibration-period BTYD inputs and holdout-period outcomes, per customer.

    Customers are those with a purchase on or before ``calibration_end``; the holdout is
    ``calibration_end < date <= observation_end``. Works without spend data too (monetary
    columns are then 0), unlike lifetimes' own function on this stack.

    Parameters
    ----------
    transactions
        Validated transactions (Ibis table).
    calibration_end
        Last day of the calibration period (inclusive).
    observation_end
        Last day of the holdout period (inclusive).
    time_unit
        BTYD period (``"D"``, ``"W"``, ``"M"``).
    bucket
        Purchase counting, as in `customer_summary`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted), columns as lifetimes'
        ``calibration_and_holdout_data``: ``frequency_cal``, ``recency_cal``, ``T_cal``,
        ``monetary_value_cal`` (as in `customer_summary`, measured at ``calibration_end``),
        ``frequency_holdout`` (purchase days in the holdout), ``monetary_value_holdout`` (mean
        net revenue of the holdout purchase days, 0 when none), ``duration_holdout`` (holdout
        length in ``time_unit``).
    """
    _check_unit(time_unit, bucket)
    if calibration_end >= observation_end:
        raise ValueError(
            f"calibration_end {calibration_end} must be before observation_end {observation_end}"
        )
    units = _units(time_unit, bucket)
    cal_bucket = _scalar_period(calibration_end, time_unit, bucket)
    end_bucket = _scalar_period(observation_end, time_unit, bucket)
    calibration = transactions.filter(transactions.date <= ibis.literal(calibration_end))
    holdout = transactions.filter(
        (transactions.date > ibis.literal(calibration_end))
        & (transactions.date <= ibis.literal(observation_end))
    )
    cal = _btyd(
        _purchase_buckets(calibration, time_unit, bucket), end_bucket=cal_bucket, units=units
    )
    held = _purchase_buckets(holdout, time_unit, bucket)
    held = held.group_by("customer_id").agg(
        frequency_holdout=held.count().cast("float64"), holdout_value=held.value.sum()
    )
    joined = cal.left_join(held, cal.customer_id == held.customer_id)
    split = joined.select(
        customer_id=cal.customer_id,
        frequency_cal=joined.frequency,
        recency_cal=joined.recency,
        T_cal=joined.T,
        repeat_value=joined.repeat_value,
        frequency_holdout=joined.frequency_holdout.fill_null(0.0),
        holdout_value=joined.holdout_value.fill_null(0.0),
    )
    result = _sorted_frame(split).set_index("customer_id")
    result = _settle_money(result, ["repeat_value", "holdout_value"])
    result.insert(
        3,
        "monetary_value_cal",
        _mean_or_zero(result.pop("repeat_value"), result["frequency_cal"]),
    )
    result["monetary_value_holdout"] = _mean_or_zero(
        result.pop("holdout_value"), result["frequency_holdout"]
    )
    result["duration_holdout"] = (end_bucket - cal_bucket) / units
    return result


def repeat_purchases_by_period(
    transactions: ir.Table,
    *,
    calibration_end: dt.date,
    observation_end: dt.date,
    time_unit: TimeUnit = "W",
) -> pd.DataFrame:
    """Repeat purchase days per period of the calibration cohort, for the tracking plot.

    The cohort is every customer with a purchase on or before ``calibration_end``; a repeat
    purchase is any purchase day after the customer's first. Periods are counted from the
    first purchase day in the data (period 1 covers its first ``time_unit``).

    Parameters
    ----------
    transactions
        Validated transactions (Ibis table).
    calibration_end
        End of the calibration period (defines the cohort).
    observation_end
        End of the holdout period.
    time_unit
        Period length (``"D"``, ``"W"``, ``"M"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``period`` (1..n, every period present): ``period_start`` (the date the
        period starts on) and ``repeat_purchases`` (0 when none).
    """
    _check_unit(time_unit, "day")
    cut = transactions.filter(transactions.date <= ibis.literal(observation_end))
    days = _purchase_buckets(cut, "D", "day")
    first = days.group_by("customer_id").agg(first_day=days.bucket.min())
    cohort = first.filter(first.first_day <= _scalar_period(calibration_end, "D", "day"))
    start_day = cohort.first_day.min().execute()
    joined = days.join(cohort, "customer_id")
    repeats = joined.filter(joined.bucket > joined.first_day)
    per_day = repeats.group_by("bucket").agg(purchases=repeats.count()).execute()
    length = DAYS_PER_UNIT[time_unit]
    period = ((per_day["bucket"] - start_day) // length + 1).astype("int64")
    end_day = _scalar_period(observation_end, "D", "day")
    n_periods = int((end_day - start_day) // length + 1)
    counts = per_day.groupby(period)["purchases"].sum()
    periods = pd.RangeIndex(1, n_periods + 1, name="period")
    first_day = dt.date(1970, 1, 1) + dt.timedelta(days=int(start_day))
    return pd.DataFrame(
        {
            "period_start": [first_day + dt.timedelta(days=(p - 1) * length) for p in periods],
            "repeat_purchases": counts.reindex(periods, fill_value=0).astype("int64"),
        },
        index=periods,
    )


def first_purchase_values_table(transactions: ir.Table, *, observation_end: dt.date) -> ir.Table:
    """:func:`first_purchase_values` as an engine expression: nothing runs here.

    Parameters
    ----------
    transactions, observation_end
        As :func:`first_purchase_values` takes them.

    Returns
    -------
    ibis.Table
        ``customer_id``, ``first_purchase`` (a date) and ``first_value`` (the engine's
        number type), one row per customer with a purchase, in no particular order.
    """
    rows = transactions.filter(transactions.date <= ibis.literal(observation_end))
    purchases = rows.filter(is_purchase(rows))
    firsts = purchases.group_by("customer_id").aggregate(first_purchase=purchases.date.min())
    joined = rows.join(firsts, "customer_id")
    on_first_day = joined.filter(joined.date == joined.first_purchase)
    return on_first_day.group_by(["customer_id", "first_purchase"]).aggregate(
        first_value=on_first_day.amount.sum()
    )


def first_purchase_values(transactions: ir.Table, *, observation_end: dt.date) -> pd.DataFrame:
    """What each customer spent on their first purchase day, net of that day's returns.

    The first purchase day is the first day with a purchase row (`is_purchase`); its value
    is the net sum of the customer's rows dated that day. Customers with returns only have
    no first purchase and no row.

    Parameters
    ----------
    transactions : ibis.Table
        Validated transactions (``customer_id``, ``date``, ``amount``).
    observation_end : datetime.date
        Rows after it are ignored.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str), ``first_purchase`` (datetime64[ns]), ``first_value``
        (float64), one row per customer with a purchase, sorted by ``customer_id``.
    """
    values = first_purchase_values_table(transactions, observation_end=observation_end)
    table = engine.to_arrow(values).to_pandas()
    table = table.assign(
        customer_id=table["customer_id"].astype(str),
        first_purchase=pd.to_datetime(table["first_purchase"]).astype("datetime64[ns]"),
        first_value=table["first_value"].astype("float64") + 0.0,
    )
    return table.sort_values("customer_id", ignore_index=True)


def revenue_between_table(transactions: ir.Table, *, start: dt.date, end: dt.date) -> ir.Table:
    """:func:`revenue_between` kept in the engine: ``customer_id`` and ``revenue``, unordered."""
    rows = transactions.filter(
        (transactions.date >= ibis.literal(start)) & (transactions.date <= ibis.literal(end))
    )
    return rows.group_by("customer_id").aggregate(revenue=rows.amount.sum())


def revenue_between(transactions: ir.Table, *, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Net revenue per customer of the rows dated from ``start`` to ``end`` (inclusive).

    Parameters
    ----------
    transactions : ibis.Table
        Validated transactions (``customer_id``, ``date``, ``amount``).
    start, end : datetime.date
        First and last day.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (str) and ``revenue`` (float64) for every customer with a row in the
        window, sorted by ``customer_id``; customers without one are absent (revenue 0).
    """
    table = engine.to_arrow(revenue_between_table(transactions, start=start, end=end)).to_pandas()
    table = table.assign(
        customer_id=table["customer_id"].astype(str),
        revenue=table["revenue"].astype("float64") + 0.0,
    )
    return table.sort_values("customer_id", ignore_index=True)

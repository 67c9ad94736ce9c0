"""Acquisition cohorts: retention and revenue triangles, cohorts by channel, same-season cohorts.

Builds the cohort tables of DESIGN.md (notebook 02_cohorts and the layer cake of 00_kpi_overview)
and the period conventions shared with ``ccnb.churn``. Transaction-level work runs as portable
Ibis expressions in the engine (DuckDB by default, PySpark alike); only the small result is pandas.

Conventions used by every function here and in ``ccnb.churn``:

- A *purchase* is a transaction row with ``amount >= 0``; negative rows are returns. Returns
  count towards revenue (net) but never make a customer acquired, active or a repeat buyer, so a
  return shortly after a purchase is not mistaken for a second purchase.
- ``first_purchase`` is the customer's earliest purchase date; the customer's *cohort* is the
  calendar period (month ``"M"``, quarter ``"Q"`` or year ``"Y"``) containing it, labelled by the
  period's first day. Customers with no purchase (only returns) belong to no cohort.
- Rows dated after ``observation_end`` are ignored, so an earlier ``observation_end`` reproduces
  the tables as they looked on that day. A period is *complete* when its last day is on or before
  ``observation_end``; by default only complete periods are reported (``complete_only=True``).
- Cells that cannot be observed yet are NaN, never 0. Counts that may be NaN are float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ccnb._grids import to_triangle

__all__ = [
    "assign_cohorts",
    "cohort_by_channel",
    "layer_cake",
    "retention_triangle",
    "revenue_triangle",
    "seasonal_cohorts",
    "to_triangle",
]

Period = Literal["M", "Q", "Y"]
PERIODS: tuple[str, ...] = ("M", "Q", "Y")
UNKNOWN_CHANNEL = "unknown"
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Docstring pieces shared by the functions of this module and ccnb.churn.
_DOCS = {
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
    "complete_only": """complete_only : bool
        Report only complete periods (last day on or before ``observation_end``), the default.
        With False the current, partially observed period is reported too.""",
}


def _share_docs(func: Callable[..., Any]) -> Callable[..., Any]:
    """Fill the ``{name}`` placeholders of a docstring with the shared pieces in ``_DOCS``."""
    doc = func.__doc__ or ""
    for name, text in _DOCS.items():
        doc = doc.replace("{" + name + "}", text)
    func.__doc__ = doc
    return func


# ---------------------------------------------------------------------------------------------
# Private core shared with ccnb.churn: input checks, period arithmetic, engine expressions.
# ---------------------------------------------------------------------------------------------


def _check_period(value: str, *, name: str = "period") -> str:
    if value not in PERIODS:
        raise ValueError(f"{name} must be one of {list(PERIODS)}; got {value!r}")
    return value


def _check_days(value: int, *, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive whole number of days; got {value!r}")
    return int(value)


def _observation_end(value: Any) -> pd.Timestamp:
    if value is None:
        raise ValueError("observation_end is required (the day the analysis is run as of)")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"observation_end is not a date: {value!r} ({error})") from None
    if pd.isna(stamp):
        raise ValueError(f"observation_end is not a date: {value!r}")
    return stamp.normalize()


def _date_literal(stamp: pd.Timestamp) -> ir.DateScalar:
    return ibis.literal(stamp.date(), type="date")


def _transactions(transactions: Any, observation_end: pd.Timestamp | None) -> ir.Table:
    """Select customer_id, date (date), amount (float64) up to observation_end, as Ibis."""
    if isinstance(transactions, pd.DataFrame):
        table = ibis.memtable(transactions)
    elif isinstance(transactions, ir.Table):
        table = transactions
    else:
        raise TypeError(
            "transactions must be an Ibis table or a pandas DataFrame; "
            f"got {type(transactions).__name__}"
        )
    missing = [
        column for column in ("customer_id", "date", "amount") if column not in table.columns
    ]
    if missing:
        raise ValueError(
            f"transactions lack column(s) {missing}; columns are {list(table.columns)}; "
            "pass the validated transactions from ccnb.data (customer_id, date, amount)"
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
    table = table.select(customer_id=customer_id, date=date, amount=amount)
    if observation_end is not None:
        table = table.filter(table.date <= _date_literal(observation_end))
    return table


def _period_index(date: ir.DateValue, period: str) -> ir.IntegerValue:
    """Consecutive integer per calendar period (months since year 0, quarters, or the year)."""
    year = date.year().cast("int64")
    if period == "M":
        return year * 12 + date.month().cast("int64") - 1
    if period == "Q":
        return year * 4 + date.quarter().cast("int64") - 1
    return year


def _first_purchases(tx: ir.Table) -> ir.Table:
    """One row per customer with a purchase: customer_id, first_purchase."""
    purchases = tx.filter(tx.amount >= 0)
    return purchases.group_by("customer_id").aggregate(first_purchase=purchases.date.min())


def _customers_table(customers: Any) -> ir.Table:
    """Customers as Ibis: customer_key, acquisition_channel, acquisition_cost (float64)."""
    if isinstance(customers, pd.DataFrame):
        missing = [c for c in ("customer_id", "acquisition_channel") if c not in customers]
        if missing:
            raise ValueError(
                f"customers lack column(s) {missing}; columns are {list(customers.columns)}; "
                "pass the customers table from ccnb.data"
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
        missing = [c for c in ("customer_id", "acquisition_channel") if c not in customers.columns]
        if missing:
            raise ValueError(
                f"customers lack column(s) {missing}; columns are {list(customers.columns)}"
            )
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


def _with_channel(firsts: ir.Table, customers: Any, *, cost: bool = False) -> ir.Table:
    """Add acquisition_channel ("unknown" when missing) and optionally acquisition_cost."""
    table = _customers_table(customers)
    joined = firsts.left_join(table, firsts.customer_id == table.customer_key)
    columns = {name: joined[name] for name in firsts.columns}
    columns["acquisition_channel"] = joined.acquisition_channel.fill_null(UNKNOWN_CHANNEL)
    if cost:
        columns["acquisition_cost"] = joined.acquisition_cost
    return joined.select(**columns)


def _execute(expr: ir.Table) -> pd.DataFrame:
    """Run an expression in its engine and return the (small) result as pandas."""
    return expr.to_pandas()


def _index_of(stamp: pd.Timestamp, period: str) -> int:
    if period == "M":
        return stamp.year * 12 + stamp.month - 1
    if period == "Q":
        return stamp.year * 4 + (stamp.month - 1) // 3
    return stamp.year


def _start_of(index: int, period: str) -> pd.Timestamp:
    index = int(index)
    if period == "M":
        return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1)
    if period == "Q":
        return pd.Timestamp(year=index // 4, month=(index % 4) * 3 + 1, day=1)
    return pd.Timestamp(year=index, month=1, day=1)


def _end_of(index: int, period: str) -> pd.Timestamp:
    return _start_of(int(index) + 1, period) - pd.Timedelta(days=1)


def _last_index(observation_end: pd.Timestamp, period: str, *, complete_only: bool) -> int:
    """Index of the last period to report: the last complete one, or the current one."""
    index = _index_of(observation_end, period)
    if complete_only and _end_of(index, period) > observation_end:
        index -= 1
    return index


def _starts(indexes: Any, period: str) -> pd.Series:
    """Period start dates (datetime64[ns]) for an array of period indexes."""
    values = [_start_of(index, period) for index in np.asarray(indexes, dtype="int64")]
    return pd.Series(pd.DatetimeIndex(values, dtype="datetime64[ns]"))


def _ends(indexes: Any, period: str) -> pd.Series:
    return _starts(np.asarray(indexes, dtype="int64") + 1, period) - pd.Timedelta(days=1)


def _as_datetime(values: Any) -> pd.Series:
    return pd.Series(pd.to_datetime(values)).astype("datetime64[ns]")


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


def _ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """Divide as float64, with NaN where the denominator is 0 or NaN."""
    numerator = np.asarray(numerator, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


@_share_docs
def assign_cohorts(
    transactions: Any,
    *,
    period: Period = "M",
    customers: Any = None,
    observation_end: Any = None,
) -> pd.DataFrame:
    """Assign every customer to the acquisition cohort of their first purchase.

    Parameters
    ----------
    {transactions}
    {period}
    {customers}
    observation_end : date-like, optional
        Ignore rows after this day; by default every row is used.

    Returns
    -------
    pandas.DataFrame
        One row per customer with a purchase, sorted by ``cohort`` then ``customer_id``:

        - ``customer_id`` (str)
        - ``first_purchase`` (datetime64[ns]): day of the first purchase (``amount >= 0``).
        - ``cohort`` (datetime64[ns]): first day of the period containing ``first_purchase``.
        - ``acquisition_channel`` (str): only when ``customers`` is given; ``"unknown"`` for
          customers missing from it or with no channel.
    """
    _check_period(period)
    end = None if observation_end is None else _observation_end(observation_end)
    firsts = _first_purchases(_transactions(transactions, end))
    firsts = firsts.mutate(cohort=firsts.first_purchase.truncate(period))
    if customers is not None:
        firsts = _with_channel(firsts, customers)
    result = _execute(firsts)
    result["first_purchase"] = _as_datetime(result["first_purchase"])
    result["cohort"] = _as_datetime(result["cohort"])
    result = result.sort_values(["cohort", "customer_id"], ignore_index=True)
    columns = ["customer_id", "first_purchase", "cohort"]
    if customers is not None:
        columns.append("acquisition_channel")
    return result[columns]


def _cohort_cells(
    transactions: Any,
    *,
    observation_end: Any,
    period: str,
    customers: Any,
    complete_only: bool,
) -> pd.DataFrame:
    """Cohort x age grid: cohort_size, active, revenue; NaN where not observable."""
    _check_period(period)
    end = _observation_end(observation_end)
    tx = _transactions(transactions, end)
    firsts = _first_purchases(tx)
    firsts = firsts.mutate(cohort_index=_period_index(firsts.first_purchase, period))
    keys = ["cohort_index"]
    if customers is not None:
        firsts = _with_channel(firsts, customers)
        keys.append("acquisition_channel")
    rows = tx.join(firsts, "customer_id")
    # A return dated before the first purchase has no age; it is left out.
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(age=_period_index(rows.date, period) - rows.cohort_index)
    cells = rows.group_by([*keys, "age"]).aggregate(
        active=rows.customer_id.nunique(where=rows.amount >= 0),
        revenue=rows.amount.sum(),
    )
    cells = _execute(cells)

    # Every customer buys in their acquisition period, so age-0 activity is the cohort size.
    sizes = cells.loc[cells["age"] == 0, [*keys, "active"]].rename(
        columns={"active": "cohort_size"}
    )
    last = _last_index(end, period, complete_only=complete_only)
    sizes = sizes[sizes["cohort_index"] <= last]
    output_keys = ["cohort", *keys[1:]]
    if sizes.empty:
        return _empty(
            {
                "cohort": "datetime64[ns]",
                **{key: "str" for key in keys[1:]},
                "age": "int64",
                "period": "datetime64[ns]",
                "cohort_size": "int64",
                "active": "float64",
                "revenue": "float64",
            }
        )
    ages = pd.DataFrame({"age": np.arange(last - sizes["cohort_index"].min() + 1, dtype="int64")})
    grid = sizes.merge(ages, how="cross").merge(cells, on=[*keys, "age"], how="left")
    observable = (grid["cohort_index"] + grid["age"] <= last).to_numpy()
    grid["active"] = np.where(observable, grid["active"].fillna(0), np.nan).astype("float64")
    grid["revenue"] = np.where(observable, grid["revenue"].fillna(0.0), np.nan).astype("float64")
    grid["cohort"] = _starts(grid["cohort_index"], period).to_numpy()
    grid["period"] = _starts(grid["cohort_index"] + grid["age"], period).to_numpy()
    grid["age"] = grid["age"].astype("int64")
    grid["cohort_size"] = grid["cohort_size"].astype("int64")
    grid = grid.sort_values([*output_keys, "age"], ignore_index=True)
    return grid[[*output_keys, "age", "period", "cohort_size", "active", "revenue"]]


@_share_docs
def retention_triangle(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "M",
    customers: Any = None,
    complete_only: bool = True,
) -> pd.DataFrame:
    """Share of each acquisition cohort that purchases in each period after acquisition.

    A cohort's cell at age ``a`` is the calendar period ``a`` periods after its acquisition
    period. The cell is observable when that period is complete (or, with
    ``complete_only=False``, when it has started by ``observation_end``); other cells are NaN.
    With ``complete_only=True`` the cohort of the current, partial period is left out because
    its size is not final.

    Parameters
    ----------
    {transactions}
    {observation_end}
    {period}
    {customers}
        When given, each cohort is split by acquisition channel.
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        Tidy grid, one row per cohort (x channel) and age ``0..`` up to the age of the last
        reported period for the oldest cohort, sorted by ``cohort`` (, ``acquisition_channel``)
        and ``age``:

        - ``cohort`` (datetime64[ns]): first day of the acquisition period.
        - ``acquisition_channel`` (str): only when ``customers`` is given.
        - ``age`` (int64): periods since acquisition; 0 is the acquisition period.
        - ``period`` (datetime64[ns]): first day of the calendar period of the cell.
        - ``cohort_size`` (int64): customers acquired in the cohort.
        - ``active`` (float64): cohort customers with at least one purchase in the cell's
          period; NaN when the cell is not observable.
        - ``retention`` (float64): ``active / cohort_size`` (1.0 at age 0); NaN when not
          observable.

    See Also
    --------
    to_triangle : pivot the result to a cohort x age table.
    """
    cells = _cohort_cells(
        transactions,
        observation_end=observation_end,
        period=period,
        customers=customers,
        complete_only=complete_only,
    )
    cells["retention"] = _ratio(cells["active"], cells["cohort_size"])
    return cells.drop(columns="revenue")


@_share_docs
def revenue_triangle(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "M",
    customers: Any = None,
    complete_only: bool = True,
) -> pd.DataFrame:
    """Net revenue of each acquisition cohort per period after acquisition.

    Same grid and observability rule as :func:`retention_triangle`. Revenue is the net sum of
    ``amount`` (returns included) of the cohort's customers in the cell's period.

    Parameters
    ----------
    {transactions}
    {observation_end}
    {period}
    {customers}
        When given, each cohort is split by acquisition channel.
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        Tidy grid sorted by ``cohort`` (, ``acquisition_channel``) and ``age``:

        - ``cohort`` (datetime64[ns]): first day of the acquisition period.
        - ``acquisition_channel`` (str): only when ``customers`` is given.
        - ``age`` (int64): periods since acquisition; 0 is the acquisition period.
        - ``period`` (datetime64[ns]): first day of the calendar period of the cell.
        - ``cohort_size`` (int64): customers acquired in the cohort.
        - ``revenue`` (float64): net revenue of the cohort in the cell; NaN when not
          observable, 0.0 when observable without purchases.
        - ``revenue_per_customer`` (float64): ``revenue / cohort_size`` (per acquired customer,
          active or not).
        - ``cumulative_revenue_per_customer`` (float64): running sum of
          ``revenue_per_customer`` over ages ``0..age``; NaN when not observable.
    """
    cells = _cohort_cells(
        transactions,
        observation_end=observation_end,
        period=period,
        customers=customers,
        complete_only=complete_only,
    )
    keys = [column for column in ("cohort", "acquisition_channel") if column in cells]
    cells["revenue_per_customer"] = cells["revenue"] / cells["cohort_size"]
    # Unobservable cells are always the trailing ages of a cohort, so skipping NaN in the
    # running sum never carries a value past an unobservable cell; mask them anyway.
    cumulative = cells.groupby(keys, sort=False)["revenue_per_customer"].cumsum()
    cells["cumulative_revenue_per_customer"] = cumulative.where(
        cells["revenue_per_customer"].notna()
    ).astype("float64")
    return cells.drop(columns="active")


@_share_docs
def cohort_by_channel(
    transactions: Any,
    customers: Any,
    *,
    observation_end: Any,
    period: Period | None = "M",
    horizon_days: int = 365,
    complete_only: bool = True,
) -> pd.DataFrame:
    """Acquisition channels compared per cohort: size, repeat share and early value.

    Shows which channels bring "one-and-done" customers. Horizon metrics are measured over
    each customer's first ``horizon_days`` days (purchases ``d`` with
    ``first_purchase < d <= first_purchase + horizon_days``, revenue from ``first_purchase`` to
    ``first_purchase + horizon_days`` inclusive) and only over customers observed for the whole
    horizon (``first_purchase + horizon_days <= observation_end``), so young cohorts are not
    penalised for time they have not had. To-date metrics use all customers and every row up
    to ``observation_end``; they grow with cohort age, so compare them within a cohort.

    Parameters
    ----------
    {transactions}
    customers : pandas.DataFrame or ibis.Table
        Customers table with ``customer_id``, ``acquisition_channel`` and optionally
        ``acquisition_cost``. Customers missing from it get channel ``"unknown"``.
    {observation_end}
    period : {"M", "Q", "Y"} or None
        Cohort period; None pools all cohorts into one row per channel.
    horizon_days : int
        Length of the early-value horizon in days (default 365).
    {complete_only}
        Applies to cohorts: the cohort of the current partial period is left out.

    Returns
    -------
    pandas.DataFrame
        One row per cohort and channel, sorted by ``cohort`` then ``acquisition_channel``:

        - ``cohort`` (datetime64[ns]): first day of the acquisition period (absent when
          ``period`` is None).
        - ``acquisition_channel`` (str)
        - ``customers`` (int64): customers acquired.
        - ``eligible`` (int64): of those, customers observed for the whole horizon.
        - ``repeaters`` (int64): eligible customers with a repeat purchase within the horizon.
        - ``repeat_share`` (float64): ``repeaters / eligible``; NaN when none is eligible.
        - ``revenue_per_customer`` (float64): mean net revenue within the horizon per eligible
          customer, first purchase included; NaN when none is eligible.
        - ``repeat_share_to_date`` (float64): share of ``customers`` with a second purchase
          day by ``observation_end``.
        - ``revenue_per_customer_to_date`` (float64): net revenue to ``observation_end`` per
          customer.
        - ``acquisition_cost_per_customer`` (float64): mean ``acquisition_cost`` over the
          customers who have one; NaN when none has.
    """
    if period is not None:
        _check_period(period)
    horizon_days = _check_days(horizon_days, name="horizon_days")
    end = _observation_end(observation_end)
    tx = _transactions(transactions, end)
    firsts = _with_channel(_first_purchases(tx), customers, cost=True)
    keys = ["acquisition_channel"]
    if period is not None:
        firsts = firsts.mutate(cohort_index=_period_index(firsts.first_purchase, period))
        keys = ["cohort_index", *keys]
    horizon = ibis.interval(days=horizon_days)
    rows = tx.join(firsts, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    within = rows.date <= rows.first_purchase + horizon
    repeat = (rows.date > rows.first_purchase) & (rows.amount >= 0)
    per_customer = rows.group_by(["customer_id", "first_purchase", *keys]).aggregate(
        revenue_horizon=rows.amount.sum(where=within),
        revenue_to_date=rows.amount.sum(),
        repeat_horizon=(repeat & within).cast("int64").max(),
        repeat_to_date=repeat.cast("int64").max(),
        acquisition_cost=rows.acquisition_cost.max(),
    )
    eligible = per_customer.first_purchase + horizon <= _date_literal(end)
    per_customer = per_customer.mutate(eligible=eligible.cast("int64"))
    summary = per_customer.group_by(keys).aggregate(
        customers=per_customer.count(),
        eligible=per_customer.eligible.sum(),
        repeaters=(per_customer.eligible * per_customer.repeat_horizon).sum(),
        revenue_horizon=per_customer.revenue_horizon.fill_null(0.0).sum(
            where=per_customer.eligible == 1
        ),
        repeaters_to_date=per_customer.repeat_to_date.sum(),
        revenue_to_date=per_customer.revenue_to_date.sum(),
        acquisition_cost_per_customer=per_customer.acquisition_cost.mean(),
    )
    result = _execute(summary)
    if period is not None:
        last = _last_index(end, period, complete_only=complete_only)
        result = result[result["cohort_index"] <= last].copy()
        result["cohort"] = _starts(result["cohort_index"], period).to_numpy()
    for column in ("customers", "eligible", "repeaters", "repeaters_to_date"):
        result[column] = result[column].fillna(0).astype("int64")
    result["repeat_share"] = _ratio(result["repeaters"], result["eligible"])
    result["revenue_per_customer"] = _ratio(result["revenue_horizon"], result["eligible"])
    result["repeat_share_to_date"] = _ratio(result["repeaters_to_date"], result["customers"])
    result["revenue_per_customer_to_date"] = _ratio(result["revenue_to_date"], result["customers"])
    result["acquisition_cost_per_customer"] = result["acquisition_cost_per_customer"].astype(
        "float64"
    )
    result["acquisition_channel"] = result["acquisition_channel"].astype("str")
    output_keys = ["acquisition_channel"] if period is None else ["cohort", "acquisition_channel"]
    columns = [
        *output_keys,
        "customers",
        "eligible",
        "repeaters",
        "repeat_share",
        "revenue_per_customer",
        "repeat_share_to_date",
        "revenue_per_customer_to_date",
        "acquisition_cost_per_customer",
    ]
    return result.sort_values(output_keys, ignore_index=True)[columns]


def _check_season(season_months: Sequence[int]) -> tuple[int, ...]:
    months = tuple(int(month) for month in season_months)
    consecutive = all(
        later == earlier % 12 + 1 for earlier, later in zip(months, months[1:], strict=False)
    )
    if not months or len(months) > 12 or any(not 1 <= m <= 12 for m in months) or not consecutive:
        raise ValueError(
            "season_months must be consecutive calendar months 1..12 in order, wrapping "
            f"from 12 to 1 if needed (e.g. (11, 12) or (12, 1, 2)); got {season_months!r}"
        )
    return months


def _season_label(season_year: int, months: tuple[int, ...]) -> str:
    first, last = _MONTH_ABBR[months[0] - 1], _MONTH_ABBR[months[-1] - 1]
    if len(months) == 1:
        return f"{first} {season_year}"
    if months[-1] < months[0]:
        return f"{first} {season_year}-{last} {season_year + 1}"
    return f"{first}-{last} {season_year}"


@_share_docs
def seasonal_cohorts(
    transactions: Any,
    *,
    observation_end: Any,
    season_months: Sequence[int] = (11, 12),
    years: Sequence[int] | None = None,
    max_age: int | None = None,
) -> pd.DataFrame:
    """Compare customers acquired in the same season of different years, at the same ages.

    Answers "are the customers acquired in holiday 2013 sticking around longer and buying more
    than those acquired in holiday 2012?". A customer belongs to season-year ``y`` when their
    first purchase falls in one of ``season_months`` of the season starting in year ``y``.
    A season that spans the turn of the year (e.g. ``(12, 1)``) is labelled by the year it
    starts in: December 2023 and January 2024 buyers form season-year 2023,
    ``"Dec 2023-Jan 2024"``.

    Age is counted in calendar months since each customer's acquisition month (0 = the month
    of the first purchase), as in ``retention_triangle(period="M")``; values at age ``k`` cover
    purchases up to the end of that month. A season-year is observed at age ``k`` when the
    month ``k`` months after its last season month is complete, so every one of its customers
    is observed through age ``k``. Only season-years whose season is complete are compared.

    Parameters
    ----------
    {transactions}
    {observation_end}
    season_months : sequence of int
        Consecutive calendar months (1-12) of the season, in order, e.g. ``(11, 12)``.
    years : sequence of int, optional
        Season-years to compare; by default every season-year with a complete season.
    max_age : int, optional
        Largest age to report. By default the largest age at which every compared
        season-year is observed, so all rows are comparable; larger ages are NaN for the
        season-years not yet observed there.

    Returns
    -------
    pandas.DataFrame
        One row per season-year and age ``0..max_age``, sorted by ``season_year`` then ``age``:

        - ``season_year`` (int64): year the season starts in.
        - ``season`` (str): label such as ``"Nov-Dec 2023"``.
        - ``age`` (int64): months since the acquisition month.
        - ``customers`` (int64): customers acquired in the season.
        - ``repeaters`` (float64): customers with a purchase on a later day than their first
          purchase, by the end of age ``age``; NaN when not observed.
        - ``repeat_rate`` (float64): ``repeaters / customers``, the repeat rate within
          ``age`` months; NaN when not observed.
        - ``revenue_per_customer`` (float64): net revenue at age ``age`` per customer; NaN when
          not observed.
        - ``cumulative_revenue_per_customer`` (float64): net revenue from the first purchase
          to the end of age ``age`` per customer; NaN when not observed.
    """
    months = _check_season(season_months)
    end = _observation_end(observation_end)
    tx = _transactions(transactions, end)
    firsts = _first_purchases(tx)
    first_month = firsts.first_purchase.month()
    # Months before the season's first month belong to the season that began the year before.
    season_year = firsts.first_purchase.year().cast("int64") - ibis.ifelse(
        first_month < months[0], 1, 0
    ).cast("int64")
    acquired = firsts.filter(first_month.isin(months)).mutate(
        season_year=season_year,
        first_month_index=_period_index(firsts.first_purchase, "M"),
    )
    rows = tx.join(acquired, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(age=_period_index(rows.date, "M") - rows.first_month_index)
    revenue = _execute(rows.group_by(["season_year", "age"]).aggregate(revenue=rows.amount.sum()))
    repeats = rows.filter((rows.date > rows.first_purchase) & (rows.amount >= 0))
    first_repeat = repeats.group_by(["customer_id", "season_year"]).aggregate(
        first_repeat_age=repeats.age.min()
    )
    repeat_ages = _execute(
        first_repeat.group_by(["season_year", "first_repeat_age"]).aggregate(
            repeaters=first_repeat.count()
        )
    )
    sizes = _execute(acquired.group_by("season_year").aggregate(customers=acquired.count()))

    last_month = _last_index(end, "M", complete_only=True)
    sizes["season_end"] = sizes["season_year"] * 12 + (months[0] - 1) + (len(months) - 1)
    sizes["observed_ages"] = last_month - sizes["season_end"]
    complete = sizes[sizes["observed_ages"] >= 0]
    if years is None:
        chosen = complete
    else:
        wanted = sorted({int(year) for year in years})
        missing = sorted(set(wanted) - set(complete["season_year"]))
        if missing:
            raise ValueError(
                f"no complete season with customers for season-year(s) {missing} as of "
                f"{end.date()}; available: {sorted(complete['season_year'].tolist())}"
            )
        chosen = complete[complete["season_year"].isin(wanted)]
    columns = {
        "season_year": "int64",
        "season": "str",
        "age": "int64",
        "customers": "int64",
        "repeaters": "float64",
        "repeat_rate": "float64",
        "revenue_per_customer": "float64",
        "cumulative_revenue_per_customer": "float64",
    }
    if chosen.empty:
        return _empty(columns)
    if max_age is None:
        max_age = int(chosen["observed_ages"].min())
    elif isinstance(max_age, bool) or not isinstance(max_age, int | np.integer) or max_age < 0:
        raise ValueError(f"max_age must be a whole number >= 0; got {max_age!r}")
    ages = pd.DataFrame({"age": np.arange(int(max_age) + 1, dtype="int64")})
    grid = chosen.merge(ages, how="cross").merge(revenue, on=["season_year", "age"], how="left")
    grid = grid.sort_values(["season_year", "age"], ignore_index=True)
    grid["revenue"] = grid["revenue"].fillna(0.0)
    repeat_counts = ages.merge(
        repeat_ages.rename(columns={"first_repeat_age": "age"}), on="age", how="inner"
    )
    grid = grid.merge(repeat_counts, on=["season_year", "age"], how="left")
    grid["repeaters"] = grid["repeaters"].fillna(0)
    observed = (grid["age"] <= grid["observed_ages"]).to_numpy()
    by_year = grid.groupby("season_year", sort=False)
    grid["cumulative_revenue"] = by_year["revenue"].cumsum()
    grid["repeaters"] = np.where(observed, by_year["repeaters"].cumsum(), np.nan)
    customers_count = grid["customers"].to_numpy(dtype="float64")
    grid["repeat_rate"] = _ratio(grid["repeaters"], customers_count)
    grid["revenue_per_customer"] = np.where(observed, grid["revenue"] / customers_count, np.nan)
    grid["cumulative_revenue_per_customer"] = np.where(
        observed, grid["cumulative_revenue"] / customers_count, np.nan
    )
    grid["season"] = [_season_label(int(year), months) for year in grid["season_year"]]
    return grid[list(columns)].astype(columns)


@_share_docs
def layer_cake(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "Q",
    cohort_period: Period = "Y",
    complete_only: bool = True,
) -> pd.DataFrame:
    """Revenue per calendar period split by acquisition cohort, for the layer-cake chart.

    Each layer is the customers acquired in one cohort (by default one calendar year); the
    height of a layer in a period is their net revenue in it. A growing cake with thin new
    layers means the business lives off old customers.

    Parameters
    ----------
    {transactions}
    {observation_end}
    period : {"M", "Q", "Y"}
        Calendar period of the x axis (default quarter).
    cohort_period : {"M", "Q", "Y"}
        Period that defines a layer (default year of the first purchase).
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        One row per period and every cohort acquired by the period's end, sorted by ``period``
        then ``cohort``:

        - ``period`` (datetime64[ns]): first day of the calendar period.
        - ``cohort`` (datetime64[ns]): first day of the cohort period (1 January for years).
        - ``customers`` (int64): customers of the cohort with a purchase in the period.
        - ``revenue`` (float64): their net revenue in the period (0.0 when none).

        Returns of customers without any purchase belong to no cohort and are not included.
    """
    _check_period(period)
    _check_period(cohort_period, name="cohort_period")
    end = _observation_end(observation_end)
    tx = _transactions(transactions, end)
    firsts = _first_purchases(tx)
    firsts = firsts.mutate(cohort_index=_period_index(firsts.first_purchase, cohort_period))
    rows = tx.join(firsts, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(period_index=_period_index(rows.date, period))
    cells = _execute(
        rows.group_by(["period_index", "cohort_index"]).aggregate(
            customers=rows.customer_id.nunique(where=rows.amount >= 0),
            revenue=rows.amount.sum(),
        )
    )
    columns = {
        "period": "datetime64[ns]",
        "cohort": "datetime64[ns]",
        "customers": "int64",
        "revenue": "float64",
    }
    last = _last_index(end, period, complete_only=complete_only)
    cells = cells[cells["period_index"] <= last]
    if cells.empty:
        return _empty(columns)
    periods = pd.DataFrame(
        {"period_index": np.arange(cells["period_index"].min(), last + 1, dtype="int64")}
    )
    periods["period"] = _starts(periods["period_index"], period)
    periods["period_end"] = _ends(periods["period_index"], period)
    cohorts = pd.DataFrame({"cohort_index": np.sort(cells["cohort_index"].unique())})
    cohorts["cohort"] = _starts(cohorts["cohort_index"], cohort_period)
    grid = periods.merge(cohorts, how="cross")
    grid = grid[grid["cohort"] <= grid["period_end"]]
    grid = grid.merge(cells, on=["period_index", "cohort_index"], how="left")
    grid["customers"] = grid["customers"].fillna(0)
    grid["revenue"] = grid["revenue"].fillna(0.0)
    grid = grid.sort_values(["period", "cohort"], ignore_index=True)
    return grid[list(columns)].astype(columns)

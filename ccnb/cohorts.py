"""Acquisition cohorts: retention and revenue triangles, cohorts by channel, same-season cohorts.

Builds the cohort tables of docs/methodology.md, "Cohorts" (notebook 02_cohorts and the layer cake
of 00_kpi_overview) and the period conventions shared with ``ccnb.churn``. Transaction-level work
runs as portable Ibis expressions in the engine (DuckDB by default, PySpark alike); only the small
result is pandas.

Conventions used by every function here and in ``ccnb.churn``:

- A *purchase* is a row the validated transactions mark ``purchase`` (``ccnb.orders``: a line
  of an order that kept a positive net value; ``amount >= 0`` for a table without the column).
  Returns count towards revenue (net) but never make a customer acquired, active or a repeat
  buyer, so a return shortly after a purchase is not mistaken for a second purchase.
- ``first_purchase`` is the customer's earliest purchase date; the customer's *cohort* is the
  calendar period (month ``"M"``, quarter ``"Q"`` or year ``"Y"``) containing it, labelled by the
  period's first day. Customers with no purchase (only returns) belong to no cohort.
- Rows dated after ``observation_end`` are ignored, so an earlier ``observation_end`` reproduces
  the tables as they looked on that day. A period is *complete* when its last day is on or before
  ``observation_end``; by default only complete periods are reported (``complete_only=True``).
- Cells that cannot be observed yet are NaN, never 0. Counts that may be NaN are float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import ibis
import numpy as np
import pandas as pd

from ccnb import _periods
from ccnb._grids import to_triangle

__all__ = [
    "assign_cohorts",
    "cohort_by_channel",
    "layer_cake",
    "new_customers_by_channel",
    "repeat_share_gap",
    "newest_layer_share",
    "retention_at_age",
    "retention_triangle",
    "revenue_triangle",
    "seasonal_cohorts",
    "to_triangle",
]

Period = Literal["M", "Q", "Y"]
PERIODS = _periods.PERIODS
UNKNOWN_CHANNEL = _periods.UNKNOWN_CHANNEL
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------------------------------------
# Private core shared with ccnb.churn: input checks, period arithmetic, engine expressions.
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


@_periods.period_docstring
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
        - ``first_purchase`` (datetime64[ns]): day of the first purchase.
        - ``cohort`` (datetime64[ns]): first day of the period containing ``first_purchase``.
        - ``acquisition_channel`` (str): only when ``customers`` is given; ``"unknown"`` for
          customers missing from it or with no channel.
    """
    _periods.check_period(period)
    end = None if observation_end is None else _periods.observation_end_stamp(observation_end)
    firsts = _periods.first_purchases(_periods.transactions_table(transactions, end))
    firsts = firsts.mutate(cohort=firsts.first_purchase.truncate(period))
    if customers is not None:
        firsts = _periods.with_channel(firsts, customers)
    result = _periods.execute(firsts)
    result["first_purchase"] = _periods.as_datetime(result["first_purchase"])
    result["cohort"] = _periods.as_datetime(result["cohort"])
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
    acquired_from: Any,
) -> pd.DataFrame:
    """Cohort x age grid: cohort_size, active, revenue; NaN where not observable."""
    _periods.check_period(period)
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    firsts = _periods.first_purchases(
        tx, acquired_from=_periods.first_whole_period(acquired_from, period)
    )
    firsts = firsts.mutate(cohort_index=_periods.period_index(firsts.first_purchase, period))
    keys = ["cohort_index"]
    if customers is not None:
        firsts = _periods.with_channel(firsts, customers)
        keys.append("acquisition_channel")
    rows = tx.join(firsts, "customer_id")
    # A return dated before the first purchase has no age; it is left out.
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(age=_periods.period_index(rows.date, period) - rows.cohort_index)
    cells = rows.group_by([*keys, "age"]).aggregate(
        active=rows.customer_id.nunique(where=rows.purchase),
        revenue=rows.amount.sum(),
    )
    cells = _periods.execute(cells)

    # Every customer buys in their acquisition period, so age-0 activity is the cohort size.
    sizes = cells.loc[cells["age"] == 0, [*keys, "active"]].rename(
        columns={"active": "cohort_size"}
    )
    last = _periods.last_index(end, period, complete_only=complete_only)
    sizes = sizes[sizes["cohort_index"] <= last]
    output_keys = ["cohort", *keys[1:]]
    if sizes.empty:
        return _periods.empty_frame(
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
    grid["cohort"] = _periods.period_starts(grid["cohort_index"], period).to_numpy()
    grid["period"] = _periods.period_starts(grid["cohort_index"] + grid["age"], period).to_numpy()
    grid["age"] = grid["age"].astype("int64")
    grid["cohort_size"] = grid["cohort_size"].astype("int64")
    grid = grid.sort_values([*output_keys, "age"], ignore_index=True)
    return grid[[*output_keys, "age", "period", "cohort_size", "active", "revenue"]]


@_periods.period_docstring
def retention_triangle(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "M",
    customers: Any = None,
    complete_only: bool = True,
    acquired_from: Any = None,
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
    {acquired_from}
        Cohorts start with the first period beginning on or after it.

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
        acquired_from=acquired_from,
    )
    cells["retention"] = _periods.ratio(cells["active"], cells["cohort_size"])
    return cells.drop(columns="revenue")


@_periods.period_docstring
def revenue_triangle(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "M",
    customers: Any = None,
    complete_only: bool = True,
    acquired_from: Any = None,
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
    {acquired_from}
        Cohorts start with the first period beginning on or after it.

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
        acquired_from=acquired_from,
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


@_periods.period_docstring
def cohort_by_channel(
    transactions: Any,
    customers: Any,
    *,
    observation_end: Any,
    period: Period | None = "M",
    horizon_days: int = 365,
    complete_only: bool = True,
    acquired_from: Any = None,
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
    {acquired_from}

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
        _periods.check_period(period)
    horizon_days = _periods.check_days(horizon_days, name="horizon_days")
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    if period is not None:
        acquired_from = _periods.first_whole_period(acquired_from, period)
    firsts = _periods.first_purchases(tx, acquired_from=acquired_from)
    firsts = _periods.with_channel(firsts, customers, cost=True)
    keys = ["acquisition_channel"]
    if period is not None:
        firsts = firsts.mutate(cohort_index=_periods.period_index(firsts.first_purchase, period))
        keys = ["cohort_index", *keys]
    horizon = ibis.interval(days=horizon_days)
    rows = tx.join(firsts, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    within = rows.date <= rows.first_purchase + horizon
    repeat = (rows.date > rows.first_purchase) & rows.purchase
    per_customer = rows.group_by(["customer_id", "first_purchase", *keys]).aggregate(
        revenue_horizon=rows.amount.sum(where=within),
        revenue_to_date=rows.amount.sum(),
        repeat_horizon=(repeat & within).cast("int64").max(),
        repeat_to_date=repeat.cast("int64").max(),
        acquisition_cost=rows.acquisition_cost.max(),
    )
    eligible = per_customer.first_purchase + horizon <= _periods.date_literal(end)
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
    result = _periods.execute(summary)
    if period is not None:
        last = _periods.last_index(end, period, complete_only=complete_only)
        result = result[result["cohort_index"] <= last].copy()
        result["cohort"] = _periods.period_starts(result["cohort_index"], period).to_numpy()
    for column in ("customers", "eligible", "repeaters", "repeaters_to_date"):
        result[column] = result[column].fillna(0).astype("int64")
    result["repeat_share"] = _periods.ratio(result["repeaters"], result["eligible"])
    result["revenue_per_customer"] = _periods.ratio(result["revenue_horizon"], result["eligible"])
    result["repeat_share_to_date"] = _periods.ratio(
        result["repeaters_to_date"], result["customers"]
    )
    result["revenue_per_customer_to_date"] = _periods.ratio(
        result["revenue_to_date"], result["customers"]
    )
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


def new_customers_by_channel(
    transactions: Any,
    customers: Any,
    *,
    start: Any,
    end: Any,
    acquired_from: Any = None,
) -> pd.DataFrame:
    """Customers acquired between ``start`` and ``end`` (inclusive), per acquisition channel.

    A customer is acquired on their first purchase day; with ``acquired_from`` (the end of the
    warm-up) a customer first seen before it is the existing base, never an acquisition.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    customers : pandas.DataFrame or ibis.Table
        Customers table with ``customer_id`` and ``acquisition_channel``; customers missing
        from it count under ``"unknown"``.
    start, end : date-like
        The period.
    acquired_from : date-like, optional
        The first day a first purchase counts as an acquisition.

    Returns
    -------
    pandas.DataFrame
        ``acquisition_channel``, ``new_customers`` (int64), one row per channel with an
        acquisition, sorted by channel.
    """
    end = _periods.observation_end_stamp(end)
    tx = _periods.transactions_table(transactions, end)
    start = pd.Timestamp(start)
    if acquired_from is not None:
        start = max(start, pd.Timestamp(acquired_from))
    firsts = _periods.first_purchases(tx, acquired_from=start)
    firsts = _periods.with_channel(firsts, customers)
    counts = firsts.group_by("acquisition_channel").aggregate(new_customers=firsts.count())
    result = _periods.execute(counts)
    result["acquisition_channel"] = result["acquisition_channel"].astype("str")
    result["new_customers"] = result["new_customers"].astype("int64")
    return result.sort_values("acquisition_channel", ignore_index=True)


def repeat_share_gap(table: pd.DataFrame, *, confidence: float = 0.95) -> pd.Series:
    """The channels whose customers came back most and least often, and whether that is chance.

    The gap is the difference of the two repeat shares; its interval is the normal
    approximation for a difference of two independent proportions,
    ``gap +/- z * sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)`` over the eligible customers.
    The gap is ``clear`` when the interval excludes 0: a difference that size is unlikely
    from chance alone between channels that bring the same customers.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`cohort_by_channel` with ``period=None``: ``acquisition_channel``,
        ``eligible``, ``repeat_share``. Channels without an eligible customer are left out.
    confidence : float, default 0.95
        Confidence of the gap's interval.

    Returns
    -------
    pandas.Series
        ``best_channel``, ``best_share``, ``best_eligible``, ``worst_channel``,
        ``worst_share``, ``worst_eligible``, ``gap``, ``gap_low``, ``gap_high``, ``clear``
        and ``confidence``.

    Raises
    ------
    ValueError
        Fewer than two channels have an eligible customer.
    """
    from scipy import stats

    judged = table[table["eligible"] > 0]
    if len(judged) < 2:
        raise ValueError(
            f"{len(judged)} acquisition channel(s) with customers observed for the whole "
            "horizon; a comparison needs two"
        )
    best = judged.loc[judged["repeat_share"].idxmax()]
    worst = judged.loc[judged["repeat_share"].idxmin()]
    gap = float(best["repeat_share"] - worst["repeat_share"])
    variance = sum(
        row["repeat_share"] * (1 - row["repeat_share"]) / row["eligible"] for row in (best, worst)
    )
    half = float(stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(variance))
    return pd.Series(
        {
            "best_channel": str(best["acquisition_channel"]),
            "best_share": float(best["repeat_share"]),
            "best_eligible": int(best["eligible"]),
            "worst_channel": str(worst["acquisition_channel"]),
            "worst_share": float(worst["repeat_share"]),
            "worst_eligible": int(worst["eligible"]),
            "gap": gap,
            "gap_low": gap - half,
            "gap_high": gap + half,
            "clear": bool(gap - half > 0),
            "confidence": float(confidence),
        }
    )


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


@_periods.period_docstring
def seasonal_cohorts(
    transactions: Any,
    *,
    observation_end: Any,
    season_months: Sequence[int] = (11, 12),
    years: Sequence[int] | None = None,
    max_age: int | None = None,
    acquired_from: Any = None,
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
    {acquired_from}
        A season that starts before it is not compared (its first buyers are partly the
        existing base).

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
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    firsts = _periods.first_purchases(tx)
    first_month = firsts.first_purchase.month()
    # Months before the season's first month belong to the season that began the year before.
    season_year = firsts.first_purchase.year().cast("int64") - ibis.ifelse(
        first_month < months[0], 1, 0
    ).cast("int64")
    acquired = firsts.filter(first_month.isin(months)).mutate(
        season_year=season_year,
        first_month_index=_periods.period_index(firsts.first_purchase, "M"),
    )
    rows = tx.join(acquired, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(age=_periods.period_index(rows.date, "M") - rows.first_month_index)
    revenue = _periods.execute(
        rows.group_by(["season_year", "age"]).aggregate(revenue=rows.amount.sum())
    )
    repeats = rows.filter((rows.date > rows.first_purchase) & rows.purchase)
    first_repeat = repeats.group_by(["customer_id", "season_year"]).aggregate(
        first_repeat_age=repeats.age.min()
    )
    repeat_ages = _periods.execute(
        first_repeat.group_by(["season_year", "first_repeat_age"]).aggregate(
            repeaters=first_repeat.count()
        )
    )
    sizes = _periods.execute(acquired.group_by("season_year").aggregate(customers=acquired.count()))

    last_month = _periods.last_index(end, "M", complete_only=True)
    sizes["season_end"] = sizes["season_year"] * 12 + (months[0] - 1) + (len(months) - 1)
    sizes["observed_ages"] = last_month - sizes["season_end"]
    complete = sizes[sizes["observed_ages"] >= 0]
    if acquired_from is not None:
        season_start = complete["season_year"] * 12 + (months[0] - 1)
        first_month = _periods.index_of(_periods.first_whole_period(acquired_from, "M"), "M")
        complete = complete[season_start >= first_month]
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
        return _periods.empty_frame(columns)
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
    grid["repeat_rate"] = _periods.ratio(grid["repeaters"], customers_count)
    grid["revenue_per_customer"] = np.where(observed, grid["revenue"] / customers_count, np.nan)
    grid["cumulative_revenue_per_customer"] = np.where(
        observed, grid["cumulative_revenue"] / customers_count, np.nan
    )
    grid["season"] = [_season_label(int(year), months) for year in grid["season_year"]]
    return grid[list(columns)].astype(columns)


#: cohort index of the existing base in the layer cake (no calendar period is this early)
_EXISTING_BASE = -1


@_periods.period_docstring
def layer_cake(
    transactions: Any,
    *,
    observation_end: Any,
    period: Period = "Q",
    cohort_period: Period = "Y",
    complete_only: bool = True,
    acquired_from: Any = None,
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
    acquired_from : date-like, optional
        Customers first seen before this day are the existing base of the warm-up: one layer
        of their own (``cohort`` NaT) under the acquisition cohorts.

    Returns
    -------
    pandas.DataFrame
        One row per period and every cohort acquired by the period's end, sorted by ``period``
        then ``cohort``:

        - ``period`` (datetime64[ns]): first day of the calendar period.
        - ``cohort`` (datetime64[ns]): first day of the cohort period (1 January for years);
          NaT for the existing base.
        - ``customers`` (int64): customers of the cohort with a purchase in the period.
        - ``revenue`` (float64): their net revenue in the period (0.0 when none).

        Returns of customers without any purchase belong to no cohort and are not included.
    """
    _periods.check_period(period)
    _periods.check_period(cohort_period, name="cohort_period")
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    firsts = _periods.first_purchases(tx)
    cohort_index = _periods.period_index(firsts.first_purchase, cohort_period)
    if acquired_from is not None:
        existing = firsts.first_purchase < _periods.date_literal(pd.Timestamp(acquired_from))
        cohort_index = ibis.ifelse(existing, _EXISTING_BASE, cohort_index)
    firsts = firsts.mutate(cohort_index=cohort_index)
    rows = tx.join(firsts, "customer_id")
    rows = rows.filter(rows.date >= rows.first_purchase)
    rows = rows.mutate(period_index=_periods.period_index(rows.date, period))
    cells = _periods.execute(
        rows.group_by(["period_index", "cohort_index"]).aggregate(
            customers=rows.customer_id.nunique(where=rows.purchase),
            revenue=rows.amount.sum(),
        )
    )
    columns = {
        "period": "datetime64[ns]",
        "cohort": "datetime64[ns]",
        "customers": "int64",
        "revenue": "float64",
    }
    last = _periods.last_index(end, period, complete_only=complete_only)
    cells = cells[cells["period_index"] <= last]
    if cells.empty:
        return _periods.empty_frame(columns)
    periods = pd.DataFrame(
        {"period_index": np.arange(cells["period_index"].min(), last + 1, dtype="int64")}
    )
    periods["period"] = _periods.period_starts(periods["period_index"], period)
    periods["period_end"] = _periods.period_ends(periods["period_index"], period)
    cohorts = pd.DataFrame({"cohort_index": np.sort(cells["cohort_index"].unique())})
    existing = cohorts["cohort_index"] == _EXISTING_BASE
    placeholder = _periods.index_of(pd.Timestamp("2000-01-01"), cohort_period)
    starts = _periods.period_starts(
        cohorts["cohort_index"].where(~existing, placeholder), cohort_period
    )
    cohorts["cohort"] = starts.where(~existing.to_numpy())
    grid = periods.merge(cohorts, how="cross")
    grid = grid[(grid["cohort"] <= grid["period_end"]) | grid["cohort"].isna()]
    grid = grid.merge(cells, on=["period_index", "cohort_index"], how="left")
    grid["customers"] = grid["customers"].fillna(0)
    grid["revenue"] = grid["revenue"].fillna(0.0)
    grid = grid.sort_values(["period", "cohort"], ignore_index=True, na_position="first")
    return grid[list(columns)].astype(columns)


def retention_at_age(triangle: pd.DataFrame, *, age: int, cohorts: int = 4) -> pd.Series:
    """Retention at one age, pooled over the most recent cohorts observed at that age.

    Parameters
    ----------
    triangle : pandas.DataFrame
        `retention_triangle` output without channels (``cohort``, ``age``, ``cohort_size``,
        ``active``, ``retention``).
    age : int
        Periods since acquisition (4 quarters or 12 months: a year on).
    cohorts : int, default 4
        How many of the latest cohorts observed at ``age`` to pool.

    Returns
    -------
    pandas.Series
        ``age``, ``cohorts`` pooled (0 when no cohort is observed at that age yet), their
        ``cohort_size`` and ``active`` customers at that age, and ``retention`` =
        active / cohort size (NaN when no cohort is pooled).
    """
    observed = triangle[triangle["age"] == age].dropna(subset=["retention"])
    recent = observed.tail(cohorts)
    size, active = recent["cohort_size"].sum(), recent["active"].sum()
    return pd.Series(
        {
            "age": age,
            "cohorts": len(recent),
            "cohort_size": size,
            "active": active,
            "retention": active / size if len(recent) else float("nan"),
        },
        dtype=object,
    )


def newest_layer_share(layers: pd.DataFrame) -> pd.Series:
    """Share of the last period's revenue brought by the newest cohort of a `layer_cake`.

    Parameters
    ----------
    layers : pandas.DataFrame
        `layer_cake` output (``period``, ``cohort``, ``revenue``).

    Returns
    -------
    pandas.Series
        The last ``period``, the newest ``cohort`` in it (NaT when only the existing base
        bought), that cohort's ``revenue``, the period's ``total_revenue`` and ``share`` =
        revenue / total revenue (NaN when the period's net revenue is not positive).
    """
    last_period = layers["period"].max()
    latest = layers[layers["period"] == last_period]
    total = latest["revenue"].sum()
    acquired = latest.dropna(subset=["cohort"])  # NaT is the existing base, never newest
    if acquired.empty:
        cohort, revenue = pd.NaT, 0.0
    else:
        newest = acquired.loc[acquired["cohort"].idxmax()]
        cohort, revenue = newest["cohort"], newest["revenue"]
    return pd.Series(
        {
            "period": last_period,
            "cohort": cohort,
            "revenue": revenue,
            "total_revenue": total,
            "share": revenue / total if total > 0 else float("nan"),
        },
        dtype=object,
    )

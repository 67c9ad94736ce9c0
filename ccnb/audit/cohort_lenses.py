"""Lenses 3 and 4: how a cohort evolves with age, and how cohorts compare, factor by factor.

A cohort's revenue at an age is the product of four factors, exactly:
``revenue = size x active share x orders per active customer x average order value``.
Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ccnb._lazy import lazy_module
from ccnb.audit._activity import _table, _with_keys

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
_periods = lazy_module("ccnb._periods")

__all__ = ["FACTORS", "cohort_comparison", "cohort_evolution"]

#: the factors of a cohort's revenue, in the order of the identity
FACTORS = ("size", "active_share", "orders_per_active", "average_order_value")


def cohort_evolution(
    transactions: Any, *, observation_end: Any, period: str = "Y", acquired_from: Any = None
) -> pd.DataFrame:
    """Each acquisition cohort by age: share active, orders per active, order value, revenue.

    A cohort is the customers whose first purchase falls in one calendar period (from the
    first whole period after ``acquired_from``); age 0 is that period, age k the k-th after
    it. Only complete periods are shown.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    observation_end : date-like
        The day the analysis is run as of.
    period : {"M", "Q", "Y"}
        Cohort and age period.
    acquired_from : date-like, optional
        Start of acquisitions (after the warm-up's existing base).

    Returns
    -------
    pandas.DataFrame
        One row per cohort and age: ``cohort`` (first day of the cohort period), ``age``,
        ``calendar_period`` (first day of the period the age falls in), ``size``,
        ``active`` (customers with a purchase in the period), ``orders``, ``revenue`` (net,
        returns included), and the factors ``active_share``, ``orders_per_active``,
        ``average_order_value`` and ``revenue_per_customer`` (revenue / size).
    """
    _periods.check_period(period)
    end = _periods.observation_end_stamp(observation_end)
    last = _periods.last_index(end, period, complete_only=True)
    start = _periods.first_whole_period(acquired_from, period)
    # per customer and period in the engine, each row with its customer's cohort: only the
    # cohort x age cells come back (on Spark no rows move: they are kept by customer)
    rows = _with_keys(_table(transactions), end)
    purchase_day = ibis.cases((rows.purchase, rows.date), else_=ibis.null("date"))
    rows = rows.mutate(
        first_purchase=purchase_day.min().over(group_by=rows.customer_id),
        period=_periods.period_index(rows.date, period),
    )
    rows = rows.filter(rows.first_purchase.notnull())
    if start is not None:
        rows = rows.filter(rows.first_purchase >= _periods.date_literal(start))
    rows = rows.mutate(cohort=_periods.period_index(rows.first_purchase, period))
    rows = rows.filter((rows.cohort <= last) & (rows.period >= rows.cohort) & (rows.period <= last))
    purchase_order = ibis.cases((rows.purchase, rows.order_key), else_=ibis.null("string"))
    activity = rows.group_by(["customer_id", "cohort", "period"]).agg(
        revenue=rows.amount.sum(), orders=purchase_order.nunique(), bought=rows.purchase.any()
    )
    activity = activity.mutate(age=activity.period - activity.cohort)
    cells = (
        activity.group_by(["cohort", "age"])
        .agg(
            active=activity.bought.cast("int64").sum(),
            orders=activity.orders.sum(),
            revenue=activity.revenue.sum(),
        )
        .to_pandas()
        .astype({"cohort": "int64", "age": "int64", "active": "int64", "orders": "int64"})
    )
    # every customer of a cohort is active at age 0: their first purchase is in it
    sizes = cells[cells["age"] == 0].set_index("cohort")["active"].rename("size").sort_index()
    table = cells.set_index(["cohort", "age"])
    full = pd.MultiIndex.from_tuples(
        [(cohort, age) for cohort in sizes.index for age in range(last - cohort + 1)],
        names=["cohort", "age"],
    )
    table = table.reindex(full, fill_value=0).reset_index()
    table["size"] = table["cohort"].map(sizes).astype("int64")
    table["calendar_period"] = _periods.period_starts(table["cohort"] + table["age"], period)
    table["active_share"] = _periods.ratio(table["active"], table["size"])
    table["orders_per_active"] = _periods.ratio(table["orders"], table["active"])
    table["average_order_value"] = _periods.ratio(table["revenue"], table["orders"])
    table["revenue_per_customer"] = _periods.ratio(table["revenue"], table["size"])
    table["cohort"] = _periods.period_starts(table["cohort"], period)
    columns = [
        "cohort",
        "age",
        "calendar_period",
        "size",
        "active",
        "orders",
        "revenue",
        "active_share",
        "orders_per_active",
        "average_order_value",
        "revenue_per_customer",
    ]
    return table[columns].astype({"age": "int64", "active": "int64", "orders": "int64"})


def cohort_comparison(evolution: pd.DataFrame, *, age: int = 0) -> pd.DataFrame:
    """The latest cohort against the one before, at the same age, factor by factor.

    ``revenue = size x active_share x orders_per_active x average_order_value`` holds for
    each cohort, so the ratio of two cohorts' revenues is the product of the factors'
    ratios, and ``log(revenue ratio)`` the sum of the factors' log ratios: each factor's
    ``contribution`` is its log ratio's share of that sum's parts (absolute values).

    Parameters
    ----------
    evolution : pandas.DataFrame
        `cohort_evolution` output.
    age : int
        The age compared (0: the acquisition period itself).

    Returns
    -------
    pandas.DataFrame
        One row per factor of `FACTORS` and a last row ``revenue``: ``factor``, ``latest``,
        ``previous``, ``ratio`` (latest / previous) and ``log_ratio``; the latest and
        previous cohorts' first days in ``latest_cohort`` and ``previous_cohort``. Empty when
        fewer than two cohorts have reached ``age`` with orders.
    """
    at_age = evolution[(evolution["age"] == age) & (evolution["orders"] > 0)]
    at_age = at_age.sort_values("cohort")
    if len(at_age) < 2:
        return pd.DataFrame(columns=["factor", "latest", "previous", "ratio", "log_ratio"]).astype(
            {"latest": float, "previous": float, "ratio": float, "log_ratio": float}
        )
    latest, previous = at_age.iloc[-1], at_age.iloc[-2]
    rows = []
    for factor in (*FACTORS, "revenue"):
        ratio = latest[factor] / previous[factor] if previous[factor] else np.nan
        rows.append(
            {
                "factor": factor,
                "latest": float(latest[factor]),
                "previous": float(previous[factor]),
                "ratio": float(ratio),
                "log_ratio": float(np.log(ratio)) if ratio and ratio > 0 else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    table["latest_cohort"] = latest["cohort"]
    table["previous_cohort"] = previous["cohort"]
    return table

"""The product lens: which first categories bring the best customers, and where they go next.

Needs the transactions' ``category`` column (params ``transactions.columns.category``).
Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb._lazy import lazy_module
from ccnb.audit._activity import _table, first_purchase_lines

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
_periods = lazy_module("ccnb._periods")
_engine = lazy_module("ccnb.engine")

__all__ = ["ProductLens", "product_lens"]

#: the value a first category is judged by: net revenue in the first days of a customer
VALUE_DAYS = 365


@dataclass(frozen=True)
class ProductLens:
    """What each first-purchase category says about the customers it brings.

    Attributes
    ----------
    categories : pandas.DataFrame
        One row per category, best first by 12-month value: ``category``,
        ``new_customers`` (first purchase in it), ``first_purchase_share``,
        ``revenue_share`` (of all net revenue in the data), ``observed_customers`` (followed
        for their whole first `VALUE_DAYS` days: first purchase by `observed_through`),
        ``value_12m`` (their mean net revenue in their first `VALUE_DAYS` days, first purchase
        included) and ``rclv`` (mean residual CLV of the category's new customers; NaN
        without predictions).
    transitions : pandas.DataFrame
        Repeat buyers by first category (rows) and the category of their second purchase
        day (columns): shares of each row, each row adding up to 1.
    transition_counts : pandas.DataFrame
        The same as counts of customers.
    observed_through : pandas.Timestamp
        The last first-purchase day whose `VALUE_DAYS` days end by the observation end.
    """

    categories: pd.DataFrame
    transitions: pd.DataFrame
    transition_counts: pd.DataFrame
    observed_through: pd.Timestamp


def product_lens(
    transactions: Any,
    *,
    observation_end: Any,
    acquired_from: Any = None,
    rclv: pd.Series | None = None,
) -> ProductLens:
    """First-purchase categories by the value of the customers they bring, and transitions.

    A purchase day's category is the category with the most net purchase value that day
    (ties: alphabetical); a customer's first category is that of their first purchase day,
    their next category that of their second purchase day.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions with ``category``.
    observation_end : date-like
        The day the analysis is run as of.
    acquired_from : date-like, optional
        Customers first seen before this day (the existing base) are left out of the first
        categories (their first purchase in the data is not their first).
    rclv : pandas.Series or ibis.Table, optional
        Residual CLV by customer id; or a table of the transactions' engine with
        ``customer_id`` and ``rclv``, joined to the new customers and averaged by category
        there (no row per customer comes back).

    Returns
    -------
    ProductLens
    """
    table = _table(transactions)
    if "category" not in table.columns:
        raise ValueError("the transactions have no category column")
    end = _periods.observation_end_stamp(observation_end)
    date = table.date if table.date.type().is_date() else table.date.cast("date")
    rows = table.mutate(
        date=date,
        customer_id=table.customer_id.cast("string"),
        category=table.category.fill_null("(none)"),
    )
    rows = rows.filter(rows.date <= _periods.date_literal(end))
    revenue = rows.group_by("category").agg(revenue=rows.amount.cast("float64").sum()).to_pandas()
    observed_through = pd.Timestamp(end) - pd.Timedelta(days=VALUE_DAYS - 1)
    # every step per customer stays in the engine: what comes back is a row per category
    # (and, to average the predictions, each new customer's first category)
    customers = _first_categories(rows, acquired_from=acquired_from)
    value = _value_after_first(
        rows, customers.filter(customers.first_day <= _periods.date_literal(observed_through))
    )
    # kept: the categories, the predictions' average and the transitions each read it
    customers = _engine.keep(
        customers.left_join(value, "customer_id").select(*customers.columns, value_12m=value.value)
    )
    categories = (
        customers.group_by("category")
        .agg(
            new_customers=customers.count(),
            observed_customers=customers.value_12m.count(),
            value_12m=customers.value_12m.mean(),
        )
        .to_pandas()
        .set_index("category")
        .sort_index()
    )
    if rclv is None:
        categories["rclv"] = np.nan
    elif isinstance(rclv, pd.Series):
        # a row per new customer: through Arrow, not a Python row each on Spark
        first = _engine.to_arrow(customers.select("customer_id", "category")).to_pandas()
        by_category = rclv.reindex(first["customer_id"]).groupby(first["category"].to_numpy())
        categories["rclv"] = by_category.mean().reindex(categories.index)
    else:
        values = rclv.select("customer_id", value=rclv.rclv.cast("float64"))
        joined = customers.select("customer_id", "category").left_join(values, "customer_id")
        by_category = joined.group_by("category").agg(rclv=joined.value.mean()).to_pandas()
        categories["rclv"] = by_category.set_index("category")["rclv"].reindex(categories.index)
    categories["first_purchase_share"] = (
        categories["new_customers"] / categories["new_customers"].sum()
    )
    revenue = revenue.set_index("category")
    total = revenue["revenue"].sum()
    categories["revenue_share"] = (revenue["revenue"] / total).reindex(categories.index)
    categories = categories.sort_values(["value_12m", "new_customers"], ascending=False)
    columns = [
        "new_customers",
        "first_purchase_share",
        "revenue_share",
        "observed_customers",
        "value_12m",
        "rclv",
    ]
    categories = categories[columns].rename_axis("category").reset_index()
    repeaters = customers.filter(customers.next_category.notnull())
    pairs = (
        repeaters.group_by(["category", "next_category"])
        .agg(customers=repeaters.count())
        .to_pandas()
    )
    counts = (
        pairs.pivot(index="category", columns="next_category", values="customers")
        .fillna(0)
        .astype("int64")
        .sort_index()
        .sort_index(axis=1)
        .rename_axis(index="first category", columns="next category")
    )
    shares = counts.div(counts.sum(axis=1), axis=0)
    customers.release()
    return ProductLens(
        categories=categories,
        transitions=shares,
        transition_counts=counts,
        observed_through=observed_through,
    )


def _first_categories(rows, *, acquired_from: Any) -> Any:
    """Each new customer's first purchase day, its category and the next purchase day's.

    An engine table: ``customer_id``, ``first_day``, ``category``, ``next_category`` (null
    for a customer with one purchase day). A day's category is the one with the most net
    purchase value that day (ties: alphabetical).
    """
    lines = first_purchase_lines(rows.filter(_periods.is_purchase(rows)))
    daily = lines.group_by(["customer_id", "rank", "date", "category"]).agg(
        value=lines.amount.cast("float64").sum()
    )
    pick = ibis.row_number().over(
        group_by=[daily.customer_id, daily["rank"]],
        order_by=[ibis.desc(daily.value), daily.category],
    )
    chosen = daily.mutate(pick=pick)
    chosen = chosen.filter(chosen.pick == 0)
    first = chosen.filter(chosen["rank"] == 0).select("customer_id", "category", first_day="date")
    if acquired_from is not None:
        first = first.filter(first.first_day >= _periods.date_literal(pd.Timestamp(acquired_from)))
    second = chosen.filter(chosen["rank"] == 1).select(
        next_customer=chosen.customer_id, next_category=chosen.category
    )
    return first.left_join(second, first.customer_id == second.next_customer).select(
        "customer_id", "first_day", "category", "next_category"
    )


def _value_after_first(rows, first: Any) -> Any:
    """Net revenue of each customer of ``first`` in the `VALUE_DAYS` days from ``first_day``."""
    starts = first.select(start_customer=first.customer_id, first_day=first.first_day)
    joined = rows.join(starts, rows.customer_id == starts.start_customer)
    within = joined.filter(
        (joined.date >= joined.first_day)
        & (joined.date < joined.first_day + ibis.interval(days=VALUE_DAYS))
    )
    return within.group_by("customer_id").agg(value=within.amount.cast("float64").sum())

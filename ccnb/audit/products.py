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
from ccnb.audit._activity import _table, first_purchase_days

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
_periods = lazy_module("ccnb._periods")

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
    rclv : pandas.Series, optional
        Residual CLV by customer id.

    Returns
    -------
    ProductLens
    """
    table = _table(transactions)
    if "category" not in table.columns:
        raise ValueError("the transactions have no category column")
    end = _periods.observation_end_stamp(observation_end)
    date = table.date if table.date.type().is_date() else table.date.cast("date")
    rows = table.mutate(date=date, customer_id=table.customer_id.cast("string"))
    rows = rows.filter(rows.date <= _periods.date_literal(end))
    revenue = rows.group_by("category").agg(revenue=rows.amount.cast("float64").sum()).to_pandas()
    purchases = rows.filter(_periods.is_purchase(rows))
    lines = purchases.join(first_purchase_days(purchases), ["customer_id", "date"])
    by_category = (
        lines.group_by(["customer_id", "rank", "date", "category"])
        .agg(value=lines.amount.cast("float64").sum())
        .to_pandas()
    )
    by_category["category"] = by_category["category"].fillna("(none)")
    chosen = by_category.sort_values(
        ["customer_id", "rank", "value", "category"], ascending=[True, True, False, True]
    ).drop_duplicates(["customer_id", "rank"])
    first = chosen[chosen["rank"] == 0].set_index("customer_id")
    second = chosen[chosen["rank"] == 1].set_index("customer_id")["category"]
    first["date"] = pd.to_datetime(first["date"])
    if acquired_from is not None:
        first = first[first["date"] >= pd.Timestamp(acquired_from)]
    first = first.assign(next_category=second.reindex(first.index))

    observed_through = pd.Timestamp(end) - pd.Timedelta(days=VALUE_DAYS - 1)
    observed = first[first["date"] <= observed_through]
    value = _value_after_first(rows, observed["date"])
    first["value_12m"] = value.reindex(first.index)
    first["rclv"] = np.nan if rclv is None else rclv.reindex(first.index).to_numpy()
    grouped = first.groupby("category")
    categories = pd.DataFrame(
        {
            "new_customers": grouped.size(),
            "observed_customers": grouped["value_12m"].count(),
            "value_12m": grouped["value_12m"].mean(),
            "rclv": grouped["rclv"].mean(),
        }
    )
    categories["first_purchase_share"] = categories["new_customers"] / len(first)
    revenue = revenue.assign(category=revenue["category"].fillna("(none)")).set_index("category")
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
    repeaters = first.dropna(subset=["next_category"])
    counts = pd.crosstab(repeaters["category"], repeaters["next_category"])
    counts = counts.rename_axis(index="first category", columns="next category")
    shares = counts.div(counts.sum(axis=1), axis=0)
    return ProductLens(
        categories=categories,
        transitions=shares,
        transition_counts=counts,
        observed_through=observed_through,
    )


def _value_after_first(rows, first_day: pd.Series) -> pd.Series:
    """Net revenue of each customer in the `VALUE_DAYS` days from their first purchase day."""
    if first_day.empty:
        return pd.Series(dtype="float64")
    starts = ibis.memtable(
        pd.DataFrame({"customer_id": first_day.index.astype(str), "first_day": first_day.values})
    )
    starts = starts.mutate(first_day=starts.first_day.cast("date"))
    joined = rows.join(starts, "customer_id")
    within = joined.filter(
        (joined.date >= joined.first_day)
        & (joined.date < joined.first_day + ibis.interval(days=VALUE_DAYS))
    )
    frame = (
        within.group_by("customer_id").agg(value=within.amount.cast("float64").sum()).to_pandas()
    )
    return frame.set_index("customer_id")["value"]

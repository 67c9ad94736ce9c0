"""Customers ranked by what they did: the fallback when no model can predict what they will do.

When the purchase or spend model cannot be fitted, a client still needs to know whom to look
after first. This ranking uses history only: net revenue over the last year of the data, then
recency (the more recent last purchase first), then revenue over the whole history. It makes
no forecast and says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ranking_summary", "value_ranking"]


def value_ranking(
    customers: pd.DataFrame,
    last_year_revenue: pd.DataFrame,
    *,
    active_within_days: int,
) -> pd.DataFrame:
    """Every customer ranked by last year's revenue, then recency, then total revenue.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with ``customer_id``, ``orders``, ``revenue`` and
        ``days_since_last`` (`ccnb.summary.customer_summary`).
    last_year_revenue : pandas.DataFrame
        ``customer_id`` and ``revenue`` over the last year of the data
        (`ccnb.summary.revenue_between`); customers absent had none.
    active_within_days : int
        A customer whose last purchase is fewer days ago than this is active (the churn
        window).

    Returns
    -------
    pandas.DataFrame
        Best first, columns ``rank`` (1 = first), ``customer_id``, ``revenue_last_year``,
        ``revenue``, ``orders``, ``days_since_last`` (days since the last purchase, float;
        NaN for a customer with returns only, who has no purchase to count from) and
        ``active`` (bool).
    """
    missing = {"customer_id", "orders", "revenue", "days_since_last"} - set(customers.columns)
    if missing:
        raise ValueError(f"customers lacks columns {sorted(missing)}")
    if active_within_days <= 0:
        raise ValueError(f"active_within_days must be > 0, got {active_within_days!r}")
    recent = last_year_revenue.set_index("customer_id")["revenue"]
    table = customers[["customer_id", "orders", "revenue", "days_since_last"]].copy()
    table["revenue_last_year"] = table["customer_id"].map(recent).fillna(0.0).astype("float64")
    table["active"] = (table["orders"] > 0) & (table["days_since_last"] < active_within_days)
    table = table.sort_values(
        ["revenue_last_year", "days_since_last", "revenue", "customer_id"],
        ascending=[False, True, False, True],
        kind="stable",
        ignore_index=True,
    )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    # the summary dates a returns-only customer by the return: not a purchase to count from
    table["days_since_last"] = table["days_since_last"].astype("float64").where(table["orders"] > 0)
    columns = ["rank", "customer_id", "revenue_last_year", "revenue", "orders"]
    return table[[*columns, "days_since_last", "active"]]


def ranking_summary(ranking: pd.DataFrame, *, top_share: float = 0.1) -> pd.Series:
    """How concentrated last year's revenue is among the customers who brought it.

    Parameters
    ----------
    ranking : pandas.DataFrame
        Output of :func:`value_ranking`.
    top_share : float, default 0.1
        Share of last year's buyers counted as the top (rounded up to whole customers).

    Returns
    -------
    pandas.Series
        ``buyers_last_year`` (customers with positive revenue in the last year),
        ``revenue_last_year`` (their total), ``top_customers`` (the top ``top_share`` of
        them), ``top_revenue_share`` (their share of that revenue, NaN without buyers).
    """
    if not 0 < top_share <= 1:
        raise ValueError(f"top_share must be in (0, 1], got {top_share!r}")
    revenue = ranking["revenue_last_year"]
    buyers = revenue[revenue > 0]
    top = int(np.ceil(top_share * len(buyers)))
    total = float(buyers.sum())
    return pd.Series(
        {
            "buyers_last_year": len(buyers),
            "revenue_last_year": total,
            "top_customers": top,
            "top_revenue_share": float(buyers.iloc[:top].sum()) / total if total else np.nan,
        }
    )

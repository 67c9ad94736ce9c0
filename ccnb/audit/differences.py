"""Lens 1, how different are the customers: deciles, Lorenz curve, Gini, one-time buyers.

Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb.audit._activity import customer_window

__all__ = ["LORENZ_POINTS", "CustomerDifferences", "customer_differences"]

#: orders per customer shown one by one; more are grouped as "10+"
_MOST_ORDERS_SHOWN = 10

#: the Lorenz curve's points for more buyers than this: the curve at every 0.1% of them (a
#: million buyers' points would make the chart's SVG 25 MB and look the same)
LORENZ_POINTS = 1_001


@dataclass(frozen=True)
class CustomerDifferences:
    """How different the customers who bought in a window are.

    Attributes
    ----------
    deciles : pandas.DataFrame
        One row per decile of net revenue (1 = the top tenth of buyers): ``decile``,
        ``customers``, ``revenue``, ``orders``, ``gross_margin`` and each one's share of the
        buyers' total (``customers_share``, ``revenue_share``, ``orders_share``,
        ``margin_share``).
    lorenz : pandas.DataFrame
        ``customer_share`` and ``revenue_share``: the cumulative share of revenue held by the
        lowest-spending share of buyers, from (0, 0) to (1, 1); a point per buyer, or with
        more buyers than :data:`LORENZ_POINTS` the curve at as many evenly spaced shares
        (exact: the curve is straight between two buyers).
    orders : pandas.Series
        Buyers by number of orders in the window (index 1..9 and "10+").
    gini : float
        Gini coefficient of net revenue per buyer (negative revenue counted as 0).
    top_10_share, top_20_share : float
        Share of the buyers' revenue held by the top 10% and 20% of buyers.
    one_time_share : float
        Share of buyers with a single order in the window.
    buyers : int
        Customers with a purchase in the window.
    returns_only, returns_only_revenue : int, float
        Customers with only returns in the window (not buyers) and their net revenue, which
        the period's revenue includes and the deciles do not.
    start, end : pandas.Timestamp
        The window.
    """

    deciles: pd.DataFrame
    lorenz: pd.DataFrame
    orders: pd.Series
    gini: float
    top_10_share: float
    top_20_share: float
    one_time_share: float
    buyers: int
    returns_only: int
    returns_only_revenue: float
    start: pd.Timestamp
    end: pd.Timestamp


def customer_differences(
    transactions: Any, *, start: Any, end: Any, gross_margin: float
) -> CustomerDifferences:
    """Deciles of buyers by net revenue over a window, with their concentration.

    Buyers are the customers with a purchase in ``[start, end]`` (the KPI page's buyers);
    each one's revenue is their net revenue in the window, returns included. Buyers are
    ranked by revenue (ties by customer id) and cut into ten groups of equal size (the
    first groups one larger when the count does not divide by ten).

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    start, end : date-like
        The window (inclusive), usually the last 12 months.
    gross_margin : float
        Margin on revenue, for the deciles' margin.

    Returns
    -------
    CustomerDifferences
    """
    window = customer_window(transactions, start=start, end=end)
    buyers = window[window["bought"]].sort_values(
        ["revenue", "customer_id"], ascending=[False, True], ignore_index=True
    )
    n = len(buyers)
    if n == 0:
        raise ValueError("no customer bought in the window")
    buyers["decile"] = np.arange(n) * 10 // n + 1
    buyers["gross_margin"] = buyers["revenue"] * gross_margin
    deciles = buyers.groupby("decile").agg(
        customers=("customer_id", "size"),
        revenue=("revenue", "sum"),
        orders=("orders", "sum"),
        gross_margin=("gross_margin", "sum"),
    )
    deciles = deciles.reindex(range(1, 11), fill_value=0).rename_axis("decile").reset_index()
    for column, share in (
        ("customers", "customers_share"),
        ("revenue", "revenue_share"),
        ("orders", "orders_share"),
        ("gross_margin", "margin_share"),
    ):
        total = deciles[column].sum()
        deciles[share] = deciles[column] / total if total else np.nan
    positive = np.sort(np.clip(buyers["revenue"].to_numpy(float), 0, None))
    cumulative = np.concatenate([[0.0], np.cumsum(positive)])
    total = cumulative[-1]
    customer_share = np.arange(n + 1) / n
    revenue_share = cumulative / total if total > 0 else np.full(n + 1, np.nan)
    # Gini: 1 - 2 x the area under the Lorenz curve (trapezoids), from every buyer's point
    gini = float(1 - np.sum(revenue_share[1:] + revenue_share[:-1]) / n)
    if n + 1 > LORENZ_POINTS:
        shares = np.linspace(0.0, 1.0, LORENZ_POINTS)
        revenue_share = np.interp(shares, customer_share, revenue_share)
        customer_share = shares
    lorenz = pd.DataFrame({"customer_share": customer_share, "revenue_share": revenue_share})
    orders = buyers["orders"].clip(upper=_MOST_ORDERS_SHOWN)
    counts = orders.value_counts().reindex(range(1, _MOST_ORDERS_SHOWN + 1), fill_value=0)
    counts.index = [*map(str, range(1, _MOST_ORDERS_SHOWN)), f"{_MOST_ORDERS_SHOWN}+"]
    return CustomerDifferences(
        deciles=deciles,
        lorenz=lorenz,
        orders=counts.rename("customers"),
        gini=gini,
        top_10_share=_top_share(positive, 0.1),
        top_20_share=_top_share(positive, 0.2),
        one_time_share=float((buyers["orders"] == 1).mean()),
        buyers=n,
        returns_only=int((~window["bought"]).sum()),
        returns_only_revenue=float(window.loc[~window["bought"], "revenue"].sum()),
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
    )


def _top_share(ascending: np.ndarray, share: float) -> float:
    """Revenue share of the top ``share`` of buyers (whole customers: the top ceil(n x share))."""
    total = ascending.sum()
    if total <= 0:
        return float("nan")
    top = int(np.ceil(len(ascending) * share))
    return float(ascending[len(ascending) - top :].sum() / total)

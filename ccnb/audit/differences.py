"""Lens 1, how different are the customers: deciles, Lorenz curve, Gini, one-time buyers.

Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ccnb._lazy import lazy_module
from ccnb.audit._activity import customer_window

if TYPE_CHECKING:
    import ibis.expr.types as ir

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
engine = lazy_module("ccnb.engine")

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

    Everything is aggregated in the engine from the buyers' ranks: the driver gets the ten
    deciles, the order counts, a few sums and at most 2,002 values for the Lorenz curve, never
    a row per buyer (on Spark the ranking is one ordered pass without partitions).

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
    window = engine.keep(customer_window(transactions, start=start, end=end))
    try:
        return _differences(window, gross_margin=gross_margin, start=start, end=end)
    finally:
        window.release()


def _differences(
    window: ir.Table, *, gross_margin: float, start: Any, end: Any
) -> CustomerDifferences:
    totals = window.aggregate(
        buyers=window.bought.sum(),
        returns_only=(~window.bought).sum(),
        returns_only_revenue=window.revenue.sum(where=~window.bought),
    ).execute()
    n = int(totals["buyers"].fillna(0).iloc[0])
    if n == 0:
        raise ValueError("no customer bought in the window")
    ranked = engine.keep(_ranked_buyers(window.filter(window.bought), n))
    try:
        return _from_ranks(
            ranked, n, totals.iloc[0], gross_margin=gross_margin, start=start, end=end
        )
    finally:
        ranked.release()


def _from_ranks(
    ranked: ir.Table, n: int, totals: pd.Series, *, gross_margin: float, start: Any, end: Any
) -> CustomerDifferences:
    deciles = _deciles(ranked, gross_margin)
    sums = (
        ranked.aggregate(
            total=ranked.positive.sum(),
            weighted=(ranked.positive * (ranked["rank"] + 1)).sum(),
            top_10=ranked.positive.sum(where=ranked["rank"] < math.ceil(n * 0.1)),
            top_20=ranked.positive.sum(where=ranked["rank"] < math.ceil(n * 0.2)),
            one_time=(ranked.orders == 1).sum(),
        )
        .execute()
        .iloc[0]
    )
    total = float(sums["total"])
    shown = ibis.least(ranked.orders, _MOST_ORDERS_SHOWN)
    counted = ranked.group_by(shown=shown).agg(customers=ranked.count()).execute()
    counts = counted.set_index("shown")["customers"].reindex(
        range(1, _MOST_ORDERS_SHOWN + 1), fill_value=0
    )
    counts.index = [*map(str, range(1, _MOST_ORDERS_SHOWN)), f"{_MOST_ORDERS_SHOWN}+"]
    returns_only_revenue = totals["returns_only_revenue"]
    return CustomerDifferences(
        deciles=deciles,
        lorenz=_lorenz(ranked, n, total),
        orders=counts.astype("int64").rename("customers"),
        # 1 - 2 x the area under the Lorenz curve (trapezoids), with the buyers' rank r from the
        # top: sum_k (L_k + L_(k-1)) = (2 sum_i r_i x_i - total) / total
        gini=float(1 - (2 * sums["weighted"] - total) / (n * total)) if total > 0 else np.nan,
        top_10_share=float(sums["top_10"] / total) if total > 0 else np.nan,
        top_20_share=float(sums["top_20"] / total) if total > 0 else np.nan,
        one_time_share=float(sums["one_time"] / n),
        buyers=n,
        returns_only=int(totals["returns_only"]),
        returns_only_revenue=0.0 if pd.isna(returns_only_revenue) else float(returns_only_revenue),
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
    )


def _ranked_buyers(buyers: ir.Table, n: int) -> ir.Table:
    """The buyers ranked, in the engine.

    Adds ``rank`` (0 = the highest revenue, ties by id), ``decile``, ``positive`` (revenue below
    0 counted as 0) and ``lorenz_step`` (see `_lorenz`).
    """
    rank = ibis.row_number().over(order_by=[buyers.revenue.desc(), buyers.customer_id.asc()])
    ranked = buyers.mutate(rank=rank)
    # a buyer's position from the bottom, 1..n; the Lorenz point j / LORENZ_STEPS holds the
    # lowest floor(j n / LORENZ_STEPS) buyers, so the buyer at p is first in j = ceil(p x
    # LORENZ_STEPS / n)
    position = n - ranked["rank"]
    return ranked.mutate(
        decile=ranked["rank"] * 10 // n + 1,
        positive=ibis.greatest(ranked.revenue, 0.0),
        lorenz_step=(position * _LORENZ_STEPS + n - 1) // n,
    )


def _deciles(ranked: ir.Table, gross_margin: float) -> pd.DataFrame:
    """The ten deciles' customers, revenue, orders and margin, with their shares."""
    deciles = (
        ranked.group_by("decile")
        .agg(customers=ranked.count(), revenue=ranked.revenue.sum(), orders=ranked.orders.sum())
        .execute()
        .set_index("decile")
        .reindex(range(1, 11), fill_value=0)
        .rename_axis("decile")
        .reset_index()
        .astype({"decile": "int64", "customers": "int64", "revenue": "float64", "orders": "int64"})
    )
    deciles["gross_margin"] = deciles["revenue"] * gross_margin
    for column, share in (
        ("customers", "customers_share"),
        ("revenue", "revenue_share"),
        ("orders", "orders_share"),
        ("gross_margin", "margin_share"),
    ):
        total = deciles[column].sum()
        deciles[share] = deciles[column] / total if total else np.nan
    return deciles


#: the Lorenz curve's steps above LORENZ_POINTS - 1 buyers: a point every 0.1% of them
_LORENZ_STEPS = LORENZ_POINTS - 1


def _lorenz(ranked: ir.Table, n: int, total: float) -> pd.DataFrame:
    """The Lorenz curve: a point per buyer, or at every 0.1% of more buyers.

    At share s = j / 1,000 the curve holds the lowest m = floor(s n) buyers' revenue plus the
    fraction s n - m of the next one's (it is straight between two buyers): the engine sums the
    revenue per step j and returns the at most 1,001 buyers after each step's last.
    """
    if n + 1 <= LORENZ_POINTS:
        values = ranked.select("rank", "positive").execute().sort_values("rank")
        ascending = values["positive"].to_numpy(float)[::-1]
        cumulative = np.concatenate([[0.0], np.cumsum(ascending)])
        shares = np.arange(n + 1) / n
    else:
        steps = np.arange(LORENZ_POINTS)
        lowest = steps * n // _LORENZ_STEPS  # buyers below each point, m_j
        per_step = ranked.group_by("lorenz_step").agg(revenue=ranked.positive.sum()).execute()
        step_sums = per_step.set_index("lorenz_step")["revenue"].reindex(steps, fill_value=0.0)
        cumulative = np.cumsum(step_sums.to_numpy(float))  # the lowest m_j buyers' revenue
        # the buyer at position m_j + 1 from the bottom, rank n - m_j - 1 from the top
        wanted = sorted({int(n - m - 1) for m in lowest if m < n})
        nexts = (
            ranked.filter(ranked["rank"].isin(wanted))
            .select("rank", "positive")
            .execute()
            .set_index("rank")["positive"]
        )
        following = np.array(
            [float(nexts[n - m - 1]) if m < n else 0.0 for m in lowest], dtype=float
        )
        cumulative = cumulative + (steps * n / _LORENZ_STEPS - lowest) * following
        shares = steps / _LORENZ_STEPS
    revenue_share = cumulative / total if total > 0 else np.full(len(shares), np.nan)
    return pd.DataFrame({"customer_share": shares, "revenue_share": revenue_share})

"""Lens 2, what changed since last period: customer flows and the revenue bridge.

Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb._lazy import lazy_module
from ccnb.audit._activity import _table, _with_keys

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
_periods = lazy_module("ccnb._periods")

__all__ = ["BRIDGE_STEPS", "FLOW_STATUSES", "RevenueBridge", "revenue_bridge"]

#: the customers of two consecutive periods, by what they did
FLOW_STATUSES = ("retained", "new", "reactivated", "lost")
#: the bridge's steps from the previous period's revenue to the current one's
BRIDGE_STEPS = (
    "previous period",
    "lost customers",
    "retained, spending less",
    "retained, spending more",
    "reactivated customers",
    "new customers",
    "current period",
)


@dataclass(frozen=True)
class RevenueBridge:
    """Customers and revenue of two consecutive periods, and what moved between them.

    Attributes
    ----------
    flows : pandas.DataFrame
        One row per status of `FLOW_STATUSES`: ``status``, ``customers``,
        ``previous_revenue``, ``current_revenue``.
    bridge : pandas.DataFrame
        ``step`` (`BRIDGE_STEPS`) and ``amount``: the previous period's revenue, the changes
        (negative for lost customers and retained customers spending less), and the current
        period's revenue; the changes add up exactly to the difference.
    same_customer_growth : float
        Retained customers' revenue change, relative to their previous revenue.
    previous, current : tuple of pandas.Timestamp
        First and last day of each period.
    """

    flows: pd.DataFrame
    bridge: pd.DataFrame
    same_customer_growth: float
    previous: tuple[pd.Timestamp, pd.Timestamp]
    current: tuple[pd.Timestamp, pd.Timestamp]


def revenue_bridge(
    transactions: Any, *, previous: tuple[Any, Any], current: tuple[Any, Any]
) -> RevenueBridge:
    """Who stayed, came, came back and left between two periods, and the revenue each moved.

    A customer is in a period when they have a transaction in it (a purchase, or a return of
    an earlier one), so the periods' revenues are the KPI page's. Of the customers of either
    period: **retained** are in both; **lost** only in the previous one; **new** had their
    first transaction in the current one; **reactivated** are in the current one, not in the
    previous one, and had a transaction before it.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    previous, current : pair of date-like
        First and last day of each period; the previous one ends before the current one.

    Returns
    -------
    RevenueBridge
    """
    previous = (pd.Timestamp(previous[0]), pd.Timestamp(previous[1]))
    current = (pd.Timestamp(current[0]), pd.Timestamp(current[1]))
    if previous[1] >= current[0]:
        raise ValueError("the previous period must end before the current one starts")
    # one pass over each customer's rows in the engine; only a row per status comes back
    rows = _with_keys(_table(transactions), current[1])
    in_previous = (rows.date >= _periods.date_literal(previous[0])) & (
        rows.date <= _periods.date_literal(previous[1])
    )
    in_current = rows.date >= _periods.date_literal(current[0])
    customers = rows.group_by("customer_id").agg(
        in_previous=in_previous.any(),
        in_current=in_current.any(),
        revenue_previous=rows.amount.sum(where=in_previous).fill_null(0.0),
        revenue_current=rows.amount.sum(where=in_current).fill_null(0.0),
        first_transaction=rows.date.min(),
    )
    customers = customers.filter(customers.in_previous | customers.in_current)
    status = ibis.cases(
        (customers.in_previous & customers.in_current, "retained"),
        (customers.in_previous, "lost"),
        (customers.first_transaction >= _periods.date_literal(current[0]), "new"),
        else_="reactivated",
    )
    change = customers.revenue_current - customers.revenue_previous
    by_status = (
        customers.group_by(status=status)
        .agg(
            customers=customers.count(),
            previous_revenue=customers.revenue_previous.sum(),
            current_revenue=customers.revenue_current.sum(),
            spending_less=change.sum(where=change < 0),
            spending_more=change.sum(where=change > 0),
        )
        .to_pandas()
        .set_index("status")
        .reindex(list(FLOW_STATUSES))
        .fillna(0.0)
        .astype({"customers": "int64"})
    )
    flows = by_status[["customers", "previous_revenue", "current_revenue"]]
    flows = flows.rename_axis("status").reset_index()
    retained = by_status.loc["retained"]
    amounts = [
        by_status["previous_revenue"].sum(),
        0.0 - by_status.loc["lost", "previous_revenue"],  # 0, not -0, when nobody is lost
        retained["spending_less"],
        retained["spending_more"],
        by_status.loc["reactivated", "current_revenue"],
        by_status.loc["new", "current_revenue"],
        by_status["current_revenue"].sum(),
    ]
    bridge = pd.DataFrame({"step": list(BRIDGE_STEPS), "amount": np.asarray(amounts, float)})
    base = retained["previous_revenue"]
    growth = retained["spending_less"] + retained["spending_more"]
    return RevenueBridge(
        flows=flows,
        bridge=bridge,
        same_customer_growth=float(growth / base) if base > 0 else float("nan"),
        previous=previous,
        current=current,
    )

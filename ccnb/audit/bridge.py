"""Lens 2, what changed since last period: customer flows and the revenue bridge.

Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb.audit._activity import customer_window, first_seen

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
    before = customer_window(transactions, start=previous[0], end=previous[1])
    now = customer_window(transactions, start=current[0], end=current[1])
    firsts = first_seen(transactions, observation_end=current[1]).set_index("customer_id")
    both = pd.merge(
        before[["customer_id", "revenue"]],
        now[["customer_id", "revenue"]],
        on="customer_id",
        how="outer",
        suffixes=("_previous", "_current"),
    )
    in_previous = both["revenue_previous"].notna()
    in_current = both["revenue_current"].notna()
    first = both["customer_id"].map(firsts["first_transaction"])
    status = np.select(
        [
            in_previous & in_current,
            in_previous,
            first >= current[0],
        ],
        ["retained", "lost", "new"],
        default="reactivated",
    )
    both["status"] = status
    both = both.fillna({"revenue_previous": 0.0, "revenue_current": 0.0})
    flows = (
        both.groupby("status")
        .agg(
            customers=("customer_id", "size"),
            previous_revenue=("revenue_previous", "sum"),
            current_revenue=("revenue_current", "sum"),
        )
        .reindex(list(FLOW_STATUSES), fill_value=0)
        .rename_axis("status")
        .reset_index()
    )
    retained = both[both["status"] == "retained"]
    change = retained["revenue_current"] - retained["revenue_previous"]
    flow = flows.set_index("status")
    amounts = [
        both["revenue_previous"].sum(),
        -flow.loc["lost", "previous_revenue"],
        change[change < 0].sum(),
        change[change > 0].sum(),
        flow.loc["reactivated", "current_revenue"],
        flow.loc["new", "current_revenue"],
        both["revenue_current"].sum(),
    ]
    bridge = pd.DataFrame({"step": list(BRIDGE_STEPS), "amount": np.asarray(amounts, float)})
    base = retained["revenue_previous"].sum()
    return RevenueBridge(
        flows=flows,
        bridge=bridge,
        same_customer_growth=float(change.sum() / base) if base > 0 else float("nan"),
        previous=previous,
        current=current,
    )

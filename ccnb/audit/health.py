"""Lens 5, how healthy is the base: this period's revenue by when its customers were acquired.

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

__all__ = ["BaseHealth", "base_health"]

#: share of a period's revenue from customers acquired in it above which the business
#: depends on new customers, and below which it rests on its existing ones
DEPENDS_ON_NEW, RESTS_ON_EXISTING = 0.4, 0.2

#: layers that are not an acquisition year
EXISTING_BASE, NO_PURCHASE = "existing base", "returns only"


@dataclass(frozen=True)
class BaseHealth:
    """A period's revenue by acquisition year of its customers (the C3 view).

    Attributes
    ----------
    layers : pandas.DataFrame
        ``layer`` (an acquisition year as text; `EXISTING_BASE` for customers first seen in
        the warm-up, whose acquisition the data does not show; `NO_PURCHASE` for customers
        with only returns), ``customers``, ``revenue`` and ``share`` of the period's revenue,
        oldest layer first; the revenues add up to the period's revenue.
    new_share : float
        Share of the period's revenue from customers whose first purchase is in the period
        (after the warm-up: the existing base is never new).
    unknown_share : float
        Share from customers first seen in the period but inside the warm-up, when the
        warm-up overlaps the period: the data does not show whether they were new (0 when the
        warm-up ends by the period's start). The rest, ``1 - new_share - unknown_share``, is
        from customers first seen before the period.
    verdict : str
        "depends on new customers", "balanced" or "rests on existing customers" (by
        `DEPENDS_ON_NEW` and `RESTS_ON_EXISTING`), or "no new customers" when nobody's first
        purchase is in the period; "undetermined" when the verdicts at ``new_share`` and at
        ``new_share + unknown_share`` (every such customer new) differ.
    start, end : pandas.Timestamp
        The period.
    """

    layers: pd.DataFrame
    new_share: float
    unknown_share: float
    verdict: str
    start: pd.Timestamp
    end: pd.Timestamp


def base_health(
    transactions: Any, *, start: Any, end: Any, acquired_from: Any = None
) -> BaseHealth:
    """Where a period's revenue comes from: customers acquired in it, and in each year before.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    start, end : date-like
        The period (inclusive), usually the last 12 months.
    acquired_from : date-like, optional
        Customers first seen before this day are the existing base of the warm-up.

    Returns
    -------
    BaseHealth
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    # one pass over each customer's rows in the engine; only a row per layer comes back
    rows = _with_keys(_table(transactions), end)
    in_window = rows.date >= _periods.date_literal(start)
    purchase_day = ibis.cases((rows.purchase, rows.date), else_=ibis.null("date"))
    customers = rows.group_by("customer_id").agg(
        in_window=in_window.any(),
        revenue=rows.amount.sum(where=in_window).fill_null(0.0),
        first=purchase_day.min(),
    )
    customers = customers.filter(customers.in_window)
    first = customers.first
    layer = first.year().cast("string")
    # new: first purchase in the period, and not one of the warm-up's existing base; unknown:
    # first seen in the period, but inside the warm-up, where first seen is not acquired
    in_period = (first >= _periods.date_literal(start)).fill_null(False)
    is_new = in_period
    if acquired_from is not None:
        acquired = _periods.date_literal(pd.Timestamp(acquired_from))
        layer = ibis.cases((first < acquired, EXISTING_BASE), else_=layer)
        is_new = in_period & (first >= acquired).fill_null(False)
    layer = ibis.cases((first.isnull(), NO_PURCHASE), else_=layer)
    is_unknown = in_period & ~is_new
    by_layer = (
        customers.group_by(layer=layer)
        .agg(
            customers=customers.count(),
            revenue=customers.revenue.sum(),
            new_revenue=customers.revenue.sum(where=is_new),
            unknown_revenue=customers.revenue.sum(where=is_unknown),
            anyone_new=is_new.any(),
            anyone_in_period=in_period.any(),
        )
        .to_pandas()
        .set_index("layer")
    )
    total = by_layer["revenue"].sum()
    order = sorted(
        by_layer.index,
        key=lambda name: (name != EXISTING_BASE, name == NO_PURCHASE, name),
    )
    layers = by_layer.loc[order, ["customers", "revenue"]].rename_axis("layer").reset_index()
    layers = layers.astype({"layer": "string", "customers": "int64", "revenue": "float64"})
    layers["share"] = layers["revenue"] / total if total else np.nan
    new_share, unknown_share = (
        float(by_layer[column].fillna(0.0).sum() / total) if total else float("nan")
        for column in ("new_revenue", "unknown_revenue")
    )
    anyone_new = bool(by_layer["anyone_new"].fillna(False).any())
    anyone_in_period = bool(by_layer["anyone_in_period"].fillna(False).any())
    lowest = _verdict(new_share, anyone_new=anyone_new)
    highest = _verdict(new_share + unknown_share, anyone_new=anyone_in_period)
    verdict = lowest if lowest == highest else "undetermined"
    return BaseHealth(
        layers=layers,
        new_share=new_share,
        unknown_share=unknown_share,
        verdict=verdict,
        start=start,
        end=end,
    )


def _verdict(new_share: float, *, anyone_new: bool) -> str:
    if not anyone_new:
        return "no new customers"
    if new_share >= DEPENDS_ON_NEW:
        return "depends on new customers"
    if new_share <= RESTS_ON_EXISTING:
        return "rests on existing customers"
    return "balanced"

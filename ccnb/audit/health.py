"""Lens 5, how healthy is the base: this period's revenue by when its customers were acquired.

Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb.audit._activity import customer_window, first_seen

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
    window = customer_window(transactions, start=start, end=end)
    firsts = first_seen(transactions, observation_end=end).set_index("customer_id")
    first = window["customer_id"].map(firsts["first_purchase"])
    layer = first.dt.year.astype("Int64").astype("string")
    if acquired_from is not None:
        layer = layer.mask(first < pd.Timestamp(acquired_from), EXISTING_BASE)
    window["layer"] = layer.fillna(NO_PURCHASE)
    total = window["revenue"].sum()
    layers = window.groupby("layer").agg(
        customers=("customer_id", "size"), revenue=("revenue", "sum")
    )
    order = sorted(
        layers.index,
        key=lambda name: (name != EXISTING_BASE, name == NO_PURCHASE, name),
    )
    layers = layers.loc[order].rename_axis("layer").reset_index()
    layers["share"] = layers["revenue"] / total if total else np.nan
    # new: first purchase in the period, and not one of the warm-up's existing base; unknown:
    # first seen in the period, but inside the warm-up, where first seen is not acquired
    in_period = (first >= start).to_numpy()
    is_new = in_period.copy()
    if acquired_from is not None:
        is_new &= (first >= pd.Timestamp(acquired_from)).to_numpy()
    is_unknown = in_period & ~is_new
    new_share, unknown_share = (
        float(window.loc[rows, "revenue"].sum() / total) if total else float("nan")
        for rows in (is_new, is_unknown)
    )
    lowest = _verdict(new_share, anyone_new=bool(is_new.any()))
    highest = _verdict(new_share + unknown_share, anyone_new=bool(in_period.any()))
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

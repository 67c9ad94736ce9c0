"""Time to second purchase: how soon new customers buy again, with censoring handled.

A customer still inside the window without a second purchase has not "never" repeated: they
are censored at the days observed so far. The share repeating within d days is the
Kaplan-Meier estimate. Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ccnb._lazy import lazy_module
from ccnb.audit._activity import _table, _with_keys, first_purchase_days

# the engine loads on first use: unpickling a stored audit result must not import it
ibis = lazy_module("ibis")
engine = lazy_module("ccnb.engine")
_periods = lazy_module("ccnb._periods")

__all__ = ["repeat_curve", "repeat_timing", "second_purchases"]

#: days after the first purchase at which the share repeating is reported
DEFAULT_DAYS = (30, 60, 90, 180)
#: the horizon of "eventual" repeaters: the share repeating within a year
EVENTUAL_DAYS = 365


def second_purchases(
    transactions: Any,
    *,
    observation_end: Any,
    acquired_from: Any = None,
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each new customer's first purchase day and the days until a purchase on a later day.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions.
    observation_end : date-like
        The day the analysis is run as of: customers without a second purchase are censored
        at the days from their first purchase to it.
    acquired_from : date-like, optional
        Customers first seen before this day (the warm-up's existing base) are left out.
    customers : pandas.DataFrame, optional
        ``customer_id`` and ``acquisition_channel``, for the channel column.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``first_purchase``, ``cohort`` (the first purchase's year),
        ``channel`` (``"unknown"`` without a customers table), ``days`` (to the second
        purchase day, else to ``observation_end``) and ``repeated`` (bool).
    """
    end = _periods.observation_end_stamp(observation_end)
    table = _with_keys(_table(transactions), end)
    firsts = first_purchase_days(table.filter(table.purchase))
    days = firsts.group_by("customer_id").agg(
        first_purchase=ibis.cases(
            (firsts["rank"] == 0, firsts.date), else_=ibis.null("date")
        ).min(),
        second_purchase=ibis.cases(
            (firsts["rank"] == 1, firsts.date), else_=ibis.null("date")
        ).min(),
    )
    frame = engine.to_arrow(days).to_pandas()  # a row per customer
    for column in ("first_purchase", "second_purchase"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    if acquired_from is not None:
        frame = frame[frame["first_purchase"] >= pd.Timestamp(acquired_from)]
    repeated = frame["second_purchase"].notna()
    until = frame["second_purchase"].where(repeated, end)
    frame = frame.assign(
        cohort=frame["first_purchase"].dt.year.astype("int64"),
        days=(until - frame["first_purchase"]).dt.days.astype("int64"),
        repeated=repeated.to_numpy(),
    )
    channel = pd.Series(_periods.UNKNOWN_CHANNEL, index=frame.index)
    if customers is not None:
        known = customers.set_index("customer_id")["acquisition_channel"]
        channel = frame["customer_id"].map(known).fillna(_periods.UNKNOWN_CHANNEL)
    frame["channel"] = channel.astype(str)
    columns = ["customer_id", "first_purchase", "cohort", "channel", "days", "repeated"]
    return frame[columns].sort_values("customer_id", ignore_index=True)


def repeat_curve(days: Sequence[int] | np.ndarray, repeated: Sequence[bool]) -> pd.DataFrame:
    """Kaplan-Meier share of customers who have made a second purchase by each day.

    Parameters
    ----------
    days : array-like of int
        Days to the second purchase, or to the end of observation (censored).
    repeated : array-like of bool
        Whether the second purchase was observed.

    Returns
    -------
    pandas.DataFrame
        One row per day with a second purchase: ``day``, ``at_risk`` (customers observed
        that long without a second purchase before it), ``repeats`` and ``repeated_share``
        (1 - the Kaplan-Meier survival just after the day).
    """
    days = np.asarray(days, dtype="int64")
    repeated = np.asarray(repeated, dtype=bool)
    event_days, repeats = np.unique(days[repeated], return_counts=True)
    # customers observed at least each event day: one sort, not a pass over them per day
    at_risk = (len(days) - np.searchsorted(np.sort(days), event_days, side="left")).astype("int64")
    survival = np.cumprod(1 - repeats / at_risk) if len(event_days) else np.array([])
    return pd.DataFrame(
        {
            "day": event_days,
            "at_risk": at_risk,
            "repeats": repeats,
            "repeated_share": 1 - survival,
        }
    )


def _share_by(curve: pd.DataFrame, day: float) -> float:
    """The curve's repeated share on ``day`` (0 before the first repeat)."""
    reached = curve[curve["day"] <= day]
    return float(reached["repeated_share"].iloc[-1]) if len(reached) else 0.0


def repeat_timing(
    second: pd.DataFrame,
    *,
    by: str | None = None,
    days: Sequence[int] = DEFAULT_DAYS,
    min_customers: int = 30,
) -> pd.DataFrame:
    """Share repeating within each of ``days``, the eventual share and the follow-up day.

    The eventual share is the Kaplan-Meier share repeating within `EVENTUAL_DAYS`; the
    follow-up day is the first day by which half of those eventual repeaters have repeated
    (the median time to a second purchase among customers who repeat within a year). A
    share is NaN when no customer of the group was observed that long.

    Parameters
    ----------
    second : pandas.DataFrame
        `second_purchases` output.
    by : {"cohort", "channel"}, optional
        One row per group (groups of fewer than ``min_customers`` customers are left out);
        one row for everyone when None.
    days : sequence of int
        Days after the first purchase.
    min_customers : int
        Smallest group shown.

    Returns
    -------
    pandas.DataFrame
        ``group`` (``"all"`` without ``by``), ``customers``, ``within_<d>`` per day,
        ``eventual_share`` and ``half_of_repeaters_day``.
    """
    groups = [("all", second)] if by is None else list(second.groupby(by, sort=True))
    rows = []
    for name, group in groups:
        if by is not None and len(group) < min_customers:
            continue
        curve = repeat_curve(group["days"], group["repeated"])
        longest = int(group["days"].max()) if len(group) else 0
        row = {"group": str(name), "customers": len(group)}
        for day in days:
            row[f"within_{day}"] = _share_by(curve, day) if longest >= day else np.nan
        eventual = _share_by(curve, EVENTUAL_DAYS) if longest >= EVENTUAL_DAYS else np.nan
        row["eventual_share"] = eventual
        reached = curve[curve["repeated_share"] >= eventual / 2] if eventual > 0 else curve[:0]
        row["half_of_repeaters_day"] = float(reached["day"].iloc[0]) if len(reached) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)

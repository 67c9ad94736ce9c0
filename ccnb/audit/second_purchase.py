"""Time to second purchase: how soon new customers buy again, with censoring handled.

A customer still inside the window without a second purchase has not "never" repeated: they
are censored at the days observed so far. The share repeating within d days is the
Kaplan-Meier estimate. Definitions in docs/methodology.md, "Customer-base audit".
"""

from __future__ import annotations

import uuid
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

__all__ = ["repeat_curve", "repeat_timing", "second_purchase_counts", "second_purchases"]

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
    table = _new_customers(
        transactions,
        observation_end=observation_end,
        acquired_from=acquired_from,
        customers=customers,
    )
    frame = engine.to_arrow(table).to_pandas()  # a row per customer
    frame["first_purchase"] = pd.to_datetime(frame["first_purchase"]).astype("datetime64[ns]")
    frame = frame.astype({"cohort": "int64", "channel": str, "days": "int64", "repeated": bool})
    columns = ["customer_id", "first_purchase", "cohort", "channel", "days", "repeated"]
    return frame[columns].sort_values("customer_id", ignore_index=True)


def second_purchase_counts(
    transactions: Any,
    *,
    observation_end: Any,
    acquired_from: Any = None,
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`second_purchases` counted in the engine: the new customers per cohort, channel and days.

    What the repeat timing and the Kaplan-Meier curves read (`repeat_timing`, `repeat_curve`
    with ``customers``): a row per (cohort, channel, days, repeated), not per customer.

    Parameters
    ----------
    transactions, observation_end, acquired_from, customers
        As :func:`second_purchases` takes them.

    Returns
    -------
    pandas.DataFrame
        ``cohort``, ``channel``, ``days``, ``repeated`` and ``customers``, sorted.
    """
    table = _new_customers(
        transactions,
        observation_end=observation_end,
        acquired_from=acquired_from,
        customers=customers,
    )
    keys = ["cohort", "channel", "days", "repeated"]
    counted = table.group_by(keys).agg(customers=table.count()).to_pandas()
    counted = counted.astype(
        {"cohort": "int64", "channel": str, "days": "int64", "repeated": bool, "customers": "int64"}
    )
    return counted[[*keys, "customers"]].sort_values(keys, ignore_index=True)


def _new_customers(
    transactions: Any, *, observation_end: Any, acquired_from: Any, customers: pd.DataFrame | None
):
    """`second_purchases`' rows as an expression of the transactions' engine."""
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
    if acquired_from is not None:
        start = _periods.date_literal(pd.Timestamp(acquired_from))
        days = days.filter(days.first_purchase >= start)
    until = days.second_purchase.fill_null(_periods.date_literal(end))
    days = days.select(
        "customer_id",
        "first_purchase",
        cohort=days.first_purchase.year().cast("int64"),
        days=until.delta(days.first_purchase, unit="day").cast("int64"),
        repeated=days.second_purchase.notnull(),
    )
    if customers is None:
        return days.mutate(channel=ibis.literal(_periods.UNKNOWN_CHANNEL))
    known = customers[["customer_id", "acquisition_channel"]].astype(
        {"customer_id": str, "acquisition_channel": object}
    )
    # registered with the engine: ibis' memtables do not join on Spark (a view it misnames)
    channels = engine.register_frame(
        days._find_backend(use_default=True),
        known.drop_duplicates("customer_id"),
        name=f"ccnb_channels_{uuid.uuid4().hex}",
    )
    joined = days.left_join(channels, days.customer_id == channels.customer_id)
    channel = joined.acquisition_channel.cast("string").fill_null(_periods.UNKNOWN_CHANNEL)
    return joined.select(*days.columns, channel=channel)


def repeat_curve(
    days: Sequence[int] | np.ndarray,
    repeated: Sequence[bool],
    *,
    customers: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Kaplan-Meier share of customers who have made a second purchase by each day.

    Parameters
    ----------
    days : array-like of int
        Days to the second purchase, or to the end of observation (censored).
    repeated : array-like of bool
        Whether the second purchase was observed.
    customers : array-like of int, optional
        How many customers each row counts (`second_purchase_counts`); one each without it.

    Returns
    -------
    pandas.DataFrame
        One row per day with a second purchase: ``day``, ``at_risk`` (customers observed
        that long without a second purchase before it), ``repeats`` and ``repeated_share``
        (1 - the Kaplan-Meier survival just after the day).
    """
    days = np.asarray(days, dtype="int64")
    repeated = np.asarray(repeated, dtype=bool)
    counts = np.ones(len(days), dtype="int64") if customers is None else np.asarray(customers)
    counts = counts.astype("int64")
    event_days, events = np.unique(days[repeated], return_inverse=True)
    repeats = np.bincount(events, weights=counts[repeated], minlength=len(event_days))
    repeats = repeats.astype("int64")
    # customers observed at least each event day: one sort, not a pass over them per day
    order = np.argsort(days, kind="stable")
    observed_before = np.concatenate([[0], np.cumsum(counts[order])])
    first = np.searchsorted(days[order], event_days, side="left")
    at_risk = (observed_before[-1] - observed_before[first]).astype("int64")
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
        `second_purchases` output, or `second_purchase_counts` (its rows weighted by their
        ``customers``).
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
        counts = group["customers"] if "customers" in group else None
        size = len(group) if counts is None else int(counts.sum())
        if by is not None and size < min_customers:
            continue
        curve = repeat_curve(group["days"], group["repeated"], customers=counts)
        longest = int(group["days"].max()) if len(group) else 0
        row = {"group": str(name), "customers": size}
        for day in days:
            row[f"within_{day}"] = _share_by(curve, day) if longest >= day else np.nan
        eventual = _share_by(curve, EVENTUAL_DAYS) if longest >= EVENTUAL_DAYS else np.nan
        row["eventual_share"] = eventual
        reached = curve[curve["repeated_share"] >= eventual / 2] if eventual > 0 else curve[:0]
        row["half_of_repeaters_day"] = float(reached["day"].iloc[0]) if len(reached) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)

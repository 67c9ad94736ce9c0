"""Churn in a non-contractual business: active base over time, churn rate, leaky bucket ratio.

Churn (non-contractual), early repeat rate and leaky bucket ratio (docs/methodology.md, "Active
base", "Churn rate", "Early repeat rate", "Leaky bucket") from transactions, as portable Ibis
expressions run in the engine (DuckDB by default, PySpark alike); only the per-period result is
pandas. Purchases, periods and ``observation_end`` follow the conventions of ``ccnb.cohorts``.

Timing of churn, with ``W = churn_window_days`` and purchase days counted once per day:

- A customer is *active* on day ``t`` when they were acquired on or before ``t`` and their
  last purchase on or before ``t`` was fewer than ``W`` days earlier (``t - last < W``).
- A customer is *lost* on the day ``W`` days pass without a purchase: the *lapse date*
  ``d + W`` of a purchase day ``d`` that is not followed by another purchase on or before
  ``d + W``. A purchase exactly on ``d + W`` keeps the customer active. Lapse dates after
  ``observation_end`` have not happened yet and are not counted.
- A lost customer who buys again is *reactivated* on that day. Customers lost, reactivated and
  lost again within one period count once per loss, so that for every period
  ``active_end = active_start + acquired + reactivated - lost`` exactly.
"""

from __future__ import annotations

from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ccnb import _periods

__all__ = [
    "active_base",
    "churn_rate",
    "early_repeat_rate",
    "leaky_bucket",
    "pooled_early_repeat",
    "recent_trend",
]

Freq = Literal["M", "Q", "Y"]

_BASE_COLUMNS = {
    "period": "datetime64[ns]",
    "period_end": "datetime64[ns]",
    "active_start": "int64",
    "acquired": "int64",
    "reactivated": "int64",
    "lost": "int64",
    "active": "int64",
    "revenue": "float64",
}


def _base_events(tx: ir.Table, *, end: pd.Timestamp, window_days: int, freq: str) -> ir.Table:
    """Counts of acquisition, loss and reactivation events per period index, plus revenue."""
    purchases = tx.filter(tx.amount >= 0)
    days = purchases.select("customer_id", "date").distinct()
    order = ibis.window(group_by="customer_id", order_by="date")
    days = days.mutate(
        previous_date=days.date.lag().over(order),
        next_date=days.date.lead().over(order),
    )
    window = ibis.interval(days=window_days)
    lapse = days.date + window
    acquired = days.filter(days.previous_date.isnull()).select(
        kind=ibis.literal("acquired"), period_index=_periods.period_index(days.date, freq)
    )
    lost = days.filter(
        (days.next_date.isnull() | (days.next_date > lapse)) & (lapse <= _periods.date_literal(end))
    ).select(kind=ibis.literal("lost"), period_index=_periods.period_index(lapse, freq))
    reactivated = days.filter(
        days.previous_date.notnull() & (days.date > days.previous_date + window)
    ).select(kind=ibis.literal("reactivated"), period_index=_periods.period_index(days.date, freq))
    events = ibis.union(acquired, lost, reactivated)
    counts = events.group_by(["kind", "period_index"]).aggregate(
        value=events.count().cast("float64")
    )
    revenue = tx.group_by(period_index=_periods.period_index(tx.date, freq)).aggregate(
        value=tx.amount.sum()
    )
    revenue = revenue.select(
        kind=ibis.literal("revenue"), period_index="period_index", value="value"
    )
    return ibis.union(counts, revenue)


def _base_table(
    transactions: Any,
    *,
    observation_end: Any,
    churn_window_days: int,
    freq: str,
    complete_only: bool,
) -> pd.DataFrame:
    """Per period: dates, active_start, acquired, reactivated, lost, active, revenue."""
    _periods.check_period(freq, name="freq")
    window_days = _periods.check_days(churn_window_days, name="churn_window_days")
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    events = _periods.execute(_base_events(tx, end=end, window_days=window_days, freq=freq))
    last = _periods.last_index(end, freq, complete_only=complete_only)
    if events.empty or events["period_index"].min() > last:
        return _periods.empty_frame(_BASE_COLUMNS)
    wide = events.pivot_table(
        index="period_index", columns="kind", values="value", aggfunc="sum", fill_value=0.0
    )
    indexes = np.arange(events["period_index"].min(), last + 1, dtype="int64")
    wide = wide.reindex(
        index=indexes, columns=["acquired", "lost", "reactivated", "revenue"], fill_value=0.0
    )
    table = pd.DataFrame({"period_index": indexes})
    for kind in ("acquired", "reactivated", "lost"):
        table[kind] = wide[kind].to_numpy().round().astype("int64")
    table["revenue"] = wide["revenue"].to_numpy(dtype="float64")
    # Every customer enters the base once (acquired), leaves at each lapse and re-enters at
    # each reactivation, so the base at a period end is the running sum of those events.
    table["active"] = (table["acquired"] + table["reactivated"] - table["lost"]).cumsum()
    table["active_start"] = table["active"].shift(1, fill_value=0).astype("int64")
    table["period"] = _periods.period_starts(indexes, freq)
    table["period_end"] = _periods.period_ends(indexes, freq)
    # The current, partial period is measured as of observation_end.
    table.loc[table["period_end"] > end, "period_end"] = end
    return table[list(_BASE_COLUMNS)].astype(_BASE_COLUMNS)


@_periods.period_docstring
def active_base(
    transactions: Any,
    *,
    observation_end: Any,
    churn_window_days: int,
    freq: Freq = "M",
    complete_only: bool = True,
) -> pd.DataFrame:
    """Size of the active customer base at the end of each calendar period, and its flows.

    See the module docstring for when a customer is active, lost and reactivated.

    Parameters
    ----------
    {transactions}
    {observation_end}
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.
    freq : {"M", "Q", "Y"}
        Calendar period: month, quarter or year.
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        One row per period from the first purchase's period on, sorted by ``period``:

        - ``period`` (datetime64[ns]): first day of the period.
        - ``period_end`` (datetime64[ns]): day the base is measured on: the period's last day,
          or ``observation_end`` for a partial period (``complete_only=False``).
        - ``active_start`` (int64): active customers at the end of the previous period.
        - ``acquired`` (int64): customers with their first purchase in the period.
        - ``reactivated`` (int64): lost customers who purchased again in the period.
        - ``lost`` (int64): loss events (lapse dates) in the period.
        - ``active`` (int64): active customers on ``period_end``;
          ``active = active_start + acquired + reactivated - lost``.
        - ``revenue`` (float64): net revenue of all rows dated in the period.
    """
    return _base_table(
        transactions,
        observation_end=observation_end,
        churn_window_days=churn_window_days,
        freq=freq,
        complete_only=complete_only,
    )


@_periods.period_docstring
def churn_rate(
    transactions: Any,
    *,
    observation_end: Any,
    churn_window_days: int,
    freq: Freq = "Y",
    denominator: Literal["average", "start"] = "average",
    complete_only: bool = True,
) -> pd.DataFrame:
    """Churn rate per calendar period: customers lost over the active base.

    docs/methodology.md, "Churn rate": churn rate over a period = customers lost in the period /
    average of the active base at its start and end (``denominator="average"``).
    ``denominator="start"`` divides by the base at the start instead, the share of the opening base
    that was lost (customers acquired and lost within the period still count in ``lost``).

    Parameters
    ----------
    {transactions}
    {observation_end}
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.
    freq : {"M", "Q", "Y"}
        Calendar period: month, quarter or year (default).
    denominator : {"average", "start"}
        Active base to divide by: mean of start and end (default) or start.
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        One row per period, sorted by ``period``:

        - ``period`` (datetime64[ns]): first day of the period.
        - ``period_end`` (datetime64[ns]): last day of the period (``observation_end`` for a
          partial period).
        - ``active_start`` (int64): active customers at the end of the previous period.
        - ``active_end`` (int64): active customers on ``period_end``.
        - ``acquired`` (int64): customers acquired in the period.
        - ``lost`` (int64): loss events in the period.
        - ``churn_rate`` (float64): ``lost / denominator``; NaN when the period opens with no
          active customers (the first period of the data), where a rate would only reflect
          how many of the period's own new customers lapsed.
    """
    if denominator not in ("average", "start"):
        raise ValueError(f"denominator must be 'average' or 'start'; got {denominator!r}")
    base = _base_table(
        transactions,
        observation_end=observation_end,
        churn_window_days=churn_window_days,
        freq=freq,
        complete_only=complete_only,
    ).rename(columns={"active": "active_end"})
    if denominator == "average":
        divisor = (base["active_start"] + base["active_end"]) / 2
    else:
        divisor = base["active_start"]
    rate = pd.Series(_periods.ratio(base["lost"], divisor), index=base.index)
    base["churn_rate"] = rate.where(base["active_start"] > 0)
    columns = ["period", "period_end", "active_start", "active_end", "acquired", "lost"]
    return base[[*columns, "churn_rate"]]


@_periods.period_docstring
def leaky_bucket(
    transactions: Any,
    *,
    observation_end: Any,
    churn_window_days: int,
    freq: Freq = "Q",
    complete_only: bool = True,
) -> pd.DataFrame:
    """Leaky bucket ratio per calendar period: customers lost per customer acquired.

    A ratio above 1 means the period lost more customers than it acquired: the base shrinks
    unless lapsed customers come back (``reactivated`` in :func:`active_base`).

    Parameters
    ----------
    {transactions}
    {observation_end}
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.
    freq : {"M", "Q", "Y"}
        Calendar period: month, quarter (default) or year.
    {complete_only}

    Returns
    -------
    pandas.DataFrame
        One row per period, sorted by ``period``:

        - ``period`` (datetime64[ns]): first day of the period.
        - ``period_end`` (datetime64[ns]): last day of the period (``observation_end`` for a
          partial period).
        - ``acquired`` (int64): customers acquired in the period.
        - ``lost`` (int64): loss events in the period.
        - ``ratio`` (float64): ``lost / acquired``; NaN when nobody was acquired.
        - ``net_change`` (int64): ``acquired - lost`` (reactivations not included).
    """
    base = _base_table(
        transactions,
        observation_end=observation_end,
        churn_window_days=churn_window_days,
        freq=freq,
        complete_only=complete_only,
    )
    base["ratio"] = _periods.ratio(base["lost"], base["acquired"])
    base["net_change"] = (base["acquired"] - base["lost"]).astype("int64")
    return base[["period", "period_end", "acquired", "lost", "ratio", "net_change"]]


@_periods.period_docstring
def early_repeat_rate(
    transactions: Any,
    *,
    observation_end: Any,
    early_repeat_days: int = 90,
    by: Literal["cohort", "channel"] | None = "cohort",
    period: Freq = "M",
    customers: Any = None,
    complete_only: bool = True,
) -> pd.DataFrame:
    """Share of newly acquired customers who buy again soon after their first purchase.

    A customer is a *repeater* when they make a purchase on a later day than their first
    purchase day and at most ``early_repeat_days`` days after it
    (``first_purchase < d <= first_purchase + early_repeat_days``). Customers observed for less
    than that window (``first_purchase + early_repeat_days > observation_end``) are *censored*:
    left out of the denominator and of the repeaters, even if they already bought again, since
    counting only the fast ones would bias the rate upwards.

    Parameters
    ----------
    {transactions}
    {observation_end}
    early_repeat_days : int
        Length of the repeat window in days (default 90).
    by : {"cohort", "channel"} or None
        Group customers by acquisition cohort (default), by acquisition channel (needs
        ``customers``), or not at all (one row, group ``"all"``).
    {period}
        Used with ``by="cohort"``.
    {customers}
        Needed for ``by="channel"``.
    {complete_only}
        Used with ``by="cohort"``: the cohort of the current partial period is left out.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``group``:

        - ``group`` (datetime64[ns] first day of the cohort period for ``by="cohort"``; str
          acquisition channel for ``by="channel"``; ``"all"`` for None).
        - ``acquired`` (int64): customers acquired.
        - ``censored`` (int64): acquired customers observed for less than the window.
        - ``eligible`` (int64): ``acquired - censored``.
        - ``repeaters`` (int64): eligible customers who bought again within the window.
        - ``early_repeat_rate`` (float64): ``repeaters / eligible``; NaN when none is eligible.
    """
    if by not in ("cohort", "channel", None):
        raise ValueError(f"by must be 'cohort', 'channel' or None; got {by!r}")
    if by == "channel" and customers is None:
        raise ValueError("by='channel' needs the customers table (acquisition_channel)")
    if by == "cohort":
        _periods.check_period(period)
    window_days = _periods.check_days(early_repeat_days, name="early_repeat_days")
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    firsts = _periods.first_purchases(tx)
    if by == "cohort":
        firsts = firsts.mutate(group=_periods.period_index(firsts.first_purchase, period))
    elif by == "channel":
        firsts = _periods.with_channel(firsts, customers)
        firsts = firsts.mutate(group=firsts.acquisition_channel)
    else:
        firsts = firsts.mutate(group=ibis.literal("all"))
    window = ibis.interval(days=window_days)
    purchases = tx.filter(tx.amount >= 0)
    rows = purchases.join(firsts, "customer_id")
    repeat = (rows.date > rows.first_purchase) & (rows.date <= rows.first_purchase + window)
    per_customer = rows.group_by(["customer_id", "first_purchase", "group"]).aggregate(
        repeat=repeat.cast("int64").max()
    )
    eligible = (per_customer.first_purchase + window <= _periods.date_literal(end)).cast("int64")
    per_customer = per_customer.mutate(eligible=eligible)
    summary = per_customer.group_by("group").aggregate(
        acquired=per_customer.count(),
        eligible=per_customer.eligible.sum(),
        repeaters=(per_customer.eligible * per_customer.repeat).sum(),
    )
    result = _periods.execute(summary)
    group_dtype = "datetime64[ns]" if by == "cohort" else "str"
    if by == "cohort":
        last = _periods.last_index(end, period, complete_only=complete_only)
        result = result[result["group"] <= last]
        result = result.assign(group=_periods.period_starts(result["group"], period).to_numpy())
    for column in ("acquired", "eligible", "repeaters"):
        result[column] = result[column].fillna(0).astype("int64")
    result["censored"] = result["acquired"] - result["eligible"]
    result["early_repeat_rate"] = _periods.ratio(result["repeaters"], result["eligible"])
    columns = {
        "group": group_dtype,
        "acquired": "int64",
        "censored": "int64",
        "eligible": "int64",
        "repeaters": "int64",
        "early_repeat_rate": "float64",
    }
    result = result.sort_values("group", ignore_index=True)
    return result[list(columns)].astype(columns)


def recent_trend(
    active_base: pd.DataFrame,
    churn_rate: pd.DataFrame,
    leaky_bucket: pd.DataFrame,
    *,
    periods: int = 4,
) -> pd.Series:
    """The last period's active base and its change, with churn and leaks over recent periods.

    Parameters
    ----------
    active_base, churn_rate, leaky_bucket
        Outputs of `active_base`, `churn_rate` and `leaky_bucket` on the same periods.
    periods
        How many recent periods to look back over (4 quarters: a year).

    Returns
    -------
    pandas.Series
        ``period_end`` of the last period; ``active`` customers then and ``revenue`` in it;
        ``active_change``: ``active`` relative to ``periods`` periods earlier (the first period
        when the history is shorter) minus 1, NaN when that base was empty;
        ``mean_churn_rate``: mean of the last ``periods`` defined churn rates;
        ``periods_losing``: how many of the last ``periods`` periods lost more customers than
        they acquired (a leaky bucket ratio above 1, or losses with nobody acquired, where the
        ratio is undefined); ``periods``.
    """
    last = active_base.iloc[-1]
    earlier = active_base.iloc[max(len(active_base) - periods - 1, 0)]
    change = last["active"] / earlier["active"] - 1 if earlier["active"] else float("nan")
    rates = churn_rate.dropna(subset=["churn_rate"])["churn_rate"].tail(periods)
    recent = leaky_bucket.tail(periods)
    losing = int((recent["lost"] > recent["acquired"]).sum())
    return pd.Series(
        {
            "period_end": last["period_end"],
            "active": last["active"],
            "revenue": last["revenue"],
            "active_change": change,
            "mean_churn_rate": rates.mean(),
            "periods_losing": losing,
            "periods": periods,
        },
        dtype=object,
    )


def pooled_early_repeat(early_repeat: pd.DataFrame, *, min_eligible: int = 30) -> pd.Series:
    """The early repeat rate pooled over the groups with enough eligible customers.

    Parameters
    ----------
    early_repeat
        `early_repeat_rate` output (one row per cohort or channel).
    min_eligible
        Groups with fewer eligible customers are left out (as the report leaves them out).

    Returns
    -------
    pandas.Series
        ``groups`` kept, their ``eligible`` customers and ``repeaters``, and
        ``early_repeat_rate`` = repeaters / eligible (NaN when nobody is eligible).
    """
    kept = early_repeat[early_repeat["eligible"] >= min_eligible]
    eligible, repeaters = kept["eligible"].sum(), kept["repeaters"].sum()
    return pd.Series(
        {
            "groups": len(kept),
            "eligible": eligible,
            "repeaters": repeaters,
            "early_repeat_rate": repeaters / eligible if eligible else float("nan"),
        },
        dtype=object,
    )

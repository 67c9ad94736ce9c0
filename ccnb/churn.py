"""Churn in a non-contractual business: the customer flow, churn rate, leaky bucket ratio.

Churn (non-contractual), early repeat rate and leaky bucket ratio (docs/methodology.md, "Customer
flow", "Churn rate", "Early repeat rate", "Leaky bucket") from transactions, as portable Ibis
expressions run in the engine (DuckDB by default, PySpark alike); only the customers' active
spells, counted by their dates, are pandas, and every period and window is counted from them.
Purchases, periods and ``observation_end`` follow the conventions of ``ccnb.cohorts``.

Timing of churn, with ``W = churn_window_days`` and purchase days counted once per day:

- A customer is *active* on day ``t`` when they were acquired on or before ``t`` and their
  last purchase on or before ``t`` was fewer than ``W`` days earlier (``t - last < W``).
- A customer is *lost* on the day ``W`` days pass without a purchase: the *lapse date*
  ``d + W`` of a purchase day ``d`` that is not followed by another purchase on or before
  ``d + W``. A purchase exactly on ``d + W`` keeps the customer active. Lapse dates after
  ``observation_end`` have not happened yet and are not counted.
- A lost customer who buys again is *reactivated* on that day. Customers lost, reactivated and
  lost again within one period count once per loss, so that for every period
  ``opening + new + reactivated - lapsed = closing`` exactly.
- Which customers are *new* and from when the base is known is the client's
  ``ccnb.windows.AnalysisWindows`` (the warm-up at the start of the data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ccnb import _periods
from ccnb.windows import AnalysisWindows

__all__ = [
    "CustomerActivity",
    "customer_activity",
    "customer_flow",
    "early_repeat_rate",
    "flow_over",
    "last_followed_first_purchase",
    "period_summary",
    "pooled_early_repeat",
]

Freq = Literal["M", "Q", "Y"]

_SPELL_COLUMNS = {
    "start": "datetime64[ns]",
    "lapse": "datetime64[ns]",
    "returning": "bool",
    "customers": "int64",
}

_FLOW_COLUMNS = {
    "start": "datetime64[ns]",
    "end": "datetime64[ns]",
    "base_known": "bool",
    "opening": "int64",
    "new": "int64",
    "reactivated": "int64",
    "lapsed": "int64",
    "closing": "int64",
    "lapsed_from_opening": "int64",
    "churn_rate": "float64",
    "leaky_bucket_ratio": "float64",
    "revenue": "float64",
}


@dataclass(frozen=True)
class CustomerActivity:
    """When customers were active: the one source of every customer count of the reports.

    An *active spell* runs from a customer's first purchase, or from a purchase after a lapse,
    to the day they lapse. Any period's or window's flow is a count over the spells
    (:func:`flow_over`), so the numbers of every page come from the same table.

    Attributes
    ----------
    spells : pandas.DataFrame
        Spells counted by their dates: ``start`` (first purchase day of the spell),
        ``lapse`` (the day the customer is lost; NaT while still active at
        ``observation_end``), ``returning`` (False for a customer's first spell, True for a
        reactivation), ``customers`` (spells with these values).
    daily_revenue : pandas.DataFrame
        ``date``, ``revenue``: net revenue of the rows dated each day (days with rows only).
    observation_end : pandas.Timestamp
    churn_window_days : int
    """

    spells: pd.DataFrame
    daily_revenue: pd.DataFrame
    observation_end: pd.Timestamp
    churn_window_days: int

    @property
    def data_start(self) -> pd.Timestamp | None:
        """First day with a transaction (None without any)."""
        if self.daily_revenue.empty:
            return None
        return pd.Timestamp(self.daily_revenue["date"].min())


def _spells(tx: ir.Table, *, end: pd.Timestamp, window_days: int) -> ir.Table:
    """Active spells counted by (start, lapse, returning), in the engine."""
    purchases = tx.filter(_periods.is_purchase(tx))
    days = purchases.select("customer_id", "date").distinct()
    order = ibis.window(group_by="customer_id", order_by="date")
    window = ibis.interval(days=window_days)
    days = days.mutate(previous_date=days.date.lag().over(order))
    opens = days.previous_date.isnull() | (days.date > days.previous_date + window)
    days = days.mutate(
        opens=opens.cast("int64"), returning=days.previous_date.notnull().cast("int64")
    )
    cumulative = ibis.window(group_by="customer_id", order_by="date", preceding=None, following=0)
    days = days.mutate(spell=days.opens.sum().over(cumulative))
    spells = days.group_by(["customer_id", "spell"]).aggregate(
        start=days.date.min(),
        last=days.date.max(),
        returning=days.returning.min(),
    )
    lapse = (spells["last"] + window).cast("date")
    spells = spells.mutate(
        lapse=ibis.ifelse(lapse <= _periods.date_literal(end), lapse, ibis.null("date"))
    )
    return spells.group_by(["start", "lapse", "returning"]).aggregate(customers=spells.count())


def customer_activity(
    transactions: Any, *, observation_end: Any, churn_window_days: int
) -> CustomerActivity:
    """The active spells of every customer and the revenue per day, from the engine.

    See the module docstring for when a customer is active, lost and reactivated. The engine
    returns spells counted by their dates (at most one row per pair of days, however many
    customers) and revenue per day; every period and window is counted from them.

    Parameters
    ----------
    transactions : ibis.Table or pandas.DataFrame
        Validated transactions (``customer_id``, ``date``, ``amount``; see ``ccnb.data``).
    observation_end : date-like
        The day the analysis is run as of (inclusive). Later rows are ignored.
    churn_window_days : int
        Days without a purchase after which a customer counts as lost.

    Returns
    -------
    CustomerActivity
    """
    window_days = _periods.check_days(churn_window_days, name="churn_window_days")
    end = _periods.observation_end_stamp(observation_end)
    tx = _periods.transactions_table(transactions, end)
    spells = _periods.execute(_spells(tx, end=end, window_days=window_days))
    revenue = _periods.execute(tx.group_by("date").aggregate(revenue=tx.amount.sum()))
    spells = spells.assign(
        start=_periods.as_datetime(spells["start"]).to_numpy(),
        lapse=_periods.as_datetime(spells["lapse"]).to_numpy(),
        returning=spells["returning"].astype(bool).to_numpy(),
    )
    spells = spells.sort_values(["start", "lapse", "returning"], ignore_index=True)
    revenue = pd.DataFrame(
        {
            "date": _periods.as_datetime(revenue["date"]).to_numpy(),
            "revenue": revenue["revenue"].to_numpy(dtype="float64") + 0.0,
        }
    ).sort_values("date", ignore_index=True)
    return CustomerActivity(
        spells=spells[list(_SPELL_COLUMNS)].astype(_SPELL_COLUMNS),
        daily_revenue=revenue.astype({"date": "datetime64[ns]", "revenue": "float64"}),
        observation_end=end,
        churn_window_days=window_days,
    )


def flow_over(activity: CustomerActivity, *, spans: Any, windows: AnalysisWindows) -> pd.DataFrame:
    """The customer flow over each of some stretches of days.

    ``opening + new + reactivated - lapsed = closing`` for every row. The churn rate is the
    share of the opening base lost in the stretch, so it cannot exceed 100%:
    ``lapsed_from_opening`` counts the customers active the day before the stretch whose
    spell ends in it.

    Parameters
    ----------
    activity : CustomerActivity
        `customer_activity` output.
    spans : iterable of (date-like, date-like)
        First and last day (inclusive) of each stretch.
    windows : ccnb.windows.AnalysisWindows
        The client's windows: where the base is known (``base_known_from``) and from when
        losses are observable.

    Returns
    -------
    pandas.DataFrame
        One row per stretch: ``start``, ``end``; ``base_known`` (the stretch starts on or
        after ``base_known_from``: before it, new customers are the existing base and the
        opening base is incomplete); ``opening`` (active the day before ``start``), ``new``,
        ``reactivated``, ``lapsed``, ``closing`` (active on ``end``); ``lapsed_from_opening``;
        ``churn_rate`` (``lapsed_from_opening / opening``) and ``leaky_bucket_ratio``
        (``lapsed / new``), NaN when undefined (no opening base, nobody new), when the base is
        not known, or before losses are observable (`AnalysisWindows.churn_measurable_from`);
        ``revenue``.
    """
    spells = activity.spells
    begin = spells["start"].to_numpy()
    lapse = spells["lapse"].to_numpy()
    ongoing = np.isnat(lapse)
    weight = spells["customers"].to_numpy(dtype="int64")
    returning = spells["returning"].to_numpy(dtype=bool)
    revenue_days = activity.daily_revenue["date"].to_numpy()
    revenue = activity.daily_revenue["revenue"].to_numpy(dtype="float64")

    def active_on(day: np.datetime64) -> int:
        return int(weight[(begin <= day) & (ongoing | (lapse > day))].sum())

    records = []
    for start, end in spans:
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        first, last = np.datetime64(start, "ns"), np.datetime64(end, "ns")
        opened = (begin >= first) & (begin <= last)
        lapsed_in = ~ongoing & (lapse >= first) & (lapse <= last)
        opening = active_on(first - np.timedelta64(1, "D"))
        new = int(weight[opened & ~returning].sum())
        lapsed = int(weight[lapsed_in].sum())
        lapsed_from_opening = int(weight[lapsed_in & (begin < first)].sum())
        known = start >= windows.base_known_from
        measurable = known and start >= windows.churn_measurable_from
        in_span = (revenue_days >= first) & (revenue_days <= last)
        records.append(
            {
                "start": start,
                "end": end,
                "base_known": known,
                "opening": opening,
                "new": new,
                "reactivated": int(weight[opened & returning].sum()),
                "lapsed": lapsed,
                "closing": active_on(last),
                "lapsed_from_opening": lapsed_from_opening,
                "churn_rate": lapsed_from_opening / opening if measurable and opening else np.nan,
                "leaky_bucket_ratio": lapsed / new if measurable and new else np.nan,
                "revenue": float(revenue[in_span].sum()) + 0.0,
            }
        )
    if not records:
        return _periods.empty_frame(_FLOW_COLUMNS)
    return pd.DataFrame.from_records(records)[list(_FLOW_COLUMNS)].astype(_FLOW_COLUMNS)


def customer_flow(
    activity: CustomerActivity, *, windows: AnalysisWindows, freq: Freq = "Q"
) -> pd.DataFrame:
    """The customer flow per calendar period, from the first period whose base is known.

    Periods start with the first one beginning on or after ``windows.base_known_from`` (with
    no warm-up, the period of the first transaction) and end with the period of
    ``observation_end``; a period not covered whole by the data is kept and flagged partial.

    Parameters
    ----------
    activity : CustomerActivity
        `customer_activity` output.
    windows : ccnb.windows.AnalysisWindows
        The client's windows.
    freq : {"M", "Q", "Y"}
        Calendar period: month, quarter (default) or year.

    Returns
    -------
    pandas.DataFrame
        One row per period, the columns of `flow_over` (``start`` and ``end`` the days the
        period covers inside the data) after ``period`` (first day of the calendar period),
        ``period_end`` (its last day) and ``partial`` (the data covers only part of it).
    """
    _periods.check_period(freq, name="freq")
    start = windows.base_known_from
    if windows.warm_up_days:  # a period cut by the warm-up's end would mix in the old base
        start = _periods.first_whole_period(start, freq)
    first = _periods.index_of(start, freq)
    last = _periods.index_of(windows.observation_end, freq)
    indexes = np.arange(first, last + 1, dtype="int64")
    periods = _periods.period_starts(indexes, freq)
    period_ends = _periods.period_ends(indexes, freq)
    spans = [
        (max(start, windows.data_start), min(end, windows.observation_end))
        for start, end in zip(periods, period_ends, strict=True)
    ]
    flow = flow_over(activity, spans=spans, windows=windows)
    flow.insert(0, "period", periods.to_numpy())
    flow.insert(1, "period_end", period_ends.to_numpy())
    partial = (flow["start"] > flow["period"]) | (flow["end"] < flow["period_end"])
    flow.insert(2, "partial", partial.to_numpy(dtype=bool))
    return flow


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
    acquired_from: Any = None,
    acquired_to: Any = None,
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
    {acquired_from}
    acquired_to : date-like, optional
        Customers first seen after this day are left out (with ``acquired_from``: the new
        customers of one window).

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
    if by == "cohort":  # a cohort cut by the warm-up's end would hold only its last days
        acquired_from = _periods.first_whole_period(acquired_from, period)
    firsts = _periods.first_purchases(tx, acquired_from=acquired_from, acquired_to=acquired_to)
    if by == "cohort":
        firsts = firsts.mutate(group=_periods.period_index(firsts.first_purchase, period))
    elif by == "channel":
        firsts = _periods.with_channel(firsts, customers)
        firsts = firsts.mutate(group=firsts.acquisition_channel)
    else:
        firsts = firsts.mutate(group=ibis.literal("all"))
    window = ibis.interval(days=window_days)
    purchases = tx.filter(_periods.is_purchase(tx))
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


def last_followed_first_purchase(observation_end: Any, *, early_repeat_days: int = 90) -> dt.date:
    """The last first-purchase day whose customers are followed for the whole repeat window.

    `early_repeat_rate` counts a customer only when ``first_purchase + early_repeat_days <=
    observation_end``; customers first buying after the day returned are not yet counted.

    Parameters
    ----------
    observation_end : date-like
        The day the analysis is run as of.
    early_repeat_days : int
        Length of the repeat window in days (default 90).

    Returns
    -------
    datetime.date
        ``observation_end - early_repeat_days``.
    """
    days = _periods.check_days(early_repeat_days, name="early_repeat_days")
    end = _periods.observation_end_stamp(observation_end)
    return (end - pd.Timedelta(days=days)).date()


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


def period_summary(flow: pd.DataFrame, *, start: Any) -> pd.Series:
    """The complete periods of a `customer_flow` from ``start`` on, summarised.

    Parameters
    ----------
    flow : pandas.DataFrame
        `customer_flow` output.
    start : date-like
        First day of the stretch to summarise (e.g. the latest comparison window's start):
        periods beginning before it are left out, and so are partial periods.

    Returns
    -------
    pandas.Series
        ``periods`` (complete periods kept), ``first_period`` and ``last_period`` (their
        first days; NaT when none), ``periods_measured`` (of those, with a churn rate),
        ``mean_churn_rate`` (mean of those rates; NaN when none), ``periods_losing`` (periods
        that lost more customers than they won: ``lapsed > new``), ``smallest_opening`` (the
        smallest opening base among the measured periods; NaN when none).
    """
    kept = flow[(flow["period"] >= pd.Timestamp(start)) & ~flow["partial"]]
    rates = kept["churn_rate"].dropna()
    openings = kept.loc[rates.index, "opening"]
    return pd.Series(
        {
            "periods": len(kept),
            "first_period": kept["period"].min() if len(kept) else pd.NaT,
            "last_period": kept["period"].max() if len(kept) else pd.NaT,
            "periods_measured": len(rates),
            "mean_churn_rate": rates.mean() if len(rates) else float("nan"),
            "periods_losing": int((kept["lapsed"] > kept["new"]).sum()),
            "smallest_opening": int(openings.min()) if len(openings) else float("nan"),
        },
        dtype=object,
    )

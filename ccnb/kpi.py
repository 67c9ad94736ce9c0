"""The KPI overview: one tidy table of the headline customer KPIs over the comparison windows.

Combines the definitions of docs/methodology.md (customer flow, churn rate, early repeat rate,
leaky bucket, NPS, CSAT) with the plain trading numbers (customers, revenue, orders per customer,
average order value), measured over the windows `ccnb.windows.choose_windows` picks: the
trailing 12 months and the 12 before when the data covers both.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from ccnb import _periods, churn, nps
from ccnb.windows import AnalysisWindows, Window

__all__ = ["KPI_UNITS", "early_repeat_acquired_to", "kpi_changes", "kpi_overview", "survey_score"]

KPI_UNITS: dict[str, str] = {
    "customers_total": "count",
    "customers_active": "count",
    "customers_acquired": "count",
    "revenue": "money",
    "orders_per_customer": "number",
    "average_order_value": "money",
    "churn_rate": "share",
    "early_repeat_rate": "share",
    "leaky_bucket_ratio": "ratio",
    "nps": "score",
    "csat": "score",
}
"""Every KPI of the overview, in display order, with its unit."""


def _trading(transactions: ir.Table, window: Window) -> dict[str, float]:
    """Revenue, orders and buyers in a window, computed in the engine."""
    day = transactions.date
    if not day.type().is_date():
        day = day.cast("date")
    t = transactions.filter(
        (day >= _periods.date_literal(window.start)) & (day <= _periods.date_literal(window.end))
    )
    is_purchase = _periods.is_purchase(t)
    order_key = ibis.coalesce(t.order_id, t.customer_id + ":" + t.date.cast("string"))
    row = (
        t.agg(
            revenue=t.amount.sum(),
            orders=ibis.cases((is_purchase, order_key), else_=ibis.null("string")).nunique(),
            buyers=ibis.cases((is_purchase, t.customer_id), else_=ibis.null("string")).nunique(),
        )
        .execute()
        .iloc[0]
    )
    orders = float(row["orders"])
    return {
        "revenue": float(row["revenue"]) if pd.notna(row["revenue"]) else 0.0,
        "orders_per_customer": orders / row["buyers"] if row["buyers"] else np.nan,
        "average_order_value": float(row["revenue"]) / orders if orders else np.nan,
    }


def early_repeat_acquired_to(windows: AnalysisWindows, *, early_repeat_days: int) -> list:
    """Per comparison window, the last first-purchase day its early repeat rate counts.

    The latest window's new customers are counted up to the last day a customer can be
    followed for the whole repeat window
    (`ccnb.churn.last_followed_first_purchase`); every window is cut the same number of days
    before its end, so the windows compare customers acquired over the same part of the year.

    Parameters
    ----------
    windows : AnalysisWindows
        The client's windows.
    early_repeat_days : int
        Length of the repeat window in days.

    Returns
    -------
    list of pandas.Timestamp
        One day per window of ``windows.comparison``, in its order.
    """
    followed_to = pd.Timestamp(
        churn.last_followed_first_purchase(
            windows.observation_end, early_repeat_days=early_repeat_days
        )
    )
    cut = max(pd.Timedelta(0), windows.last.end - followed_to)
    return [window.end - cut for window in windows.comparison]


def _early_repeat(
    transactions: ir.Table,
    window: Window,
    *,
    acquired_to: pd.Timestamp,
    windows: AnalysisWindows,
    early_repeat_days: int,
) -> float:
    rate = churn.early_repeat_rate(
        transactions,
        observation_end=windows.observation_end,
        early_repeat_days=early_repeat_days,
        by=None,
        acquired_from=window.start,
        acquired_to=acquired_to,
    )
    return float(rate["early_repeat_rate"].iloc[0]) if len(rate) else np.nan


def survey_score(survey: pd.DataFrame | None, column: str, window: Window):
    """NPS or CSAT of the answers dated in a window (None when there are none).

    Parameters
    ----------
    survey
        Survey answers (``date``, ``nps``, ``csat``) or None.
    column
        ``"nps"`` or ``"csat"``.
    window
        The window whose answers count.

    Returns
    -------
    ccnb.nps.NPSResult or ccnb.nps.CSATResult or None
    """
    if survey is None or survey.empty:
        return None
    dates = pd.to_datetime(survey["date"])
    answers = survey.loc[(dates >= window.start) & (dates <= window.end), column].dropna()
    if answers.empty:
        return None
    return nps.nps(answers) if column == "nps" else nps.csat(answers)


def kpi_overview(
    transactions: ir.Table,
    *,
    windows: AnalysisWindows,
    activity: churn.CustomerActivity,
    early_repeat_days: int,
    survey: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Headline KPIs per comparison window, for the overview notebook and the index page.

    Parameters
    ----------
    transactions
        Validated transactions (Ibis table).
    windows
        The client's windows (`ccnb.windows.choose_windows`): the comparison windows and the
        day from which the base is known.
    activity
        `ccnb.churn.customer_activity` of the same transactions and churn window.
    early_repeat_days
        Window of the early repeat rate.
    survey
        Survey answers (``date``, ``nps``, ``csat``); NPS and CSAT are NaN without one.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per KPI and window (KPIs in `KPI_UNITS` order, windows oldest first),
        columns ``kpi``, ``unit`` (count, money, number, share, ratio, score), ``window`` (the
        window's label, e.g. "Jan 2025 – Dec 2025"), ``start``, ``end`` and ``value``:

        - ``customers_total``: customers with a purchase up to the window's end;
        - ``customers_active``: customers active at the window's end (bought within the churn
          window): the flow's ``closing``;
        - ``customers_acquired``: first purchases in the window (the flow's ``new``);
        - ``revenue``: net revenue in the window;
        - ``orders_per_customer``: orders / customers who bought in the window;
        - ``average_order_value``: net revenue / orders;
        - ``churn_rate``: share of the window's opening active base lost in it;
        - ``early_repeat_rate``: share of the window's new customers who bought again within
          ``early_repeat_days``, counting those acquired up to `early_repeat_acquired_to` (the
          latest window's last customers cannot be followed for the whole repeat window yet,
          and the earlier windows are cut as far before their end, like for like);
        - ``leaky_bucket_ratio``: customers lost / customers won in the window;
        - ``nps``, ``csat``: from the survey answers dated in the window (-100..100, 0..100).

        The flow KPIs (new customers, churn, early repeat, leaky bucket) are NaN for a window
        that starts before ``windows.base_known_from``, where first-time buyers are the
        existing base; the churn rate and leaky bucket also before losses are observable.
    """
    spans = [(window.start, window.end) for window in windows.comparison]
    flows = churn.flow_over(activity, spans=spans, windows=windows)
    first_spells = activity.spells[~activity.spells["returning"]]
    acquired_to = early_repeat_acquired_to(windows, early_repeat_days=early_repeat_days)
    records = []
    for window, flow, repeat_to in zip(
        windows.comparison, flows.itertuples(), acquired_to, strict=True
    ):
        known = bool(flow.base_known)
        seen = first_spells.loc[first_spells["start"] <= window.end, "customers"].sum()
        values = {
            "customers_total": float(seen),
            "customers_active": float(flow.closing),
            "customers_acquired": float(flow.new) if known else np.nan,
            **_trading(transactions, window),
            "churn_rate": flow.churn_rate,
            "early_repeat_rate": _early_repeat(
                transactions,
                window,
                acquired_to=repeat_to,
                windows=windows,
                early_repeat_days=early_repeat_days,
            )
            if known
            else np.nan,
            "leaky_bucket_ratio": flow.leaky_bucket_ratio,
        }
        for column in ("nps", "csat"):
            score = survey_score(survey, column, window)
            values[column] = getattr(score, column) if score is not None else np.nan
        records.extend(
            {
                "kpi": kpi,
                "unit": unit,
                "window": window.label,
                "start": window.start,
                "end": window.end,
                "value": float(values[kpi]),
            }
            for kpi, unit in KPI_UNITS.items()
        )
    table = pd.DataFrame.from_records(records)
    order = {kpi: position for position, kpi in enumerate(KPI_UNITS)}
    table = table.sort_values(
        ["kpi", "start"], key=lambda c: c.map(order) if c.name == "kpi" else c
    )
    return table.reset_index(drop=True).astype(
        {"start": "datetime64[ns]", "end": "datetime64[ns]", "value": "float64"}
    )


def kpi_changes(kpis: pd.DataFrame) -> pd.DataFrame:
    """The change of each KPI from the first to the last window of a `kpi_overview` table.

    Shares and scores change in points (percentage points for a share, NPS or CSAT points
    for a score); every other KPI changes relative to the first year.

    Parameters
    ----------
    kpis
        `kpi_overview` output (``kpi``, ``unit``, ``year``, ``value``).

    Returns
    -------
    pandas.DataFrame
        One row per KPI, in the order of ``kpis``: ``kpi``, ``unit``, ``previous`` (value in
        the first window; NaN with a single window), ``last`` (value in the last window),
        ``change`` and ``change_unit``:
        ``"points"`` (``(last - previous)`` x 100 for a share, x 1 for a score),
        ``"relative"`` (``last / previous - 1``), or None with ``change`` NaN when a value is
        missing or a relative change starts from 0.
    """
    starts = sorted(kpis["start"].unique())
    wide = kpis.pivot(index="kpi", columns="start", values="value")
    units = kpis.drop_duplicates("kpi").set_index("kpi")["unit"]
    records = []
    for kpi, unit in units.items():
        last = wide.loc[kpi, starts[-1]]
        previous = wide.loc[kpi, starts[0]] if len(starts) > 1 else np.nan
        missing = pd.isna(previous) or pd.isna(last)
        if unit in ("share", "score") and not missing:
            change, change_unit = (last - previous) * (100 if unit == "share" else 1), "points"
        elif previous and not missing:
            change, change_unit = last / previous - 1, "relative"
        else:
            change, change_unit = float("nan"), None
        records.append(
            {
                "kpi": kpi,
                "unit": unit,
                "previous": previous,
                "last": last,
                "change": change,
                "change_unit": change_unit,
            }
        )
    return pd.DataFrame.from_records(records).astype(
        {"previous": "float64", "last": "float64", "change": "float64"}
    )

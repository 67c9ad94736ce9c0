"""The KPI overview: one tidy table of the headline customer KPIs for the last two full years.

Combines the definitions of docs/methodology.md (churn rate, early repeat rate, leaky bucket, NPS,
CSAT) with the plain trading numbers (customers, revenue, orders per customer, average order value).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from ccnb import churn, nps

__all__ = ["KPI_UNITS", "kpi_changes", "kpi_overview", "last_full_years"]

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


def last_full_years(observation_end: dt.date, *, count: int = 2) -> list[int]:
    """The last ``count`` calendar years that end on or before ``observation_end``, oldest first."""
    last = (
        observation_end.year
        if observation_end >= dt.date(observation_end.year, 12, 31)
        else (observation_end.year - 1)
    )
    return list(range(last - count + 1, last + 1))


def _trading(transactions: ir.Table, years: list[int]) -> pd.DataFrame:
    """Revenue, orders and buyers per calendar year, computed in the engine."""
    t = transactions.mutate(year=transactions.date.year())
    t = t.filter(t.year.isin(years))
    is_purchase = t.amount >= 0
    order_key = ibis.coalesce(t.order_id, t.customer_id + ":" + t.date.cast("string"))
    table = (
        t.group_by("year")
        .agg(
            revenue=t.amount.sum(),
            orders=ibis.cases((is_purchase, order_key), else_=ibis.null("string")).nunique(),
            buyers=ibis.cases((is_purchase, t.customer_id), else_=ibis.null("string")).nunique(),
        )
        .execute()
    )
    return table.set_index("year").reindex(years)


def _by_year(frame: pd.DataFrame, column: str, years: list[int], date_column: str) -> pd.Series:
    values = frame.set_index(pd.to_datetime(frame[date_column]).dt.year)[column]
    return values.reindex(years)


def kpi_overview(
    transactions: ir.Table,
    *,
    observation_end: dt.date,
    churn_window_days: int,
    early_repeat_days: int,
    survey: pd.DataFrame | None = None,
    years: list[int] | None = None,
) -> pd.DataFrame:
    """Headline KPIs per calendar year, for the overview notebook and the index page.

    Parameters
    ----------
    transactions
        Validated transactions (Ibis table).
    observation_end
        Measurement date; later rows are ignored.
    churn_window_days
        Days without a purchase after which a customer counts as lost.
    early_repeat_days
        Window of the early repeat rate.
    survey
        Survey answers (``date``, ``nps``, ``csat``); NPS and CSAT are NaN without one.
    years
        Calendar years to report; default `last_full_years` (the last two complete years).

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per KPI and year (KPIs in `KPI_UNITS` order), columns ``kpi``, ``unit``
        (count, money, number, share, ratio, score), ``year``, ``value`` (NaN where it cannot
        be measured, e.g. a year before the data starts):

        - ``customers_total``: customers acquired up to the year's end;
        - ``customers_active``: customers active at the year's end (bought within the churn
          window);
        - ``customers_acquired``: first purchases in the year;
        - ``revenue``: net revenue in the year;
        - ``orders_per_customer``: orders / customers who bought in the year;
        - ``average_order_value``: net revenue / orders;
        - ``churn_rate``: lost / average of the active base at the year's start and end;
        - ``early_repeat_rate``: share of the year's new customers who bought again within
          ``early_repeat_days`` (censored customers left out);
        - ``leaky_bucket_ratio``: customers lost / customers acquired in the year;
        - ``nps``, ``csat``: from the survey answers dated in the year (-100..100, 0..100).
    """
    years = years or last_full_years(observation_end)
    window = {"observation_end": observation_end, "churn_window_days": churn_window_days}
    rates = churn.churn_rate(transactions, **window, freq="Y")
    leaks = churn.leaky_bucket(transactions, **window, freq="Y")
    early = churn.early_repeat_rate(
        transactions,
        observation_end=observation_end,
        early_repeat_days=early_repeat_days,
        by="cohort",
        period="Y",
        complete_only=False,
    )
    trading = _trading(transactions, years)
    acquired = _by_year(rates, "acquired", years, "period")
    values: dict[str, pd.Series] = {
        "customers_total": _by_year(
            rates, "acquired", sorted(set(rates["period"].dt.year)), "period"
        )
        .cumsum()
        .reindex(years),
        "customers_active": _by_year(rates, "active_end", years, "period"),
        "customers_acquired": acquired,
        "revenue": trading["revenue"],
        "orders_per_customer": trading["orders"] / trading["buyers"],
        "average_order_value": trading["revenue"] / trading["orders"],
        "churn_rate": _by_year(rates, "churn_rate", years, "period"),
        "early_repeat_rate": _by_year(early, "early_repeat_rate", years, "group"),
        "leaky_bucket_ratio": _by_year(leaks, "ratio", years, "period"),
        "nps": _survey_scores(survey, "nps", years),
        "csat": _survey_scores(survey, "csat", years),
    }
    records = [
        {"kpi": kpi, "unit": KPI_UNITS[kpi], "year": year, "value": float(values[kpi].get(year))}
        for kpi in KPI_UNITS
        for year in years
    ]
    return pd.DataFrame.from_records(records).astype({"year": "int64", "value": "float64"})


def _survey_scores(survey: pd.DataFrame | None, column: str, years: list[int]) -> pd.Series:
    if survey is None or survey.empty:
        return pd.Series(float("nan"), index=years)
    answers = survey.assign(year=pd.to_datetime(survey["date"]).dt.year)
    answers = answers[answers["year"].isin(years)]
    score = nps.nps if column == "nps" else nps.csat
    result = {}
    for year in years:
        scores = answers.loc[answers["year"] == year, column].dropna()
        result[year] = getattr(score(scores), column) if len(scores) else float("nan")
    return pd.Series(result)


def kpi_changes(kpis: pd.DataFrame) -> pd.DataFrame:
    """The change of each KPI from the first to the last year of a `kpi_overview` table.

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
        the first year), ``last`` (value in the last year), ``change`` and ``change_unit``:
        ``"points"`` (``(last - previous)`` x 100 for a share, x 1 for a score),
        ``"relative"`` (``last / previous - 1``), or None with ``change`` NaN when a value is
        missing or a relative change starts from 0.
    """
    years = sorted(kpis["year"].unique())
    wide = kpis.pivot(index="kpi", columns="year", values="value")
    units = kpis.drop_duplicates("kpi").set_index("kpi")["unit"]
    records = []
    for kpi, unit in units.items():
        previous, last = wide.loc[kpi, years[0]], wide.loc[kpi, years[-1]]
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

"""Sections of 02_cohorts: retention, cumulative revenue, layer cake, seasonal, channels."""

from __future__ import annotations

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.formatting import (
    count,
    day_label,
    escape_md,
    in_words,
    money,
    month_name,
    percent,
    period_label,
)
from ccnb.report._section import Section, _bullets, _figure, _section, _styled

__all__ = [
    "channel_cohorts",
    "cumulative_revenue",
    "layer_cake",
    "next_steps_cohorts",
    "retention",
    "seasonal",
]

_PERIOD_NAMES = {"M": "month", "Q": "quarter", "Y": "year"}


def _months(months: list[int]) -> str:
    """Calendar months in words: 'November or December', 'December, January or February'."""
    names = [month_name(month) for month in months]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


@_section(data="retention", options={"period": "cohorts.retention_period"})
def retention(analysis: ClientAnalysis, *, period: str | None = None) -> Section:
    """Retention triangle by acquisition cohort and age.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    period : {"M", "Q", "Y"}, optional
        Cohort and age period: month, quarter or year (``cohorts.retention_period``).
    """
    tidy = analysis.retention
    period = _PERIOD_NAMES[analysis.params.cohorts.retention_period]
    year_on = analysis.retention_a_year_on
    text = (
        f"Each row is a {period}'s new customers; each cell the share still buying that {period}."
    )
    if analysis.windows.warm_up_days:
        visible = analysis.windows.base_known_from
        text += (
            f" Customers first seen before {day_label(visible)} are the existing base, not a "
            "cohort."
        )
        first = tidy["cohort"].min()
        if first > visible:  # a cohort is a whole period: the one under way at `visible` is not
            text += (
                f" Cohorts start with the first whole {period} after it, "
                f"{period_label(first, analysis.params.cohorts.retention_period)}: customers "
                f"first seen from {day_label(visible)} to "
                f"{day_label(first - pd.Timedelta(days=1))} are in no cohort here."
            )
    if year_on["cohorts"]:
        pooled = (
            "the only measurable cohort"
            if year_on["cohorts"] == 1
            else f"the last {in_words(year_on['cohorts'])} measurable cohorts"
        )
        text += (
            f" A year after their first {period}, {percent(year_on['retention'])} of {pooled} "
            f"bought again in that {period}.{_whole_year_after(analysis, period=period)} Blank "
            "cells are not observed yet."
        )
    figure = plots.retention_heatmap(tidy, period=analysis.params.cohorts.retention_period)
    return Section(text=text, figure=_figure(figure))


def _whole_year_after(analysis: ClientAnalysis, *, period: str) -> str:
    """Where the audit counts buying over the whole year after the first: a pointer, or "".

    A quarter's or month's share buying a year on counts one period only; the customer-base
    audit's yearly cohorts count any purchase in the year after their first, a larger share.
    Naming both keeps a reader from taking one for the other.
    """
    if period == "year" or analysis.params.audit.cohort_period != "Y":
        return ""
    try:
        evolution = analysis.cohort_evolution
    except Unavailable:
        return ""
    shares = evolution.loc[evolution["age"] == 1, "active_share"]
    if shares.empty:
        return ""
    low, high = percent(shares.min()), percent(shares.max())
    span = low if low == high else f"{low} to {high}"
    return (
        f" That counts one {period}; over the whole calendar year after the one of their "
        f"first purchase, {span} of each year's new customers bought ([How a cohort evolves]"
        "(05_customer_base_audit.html#how-a-cohort-evolves) in the customer-base audit)."
    )


@_section(data="revenue_cohorts")
def cumulative_revenue(analysis: ClientAnalysis) -> Section:
    """Cumulative revenue per acquired customer by cohort."""
    tidy = analysis.revenue_cohorts
    at_one_year = tidy[tidy["age"] == 3].dropna(subset=["cumulative_revenue_per_customer"])
    text = "Cumulative net revenue per acquired customer, by quarter of acquisition."
    if len(at_one_year) >= 2:
        first, last = at_one_year.iloc[0], at_one_year.iloc[-1]
        text += (
            " After four quarters (the quarter of their first purchase and the three after), "
            f"customers acquired in {period_label(last['cohort'], 'Q')} had brought "
            f"{money(last['cumulative_revenue_per_customer'], analysis.currency)} each, "
            f"against {money(first['cumulative_revenue_per_customer'], analysis.currency)} for "
            f"those acquired in {period_label(first['cohort'], 'Q')}."
        )
    figure = _figure(plots.cumulative_revenue_curves(tidy, period="Q", currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section(data="layer_cake")
def layer_cake(analysis: ClientAnalysis) -> Section:
    """Revenue per quarter by acquisition year."""
    layers = analysis.layer_cake
    newest = analysis.newest_layer_share
    text = "Each layer is the revenue from one year's new customers"
    if layers["cohort"].isna().any():
        text += (
            "; the grey bottom layer is the existing base (first seen before "
            f"{day_label(analysis.windows.base_known_from)})"
        )
    text += ". "
    if pd.isna(newest["share"]):
        text += f"{period_label(newest['period'], 'Q')} brought no net revenue."
    elif pd.isna(newest["cohort"]):
        text += (
            f"In {period_label(newest['period'], 'Q')} all revenue came from the existing base; "
            "no customer acquired since bought."
        )
    else:
        visible = analysis.windows.base_known_from
        acquired = f"{newest['cohort']:%Y}"
        if visible.year == newest["cohort"].year and visible > newest["cohort"]:
            acquired += f" (from {day_label(visible)}, when acquisitions become visible)"
        text += (
            f"In {period_label(newest['period'], 'Q')}, customers acquired in {acquired} "
            f"brought {percent(newest['share'])} of revenue"
        )
        if newest["share"] < 1:
            latest = layers[layers["period"] == newest["period"]]
            others = [
                name
                for name, present in (
                    (
                        "customers acquired in earlier years",
                        (latest["cohort"] < newest["cohort"]).any(),
                    ),
                    ("the existing base", latest["cohort"].isna().any()),
                )
                if present
            ]
            if others:
                text += "; the rest came from " + " and ".join(others)
        text += "."
    figure = _figure(plots.layer_cake(layers, cohort_period="Y", currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section(
    data="seasonal_cohorts",
    options={
        "holiday_months": "cohorts.holiday_months",
        "years": "cohorts.season_years",
        "seasons": "cohorts.seasons_compared",
    },
)
def seasonal(
    analysis: ClientAnalysis,
    *,
    holiday_months: list[int] | None = None,
    years: list[int] | None = None,
    seasons: int | None = None,
) -> Section:
    """Same-season (holiday) cohorts across years on the same ages.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    holiday_months : list of int, optional
        Consecutive months of the season, e.g. ``[11, 12]`` (``cohorts.holiday_months``).
    years : list of int, optional
        Years whose seasons are compared (``cohorts.season_years``).
    seasons : int, optional
        How many of the latest seasons to compare when no years are given
        (``cohorts.seasons_compared``).
    """
    table = analysis.seasonal_cohorts
    last_age = table["age"].max()
    end = table[table["age"] == last_age].sort_values("season_year")
    latest, earlier = end.iloc[-1], end.iloc[-2]
    text = (
        f"Holiday buyers (first purchase in {_months(analysis.params.cohorts.holiday_months)}) "
        "compared year on year: "
        f"{last_age} months on, the {escape_md(latest['season'])} customers had brought "
        f"{money(latest['cumulative_revenue_per_customer'], analysis.currency)} each, against "
        f"{money(earlier['cumulative_revenue_per_customer'], analysis.currency)} for "
        f"{escape_md(earlier['season'])}; {percent(latest['repeat_rate'])} of them had bought "
        f"again (vs {percent(earlier['repeat_rate'])})."
    )
    figure = _figure(plots.seasonal_cohorts(table, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section(data="cohort_by_channel")
def channel_cohorts(analysis: ClientAnalysis) -> Section:
    """First-year repeat share and revenue per customer by acquisition channel."""
    table = analysis.cohort_by_channel
    text = _channel_gap_text(analysis.channel_repeat_gap)
    shown = table[
        [
            "acquisition_channel",
            "customers",
            "repeat_share",
            "revenue_per_customer",
            "acquisition_cost_per_customer",
        ]
    ]
    styled = _styled(
        shown,
        name="channel-cohorts",
        currency=analysis.currency,
        money_columns=("revenue_per_customer", "acquisition_cost_per_customer"),
        percent_columns=("repeat_share",),
        count_columns=("customers",),
        labels={
            "acquisition_channel": "channel",
            "repeat_share": "repeat within a year",
            "revenue_per_customer": "first-year revenue per customer",
            "acquisition_cost_per_customer": "acquisition cost per customer",
        },
    )
    return Section(text=text, table=styled)


def _channel_gap_text(gap: pd.Series) -> str:
    """The best and the worst channel's repeat shares, and whether the gap is more than chance."""
    best, worst = escape_md(gap["best_channel"]), escape_md(gap["worst_channel"])
    shares = (
        f"Within a year of their first purchase, {percent(gap['best_share'])} of customers won "
        f"through {best} bought again, against {percent(gap['worst_share'])} through {worst}"
    )
    interval = (
        f"{percent(gap['confidence'])} interval of the gap from the numbers of customers alone: "
        f"{_points(gap['gap_low'])} to {_points(gap['gap_high'])} points"
    )
    if gap["clear"]:
        return (
            f"{shares}, the lowest share of any channel: a gap of {_points(gap['gap'])} points "
            f"({interval}), too large for chance."
        )
    return (
        f"{shares}, a gap chance alone could give at these sizes ({interval}, "
        f"{count(gap['best_eligible'])} and {count(gap['worst_eligible'])} customers): no "
        "channel clearly brings a higher share of one-and-done customers."
    )


def _points(share: float) -> str:
    return f"{100 * share:+.1f}"


@_section
def next_steps_cohorts(analysis: ClientAnalysis) -> Section:
    """Actions from the cohort views."""
    lines = []
    try:
        gap = analysis.channel_repeat_gap
        if gap["clear"]:
            lines.append(
                f"Find out why customers from {escape_md(gap['worst_channel'])} come back "
                f"least often ({percent(gap['worst_share'])} bought again within a year, "
                f"against {percent(gap['best_share'])} from "
                f"{escape_md(gap['best_channel'])}) before buying more of them: test a "
                "follow-up message timed to their first weeks."
            )
        else:
            lines.append(
                "Customers from every channel come back at rates too close to tell apart at "
                "these sizes, so judge the channels on their cost and first-year revenue, and "
                "look for what brings a customer back in the first order itself (delivery, "
                "product, follow-up)."
            )
    except Unavailable:
        lines.append(
            "Add the acquisition channel of each customer (a customers table) to see which "
            "channels bring customers who stay."
        )
    flow = analysis.window_flows.iloc[-1]
    if flow["base_known"] and flow["new"] == 0:
        lines.append(
            f"No cohort was added in {analysis.windows.last.label}: there is no new cohort to "
            "watch until acquisition starts again, and the cohorts above age without "
            "replacement."
        )
    else:
        lines.append(
            "Watch the newest cohorts' first-year revenue per customer each quarter: a drop is "
            "the earliest sign that acquisition is bringing in less valuable customers."
        )
    return Section(text=_bullets(lines))

"""Sections of 05_customer_base_audit: the five lenses, time to second purchase, products."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.audit.health import DEPENDS_ON_NEW, EXISTING_BASE, NO_PURCHASE, RESTS_ON_EXISTING
from ccnb.audit.products import VALUE_DAYS
from ccnb.formatting import count, day_label, escape_md, money, percent, signed_percent
from ccnb.report._section import Section, _figure, _section, _styled
from ccnb.windows import date_range_label

__all__ = [
    "base_health",
    "cohort_comparison",
    "cohort_evolution",
    "customer_differences",
    "product_lens",
    "revenue_bridge",
    "time_to_second_purchase",
]

#: a factor whose change is within this of 0 "stayed about the same"
_ABOUT_THE_SAME = 0.05

_FACTOR_WORDS = {
    "size": ("larger", "smaller", "the number of customers"),
    "active_share": (
        "more of them still buying",
        "fewer of them still buying",
        "the share still buying",
    ),
    "orders_per_active": ("buying more often", "buying less often", "how often they buy"),
    "average_order_value": (
        "spending more per order",
        "spending less per order",
        "what they spend per order",
    ),
}


#: below this many buyers some deciles are empty: the text does not speak of tenths
_MIN_BUYERS_FOR_DECILES = 10


def _window(start, end) -> str:
    return date_range_label(start, end)


@_section(data="customer_differences.deciles")
def customer_differences(analysis: ClientAnalysis) -> Section:
    """Lens 1: how different the customers are (deciles, Lorenz curve, one-time buyers)."""
    result = analysis.customer_differences
    currency = analysis.currency
    period = _window(result.start, result.end)
    deciles = result.deciles.set_index("decile")
    bottom_half = deciles.loc[6:10, "revenue_share"].sum()
    per_buyer = deciles["revenue"] / deciles["customers"].where(deciles["customers"] > 0)
    if result.buyers >= _MIN_BUYERS_FOR_DECILES:
        text = (
            f"In {period}, {count(result.buyers)} customers bought. The top 10% of them "
            f"brought {percent(result.top_10_share)} of their net revenue and the top 20% "
            f"{percent(result.top_20_share)}; the bottom half {percent(bottom_half)} (Gini "
            f"{result.gini:.2f}: 0 if every buyer spent the same, 1 if one bought everything). "
            f"A top-decile buyer spent {money(per_buyer[1], currency)} on average, a "
            f"bottom-decile one {money(per_buyer[10], currency)}. "
        )
    else:  # some deciles empty: say what the few buyers show, not shares of tenths
        text = (
            f"In {period}, only {count(result.buyers, 'customer')} bought, too few to cut "
            f"into ten groups: the largest buyer brought {percent(deciles.loc[1, 'revenue_share'])}"
            f" of their net revenue ({money(per_buyer[1], currency)}). "
        )
    text += (
        f"{percent(result.one_time_share)} of the buyers ordered once in the period: turning "
        "part of them into second-time buyers is where the base can grow most cheaply."
    )
    if result.returns_only:
        text += (
            f" {count(result.returns_only)} more customers only returned goods in the period "
            f"({money(result.returns_only_revenue, currency)}): they are in the period's "
            "revenue but are not buyers."
        )
    deciles_with_buyers = result.deciles[result.deciles["customers"] > 0]
    shown = deciles_with_buyers[
        [
            "decile",
            "customers",
            "revenue",
            "orders",
            "gross_margin",
            "revenue_share",
            "orders_share",
        ]
    ]
    table = _styled(
        shown,
        name="deciles",
        currency=currency,
        money_columns=("revenue", "gross_margin"),
        count_columns=("customers", "orders"),
        percent_columns=("revenue_share", "orders_share"),
        labels={
            "revenue": "net revenue",
            "gross_margin": "gross margin",
            "revenue_share": "share of revenue (and of margin)",
            "orders_share": "share of orders",
        },
    )
    figure = plots.lorenz_deciles(result.lorenz, result.deciles, gini=result.gini)
    orders = result.orders.rename_axis("orders in the period").reset_index()
    orders_table = _styled(
        orders,
        name="orders-per-buyer",
        count_columns=("customers",),
        labels={"customers": "buyers"},
    )
    return Section(text=text, figure=figure, table=table, extra=[orders_table])


@_section(data="revenue_bridge.bridge")
def revenue_bridge(analysis: ClientAnalysis) -> Section:
    """Lens 2: customers new, retained, reactivated and lost; the revenue bridge."""
    result = analysis.revenue_bridge
    currency = analysis.currency
    flows = result.flows.set_index("status")
    steps = result.bridge.set_index("step")["amount"]
    before, now = _window(*result.previous), _window(*result.current)
    previous, current = steps.iloc[0], steps.iloc[-1]
    change = (current - previous) / previous if previous else np.nan
    text = (
        f"Net revenue went from {money(previous, currency)} in {before} to "
        f"{money(current, currency)} in {now} ({signed_percent(change, digits=1)}; the KPI "
        f"overview's revenue). {count(flows.loc['lost', 'customers'])} customers who bought in "
        f"{before} did not in {now}: {money(flows.loc['lost', 'previous_revenue'], currency)} "
        f"of revenue lost. The {count(flows.loc['retained', 'customers'])} who bought in both "
        f"spent {money(-steps['retained, spending less'], currency)} less (those who cut back) "
        f"and {money(steps['retained, spending more'], currency)} more (those who grew): "
        f"same-customer growth {signed_percent(result.same_customer_growth, digits=1)}. "
        f"{count(flows.loc['reactivated', 'customers'])} earlier customers came back "
        f"({money(flows.loc['reactivated', 'current_revenue'], currency)}) and "
        f"{count(flows.loc['new', 'customers'])} new customers brought "
        f"{money(flows.loc['new', 'current_revenue'], currency)}. The steps add up exactly to "
        "the change. A customer counts in a period when they have a transaction in it; the "
        "KPI overview's active base counts customers by the churn window instead, so its "
        "numbers of won and lost customers differ."
    )
    shown = result.flows.assign(
        change=result.flows["current_revenue"] - result.flows["previous_revenue"]
    )
    # a status with no revenue in a period by definition shows a dash, not 0
    absent = {"new": "previous_revenue", "reactivated": "previous_revenue"}
    absent["lost"] = "current_revenue"
    for status, column in absent.items():
        shown.loc[shown["status"] == status, column] = np.nan
    table = _styled(
        shown,
        name="flows",
        currency=currency,
        count_columns=("customers",),
        money_columns=("previous_revenue", "current_revenue", "change"),
        labels={
            "previous_revenue": f"revenue {before}",
            "current_revenue": f"revenue {now}",
            "change": "change",
        },
    )
    figure = _figure(plots.revenue_bridge(result.bridge, currency=currency))
    return Section(text=text, figure=figure, table=table)


def _cohort_name(cohort, period: str) -> str:
    stamp = pd.Timestamp(cohort)
    return f"{stamp:%Y}" if period == "Y" else f"Q{stamp.quarter} {stamp:%Y}"


@_section(data="cohort_evolution", options={"period": "audit.cohort_period"})
def cohort_evolution(analysis: ClientAnalysis, *, period: str | None = None) -> Section:
    """Lens 3: how each acquisition cohort evolves with age.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    period : {"Q", "Y"}, optional
        Cohort and age period (``audit.cohort_period``).
    """
    table = analysis.cohort_evolution
    period = analysis.params.audit.cohort_period
    unit = "year" if period == "Y" else "quarter"
    currency = analysis.currency
    later = table[table["age"] == 1]
    text = (
        f"Each cohort is the customers whose first purchase fell in one {unit}; age 0 is that "
        f"{unit}, age 1 the {unit} after. "
    )
    if len(later):
        text += (
            f"One {unit} on, {percent(later['active_share'].min())} to "
            f"{percent(later['active_share'].max())} of a cohort are still buying; those who "
            f"do place {later['orders_per_active'].mean():.1f} orders each on average against "
            f"{table.loc[table['age'] == 0, 'orders_per_active'].mean():.1f} in their first "
            f"{unit}. "
        )
    oldest = table[table["cohort"] == table["cohort"].min()]
    which = "oldest" if table["cohort"].nunique() > 1 else "only"
    periods = f"{len(oldest)} {unit}" + ("s" if len(oldest) > 1 else "")
    text += (
        f"The {which} cohort ({_cohort_name(oldest['cohort'].iloc[0], period)}, "
        f"{count(oldest['size'].iloc[0])} customers) has brought "
        f"{money(oldest['revenue_per_customer'].sum(), currency)} per acquired customer over "
        f"{periods}. Only complete {unit}s are shown."
    )
    if analysis._acquired_from is not None:
        text += (
            f" Customers first seen before {day_label(analysis._acquired_from)} are the "
            "existing base of the warm-up, not a cohort; cohorts start with the first whole "
            f"{unit} after it."
        )
    shown = table.assign(cohort=[_cohort_name(c, period) for c in table["cohort"]])[
        [
            "cohort",
            "age",
            "size",
            "active_share",
            "orders_per_active",
            "average_order_value",
            "revenue_per_customer",
            "revenue",
        ]
    ]
    styled = _styled(
        shown,
        name="cohort-evolution",
        currency=currency,
        count_columns=("size",),
        percent_columns=("active_share",),
        money_columns=("average_order_value", "revenue_per_customer", "revenue"),
        decimals={"orders_per_active": 2},
        labels={
            "size": "customers acquired",
            "active_share": "share buying",
            "orders_per_active": "orders per buyer",
            "average_order_value": "order value",
            "revenue_per_customer": "revenue per acquired customer",
            "revenue": "net revenue",
        },
    )
    figure = plots.cohort_evolution(table, period_label=unit, currency=currency)
    return Section(text=text, figure=figure, table=styled)


_FACTOR_LABELS = {
    "size": "customers",
    "active_share": "share buying",
    "orders_per_active": "orders per buyer",
    "average_order_value": "average order value",
    "revenue": "net revenue",
}


def _factor_value(factor: str, value: float, currency: str) -> str:
    """A factor's value as a reader reads it: a count, a share, a number or money."""
    if factor == "size":
        return count(value)
    if factor == "active_share":
        return percent(value)
    if factor == "orders_per_active":
        return f"{value:.2f}"
    return money(value, currency)


def _more_or_less(ratio: float) -> str:
    """'31% more' or '12% less'."""
    return f"{percent(abs(ratio - 1))} {'more' if ratio >= 1 else 'less'}"


def _factor_clause(factor: str, ratio: float) -> str:
    more, less, _ = _FACTOR_WORDS[factor]
    about_the_same = abs(ratio - 1) < _ABOUT_THE_SAME
    change = signed_percent(ratio - 1, digits=1 if about_the_same else 0)
    if about_the_same:  # the change is still given: -4.5% is not nothing
        return {
            "size": "about as large",
            "active_share": "about as many still buying",
            "orders_per_active": "buying about as often",
            "average_order_value": "spending about the same per order",
        }[factor] + f" ({change})"
    return f"{more if ratio > 1 else less} ({change})"


@_section(data="cohort_comparison")
def cohort_comparison(analysis: ClientAnalysis) -> Section:
    """Lens 4: the latest cohort against the one before, and the factor behind the difference."""
    try:
        _ = analysis.cohort_evolution
    except Unavailable as reason:  # said in full by lens 3 just above
        raise Unavailable(
            "Not shown, for the reason given under how a cohort evolves: without cohorts "
            "followed for a complete period there is nothing to compare."
        ) from reason
    table = analysis.cohort_comparison
    period = analysis.params.audit.cohort_period
    unit = "year" if period == "Y" else "quarter"
    # per age, the two cohorts compared: (earlier, later)
    names = {
        age: (
            _cohort_name(rows["previous_cohort"].iloc[0], period),
            _cohort_name(rows["latest_cohort"].iloc[0], period),
        )
        for age, rows in table.groupby("age")
    }
    sentences = []
    for age, rows in table.groupby("age"):
        rows = rows.set_index("factor")
        previous, latest = names[age]
        factors = rows.drop(index="revenue")
        moved = factors["log_ratio"].abs().sort_values(ascending=False)
        drivers = list(moved.index[:1])
        if len(moved) > 1 and moved.iloc[0] > 0 and moved.iloc[1] >= 0.8 * moved.iloc[0]:
            drivers = list(moved.index[:2])  # two factors moved about as much
        when = f"in its first {unit}" if age == 0 else f"in the {unit} after its first"
        clauses = [
            _factor_clause(factor, rows.loc[factor, "ratio"])
            for factor in ("size", "orders_per_active", "average_order_value")
            + (("active_share",) if age > 0 else ())
        ]
        sentence = (
            f"The {latest} cohort ({count(rows.loc['size', 'latest'])} customers) brought "
            f"{_more_or_less(rows.loc['revenue', 'ratio'])} revenue {when} than the {previous} "
            f"cohort ({count(rows.loc['size', 'previous'])}): it is "
            + ", ".join(clauses[:-1])
            + f" and {clauses[-1]}"
        )
        if moved.notna().any() and moved.iloc[0] >= np.log1p(_ABOUT_THE_SAME):
            named = " and ".join(_FACTOR_WORDS[factor][2] for factor in drivers)
            sentence += f". Most of the difference is {named}."
        else:
            sentence += "."
        sentences.append(sentence)
    text = (
        " ".join(sentences)
        + " Revenue is exactly customers x share buying x orders per buyer x order value, so "
        "each factor's change multiplies into the revenue's."
    )
    currency = analysis.currency
    cohorts = {age: f"{previous} vs {latest}" for age, (previous, latest) in names.items()}
    shown = pd.DataFrame(
        {
            "age": [
                f"first {unit}" if age == 0 else f"{unit} after the first" for age in table["age"]
            ],
            "cohorts": table["age"].map(cohorts),
            "factor": table["factor"].map(_FACTOR_LABELS),
            **{
                column: [
                    "–" if pd.isna(value) else _factor_value(factor, value, currency)
                    for factor, value in zip(table["factor"], table[column], strict=True)
                ]
                for column in ("previous", "latest")
            },
            "change": table["ratio"] - 1,
        }
    )
    styled = _styled(
        shown,
        name="cohort-factors",
        percent_columns=("change",),
        labels={
            "age": "cohort age",
            "cohorts": "cohorts compared",
            "previous": "earlier cohort",
            "latest": "later cohort",
        },
    )
    figure = _figure(plots.cohort_factors(table))
    return Section(text=text, figure=figure, table=styled)


@_section(data="base_health.layers")
def base_health(analysis: ClientAnalysis) -> Section:
    """Lens 5: where this period's revenue comes from, by acquisition year."""
    result = analysis.base_health
    currency = analysis.currency
    period = _window(result.start, result.end)
    layers = result.layers
    verdicts = {
        "depends on new customers": (
            f"the business depends on new customers (at least {percent(DEPENDS_ON_NEW)} of "
            "the revenue from customers won in the period), so a weak acquisition year shows "
            "straight away in revenue"
        ),
        "rests on existing customers": (
            f"the business rests on its existing customers (at most {percent(RESTS_ON_EXISTING)}"
            " from new ones): healthy while they stay, exposed if retention slips"
        ),
        "balanced": "revenue is balanced between new and existing customers",
        "no new customers": (
            "no customer was acquired in the period, so all of its revenue comes from earlier "
            "customers (a closed panel, or acquisition has stopped) and the base can only "
            "shrink"
        ),
        "undetermined": (
            "how much of this revenue new customers brought cannot be told from this data: "
            f"between {percent(result.new_share)} and "
            f"{percent(result.new_share + result.unknown_share)}, too wide a range for a verdict"
        ),
    }
    in_period = {str(year) for year in range(result.start.year, result.end.year + 1)}
    older = layers[~layers["layer"].isin(in_period | {NO_PURCHASE})]
    total = money(layers["revenue"].sum(), currency)
    if result.unknown_share > 0:
        windows = analysis.windows
        visible = windows.base_known_from
        text = (
            f"Of the net revenue of {period} ({total}, the KPI overview's), "
            f"{percent(result.new_share)} came from customers acquired in the period (first "
            f"seen from {day_label(visible)}, when acquisitions become visible), "
            f"{percent(1 - result.new_share - result.unknown_share)} from customers first "
            f"seen before the period and {percent(result.unknown_share)} from customers first "
            f"seen between {day_label(result.start)} and "
            f"{day_label(visible - pd.Timedelta(days=1))}: the data starts on "
            f"{day_label(windows.data_start)}, so whether they were new then it does not show. "
            f"So {verdicts[result.verdict]}. "
        )
        # the existing base mixes earlier customers with possibly new ones: not 'earlier'
        older = older[older["layer"] != EXISTING_BASE]
    else:
        text = (
            f"Of the net revenue of {period} ({total}, the KPI overview's), "
            f"{percent(result.new_share)} came from customers whose first purchase was in the "
            f"period and {percent(1 - result.new_share)} from earlier customers: "
            f"{verdicts[result.verdict]}. "
        )
    if len(older):
        top = older.loc[older["revenue"].idxmax()]
        earlier = older["revenue"].sum()
        of_earlier = top["revenue"] / earlier if earlier else np.nan
        text += (
            f"Of the earlier customers, the {escape_md(top['layer'])} layer brings the most: "
            f"{percent(top['share'])} of the period's revenue, {percent(of_earlier)} of what "
            "earlier customers brought. "
        )
    text += "The layer cake below shows each acquisition year's revenue quarter by quarter."
    styled = _styled(
        layers,
        name="layers",
        currency=currency,
        count_columns=("customers",),
        money_columns=("revenue",),
        percent_columns=("share",),
        labels={"layer": "acquired in", "share": "share of revenue"},
    )
    try:
        figure = _figure(plots.layer_cake(analysis.layer_cake, currency=currency))
    except Unavailable:  # no whole quarter to draw: the table still stands
        figure = None
    return Section(text=text, figure=figure, table=styled)


@_section(data="repeat_timing", options={"days": "audit.repeat_days"})
def time_to_second_purchase(analysis: ClientAnalysis, *, days: list[int] | None = None) -> Section:
    """Days from first to second purchase, censoring handled, and when to follow up.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    days : list of int, optional
        Days after the first purchase to report (``audit.repeat_days``).
    """
    timing = analysis.repeat_timing
    days = analysis.params.audit.repeat_days
    everyone = timing[timing["by"] == "all"].iloc[0]
    shares = [
        f"{percent(everyone[f'within_{day}'])} within {day} days"
        for day in days
        if pd.notna(everyone[f"within_{day}"])
    ]
    text = (
        f"Of the {count(everyone['customers'], 'customer')} acquired between "
        f"{day_label(analysis.windows.base_known_from)} and "
        f"{day_label(analysis.observation_end)}, "
        + (
            shares[0].replace(" within", " had bought again within", 1)
            + "".join(f", {share}" for share in shares[1:])
            if shares
            else "none was observed long enough to count a second purchase"
        )
        + " (Kaplan-Meier: a customer still inside the window without a second purchase counts "
        "as possibly repeating later, not as never; the KPI overview's early repeat rate and the "
        "cohorts report's repeat within a year by channel count only customers observed for "
        "the whole window, so they differ a little where recent customers are still inside "
        "it). "
    )
    half = everyone["half_of_repeaters_day"]
    if pd.notna(everyone["eventual_share"]) and pd.notna(half):
        text += (
            f"Within a year {percent(everyone['eventual_share'])} repeat, and half of them have "
            f"done so by day {half:.0f}: a follow-up (reminder, offer, replenishment) belongs "
            f"before day {half:.0f} after the first order. "
        )
    channels = timing[(timing["by"] == "channel") & timing["half_of_repeaters_day"].notna()]
    if len(channels) > 1:
        fast = channels.loc[channels["half_of_repeaters_day"].idxmin()]
        slow = channels.loc[channels["half_of_repeaters_day"].idxmax()]
        text += (
            f"By acquisition channel, {escape_md(fast['group'])} customers repeat soonest "
            f"(half of the repeaters by day {fast['half_of_repeaters_day']:.0f}) and "
            f"{escape_md(slow['group'])} latest (day {slow['half_of_repeaters_day']:.0f})."
        )
    shown = timing[
        [
            "by",
            "group",
            "customers",
            *[f"within_{day}" for day in days],
            "eventual_share",
            "half_of_repeaters_day",
        ]
    ]
    styled = _styled(
        shown,
        name="repeat-timing",
        count_columns=("customers",),
        percent_columns=(*[f"within_{day}" for day in days], "eventual_share"),
        decimals={"half_of_repeaters_day": 0},
        labels={
            **{f"within_{day}": f"within {day} days" for day in days},
            "eventual_share": "within a year",
            "half_of_repeaters_day": "day half the repeaters are reached",
        },
    )
    figure = _figure(plots.repeat_curves(analysis.repeat_curves, days=days))
    return Section(text=text, figure=figure, table=styled)


@_section(data="product_lens.categories")
def product_lens(analysis: ClientAnalysis) -> Section:
    """The product lens: which first categories bring the best customers, and where next."""
    result = analysis.product_lens
    currency = analysis.currency
    table = result.categories.dropna(subset=["value_12m"])
    if table.empty:
        text = "No customer has been observed for a year after their first purchase yet."
        return Section(text=text)
    best, worst = table.iloc[0], table.iloc[-1]
    text = (
        f"Customers whose first purchase was in {escape_md(best['category'])} brought "
        f"{money(best['value_12m'], currency)} each in their first 12 months, "
        f"{best['value_12m'] / worst['value_12m']:.1f} times those who started in "
        f"{escape_md(worst['category'])} ({money(worst['value_12m'], currency)}). "
        f"{escape_md(best['category'])} is {percent(best['first_purchase_share'])} of first "
        f"purchases and {percent(best['revenue_share'])} of all net revenue in the data"
    )
    if pd.notna(best["rclv"]):
        text += (
            f"; its customers' residual CLV averages {money(best['rclv'], currency)} against "
            f"{money(worst['rclv'], currency)} for {escape_md(worst['category'])}"
        )
    diagonal = np.diag(result.transitions.reindex(columns=result.transitions.index).to_numpy())
    text += (
        f". Leading acquisition with {escape_md(best['category'])} is worth testing, on "
        "revenue (the data has no margin by category): the category may mark who a customer "
        "already is rather than make them so. Of the repeat buyers, "
        f"{percent(np.nanmean(diagonal))} on average buy in the same category again on their "
        "next purchase day; the transition table shows where the others go. First-year "
        f"value counts the customers followed for their whole first {VALUE_DAYS} days, those whose "
        f"first purchase was by {day_label(result.observed_through)}."
    )
    shown = result.categories
    styled = _styled(
        shown,
        name="categories",
        currency=currency,
        count_columns=("new_customers", "observed_customers"),
        percent_columns=("first_purchase_share", "revenue_share"),
        money_columns=("value_12m", "rclv"),
        labels={
            "new_customers": "new customers",
            "first_purchase_share": "share of first purchases",
            "revenue_share": "share of revenue",
            "observed_customers": "observed a full year",
            "value_12m": "first-year net revenue per customer",
            "rclv": "mean residual CLV",
        },
    )
    transitions = result.transitions.reset_index()
    transitions.columns.name = None
    transitions_table = _styled(
        transitions,
        name="transitions",
        percent_columns=tuple(result.transitions.columns),
    )
    figure = _figure(plots.category_value(result.categories, currency=currency))
    return Section(text=text, figure=figure, table=styled, extra=[transitions_table])

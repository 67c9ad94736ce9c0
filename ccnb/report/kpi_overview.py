"""Sections of 00_kpi_overview: KPIs, active base, churn and leaks, satisfaction, equity."""

from __future__ import annotations

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.batch import exports
from ccnb.errors import ModelUnavailable
from ccnb.formatting import count, day_label, in_words, money, percent, period_label, signed_percent
from ccnb.report._section import (
    MODEL_CHECK_ELSEWHERE,
    Section,
    _bullets,
    _equity_interval,
    _equity_interval_meaning,
    _figure,
    _section,
    _styled,
)
from ccnb.report.common import churn_window_warning, early_repeat_cut, window_notes

__all__ = [
    "active_base",
    "churn_and_leaks",
    "early_repeat",
    "equity_headline",
    "kpi_export",
    "kpi_table",
    "next_steps_overview",
    "satisfaction",
]


#: below this many customers at a quarter's opening, one customer moves its churn rate by
#: more than 2 points: the report says the rate is an indication
SMALL_OPENING_BASE = 50

_KPI_LABELS = {
    "customers_total": "Customers with a purchase to date (window end)",
    "customers_active": "Active customers at window end",
    "customers_acquired": "New customers",
    "revenue": "Net revenue",
    "orders_per_customer": "Orders per buying customer",
    "average_order_value": "Average order value",
    "churn_rate": "Churn rate (share of opening base lost)",
    "early_repeat_rate": "Early repeat rate (new customers)",
    "leaky_bucket_ratio": "Leaky bucket ratio (lapsed / new)",
    "nps": "NPS (-100 to 100)",
    "csat": "CSAT (% satisfied)",
}


def _kpi_value(value: float, unit: str, currency: str) -> str:
    if pd.isna(value):
        return "–"
    if unit == "money":
        return money(value, currency)
    if unit == "share":
        return percent(value, digits=1)
    if unit == "count":
        return count(value)
    return f"{value:.2f}" if unit in ("ratio", "number") else f"{value:.1f}"


def _base_change(flow: pd.Series) -> str:
    """'grew from 1,953 to 2,571 (+32%)' from a flow row."""
    opening, closing = flow["opening"], flow["closing"]
    verb = "grew" if closing > opening else "shrank" if closing < opening else "held"
    change = f" ({signed_percent(closing / opening - 1)})" if opening else ""
    return f"{verb} from {count(opening)} to {count(closing)}{change}"


@_section(data="kpis")
def kpi_table(analysis: ClientAnalysis) -> Section:
    """The headline KPIs over the comparison windows, with the change."""
    kpis = analysis.kpis
    windows = analysis.windows
    labels = [window.label for window in windows.comparison]
    wide = kpis.pivot(index="kpi", columns="window", values="value").reindex(_KPI_LABELS)
    changes = analysis.kpi_changes.set_index("kpi")
    rows = []
    shown = {
        kpi: label
        for kpi, label in _KPI_LABELS.items()
        if analysis.params.survey is not None or kpi not in ("nps", "csat")
    }
    for kpi, label in shown.items():
        unit, change, change_unit = changes.loc[kpi, ["unit", "change", "change_unit"]]
        values = [_kpi_value(wide.loc[kpi, window], unit, analysis.currency) for window in labels]
        if change_unit == "points":
            shown = f"{change:+.1f} pts"
        elif change_unit == "relative":
            shown = signed_percent(change)
        else:
            shown = "–"
        rows.append([label, *values, shown] if windows.year_on_year else [label, *values])
    columns = ["KPI", *labels, "change"] if windows.year_on_year else ["KPI", *labels]
    table = pd.DataFrame(rows, columns=columns)
    flow = analysis.window_flows.iloc[-1]
    last = windows.last
    revenue = wide.loc["revenue", last.label]
    sentences = [
        f"Over {last.label} the business took {money(revenue, analysis.currency)} in net revenue."
    ]
    if flow["base_known"]:
        sentences.append(
            f"The active base {_base_change(flow)}: {in_words(flow['new'])} new and "
            f"{in_words(flow['reactivated'])} returning customers against "
            f"{in_words(flow['lapsed'])} who lapsed."
        )
    text = " ".join(sentences)
    notes = window_notes(analysis)
    if notes:
        text += "\n\n" + _bullets(notes)
    return Section(text=text, table=_styled(table, name="kpis"))


@_section(data="kpis")
def kpi_export(analysis: ClientAnalysis) -> Section:
    """Write the KPI table for the index page (during a batch run)."""
    exports.export(analysis.kpis, "kpis")
    return Section(text="The KPI table is exported as `kpis.csv`.")


@_section(data="window_flows")
def active_base(analysis: ClientAnalysis) -> Section:
    """Active customers and revenue per quarter, and the window's customer flow."""
    flow = analysis.window_flows.iloc[-1]
    window = analysis.windows.last
    text = (
        f"On {day_label(window.end)}, {count(flow['closing'])} customers were active (bought in "
        f"the last {analysis.params.churn_window_days} days)."
    )
    if flow["base_known"]:
        text += (
            f" Over {window.label} the base {_base_change(flow)}: opening "
            f"{count(flow['opening'])} + {count(flow['new'])} new + "
            f"{count(flow['reactivated'])} reactivated − {count(flow['lapsed'])} lapsed = "
            f"{count(flow['closing'])}."
        )
        again = flow["lapsed"] - flow["lapsed_from_opening"]
        if again and pd.notna(flow["churn_rate"]):  # the churn rate counts the opening base's
            text += (
                f" Of those who lapsed, {count(flow['lapsed_from_opening'])} were in the "
                f"opening base (the churn rate, {percent(flow['churn_rate'], digits=1)}, is "
                f"their share of it); the other {count(again)} were won or won back during the "
                "window and lapsed again."
            )
    else:
        text += (
            " The base is fully known only from "
            f"{day_label(analysis.windows.base_known_from)} (after the warm-up), so its change "
            f"since {day_label(window.start)} is not shown."
        )
    quarters = analysis.customer_flow
    if len(quarters) and quarters["start"].min() > window.start:
        text += (
            f" The chart starts on {day_label(quarters['start'].min())}, with the quarters of "
            f"a known base, so the revenue it shows is only part of the {window.label} total."
        )
    figure = _figure(plots.active_base_revenue(quarters, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section(data="customer_flow")
def churn_and_leaks(analysis: ClientAnalysis) -> Section:
    """Churn rate and customers won and lost per quarter."""
    recent = analysis.recent_quarters
    flow = analysis.customer_flow
    lines = []
    if recent["periods_measured"]:
        first, last = recent["first_period"], recent["last_period"]
        span = (
            period_label(first, "Q")
            if first == last
            else f"{period_label(first, 'Q')} to {period_label(last, 'Q')}"
        )
        losing, periods = recent["periods_losing"], recent["periods"]
        if losing == 0:
            leaks = "none of them lost more customers than it won"
        elif losing == periods:
            every = "both" if periods == 2 else f"all {in_words(periods)}"
            leaks = f"{every} lost more customers than they won"
        else:
            leaks = f"{in_words(losing)} of them lost more customers than they won"
        lines.append(
            f"Over the {in_words(periods)} complete quarters from {span}, the quarterly churn "
            "rate (share of the quarter's opening base lost in it) averaged "
            f"{percent(recent['mean_churn_rate'], digits=1)}, and {leaks} (lapsed against new)."
            if periods > 1
            else f"In {span} the churn rate (share of the quarter's opening base lost in it) "
            f"was {percent(recent['mean_churn_rate'], digits=1)}."
        )
        smallest = recent["smallest_opening"]
        if smallest < SMALL_OPENING_BASE:
            lines.append(
                f"{'These rates rest' if periods > 1 else 'It rests'} on a small base (as few "
                f"as {count(smallest, 'customer')} at a quarter's opening), where one customer "
                f"moves the rate by {100 / smallest:.0f} percentage points: read "
                f"{'them' if periods > 1 else 'it'} as an indication, not a measurement."
            )
    else:
        lines.append(
            "No complete quarter of the latest 12 months has a measurable churn rate: losses "
            f"are observable from {day_label(analysis.windows.churn_measurable_from)} on."
        )
    if flow["partial"].any():
        partial = flow[flow["partial"]]
        lines.append(
            "Hatched bars are partial quarters ("
            + ", ".join(
                f"{period_label(row.period, 'Q')}: {day_label(row.start)} to {day_label(row.end)}"
                for row in partial.itertuples()
            )
            + "); they are not comparable with whole quarters and are left out of the average."
        )
    if analysis.windows.churn_window_too_long:
        lines.append(churn_window_warning(analysis))
    figure = _figure(plots.churn_and_customer_flow(flow))
    return Section(text=" ".join(lines), figure=figure)


@_section(data="early_repeat_by_cohort")
def early_repeat(analysis: ClientAnalysis) -> Section:
    """Early repeat rate per quarterly cohort (only cohorts with enough eligible customers)."""
    table = analysis.early_repeat_by_cohort
    table = table[table["eligible"] >= analysis.params.early_repeat_min_eligible]
    if table.empty:
        raise Unavailable("Too few customers were observed long enough for an early repeat rate.")
    followed = table[table["censored"] == 0]
    last = followed.iloc[-1] if len(followed) else table.iloc[-1]
    pooled = analysis.early_repeat_pooled
    across = (
        f" (pooled over the {in_words(pooled['groups'])} cohorts shown, "
        f"{period_label(table['group'].iloc[0], 'Q')} to "
        f"{period_label(table['group'].iloc[-1], 'Q')}: "
        f"{percent(pooled['early_repeat_rate'])})"
        if pooled["groups"] > 1
        else ""
    )
    text = (
        f"Of the customers acquired in {period_label(last['group'], 'Q')}, "
        f"{percent(last['early_repeat_rate'])} bought again within "
        f"{analysis.params.early_repeat_days} days{across}. Customers observed "
        "for less than the window are left out"
    )
    partial = table[table["group"] > last["group"]]
    text += (
        "."
        if partial.empty
        else ": "
        + "; ".join(
            f"{period_label(row.group, 'Q')}'s {percent(row.early_repeat_rate)} counts only "
            f"the {count(row.eligible)} of its {count(row.acquired)} customers acquired by "
            f"{day_label(analysis.early_repeat_followed_to)}"
            for row in partial.itertuples()
        )
        + (
            ", so it is not yet the quarter's rate."
            if len(partial) == 1
            else ", so they are not yet the quarters' rates."
        )
    )
    figure = _figure(plots.early_repeat_rate(table, period="Q"))
    return Section(text=text, figure=figure)


@_section(data="nps_score")
def satisfaction(analysis: ClientAnalysis) -> Section:
    """NPS and CSAT over the latest comparison window, with 95% intervals."""
    score, satisfied = analysis.nps_score, analysis.csat_score
    window = analysis.windows.last.label
    text = (
        f"Over {window}, NPS is {score.nps:+.1f} (95% interval {score.ci_low:+.0f} to "
        f"{score.ci_high:+.0f}, {count(score.n)} answers: {percent(score.promoters)} "
        f"promoters, {percent(score.detractors)} detractors) and CSAT is {satisfied.csat:.1f}% "
        f"satisfied (95% interval {satisfied.ci_low:.0f}% to {satisfied.ci_high:.0f}%, "
        f"{count(satisfied.n)} answers). The intervals cover the sampling of those answers only."
    )
    return Section(text=text)


def _followed_clause(analysis: ClientAnalysis) -> str:
    """' (acquired by 2 Oct 2025, the last followed for 90 days)' when the window is cut short."""
    cut = early_repeat_cut(analysis)
    if cut is None:
        return ""
    return (
        f" (acquired by {day_label(cut)}, the last followed for "
        f"{analysis.params.early_repeat_days} days)"
    )


@_section(data="customer_equity")
def equity_headline(analysis: ClientAnalysis) -> Section:
    """Customer equity (sum of residual CLV) with its interval, next to the naive CLV."""
    equity = analysis.customer_equity
    top = equity.top_decile_share
    text = (
        f"Customer equity, the margin the "
        f"{count(analysis.prediction_summary['customers'])} customers in the data (active or "
        f"not: a lapsed one may come back) are expected to bring over the "
        f"next {analysis.params.horizon_months} months (discounted at "
        f"{percent(analysis.params.discount_rate_annual)} a year), is "
        f"{money(equity.value, analysis.currency)} ("
        + _equity_interval(analysis)
        + f"); the top 10% of customers hold {percent(top)} of it. Residual CLV averages "
        f"{money(analysis.prediction_summary['rclv_mean'], analysis.currency)} per customer "
        "over all of them. " + _equity_interval_meaning(analysis, see=MODEL_CHECK_ELSEWHERE)
    )
    return Section(text=text)


@_section
def next_steps_overview(analysis: ClientAnalysis) -> Section:
    """Actions from the KPI overview."""
    flow = analysis.window_flows.iloc[-1]
    window = analysis.windows.last.label
    lines = []
    if flow["base_known"] and flow["closing"] != flow["opening"]:
        shrinking = flow["closing"] < flow["opening"]
        lines.append(
            f"Over {window} the active base {_base_change(flow)}. "
            + (
                "No customer was acquired in that time (a closed panel, or acquisition has "
                f"stopped), so the {count(flow['reactivated'])} who came back were all that "
                f"could offset the {count(flow['lapsed'])} who lapsed. If acquisition stopped, "
                "that is the first question; the segments show whom to keep meanwhile."
                if shrinking and flow["new"] == 0
                else "Retention comes first: see the segments to act on."
                if shrinking
                else "Keep acquisition efficient: compare each channel's acquisition cost "
                "with its CAC ceiling (CLV notebook)."
                if analysis.params.customers is not None
                else "Keep acquisition efficient: with each customer's acquisition channel and "
                "cost, the CLV notebook would set a ceiling per channel."
            )
        )
    early = analysis.kpi_changes.set_index("kpi").loc["early_repeat_rate", "last"]
    recency = analysis.segment_recency.set_index("segment")
    onboardable = int(recency.loc["First-Time", "recent"]) if "First-Time" in recency.index else 0
    if not pd.isna(early) and onboardable:
        lines.append(
            f"{percent(1 - early)} of the customers new in {window}{_followed_clause(analysis)} "
            f"did not come back within {analysis.params.early_repeat_days} days: an onboarding "
            "series towards the second "
            f"purchase is the cheapest lever, for the {count(onboardable)} First-Time customers "
            f"who bought in the last {analysis.params.early_repeat_days} days."
        )
    try:
        equity = analysis.customer_equity
    except ModelUnavailable:
        lines.append(
            "No customer-value model could be fitted to this history, so rank customers by "
            "what they did: the value ranking in the CLV modelling report."
        )
    else:
        lines.append(
            f"Spend where the value is: the top 10% of customers hold "
            f"{percent(equity.top_decile_share)} of customer equity, and the budget notebook "
            "compares an even spread with a value-led allocation of the same money."
        )
    return Section(text=_bullets(lines))

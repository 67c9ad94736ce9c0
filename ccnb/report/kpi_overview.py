"""Sections of 00_kpi_overview: KPIs, active base, churn and leaks, satisfaction, equity."""

from __future__ import annotations

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.batch import exports
from ccnb.formatting import count, in_words, money, percent, period_label, signed_percent
from ccnb.report._section import Section, _bullets, _figure, _section, _styled

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


_KPI_LABELS = {
    "customers_total": "Customers acquired to date",
    "customers_active": "Active customers at year end",
    "customers_acquired": "New customers",
    "revenue": "Net revenue",
    "orders_per_customer": "Orders per buying customer",
    "average_order_value": "Average order value",
    "churn_rate": "Churn rate",
    "early_repeat_rate": "Early repeat rate",
    "leaky_bucket_ratio": "Leaky bucket ratio (lost / new)",
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


@_section
def kpi_table(analysis: ClientAnalysis) -> Section:
    """The headline KPIs for the last two full years, with the change."""
    kpis = analysis.kpis
    years = sorted(kpis["year"].unique())
    wide = kpis.pivot(index="kpi", columns="year", values="value").reindex(_KPI_LABELS)
    changes = analysis.kpi_changes.set_index("kpi")
    rows = []
    for kpi, label in _KPI_LABELS.items():
        unit, change, change_unit = changes.loc[kpi, ["unit", "change", "change_unit"]]
        values = [wide.loc[kpi, year] for year in years]
        if change_unit == "points":
            shown = f"{change:+.1f} pts"
        elif change_unit == "relative":
            shown = signed_percent(change)
        else:
            shown = "–"
        rows.append(
            [label, *(_kpi_value(value, unit, analysis.currency) for value in values), shown]
        )
    table = pd.DataFrame(rows, columns=["KPI", *(str(year) for year in years), "change"])
    last_year = years[-1]
    revenue = wide.loc["revenue", last_year]
    active = wide.loc["customers_active", last_year]
    leak = wide.loc["leaky_bucket_ratio", last_year]
    leak_text = (
        "the base grew: fewer customers lapsed than were won"
        if leak < 1
        else "the base shrank: more customers lapsed than were won"
    )
    text = (
        f"In {last_year} the business took {money(revenue, analysis.currency)} in net revenue "
        f"and ended the year with {count(active)} active customers. For every new customer, "
        f"{leak:.2f} existing ones lapsed ({leak_text})."
        if not pd.isna(revenue) and not pd.isna(leak)
        else f"The table shows the KPIs for {', '.join(str(year) for year in years)}."
    )
    return Section(text=text, table=_styled(table, name="kpis"))


@_section
def kpi_export(analysis: ClientAnalysis) -> Section:
    """Write the KPI table for the index page (during a batch run)."""
    exports.export(analysis.kpis, "kpis")
    return Section(text="The KPI table is exported as `kpis.csv`.")


@_section
def active_base(analysis: ClientAnalysis) -> Section:
    """Active customers and revenue per quarter."""
    base = analysis.active_base
    trend = analysis.recent_trend
    text = (
        f"At the end of the last full quarter ({trend['period_end']:%d %b %Y}) "
        f"{count(trend['active'])} customers were active (bought in the last "
        f"{analysis.params.churn_window_days} days), {signed_percent(trend['active_change'])} "
        f"on a year earlier; that quarter brought {money(trend['revenue'], analysis.currency)} "
        "in net revenue."
    )
    figure = _figure(plots.active_base_revenue(base, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def churn_and_leaks(analysis: ClientAnalysis) -> Section:
    """Churn rate and leaky bucket ratio per quarter."""
    trend = analysis.recent_trend
    text = (
        f"Over the last four quarters the quarterly churn rate averaged "
        f"{percent(trend['mean_churn_rate'], digits=1)}, and in "
        f"{in_words(trend['periods_losing'], zero='none')} of them more customers "
        "lapsed than were acquired (leaky bucket ratio above 1, the dashed line)."
    )
    figure = _figure(plots.churn_leaky_bucket(analysis.churn_by_quarter, analysis.leaky_bucket))
    return Section(text=text, figure=figure)


@_section
def early_repeat(analysis: ClientAnalysis) -> Section:
    """Early repeat rate per quarterly cohort (only cohorts with enough eligible customers)."""
    table = analysis.early_repeat_by_cohort
    table = table[table["eligible"] >= analysis.params.early_repeat_min_eligible]
    if table.empty:
        raise Unavailable("Too few customers were observed long enough for an early repeat rate.")
    last = table.iloc[-1]
    text = (
        f"Of the customers acquired in {period_label(last['group'], 'Q')}, "
        f"{percent(last['early_repeat_rate'])} bought again within "
        f"{analysis.params.early_repeat_days} days (across all cohorts: "
        f"{percent(analysis.early_repeat_pooled['early_repeat_rate'])}). Customers observed "
        "for less than the window are left out."
    )
    figure = _figure(plots.early_repeat_rate(table))
    return Section(text=text, figure=figure)


@_section
def satisfaction(analysis: ClientAnalysis) -> Section:
    """NPS and CSAT over all answers, with 95% intervals."""
    score, satisfied = analysis.nps_score, analysis.csat_score
    text = (
        f"NPS is {score.nps:+.0f} (95% interval {score.ci_low:+.0f} to {score.ci_high:+.0f}, "
        f"{count(score.n)} answers: {percent(score.promoters)} promoters, "
        f"{percent(score.detractors)} detractors). CSAT is {satisfied.csat:.0f}% satisfied "
        f"(95% interval {satisfied.ci_low:.0f}% to {satisfied.ci_high:.0f}%, "
        f"{count(satisfied.n)} answers)."
    )
    return Section(text=text)


@_section
def equity_headline(analysis: ClientAnalysis) -> Section:
    """Customer equity (sum of residual CLV) with its interval, next to the naive CLV."""
    equity = analysis.customer_equity
    top = equity.top_decile_share
    text = (
        f"Customer equity, the margin the current customers are expected to bring over the "
        f"next {analysis.params.horizon_months} months (discounted at "
        f"{percent(analysis.params.discount_rate_annual)} a year), is "
        f"{money(equity.value, analysis.currency)} (90% interval "
        f"{money(equity.low, analysis.currency)} to {money(equity.high, analysis.currency)}); "
        f"the top 10% of customers hold {percent(top)} of it. The average customer's residual "
        f"CLV is {money(analysis.prediction_summary['rclv_mean'], analysis.currency)}."
    )
    return Section(text=text)


@_section
def next_steps_overview(analysis: ClientAnalysis) -> Section:
    """Actions from the KPI overview."""
    last = analysis.kpi_changes.set_index("kpi")["last"]
    lines = []
    leak = last["leaky_bucket_ratio"]
    if not pd.isna(leak):
        lines.append(
            f"The base {'shrinks' if leak > 1 else 'grows'}: {leak:.2f} customers lapse per new "
            "one. "
            + (
                "Retention comes first: see the segments to act on."
                if leak > 1
                else "Keep acquisition efficient: compare each channel's acquisition cost "
                "with its CAC ceiling (CLV notebook)."
            )
        )
    early = last["early_repeat_rate"]
    if not pd.isna(early):
        lines.append(
            f"{percent(1 - early)} of new customers do not come back within "
            f"{analysis.params.early_repeat_days} days: an onboarding series towards the second "
            "purchase is the cheapest lever (First-Time segment)."
        )
    lines.append(
        "Spend where the value is: the budget notebook compares an even spread with a "
        "value-led allocation of the same money."
    )
    return Section(text=_bullets(lines))

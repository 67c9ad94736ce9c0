"""Report sections: for each question a notebook answers, a chart, a table and their sentence.

Every sentence is generated from the client's numbers (DESIGN.md, Notebooks: markdown that
quotes a number is never typed in). A section that cannot be computed for this client shows one
sentence saying why, and the notebook carries on. Metrics come from `ccnb.analysis`, figures
from `ccnb.plots`; this module only words and arranges them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ccnb import budget, exports, nps, plots, rfm
from ccnb._lazy import lazy_module
from ccnb.analysis import ClientAnalysis, Unavailable
from ccnb.formatting import count, money, percent, signed_percent
from ccnb.render import escape_md

# lifetimes loads only where a CLV table is used (see ccnb._lazy)
clv = lazy_module("ccnb.clv")

__all__ = [
    "Section",
    "Unavailable",
    "acquisition",
    "active_base",
    "allocation_deciles",
    "budget_assumptions",
    "budget_export",
    "cac_ceiling",
    "channel_cohorts",
    "churn_and_leaks",
    "client_header",
    "clv_by_segment",
    "clv_distribution",
    "clv_export",
    "concentration",
    "conditional_expectations",
    "cumulative_revenue",
    "data_quality",
    "early_repeat",
    "equity_headline",
    "iso_value",
    "kpi_export",
    "kpi_table",
    "layer_cake",
    "model_parameters",
    "model_validation",
    "naive_versus_model",
    "next_steps_budget",
    "next_steps_clv",
    "next_steps_cohorts",
    "next_steps_overview",
    "next_steps_segments",
    "nps_by_segment",
    "p_alive",
    "retention",
    "rfm_grid",
    "satisfaction",
    "seasonal",
    "segment_export",
    "segments",
    "sensitivity",
    "strategies",
    "test_plan",
    "tiered_plan",
    "tracking",
]


@dataclass
class Section:
    """What a notebook cell shows: a sentence, then a figure and/or a table.

    Attributes
    ----------
    text
        Markdown generated from the client's numbers.
    figure
        A matplotlib figure (closed once shown).
    table
        A DataFrame or Styler shown below the figure.
    note
        When set, the section is unavailable and only this sentence is shown.
    """

    text: str = ""
    figure: Figure | None = None
    table: Any = None
    note: str | None = None
    extra: list[Any] = field(default_factory=list)

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, Markdown, display

        if self.note is not None:
            display(Markdown(f"*{self.note}*"))
            return
        if self.text:
            display(Markdown(self.text))
        if self.figure is not None:
            display(self.figure)
            plt.close(self.figure)
        if self.table is not None:
            # As plain HTML: a Styler's text form carries its memory address, which varies.
            html = self.table.to_html() if hasattr(self.table, "to_html") else self.table
            display(HTML(html))
        for item in self.extra:
            display(item)


def _section(function: Callable[..., Section]) -> Callable[..., Section]:
    """Turn `Unavailable` (and too-little-data errors) into a one-sentence section."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Section:
        try:
            return function(*args, **kwargs)
        except Unavailable as reason:
            plt.close("all")
            return Section(note=str(reason))

    return wrapper


def _figure(drawn: Any) -> Figure:
    return drawn if isinstance(drawn, Figure) else drawn.figure


def _styled(
    frame: pd.DataFrame,
    *,
    name: str,
    currency: str | None = None,
    money_columns: tuple[str, ...] = (),
    percent_columns: tuple[str, ...] = (),
    count_columns: tuple[str, ...] = (),
    decimals: Mapping[str, int] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Any:
    """A reader-ready table: formatted numbers, escaped text, no index, stable HTML ids."""
    formats: dict[str, Callable[[Any], str]] = {}
    for column in money_columns:
        formats[column] = functools.partial(money, currency=currency)
    for column in percent_columns:
        formats[column] = functools.partial(percent, digits=1)
    for column in count_columns:
        formats[column] = count
    for column, digits in (decimals or {}).items():
        formats[column] = lambda value, digits=digits: (
            "–" if pd.isna(value) else f"{value:.{digits}f}"
        )
    shown = frame.rename(columns=dict(labels or {}))
    formats = {(labels or {}).get(column, column): f for column, f in formats.items()}
    styler = shown.style.format(formats, escape="html", na_rep="–").hide(axis="index")
    digest = hashlib.sha256(f"{name}:{frame.shape}".encode()).hexdigest()[:8]
    return styler.set_uuid(f"ccnb-{name}-{digest}").set_table_attributes('class="ccnb-table"')


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


# --- every notebook ------------------------------------------------------------------------


@_section
def client_header(analysis: ClientAnalysis) -> Section:
    """The opening note: whose data, which period, which currency."""
    quality = analysis.quality.transactions
    text = (
        f"**{escape_md(analysis.params.client)}**: {count(quality.customers)} customers and "
        f"{count(quality.rows_used)} transaction rows from {quality.first_date:%d %b %Y} to "
        f"{analysis.observation_end:%d %b %Y}; amounts in {escape_md(analysis.currency)}."
    )
    return Section(text=text)


@_section
def data_quality(analysis: ClientAnalysis) -> Section:
    """Rows read, used and rejected by reason, as a chart, a table and a sentence."""
    quality = analysis.quality
    lines = []
    for source in quality.sources:
        rejected = sum(source.rejected.values())
        reasons = ", ".join(
            f"{count(n)} {reason.replace('_', ' ')}"
            for reason, n in sorted(source.rejected.items(), key=lambda item: (-item[1], item[0]))
        )
        detail = f" ({reasons})" if reasons else ""
        lines.append(
            f"{escape_md(source.source)}: {count(source.rows_used)} of "
            f"{count(source.rows_read)} rows used, {count(rejected)} excluded{detail}"
        )
    share = 1 - quality.rows_used / quality.rows_read
    text = (
        f"Every row read is accounted for: {percent(share, digits=1)} of the transaction rows "
        "were excluded, each with its reason (listed in `rejected_rows.csv`).\n\n" + _bullets(lines)
    )
    figure = _figure(plots.data_quality_bar(quality.counts()))
    return Section(text=text, figure=figure, extra=[quality])


# --- 00: KPI overview -------------------------------------------------------------------------

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
    units = kpis.drop_duplicates("kpi").set_index("kpi")["unit"]
    rows = []
    for kpi, label in _KPI_LABELS.items():
        unit = units[kpi]
        values = [wide.loc[kpi, year] for year in years]
        previous, last = values[0], values[-1]
        if unit in ("share", "score") and not (pd.isna(previous) or pd.isna(last)):
            change = f"{(last - previous) * (100 if unit == 'share' else 1):+.1f} pts"
        elif previous and not (pd.isna(previous) or pd.isna(last)):
            change = signed_percent(last / previous - 1)
        else:
            change = "–"
        rows.append(
            [label, *(_kpi_value(value, unit, analysis.currency) for value in values), change]
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
    last, first = base.iloc[-1], base.iloc[max(len(base) - 5, 0)]
    change = last["active"] / first["active"] - 1 if first["active"] else float("nan")
    text = (
        f"At the end of the last full quarter ({last['period_end']:%d %b %Y}) "
        f"{count(last['active'])} customers were active (bought in the last "
        f"{analysis.params.churn_window_days} days), {signed_percent(change)} on a year "
        f"earlier; that quarter brought {money(last['revenue'], analysis.currency)} in net "
        "revenue."
    )
    figure = _figure(plots.active_base_revenue(base, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def churn_and_leaks(analysis: ClientAnalysis) -> Section:
    """Churn rate and leaky bucket ratio per quarter."""
    churn = analysis.churn_by_quarter.dropna(subset=["churn_rate"])
    leaks = analysis.leaky_bucket
    recent = leaks.tail(4)
    shrinking = int((recent["ratio"] > 1).sum())
    text = (
        f"Over the last four quarters the quarterly churn rate averaged "
        f"{percent(churn['churn_rate'].tail(4).mean(), digits=1)}, and in {shrinking} of them "
        "more customers lapsed than were acquired (leaky bucket ratio above 1, the dashed line)."
    )
    figure = _figure(plots.churn_leaky_bucket(analysis.churn_by_quarter, leaks))
    return Section(text=text, figure=figure)


@_section
def early_repeat(analysis: ClientAnalysis) -> Section:
    """Early repeat rate per quarterly cohort (only cohorts with enough eligible customers)."""
    table = analysis.early_repeat_by_cohort
    table = table[table["eligible"] >= 30]
    if table.empty:
        raise Unavailable("Too few customers were observed long enough for an early repeat rate.")
    last = table.iloc[-1]
    text = (
        f"Of the customers acquired in the quarter starting {last['group']:%b %Y}, "
        f"{percent(last['early_repeat_rate'])} bought again within "
        f"{analysis.params.early_repeat_days} days (across all cohorts: "
        f"{percent(table['repeaters'].sum() / table['eligible'].sum())}). Customers observed "
        "for less than the window are left out."
    )
    figure = _figure(plots.early_repeat_rate(table))
    return Section(text=text, figure=figure)


@_section
def satisfaction(analysis: ClientAnalysis) -> Section:
    """NPS and CSAT over all answers, with 95% intervals."""
    survey = analysis._require_survey()
    score = nps.nps(survey["nps"].dropna())
    satisfied = nps.csat(survey["csat"].dropna())
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
    predictions = analysis.predictions
    top = equity.top_decile_share
    text = (
        f"Customer equity, the margin the current customers are expected to bring over the "
        f"next {analysis.params.horizon_months} months (discounted at "
        f"{percent(analysis.params.discount_rate_annual)} a year), is "
        f"{money(equity.value, analysis.currency)} (90% interval "
        f"{money(equity.low, analysis.currency)} to {money(equity.high, analysis.currency)}); "
        f"the top 10% of customers hold {percent(top)} of it. The average customer's residual "
        f"CLV is {money(predictions['rclv'].mean(), analysis.currency)}."
    )
    return Section(text=text)


# --- 01: segmentation -------------------------------------------------------------------------


@_section
def rfm_grid(analysis: ClientAnalysis, *, value: str = "customers") -> Section:
    """The R x F grid of customers or revenue."""
    scores = analysis.segments
    if value == "customers":
        best = scores[(scores["R"] >= 4) & (scores["F"] >= 4)]
        text = (
            f"Each cell counts the customers with that recency (R) and frequency (F) score, 5 "
            f"being the most recent or most frequent. {percent(len(best) / len(scores))} of "
            "customers sit in the top-right corner (R and F of 4 or 5)."
        )
    else:
        best = scores[(scores["R"] >= 4) & (scores["F"] >= 4)]
        share = best["revenue"].sum() / scores["revenue"].sum()
        text = (
            f"The same grid by net revenue: the top-right corner brought "
            f"{percent(share)} of all revenue."
        )
    figure = _figure(plots.rfm_heatmap(scores, value=value, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def segments(analysis: ClientAnalysis) -> Section:
    """Segment sizes, revenue shares and tactics."""
    table = analysis.segment_summary
    ranked = table.sort_values("revenue_share", ascending=False)
    top = ranked.iloc[0]
    lines = [
        f"**{escape_md(row.segment)}** ({percent(row.share)} of customers, "
        f"{percent(row.revenue_share)} of revenue): {escape_md(row.tactic)}"
        for row in table.itertuples()
        if row.customers > 0
    ]
    text = (
        f"{escape_md(top['segment'])} customers are {percent(top['share'])} of the base and "
        f"bring {percent(top['revenue_share'])} of net revenue. What to do with each segment:"
        "\n\n" + _bullets(lines)
    )
    shown = table[
        [
            "segment",
            "customers",
            "share",
            "revenue",
            "revenue_share",
            "median_days_since_last",
            "median_orders",
            "median_revenue",
        ]
    ]
    styled = _styled(
        shown,
        name="segments",
        currency=analysis.currency,
        money_columns=("revenue", "median_revenue"),
        percent_columns=("share", "revenue_share"),
        count_columns=("customers",),
        decimals={"median_days_since_last": 0, "median_orders": 0},
        labels={
            "median_days_since_last": "median days since last",
            "median_orders": "median orders",
            "median_revenue": "median revenue",
            "revenue_share": "revenue share",
        },
    )
    figure = _figure(plots.segment_share_bars(table))
    return Section(text=text, figure=figure, table=styled)


@_section
def concentration(analysis: ClientAnalysis) -> Section:
    """Revenue concentration (Pareto curve)."""
    top = rfm.top_share(analysis.summary, top=0.2)
    text = (
        f"The best 20% of customers brought {percent(top)} of net revenue; the steeper the "
        "curve above the diagonal, the more the business depends on a few customers."
    )
    curve = rfm.revenue_concentration(analysis.summary)
    return Section(text=text, figure=_figure(plots.revenue_concentration(curve)))


@_section
def nps_by_segment(analysis: ClientAnalysis) -> Section:
    """NPS per segment with 95% intervals; small groups flagged."""
    table = nps.nps_by(analysis.survey_with_segments, by="segment")
    groups = table[(table["segment"] != "All") & table["reliable"]]
    best, worst = groups.loc[groups["nps"].idxmax()], groups.loc[groups["nps"].idxmin()]
    text = (
        f"{escape_md(best['segment'])} customers are the most likely to recommend the business "
        f"(NPS {best['nps']:+.0f}), {escape_md(worst['segment'])} the least "
        f"({worst['nps']:+.0f}). Groups with fewer than 30 answers are greyed out."
    )
    return Section(text=text, figure=_figure(plots.nps_by_segment(table)))


@_section
def segment_export(analysis: ClientAnalysis) -> Section:
    """Write the per-customer segments for CRM activation."""
    columns = [
        "customer_id",
        "segment",
        "R",
        "F",
        "M",
        "rfm_cell",
        "days_since_last",
        "orders",
        "revenue",
        "tactic",
    ]
    exports.export(analysis.segments[columns], "segments")
    return Section(
        text=f"The segment of each of the {count(len(analysis.segments))} customers is exported "
        "as `segments.csv` for CRM activation."
    )


# --- 02: cohorts --------------------------------------------------------------------------------


@_section
def retention(analysis: ClientAnalysis) -> Section:
    """Quarterly retention triangle."""
    tidy = analysis.quarterly_retention
    year_on = tidy[tidy["age"] == 4].dropna(subset=["retention"])
    text = "Each row is a quarter's new customers; each cell the share still buying that quarter."
    if not year_on.empty:
        recent = year_on.tail(4)
        retained = recent["active"].sum() / recent["cohort_size"].sum()
        text += (
            f" A year after their first quarter, {percent(retained)} "
            "of the last four measurable cohorts bought again in that quarter. Blank cells "
            "are not observed yet."
        )
    return Section(text=text, figure=_figure(plots.retention_heatmap(tidy)))


@_section
def cumulative_revenue(analysis: ClientAnalysis) -> Section:
    """Cumulative revenue per acquired customer by cohort."""
    tidy = analysis.revenue_cohorts
    at_one_year = tidy[tidy["age"] == 3].dropna(subset=["cumulative_revenue_per_customer"])
    text = "Cumulative net revenue per acquired customer, by quarter of acquisition."
    if len(at_one_year) >= 2:
        first, last = at_one_year.iloc[0], at_one_year.iloc[-1]
        text += (
            f" After their first year, customers acquired in {last['cohort']:%b %Y} had "
            f"brought {money(last['cumulative_revenue_per_customer'], analysis.currency)} each, "
            f"against {money(first['cumulative_revenue_per_customer'], analysis.currency)} for "
            f"those acquired in {first['cohort']:%b %Y}."
        )
    figure = _figure(plots.cumulative_revenue_curves(tidy, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def layer_cake(analysis: ClientAnalysis) -> Section:
    """Revenue per quarter by acquisition year."""
    layers = analysis.layer_cake
    last_period = layers["period"].max()
    latest = layers[layers["period"] == last_period]
    newest = latest.loc[latest["cohort"].idxmax()]
    share_new = newest["revenue"] / latest["revenue"].sum()
    text = (
        f"Each layer is the revenue from one year's new customers. In the quarter starting "
        f"{last_period:%b %Y}, customers acquired in {newest['cohort']:%Y} brought "
        f"{percent(share_new)} of revenue"
        + ("; the rest came from earlier years' customers." if share_new < 1 else ".")
    )
    figure = _figure(plots.layer_cake(layers, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def seasonal(analysis: ClientAnalysis) -> Section:
    """Same-season (holiday) cohorts across years on the same ages."""
    table = analysis.seasonal_cohorts
    last_age = table["age"].max()
    end = table[table["age"] == last_age].sort_values("season_year")
    latest, earlier = end.iloc[-1], end.iloc[-2]
    text = (
        f"Holiday buyers (first purchase in November or December) compared year on year: "
        f"{last_age} months on, the {escape_md(latest['season'])} customers had brought "
        f"{money(latest['cumulative_revenue_per_customer'], analysis.currency)} each, against "
        f"{money(earlier['cumulative_revenue_per_customer'], analysis.currency)} for "
        f"{escape_md(earlier['season'])}; {percent(latest['repeat_rate'])} of them had bought "
        f"again (vs {percent(earlier['repeat_rate'])})."
    )
    figure = _figure(plots.seasonal_cohorts(table, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def channel_cohorts(analysis: ClientAnalysis) -> Section:
    """First-year repeat share and revenue per customer by acquisition channel."""
    table = analysis.cohort_by_channel
    best = table.loc[table["repeat_share"].idxmax()]
    worst = table.loc[table["repeat_share"].idxmin()]
    text = (
        f"Within a year of their first purchase, {percent(best['repeat_share'])} of customers "
        f"won through {escape_md(best['acquisition_channel'])} bought again, against "
        f"{percent(worst['repeat_share'])} through {escape_md(worst['acquisition_channel'])}, "
        "the channel that brings the most one-and-done customers."
    )
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


# --- 03: CLV modelling --------------------------------------------------------------------------


@_section
def model_validation(analysis: ClientAnalysis) -> Section:
    """Each purchase model scored on the holdout, and the one chosen."""
    result = analysis.validation
    table = result.table
    chosen = table.loc[result.chosen]
    text = (
        f"Each model was fitted on purchases up to {analysis.calibration_end:%d %b %Y} and asked "
        f"to predict the {count(chosen['holdout_actual'])} repeat purchases that followed up to "
        f"{analysis.observation_end:%d %b %Y}. The chosen model, "
        f"**{escape_md(chosen['label'])}** (smallest holdout error per customer; models within "
        "1% of it count as tied and the smaller total error decides), predicted "
        f"{count(chosen['holdout_predicted'])} "
        f"({signed_percent(chosen['aggregate_error_pct'] / 100, digits=1)}), with a mean "
        f"absolute error of {chosen['mae']:.2f} purchases per customer."
    )
    shown = table[
        [
            "label",
            "log_likelihood",
            "aic",
            "mae",
            "rmse",
            "holdout_predicted",
            "holdout_actual",
            "aggregate_error_pct",
        ]
    ]
    styled = _styled(
        shown,
        name="validation",
        decimals={
            "log_likelihood": 1,
            "aic": 1,
            "mae": 3,
            "rmse": 3,
            "holdout_predicted": 0,
            "holdout_actual": 0,
            "aggregate_error_pct": 1,
        },
        labels={
            "label": "model",
            "log_likelihood": "log-likelihood",
            "aic": "AIC",
            "mae": "holdout MAE per customer",
            "rmse": "holdout RMSE",
            "holdout_predicted": "holdout purchases predicted",
            "holdout_actual": "actual",
            "aggregate_error_pct": "error (%)",
        },
    )
    return Section(text=text, table=styled)


@_section
def tracking(analysis: ClientAnalysis) -> Section:
    """Cumulative repeat purchases, actual vs models, across calibration and holdout."""
    result = analysis.validation
    chosen = result.tracking[result.chosen]
    last = chosen.iloc[-1]
    text = (
        f"Cumulative repeat purchases of the customers acquired before the calibration end: by "
        f"the end of the holdout the chosen model expected {count(last['expected_cumulative'])} "
        f"against {count(last['actual_cumulative'])} actual. Lines that stay together after "
        "the dashed calibration end mean the model forecasts well."
    )
    figure = _figure(plots.holdout_tracking(result.tracking, time_unit=analysis.params.time_unit))
    return Section(text=text, figure=figure)


@_section
def conditional_expectations(analysis: ClientAnalysis) -> Section:
    """Actual vs predicted holdout purchases by calibration frequency."""
    result = analysis.validation
    text = (
        "For customers grouped by how often they repeated during calibration, the mean number "
        "of holdout purchases against the model's conditional expectation (the Fader-Hardie "
        "check): points near the actual line mean the model ranks customers well."
    )
    figure = _figure(plots.conditional_expectations(result.conditional_expectations))
    return Section(text=text, figure=figure)


@_section
def model_parameters(analysis: ClientAnalysis) -> Section:
    """The refitted purchase model's and the spend model's parameters with standard errors."""
    purchases, spend = analysis.purchase_model, analysis.spend_model
    independence = (
        "spend and frequency are close to independent, as the Gamma-Gamma model assumes"
        if spend.independence_ok_
        else "spend and frequency are correlated, which breaks the Gamma-Gamma model's "
        "independence assumption: read spend predictions with care"
    )
    no_repeat = spend.excluded_.get("no_repeat_purchase", 0)
    returns_only = spend.excluded_.get("non_positive_spend", 0)
    text = (
        f"The {escape_md(purchases.label)} model refitted on the whole history, and the "
        f"Gamma-Gamma spend model fitted on {count(spend.n_customers_)} repeat buyers (left "
        f"out: {count(no_repeat)} customers without a repeat purchase and {count(returns_only)} "
        "whose repeat purchases net to zero or less after returns). The correlation between "
        f"purchase frequency and spend is {spend.correlation_:+.2f}: {independence}."
    )
    tables = []
    for model in (purchases, spend):
        frame = model.summary.reset_index().rename(columns={"index": "parameter"})
        frame.insert(0, "model", model.label)
        tables.append(frame)
    combined = pd.concat(tables, ignore_index=True)
    numeric = [column for column in combined.columns if column not in ("model", "parameter")]
    styled = _styled(combined, name="parameters", decimals=dict.fromkeys(numeric, 4))
    return Section(text=text, table=styled)


@_section
def p_alive(analysis: ClientAnalysis) -> Section:
    """Distribution of P(alive)."""
    predictions = analysis.predictions
    likely = (predictions["p_alive"] >= 0.5).mean()
    text = (
        f"The model puts {percent(likely)} of customers at a 50% or better chance of still "
        f"being active; the model-based churn (1 - P(alive)) of the whole base is "
        f"{percent(1 - predictions['p_alive'].mean())}."
    )
    return Section(text=text, figure=_figure(plots.p_alive_hist(predictions)))


@_section
def clv_distribution(analysis: ClientAnalysis) -> Section:
    """Residual CLV per customer and customer equity."""
    predictions = analysis.predictions
    equity = analysis.customer_equity
    text = (
        f"Residual CLV (margin of future purchases over {analysis.params.horizon_months} "
        f"months, discounted) ranges from {money(predictions['rclv'].min(), analysis.currency)} "
        f"to {money(predictions['rclv'].max(), analysis.currency)}, median "
        f"{money(predictions['rclv'].median(), analysis.currency)}. Together the customers are "
        f"worth {money(equity.value, analysis.currency)} (90% interval "
        f"{money(equity.low, analysis.currency)} to {money(equity.high, analysis.currency)}), "
        f"{percent(equity.top_decile_share)} of it in the top 10%."
    )
    figure = _figure(plots.clv_distribution(predictions, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def clv_by_segment(analysis: ClientAnalysis) -> Section:
    """Mean rCLV per segment with intervals."""
    table = analysis.clv_by_segment.dropna(subset=["segment"])
    top = table.loc[table["rclv_mean"].idxmax()]
    text = (
        f"{escape_md(top['segment'])} customers are worth "
        f"{money(top['rclv_mean'], analysis.currency)} each on average from here on and hold "
        f"{percent(top['share_of_equity'])} of customer equity."
    )
    figure = _figure(plots.clv_by_group(table, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def cac_ceiling(analysis: ClientAnalysis) -> Section:
    """CAC ceiling per acquisition channel next to the actual cost."""
    table = analysis.cac_ceiling
    lines = []
    for row in table.itertuples():
        verdict = (
            "within the ceiling"
            if row.mean_acquisition_cost <= row.cac_ceiling
            else "above the ceiling"
        )
        lines.append(
            f"{escape_md(row.acquisition_channel)}: ceiling "
            f"{money(row.cac_ceiling, analysis.currency)}, actual cost "
            f"{money(row.mean_acquisition_cost, analysis.currency)} ({verdict})"
        )
    text = (
        f"The most a channel's new customer is worth paying for, at the target "
        f"{analysis.params.budget.target_ltv_cac:g}:1 ratio of CLV to acquisition cost:\n\n"
        + _bullets(lines)
    )
    figure = _figure(plots.clv_by_group(table, currency=analysis.currency))
    return Section(text=text, figure=figure)


@_section
def iso_value(analysis: ClientAnalysis) -> Section:
    """Iso-value curves over frequency and recency."""
    text = (
        "Customers on the same curve are worth the same: a customer who bought often but not "
        "recently can be worth less than an occasional buyer who bought last week, because "
        "the model reads a long silence from a frequent buyer as a sign they have left."
    )
    figure = _figure(
        plots.iso_value(
            analysis.iso_value, currency=analysis.currency, time_unit=analysis.params.time_unit
        )
    )
    return Section(text=text, figure=figure)


@_section
def naive_versus_model(analysis: ClientAnalysis) -> Section:
    """The brief's simple CLV next to the model-based value."""
    kpis = analysis.kpis.pivot(index="kpi", columns="year", values="value")
    churn_rate = kpis.loc["churn_rate"].dropna()
    if churn_rate.empty:
        raise Unavailable("No full year with an opening base, so no observed churn rate.")
    rate = float(churn_rate.iloc[-1])
    naive = clv.naive_clv(
        analysis.summary, annual_churn_rate=rate, observation_end=analysis.observation_end
    )
    mean_naive = naive["naive_clv"].mean()
    text = (
        f"The simple formula (annual revenue x expected lifespan, with a lifespan of "
        f"1 / churn rate = {1 / rate:.1f} years) gives {money(mean_naive, analysis.currency)} "
        f"of revenue per customer; the model's residual CLV, which counts margin only, "
        f"discounts and lets customers lapse, is "
        f"{money(analysis.predictions['rclv'].mean(), analysis.currency)}. Use the simple "
        "number for a first conversation, the model for decisions."
    )
    return Section(text=text)


@_section
def clv_export(analysis: ClientAnalysis) -> Section:
    """Write the per-customer CLV table for CRM activation."""
    exports.export(analysis.activation, "clv")
    return Section(
        text=f"P(alive), expected purchases and residual CLV with its interval for "
        f"{count(len(analysis.activation))} customers are exported as `clv.csv`."
    )


# --- 04: budget -----------------------------------------------------------------------------------


@_section
def budget_assumptions(analysis: ClientAnalysis) -> Section:
    """The assumptions the allocation rests on."""
    settings = analysis.params.budget
    customers = analysis.budget_customers
    rows = [
        ["Budget", money(settings.total, analysis.currency)],
        ["Active customers (bought in the churn window)", count(len(customers))],
        ["Response curve", settings.response_curve],
        ["Largest lift (share of rCLV spending can add)", percent(settings.max_lift)],
        [
            "Spend per customer reaching 63% of that lift",
            money(settings.spend_scale, analysis.currency),
        ],
    ]
    table = pd.DataFrame(rows, columns=["assumption", "value"])
    text = (
        f"The allocation spreads {money(settings.total, analysis.currency)} over "
        f"{count(len(customers))} active customers. Spending on a customer is assumed to add "
        f"at most {percent(settings.max_lift)} of their residual CLV, with diminishing "
        "returns; these are assumptions to test, not measurements."
    )
    return Section(text=text, table=_styled(table, name="assumptions"))


@_section
def strategies(analysis: ClientAnalysis) -> Section:
    """Customer-focused vs customer-centric (optimal and tiered)."""
    allocations = analysis.allocations
    table = budget.compare(allocations, budget=analysis.params.budget.total)
    gain = budget.centric_gain(
        allocations["customer-focused"], allocations["customer-centric (optimal)"]
    )
    text = (
        f"Spending the same {money(analysis.params.budget.total, analysis.currency)} where the "
        f"predicted value is (customer-centric) instead of evenly (customer-focused) adds "
        f"{money(gain['gain'], analysis.currency)} more expected value "
        f"({signed_percent(gain['gain_pct'] / 100, digits=1)}): "
        f"{money(gain['centric_value'], analysis.currency)} against "
        f"{money(gain['focused_value'], analysis.currency)}."
    )
    break_even = budget.break_even_budget(
        analysis.budget_customers, curve=analysis.curve, max_lift=analysis.params.budget.max_lift
    )
    if analysis.params.budget.total > break_even:
        text += (
            f" Under these assumptions the budget is larger than what pays back: beyond "
            f"{money(break_even, analysis.currency)} the last unit spent returns less than it "
            "costs, however it is allocated."
        )
    shown = table[
        ["strategy", "customers_reached", "spend", "added_value", "roi", "value_per_unit"]
    ]
    styled = _styled(
        shown,
        name="strategies",
        currency=analysis.currency,
        money_columns=("spend", "added_value"),
        percent_columns=("roi",),
        count_columns=("customers_reached",),
        decimals={"value_per_unit": 2},
        labels={
            "customers_reached": "customers reached",
            "added_value": "expected added value",
            "value_per_unit": "value per unit spent",
            "roi": "ROI",
        },
    )
    figure = _figure(plots.strategy_comparison(table, currency=analysis.currency))
    return Section(text=text, figure=figure, table=styled)


@_section
def allocation_deciles(analysis: ClientAnalysis) -> Section:
    """Budget share per rCLV decile by strategy vs share of customer equity."""
    table = budget.allocation_by_decile(analysis.budget_customers, analysis.allocations)
    centric = table[table["strategy"] == "customer-centric (optimal)"]
    top = centric[centric["decile"] == 1].iloc[0]
    text = (
        f"The customer-centric plan puts {percent(top['budget_share'])} of the budget on the "
        f"top 10% of customers by residual CLV, who hold {percent(top['equity_share'])} of "
        "customer equity; the customer-focused plan gives every decile 10%."
    )
    return Section(text=text, figure=_figure(plots.allocation_by_decile(table)))


@_section
def tiered_plan(analysis: ClientAnalysis) -> Section:
    """Spend per head by segment: the operational rule, from params and from the optimum."""
    optimum = budget.tiers_from_optimum(analysis.allocations["customer-centric (optimal)"])
    tiered = analysis.allocations["customer-centric (tiered)"]
    per_head = tiered.groupby("segment", observed=True)["spend"].mean()
    frame = optimum.reset_index()[["segment", "customers", "mean_spend", "spend_per_head"]]
    frame["tiered_spend_per_head"] = frame["segment"].map(per_head)
    source = "the params file" if analysis.params.budget.tier_spend else "the optimum"
    best = frame.iloc[0]
    text = (
        f"A rule a CRM team can run: a fixed spend per head for each segment. The optimum "
        f"works out at {money(best['spend_per_head'], analysis.currency)} per "
        f"{escape_md(best['segment'])} customer; the tiered plan below uses the amounts from "
        f"{source}, scaled to the budget."
    )
    styled = _styled(
        frame,
        name="tiers",
        currency=analysis.currency,
        money_columns=("mean_spend", "spend_per_head", "tiered_spend_per_head"),
        count_columns=("customers",),
        labels={
            "mean_spend": "mean optimal spend",
            "spend_per_head": "optimal, rounded",
            "tiered_spend_per_head": "tiered plan",
        },
    )
    return Section(text=text, table=styled)


@_section
def sensitivity(analysis: ClientAnalysis) -> Section:
    """Gain of centric over focused across assumptions, and the break-even budget."""
    settings = analysis.params.budget
    lifts = sorted(
        {settings.max_lift, *np.round(settings.max_lift * np.array([0.25, 0.5, 2, 3]), 4)}
    )
    scales = sorted(
        {settings.spend_scale, *np.round(settings.spend_scale * np.array([0.25, 0.5, 2, 4]), 2)}
    )
    grid = budget.sensitivity(
        analysis.budget_customers,
        budget=settings.total,
        max_lifts=lifts,
        spend_scales=scales,
        curve=settings.response_curve,
    )
    break_even = budget.break_even_budget(
        analysis.budget_customers, curve=analysis.curve, max_lift=settings.max_lift
    )
    text = (
        f"Across every combination of assumptions tried, the customer-centric plan gains "
        f"between {percent(grid['gain_pct'].min() / 100)} and "
        f"{percent(grid['gain_pct'].max() / 100)} over "
        f"the customer-focused one. "
        + (
            "The percentage does not depend on the assumed maximum lift, which scales both "
            "plans alike; it grows with the spend scale, the spend needed before returns "
            "flatten. "
            if bool(
                (
                    grid.groupby("spend_scale")["gain_pct"].agg(
                        lambda gain: gain.max() - gain.min()
                    )
                    < 1e-6
                ).all()
            )
            else ""
        )
        + f"Under the base assumptions, spending more stops paying "
        f"(the last unit returns less than it costs) beyond a budget of "
        f"{money(break_even, analysis.currency)}."
    )
    figure = _figure(
        plots.sensitivity_heatmap(
            grid, highlight=(settings.max_lift, settings.spend_scale), currency=analysis.currency
        )
    )
    return Section(text=text, figure=figure)


@_section
def test_plan(analysis: ClientAnalysis) -> Section:
    """Holdout size per tier to detect the assumed lift, and the seeded assignment."""
    settings = analysis.params.budget
    plan = budget.test_plan(
        analysis.budget_customers,
        lift=settings.test_lift,
        alpha=settings.test_alpha,
        power=settings.test_power,
        holdout_share=settings.holdout_share,
    )
    ready = plan[plan["big_enough"].fillna(False).astype(bool)]["segment"].tolist()
    text = (
        f"Before rolling out, hold back {percent(settings.holdout_share)} of each segment at "
        f"random and compare revenue per customer. To detect a "
        f"{percent(settings.test_lift)} lift at {percent(1 - settings.test_alpha)} confidence "
        f"and {percent(settings.test_power)} power, the segments large enough today are: "
        f"{', '.join(escape_md(name) for name in ready) or 'none'}. The smallest lift each "
        "segment's groups can detect: "
        + ", ".join(
            f"{escape_md(row.segment)} {percent(row.min_detectable_lift)}"
            for row in plan.itertuples()
            if not pd.isna(row.min_detectable_lift)
        )
        + "; for smaller effects, hold out more customers or pool segments."
    )
    styled = _styled(
        plan[
            [
                "segment",
                "customers",
                "mean_revenue",
                "sd_revenue",
                "absolute_lift",
                "holdout_needed",
                "holdout_size",
                "min_detectable_lift",
                "big_enough",
            ]
        ],
        name="test-plan",
        currency=analysis.currency,
        money_columns=("mean_revenue", "sd_revenue", "absolute_lift"),
        percent_columns=("min_detectable_lift",),
        count_columns=("customers",),
        labels={
            "mean_revenue": "mean revenue",
            "sd_revenue": "sd revenue",
            "absolute_lift": "lift to detect",
            "holdout_needed": "holdout needed",
            "holdout_size": "holdout planned",
            "min_detectable_lift": "smallest detectable lift",
            "big_enough": "big enough",
        },
    )
    return Section(text=text, table=styled)


@_section
def acquisition(analysis: ClientAnalysis) -> Section:
    """Acquisition budget across channels, best CLV per unit of CAC first."""
    settings = analysis.params.budget
    if not settings.new_customer_budget:
        raise Unavailable("No acquisition budget is set (`budget.new_customer_budget`).")
    ceilings = analysis.cac_ceiling.dropna(subset=["mean_acquisition_cost"])
    capacity = settings.channel_capacity or {}
    channels = pd.DataFrame(
        {
            "channel": ceilings["acquisition_channel"],
            "mean_clv": ceilings["mean_clv"],
            "cac": ceilings["mean_acquisition_cost"],
            "capacity": ceilings["acquisition_channel"].map(capacity).astype("float64"),
        }
    )
    plan = budget.allocate_acquisition(
        channels, budget=settings.new_customer_budget, min_value_per_cost=settings.target_ltv_cac
    )
    funded = plan[plan["spend"] > 0]
    text = (
        f"The {money(settings.new_customer_budget, analysis.currency)} acquisition budget goes "
        f"to channels in order of CLV per unit of acquisition cost, only where a new customer is "
        f"worth at least {settings.target_ltv_cac:g} times their cost: "
        + (
            ", ".join(
                f"{escape_md(row.channel)} {money(row.spend, analysis.currency)}"
                for row in funded.itertuples()
            )
            or "no channel qualifies"
        )
        + f"; {money(plan.attrs['unspent'], analysis.currency)} is left unspent."
    )
    styled = _styled(
        plan[
            [
                "channel",
                "mean_clv",
                "cac",
                "value_per_cost",
                "spend",
                "new_customers",
                "expected_value",
            ]
        ],
        name="acquisition",
        currency=analysis.currency,
        money_columns=("mean_clv", "cac", "spend", "expected_value"),
        decimals={"value_per_cost": 2, "new_customers": 0},
        labels={
            "mean_clv": "CLV per customer",
            "cac": "acquisition cost",
            "value_per_cost": "CLV / cost",
            "new_customers": "new customers",
            "expected_value": "expected value",
        },
    )
    return Section(text=text, table=styled)


@_section
def budget_export(analysis: ClientAnalysis) -> Section:
    """Write the allocation and the test assignment for activation."""
    settings = analysis.params.budget
    centric = analysis.allocations["customer-centric (optimal)"]
    exports.export(
        centric[["customer_id", "segment", "rclv", "spend", "added_value"]], "allocation"
    )
    assignment = budget.assign_holdout(
        analysis.budget_customers, holdout_share=settings.holdout_share, seed=analysis.params.seed
    )
    exports.export(assignment, "test_assignment")
    held = int((assignment["group"] == "holdout").sum())
    return Section(
        text=f"The optimal spend per customer is exported as `allocation.csv`, and a seeded "
        f"random assignment ({count(held)} customers held out) as `test_assignment.csv`."
    )


# --- what to do next ----------------------------------------------------------------------------


def _segment_row(analysis: ClientAnalysis, name: str) -> pd.Series | None:
    table = analysis.segment_summary.set_index("segment")
    if name not in table.index or table.loc[name, "customers"] == 0:
        return None
    return table.loc[name]


@_section
def next_steps_overview(analysis: ClientAnalysis) -> Section:
    """Actions from the KPI overview."""
    kpis = analysis.kpis.pivot(index="kpi", columns="year", values="value")
    last = kpis.columns.max()
    lines = []
    leak = kpis.loc["leaky_bucket_ratio", last]
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
    early = kpis.loc["early_repeat_rate", last]
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


@_section
def next_steps_segments(analysis: ClientAnalysis) -> Section:
    """Which segment to move first, and how."""
    lines = []
    medium = _segment_row(analysis, "Medium-Value")
    if medium is not None:
        lines.append(
            f"Move the {count(medium['customers'])} Medium-Value customers first: they buy "
            f"but are not yet among the best (median revenue "
            f"{money(medium['median_revenue'], analysis.currency)}); an upgrade offer to each "
            "is the largest upside."
        )
    high = _segment_row(analysis, "High-Value")
    if high is not None:
        lines.append(
            f"Protect the {count(high['customers'])} High-Value customers "
            f"({percent(high['revenue_share'])} of revenue) with recognition, not discounts."
        )
    first = _segment_row(analysis, "First-Time")
    if first is not None:
        lines.append(
            f"Onboard the {count(first['customers'])} First-Time customers towards a second "
            "purchase."
        )
    low = _segment_row(analysis, "Low-Value")
    if low is not None:
        lines.append(
            f"Take the {count(low['customers'])} Low-Value customers out of paid audiences and "
            "reach them by e-mail only."
        )
    if not lines:
        lines.append("Act on the largest segments in the table above, each with its tactic.")
    return Section(text=_bullets(lines))


@_section
def next_steps_cohorts(analysis: ClientAnalysis) -> Section:
    """Actions from the cohort views."""
    lines = []
    try:
        table = analysis.cohort_by_channel
        worst = table.loc[table["repeat_share"].idxmin()]
        lines.append(
            f"Find out why customers from {escape_md(worst['acquisition_channel'])} rarely "
            f"return ({percent(worst['repeat_share'])} repeat within a year) before buying more "
            "of them: test a follow-up message timed to their first weeks."
        )
    except Unavailable:
        lines.append(
            "Add the acquisition channel of each customer (a customers table) to see which "
            "channels bring customers who stay."
        )
    lines.append(
        "Watch the newest cohorts' first-year revenue per customer each quarter: a drop is "
        "the earliest sign that acquisition is bringing in less valuable customers."
    )
    return Section(text=_bullets(lines))


@_section
def next_steps_clv(analysis: ClientAnalysis) -> Section:
    """CAC ceilings and where the value sits."""
    equity = analysis.customer_equity
    lines = [
        f"The top 10% of customers hold {percent(equity.top_decile_share)} of customer equity: "
        "give them the attention the segments notebook recommends for High-Value customers."
    ]
    try:
        table = analysis.cac_ceiling
        for row in table.itertuples():
            if pd.isna(row.mean_acquisition_cost):
                continue
            action = (
                "cut or renegotiate"
                if row.mean_acquisition_cost > row.cac_ceiling
                else "room to grow"
            )
            lines.append(
                f"{escape_md(row.acquisition_channel)}: pay at most "
                f"{money(row.cac_ceiling, analysis.currency)} per new customer (today "
                f"{money(row.mean_acquisition_cost, analysis.currency)}: {action})."
            )
    except Unavailable:
        lines.append(
            "With acquisition channels and costs per customer, this notebook would give each "
            "channel its CAC ceiling."
        )
    return Section(text=_bullets(lines))


@_section
def next_steps_budget(analysis: ClientAnalysis) -> Section:
    """Roll-out advice from the allocation and the test plan."""
    allocations = analysis.allocations
    gain = budget.centric_gain(
        allocations["customer-focused"], allocations["customer-centric (optimal)"]
    )
    tiers = budget.tiers_from_optimum(allocations["customer-centric (optimal)"])
    rule = ", ".join(
        f"{escape_md(segment)} {money(row.spend_per_head, analysis.currency)}"
        for segment, row in tiers.iterrows()
    )
    lines = [
        f"Test the value-led plan before rolling it out: the model expects "
        f"{signed_percent(gain['gain_pct'] / 100, digits=1)} more value for the same budget.",
        f"Run it as a spend per head by segment ({rule}) and keep the holdout group from "
        "`test_assignment.csv` untouched.",
        "Measure revenue per customer in treatment and holdout after one purchase cycle; "
        "adjust the assumed lift to what the test shows and re-run this notebook.",
    ]
    return Section(text=_bullets(lines))

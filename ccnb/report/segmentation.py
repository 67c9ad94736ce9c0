"""Sections of 01_segmentation: RFM grid, segments and tactics, concentration, NPS."""

from __future__ import annotations

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis
from ccnb.batch import exports
from ccnb.formatting import count, day_label, escape_md, money, percent
from ccnb.report._section import Section, _bullets, _figure, _section, _styled
from ccnb.rfm import NET_ZERO_SEGMENT
from ccnb.windows import date_range_label

__all__ = [
    "concentration",
    "next_steps_segments",
    "nps_by_segment",
    "rfm_grid",
    "segment_export",
    "segments",
]


def _scores(low: int, high: int) -> str:
    """A range of scores in words: '4 or 5', '3 to 5', '5'."""
    if low == high:
        return f"{low}"
    return f"{low} or {high}" if high - low == 1 else f"{low} to {high}"


def _history(analysis: ClientAnalysis) -> str:
    """'Jan 2021 – Dec 2025': the period the segments' revenue covers."""
    return date_range_label(analysis.windows.data_start, analysis.windows.observation_end)


def _orders(row: pd.Series) -> str:
    low, high = int(row["low"]), int(row["high"])
    return f"{low} order{'' if low == 1 else 's'}" if low == high else f"{low} to {high} orders"


@_section(data="rfm_grid", options={"bins": "rfm.bins"})
def rfm_grid(
    analysis: ClientAnalysis, *, value: str = "customers", bins: int | None = None
) -> Section:
    """The R x F grid of customers or revenue.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    value : {"customers", "revenue"}
        What each cell shows.
    bins : int, optional
        Score levels per dimension (``rfm.bins``).
    """
    grid = analysis.rfm_grid
    corner = analysis.rfm_corner
    frequency = analysis.frequency_scores
    if value == "customers":
        bins, low = analysis.params.rfm.bins, corner["min_score"]
        text = (
            f"Each cell counts the customers with that recency (R) and frequency (F) score, "
            f"{bins} being the most recent or most frequent. {percent(corner['customer_share'])} "
            f"of customers sit in the top-right corner (R and F of {_scores(low, bins)})."
        )
        empty = frequency.loc[frequency["customers"] == 0, "score"].tolist()
        if empty:
            single = frequency[frequency["customers"] > 0].iloc[0]
            customers = count(single["customers"], "customer")
            text += (
                f" Each column names the order counts its F score covers. F = "
                f"{' and '.join(str(score) for score in empty)} "
                f"{'is' if len(empty) == 1 else 'are'} empty: customers with the same number "
                f"of orders share a score, and the {customers} with {_orders(single)} "
                f"({percent(single['customers'] / grid['customers'].sum())}) all score F = "
                f"{int(single['score'])}."
            )
    else:
        text = (
            f"The same grid by net revenue: the top-right corner brought "
            f"{percent(corner['revenue_share'])} of all revenue."
        )
    figure = _figure(
        plots.rfm_heatmap(
            grid,
            value=value,
            frequency_scores=frequency,
            currency=analysis.currency,
        )
    )
    return Section(text=text, figure=figure)


@_section(data="segment_summary", options={"scheme": "rfm.scheme", "bins": "rfm.bins"})
def segments(
    analysis: ClientAnalysis, *, scheme: str | None = None, bins: int | None = None
) -> Section:
    """Segment sizes, revenue shares and tactics.

    Parameters
    ----------
    analysis : ClientAnalysis
        The client's analysis.
    scheme : {"value_tiers", "rfm_grid"}, optional
        Segment scheme (``rfm.scheme``).
    bins : int, optional
        Score levels per dimension (``rfm.bins``).
    """
    table = analysis.segment_summary
    ranked = table.sort_values("revenue_share", ascending=False)
    top = ranked.iloc[0]
    recency = analysis.segment_recency.set_index("segment")
    window = analysis.params.churn_window_days
    lines = []
    for row in table.itertuples():
        if row.customers == 0:
            continue
        lapsed = recency.loc[row.segment]
        guard = (
            f" Most of them have lapsed: {_lapsed_clause(lapsed, window)}, so win them back "
            "before the tactic applies."
            if lapsed["lapsed_share"] >= MOSTLY_LAPSED and row.segment not in SILENT_SEGMENTS
            else ""
        )
        lines.append(
            # one decimal, as in the table below (a 0.5% segment read '1%')
            f"**{escape_md(row.segment)}** ({percent(row.share, digits=1)} of customers, "
            f"{percent(row.revenue_share, digits=1)} of revenue): {escape_md(row.tactic)}{guard}"
        )
    text = (
        f"{escape_md(top['segment'])} customers are {percent(top['share'], digits=1)} of the "
        f"base and brought {percent(top['revenue_share'], digits=1)} of net revenue over the "
        "whole history "
        f"({_history(analysis)}; segments and revenue shares are of every customer to date). "
        "What to do with each segment:"
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


@_section(data="revenue_concentration")
def concentration(analysis: ClientAnalysis) -> Section:
    """Revenue concentration (Pareto curve)."""
    text = (
        f"Over the whole history ({_history(analysis)}), the best "
        f"{percent(analysis.params.rfm.concentration_top)} of customers brought "
        f"{percent(analysis.top_customers_share)} of net revenue; the steeper the curve above "
        "the diagonal, the more the business depends on a few customers."
    )
    figure = plots.revenue_concentration(
        analysis.revenue_concentration, top=analysis.params.rfm.concentration_top
    )
    return Section(text=text, figure=_figure(figure))


@_section(data="nps_by_segment")
def nps_by_segment(analysis: ClientAnalysis) -> Section:
    """NPS per segment with 95% intervals; small groups flagged."""
    table = analysis.nps_by_segment
    groups = table[(table["segment"] != "All") & table["reliable"]]
    best, worst = groups.loc[groups["nps"].idxmax()], groups.loc[groups["nps"].idxmin()]
    everyone = table[table["segment"] == "All"].iloc[0]
    survey = analysis.quality.survey
    which = (
        f"survey, {day_label(survey.first_date)} to {day_label(survey.last_date)}, by each "
        f"customer's segment today (NPS {everyone['nps']:+.0f} for all of them); the KPI "
        f"overview's NPS counts only the answers dated in {analysis.windows.last.label}."
        if survey.first_date is not None
        else "survey (undated), by each customer's segment today (NPS "
        f"{everyone['nps']:+.0f} for all of them)."
    )
    text = (
        f"{escape_md(best['segment'])} customers are the most likely to recommend the business "
        f"(NPS {_nps_with_interval(best)}), {escape_md(worst['segment'])} the least "
        f"({_nps_with_interval(worst)}). These are all {count(everyone['n'])} answers of the "
        f"{which} Each interval covers the sampling of that segment's answers only. Groups "
        f"with fewer than {analysis.params.survey_min_answers} answers are greyed out."
    )
    return Section(text=text, figure=_figure(plots.nps_by_segment(table)))


def _nps_with_interval(row: pd.Series) -> str:
    """'+41, 95% interval +34 to +48, 311 answers'."""
    return (
        f"{row['nps']:+.0f}, 95% interval {row['ci_low']:+.0f} to {row['ci_high']:+.0f}, "
        f"{count(row['n'], 'answer')}"
    )


@_section  # its table is `analysis.segments`: not read here, the export streams its files
def segment_export(analysis: ClientAnalysis) -> Section:
    """Write the per-customer segments for CRM activation (streamed from their files)."""
    if exports.export_dir() is not None:  # a workshop exports nothing: no files are made
        exports.export(analysis.segment_rows.blocks(), "segments")
    customers = int(analysis.segment_summary["customers"].sum())
    return Section(
        text=f"The segment of each of the {count(customers)} customers is exported as "
        "`segments.csv` for CRM activation."
    )


def _segment_row(table: pd.DataFrame, name: str) -> pd.Series | None:
    """The row of a per-segment table (summary, recency) for a segment with customers."""
    table = table.set_index("segment")
    if name not in table.index or table.loc[name, "customers"] == 0:
        return None
    return table.loc[name]


#: a segment whose customers have mostly lapsed gets a win-back tactic first
MOSTLY_LAPSED = 0.5

#: segments whose own tactic already addresses customers who stopped buying
SILENT_SEGMENTS = ("Lapsed", "Low-Value", NET_ZERO_SEGMENT)


def _lapsed_clause(row: pd.Series, window: int) -> str:
    return (
        f"{percent(row['lapsed_share'])} have not bought for {window} days or more (median "
        f"{count(row['median_days_since_last'])} days since their last purchase)"
    )


@_section
def next_steps_segments(analysis: ClientAnalysis) -> Section:
    """Which segment to move first, and how, as far as their recency allows."""
    lines = []
    window = analysis.params.churn_window_days
    summary, recency = analysis.segment_summary, analysis.segment_recency
    b2b = analysis.params.business == "b2b"

    def rows(name: str) -> tuple[pd.Series | None, pd.Series | None]:
        return _segment_row(summary, name), _segment_row(recency, name)

    medium, medium_recency = rows("Medium-Value")
    if medium is not None and medium_recency["lapsed_share"] >= MOSTLY_LAPSED:
        lines.append(
            f"Win back the {count(medium['customers'], 'Medium-Value customer')} before "
            f"offering them more: {_lapsed_clause(medium_recency, window)}."
        )
    elif medium is not None:
        active = medium["customers"] - medium_recency["lapsed"]
        lines.append(
            f"Move the {count(active, 'active Medium-Value customer')} up a tier: they buy but "
            f"are not yet among the best (median revenue "
            f"{money(medium['median_revenue'], analysis.currency)}); "
            + (
                "a volume-tier offer from their sales contact is the next step."
                if b2b
                else "an upgrade offer by e-mail or on the website costs little."
            )
        )
    high, high_recency = rows("High-Value")
    if high is not None and high_recency["lapsed_share"] >= MOSTLY_LAPSED:
        lines.append(
            f"Call the {count(high['customers'], 'High-Value customer')} "
            f"({percent(high['revenue_share'])} of revenue) personally: "
            f"{_lapsed_clause(high_recency, window)}."
        )
    elif high is not None:
        lapsed = high_recency["lapsed"]
        lines.append(
            f"Protect the {count(high['customers'], 'High-Value customer')} "
            f"({percent(high['revenue_share'])} of revenue) "
            + ("with a named account manager" if b2b else "with recognition, not discounts")
            + (
                f"; call the {count(lapsed)} who have not bought for {window} days."
                if lapsed
                else "."
            )
        )
    first, first_recency = rows("First-Time")
    if first is not None:
        recent = first_recency["recent"]
        days = analysis.params.early_repeat_days
        lines.append(
            f"Onboard the {count(recent, 'First-Time customer')} who bought in the last {days} "
            "days towards a second purchase"
            + (
                f"; the other {count(first['customers'] - recent)} bought too long ago for "
                "onboarding."
                if first["customers"] > recent
                else "."
            )
            if recent
            else f"None of the {count(first['customers'])} First-Time customers bought in "
            f"the last {days} days (median {count(first_recency['median_days_since_last'])} "
            "days ago): onboarding would come too late; treat them as lapsed."
        )
    lapsed, lapsed_recency = rows("Lapsed")
    if lapsed is not None:
        days = count(lapsed_recency["median_days_since_last"])
        revenue = money(lapsed["median_revenue"], analysis.currency)
        lines.append(
            f"Win back the {count(lapsed['customers'])} Lapsed customers, former repeat "
            f"buyers silent for a median {days} days (median revenue {revenue}): one personal "
            "attempt each, then treat those who do not answer as Low-Value."
            if lapsed["customers"] > 1
            else f"Win back the 1 Lapsed customer, a former repeat buyer silent for {days} days "
            f"(revenue {revenue}): one personal attempt, then treat them as Low-Value if "
            "they do not answer."
        )
    net_zero, _ = rows(NET_ZERO_SEGMENT)
    if net_zero is not None:
        lines.append(
            f"Look into the {count(net_zero['customers'], 'customer')} whose returns and "
            "cancellations equal or exceed their purchases before any campaign reaches them."
        )
    low, low_recency = rows("Low-Value")
    if low is not None:
        former = low_recency["lapsed_repeat_buyers"]
        lines.append(
            f"Keep the {count(low['customers'], 'Low-Value customer')} on the trade newsletter "
            "only, without sales calls."
            if b2b
            else f"Take the {count(low['customers'], 'Low-Value customer')} out of paid audiences "
            "and reach them by e-mail only"
            + (
                f", except the {count(former)} former repeat buyers among them: they are worth "
                "a win-back test."
                if former
                else "."
            )
        )
    if not lines:
        lines.append("Act on the largest segments in the table above, each with its tactic.")
    return Section(text=_bullets(lines))

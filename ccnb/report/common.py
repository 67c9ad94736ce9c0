"""Sections atop every notebook: whose data and period; rows read, used and rejected."""

from __future__ import annotations

import pandas as pd

from ccnb import plots
from ccnb.analysis import ClientAnalysis
from ccnb.formatting import count, day_label, escape_md, money, percent
from ccnb.quality import ORDER_RULES
from ccnb.report._section import Section, _bullets, _figure, _section

__all__ = ["client_header", "data_quality", "data_quality_summary"]


@_section(data="quality")
def client_header(analysis: ClientAnalysis) -> Section:
    """The opening note: whose data, which period, which currency."""
    quality = analysis.quality.transactions
    text = (
        f"**{escape_md(analysis.params.client)}**: {count(quality.customers)} customers and "
        f"{count(quality.rows_used)} transaction rows from {day_label(quality.first_date)} to "
        f"{day_label(analysis.observation_end)}; amounts in {escape_md(analysis.currency)}."
    )
    population = analysis.params.population
    if population is not None:
        text += (
            f" **Population: {escape_md(population)}** (the params' `filter`): every number "
            "in this report counts only the transactions that meet it and the customers who "
            f"have them; {count(quality.outside_population)} transaction rows of the file are "
            "outside it and not analysed."
        )
    return Section(text=text)


@_section(data="quality")
def data_quality(analysis: ClientAnalysis) -> Section:
    """Rows read, used and rejected by reason, as a chart, a table and a sentence."""
    quality = analysis.quality
    lines = []
    for source in quality.sources:
        reasons = ", ".join(
            f"{count(n)} {reason.replace('_', ' ')}{_revenue_clause(source, reason)}"
            for reason, n in sorted(source.rejected.items(), key=lambda item: (-item[1], item[0]))
        )
        detail = f": {reasons}" if reasons else ""
        outside = (
            f" ({count(source.outside_population)} more rows outside the population are not read)"
            if source.outside_population
            else ""
        )
        lines.append(
            f"{escape_md(source.source)}: {count(source.rows_used)} of "
            f"{count(source.rows_read)} rows used, {count(source.rows_rejected)} "
            f"excluded{detail}{outside}"
        )
    excluded = (
        f"{percent(quality.excluded_share, digits=1)} of the transaction rows were excluded"
        f"{_carrying(quality.transactions)}, each with its reason (listed in "
        "`rejected_rows.csv`)"
        if quality.transactions.rows_rejected
        else "no transaction row was excluded"
    )
    lines.extend(order_notes(analysis))
    lines.extend(f"Check: {escape_md(warning)}" for warning in quality.warnings)
    windows = analysis.windows
    # what the history allows (windows, warm-up, churn window) is said with the KPI table
    lines.append(
        f"History: {count(windows.history_days)} days of transactions, "
        f"{day_label(windows.data_start)} to {day_label(windows.observation_end)}"
    )
    text = f"Every row read is accounted for: {excluded}.\n\n" + _bullets(lines)
    figure = _figure(plots.data_quality_bar(quality.counts()))
    return Section(text=text, figure=figure, extra=[quality])


def _share_text(share: float, *, digits: int) -> str | None:
    """A revenue share as shown: None when there is none, 'under 0.01%' when it rounds to 0."""
    if pd.isna(share) or share == 0:
        return None
    if 0 < share < 0.00005:
        return "under 0.01%"
    return percent(share, digits=digits)


def _share_digits(source) -> int:
    """Decimals for a source's excluded-revenue shares: two while the total is under 10%.

    Every reason's share and the total take the same decimals, so they add up as read
    (0.05% + 0.10% + 0.04% + 0.06% = 0.25%, where one decimal read 0.1% + 0.1% + under 0.1%
    + 0.1% beside a total of 0.2%).
    """
    total = source.revenue_share()
    return 2 if pd.isna(total) or abs(total) < 0.1 else 1


def _revenue_clause(source, reason: str) -> str:
    """' (0.05% of the revenue)' for a reason whose rows carry a share of the file's amount."""
    shown = _share_text(source.revenue_share(reason), digits=_share_digits(source))
    return f" ({shown} of the revenue)" if shown else ""


def _carrying(source) -> str:
    shown = _share_text(source.revenue_share(), digits=_share_digits(source))
    return f" (carrying {shown} of the revenue in the file)" if shown else ""


@_section(data="quality")
def data_quality_summary(analysis: ClientAnalysis) -> Section:
    """One line on the rows used and excluded, pointing to the KPI overview's full section."""
    transactions = analysis.quality.transactions
    excluded = (
        f"{count(transactions.rows_rejected)} excluded{_carrying(transactions)}"
        if transactions.rows_rejected
        else "none excluded"
    )
    return Section(
        text=f"{count(transactions.rows_used)} of {count(transactions.rows_read)} transaction "
        f"rows used, {excluded}; every row is accounted for in the "
        "[KPI overview's data-quality section](00_kpi_overview.html#data-quality)."
    )


#: orders over ten times the median are mentioned when they carry this share of the value
LARGE_ORDERS_WORTH_A_NOTE = 0.05


def order_notes(analysis: ClientAnalysis) -> list[str]:
    """Which purchase rule applied and what it changed; orders far above the typical one."""
    netting, currency = analysis.quality.orders, analysis.currency
    notes = []
    if netting is not None:
        note = f"Purchases: {ORDER_RULES[netting.rule]}."
        matched = netting.matched_by_order_id + netting.matched_by_product
        if netting.rule != "same_day" and netting.return_lines and not matched:
            note += (
                f" None of the {count(netting.return_lines)} return lines matched an order "
                "(they carry their own ids"
                + ("" if netting.rule == "order_and_product" else " and no product is mapped")
                + "), so they reduce revenue only and every order counts as a purchase."
            )
        elif netting.rule != "same_day" and netting.return_lines:
            note += (
                f" {count(matched)} of the {count(netting.return_lines)} return lines matched "
                f"an order; {count(netting.cancelled_orders)} orders "
                f"({money(netting.cancelled_value, currency)}) were cancelled or returned in "
                "full and do not count as purchases"
            )
            unmatched = netting.unmatched_returns
            note += (
                f"; {count(unmatched)} "
                + (
                    "return matched no order and reduces"
                    if unmatched == 1
                    else "returns matched no order and reduce"
                )
                + " revenue only."
                if unmatched
                else "."
            )
        notes.append(note)
    large = analysis.large_orders
    if large["large_orders"] and large["value_share"] >= LARGE_ORDERS_WORTH_A_NOTE:
        several = large["large_orders"] > 1
        note = (
            f"{count(large['large_orders'], 'order')} {'are' if several else 'is'} over ten "
            f"times the median order ({money(large['median_order'], currency)}) and "
            f"{'carry' if several else 'carries'} {percent(large['value_share'], digits=1)} of "
            "the value ordered: "
        )
        if analysis.params.business == "b2b":
            note += (
                "trade accounts differ in size, so averages such as the average order value "
                "are pulled up by the largest; the median order is the typical one."
            )
        else:
            note += (
                "unusual for consumers; they may be resellers or business accounts (check "
                "`business` in the params and whether they belong in this analysis)."
            )
        notes.append(note)
    return notes


def window_notes(analysis: ClientAnalysis) -> list[str]:
    """What the windows leave out, for the KPI table (no year-on-year, warm-up, churn window)."""
    windows = analysis.windows
    notes = []
    if not windows.year_on_year:
        notes.append(
            f"The data covers {count(windows.history_days)} days ({day_label(windows.data_start)} "
            f"to {day_label(windows.observation_end)}), less than two years, so there is no "
            "year-on-year comparison."
        )
    if windows.warm_up_days:
        notes.append(
            f"Customers first seen in the first {count(windows.warm_up_days)} days (to "
            f"{day_label(windows.base_known_from - pd.Timedelta(days=1))}) are the existing base, "
            "not new customers"
            + (
                "; new customers, churn, early repeat and leaks need the base known on "
                f"{day_label(windows.last.start)}, when the KPI window starts, but it is known "
                f"only from {day_label(windows.base_known_from)}, so the churn section shows them "
                "per quarter instead."
                if windows.last.start < windows.base_known_from
                else "."
            )
        )
    if windows.churn_window_too_long:
        notes.append(churn_window_warning(analysis))
    repeat_note = _early_repeat_note(analysis)
    if repeat_note:
        notes.append(repeat_note)
    return notes


def early_repeat_cut(analysis: ClientAnalysis) -> pd.Timestamp | None:
    """The latest window's early repeat cut: its last first-purchase day counted, or None.

    None when the window is counted whole (its end is before the last day followed).
    """
    acquired_to = analysis.early_repeat_acquired_to[-1]
    return acquired_to if acquired_to < analysis.windows.last.end else None


def _early_repeat_note(analysis: ClientAnalysis) -> str | None:
    """Which new customers the early repeat KPI counts, when the latest window is cut short."""
    windows = analysis.windows
    cut = early_repeat_cut(analysis)
    rates = analysis.kpis[analysis.kpis["kpi"] == "early_repeat_rate"]
    if cut is None or rates["value"].isna().iloc[-1]:
        return None  # nothing cut, or no rate shown
    days = analysis.params.early_repeat_days
    text = (
        f"The early repeat rate of {windows.last.label} counts its new customers acquired by "
        f"{day_label(cut)}, the last who can be followed for {days} days by "
        f"{day_label(windows.observation_end)}"
    )
    if windows.year_on_year:
        text += (
            f"; {windows.comparison[0].label}'s counts those acquired by "
            f"{day_label(analysis.early_repeat_acquired_to[0])}, so both cover the same part "
            "of the year"
        )
    return text + "."


def churn_window_warning(analysis: ClientAnalysis) -> str:
    windows = analysis.windows
    return (
        f"**The churn window ({count(windows.churn_window_days)} days) is longer than half "
        f"of the {count(windows.history_days)}-day history:** losses of customers who bought "
        "before the data starts are invisible until a full window has passed, so churn is "
        "measured over little or no time. A shorter `churn_window_days` (for example 90 or "
        "180) gives a usable churn rate."
    )

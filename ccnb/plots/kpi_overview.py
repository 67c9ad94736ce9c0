"""Figures of 00_kpi_overview: data quality, active base, churn and leaks, early repeat rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ccnb.formatting import day_label, period_label
from ccnb.plots._axes import (
    _PERIOD_NOUN,
    _date_axis,
    _dates,
    _flow_period_kind,
    _label,
    _legend,
    _money,
    _new_axes,
    _percent,
    _period_bars,
    _require,
    _two_panels,
    _value_axis,
)
from ccnb.plots._theme import (
    _BLUE,
    _GREEN,
    _INK,
    _ORANGE,
    _RED,
    _money_label,
    _themed,
    count_formatter,
)

__all__ = [
    "active_base_revenue",
    "churn_and_customer_flow",
    "data_quality_bar",
    "early_repeat_rate",
]


@_themed
def data_quality_bar(counts: Any, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """Rows used and rows rejected by reason, per source, as annotated horizontal bars.

    Parameters
    ----------
    counts : pandas.DataFrame or ccnb.DataQuality
        ``DataQuality.counts()``: one row per source and outcome with ``source``,
        ``outcome`` (``"used"`` or a rejection reason such as ``"bad_date"``) and
        ``rows``. A ``DataQuality`` report is accepted and its counts used.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    if not isinstance(counts, pd.DataFrame) and hasattr(counts, "counts"):
        counts = counts.counts()
    table = _require(
        counts,
        ["source", "outcome", "rows"],
        what="data_quality_bar",
        source="DataQuality.counts()",
    ).reset_index(drop=True)
    ax = _new_axes(ax, figsize=(9.0, max(3.0, 1.2 + 0.45 * len(table))))
    used = (table["outcome"] == "used").to_numpy()
    labels = [
        f"{source}: {str(outcome).replace('_', ' ')}"
        for source, outcome in zip(table["source"], table["outcome"], strict=True)
    ]
    positions = np.arange(len(table))
    bars = ax.barh(positions, table["rows"], color=np.where(used, _BLUE, _RED), height=0.7)
    texts = ax.bar_label(bars, labels=[f"{int(rows):,}" for rows in table["rows"]], padding=4)
    for text, is_used in zip(texts, used, strict=True):
        text.set_color(_INK if is_used else _RED)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.xaxis.set_major_formatter(count_formatter())
    _value_axis(ax, "x")
    kinds = [(used.any(), _BLUE, "used"), ((~used).any(), _RED, "rejected")]
    handles = [Patch(color=colour, label=label) for present, colour, label in kinds if present]
    _legend(ax, handles=handles)
    _label(
        ax,
        title=title or "Rows used and rejected, by source",
        xlabel="Rows",
        ylabel="Source: outcome",
    )
    return ax


_PARTIAL_HATCH = "//"


def _partial_note(flow: pd.DataFrame) -> str:
    """'partial quarter (to 9 Dec 2025)' for the legend, from the flagged rows."""
    partial = flow[flow["partial"]]
    noun = _PERIOD_NOUN[_flow_period_kind(flow["period"], flow["period_end"])]
    spans = ", ".join(
        f"{day_label(row.start)} to {day_label(row.end)}" for row in partial.itertuples()
    )
    return f"partial {noun} ({spans})"


def _flow_bars(ax: Axes, flow: pd.DataFrame, heights: Any, *, color: Any, **options: Any) -> Any:
    """Period bars with the partial periods hatched and paler."""
    bars = _period_bars(ax, flow["period"], flow["period_end"], heights, color=color, **options)
    for bar, partial in zip(bars, flow["partial"], strict=True):
        if partial:
            bar.set_hatch(_PARTIAL_HATCH)
            bar.set_alpha(0.45)
    return bars


def _partial_legend(ax: Axes, flow: pd.DataFrame, handles: list | None = None) -> None:
    handles = list(handles or [])
    if flow["partial"].any():
        handles.append(
            Patch(
                facecolor="white", edgecolor=_INK, hatch=_PARTIAL_HATCH, label=_partial_note(flow)
            )
        )
    if handles:
        # under the panels, where it hides no bar
        columns = min(len(handles), 4 if len(handles) > 3 else 3)
        ax.figure.legend(handles=handles, loc="outside lower center", fontsize=11.5, ncols=columns)


@_themed
def active_base_revenue(
    flow: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Active customers at each period's end (upper panel) and revenue per period (lower).

    Periods the data covers only in part are drawn hollow (upper) and hatched (lower) and
    named in the legend.

    Parameters
    ----------
    flow : pandas.DataFrame
        ``ccnb.churn.customer_flow`` output: one row per calendar period with ``period``,
        ``period_end``, ``partial``, ``start``, ``end``, ``closing`` and ``revenue``.
    {currency}
    {title}
    {axes}

    Returns
    -------
    {returns_fig}
    """
    table = _require(
        flow,
        ["period", "period_end", "partial", "start", "end", "closing", "revenue"],
        what="active_base_revenue",
        source="ccnb.churn.customer_flow",
    )
    noun = _PERIOD_NOUN[_flow_period_kind(table["period"], table["period_end"])]
    figure, upper, lower = _two_panels(axes)
    ends = _dates(table["end"])
    upper.plot(ends, table["closing"], color=_BLUE, marker="o", ms=4)
    partial = table["partial"].to_numpy(dtype=bool)
    if partial.any():
        upper.plot(
            ends[partial],
            table["closing"][partial],
            linestyle="none",
            marker="o",
            ms=9,
            markerfacecolor="white",
            markeredgecolor=_BLUE,
        )
    upper.set_ylim(bottom=0)
    upper.yaxis.set_major_formatter(count_formatter())
    _label(
        upper,
        title=f"Active customers at the end of each {noun}",
        xlabel="",
        ylabel="Active customers",
    )
    _flow_bars(lower, table, table["revenue"], color=_ORANGE)
    _partial_legend(lower, table)
    _money(lower, "y", currency)
    _label(
        lower,
        title=f"Net revenue per {noun}",
        xlabel=noun.capitalize(),
        ylabel=_money_label("Revenue", currency),
    )
    _date_axis(upper)
    figure.suptitle(title or "Size of the active customer base and revenue", x=0.01, ha="left")
    return figure


@_themed
def churn_and_customer_flow(
    flow: pd.DataFrame,
    *,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Churn rate per period (upper panel) and customers won and lost per period (lower).

    The churn rate is the share of the period's opening base lost in it; periods without one
    (no opening base, losses not yet observable) have no bar. In the lower panel new and
    reactivated customers stack above zero and lapsed customers hang below it, so the bars of
    a period add up to its change in the active base.

    Parameters
    ----------
    flow : pandas.DataFrame
        ``ccnb.churn.customer_flow`` output: ``period``, ``period_end``, ``partial``,
        ``start``, ``end``, ``churn_rate``, ``new``, ``reactivated``, ``lapsed``.
    {title}
    {axes}

    Returns
    -------
    {returns_fig}
    """
    table = _require(
        flow,
        [
            "period",
            "period_end",
            "partial",
            "start",
            "end",
            "churn_rate",
            "new",
            "reactivated",
            "lapsed",
        ],
        what="churn_and_customer_flow",
        source="ccnb.churn.customer_flow",
    )
    figure, upper, lower = _two_panels(axes)
    noun = _PERIOD_NOUN[_flow_period_kind(table["period"], table["period_end"])]
    bars = _flow_bars(upper, table, table["churn_rate"], color=_BLUE)
    if len(table) <= 12:
        upper.bar_label(
            bars,
            labels=["" if not np.isfinite(v) else f"{v:.0%}" for v in table["churn_rate"]],
            padding=3,
        )
        upper.margins(y=0.15)
    if not np.isfinite(table["churn_rate"].to_numpy(dtype=float)).any():
        # no rate to draw: an axis around 0% would suggest negative churn
        upper.set_ylim(0, 1)
        upper.text(
            0.5,
            0.5,
            f"no {noun} has a measurable churn rate",
            transform=upper.transAxes,
            ha="center",
            va="center",
            color=_INK,
        )
    _percent(upper)
    _label(
        upper,
        title=f"Churn rate per {noun} (share of the opening base lost)",
        xlabel="",
        ylabel="Lost (% of opening base)",
    )
    new = table["new"].to_numpy(dtype=float)
    _flow_bars(lower, table, new, color=_GREEN)
    _flow_bars(lower, table, table["reactivated"], color=_BLUE, bottom=new)
    _flow_bars(lower, table, -table["lapsed"].to_numpy(dtype=float), color=_RED)
    lower.axhline(0.0, color=_INK, linewidth=1)
    lower.yaxis.set_major_formatter(count_formatter(magnitude=True))
    handles = [
        Patch(color=_GREEN, label="new"),
        Patch(color=_BLUE, label="reactivated"),
        Patch(color=_RED, label="lapsed (below 0)"),
    ]
    _partial_legend(lower, table, handles)
    lower.margins(y=0.25)
    _label(
        lower,
        title=f"Customers won and lost per {noun}",
        xlabel=noun.capitalize(),
        ylabel="Customers",
    )
    figure.suptitle(title or "Customers lost: churn rate and customer flow", x=0.01, ha="left")
    return figure


@_themed
def early_repeat_rate(
    table: pd.DataFrame,
    *,
    period: str = "Q",
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Early repeat rate per acquisition cohort (line) or per channel (bars).

    Up to three cohorts are drawn as labelled bars, like channels: a line needs more points.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.churn.early_repeat_rate`` output: ``group`` (cohort start date, channel
        or ``"all"``), ``eligible`` and ``early_repeat_rate`` (fraction; NaN where no
        customer has been observed for the whole window).
    period : {"M", "Q", "Y"}
        Cohort period of a table by cohort (the ``period`` it was computed with).
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["group", "eligible", "early_repeat_rate"],
        what="early_repeat_rate",
        source="ccnb.churn.early_repeat_rate",
    )
    ax = _new_axes(ax)
    by_cohort = pd.api.types.is_datetime64_any_dtype(frame["group"])
    if by_cohort and len(frame) > 3:
        ax.plot(_dates(frame["group"]), frame["early_repeat_rate"], color=_BLUE, marker="o", ms=4)
        _date_axis(ax)
        xlabel = f"Acquisition cohort ({_PERIOD_NOUN[period]} of first purchase)"
    else:
        groups = (
            [period_label(group, period) for group in frame["group"]]
            if by_cohort
            else list(frame["group"])
        )
        labels = [
            f"{group}\n(n={int(n):,})" for group, n in zip(groups, frame["eligible"], strict=True)
        ]
        bars = ax.bar(labels, frame["early_repeat_rate"], color=_BLUE)
        ax.bar_label(
            bars,
            labels=["" if not np.isfinite(v) else f"{v:.0%}" for v in frame["early_repeat_rate"]],
            padding=3,
        )
        xlabel = (
            f"Acquisition cohort ({_PERIOD_NOUN[period]} of first purchase; customers observed "
            "for the whole window)"
            if by_cohort
            else "Acquisition channel (customers observed for the whole window)"
        )
    ax.set_ylim(bottom=0)
    _percent(ax)
    _label(
        ax,
        title=title or "Early repeat rate: new customers who buy again soon",
        xlabel=xlabel,
        ylabel="Bought again within the window (%)",
    )
    return ax

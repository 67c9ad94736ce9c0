"""Figures of 00_kpi_overview: data quality, active base, churn and leaks, early repeat rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FuncFormatter,
)

from ccnb.plots._axes import (
    _PERIOD_NOUN,
    _date_axis,
    _dates,
    _label,
    _legend,
    _money,
    _new_axes,
    _percent,
    _period_bars,
    _period_kind,
    _require,
    _two_panels,
    _value_axis,
)
from ccnb.plots._theme import _BLUE, _GREEN, _INK, _ORANGE, _RED, _money_label, _themed

__all__ = ["active_base_revenue", "churn_leaky_bucket", "data_quality_bar", "early_repeat_rate"]


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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
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


@_themed
def active_base_revenue(
    base: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Active customers at each period's end (upper panel) and revenue per period (lower).

    Parameters
    ----------
    base : pandas.DataFrame
        ``ccnb.churn.active_base`` output: one row per calendar period with ``period``,
        ``period_end``, ``active`` and ``revenue``.
    {currency}
    {title}
    {axes}

    Returns
    -------
    {returns_fig}
    """
    table = _require(
        base,
        ["period", "period_end", "active", "revenue"],
        what="active_base_revenue",
        source="ccnb.churn.active_base",
    )
    kind = _period_kind(table["period"])
    noun = _PERIOD_NOUN[kind]
    figure, upper, lower = _two_panels(axes)
    upper.plot(_dates(table["period_end"]), table["active"], color=_BLUE, marker="o", ms=4)
    upper.set_ylim(bottom=0)
    upper.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    _label(
        upper,
        title=f"Active customers at the end of each {noun}",
        xlabel="",
        ylabel="Active customers",
    )
    _period_bars(lower, table["period"], table["period_end"], table["revenue"], color=_ORANGE)
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
def churn_leaky_bucket(
    churn: pd.DataFrame,
    leaky: pd.DataFrame,
    *,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Churn rate per period (upper panel) and leaky bucket ratio with its line at 1 (lower).

    Leaky-bucket bars above 1 (the period lost more customers than it acquired) are
    drawn in a warning colour.

    Parameters
    ----------
    churn : pandas.DataFrame
        ``ccnb.churn.churn_rate`` output: ``period``, ``period_end``, ``churn_rate``
        (fraction of the active base).
    leaky : pandas.DataFrame
        ``ccnb.churn.leaky_bucket`` output: ``period``, ``period_end``, ``ratio``
        (customers lost per customer acquired).
    {title}
    {axes}

    Returns
    -------
    {returns_fig}
    """
    rates = _require(
        churn,
        ["period", "period_end", "churn_rate"],
        what="churn_leaky_bucket",
        source="ccnb.churn.churn_rate",
    )
    ratios = _require(
        leaky,
        ["period", "period_end", "ratio"],
        what="churn_leaky_bucket",
        source="ccnb.churn.leaky_bucket",
    )
    figure, upper, lower = _two_panels(axes)
    churn_noun = _PERIOD_NOUN[_period_kind(rates["period"])]
    bars = _period_bars(
        upper, rates["period"], rates["period_end"], rates["churn_rate"], color=_BLUE
    )
    if len(rates) <= 12:
        upper.bar_label(
            bars,
            labels=["" if not np.isfinite(v) else f"{v:.0%}" for v in rates["churn_rate"]],
            padding=3,
        )
        upper.margins(y=0.15)
    _percent(upper)
    _label(
        upper,
        title=f"Churn rate per {churn_noun}",
        xlabel="",
        ylabel="Customers lost (% of base)",
    )
    leaky_noun = _PERIOD_NOUN[_period_kind(ratios["period"])]
    values = ratios["ratio"].to_numpy(dtype=float)
    shrinking = values > 1
    for mask, colour, label in (
        (~shrinking, _GREEN, "acquired more than lost"),
        (shrinking, _RED, "lost more than acquired"),
    ):
        if mask.any():
            _period_bars(
                lower,
                ratios["period"][mask],
                ratios["period_end"][mask],
                values[mask],
                color=colour,
                label=label,
            )
    lower.axhline(1.0, color=_INK, linestyle="--", linewidth=1.5, label="ratio 1: base flat")
    highest = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    lower.set_ylim(0, max(1.0, highest) * 1.35)
    _legend(lower, loc="upper left", ncols=3, fontsize=11.5)
    _label(
        lower,
        title=f"Leaky bucket ratio per {leaky_noun}",
        xlabel=leaky_noun.capitalize(),
        ylabel="Lost per acquired customer",
    )
    figure.suptitle(title or "Customers lost: churn rate and leaky bucket", x=0.01, ha="left")
    return figure


@_themed
def early_repeat_rate(
    table: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None
) -> Axes:
    """Early repeat rate per acquisition cohort (line) or per channel (bars).

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.churn.early_repeat_rate`` output: ``group`` (cohort start date, channel
        or ``"all"``), ``eligible`` and ``early_repeat_rate`` (fraction; NaN where no
        customer has been observed for the whole window).
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
    if pd.api.types.is_datetime64_any_dtype(frame["group"]):
        kind = _period_kind(frame["group"])
        ax.plot(_dates(frame["group"]), frame["early_repeat_rate"], color=_BLUE, marker="o", ms=4)
        _date_axis(ax)
        xlabel = f"Acquisition cohort ({_PERIOD_NOUN[kind]} of first purchase)"
    else:
        labels = [
            f"{group}\n(n={int(n):,})"
            for group, n in zip(frame["group"], frame["eligible"], strict=True)
        ]
        bars = ax.bar(labels, frame["early_repeat_rate"], color=_BLUE)
        ax.bar_label(
            bars,
            labels=["" if not np.isfinite(v) else f"{v:.0%}" for v in frame["early_repeat_rate"]],
            padding=3,
        )
        xlabel = "Acquisition channel (customers observed for the whole window)"
    ax.set_ylim(bottom=0)
    _percent(ax)
    _label(
        ax,
        title=title or "Early repeat rate: new customers who buy again soon",
        xlabel=xlabel,
        ylabel="Bought again within the window (%)",
    )
    return ax

"""Figures of 01_segmentation: RFM heatmap, segment shares, concentration, NPS by segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ccnb.formatting import percent
from ccnb.plots._axes import (
    _annotated_heatmap,
    _cell_labels,
    _label,
    _legend,
    _new_axes,
    _percent,
    _require,
    _value_axis,
)
from ccnb.plots._theme import (
    _BLUE,
    _GREY,
    _INK,
    _ORANGE,
    _money_label,
    _money_text,
    _themed,
    count_formatter,
    money_formatter,
)

__all__ = ["nps_by_segment", "revenue_concentration", "rfm_heatmap", "segment_share_bars"]


@_themed
def rfm_heatmap(
    grid: pd.DataFrame,
    *,
    value: str = "customers",
    frequency_scores: pd.DataFrame | None = None,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Recency x frequency score grid, each cell annotated with its customers or revenue.

    R runs down the rows (best, most recent, at the top), F across the columns. With
    ``frequency_scores`` each F column is labelled with the order counts it covers, and an
    empty score says so.

    Parameters
    ----------
    grid : pandas.DataFrame
        ``ccnb.rfm.score_grid`` output: one row per (``R``, ``F``) pair of the scale, with
        ``customers`` and ``revenue``.
    value : {"customers", "revenue"}
        Show the customers or the net revenue of each cell.
    frequency_scores : pandas.DataFrame, optional
        ``ccnb.rfm.score_ranges(score="F")`` output: ``score``, ``customers``, ``low``,
        ``high``.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    if value not in ("customers", "revenue"):
        raise ValueError(f"value must be 'customers' or 'revenue'; got {value!r}")
    frame = _require(
        grid, ["R", "F", "customers", "revenue"], what="rfm_heatmap", source="ccnb.rfm.score_grid"
    )
    bins = int(frame["F"].max())
    grid = frame.pivot(index="R", columns="F", values=value)
    grid = grid.reindex(index=range(bins, 0, -1), columns=range(1, bins + 1))
    if frequency_scores is not None:
        grid.columns = [_orders_label(row) for row in frequency_scores.itertuples()]
    ax = _new_axes(ax, figsize=(8.0, 6.0))
    if value == "customers":
        labels = _cell_labels(grid.to_numpy(float), lambda v: f"{v:,.0f}")
        bar_label, formatter = "Customers", count_formatter()
    else:
        labels = _cell_labels(grid.to_numpy(float), lambda v: _money_text(v, currency))
        bar_label, formatter = _money_label("Net revenue", currency), money_formatter(currency)
    _annotated_heatmap(
        ax, grid, labels=labels, colorbar_label=bar_label, colorbar_formatter=formatter
    )
    what = "Customers" if value == "customers" else "Net revenue"
    _label(
        ax,
        title=title or f"{what} by recency and frequency score",
        xlabel=f"Frequency score F (1 = fewest orders, {bins} = most)",
        ylabel=f"Recency score R ({bins} = most recent)",
    )
    return ax


def _orders_label(row: Any) -> str:
    """The label of a frequency score column: score, then its order counts or 'empty'."""
    if not row.customers:
        return f"{row.score}\nempty"
    low, high = int(row.low), int(row.high)
    orders = f"{low}" if low == high else f"{low}–{high}"
    return f"{row.score}\n{orders} order{'' if orders == '1' else 's'}"


@_themed
def segment_share_bars(
    summary: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None
) -> Axes:
    """Each segment's share of customers next to its share of net revenue.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``ccnb.rfm.segment_summary`` output: one row per segment with ``segment``,
        ``share`` and ``revenue_share`` (fractions), in the scheme's order.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        summary,
        ["segment", "share", "revenue_share"],
        what="segment_share_bars",
        source="ccnb.rfm.segment_summary",
    )
    ax = _new_axes(ax, figsize=(9.0, max(4.0, 1.5 + 0.8 * len(table))))
    positions = np.arange(len(table))
    height = 0.38
    for offset, column, colour, label in (
        (-height / 2, "share", _BLUE, "share of customers"),
        (height / 2, "revenue_share", _ORANGE, "share of net revenue"),
    ):
        values = table[column].to_numpy(dtype=float)
        bars = ax.barh(positions + offset, values, height=height, color=colour, label=label)
        ax.bar_label(
            bars, labels=["" if not np.isfinite(v) else percent(v) for v in values], padding=3
        )
    ax.set_yticks(positions, [str(name) for name in table["segment"]])
    ax.invert_yaxis()
    ax.margins(x=0.12)
    _percent(ax, "x")
    _value_axis(ax, "x")
    _legend(ax, below=True)
    _label(
        ax,
        title=title or "Segments: share of customers vs share of revenue",
        xlabel="Share of all customers / of net revenue (%)",
        ylabel="Segment",
    )
    return ax


@_themed
def revenue_concentration(
    curve: pd.DataFrame,
    *,
    top: float = 0.2,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Pareto curve: cumulative share of revenue against share of customers, best first.

    The diagonal is what equal customers would give; a marker reads the curve at the
    top `top` share of customers.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``customer_share`` and ``revenue_share`` (fractions), best first: the curve at a
        few shares of customers (``ccnb.rfm.concentration_curve``) or one row per customer
        (``ccnb.rfm.revenue_concentration``).
    top : float, default 0.2
        Share of customers at which to mark the curve (the "top 20%").
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        curve,
        ["customer_share", "revenue_share"],
        what="revenue_concentration",
        source="ccnb.rfm.revenue_concentration",
    )
    if not 0 < top <= 1:
        raise ValueError(f"top must be a share of customers in (0, 1]; got {top}")
    ax = _new_axes(ax, figsize=(8.0, 6.0))
    x = np.concatenate([[0.0], table["customer_share"].to_numpy(dtype=float)])
    y = np.concatenate([[0.0], table["revenue_share"].to_numpy(dtype=float)])
    ax.plot(x, y, color=_BLUE, label="customers, highest revenue first")
    ax.plot(
        [0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=1.5, label="every customer equal"
    )
    # Reading the drawn curve at `top` (straight segments between its points).
    top_revenue = float(np.interp(top, x, y))
    ax.plot([top, top, 0], [0, top_revenue, top_revenue], color=_ORANGE, linestyle=":", lw=1.5)
    ax.plot([top], [top_revenue], marker="o", ms=10, color=_ORANGE, linestyle="none")
    ax.annotate(
        f"top {top:.0%} of customers:\n{top_revenue:.0%} of net revenue",
        xy=(top, top_revenue),
        xytext=(top + 0.08, max(top_revenue - 0.22, 0.05)),
        arrowprops={"arrowstyle": "-", "color": _ORANGE},
        fontsize=13,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1.02, float(np.nanmax(y)) + 0.02))
    _percent(ax, "x")
    _percent(ax, "y")
    ax.grid(True, axis="both")
    ax.legend(loc="lower right")
    _label(
        ax,
        title=title or "Revenue concentration (Pareto curve)",
        xlabel="Share of customers, best first (%)",
        ylabel="Cumulative share of net revenue (%)",
    )
    return ax


@_themed
def nps_by_segment(
    table: pd.DataFrame,
    *,
    level: float = 0.95,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """NPS (or CSAT) per group as a point with its interval; unreliable groups greyed.

    Groups flagged ``reliable = False`` (fewer answers than ``min_n``) are drawn in grey
    and labelled; the overall row (``"All"``) is drawn in black below a separator.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.nps.nps_by`` or ``ccnb.nps.csat_by`` output: the group column first, then
        ``n``, ``nps`` or ``csat``, ``ci_low``, ``ci_high``, ``reliable``.
    level : float, default 0.95
        Confidence level the table was computed with (for the legend only).
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table, ["n", "ci_low", "ci_high", "reliable"], what="nps_by_segment", source="ccnb.nps"
    )
    if "nps" in frame.columns:
        score, name, limits = "nps", "NPS", (-100.0, 100.0)
        xlabel = "Net Promoter Score (% promoters − % detractors)"
    elif "csat" in frame.columns:
        score, name, limits = "csat", "CSAT", (0.0, 100.0)
        xlabel = "CSAT: answers 4 or 5 out of 5 (%)"
    else:
        raise ValueError("nps_by_segment needs an 'nps' (nps_by) or 'csat' (csat_by) column")
    group = frame.columns[0]
    ax = _new_axes(ax, figsize=(9.0, max(3.5, 1.6 + 0.6 * len(frame))))
    groups = [str(value) for value in frame[group]]
    positions = np.arange(len(frame))
    overall = np.array([label == "All" for label in groups])
    if overall.any() and not overall.all():
        ax.axhline(positions[overall].min() - 0.5, color=_GREY, linewidth=1)
    shown = set()
    records = frame.to_dict("records")
    for position, values, is_overall in zip(positions, records, overall, strict=True):
        point = float(values[score])
        if not np.isfinite(point):
            ax.text(limits[0], position, "  no answers", va="center", color=_GREY, fontsize=12)
            continue
        if is_overall:
            colour, label = _INK, "all answers"
        elif bool(values["reliable"]):
            colour, label = _BLUE, f"{name} with {level:.0%} interval"
        else:
            colour, label = _GREY, "too few answers to rely on"
        ax.errorbar(
            point,
            position,
            xerr=[[point - values["ci_low"]], [values["ci_high"] - point]],
            fmt="o",
            color=colour,
            ms=9,
            elinewidth=3,
            capsize=5,
            label=None if label in shown else label,
        )
        shown.add(label)
        note = f"{point:.0f}" if bool(values["reliable"]) else f"{point:.0f} (few answers)"
        ax.annotate(
            note,
            xy=(values["ci_high"], position),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            color=colour,
            fontsize=12,
        )
    ax.set_yticks(
        positions,
        [f"{label}\n(n={int(n):,})" for label, n in zip(groups, frame["n"], strict=True)],
    )
    ax.set_ylim(len(frame) - 0.5, -0.5)
    ax.set_xlim(*limits)
    if score == "nps":
        ax.axvline(0, color=_GREY, linewidth=1)
    _value_axis(ax, "x")
    _legend(ax, below=True)
    _label(
        ax,
        title=title or f"{name} by {str(group).replace('_', ' ')}",
        xlabel=xlabel,
        ylabel=str(group).replace("_", " ").capitalize(),
    )
    return ax

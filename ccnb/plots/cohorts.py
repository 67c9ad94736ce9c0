"""Figures of 02_cohorts: retention, cumulative revenue, layer cake, seasonal, channel cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import (
    MaxNLocator,
    MultipleLocator,
    PercentFormatter,
)

from ccnb._grids import to_triangle
from ccnb.plots._axes import (
    _MAX_ANNOTATED_COLUMNS,
    _MAX_ANNOTATED_ROWS,
    _PERIOD_NOUN,
    _annotated_heatmap,
    _cell_labels,
    _colours,
    _date_axis,
    _dates,
    _label,
    _legend,
    _money,
    _new_axes,
    _percent,
    _period_ends,
    _period_kind,
    _period_labels,
    _require,
)
from ccnb.plots._theme import (
    _GREY,
    _money_label,
    _money_text,
    _themed,
    count_formatter,
    money_formatter,
)

__all__ = [
    "cohort_by_channel",
    "cumulative_revenue_curves",
    "layer_cake",
    "retention_heatmap",
    "seasonal_cohorts",
]


def _wide_triangle(triangle: pd.DataFrame, value: str, what: str) -> pd.DataFrame:
    """Cohort x age table from a tidy triangle (or an already wide one)."""
    if "age" not in triangle.columns:
        if isinstance(triangle.index, pd.MultiIndex):
            raise ValueError(f"{what} draws one cohort grid; select one acquisition channel first")
        return triangle.astype(float)
    if "acquisition_channel" in triangle.columns:
        raise ValueError(
            f"{what} draws one cohort grid; this triangle is split by acquisition channel. "
            "Select one, e.g. triangle[triangle.acquisition_channel == 'Referral']"
        )
    _require(triangle, ["cohort", "age", value], what=what, source="ccnb.cohorts triangle")

    return to_triangle(triangle, value=value)


@_themed
def retention_heatmap(
    triangle: pd.DataFrame,
    *,
    value: str = "retention",
    period: str | None = None,
    max_cohorts: int = 24,
    annotate: bool | None = None,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cohort x age heatmap of retention (or revenue); unobservable cells stay blank.

    Rows are acquisition cohorts (the last `max_cohorts`), columns periods since the
    first purchase. Cells are annotated only when the grid is small enough to read.
    For retention the colour scale tops out at the highest value after age 0, so the
    100% of age 0 does not wash out the rest.

    Parameters
    ----------
    triangle : pandas.DataFrame
        ``ccnb.cohorts.retention_triangle`` or ``revenue_triangle`` output (tidy:
        ``cohort``, ``age`` and `value`) for one channel, or its
        ``ccnb.cohorts.to_triangle`` pivot (index cohort, columns age).
    value : str, default "retention"
        Column to show: ``"retention"`` (fraction), ``"active"`` (customers),
        ``"revenue_per_customer"`` or ``"cumulative_revenue_per_customer"`` (money).
    period : {"M", "Q", "Y"}, optional
        The cohorts' calendar period (the ``period`` the triangle was computed with); by
        default guessed from the spacing of the cohorts (months when there is only one).
    max_cohorts : int, default 24
        Show only the most recent cohorts.
    annotate : bool, optional
        Write the value in each cell; by default only when the grid has at most 15 rows
        and 15 columns.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    wide = _wide_triangle(triangle, value, "retention_heatmap")
    wide = wide.sort_index().tail(max_cohorts)
    wide = wide.loc[:, wide.notna().any(axis=0)]
    kind = period or _period_kind(wide.index)
    noun = _PERIOD_NOUN[kind]
    wide.index = _period_labels(wide.index, kind)
    wide.columns = [int(age) for age in wide.columns]
    if annotate is None:
        annotate = wide.shape[0] <= _MAX_ANNOTATED_ROWS and wide.shape[1] <= _MAX_ANNOTATED_COLUMNS
    vmax = None
    if value == "retention":
        text, formatter = (lambda v: f"{v:.0%}"), PercentFormatter(xmax=1, decimals=0)
        bar_label = f"Bought in the {noun} (% of cohort)"
        later = wide.drop(columns=[0], errors="ignore").to_numpy(dtype=float)
        if np.isfinite(later).any():
            vmax = float(np.nanmax(later))
        what = "Retention"
    elif value == "active":
        text, formatter = (lambda v: f"{v:,.0f}"), count_formatter()
        bar_label = f"Customers buying in the {noun}"
        what = "Active customers"
    else:
        text, formatter = (lambda v: _money_text(v, currency)), money_formatter(currency)
        what = value.replace("_", " ").capitalize()
        bar_label = _money_label(what, currency)
    labels = _cell_labels(wide.to_numpy(dtype=float), text) if annotate else None
    ax = _new_axes(ax, figsize=(10.0, max(4.5, 1.8 + 0.3 * len(wide))))
    _annotated_heatmap(
        ax,
        wide,
        labels=labels,
        colorbar_label=bar_label,
        colorbar_formatter=formatter,
        vmin=0.0 if value != "revenue_per_customer" else None,
        vmax=vmax,
    )
    _label(
        ax,
        title=title or f"{what} by acquisition cohort",
        xlabel=f"{noun.capitalize()}s since first purchase",
        ylabel=f"Acquisition cohort ({noun})",
    )
    return ax


@_themed
def cumulative_revenue_curves(
    triangle: pd.DataFrame,
    *,
    period: str | None = None,
    currency: str | None = None,
    max_cohorts: int = 8,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cumulative net revenue per acquired customer against age, one line per cohort.

    With more than `max_cohorts` cohorts the lines are coloured by the year of the
    cohort (one legend entry per year), otherwise each cohort has its own colour.

    Parameters
    ----------
    triangle : pandas.DataFrame
        ``ccnb.cohorts.revenue_triangle`` output for one channel (``cohort``, ``age``,
        ``cumulative_revenue_per_customer``), or its ``to_triangle`` pivot.
    period : {"M", "Q", "Y"}, optional
        The cohorts' calendar period (the ``period`` the triangle was computed with); by
        default guessed from the spacing of the cohorts (months when there is only one).
    {currency}
    max_cohorts : int, default 8
        Most cohorts given a colour of their own.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    wide = _wide_triangle(
        triangle, "cumulative_revenue_per_customer", "cumulative_revenue_curves"
    ).sort_index()
    kind = period or _period_kind(wide.index)
    stamps = _dates(wide.index)
    by_year = len(wide) > max_cohorts and kind != "Y"
    groups = [str(stamp.year) for stamp in stamps] if by_year else _period_labels(stamps, kind)
    unique_groups = list(dict.fromkeys(groups))
    colours = dict(zip(unique_groups, _colours(len(unique_groups)), strict=True))
    ax = _new_axes(ax)
    ages = np.asarray(wide.columns, dtype=float)
    labelled = set()
    for group, (_, row) in zip(groups, wide.iterrows(), strict=True):
        values = row.to_numpy(dtype=float)
        ax.plot(
            ages,
            values,
            color=colours[group],
            linewidth=1.4 if by_year else 2.2,
            alpha=0.85,
            # a cohort observed at one age only is a point: a line alone would not show it
            marker="o" if np.isfinite(values).sum() == 1 else None,
            label=None if group in labelled else group,
        )
        labelled.add(group)
    if len(ages) == 1:  # one age: an axis around it, not a sliver of quarters
        ax.set_xlim(-0.5, 1.5)
        ax.xaxis.set_major_locator(MultipleLocator(1))
    else:
        ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    if kind == "M" and len(ages) and ages.max() > 24:
        ax.xaxis.set_major_locator(MultipleLocator(12))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _money(ax, "y", currency)
    noun = _PERIOD_NOUN[kind]
    _legend(
        ax,
        title="Cohort year" if by_year else "Cohort",
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        force=True,
    )
    _label(
        ax,
        title=title or "Cumulative revenue per acquired customer, by cohort",
        xlabel=f"{noun.capitalize()}s since first purchase",
        ylabel=_money_label("Net revenue per customer", currency),
    )
    return ax


@_themed
def layer_cake(
    layers: pd.DataFrame,
    *,
    cohort_period: str = "Y",
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Stacked area of net revenue per calendar period, one layer per acquisition cohort.

    The existing base (``cohort`` NaT: customers first seen in the warm-up) is the bottom
    layer, in grey.

    Parameters
    ----------
    layers : pandas.DataFrame
        ``ccnb.cohorts.layer_cake`` output: ``period``, ``cohort`` (period starts; NaT for the
        existing base) and ``revenue``.
    cohort_period : {"M", "Q", "Y"}
        The period a layer stands for (``layer_cake``'s ``cohort_period``), which names the
        layers: "2025", "Q1 2025", "Jan 2025".
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        layers, ["period", "cohort", "revenue"], what="layer_cake", source="ccnb.cohorts.layer_cake"
    )
    existing = table[table["cohort"].isna()]
    acquired = table.dropna(subset=["cohort"])
    wide = acquired.pivot(index="period", columns="cohort", values="revenue")
    wide = wide.reindex(sorted(table["period"].unique())).fillna(0.0).sort_index(axis="columns")
    cohort_labels = _period_labels(wide.columns, cohort_period)
    if len(existing):
        wide.insert(0, "existing", existing.set_index("period")["revenue"].reindex(wide.index))
        wide = wide.fillna(0.0)
        cohort_labels = ["existing base", *cohort_labels]
    period_kind = _period_kind(wide.index)
    ax = _new_axes(ax)
    # Plot at the middle of each period so a quarter's revenue sits over that quarter.
    starts = _dates(wide.index)
    middles = starts + (_period_ends(starts, period_kind) - starts) / 2
    colours = _colours(len(cohort_labels) - len(existing.head(1)))
    if len(existing):
        colours = [_GREY, *colours]
    ax.stackplot(
        middles,
        wide.to_numpy(dtype=float).T,
        labels=cohort_labels,
        colors=colours,
        alpha=0.9,
        edgecolor="white",
        linewidth=0.6,
    )
    _date_axis(ax)
    _money(ax, "y", currency)
    ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > 1:
        # Newest cohort is the top layer: list the legend top-down like the stack.
        ax.legend(
            handles[::-1],
            labels[::-1],
            title="Acquired in",
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
        )
    noun = _PERIOD_NOUN[period_kind]
    _label(
        ax,
        title=title or "Revenue by acquisition cohort (layer cake)",
        xlabel=noun.capitalize(),
        ylabel=_money_label(f"Net revenue per {noun}", currency),
    )
    return ax


@_themed
def seasonal_cohorts(
    table: pd.DataFrame,
    *,
    value: str = "cumulative_revenue_per_customer",
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Customers acquired in the same season of different years, compared at equal ages.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.cohorts.seasonal_cohorts`` output: ``season`` (label), ``age`` (months)
        and `value`.
    value : str, default "cumulative_revenue_per_customer"
        ``"cumulative_revenue_per_customer"`` or ``"revenue_per_customer"`` (money) or
        ``"repeat_rate"`` (fraction who bought again).
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["season", "age", value],
        what="seasonal_cohorts",
        source="ccnb.cohorts.seasonal_cohorts",
    )
    ax = _new_axes(ax)
    seasons = list(dict.fromkeys(frame["season"]))
    for season, colour in zip(seasons, _colours(len(seasons)), strict=True):
        rows = frame[frame["season"] == season].sort_values("age")
        ax.plot(rows["age"], rows[value], color=colour, marker="o", ms=4, label=str(season))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    if value == "repeat_rate":
        _percent(ax)
        ylabel, what = "Customers who bought again (%)", "Repeat rate"
    else:
        _money(ax, "y", currency)
        cumulative = "cumulative" in value
        what = "Cumulative revenue per customer" if cumulative else "Revenue per customer"
        noun = "Cumulative net revenue per customer" if cumulative else "Net revenue per customer"
        ylabel = _money_label(noun, currency)
    _legend(ax, title="Acquired in", force=True)
    _label(
        ax,
        title=title or f"{what}: same season, different years",
        xlabel="Months since first purchase",
        ylabel=ylabel,
    )
    return ax


@_themed
def cohort_by_channel(
    table: pd.DataFrame,
    *,
    value: str = "repeat_share",
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Acquisition channels compared across cohorts: one line per channel.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.cohorts.cohort_by_channel`` output: ``cohort``, ``acquisition_channel``
        and `value` (with ``period=None``: one bar per channel, no cohort column).
    value : str, default "repeat_share"
        ``"repeat_share"`` or ``"repeat_share_to_date"`` (fractions),
        ``"revenue_per_customer"``, ``"revenue_per_customer_to_date"`` or
        ``"acquisition_cost_per_customer"`` (money), or ``"customers"``.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["acquisition_channel", value],
        what="cohort_by_channel",
        source="ccnb.cohorts.cohort_by_channel",
    )
    ax = _new_axes(ax)
    channels = list(dict.fromkeys(frame["acquisition_channel"]))
    colours = dict(zip(channels, _colours(len(channels)), strict=True))
    if "cohort" in frame.columns:
        for channel in channels:
            rows = frame[frame["acquisition_channel"] == channel].sort_values("cohort")
            ax.plot(
                _dates(rows["cohort"]),
                rows[value],
                color=colours[channel],
                marker="o",
                label=str(channel),
            )
        kind = _period_kind(frame["cohort"])
        _date_axis(ax)
        if kind == "Y":
            cohorts = _dates(frame["cohort"]).unique().sort_values()
            ax.set_xticks(cohorts, _period_labels(cohorts, kind))
        xlabel = f"Acquisition cohort ({_PERIOD_NOUN[kind]} of first purchase)"
        _legend(ax, title="Channel", loc="upper left", bbox_to_anchor=(1.0, 1.0), force=True)
    else:
        ax.bar(
            [str(channel) for channel in channels],
            frame[value],
            color=[colours[channel] for channel in channels],
        )
        xlabel = "Acquisition channel"
    ax.set_ylim(bottom=0)
    if "share" in value:
        _percent(ax)
        ylabel = "Customers with a repeat purchase (%)"
        what = "Repeat share" + (" to date" if value.endswith("to_date") else " within the horizon")
    elif value == "customers":
        ylabel, what = "Customers acquired", "Customers acquired"
    else:
        _money(ax, "y", currency)
        what = value.replace("_", " ").capitalize()
        ylabel = _money_label(what, currency)
    _label(ax, title=title or f"{what} by acquisition channel", xlabel=xlabel, ylabel=ylabel)
    return ax

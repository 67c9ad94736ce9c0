"""Figures of 03_clv_modelling: tracking, conditional expectations, P(alive), rCLV, iso-value."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import (
    MaxNLocator,
    NullFormatter,
)

from ccnb.plots._axes import (
    _TIME_UNIT_NOUN,
    _label,
    _legend,
    _money,
    _new_axes,
    _percent,
    _require,
    _value_axis,
)
from ccnb.plots._theme import (
    _BLUE,
    _GREEN,
    _GREY,
    _INK,
    _RED,
    _SEQUENTIAL,
    PALETTE,
    _money_label,
    _money_text,
    _themed,
    count_formatter,
    money_formatter,
)

if TYPE_CHECKING:
    from ccnb.clv.histograms import Histogram

__all__ = [
    "clv_by_group",
    "new_customer_value",
    "clv_distribution",
    "conditional_expectations",
    "holdout_tracking",
    "iso_value",
    "p_alive_hist",
    "retention_scenarios",
]


_MODEL_LABELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD"}


def _by_model(tables: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if isinstance(tables, pd.DataFrame):
        return {"model": tables}
    if not tables:
        raise ValueError("no model tables given; pass a DataFrame or a mapping name -> table")
    return {_MODEL_LABELS.get(str(name), str(name)): table for name, table in tables.items()}


@_themed
def holdout_tracking(
    tracking: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    time_unit: str = "W",
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Cumulative repeat purchases, actual vs model(s), with the calibration end marked.

    Parameters
    ----------
    tracking : pandas.DataFrame or mapping of str to pandas.DataFrame
        ``ccnb.clv.tracking`` output (``period``, ``actual_cumulative``,
        ``expected_cumulative``, ``in_calibration``), or several of them by model
        (``ValidationResult.tracking``); model keys such as ``"bgnbd"`` are shown as
        ``"BG/NBD"``. The actual line is taken from the first table.
    time_unit : {"D", "W", "M"}
        Time unit of the periods (``Params.time_unit``), for the axis label.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    tables = _by_model(tracking)
    for table in tables.values():
        _require(
            table,
            ["period", "actual_cumulative", "expected_cumulative", "in_calibration"],
            what="holdout_tracking",
            source="ccnb.clv.tracking",
        )
    ax = _new_axes(ax)
    first = next(iter(tables.values()))
    ax.plot(first["period"], first["actual_cumulative"], color=_INK, label="actual")
    styles = ["--", "-.", ":", (0, (5, 1))]
    for index, (name, table) in enumerate(tables.items()):
        ax.plot(
            table["period"],
            table["expected_cumulative"],
            color=PALETTE[index % len(PALETTE)],
            linestyle=styles[index % len(styles)],
            label=name if len(tables) > 1 else "model",
        )
    in_calibration = first.loc[first["in_calibration"].astype(bool), "period"]
    if len(in_calibration) and len(in_calibration) < len(first):
        end = float(in_calibration.max())
        ax.axvline(end, color=_GREY, linestyle="-", linewidth=1.5)
        ax.annotate(
            "calibration | holdout",
            xy=(end, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=12,
            color=_INK,
            backgroundcolor="white",
        )
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(count_formatter())
    ax.legend(loc="lower right")
    unit = _TIME_UNIT_NOUN.get(time_unit, "periods")
    _label(
        ax,
        title=title or "Repeat purchases: actual vs model, calibration and holdout",
        xlabel=f"Time since the first purchase in the data ({unit})",
        ylabel="Cumulative repeat purchases",
    )
    return ax


@_themed
def conditional_expectations(
    table: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Mean holdout purchases, actual vs predicted, by repeat purchases in calibration.

    Parameters
    ----------
    table : pandas.DataFrame or mapping of str to pandas.DataFrame
        ``ccnb.clv.conditional_expectations`` output (``frequency_cal`` bucket label,
        ``n_customers``, ``actual``, ``predicted``), or several by model
        (``ValidationResult.conditional_expectations``). Actual values and customer
        counts come from the first table.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    tables = _by_model(table)
    for frame in tables.values():
        _require(
            frame,
            ["frequency_cal", "n_customers", "actual", "predicted"],
            what="conditional_expectations",
            source="ccnb.clv.conditional_expectations",
        )
    first = next(iter(tables.values()))
    ax = _new_axes(ax)
    positions = np.arange(len(first))
    ax.plot(positions, first["actual"], color=_INK, marker="o", label="actual")
    markers = ["s", "^", "D", "v"]
    for index, (name, frame) in enumerate(tables.items()):
        ax.plot(
            positions,
            frame["predicted"],
            color=PALETTE[index % len(PALETTE)],
            linestyle="--",
            marker=markers[index % len(markers)],
            label=name if len(tables) > 1 else "model",
        )
    ax.set_xticks(
        positions,
        [
            f"{bucket}\n{int(n):,}"
            for bucket, n in zip(first["frequency_cal"], first["n_customers"], strict=True)
        ],
    )
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    _label(
        ax,
        title=title or "Holdout purchases by calibration purchases: actual vs predicted",
        xlabel="Repeat purchases in the calibration period (customers below)",
        ylabel="Mean repeat purchases in holdout",
    )
    return ax


@_themed
def p_alive_hist(
    histogram: Histogram,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of P(alive), the model's probability that a customer is still active.

    Parameters
    ----------
    histogram : ccnb.clv.Histogram
        ``ccnb.clv.p_alive_histogram`` output: customers per bin of P(alive) (0..1).
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    ax = _new_axes(ax)
    _bars(ax, histogram)
    ax.set_xlim(0, 1)
    _percent(ax, "x")
    ax.yaxis.set_major_formatter(count_formatter())
    _label(
        ax,
        title=title or "Probability that each customer is still active",
        xlabel="P(alive): probability the customer is still active (%)",
        ylabel="Customers",
    )
    return ax


def _bars(ax: Axes, histogram: Histogram) -> list:
    """One bar per bin of ``histogram``, from its low to its high edge."""
    bins = histogram.bins
    low = bins["low"].to_numpy(dtype=float)
    return ax.bar(
        low,
        bins["customers"].to_numpy(dtype=float),
        width=bins["high"].to_numpy(dtype=float) - low,
        align="edge",
        color=_BLUE,
        edgecolor="white",
    ).patches


@_themed
def clv_distribution(
    histogram: Histogram,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of residual CLV per customer, on a log axis when its bins are log-spaced.

    On a log axis the customers below the first bin (too small to show) are counted in it:
    the bar is grey and a note says how many.

    Parameters
    ----------
    histogram : ccnb.clv.Histogram
        ``ccnb.clv.rclv_histogram`` output: customers per bin of residual CLV.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    ax = _new_axes(ax)
    patches = _bars(ax, histogram)
    if histogram.log:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if histogram.below:
            patches[0].set_facecolor(_GREY)
            low = float(histogram.bins["low"].iloc[0])
            ax.text(
                0.01,
                0.97,
                f"{histogram.below:,} customers below {_money_text(low, currency)} "
                "are counted in the first (grey) bar",
                transform=ax.transAxes,
                va="top",
                fontsize=11.5,
                color=_INK,
            )
    _money(ax, "x", currency)
    ax.yaxis.set_major_formatter(count_formatter())
    scale = ", log scale" if histogram.log else ""
    unit = (
        f" ({currency.upper()}{scale})"
        if currency
        else (f" ({scale[2:]})" if histogram.log else "")
    )
    _label(
        ax,
        title=title or "Residual CLV per customer",
        xlabel=f"Residual CLV per customer{unit}",
        ylabel="Customers",
    )
    return ax


@_themed
def clv_by_group(
    table: pd.DataFrame,
    *,
    currency: str | None = None,
    interval: float | None = 0.9,
    sort: bool = True,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Mean residual CLV per group (segment, channel) with its interval.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.clv.clv_by`` output: the group column first, ``n_customers``, ``rclv_mean``,
        ``rclv_mean_low``, ``rclv_mean_high``.
    {currency}
    interval : float, optional
        Coverage of the interval in the table (``predict(interval=...)``), for the
        legend; None leaves it out.
    sort : bool, default True
        Order groups by mean CLV, highest first; False keeps the table's order.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    columns = ["rclv_mean", "rclv_mean_low", "rclv_mean_high"]
    frame = _require(
        table, ["n_customers", *columns], what="clv_by_group", source="ccnb.clv.clv_by"
    )
    group = frame.columns[0]
    mean, low, high = columns
    if sort:
        frame = frame.sort_values(mean, ascending=False, kind="mergesort")
    frame = frame.reset_index(drop=True)
    ax = _new_axes(ax, figsize=(9.0, max(3.5, 1.6 + 0.65 * len(frame))))
    positions = np.arange(len(frame))
    values = frame[mean].to_numpy(dtype=float)
    errors = np.vstack(
        [values - frame[low].to_numpy(dtype=float), frame[high].to_numpy(dtype=float) - values]
    )
    has_interval = bool(np.isfinite(errors).any())
    coverage = (
        f" ({interval:.0%} interval: parameters and customers' own randomness)"
        if interval and has_interval
        else ""
    )
    ax.barh(positions, values, height=0.6, color=_BLUE, label=f"mean rCLV{coverage}")
    if has_interval:
        ax.errorbar(
            values, positions, xerr=np.nan_to_num(errors), fmt="none", ecolor=_INK, capsize=5, lw=2
        )
    furthest = np.nanmax(np.vstack([values, frame[high].to_numpy(dtype=float)]), axis=0)
    _annotate_values(ax, positions, values, furthest, currency)
    _group_ticks(ax, positions, frame[group], frame["n_customers"])
    ax.set_xlim(left=min(0.0, float(np.nanmin(values))))
    ax.margins(x=0.15)
    _money(ax, "x", currency)
    _value_axis(ax, "x")
    _legend(ax, below=True, force=True)
    what = str(group).replace("_", " ")
    _label(
        ax,
        title=title or f"Residual CLV per customer by {what}",
        xlabel=_money_label("Mean residual CLV per customer", currency),
        ylabel=what.capitalize(),
    )
    return ax


def _annotate_values(ax: Axes, positions, values, furthest, currency) -> None:
    for position, value, right in zip(positions, values, furthest, strict=True):
        ax.annotate(
            _money_text(value, currency),
            xy=(right, position),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=12,
        )


def _group_ticks(ax: Axes, positions, names, counts) -> None:
    ax.set_yticks(
        positions, [f"{name}\n(n={int(n):,})" for name, n in zip(names, counts, strict=True)]
    )
    ax.invert_yaxis()


@_themed
def new_customer_value(
    table: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A new customer's value per channel (first purchase + later purchases) beside its cost.

    Each bar stacks the margin of the first purchase and the discounted margin of the repeat
    purchases expected over the horizon; a bar marks the CAC ceiling and a diamond the
    channel's actual mean acquisition cost, red where a new customer loses money.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.clv.new_customer_value`` output (``acquisition_channel``, ``customers``,
        ``first_purchase_margin``, ``future_margin``, ``new_customer_value``,
        ``cac_ceiling``, ``mean_acquisition_cost``, ``verdict``).
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        [
            "acquisition_channel",
            "customers",
            "first_purchase_margin",
            "future_margin",
            "new_customer_value",
            "cac_ceiling",
            "mean_acquisition_cost",
            "verdict",
        ],
        what="new_customer_value",
        source="ccnb.clv.new_customer_value",
    )
    frame = frame.sort_values("new_customer_value", ascending=False, kind="mergesort")
    frame = frame.reset_index(drop=True)
    ax = _new_axes(ax, figsize=(9.0, max(3.5, 1.8 + 0.7 * len(frame))))
    positions = np.arange(len(frame))
    first = frame["first_purchase_margin"].to_numpy(dtype=float)
    later = frame["future_margin"].to_numpy(dtype=float)
    ax.barh(positions, first, height=0.6, color=PALETTE[9], label="first purchase (margin)")
    ax.barh(positions, later, left=first, height=0.6, color=_BLUE, label="later purchases (margin)")
    ax.plot(
        frame["cac_ceiling"],
        positions,
        linestyle="none",
        marker="|",
        ms=30,
        mew=4,
        color=_INK,
        label="CAC ceiling = value / target ratio",
    )
    cost = frame["mean_acquisition_cost"].to_numpy(dtype=float)
    losing = (frame["verdict"] == "loses money").to_numpy()
    for mask, colour, label in (
        (~losing, _GREY, "actual CAC (mean)"),
        (losing, _RED, "actual CAC: a new customer loses money"),
    ):
        if (mask & np.isfinite(cost)).any():
            ax.plot(
                cost[mask],
                positions[mask],
                linestyle="none",
                marker="D",
                ms=10,
                color=colour,
                markeredgecolor="white",
                label=label,
            )
    values = frame["new_customer_value"].to_numpy(dtype=float)
    _annotate_values(ax, positions, values, np.fmax(values, np.nan_to_num(cost)), currency)
    _group_ticks(ax, positions, frame["acquisition_channel"], frame["customers"])
    ax.set_xlim(left=0.0)
    ax.margins(x=0.15)
    _money(ax, "x", currency)
    _value_axis(ax, "x")
    _legend(ax, below=True, force=True)
    _label(
        ax,
        title=title or "What a new customer is worth, by acquisition channel",
        xlabel=_money_label("Margin per new customer over the horizon, discounted", currency),
        ylabel="Acquisition channel",
    )
    return ax


@_themed
def iso_value(
    grid: pd.DataFrame,
    *,
    currency: str | None = None,
    time_unit: str = "W",
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Iso-value curves: residual CLV over recency (x) and frequency (y), with labelled contours.

    Parameters
    ----------
    grid : pandas.DataFrame
        ``ccnb.clv.iso_value`` output: rCLV with index ``recency`` and columns
        ``frequency``; impossible cells (no repeat purchase, recency > 0) are NaN and
        left blank.
    {currency}
    time_unit : {"D", "W", "M"}
        Time unit of recency (``Params.time_unit``), for the axis label.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    if not isinstance(grid, pd.DataFrame) or grid.empty:
        raise ValueError("iso_value needs the ccnb.clv.iso_value grid (recency x frequency)")
    recency = np.asarray(grid.index, dtype=float)
    frequency = np.asarray(grid.columns, dtype=float)
    values = np.ma.masked_invalid(grid.to_numpy(dtype=float).T)
    ax = _new_axes(ax)
    filled = ax.contourf(recency, frequency, values, levels=10, cmap=_SEQUENTIAL)
    lines = ax.contour(recency, frequency, values, levels=filled.levels, colors=_INK, linewidths=1)
    ax.clabel(
        lines,
        lines.levels[1::2],
        fmt=functools.partial(_money_text, currency=currency),
        fontsize=11,
    )
    colorbar = ax.figure.colorbar(filled, ax=ax, format=money_formatter(currency))
    colorbar.set_label(_money_label("Residual CLV per customer", currency))
    ax.grid(False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    unit = _TIME_UNIT_NOUN.get(time_unit, "periods")
    _label(
        ax,
        title=title or "Iso-value curves: residual CLV by purchase history",
        xlabel=f"Recency: time from first to last purchase ({unit})",
        ylabel="Frequency: repeat purchases",
    )
    return ax


@_themed
def retention_scenarios(
    table: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Change in customer equity for each change in the one-year retention.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.clv.retention_scenarios`` output: ``change_points``, ``retention`` and
        ``equity_change``.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["change_points", "retention", "equity_change"],
        what="retention_scenarios",
        source="ccnb.clv.retention_scenarios",
    )
    frame = frame[frame["change_points"] != 0].reset_index(drop=True)
    ax = _new_axes(ax, figsize=(9.0, 4.5))
    values = frame["equity_change"].to_numpy(dtype=float)
    labels = [
        f"{change:+g} pt\n({retention:.1%})"
        for change, retention in zip(frame["change_points"], frame["retention"], strict=True)
    ]
    colours = [_GREEN if value >= 0 else _RED for value in values]
    bars = ax.bar(np.arange(len(frame)), values, color=colours)
    ax.bar_label(bars, labels=[_money_text(value, currency) for value in values], padding=3)
    ax.set_xticks(np.arange(len(frame)), labels)
    ax.axhline(0, color=_INK, linewidth=0.8)
    ax.margins(y=0.15)
    _money(ax, "y", currency)
    _label(
        ax,
        title=title or "Customer equity if a year's retention were higher or lower",
        xlabel="Change in one-year retention (retention under it)",
        ylabel=_money_label("Change in customer equity", currency),
    )
    return ax

"""Axes helpers shared by the plot modules: checks, labels, period axes, legends, heatmaps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ccnb._checks import require_columns
from ccnb.formatting import period_label
from ccnb.plots._theme import _INK, _SEQUENTIAL, PALETTE, money_formatter

_PERIOD_NOUN = {"M": "month", "Q": "quarter", "Y": "year"}


_TIME_UNIT_NOUN = {"D": "days", "W": "weeks", "M": "months"}


# Above this many cells a heatmap is too dense for a number in each cell at projector size.
_MAX_ANNOTATED_ROWS = 15


_MAX_ANNOTATED_COLUMNS = 15


def _new_axes(ax: Axes | None, *, figsize: tuple[float, float] | None = None) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=figsize)
    return new


def _two_panels(axes: Sequence[Axes] | None, *, height: float = 6.5) -> tuple[Figure, Axes, Axes]:
    if axes is not None:
        if len(axes) != 2:
            raise ValueError(f"axes must hold exactly two axes (upper, lower); got {len(axes)}")
        upper, lower = axes
        return upper.figure, upper, lower
    figure, (upper, lower) = plt.subplots(2, 1, sharex=True, figsize=(9.0, height))
    return figure, upper, lower


def _require(table: Any, columns: Sequence[str], *, what: str, source: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} needs a pandas DataFrame ({source}); got {type(table).__name__}")
    require_columns(table, columns, what=f"the table given to {what} (the output of {source})")
    return table


def _label(ax: Axes, *, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _value_axis(ax: Axes, axis: str) -> None:
    """Grid lines across the value axis only (``"x"`` for horizontal bars)."""
    ax.grid(False)
    ax.grid(True, axis=axis)


class TickPercentFormatter(PercentFormatter):
    """Percent tick labels with the decimals the tick spacing needs: 2.5% never reads "2%"."""

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        percents = np.sort(np.asarray(locs, dtype=float)) * 100.0 / self.xmax
        step = float(np.diff(percents).min()) if len(percents) > 1 else 1.0
        self.decimals = next(
            (d for d in range(4) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 4
        )


def _percent(ax: Axes, axis: str = "y", *, xmax: float = 1.0) -> None:
    """Percent ticks on 1, 2 or 5 times a power of ten, labelled as precisely as they are set."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10]))
    target.set_major_formatter(TickPercentFormatter(xmax=xmax))


def _money(ax: Axes, axis: str, currency: str | None) -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(money_formatter(currency))


def _dates(values: Any) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values)).to_numpy())


def _period_kind(values: Any) -> str:
    """Calendar period ("M", "Q" or "Y") of period-start dates, from their spacing."""
    stamps = _dates(values).dropna().unique().sort_values()
    if len(stamps) < 2:
        return "M"
    # Whole days whatever the datetime resolution (pandas 3 uses s/ms/us/ns units).
    step_days = np.diff(stamps.to_numpy().astype("datetime64[D]").astype(np.int64)).min()
    if step_days >= 360:
        return "Y"
    if step_days >= 85:
        return "Q"
    return "M"


def _flow_period_kind(starts: Any, ends: Any) -> str:
    """Calendar period ("M", "Q" or "Y") of a table with period starts and ends."""
    days = (_dates(ends) - _dates(starts)).days.max() + 1 if len(starts) else 31
    if days >= 360:
        return "Y"
    if days >= 85:
        return "Q"
    return "M"


def _period_labels(values: Any, kind: str | None = None) -> list[str]:
    stamps = _dates(values)
    kind = kind or _period_kind(stamps)
    return [period_label(stamp, kind) for stamp in stamps]


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _period_bars(
    ax: Axes,
    starts: Any,
    ends: Any,
    heights: Any,
    *,
    color: Any,
    label: str | None = None,
    **options: Any,
) -> Any:
    """Bars spanning calendar periods (start to end inclusive) on a date axis.

    ``options`` go to ``Axes.bar`` (``bottom``, ``hatch``, ``alpha``...).
    """
    left = mdates.date2num(_dates(starts).to_pydatetime())
    right = mdates.date2num((_dates(ends) + pd.Timedelta(days=1)).to_pydatetime())
    width = (right - left) * 0.85
    bars = ax.bar(
        left + (right - left) * 0.075,
        np.asarray(heights, dtype=float),
        width=width,
        align="edge",
        color=color,
        label=label,
        **options,
    )
    ax.xaxis_date()
    _date_axis(ax)
    return bars


def _period_ends(starts: Any, kind: str) -> pd.DatetimeIndex:
    stamps = _dates(starts)
    offset = {
        "M": pd.offsets.MonthEnd(0),
        "Q": pd.offsets.QuarterEnd(0),
        "Y": pd.offsets.YearEnd(0),
    }
    return stamps + offset[kind]


def _colours(count: int) -> list[Any]:
    """Distinct colours for `count` series: the palette, or a sequential map beyond it."""
    if count <= len(PALETTE):
        return list(PALETTE[:count])
    # evenly spaced inside viridis, ends excluded (as seaborn's color_palette("viridis", n))
    return [
        mpl.colors.to_hex(c) for c in mpl.colormaps["viridis"](np.linspace(0, 1, count + 2)[1:-1])
    ]


def _legend(ax: Axes, *, force: bool = False, below: bool = False, **kwargs: Any) -> None:
    """Legend when there is more than one colour (or `force`).

    With `below`, on a figure holding only this chart, the legend goes under the axes
    (constrained layout makes room for it) so it never hides data.
    """
    handles, labels = kwargs.pop("handles", None), None
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:
        labels = [handle.get_label() for handle in handles]
    if len(handles) < 2 and not force:
        return
    charts = [axes for axes in ax.figure.axes if axes.get_label() != "<colorbar>"]
    if below and charts == [ax]:
        kwargs.pop("loc", None)
        # As many columns as fit the figure's width (about 75 characters at legend size).
        widest = max(len(label) for label in labels) + 6
        columns = max(1, min(len(handles), 3, 75 // widest))
        ax.figure.legend(handles, labels, loc="outside lower center", ncols=columns, **kwargs)
    else:
        ax.legend(handles, labels, **{"loc": "best", **kwargs})


def _annotated_heatmap(
    ax: Axes,
    grid: pd.DataFrame,
    *,
    labels: np.ndarray | None,
    colorbar_label: str,
    colorbar_formatter: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: Any = _SEQUENTIAL,
    center: float | None = None,
) -> Any:
    """Annotated heatmap; with ``center``, a diverging scale with that value in the middle."""
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if vmin is None:
        vmin = float(finite.min()) if len(finite) else 0.0
    if vmax is None:
        vmax = float(finite.max()) if len(finite) else 1.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    annotate = labels is not None
    if center is not None:  # each side of the centre uses its own half of the colours
        vmin, vmax = min(vmin, center - 1e-9), max(vmax, center + 1e-9)
        scale = {"norm": mpl.colors.TwoSlopeNorm(vcenter=center, vmin=vmin, vmax=vmax)}
    else:
        scale = {"vmin": vmin, "vmax": vmax}
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values),
        cmap=cmap,
        **scale,
        edgecolors="white" if annotate else "face",
        linewidth=0.5 if annotate else 0.0,
    )
    ax.set(xlim=(0, values.shape[1]), ylim=(0, values.shape[0]))
    ax.invert_yaxis()  # first row on top, as in a table
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = ax.figure.colorbar(mesh, ax=ax, label=colorbar_label, format=colorbar_formatter)
    bar.outline.set_linewidth(0)
    _heatmap_ticks(ax.xaxis, grid.columns, size=ax.get_window_extent().width)
    _heatmap_ticks(ax.yaxis, grid.index, size=ax.get_window_extent().height)
    ax.set(xlabel=grid.columns.name or "", ylabel=grid.index.name or "")
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                dark = _relative_luminance(mesh.cmap(mesh.norm(value))) <= 0.408
                ax.text(
                    column + 0.5,
                    row + 0.5,
                    labels[row, column],
                    color="white" if dark else _INK,
                    ha="center",
                    va="center",
                    fontsize=12.5,
                )
    ax.grid(False)
    ax.tick_params(axis="both", length=0)
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=0)
    return mesh


def _heatmap_ticks(axis: Any, labels: pd.Index, *, size: float) -> None:
    """Ticks at cell centres, every k-th label so that labels do not overlap (as seaborn)."""
    font_points = mpl.rcParams[f"{axis.axis_name}tick.labelsize"]
    font_points = mpl.font_manager.FontProperties(size=font_points).get_size_in_points()
    fitting = int(size / axis.figure.dpi // (font_points / 72))
    if fitting < 1:
        axis.set_ticks([])
        return
    every = len(labels) // fitting + 1
    positions = np.arange(0, len(labels), every)
    axis.set_ticks(positions + 0.5, [str(label) for label in labels[positions]])


def _relative_luminance(colour: Any) -> float:
    """WCAG relative luminance of a colour (dark cells get white numbers)."""
    rgb = np.asarray(mpl.colors.to_rgb(colour))
    rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(rgb @ [0.2126, 0.7152, 0.0722])


def _cell_labels(values: np.ndarray, formatter: Callable[[float], str]) -> np.ndarray:
    return np.array(
        [[formatter(value) if np.isfinite(value) else "" for value in row] for row in values],
        dtype=object,
    )

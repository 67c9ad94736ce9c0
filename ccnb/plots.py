"""Every figure of the ccnb notebooks, drawn in one theme from the tables the metric modules return.

Draws the DESIGN.md "Definitions" (RFM, cohorts, churn, NPS/CSAT, CLV) and "Budget allocation"
as computed elsewhere: a function here takes a finished table, reshapes it for display at most
(pivot, sort, top-N), draws on ``ax`` (a new figure when None) and returns the axes.

Theme: notebooks call :func:`set_theme` once; every plot function also draws inside
:func:`theme`, so a figure looks the same with or without that call and no global setting changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    FuncFormatter,
    MaxNLocator,
    MultipleLocator,
    NullFormatter,
    PercentFormatter,
)

from ccnb._grids import to_triangle
from ccnb.formatting import money

__all__ = [
    "PALETTE",
    "active_base_revenue",
    "allocation_by_decile",
    "churn_leaky_bucket",
    "clv_by_group",
    "clv_distribution",
    "cohort_by_channel",
    "conditional_expectations",
    "cumulative_revenue_curves",
    "data_quality_bar",
    "early_repeat_rate",
    "holdout_tracking",
    "iso_value",
    "layer_cake",
    "money_formatter",
    "nps_by_segment",
    "p_alive_hist",
    "retention_heatmap",
    "revenue_concentration",
    "rfm_heatmap",
    "seasonal_cohorts",
    "segment_share_bars",
    "sensitivity_heatmap",
    "set_theme",
    "strategy_comparison",
    "theme",
]

#: Colour-blind-safe qualitative palette (seaborn's "colorblind", an Okabe-Ito variant).
PALETTE: tuple[str, ...] = (
    "#0173b2",
    "#de8f05",
    "#029e73",
    "#d55e00",
    "#cc78bc",
    "#ca9161",
    "#fbafe4",
    "#949494",
    "#ece133",
    "#56b4e9",
)
# seaborn's "ticks" style and "notebook" context at font_scale=1.2, written out: importing
# seaborn imports scipy.stats, a second of every kernel's start for two dictionaries.
_SEABORN_TICKS_NOTEBOOK = {
    "figure.facecolor": "white",
    "axes.labelcolor": ".15",
    "xtick.direction": "out",
    "ytick.direction": "out",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "axes.axisbelow": True,
    "grid.linestyle": "-",
    "text.color": ".15",
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "xtick.top": False,
    "ytick.right": False,
    "axes.grid": False,
    "axes.facecolor": "white",
    "axes.edgecolor": ".15",
    "grid.color": ".8",
    "axes.spines.left": True,
    "axes.spines.bottom": True,
    "axes.spines.right": True,
    "axes.spines.top": True,
    "xtick.bottom": True,
    "ytick.left": True,
    "axes.linewidth": 1.25,
    "grid.linewidth": 1,
    "lines.linewidth": 1.5,
    "lines.markersize": 6,
    "patch.linewidth": 1,
    "xtick.major.width": 1.25,
    "ytick.major.width": 1.25,
    "xtick.minor.width": 1,
    "ytick.minor.width": 1,
    "xtick.major.size": 6,
    "ytick.major.size": 6,
    "xtick.minor.size": 4,
    "ytick.minor.size": 4,
}

_BLUE, _ORANGE, _GREEN, _RED, _PURPLE = PALETTE[:5]
_GREY = "#9a9a9a"
_INK = "#262626"
# Blues without its white end, so the lowest value stays visible next to blank (NaN) cells.
_SEQUENTIAL = mpl.colors.ListedColormap(
    mpl.colormaps["Blues"](np.linspace(0.12, 1.0, 256)), name="ccnb_blues"
)
_MINUS = "\N{MINUS SIGN}"
_PERIOD_NOUN = {"M": "month", "Q": "quarter", "Y": "year"}
_TIME_UNIT_NOUN = {"D": "days", "W": "weeks", "M": "months"}
# Above this many cells a heatmap is too dense for a number in each cell at projector size.
_MAX_ANNOTATED_ROWS = 15
_MAX_ANNOTATED_COLUMNS = 15
_MODEL_LABELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD"}

# Parameter descriptions shared by the plot functions, spliced into their docstrings.
_DOCS = {
    "{currency}": """currency : str, optional
        ISO code of the client's currency (``Params.currency``), e.g. ``"EUR"``; money
        ticks and labels show it (see :func:`money_formatter`).""",
    "{title}": """title : str, optional
        Title of the chart; a description of what it shows by default.""",
    "{ax}": """ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure (9 x 5 inches) is made.""",
    "{axes}": """axes : sequence of two matplotlib.axes.Axes, optional
        Upper and lower axes to draw on; by default a new figure with two panels
        sharing the time axis is made.""",
    "{returns_ax}": """matplotlib.axes.Axes
        The axes drawn on.""",
    "{returns_fig}": """matplotlib.figure.Figure
        The figure holding both panels.""",
}


# --------------------------------------------------------------------------- theme


@functools.cache
def _theme_rc() -> dict[str, Any]:
    rc: dict[str, Any] = dict(_SEABORN_TICKS_NOTEBOOK)
    rc.update(
        {
            # DejaVu Sans ships with matplotlib: same glyphs (€, £, −) on every machine.
            "font.family": ["sans-serif"],
            "font.sans-serif": ["DejaVu Sans"],
            "font.size": 13,
            "axes.titlesize": 16,
            "axes.titleweight": "bold",
            "axes.titlepad": 10,
            "axes.labelsize": 14,
            "xtick.labelsize": 12.5,
            "ytick.labelsize": 12.5,
            "legend.fontsize": 12.5,
            "legend.title_fontsize": 13,
            "legend.frameon": False,
            "figure.titlesize": 17,
            "figure.titleweight": "bold",
            "axes.prop_cycle": cycler(color=list(PALETTE)),
            "patch.facecolor": PALETTE[0],
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "axes.grid.axis": "y",
            "grid.color": "#e3e3e3",
            "grid.linewidth": 0.9,
            "lines.linewidth": 2.2,
            "lines.markersize": 7,
            "figure.figsize": (9.0, 5.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "savefig.facecolor": "white",
            "figure.constrained_layout.use": True,
            "axes.formatter.use_locale": False,
        }
    )
    return rc


def set_theme() -> None:
    """Apply the ccnb theme to every figure made from now on (idempotent).

    Colour-blind-safe palette (:data:`PALETTE`), DejaVu Sans at sizes readable on a
    projector, no top or right spine, light horizontal grid, 9 x 5 inch figures at
    100 dpi (small embedded PNGs) with constrained layout. Notebooks call it once after
    the imports; ccnb's plot functions apply the same settings themselves (see
    :func:`theme`), so this only matters for figures a notebook draws directly.
    """
    mpl.rcParams.update(_theme_rc())


def theme() -> Any:
    """Return a context manager applying the ccnb theme temporarily.

    Returns
    -------
    contextlib.AbstractContextManager
        ``matplotlib.rc_context`` with the settings of :func:`set_theme`; figures made
        inside it get the theme and the global settings are restored on exit.
    """
    return mpl.rc_context(_theme_rc())


def _share_docs(function: Callable) -> Callable:
    doc = function.__doc__ or ""
    for placeholder, text in _DOCS.items():
        doc = doc.replace(placeholder, text)
    function.__doc__ = doc
    return function


def _themed(function: Callable) -> Callable:
    """Document shared parameters and draw inside the theme."""

    @functools.wraps(function)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with theme():
            return function(*args, **kwargs)

    return _share_docs(draw)


# --------------------------------------------------------------------------- money


def _money_text(value: float, currency: str | None) -> str:
    return money(value, currency, compact=True).replace("-", _MINUS, 1)


def money_formatter(currency: str | None) -> FuncFormatter:
    """Tick formatter for a money axis in the client's currency.

    Parameters
    ----------
    currency : str or None
        ISO currency code, e.g. ``"EUR"`` gives ``€12k``, ``"USD"`` gives ``$1.2M``,
        ``"CHF"`` gives ``CHF 12k``; None gives ``12k``.

    Returns
    -------
    matplotlib.ticker.FuncFormatter
        Use with ``ax.yaxis.set_major_formatter(money_formatter("EUR"))``.
    """
    return FuncFormatter(lambda value, _position: _money_text(value, currency))


def _money_label(what: str, currency: str | None) -> str:
    return f"{what} ({currency.upper()})" if currency else what


# --------------------------------------------------------------------------- helpers


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
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{what} needs columns {list(columns)} ({source}); {missing} missing, "
            f"columns are {[str(column) for column in table.columns]}"
        )
    return table


def _label(ax: Axes, *, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _value_axis(ax: Axes, axis: str) -> None:
    """Grid lines across the value axis only (``"x"`` for horizontal bars)."""
    ax.grid(False)
    ax.grid(True, axis=axis)


def _percent(ax: Axes, axis: str = "y", *, xmax: float = 1.0) -> None:
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PercentFormatter(xmax=xmax, decimals=0))


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


def _period_labels(values: Any, kind: str | None = None) -> list[str]:
    stamps = _dates(values)
    kind = kind or _period_kind(stamps)
    if kind == "Y":
        return [f"{stamp.year}" for stamp in stamps]
    if kind == "Q":
        return [f"{stamp.year} Q{stamp.quarter}" for stamp in stamps]
    return [stamp.strftime("%b %Y") for stamp in stamps]


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _period_bars(
    ax: Axes, starts: Any, ends: Any, heights: Any, *, color: Any, label: str | None = None
) -> Any:
    """Bars spanning calendar periods (start to end inclusive) on a date axis."""
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
) -> Any:
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if vmin is None:
        vmin = float(finite.min()) if len(finite) else 0.0
    if vmax is None:
        vmax = float(finite.max()) if len(finite) else 1.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    annotate = labels is not None
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
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


# --------------------------------------------------------------------------- data quality


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


# --------------------------------------------------------------------------- base and churn


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


# --------------------------------------------------------------------------- RFM


@_themed
def rfm_heatmap(
    scores: pd.DataFrame,
    *,
    value: str = "customers",
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Recency x frequency score grid, each cell annotated with its customers or revenue.

    R runs down the rows (best, most recent, at the top), F across the columns.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``ccnb.rfm.score`` (or ``segment``) output: one row per customer with ``R``,
        ``F`` and ``revenue``; ``attrs["rfm_bins"]`` gives the score scale (else the
        highest score present).
    value : {"customers", "revenue"}
        Count customers per cell, or total their net revenue.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    if value not in ("customers", "revenue"):
        raise ValueError(f"value must be 'customers' or 'revenue'; got {value!r}")
    frame = _require(scores, ["R", "F", "revenue"], what="rfm_heatmap", source="ccnb.rfm.score")
    bins = int(frame.attrs.get("rfm_bins", max(int(frame["R"].max()), int(frame["F"].max()))))
    if value == "customers":
        grid = frame.groupby(["R", "F"]).size().unstack("F")
    else:
        grid = frame.groupby(["R", "F"])["revenue"].sum().unstack("F")
    # Score pairs nobody has are a true zero, not a missing value.
    grid = grid.reindex(index=range(bins, 0, -1), columns=range(1, bins + 1)).fillna(0)
    ax = _new_axes(ax, figsize=(8.0, 6.0))
    if value == "customers":
        labels = _cell_labels(grid.to_numpy(float), lambda v: f"{v:,.0f}")
        bar_label, formatter = "Customers", FuncFormatter(lambda v, _: f"{v:,.0f}")
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
            bars, labels=["" if not np.isfinite(v) else f"{v:.0%}" for v in values], padding=3
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
        ``ccnb.rfm.revenue_concentration`` output: ``customer_share`` and
        ``revenue_share`` (fractions), one row per customer, best first.
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
    # Reading the drawn curve at `top` (straight segments between customers).
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


# --------------------------------------------------------------------------- NPS and CSAT


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


# --------------------------------------------------------------------------- cohorts


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
    kind = _period_kind(wide.index)
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
        text, formatter = (lambda v: f"{v:,.0f}"), FuncFormatter(lambda v, _: f"{v:,.0f}")
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
    kind = _period_kind(wide.index)
    stamps = _dates(wide.index)
    by_year = len(wide) > max_cohorts and kind != "Y"
    groups = [str(stamp.year) for stamp in stamps] if by_year else _period_labels(stamps, kind)
    unique_groups = list(dict.fromkeys(groups))
    colours = dict(zip(unique_groups, _colours(len(unique_groups)), strict=True))
    ax = _new_axes(ax)
    ages = np.asarray(wide.columns, dtype=float)
    labelled = set()
    for group, (_, row) in zip(groups, wide.iterrows(), strict=True):
        ax.plot(
            ages,
            row.to_numpy(dtype=float),
            color=colours[group],
            linewidth=1.4 if by_year else 2.2,
            alpha=0.85,
            label=None if group in labelled else group,
        )
        labelled.add(group)
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
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Stacked area of net revenue per calendar period, one layer per acquisition cohort.

    Parameters
    ----------
    layers : pandas.DataFrame
        ``ccnb.cohorts.layer_cake`` output: ``period``, ``cohort`` (period starts) and
        ``revenue``.
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
    wide = table.pivot(index="period", columns="cohort", values="revenue").fillna(0.0)
    wide = wide.sort_index().sort_index(axis="columns")
    period_kind = _period_kind(wide.index)
    cohort_labels = _period_labels(wide.columns)
    ax = _new_axes(ax)
    # Plot at the middle of each period so a quarter's revenue sits over that quarter.
    starts = _dates(wide.index)
    middles = starts + (_period_ends(starts, period_kind) - starts) / 2
    colours = _colours(len(cohort_labels))
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


# --------------------------------------------------------------------------- CLV validation


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
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
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


# --------------------------------------------------------------------------- CLV predictions


@_themed
def p_alive_hist(
    predictions: pd.DataFrame,
    *,
    bins: int = 20,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of P(alive), the model's probability that a customer is still active.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``ccnb.clv.predict`` output: one row per customer with ``p_alive`` (0..1).
    bins : int, default 20
        Number of equal-width bins between 0% and 100%.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(predictions, ["p_alive"], what="p_alive_hist", source="ccnb.clv.predict")
    ax = _new_axes(ax)
    ax.hist(
        frame["p_alive"].dropna().to_numpy(dtype=float),
        bins=np.linspace(0.0, 1.0, bins + 1),
        color=_BLUE,
        edgecolor="white",
    )
    ax.set_xlim(0, 1)
    _percent(ax, "x")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    _label(
        ax,
        title=title or "Probability that each customer is still active",
        xlabel="P(alive): probability the customer is still active (%)",
        ylabel="Customers",
    )
    return ax


@_themed
def clv_distribution(
    predictions: pd.DataFrame,
    *,
    currency: str | None = None,
    log: bool | None = None,
    bins: int = 40,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of residual CLV per customer, on a log axis when it is skewed.

    On a log axis the smallest values (below 1/10,000 of the largest) are counted in
    the first bar, and a note says how many.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``ccnb.clv.predict`` output: one row per customer with ``rclv``.
    {currency}
    log : bool, optional
        Log-scaled value axis; by default when the values are positive and the 99th
        percentile is more than 10 times the median.
    bins : int, default 40
        Number of bins.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(predictions, ["rclv"], what="clv_distribution", source="ccnb.clv.predict")
    values = frame["rclv"].dropna().to_numpy(dtype=float)
    if len(values) == 0:
        raise ValueError("clv_distribution needs at least one customer with an rclv value")
    positive = values[values > 0]
    if log is None:
        log = len(positive) == len(values) and bool(
            np.quantile(values, 0.99) > 10 * np.median(values)
        )
    ax = _new_axes(ax)
    if log:
        if len(positive) == 0:
            raise ValueError("clv_distribution(log=True) needs positive rclv values")
        high = float(positive.max())
        low = max(float(positive.min()), high / 1e4)
        if low >= high:
            low = high / 10
        below = int((values < low).sum())
        edges = np.geomspace(low, high, bins + 1)
        # Display only: tiny values are stacked into the first bar so the axis stays readable.
        _, _, patches = ax.hist(
            np.clip(values, low, None), bins=edges, color=_BLUE, edgecolor="white"
        )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if below:
            patches[0].set_facecolor(_GREY)
            ax.text(
                0.01,
                0.97,
                f"{below:,} customers below {_money_text(low, currency)} "
                "are counted in the first (grey) bar",
                transform=ax.transAxes,
                va="top",
                fontsize=11.5,
                color=_INK,
            )
    else:
        ax.hist(values, bins=bins, color=_BLUE, edgecolor="white")
    _money(ax, "x", currency)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    scale = ", log scale" if log else ""
    unit = f" ({currency.upper()}{scale})" if currency else (f" ({scale[2:]})" if log else "")
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
    """Mean residual CLV per group with its interval; with CAC markers for channels.

    Given ``ccnb.clv.cac_ceiling`` output, each channel also shows its CAC ceiling and
    its actual mean acquisition cost, so channels whose cost is above the ceiling stand
    out.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.clv.clv_by`` output (group column first, ``n_customers``,
        ``rclv_mean``, ``rclv_mean_low``, ``rclv_mean_high``) or ``ccnb.clv.cac_ceiling``
        output (``acquisition_channel``, ``n_customers``, ``mean_clv``, ``mean_clv_low``,
        ``mean_clv_high``, ``cac_ceiling``, ``mean_acquisition_cost``).
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
    if isinstance(table, pd.DataFrame) and "cac_ceiling" in table.columns:
        columns = ["mean_clv", "mean_clv_low", "mean_clv_high"]
        frame = _require(
            table,
            ["acquisition_channel", "n_customers", *columns, "cac_ceiling"],
            what="clv_by_group",
            source="ccnb.clv.cac_ceiling",
        )
        group = "acquisition_channel"
    else:
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
    coverage = f" ({interval:.0%} interval)" if interval and has_interval else ""
    has_cac = "cac_ceiling" in frame.columns
    ax.barh(
        positions,
        values,
        height=0.6,
        color=PALETTE[9] if has_cac else _BLUE,
        label=f"mean rCLV{coverage}",
    )
    if has_interval:
        ax.errorbar(
            values, positions, xerr=np.nan_to_num(errors), fmt="none", ecolor=_INK, capsize=5, lw=2
        )
    furthest = np.nanmax(np.vstack([values, frame[high].to_numpy(dtype=float)]), axis=0)
    if has_cac:
        ax.plot(
            frame["cac_ceiling"],
            positions,
            linestyle="none",
            marker="|",
            ms=30,
            mew=4,
            color=_INK,
            label="CAC ceiling = mean CLV / target LTV:CAC",
        )
        if "mean_acquisition_cost" in frame.columns:
            cost = frame["mean_acquisition_cost"].to_numpy(dtype=float)
            if np.isfinite(cost).any():
                ax.plot(
                    cost,
                    positions,
                    linestyle="none",
                    marker="D",
                    ms=10,
                    color=_RED,
                    markeredgecolor="white",
                    label="actual CAC (mean)",
                )
                furthest = np.fmax(furthest, cost)
    for position, value, right in zip(positions, values, furthest, strict=True):
        ax.annotate(
            _money_text(value, currency),
            xy=(right, position),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=12,
        )
    ax.set_yticks(
        positions,
        [
            f"{name}\n(n={int(n):,})"
            for name, n in zip(frame[group], frame["n_customers"], strict=True)
        ],
    )
    ax.invert_yaxis()
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
    ax.clabel(lines, lines.levels[1::2], fmt=lambda v: _money_text(v, currency), fontsize=11)
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


# --------------------------------------------------------------------------- budget


@_themed
def allocation_by_decile(
    table: pd.DataFrame, *, title: str | None = None, ax: Axes | None = None
) -> Axes:
    """Share of each strategy's budget per rCLV decile, against the decile's share of equity.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.budget.allocation_by_decile`` output (tidy): ``decile`` (1 = top 10% by
        rCLV), ``strategy``, ``budget_share`` and ``equity_share`` (fractions).
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["decile", "strategy", "budget_share", "equity_share"],
        what="allocation_by_decile",
        source="ccnb.budget.allocation_by_decile",
    )
    strategies = list(dict.fromkeys(frame["strategy"]))
    shares = frame.pivot(index="decile", columns="strategy", values="budget_share")
    shares = shares.sort_index()[strategies]
    equity = frame.drop_duplicates("decile").set_index("decile")["equity_share"].sort_index()
    ax = _new_axes(ax, figsize=(10.0, 5.5))
    positions = np.arange(len(shares))
    width = 0.8 / len(strategies)
    for index, strategy in enumerate(strategies):
        ax.bar(
            positions - 0.4 + width * (index + 0.5),
            shares[strategy].to_numpy(dtype=float),
            width=width,
            color=PALETTE[index % len(PALETTE)],
            label=f"budget: {strategy}",
        )
    ax.plot(
        positions,
        equity.reindex(shares.index).to_numpy(dtype=float),
        color=_INK,
        marker="o",
        linestyle="-",
        label="share of customer equity",
    )
    labels = [str(int(decile)) for decile in shares.index]
    if labels:
        labels[0] = f"{labels[0]}\n(top)"
    ax.set_xticks(positions, labels)
    ax.set_ylim(bottom=0)
    _percent(ax)
    ax.legend(loc="upper right")
    _label(
        ax,
        title=title or "Where the budget goes: spend vs customer equity by CLV decile",
        xlabel="Residual CLV decile (1 = top 10% of customers)",
        ylabel="Share of budget / of equity (%)",
    )
    return ax


@_themed
def sensitivity_heatmap(
    table: pd.DataFrame,
    *,
    budget: float | None = None,
    highlight: tuple[float, float] | None = None,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Gain of the customer-centric over the customer-focused allocation (%) by assumption.

    Rows are ``max_lift`` values, columns ``spend_scale`` values; each cell is annotated.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.budget.sensitivity`` output: ``max_lift``, ``spend_scale``, ``budget``,
        ``gain_pct``.
    budget : float, optional
        Budget to show when the grid has several; required then.
    highlight : (max_lift, spend_scale), optional
        Outline the cell of the plan's assumptions.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["max_lift", "spend_scale", "budget", "gain_pct"],
        what="sensitivity_heatmap",
        source="ccnb.budget.sensitivity",
    )
    budgets = sorted(frame["budget"].unique())
    if budget is None:
        if len(budgets) > 1:
            raise ValueError(f"the grid has several budgets {budgets}; pass budget= to pick one")
        budget = budgets[0]
    chosen = frame[np.isclose(frame["budget"], budget)]
    if chosen.empty:
        raise ValueError(f"budget {budget} is not in the grid; budgets are {budgets}")
    grid = chosen.pivot(index="max_lift", columns="spend_scale", values="gain_pct").sort_index()
    grid = grid.sort_index(axis="columns")
    shown = grid.copy()
    shown.index = [f"{100 * lift:.3g}%" for lift in grid.index]
    shown.columns = [_money_text(scale, currency) for scale in grid.columns]
    labels = _cell_labels(grid.to_numpy(dtype=float), lambda v: f"{v:.0f}%")
    ax = _new_axes(ax)
    _annotated_heatmap(
        ax,
        shown,
        labels=labels,
        colorbar_label="Gain over customer-focused (%)",
        colorbar_formatter=PercentFormatter(xmax=100, decimals=0),
        vmin=0.0,
    )
    ax.invert_yaxis()
    if highlight is not None:
        lift, scale = highlight
        rows = np.flatnonzero(np.isclose(grid.index.to_numpy(dtype=float), lift))
        cols = np.flatnonzero(np.isclose(grid.columns.to_numpy(dtype=float), scale))
        if len(rows) and len(cols):
            ax.add_patch(
                Rectangle(
                    (cols[0], rows[0]), 1, 1, fill=False, edgecolor=_RED, linewidth=3.5, zorder=5
                )
            )
            plan = Patch(fill=False, edgecolor=_RED, linewidth=3, label="plan assumption")
            _legend(ax, handles=[plan], below=True, force=True)
    _label(
        ax,
        title=title or "Gain of customer-centric over customer-focused allocation",
        xlabel=_money_label("Spend scale of the response curve, per customer", currency),
        ylabel="Maximum lift (% of rCLV)",
    )
    return ax


@_themed
def strategy_comparison(
    table: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Expected added value of each allocation strategy next to what it spends.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.budget.compare`` output: one row per strategy with ``strategy``,
        ``spend`` and ``added_value`` (currency).
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    frame = _require(
        table,
        ["strategy", "spend", "added_value"],
        what="strategy_comparison",
        source="ccnb.budget.compare",
    ).reset_index(drop=True)
    ax = _new_axes(ax, figsize=(9.0, max(3.5, 1.6 + 0.9 * len(frame))))
    positions = np.arange(len(frame))
    height = 0.38
    for offset, column, colour, label in (
        (-height / 2, "spend", _GREY, "spend"),
        (height / 2, "added_value", _GREEN, "expected added value (margin)"),
    ):
        values = frame[column].to_numpy(dtype=float)
        bars = ax.barh(positions + offset, values, height=height, color=colour, label=label)
        ax.bar_label(bars, labels=[_money_text(v, currency) for v in values], padding=3)
    ax.set_yticks(positions, [str(name) for name in frame["strategy"]])
    ax.invert_yaxis()
    ax.margins(x=0.15)
    _money(ax, "x", currency)
    _value_axis(ax, "x")
    _legend(ax, below=True)
    _label(
        ax,
        title=title or "Budget strategies: spend and added value",
        xlabel=_money_label("Amount", currency),
        ylabel="Strategy",
    )
    return ax

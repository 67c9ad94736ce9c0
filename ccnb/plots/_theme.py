"""The figures' theme: palette, matplotlib settings, money ticks, shared docstring parts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.ticker import (
    FuncFormatter,
)

from ccnb._docstrings import docstring_template
from ccnb.formatting import money

__all__ = ["PALETTE", "money_formatter", "set_theme", "theme"]


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


# Parameter descriptions shared by the plot functions, spliced into their docstrings.
_DOCS = {
    "currency": """currency : str, optional
        ISO code of the client's currency (``Params.currency``), e.g. ``"EUR"``; money
        ticks and labels show it (see :func:`money_formatter`).""",
    "title": """title : str, optional
        Title of the chart; a description of what it shows by default.""",
    "ax": """ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure (9 x 5 inches) is made.""",
    "axes": """axes : sequence of two matplotlib.axes.Axes, optional
        Upper and lower axes to draw on; by default a new figure with two panels
        sharing the time axis is made.""",
    "returns_ax": """matplotlib.axes.Axes
        The axes drawn on.""",
    "returns_fig": """matplotlib.figure.Figure
        The figure holding both panels.""",
}


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


def _themed(function: Callable) -> Callable:
    """Document shared parameters and draw inside the theme."""
    # the function itself too: documentation tools read it through ``__wrapped__``
    function = docstring_template(_DOCS)(function)

    @functools.wraps(function)
    def draw(*args: Any, **kwargs: Any) -> Any:
        with theme():
            return function(*args, **kwargs)

    return docstring_template(_DOCS)(draw)


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
    return FuncFormatter(functools.partial(_money_tick, currency=currency))


# Tick formatters are module functions, not lambdas, so that a figure pickles (the chart pack).


def _money_tick(value: float, _position: int | None, *, currency: str | None) -> str:
    return _money_text(value, currency)


def _count_tick(value: float, _position: int | None) -> str:
    # a tick between two whole numbers (an axis of a handful of customers) stays unlabelled:
    # rounded, its label repeated its neighbour's ('0, 0, 1, 1')
    return f"{value:,.0f}" if _is_whole(value) else ""


def _magnitude_tick(value: float, _position: int | None) -> str:
    return f"{abs(value):,.0f}" if _is_whole(value) else ""


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6 * max(1.0, abs(value))


def count_formatter(*, magnitude: bool = False) -> FuncFormatter:
    """Tick formatter for counts, ``12,345``; with ``magnitude`` the absolute value.

    Parameters
    ----------
    magnitude : bool
        Label ``-1,200`` as ``1,200`` (an axis drawn downwards).

    Returns
    -------
    matplotlib.ticker.FuncFormatter
    """
    return FuncFormatter(_magnitude_tick if magnitude else _count_tick)


def _money_label(what: str, currency: str | None) -> str:
    return f"{what} ({currency.upper()})" if currency else what

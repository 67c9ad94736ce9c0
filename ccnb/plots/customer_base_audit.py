"""Figures of 05_customer_base_audit: concentration, bridge, cohorts, repeat, categories."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ccnb.plots._axes import (
    _colours,
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
    _money_label,
    _money_text,
    _themed,
)

__all__ = [
    "category_value",
    "cohort_evolution",
    "cohort_factors",
    "lorenz_deciles",
    "repeat_curves",
    "revenue_bridge",
]


@_themed
def lorenz_deciles(
    lorenz: pd.DataFrame,
    deciles: pd.DataFrame,
    *,
    gini: float,
    title: str | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """The Lorenz curve of revenue per buyer beside each decile's share of revenue.

    Parameters
    ----------
    lorenz : pandas.DataFrame
        ``customer_share`` and ``revenue_share`` (``ccnb.audit.customer_differences``).
    deciles : pandas.DataFrame
        ``decile`` and ``revenue_share`` (the same result's deciles).
    gini : float
        The Gini coefficient, named in the legend.
    {title}
    axes : pair of Axes, optional
        Where to draw (left: Lorenz curve, right: deciles).

    Returns
    -------
    matplotlib.figure.Figure
    """
    curve = _require(
        lorenz,
        ["customer_share", "revenue_share"],
        what="lorenz_deciles",
        source="ccnb.audit.customer_differences",
    )
    shares = _require(
        deciles,
        ["decile", "revenue_share"],
        what="lorenz_deciles",
        source="ccnb.audit.customer_differences",
    )
    if axes is None:
        figure, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.6))
    else:
        left, right = axes
        figure = left.figure
    left.plot([0, 1], [0, 1], color=_GREY, linestyle="--", label="every buyer equal")
    left.plot(
        curve["customer_share"],
        curve["revenue_share"],
        color=_BLUE,
        label=f"buyers (Gini {gini:.2f})",
    )
    left.fill_between(
        curve["customer_share"],
        curve["revenue_share"],
        curve["customer_share"],
        color=_BLUE,
        alpha=0.12,
    )
    _percent(left, "x")
    _percent(left, "y")
    left.set_xlim(0, 1)
    left.set_ylim(0, 1)
    _legend(left, loc="upper left")
    _label(
        left,
        title="Lorenz curve",
        xlabel="Share of buyers, lowest revenue first",
        ylabel="Share of their revenue",
    )
    bars = right.bar(shares["decile"].astype(str), shares["revenue_share"], color=_BLUE)
    right.bar_label(bars, labels=[f"{v:.0%}" for v in shares["revenue_share"]], padding=2)
    _percent(right, "y")
    _value_axis(right, "y")
    right.margins(y=0.12)
    _label(
        right,
        title="Revenue by decile of buyers",
        xlabel="Decile (1 = top 10% of buyers)",
        ylabel="Share of revenue",
    )
    if title:
        figure.suptitle(title)
    return figure


#: the bridge's steps as axis labels (two short lines each)
_STEP_LABELS = {
    "previous period": "previous\nperiod",
    "lost customers": "lost\ncustomers",
    "retained, spending less": "retained:\nspent less",
    "retained, spending more": "retained:\nspent more",
    "reactivated customers": "reactivated\ncustomers",
    "new customers": "new\ncustomers",
    "current period": "current\nperiod",
}


@_themed
def revenue_bridge(
    bridge: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Waterfall from the previous period's revenue to the current one's.

    Parameters
    ----------
    bridge : pandas.DataFrame
        ``step`` and ``amount`` (``ccnb.audit.revenue_bridge``): the first and last rows are
        the periods' revenues, the rows between the changes.
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        bridge, ["step", "amount"], what="revenue_bridge", source="ccnb.audit.revenue_bridge"
    )
    amounts = table["amount"].to_numpy(float)
    ax = _new_axes(ax, figsize=(10.0, 4.8))
    positions = np.arange(len(table))
    running = amounts[0]
    bottoms, heights, colours = [0.0], [amounts[0]], [_BLUE]
    for change in amounts[1:-1]:
        bottoms.append(running if change >= 0 else running + change)
        heights.append(abs(change))
        colours.append(_GREEN if change >= 0 else _RED)
        running += change
    bottoms.append(0.0)
    heights.append(amounts[-1])
    colours.append(_BLUE)
    bars = ax.bar(positions, heights, bottom=bottoms, color=colours)
    labels = [_money_text(amounts[0], currency)]
    labels += [("+" if v >= 0 else "−") + _money_text(abs(v), currency) for v in amounts[1:-1]]
    labels += [_money_text(amounts[-1], currency)]
    ax.bar_label(bars, labels=labels, padding=2)
    ax.set_xticks(
        positions,
        [
            str(step).replace(", ", ",\n").replace(" customers", "\ncustomers")
            for step in table["step"]
        ],
    )
    ax.axhline(0, color=_INK, linewidth=0.8)
    ax.margins(y=0.12)
    _money(ax, "y", currency)
    _value_axis(ax, "y")
    _label(
        ax,
        title=title or "Revenue bridge: what changed between the two periods",
        xlabel="From the previous period's revenue to the current one's",
        ylabel=_money_label("Net revenue", currency),
    )
    return ax


_FACTOR_TITLES = {
    "active_share": "Share still buying",
    "orders_per_active": "Orders per buying customer",
    "average_order_value": "Average order value",
    "revenue_per_customer": "Revenue per acquired customer",
}


@_themed
def cohort_evolution(
    evolution: pd.DataFrame,
    *,
    period_label: str = "year",
    currency: str | None = None,
    title: str | None = None,
) -> Figure:
    """Four panels by age: share still buying, orders per buyer, order value, revenue per customer.

    Parameters
    ----------
    evolution : pandas.DataFrame
        ``ccnb.audit.cohort_evolution`` output (``cohort``, ``age`` and the four factors).
    period_label : str
        The age's unit, for the axis ("year" or "quarter").
    {currency}
    {title}

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = _require(
        evolution,
        ["cohort", "age", *_FACTOR_TITLES],
        what="cohort_evolution",
        source="ccnb.audit.cohort_evolution",
    )
    figure, grid = plt.subplots(2, 2, figsize=(11.0, 7.0), sharex=True)
    cohorts = sorted(table["cohort"].unique())
    colours = _colours(len(cohorts))
    for ax, (column, panel) in zip(grid.flat, _FACTOR_TITLES.items(), strict=True):
        for colour, cohort in zip(colours, cohorts, strict=True):
            rows = table[table["cohort"] == cohort]
            name = (
                f"{pd.Timestamp(cohort):%Y}"
                if period_label == "year"
                else (f"Q{pd.Timestamp(cohort).quarter} {pd.Timestamp(cohort):%Y}")
            )
            ax.plot(rows["age"], rows[column], marker="o", color=colour, label=name)
        if column == "active_share":
            _percent(ax, "y")
        elif column != "orders_per_active":
            _money(ax, "y", currency)
        # from zero: order values of 69.6 to 70.6 must not look like a swing
        ax.set_ylim(bottom=min(0.0, float(table[column].min())))
        ax.set_title(panel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _value_axis(ax, "y")
        ax.set_xlabel(f"{period_label.capitalize()}s since acquisition")
    grid.flat[0].set_ylabel("Share of the cohort")
    grid.flat[2].set_ylabel(_money_label("Per order", currency))
    grid.flat[1].set_ylabel("Orders")
    grid.flat[3].set_ylabel(_money_label("Per acquired customer", currency))
    handles, labels = grid.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    figure.suptitle(title or "How each acquisition cohort evolves")
    return figure


@_themed
def cohort_factors(
    comparison: pd.DataFrame,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Each factor's change from the previous cohort to the latest, at each age compared.

    Parameters
    ----------
    comparison : pandas.DataFrame
        ``factor``, ``ratio`` and ``age`` (``ClientAnalysis.cohort_comparison``).
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        comparison,
        ["factor", "ratio", "age"],
        what="cohort_factors",
        source="ccnb.audit.cohort_comparison",
    )
    names = {
        "size": "customers",
        "active_share": "share buying",
        "orders_per_active": "orders per buyer",
        "average_order_value": "order value",
        "revenue": "revenue",
    }
    ax = _new_axes(ax, figsize=(9.0, 4.5))
    ages = sorted(table["age"].unique())
    width = 0.8 / len(ages)
    factors = list(names)
    positions = np.arange(len(factors))
    for offset, (age, colour) in enumerate(zip(ages, _colours(len(ages)), strict=True)):
        rows = table[table["age"] == age].set_index("factor").reindex(factors)
        change = rows["ratio"].to_numpy(float) - 1
        bars = ax.bar(
            positions + (offset - (len(ages) - 1) / 2) * width,
            change,
            width=width,
            color=colour,
            label="first period" if age == 0 else f"age {age}",
        )
        ax.bar_label(
            bars, labels=[f"{v:+.0%}" if np.isfinite(v) else "" for v in change], padding=2
        )
    ax.set_xticks(positions, [names[f] for f in factors])
    ax.axhline(0, color=_INK, linewidth=0.8)
    ax.margins(y=0.15)
    _percent(ax, "y")
    _value_axis(ax, "y")
    _legend(ax, below=True)
    _label(
        ax,
        title=title or "Latest cohort against the one before",
        xlabel="Factor of the cohort's revenue",
        ylabel="Change",
    )
    return ax


@_themed
def repeat_curves(
    curves: pd.DataFrame,
    *,
    days: Sequence[int] = (30, 60, 90, 180),
    horizon: int = 365,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Share of new customers who bought a second time, by days since the first purchase.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``group``, ``day`` and ``repeated_share`` (``ccnb.audit.repeat_curve`` per group;
        the group ``"all"`` drawn thick).
    days : sequence of int
        Days marked with a vertical line.
    horizon : int
        Last day shown.
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        curves,
        ["group", "day", "repeated_share"],
        what="repeat_curves",
        source="ccnb.audit.repeat_curve",
    )
    ax = _new_axes(ax, figsize=(9.0, 4.8))
    groups = [name for name in table["group"].unique() if name != "all"]
    for name, colour in zip(groups, _colours(len(groups)), strict=True):
        rows = table[(table["group"] == name) & (table["day"] <= horizon)]
        ax.step(
            np.r_[0, rows["day"]],
            np.r_[0, rows["repeated_share"]],
            where="post",
            color=colour,
            linewidth=1.2,
            label=name,
        )
    rows = table[(table["group"] == "all") & (table["day"] <= horizon)]
    ax.step(
        np.r_[0, rows["day"]],
        np.r_[0, rows["repeated_share"]],
        where="post",
        color=_INK,
        linewidth=2.4,
        label="all new customers",
    )
    for day in days:
        ax.axvline(day, color=_GREY, linewidth=0.8, linestyle=":")
    ax.set_xlim(0, horizon)
    ax.set_ylim(bottom=0)
    _percent(ax, "y")
    _value_axis(ax, "y")
    _legend(ax, below=True)
    _label(
        ax,
        title=title or "Time to second purchase",
        xlabel="Days since the first purchase",
        ylabel="Share who bought again (Kaplan-Meier)",
    )
    return ax


@_themed
def category_value(
    categories: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """First-year value of customers by the category of their first purchase.

    Parameters
    ----------
    categories : pandas.DataFrame
        ``category``, ``value_12m`` and ``first_purchase_share`` (``ccnb.audit.product_lens``).
    {currency}
    {title}
    {ax}

    Returns
    -------
    {returns_ax}
    """
    table = _require(
        categories,
        ["category", "value_12m", "first_purchase_share"],
        what="category_value",
        source="ccnb.audit.product_lens",
    )
    table = table.sort_values("value_12m")
    ax = _new_axes(ax, figsize=(9.0, max(3.5, 1.2 + 0.55 * len(table))))
    positions = np.arange(len(table))
    bars = ax.barh(positions, table["value_12m"], color=_BLUE)
    ax.bar_label(
        bars,
        labels=[
            f"{_money_text(v, currency)} ({share:.0%} of first purchases)"
            for v, share in zip(table["value_12m"], table["first_purchase_share"], strict=True)
        ],
        padding=3,
    )
    ax.set_yticks(positions, [str(name) for name in table["category"]])
    ax.margins(x=0.45)
    _money(ax, "x", currency)
    _value_axis(ax, "x")
    _label(
        ax,
        title=title or "First-year value by first-purchase category",
        xlabel=_money_label("Net revenue in the first 12 months, per customer", currency),
        ylabel="First-purchase category",
    )
    return ax

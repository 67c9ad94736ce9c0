"""Figures of 04_budget_allocation: allocation by decile, sensitivity, strategy comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    PercentFormatter,
)

from ccnb.formatting import percent, signed_percent
from ccnb.plots._axes import (
    _annotated_heatmap,
    _cell_labels,
    _label,
    _legend,
    _money,
    _new_axes,
    _percent,
    _require,
    _value_axis,
)
from ccnb.plots._theme import _GREEN, _GREY, _INK, _RED, PALETTE, _money_label, _money_text, _themed

__all__ = ["allocation_by_decile", "sensitivity_heatmap", "strategy_comparison"]


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
    value: str = "centric_roi",
    budget: float | None = None,
    highlight: tuple[float, float] | None = None,
    currency: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The customer-centric plan's ROI (or its gain over customer-focused) by assumption.

    Rows are ``max_lift`` values, columns ``spend_scale`` values; each cell is annotated. An
    ROI is drawn on a diverging scale centred on 0, so a plan that loses money is red.

    Parameters
    ----------
    table : pandas.DataFrame
        ``ccnb.budget.sensitivity`` output: ``max_lift``, ``spend_scale``, ``budget`` and
        the ``value`` column.
    value : {"centric_roi", "gain_pct"}
        What a cell shows: the centric plan's ROI (fraction; default) or its gain over the
        customer-focused plan (percent).
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
        ["max_lift", "spend_scale", "budget", value],
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
    if value not in ("centric_roi", "gain_pct"):
        raise ValueError(f"value must be 'centric_roi' or 'gain_pct'; got {value!r}")
    grid = chosen.pivot(index="max_lift", columns="spend_scale", values=value).sort_index()
    grid = grid.sort_index(axis="columns")
    if value == "centric_roi":
        grid = grid * 100
    shown = grid.copy()
    shown.index = [f"{100 * lift:.3g}%" for lift in grid.index]
    shown.columns = [_money_text(scale, currency) for scale in grid.columns]
    ax = _new_axes(ax)
    if value == "centric_roi":
        # diverging around 0; an ROI cannot fall below -100% (everything spent, nothing back)
        label, scale = signed_percent, {"vmin": -100.0, "cmap": "RdBu", "center": 0.0}
        colorbar_label = "ROI of the customer-centric plan (%)"
    else:
        label, scale = percent, {"vmin": 0.0}
        colorbar_label = "Gain over customer-focused (%)"
    _annotated_heatmap(
        ax,
        shown,
        labels=_cell_labels(grid.to_numpy(dtype=float), lambda v: label(v / 100)),
        colorbar_label=colorbar_label,
        colorbar_formatter=PercentFormatter(xmax=100, decimals=0),
        **scale,
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
        title=title
        or (
            "Return on the budget of the customer-centric plan"
            if value == "centric_roi"
            else "Gain of customer-centric over customer-focused allocation"
        ),
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

"""Budget allocation: customer-focused vs customer-centric spend, sensitivity and test plan.

Budget allocation (docs/methodology.md, "Response curves", "Budget allocation", "Test plan",
"Acquisition allocation": response curve, focused / optimal / tiered
strategies, per-strategy report, CLV deciles, sensitivity, power analysis and holdout
assignment) and the acquisition side of the CAC ceiling (fund channels whose CLV beats CAC).
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from ccnb._checks import require_columns, require_frame
from ccnb._docstrings import docstring_template
from ccnb._response import (
    ExponentialResponse,
    HillResponse,
    ResponseCurve,
    equal_marginal_spend,
)

# the standard normal (the stdlib's: importing scipy.special costs every kernel ~0.3 s)
_NORMAL = NormalDist()

__all__ = [
    "TIER_STEPS",
    "AcquisitionPlan",
    "Allocation",
    "ExponentialResponse",
    "HillResponse",
    "ResponseCurve",
    "allocate_acquisition",
    "allocation_by_decile",
    "assign_holdout",
    "best_allocation",
    "break_even_budget",
    "acquisition_against_history",
    "centric_gain",
    "compare",
    "customer_centric",
    "customer_focused",
    "sensitivity",
    "sensitivity_summary",
    "spend_per_head",
    "test_plan",
    "tier_rounding_step",
    "tiered",
    "tiers_from_optimum",
]

ALLOCATION_COLUMNS = ("spend", "added_value", "marginal_value")


@dataclass(frozen=True, eq=False)
class Allocation:
    """One strategy's budget plan: the per-customer table and what the allocator found.

    Attributes
    ----------
    table : pandas.DataFrame
        The input rows (same index, same columns) plus ``spend`` (currency; sums to
        ``budget``), ``added_value`` (``curve.value(rclv * max_lift, spend)``) and
        ``marginal_value`` (value added by one more unit of spend; infinite at zero spend
        for a Hill curve with ``shape < 1``).
    strategy : str
        ``"customer_focused"``, ``"customer_centric"`` or ``"tiered"``.
    budget : float
        The budget allocated.
    max_lift : float
        Share of rCLV that spending can add at saturation.
    curve : ResponseCurve
        The response curve used.
    notes : tuple of str
        Data issues and caveats a reader should see (e.g. negative rCLV treated as 0).
    shadow_price : float
        Customer-centric only (else NaN): the value added by the last unit of budget.
    scale_factor : float
        Tiered only (else NaN): the factor applied to ``spend_per_head``.
    """

    table: pd.DataFrame
    strategy: str
    budget: float
    max_lift: float
    curve: ResponseCurve
    notes: tuple[str, ...] = ()
    shadow_price: float = math.nan
    scale_factor: float = math.nan

    def __repr__(self) -> str:
        return (
            f"<Allocation {self.strategy}: {len(self.table)} customers, budget "
            f"{self.budget:.6g}, added value {self.table['added_value'].sum():.6g}>"
        )

    def _repr_html_(self) -> str:
        return self.table._repr_html_()


@dataclass(frozen=True, eq=False)
class AcquisitionPlan:
    """An acquisition budget split over channels (:func:`allocate_acquisition`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per channel in funding order: ``channel``, ``mean_clv``, ``cac``,
        ``capacity``, ``value_per_cost``, ``spend``, ``new_customers``,
        ``expected_value``, ``net_value``.
    budget : float
        The acquisition budget.
    unspent : float
        What could not be spent profitably (or beyond the channels' capacity).
    """

    table: pd.DataFrame
    budget: float
    unspent: float

    def _repr_html_(self) -> str:
        return self.table._repr_html_()


def _table(allocation: Allocation | pd.DataFrame) -> pd.DataFrame:
    """The per-customer table of an allocation (an `Allocation` or a plain frame)."""
    return allocation.table if isinstance(allocation, Allocation) else allocation


# Parameter and return descriptions shared by several functions; spliced into their
# docstrings by ``_shared_doc`` so every function documents them the same way.
_SHARED_DOCS = {
    "customers": """customers : pandas.DataFrame
        One row per customer: ``customer_id`` (unique) and ``rclv`` (residual CLV in
        currency). Negative rCLV is treated as 0 (no value to gain) and said so in
        the allocation's ``notes``; missing rCLV is an error. Other columns (``segment``,
        ``revenue``, ``p_alive`` ...) are passed through unchanged.""",
    "budget": """budget : float
        Total budget to spend, in currency, >= 0.""",
    "curve": """curve : ResponseCurve
        Response curve, e.g. ``ExponentialResponse(spend_scale=50)``.""",
    "max_lift": """max_lift : float
        Share of a customer's rCLV that spending can add at saturation (> 0): the
        response curve's ``base`` is ``rclv * max_lift``.""",
    "allocation": """Allocation
        ``table``: the input rows plus ``spend`` (sums to ``budget``), ``added_value``
        and ``marginal_value``; with the strategy, budget, curve and ``notes`` (data
        issues and caveats a reader should see).""",
}


_shared_doc = docstring_template(_SHARED_DOCS)


# --------------------------------------------------------------------------- allocators


@_shared_doc
def customer_focused(
    customers: pd.DataFrame, *, budget: float, curve: ResponseCurve, max_lift: float
) -> Allocation:
    """Customer-focused allocation: the same spend ``budget / N`` for every customer.

    Every row of ``customers`` counts as an active customer; filter the frame first
    (e.g. on ``p_alive``) to spread the budget over a narrower base.

    Parameters
    ----------
    {customers}
    {budget}
    {curve}
    {max_lift}

    Returns
    -------
    {allocation}
    """
    rclv, notes = _customer_rclv(customers, allocating=True)
    _check_allocation_options(budget=budget, curve=curve, max_lift=max_lift)
    spend = np.full(len(rclv), budget / len(rclv))
    return _allocation(
        customers,
        rclv,
        spend,
        strategy="customer_focused",
        budget=budget,
        curve=curve,
        max_lift=max_lift,
        notes=notes,
    )


@_shared_doc
def customer_centric(
    customers: pd.DataFrame, *, budget: float, curve: ResponseCurve, max_lift: float
) -> Allocation:
    """Customer-centric (optimal) allocation: maximise total added value for the budget.

    Solves ``max sum value(rclv_i * max_lift, s_i)`` subject to ``sum s_i = budget``,
    ``s_i >= 0`` exactly: at the optimum every funded customer has the same marginal
    value ``lam`` (the shadow price of the budget) and every unfunded customer's
    marginal value at zero spend is at most ``lam``. For the exponential curve that is
    ``s_i = spend_scale * ln(rclv_i * max_lift / (spend_scale * lam))`` where positive.
    ``lam`` is found by bisection to adjacent floating-point numbers and the spend is
    interpolated between them, so the budget is used exactly (no generic optimiser).

    The whole budget is always spent. When the shadow price is below 1 the last unit
    of budget returns less than it costs (see :func:`break_even_budget`); a note says so.

    Parameters
    ----------
    {customers}
    {budget}
    {curve}
    {max_lift}

    Returns
    -------
    {allocation}

        ``shadow_price`` is ``lam``: the value added by the last unit of budget.

    Raises
    ------
    ValueError
        If no customer has a positive rCLV (nothing to optimise) and ``budget > 0``.
    """
    rclv, notes = _customer_rclv(customers, allocating=True)
    _check_allocation_options(budget=budget, curve=curve, max_lift=max_lift)
    spend, shadow_price = equal_marginal_spend(rclv * max_lift, budget, curve)
    if budget > 0 and shadow_price < 1:
        notes.append(
            f"the last unit of budget adds {shadow_price:.3g} in value (< 1): the budget "
            "is larger than the break-even budget, so its last part loses money"
        )
    return _allocation(
        customers,
        rclv,
        spend,
        strategy="customer_centric",
        budget=budget,
        curve=curve,
        max_lift=max_lift,
        notes=notes,
        shadow_price=shadow_price,
    )


@_shared_doc
def tiered(
    customers: pd.DataFrame,
    *,
    budget: float,
    spend_per_head: Mapping[str, float] | pd.Series,
    curve: ResponseCurve,
    max_lift: float,
    by: str = "segment",
) -> Allocation:
    """Customer-centric (tiered) allocation: a spend per head for each segment.

    The operational rule a CRM team can run ("spend 100 to make a 1000 customer feel
    the love, not on a 10 customer"). The per-head amounts set the *ratios* between
    segments; they are all multiplied by one factor so the total is exactly
    ``budget``. A segment missing from ``spend_per_head`` (or a customer with no
    segment) gets no spend, and a note names it; keys for segments absent from the
    data are ignored.

    Parameters
    ----------
    {customers}
        Needs the ``by`` column.
    {budget}
    spend_per_head : mapping or pandas.Series
        Spend per customer for each segment (>= 0), e.g. the ``spend_per_head``
        column of :func:`tiers_from_optimum`.
    {curve}
    {max_lift}
    by : str, default "segment"
        Column holding the segment.

    Returns
    -------
    {allocation}

        ``scale_factor`` is the factor applied to ``spend_per_head``.

    Raises
    ------
    ValueError
        If a per-head amount is negative or no customer belongs to a segment with a
        positive per-head amount.
    """
    rclv, notes = _customer_rclv(customers, allocating=True)
    _require_columns(customers, [by], what="customers")
    _check_allocation_options(budget=budget, curve=curve, max_lift=max_lift)
    per_head = {key: float(value) for key, value in dict(spend_per_head).items()}
    negative = {key: value for key, value in per_head.items() if not value >= 0}
    if negative:
        raise ValueError(f"spend_per_head must be >= 0; got {negative}")

    codes, segments = pd.factorize(customers[by])
    segment_weight = np.array([per_head.get(segment, 0.0) for segment in segments] + [0.0])
    weights = segment_weight[codes]  # code -1 (no segment) picks the trailing 0
    segment_sizes = np.bincount(codes[codes >= 0], minlength=len(segments))
    for segment, size in zip(segments, segment_sizes, strict=True):
        if segment not in per_head:
            notes.append(f"segment {segment!r} ({size} customers) has no spend_per_head: 0 spend")
    if np.any(codes < 0):
        notes.append(f"{int(np.sum(codes < 0))} customers have no {by}: 0 spend")

    total_weight = float(weights.sum())
    if total_weight <= 0:
        raise ValueError(
            f"no customer is in a segment with a positive spend_per_head; segments in the "
            f"data are {list(segments)}, spend_per_head has {per_head}"
        )
    scale_factor = budget / total_weight
    return _allocation(
        customers,
        rclv,
        weights * scale_factor,
        strategy="tiered",
        budget=budget,
        curve=curve,
        max_lift=max_lift,
        notes=notes,
        scale_factor=scale_factor,
    )


def tiers_from_optimum(
    centric_allocation: Allocation | pd.DataFrame,
    *,
    round_to: float | None = 5,
    by: str = "segment",
) -> pd.DataFrame:
    """Spend per head for each segment from the optimal allocation, rounded.

    Turns the customer-level optimum into the rule a CRM team can run: the mean
    optimal spend in each segment (unfunded customers count as 0), rounded to the
    nearest multiple of ``round_to`` (halves round up). Feed the ``spend_per_head``
    column to :func:`tiered`.

    Parameters
    ----------
    centric_allocation : Allocation or pandas.DataFrame
        Output of :func:`customer_centric`, or its table (needs ``spend`` and the ``by``
        column).
    round_to : float or None, default 5
        Rounding step in currency (> 0); None keeps the exact means.
    by : str, default "segment"
        Column holding the segment; customers without one are left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment, highest mean spend first, with columns

        - ``customers``: customers in the segment;
        - ``funded_customers``: customers with positive optimal spend;
        - ``mean_spend``: mean optimal spend per customer, currency;
        - ``spend_per_head``: ``mean_spend`` rounded to ``round_to``.
    """
    centric_allocation = _table(centric_allocation)
    _require_columns(centric_allocation, ["spend", by], what="centric_allocation")
    _check_round_to(round_to)
    spend = centric_allocation["spend"]
    tiers = (
        pd.DataFrame({by: centric_allocation[by], "spend": spend, "funded": spend > 0})
        .groupby(by, observed=True)
        .agg(
            customers=("spend", "size"),
            funded_customers=("funded", "sum"),
            mean_spend=("spend", "mean"),
        )
    )
    return _tiers_table(tiers, round_to=round_to)


def _tiers_table(tiers: pd.DataFrame, *, round_to: float | None) -> pd.DataFrame:
    """`tiers_from_optimum`'s table from customers, funded customers and mean spend by segment."""
    tiers = tiers.copy()
    tiers["funded_customers"] = tiers["funded_customers"].astype(int)
    if round_to is None:
        tiers["spend_per_head"] = tiers["mean_spend"]
    else:
        tiers["spend_per_head"] = round_to * np.floor(tiers["mean_spend"] / round_to + 0.5)
    return tiers.sort_values("mean_spend", ascending=False, kind="stable")


def _check_round_to(round_to: float | None) -> None:
    if round_to is not None and not (_is_real(round_to) and round_to > 0):
        raise ValueError(f"round_to must be > 0 or None, got {round_to!r}")


#: rounding steps for a spend per head, coarsest first (currency units)
TIER_STEPS = (5.0, 1.0, 0.5, 0.1, 0.05, 0.01)


def tier_rounding_step(largest_mean_spend: float) -> float | None:
    """The rounding step for spend per head that keeps the largest tier at two steps or more.

    A fixed step of 5 rounds every segment to 0 when the budget is small for the customer
    count (a million customers and 200,000 to spend: 0.20 a head), and a tiered plan then
    has nothing to allocate.

    Parameters
    ----------
    largest_mean_spend : float
        The largest segment mean of the optimal spend (`tiers_from_optimum`'s ``mean_spend``).

    Returns
    -------
    float or None
        The coarsest of `TIER_STEPS` at most half of ``largest_mean_spend``; None (no
        rounding) when even the finest is coarser.
    """
    for step in TIER_STEPS:
        if step <= largest_mean_spend / 2:
            return step
    return None


def best_allocation(candidates: Mapping[str, Allocation]) -> str:
    """Name of the candidate plan that adds the most value (the first one given on a tie).

    The candidates spend the same budget, so the one adding most value has the best ROI.

    Parameters
    ----------
    candidates : mapping of str to Allocation
        Plans of the same budget, e.g. segment rules from different sources.

    Returns
    -------
    str
        The key of the best plan.
    """
    if not candidates:
        raise ValueError("best_allocation needs at least one candidate")
    return _most_valuable(
        {name: float(plan.table["added_value"].sum()) for name, plan in candidates.items()}
    )


def _most_valuable(values: Mapping[str, float]) -> str:
    """`best_allocation` from each candidate's total added value (the first on a tie)."""
    return max(values, key=lambda name: (values[name], -list(values).index(name)))


def spend_per_head(allocation: Allocation | pd.DataFrame, *, by: str = "segment") -> pd.Series:
    """Mean spend per customer in each segment of an allocation.

    Parameters
    ----------
    allocation : Allocation or pandas.DataFrame
        Output of an allocator, e.g. :func:`tiered`, or a table with ``spend`` and the
        ``by`` column.
    by : str, default "segment"
        Column holding the segment; customers without one are left out.

    Returns
    -------
    pandas.Series
        Mean ``spend`` per segment, indexed by segment.
    """
    allocation = _table(allocation)
    _require_columns(allocation, ["spend", by], what="allocation")
    return allocation.groupby(by, observed=True)["spend"].mean()


# --------------------------------------------------------------------------- comparison


def compare(allocations: Mapping[str, Allocation | pd.DataFrame], *, budget: float) -> pd.DataFrame:
    """One row per strategy: spend, reach, added value and return on the spend.

    Added value is in the unit of rCLV (margin, discounted), so ``roi`` compares
    margin gained with money spent.

    Parameters
    ----------
    allocations : mapping of str to Allocation or pandas.DataFrame
        Strategy name -> allocation (output of an allocator, or a table with ``spend``
        and ``added_value``).
    budget : float
        The budget the strategies were given, to report what was left unspent.

    Returns
    -------
    pandas.DataFrame
        One row per strategy, in the mapping's order, with columns

        - ``strategy``: the mapping's key;
        - ``customers``: rows in the allocation;
        - ``customers_reached``: customers with positive spend;
        - ``spend``: total spend, currency;
        - ``unspent``: ``budget - spend``;
        - ``added_value``: total expected added value, currency;
        - ``roi``: ``(added_value - spend) / spend`` (NaN when nothing is spent);
        - ``value_per_unit``: ``added_value / spend``.
    """
    sums = {}
    for strategy, allocation in allocations.items():
        allocation = _table(allocation)
        _require_columns(allocation, ["spend", "added_value"], what=f"allocation {strategy!r}")
        sums[strategy] = {
            "customers": len(allocation),
            "customers_reached": int((allocation["spend"] > 0).sum()),
            "spend": float(allocation["spend"].sum()),
            "added_value": float(allocation["added_value"].sum()),
        }
    return _comparison(sums, budget=budget)


def _comparison(sums: Mapping[str, Mapping[str, float]], *, budget: float) -> pd.DataFrame:
    """`compare`'s table from each strategy's customers, reach, spend and added value."""
    rows = []
    for strategy, total in sums.items():
        spend, added_value = total["spend"], total["added_value"]
        rows.append(
            {
                "strategy": strategy,
                "customers": int(total["customers"]),
                "customers_reached": int(total["customers_reached"]),
                "spend": spend,
                "unspent": budget - spend,
                "added_value": added_value,
                "roi": (added_value - spend) / spend if spend > 0 else np.nan,
                "value_per_unit": added_value / spend if spend > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def allocation_by_decile(
    customers: pd.DataFrame, allocations: Mapping[str, Allocation | pd.DataFrame]
) -> pd.DataFrame:
    """Share of each strategy's budget per rCLV decile, next to that decile's share of equity.

    Deciles are by rank of rCLV, highest first: decile 1 is the top 10% of customers by
    rCLV, decile 10 the bottom 10%. Customers are ranked by rCLV (negative counted as
    0), ties in the order of ``customers``, and cut into ten groups of equal size
    (within one customer), so tied customers can fall on both sides of a cut. With
    fewer than 10 customers some deciles are empty and left out.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with ``customer_id`` and ``rclv``.
    allocations : mapping of str to Allocation or pandas.DataFrame
        Strategy name -> allocation (or a table with ``customer_id``, ``spend`` and
        ``added_value``); customers missing from an allocation count as 0 spend.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per decile and strategy, with columns

        - ``decile``: 1 (top rCLV) to 10;
        - ``customers``: customers in the decile;
        - ``rclv_min``, ``rclv_max``: range of rCLV in the decile;
        - ``equity_share``: the decile's share of customer equity (sum of rCLV);
        - ``strategy``: the allocation's key;
        - ``spend``: the strategy's spend in the decile, currency;
        - ``budget_share``: ``spend`` / the strategy's total spend;
        - ``added_value``: the strategy's expected added value in the decile.
    """
    rclv, _ = _customer_rclv(customers)
    count = len(rclv)
    position = np.empty(count, dtype=int)
    position[np.argsort(-rclv, kind="stable")] = np.arange(count)
    deciles = pd.DataFrame({"decile": position * 10 // count + 1, "rclv": rclv})
    summary = deciles.groupby("decile").agg(
        customers=("rclv", "size"),
        rclv_min=("rclv", "min"),
        rclv_max=("rclv", "max"),
        equity=("rclv", "sum"),
    )
    customer_ids = pd.Index(customers["customer_id"])
    by_strategy = {
        strategy: _align_allocation(_table(allocation), customer_ids, strategy=strategy)
        .groupby(deciles["decile"].to_numpy())
        .sum()
        for strategy, allocation in allocations.items()
    }
    return _decile_table(summary, by_strategy)


def _decile_table(summary: pd.DataFrame, by_strategy: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """`allocation_by_decile`'s table from the deciles' sums and each strategy's by decile.

    ``summary`` holds ``customers``, ``rclv_min``, ``rclv_max`` and ``equity`` by decile;
    each of ``by_strategy`` the strategy's ``spend`` and ``added_value`` by decile.
    """
    summary = summary.copy()
    equity = summary.pop("equity")
    summary["equity_share"] = equity / equity.sum() if equity.sum() > 0 else np.nan
    tables = []
    for strategy, by_decile in by_strategy.items():
        total_spend = by_decile["spend"].sum()
        table = summary.assign(
            strategy=strategy,
            spend=by_decile["spend"],
            budget_share=by_decile["spend"] / total_spend if total_spend > 0 else np.nan,
            added_value=by_decile["added_value"],
        )
        tables.append(table.reset_index())
    if not tables:
        raise ValueError("allocations is empty: pass at least one strategy")
    result = pd.concat(tables, ignore_index=True)
    return result.sort_values("decile", kind="stable").reset_index(drop=True)


def centric_gain(
    focused: Allocation | pd.DataFrame, centric: Allocation | pd.DataFrame
) -> pd.Series:
    """Value gained by the customer-centric allocation over the customer-focused one.

    Parameters
    ----------
    focused : Allocation or pandas.DataFrame
        Output of :func:`customer_focused` (or its table).
    centric : Allocation or pandas.DataFrame
        Output of :func:`customer_centric` (or :func:`tiered`) for the same budget.

    Returns
    -------
    pandas.Series
        ``focused_value`` and ``centric_value`` (total expected added value, currency),
        ``gain`` (``centric_value - focused_value``, currency) and ``gain_pct``
        (``100 * gain / focused_value``, percent; NaN when ``focused_value`` is 0).

    Raises
    ------
    ValueError
        If the two allocations do not spend the same total.
    """
    focused, centric = _table(focused), _table(centric)
    for name, allocation in {"focused": focused, "centric": centric}.items():
        _require_columns(allocation, ["spend", "added_value"], what=name)
    return _spent_alike_gain(
        spends=(float(focused["spend"].sum()), float(centric["spend"].sum())),
        values=(float(focused["added_value"].sum()), float(centric["added_value"].sum())),
    )


def _spent_alike_gain(*, spends: tuple[float, float], values: tuple[float, float]) -> pd.Series:
    """`centric_gain` from the two plans' total spends and added values."""
    focused_spend, centric_spend = spends
    if not math.isclose(focused_spend, centric_spend, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(
            f"the allocations spend different totals ({focused_spend:.6g} vs "
            f"{centric_spend:.6g}); compare allocations of the same budget"
        )
    return _gain(*values)


# --------------------------------------------------------------------------- sensitivity


def sensitivity(
    customers: pd.DataFrame,
    *,
    budget: float,
    max_lifts: Iterable[float],
    spend_scales: Iterable[float],
    budgets: Iterable[float] | None = None,
    curve: str | Callable[[float], ResponseCurve] = "exponential",
) -> pd.DataFrame:
    """Centric-vs-focused value gap over a grid of assumptions, for a heatmap.

    Every combination of ``max_lifts`` x ``spend_scales`` x budgets is solved exactly
    (same solver as :func:`customer_centric`) on numpy arrays, without building
    per-customer tables.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with ``customer_id`` and ``rclv``.
    budget : float
        Budget of the plan (always part of the grid).
    max_lifts : iterable of float
        Values of ``max_lift`` to try (> 0).
    spend_scales : iterable of float
        Values of the curve's ``spend_scale`` to try (> 0).
    budgets : iterable of float, optional
        Further budgets to try; the grid's budgets are the sorted distinct values of
        ``budget`` and ``budgets``.
    curve : {"exponential", "hill"} or callable, default "exponential"
        Response curve family: ``ExponentialResponse(spend_scale)``, ``HillResponse(
        spend_scale)`` (shape 1), or a function ``spend_scale -> ResponseCurve`` such as
        ``lambda scale: HillResponse(scale, shape=0.7)``.

    Returns
    -------
    pandas.DataFrame
        One row per grid point with columns

        - ``max_lift``, ``spend_scale``, ``budget``: the assumptions;
        - ``focused_value``: total added value of the customer-focused split, currency;
        - ``centric_value``: total added value of the optimal split, currency;
        - ``gain``: ``centric_value - focused_value``, currency (never negative);
        - ``gain_pct``: ``100 * gain / focused_value``, percent;
        - ``focused_roi``, ``centric_roi``: ``(value - budget) / budget``, what each plan
          returns per unit spent beyond the spend itself (below 0: the plan loses money);
        - ``shadow_price``: marginal value of the last unit of budget in the optimum.
    """
    rclv, _ = _customer_rclv(customers)
    make_curve = _curve_family(curve)
    grid_budgets = sorted({float(budget), *(float(value) for value in budgets or ())})
    for value in grid_budgets:
        _check_budget(value)
    max_lifts, spend_scales = list(max_lifts), list(spend_scales)
    rows = []
    for spend_scale in spend_scales:
        response = make_curve(spend_scale)
        for max_lift in max_lifts:
            _check_allocation_options(budget=0.0, curve=response, max_lift=max_lift)
            base = rclv * max_lift
            for grid_budget in grid_budgets:
                spend, shadow_price = equal_marginal_spend(base, grid_budget, response)
                even_spend = grid_budget / len(rclv)
                rows.append(
                    _sensitivity_row(
                        max_lift=max_lift,
                        spend_scale=spend_scale,
                        budget=grid_budget,
                        focused_value=float(response.value(base, even_spend).sum()),
                        centric_value=float(response.value(base, spend).sum()),
                        shadow_price=shadow_price,
                    )
                )
    return pd.DataFrame(rows)


def _sensitivity_row(
    *,
    max_lift: float,
    spend_scale: float,
    budget: float,
    focused_value: float,
    centric_value: float,
    shadow_price: float,
) -> dict:
    """One grid point of :func:`sensitivity` from the two plans' total added values."""
    gain = _gain(focused_value, centric_value)
    return {
        "max_lift": max_lift,
        "spend_scale": spend_scale,
        "budget": budget,
        **gain.to_dict(),
        "focused_roi": _roi(gain["focused_value"], budget),
        "centric_roi": _roi(gain["centric_value"], budget),
        "shadow_price": shadow_price,
    }


def sensitivity_summary(
    grid: pd.DataFrame, *, max_lift: float | None = None, spend_scale: float | None = None
) -> pd.Series:
    """The range of returns and gains over a :func:`sensitivity` grid, and what moves them.

    Parameters
    ----------
    grid : pandas.DataFrame
        Output of :func:`sensitivity` (one budget).
    max_lift, spend_scale : float, optional
        The plan's own assumptions (a row and a column of the grid). With both, the summary
        says which one moves the customer-centric ROI more: the range of the ROI along the
        plan's row (spend scale varied) against the range along its column (lift varied).

    Returns
    -------
    pandas.Series
        ``gain_pct_min``, ``gain_pct_max`` (percent) and ``centric_roi_min``,
        ``centric_roi_max``, ``focused_roi_min``, ``focused_roi_max`` over the grid;
        ``centric_loses`` (grid points where the centric plan returns less than it costs);
        ``lift_invariant``: True when, for every spend scale, the gain in percent is the
        same (within 1e-6 points) whatever the ``max_lift``; ``driver``: ``"max_lift"`` or
        ``"spend_scale"``, the assumption whose range moves the centric ROI more (None
        without the plan's assumptions), with ``roi_range_by_lift`` and
        ``roi_range_by_scale``.
    """
    _require_columns(grid, ["spend_scale", "gain_pct", "centric_roi"], what="grid")
    spread = grid.groupby("spend_scale")["gain_pct"].agg(lambda gain: gain.max() - gain.min())
    summary = {
        "gain_pct_min": grid["gain_pct"].min(),
        "gain_pct_max": grid["gain_pct"].max(),
        "centric_roi_min": grid["centric_roi"].min(),
        "centric_roi_max": grid["centric_roi"].max(),
        "focused_roi_min": grid["focused_roi"].min(),
        "focused_roi_max": grid["focused_roi"].max(),
        "centric_loses": int((grid["centric_roi"] < 0).sum()),
        "lift_invariant": bool((spread < 1e-6).all()),
        "driver": None,
        "roi_range_by_lift": np.nan,
        "roi_range_by_scale": np.nan,
    }
    if max_lift is not None and spend_scale is not None:
        column = grid[np.isclose(grid["spend_scale"], spend_scale)]["centric_roi"]
        row = grid[np.isclose(grid["max_lift"], max_lift)]["centric_roi"]
        by_lift, by_scale = float(np.ptp(column)), float(np.ptp(row))
        summary.update(
            driver="max_lift" if by_lift >= by_scale else "spend_scale",
            roi_range_by_lift=by_lift,
            roi_range_by_scale=by_scale,
        )
    return pd.Series(summary, dtype=object)


@_shared_doc
def break_even_budget(customers: pd.DataFrame, *, curve: ResponseCurve, max_lift: float) -> float:
    """Total budget at which the optimal allocation's marginal return falls to 1.

    Below it, the last unit spent (optimally) adds more than one unit of value; above
    it, less. It is the optimal allocation's total at shadow price ``lam = 1``:
    ``sum_i curve.inverse_marginal(rclv_i * max_lift, 1)``. For the exponential curve
    that is ``sum over customers with base_i / spend_scale > 1 of spend_scale *
    ln(base_i / spend_scale)``.

    Parameters
    ----------
    {customers}
    {curve}
    {max_lift}

    Returns
    -------
    float
        Break-even budget, currency (0 when no customer's first unit returns 1).
    """
    rclv, _ = _customer_rclv(customers)
    _check_allocation_options(budget=0.0, curve=curve, max_lift=max_lift)
    return float(np.sum(curve.inverse_marginal(rclv * max_lift, 1.0)))


# --------------------------------------------------------------------------- test plan


def test_plan(
    customers: pd.DataFrame,
    *,
    lift: float | None = None,
    effect: str | None = None,
    outcome: str = "revenue",
    alpha: float = 0.05,
    power: float = 0.8,
    holdout_share: float | None = None,
    by: str | None = "segment",
    pool: str | None = None,
) -> pd.DataFrame:
    """Holdout size per tier needed to detect a lift in an outcome per customer.

    Two-sample, two-sided z test of the difference in the mean ``outcome`` per customer
    (revenue in the test window, say) between treatment and holdout (normal approximation;
    identical to a t test for the sizes that matter here and to statsmodels'
    ``NormalIndPower`` up to the negligible far tail). The effect to detect in a tier is
    ``delta = lift * mean_outcome`` for a relative ``lift``, or the tier's mean of the
    ``effect`` column (what the plan is expected to add per treated customer). With
    ``z = z_(1-alpha/2) + z_(power)`` and ``sd`` the tier's standard deviation of the
    outcome, the holdout needs

    ``n_holdout = z**2 * sd**2 * (1 + 1/r) / delta**2``, ``r = n_treatment / n_holdout``,

    i.e. ``2 * z**2 * sd**2 / delta**2`` per group for equal groups (``holdout_share``
    None or 0.5), and in general ``z**2 * sd**2 / ((1 - h) * delta**2)`` holdout and
    ``n_holdout * (1 - h) / h`` treatment customers for a holdout share ``h``. Counts are
    rounded up.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with the ``outcome`` column, ``effect`` when given and, unless
        ``by`` is None, the ``by`` column.
    lift : float, optional
        Relative lift in the outcome to detect, e.g. 0.05 for 5%.
    effect : str, optional
        Column with each customer's expected added outcome (give ``lift`` or ``effect``).
    outcome : str, default "revenue"
        Column with the outcome per customer.
    alpha : float, default 0.05
        Significance level (two-sided).
    power : float, default 0.8
        Probability of detecting the lift when it is real.
    holdout_share : float, optional
        Share of each tier held out (0 < h < 1); None for equal groups (0.5).
    by : str or None, default "segment"
        Column defining the tiers; None for one tier called "all".
    pool : str, optional
        Add a last tier of this name pooling every customer (with ``effect``: every customer
        with a positive effect), for when no tier alone is big enough.

    Returns
    -------
    pandas.DataFrame
        One row per tier with columns

        - ``<by>`` (or ``tier``): the tier;
        - ``customers``: customers in the tier;
        - ``mean_revenue``, ``sd_revenue``: mean and standard deviation (``ddof=1``) of the
          outcome per customer;
        - ``lift``: the relative lift; ``absolute_lift``: the effect to detect;
        - ``holdout_needed``, ``treatment_needed``, ``total_needed``: customers needed
          (Int64; missing when the tier has one customer, no positive mean outcome or no
          effect);
        - ``holdout_size``: holdout this tier gets from :func:`assign_holdout`
          (``round(customers * h)``, halves up);
        - ``big_enough``: both groups of the tier reach the needed sizes;
        - ``min_detectable_lift``: smallest relative lift detectable with the tier's
          actual groups, ``z * sd * sqrt(1/n_holdout + 1/n_treatment) / mean_revenue``;
        - ``holdout_share_needed``: the smallest holdout share with which the tier's
          customers detect the effect (NaN when even equal halves cannot);
        - ``window_multiple_needed``: how many times longer the outcome window must be for
          the planned groups to detect the effect, if the effect grows in proportion to the
          window and the spread with its square root (1 when already big enough).
    """
    _check_test_options(alpha=alpha, power=power, holdout_share=holdout_share)
    if (lift is None) == (effect is None):
        raise ValueError("give either lift (relative) or effect (a column), not both")
    if lift is not None and not (_is_real(lift) and lift > 0):
        raise ValueError(f"lift must be a relative lift > 0 (0.05 = 5%), got {lift!r}")
    tier_column = by if by is not None else "tier"
    needed_columns = [outcome] + ([effect] if effect else []) + ([by] if by is not None else [])
    _require_columns(customers, needed_columns, what="customers")
    values = customers[outcome].to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        raise ValueError(
            f"{outcome} is missing for {int(np.isnan(values).sum())} customers; fill with 0 "
            "(no purchase) or drop them before planning the test"
        )
    effects = (
        customers[effect].to_numpy(dtype=float, na_value=0.0)
        if effect
        else np.zeros(len(customers))
    )
    tiers = (
        customers[by].astype(object) if by is not None else pd.Series("all", index=customers.index)
    )
    frame = pd.DataFrame({tier_column: tiers.to_numpy(), "revenue": values, "effect": effects})
    if pool is not None:
        pooled = frame[frame["effect"] > 0] if effect else frame
        frame = pd.concat([frame, pooled.assign(**{tier_column: pool})], ignore_index=True)
    stats = (
        frame.groupby(tier_column, sort=False)
        .agg(
            customers=("revenue", "size"),
            mean_revenue=("revenue", "mean"),
            sd_revenue=("revenue", "std"),
            mean_effect=("effect", "mean"),
        )
        .reset_index()
    )
    return _plan_of_tiers(
        stats,
        tier_column=tier_column,
        ordered=pool is None or by is not None,
        pool=pool,
        lift=lift,
        alpha=alpha,
        power=power,
        holdout_share=holdout_share,
    )


def _check_test_options(*, alpha: float, power: float, holdout_share: float | None) -> None:
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if holdout_share is not None:
        _check_probability("holdout_share", holdout_share)


def _plan_of_tiers(
    stats: pd.DataFrame,
    *,
    tier_column: str,
    ordered: bool,
    pool: str | None,
    lift: float | None,
    alpha: float,
    power: float,
    holdout_share: float | None,
) -> pd.DataFrame:
    """`test_plan`'s table from each tier's sums.

    ``stats`` holds each tier's ``customers``, ``mean_revenue``, ``sd_revenue`` (``ddof=1``)
    and ``mean_effect``; `ordered`: the tiers are sorted by name, the pool last.
    """
    if ordered:
        order = [name for name in stats[tier_column] if name != pool]
        order = sorted(order, key=str) + ([pool] if pool is not None else [])
        stats = stats.set_index(tier_column).loc[order].reset_index()
    share = 0.5 if holdout_share is None else float(holdout_share)
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    absolute_lift = lift * stats["mean_revenue"] if lift is not None else stats["mean_effect"]
    defined = (stats["mean_revenue"] > 0) & stats["sd_revenue"].notna() & (absolute_lift > 0)
    holdout_exact = (z * stats["sd_revenue"] / absolute_lift) ** 2 / (1 - share)
    holdout_needed = _ceil_counts(holdout_exact.where(defined))
    treatment_needed = _ceil_counts((holdout_exact * (1 - share) / share).where(defined))
    holdout_size = np.floor(stats["customers"] * share + 0.5).astype(int)
    treatment_size = stats["customers"] - holdout_size
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty group: nothing detectable
        detectable = z * stats["sd_revenue"] * np.sqrt(1 / holdout_size + 1 / treatment_size)
        # h (1 - h) >= z^2 sd^2 / (n delta^2): the smallest such h, if any
        needed_product = (z * stats["sd_revenue"] / absolute_lift) ** 2 / stats["customers"]
    share_needed = (1 - np.sqrt(np.clip(1 - 4 * needed_product, 0, None))) / 2
    share_needed = share_needed.where(defined & (needed_product <= 0.25))
    window_multiple = np.maximum((detectable / absolute_lift) ** 2, 1.0).where(defined)
    plan = stats.drop(columns="mean_effect").assign(
        lift=absolute_lift / stats["mean_revenue"],
        absolute_lift=absolute_lift,
        holdout_needed=holdout_needed,
        treatment_needed=treatment_needed,
        total_needed=holdout_needed + treatment_needed,
        holdout_size=holdout_size,
        big_enough=((holdout_size >= holdout_needed) & (treatment_size >= treatment_needed))
        .fillna(False)
        .astype(bool),
        min_detectable_lift=(detectable / stats["mean_revenue"]).where(stats["mean_revenue"] > 0),
        holdout_share_needed=share_needed.astype("float64"),
        window_multiple_needed=window_multiple.astype("float64"),
    )
    return plan


test_plan.__test__ = False  # a planning function, not a test: keep pytest from collecting it


def assign_holdout(
    customers: pd.DataFrame, *, holdout_share: float, seed: int, by: str | None = "segment"
) -> pd.DataFrame:
    """Seeded, stratified random split of customers into treatment and holdout.

    In each stratum of ``n`` customers exactly ``round(n * holdout_share)`` (halves
    round up) are held out. The draw depends only on the seed and on the set of
    (customer, stratum) pairs, not on row order nor on the engine: each customer's key is
    the first 16 hex digits of ``md5("<seed>:holdout:<customer_id>")`` (`holdout_key`),
    and the smallest keys of each stratum (ties by ``customer_id``) form its holdout, as
    :func:`ccnb.partitioned_budget.assign_holdout_on_spark` draws them. Customers with a
    missing stratum form a stratum of their own.

    Parameters
    ----------
    customers : pandas.DataFrame
        One row per customer with ``customer_id`` and, unless ``by`` is None, ``by``.
    holdout_share : float
        Share of each stratum held out, 0 < h < 1.
    seed : int
        Seed of the draw; the same seed gives the same split.
    by : str or None, default "segment"
        Column to stratify on; None for a simple random split of exact size.

    Returns
    -------
    pandas.DataFrame
        In the order of ``customers`` (RangeIndex): ``customer_id``, the ``by`` column
        (unless None) and ``group`` ("treatment" or "holdout"); ready for CSV export.
    """
    _check_probability("holdout_share", holdout_share)
    _require_columns(customers, ["customer_id"] + ([by] if by else []), what="customers")
    _check_unique_ids(customers)
    strata = customers[by] if by else pd.Series(0, index=customers.index)
    codes, _ = pd.factorize(strata, use_na_sentinel=False)

    ids = customers["customer_id"].astype(str).to_numpy()
    keys = np.array([holdout_key(seed, customer_id) for customer_id in ids])
    order = np.lexsort((ids, keys, codes))  # by stratum, then key, then id
    rank_in_stratum = np.empty(len(ids), dtype=np.int64)
    starts = np.searchsorted(codes[order], codes[order], side="left")
    rank_in_stratum[order] = np.arange(len(ids)) - starts + 1
    stratum_sizes = np.bincount(codes)
    holdout_sizes = np.floor(stratum_sizes * holdout_share + 0.5)
    is_holdout = rank_in_stratum <= holdout_sizes[codes]

    result = {"customer_id": customers["customer_id"].to_numpy()}
    if by:
        result[by] = customers[by].to_numpy()
    result["group"] = np.where(is_holdout, "holdout", "treatment")
    return pd.DataFrame(result)


#: hex digits of a customer's holdout key (`holdout_key`)
HOLDOUT_KEY_DIGITS = 16


def holdout_key(seed: int, customer_id: str) -> str:
    """A customer's key in :func:`assign_holdout`'s draw: 16 hex digits of an MD5.

    Every engine computes the same MD5, so the draw is the same on each.
    """
    salted = f"{seed}:holdout:{customer_id}".encode()
    return hashlib.md5(salted).hexdigest()[:HOLDOUT_KEY_DIGITS]


# --------------------------------------------------------------------------- acquisition


#: a channel's planned new customers are flagged above this many times what it brought in
#: the last year of the data
HISTORY_STRETCH = 1.5


def acquisition_against_history(
    plan: pd.DataFrame, acquired: Mapping[str, int], *, stretch: float = HISTORY_STRETCH
) -> pd.DataFrame:
    """The new customers an acquisition plan buys per channel, next to what it brought before.

    Parameters
    ----------
    plan : pandas.DataFrame
        ``AcquisitionPlan.table``: ``channel``, ``capacity``, ``new_customers``.
    acquired : mapping of str to int
        The customers each channel brought in a past year of the data (absent: none).
    stretch : float, default 1.5
        A channel whose planned new customers exceed ``stretch`` times the past year's is
        ``beyond_history``: the plan counts on more than the channel has shown it brings.

    Returns
    -------
    pandas.DataFrame
        One row per channel of the plan: ``channel``, ``capacity``, ``new_customers``
        (planned), ``acquired``, ``ratio`` (planned / acquired; inf when none was acquired,
        NaN when neither) and ``beyond_history``.
    """
    table = plan[["channel", "capacity", "new_customers"]].reset_index(drop=True)
    table["acquired"] = [int(acquired.get(name, 0)) for name in table["channel"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio"] = table["new_customers"] / table["acquired"].astype(float)
    table["beyond_history"] = table["new_customers"] > stretch * table["acquired"]
    return table


def allocate_acquisition(
    channels: pd.DataFrame, *, budget: float, min_value_per_cost: float = 1.0
) -> AcquisitionPlan:
    """Split an acquisition budget over channels, best CLV per unit of CAC first.

    Channels are funded in order of ``mean_clv / cac`` (highest first), each up to its
    capacity (``capacity * cac``), until the budget runs out. Only channels whose value
    ratio exceeds ``min_value_per_cost`` get anything: with the default 1, a channel
    gets spend only when a new customer is worth more than they cost to acquire (set
    it to the target LTV:CAC, e.g. 3, for a stricter rule). Whatever cannot be spent
    profitably is left unspent. New customers are expected counts (fractional).

    Parameters
    ----------
    channels : pandas.DataFrame
        One row per acquisition channel with ``channel``, ``mean_clv`` (predicted CLV of
        a new customer from it), ``cac`` (acquisition cost per new customer, > 0) and
        optionally ``capacity`` (max new customers in the period; NaN or absent =
        unlimited).
    budget : float
        Acquisition budget, currency, >= 0.
    min_value_per_cost : float, default 1.0
        A channel is funded only when ``mean_clv / cac`` is strictly above this.

    Returns
    -------
    AcquisitionPlan
        ``table``: one row per channel in funding order (highest ``value_per_cost``
        first, ties in input order) with columns ``channel``, ``mean_clv``, ``cac``,
        ``capacity``, ``value_per_cost`` (``mean_clv / cac``), ``spend`` (currency),
        ``new_customers`` (``spend / cac``), ``expected_value``
        (``new_customers * mean_clv``) and ``net_value`` (``expected_value - spend``);
        ``unspent``: the budget left over; ``budget``: the budget.
    """
    _check_budget(budget)
    _require_columns(channels, ["channel", "mean_clv", "cac"], what="channels")
    mean_clv = channels["mean_clv"].to_numpy(dtype=float, na_value=np.nan)
    cac = channels["cac"].to_numpy(dtype=float, na_value=np.nan)
    capacity = (
        channels["capacity"].to_numpy(dtype=float, na_value=np.nan)
        if "capacity" in channels.columns
        else np.full(len(channels), np.nan)
    )
    if not np.all(np.isfinite(mean_clv)):
        raise ValueError("mean_clv must be a finite number for every channel")
    if not np.all(np.isfinite(cac) & (cac > 0)):
        raise ValueError(
            f"cac must be > 0 for every channel (a free channel has no CAC); got {cac}"
        )
    if np.any(capacity < 0):
        raise ValueError("capacity must be >= 0 (or NaN for unlimited)")

    value_per_cost = mean_clv / cac
    order = np.argsort(-value_per_cost, kind="stable")
    spend = np.zeros(len(channels))
    remaining = float(budget)
    for channel in order:
        if value_per_cost[channel] <= min_value_per_cost or remaining <= 0:
            continue
        limit = capacity[channel] * cac[channel] if np.isfinite(capacity[channel]) else np.inf
        spend[channel] = min(remaining, limit)
        remaining -= spend[channel]

    new_customers = spend / cac
    plan = pd.DataFrame(
        {
            "channel": channels["channel"].to_numpy(),
            "mean_clv": mean_clv,
            "cac": cac,
            "capacity": capacity,
            "value_per_cost": value_per_cost,
            "spend": spend,
            "new_customers": new_customers,
            "expected_value": new_customers * mean_clv,
            "net_value": new_customers * mean_clv - spend,
        }
    ).iloc[order]
    return AcquisitionPlan(
        table=plan.reset_index(drop=True), budget=float(budget), unspent=float(remaining)
    )


# --------------------------------------------------------------------------- helpers


def _allocation(
    customers: pd.DataFrame,
    rclv: np.ndarray,
    spend: np.ndarray,
    *,
    strategy: str,
    budget: float,
    curve: ResponseCurve,
    max_lift: float,
    notes: list[str],
    shadow_price: float = math.nan,
    scale_factor: float = math.nan,
) -> Allocation:
    base = rclv * max_lift
    table = customers.copy()
    table["spend"] = spend
    table["added_value"] = curve.value(base, spend)
    table["marginal_value"] = curve.marginal(base, spend)
    return Allocation(
        table=table,
        strategy=strategy,
        budget=float(budget),
        max_lift=float(max_lift),
        curve=curve,
        notes=tuple(notes),
        shadow_price=float(shadow_price),
        scale_factor=float(scale_factor),
    )


def _customer_rclv(customers: pd.DataFrame, *, allocating: bool = False):
    """Return validated rCLV per customer (negatives -> 0) and notes for the reader."""
    _require_columns(customers, ["customer_id", "rclv"], what="customers")
    if customers.empty:
        raise ValueError("customers is empty: there is nobody to allocate a budget to")
    _check_unique_ids(customers)
    if allocating:
        clashing = [column for column in ALLOCATION_COLUMNS if column in customers.columns]
        if clashing:
            raise ValueError(
                f"customers already has column(s) {clashing} (is it an allocation?); "
                "pass the per-customer CLV table"
            )
    rclv = customers["rclv"].to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(rclv)):
        bad = customers.loc[~np.isfinite(rclv), "customer_id"]
        raise ValueError(
            f"rclv is missing or infinite for {len(bad)} customers (e.g. "
            f"{list(bad[:3])}); fill it (0 for customers the model cannot score) or drop them"
        )
    notes = []
    negative = rclv < 0
    if negative.any():
        notes.append(
            f"{int(negative.sum())} customers have negative rCLV (lowest {rclv.min():.2f}); "
            "treated as 0: spend adds no value for them"
        )
        rclv = np.maximum(rclv, 0.0)
    return rclv, notes


def _align_allocation(
    allocation: pd.DataFrame, customer_ids: pd.Index, *, strategy: str
) -> pd.DataFrame:
    """Spend and added value of an allocation in the order of ``customer_ids``."""
    _require_columns(
        allocation, ["customer_id", "spend", "added_value"], what=f"allocation {strategy!r}"
    )
    indexed = allocation.set_index("customer_id")[["spend", "added_value"]]
    if indexed.index.has_duplicates:
        raise ValueError(f"allocation {strategy!r} has duplicated customer_id values")
    unknown = indexed.index.difference(customer_ids)
    if len(unknown):
        raise ValueError(
            f"allocation {strategy!r} has {len(unknown)} customers not in customers "
            f"(e.g. {list(unknown[:3])}); allocate on the same customer table"
        )
    return indexed.reindex(customer_ids, fill_value=0.0).reset_index(drop=True)


def _roi(value: float, spend: float) -> float:
    return (value - spend) / spend if spend > 0 else np.nan


def _gain(focused_value: float, centric_value: float) -> pd.Series:
    gain = centric_value - focused_value
    return pd.Series(
        {
            "focused_value": focused_value,
            "centric_value": centric_value,
            "gain": gain,
            "gain_pct": 100 * gain / focused_value if focused_value > 0 else np.nan,
        }
    )


def _curve_family(curve: str | Callable[[float], ResponseCurve]) -> Callable:
    families = {"exponential": ExponentialResponse, "hill": HillResponse}
    if callable(curve):
        return curve
    if curve in families:
        return families[curve]
    raise ValueError(
        f"curve must be one of {sorted(families)} or a function spend_scale -> ResponseCurve; "
        f"got {curve!r}"
    )


def _ceil_counts(values: pd.Series) -> pd.Series:
    # round first so 392.00000000000006 (float noise) is 392, not 393
    return np.ceil(values.round(9)).astype("Int64")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    require_columns(require_frame(frame, what=what), columns, what=what)


def _check_unique_ids(customers: pd.DataFrame) -> None:
    ids = customers["customer_id"]
    if ids.isna().any():
        raise ValueError(f"customer_id is missing in {int(ids.isna().sum())} rows")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"customer_id must be unique, {len(duplicated)} rows repeat one "
            f"(e.g. {list(duplicated.unique()[:3])}); aggregate to one row per customer first"
        )


def _check_allocation_options(*, budget: float, curve: ResponseCurve, max_lift: float) -> None:
    _check_budget(budget)
    if not isinstance(curve, ResponseCurve):
        raise TypeError(
            f"curve must be a ResponseCurve (value, marginal, inverse_marginal), e.g. "
            f"ExponentialResponse(spend_scale=50); got {curve!r}"
        )
    if not (_is_real(max_lift) and math.isfinite(max_lift) and max_lift > 0):
        raise ValueError(f"max_lift must be a finite number > 0, got {max_lift!r}")


def _check_budget(budget: float) -> None:
    if not (_is_real(budget) and math.isfinite(budget) and budget >= 0):
        raise ValueError(f"budget must be a finite number >= 0, got {budget!r}")


def _check_probability(name: str, value: float) -> None:
    if not (_is_real(value) and 0 < value < 1):
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

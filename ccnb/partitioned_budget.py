"""Budget allocations a partition of customers at a time, where the customers are.

The customer-centric optimum funds every customer up to one marginal value, the budget's
shadow price (:func:`ccnb.budget.customer_centric`). That price is one number of the whole
base: the driver searches it as :func:`ccnb.budget.customer_centric` does, each trial price a
sum of the customers' optimal spends over the partitions (`plan_allocation_on_spark`); each
partition then gives its customers their spend at that price (`allocate_partition`), and
`allocate_on_spark` runs that on the executors, writes the customers' allocation as parquet
and brings back the totals by group. The customer-focused split needs only the number of
customers. Definitions in docs/methodology.md, "Allocations in partitions".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from ccnb._checks import require_columns, require_unique_ids
from ccnb._response import (
    ResponseCurve,
    _Trial,
    budget_weight,
    narrowed_bracket,
    narrowed_brackets,
    shadow_price_bracket,
)

__all__ = [
    "STRATEGIES",
    "AllocationPlan",
    "PartitionedAllocation",
    "allocate_on_spark",
    "allocate_partition",
    "assign_holdout_on_spark",
    "break_even_on_spark",
    "funded_on_spark",
    "centric_gain_of_totals",
    "comparison_of_totals",
    "deciles_of_totals",
    "plan_allocation_on_spark",
    "plan_tiered",
    "plan_totals_on_spark",
    "ranked_by_rclv",
    "sensitivity_on_spark",
    "test_plan_on_spark",
    "tiers_from_totals",
]

#: the strategies a partition can allocate on its own once planned (tiered: `plan_tiered`)
STRATEGIES = ("customer_centric", "customer_focused")


@dataclass(frozen=True)
class AllocationPlan:
    """What every partition needs to give its customers their part of the budget.

    Attributes
    ----------
    strategy : {"customer_centric", "customer_focused", "tiered"}
        The allocation.
    budget : float
        Total budget.
    curve : ResponseCurve
        Response curve.
    max_lift : float
        Share of rCLV spending can add at saturation.
    levels : tuple of float
        Customer-centric: the shadow prices ``(lo, hi)`` a few ulps apart that bracket the
        budget; a customer's spend is ``s(hi) + weight (s(lo) - s(hi))``.
    weight : float
        See `levels`.
    spend_per_head : float
        Customer-focused: ``budget / customers``.
    tiers : mapping of str to float
        Tiered: each segment's spend per head before scaling (`by` holds the segment).
    scale_factor : float
        Tiered: the factor on `tiers` that spends the budget.
    by : str
        Tiered: the segment column.
    shadow_price : float
        Customer-centric: the value added by the last unit of budget.
    n_customers : int
        Customers in the base.
    negative_rclv : int
        Customers whose negative rCLV counts as 0.
    lowest_rclv : float
        The lowest rCLV.
    """

    strategy: str
    budget: float
    curve: ResponseCurve
    max_lift: float
    levels: tuple[float, float] = (math.nan, math.nan)
    weight: float = math.nan
    spend_per_head: float = math.nan
    tiers: Mapping[str, float] = field(default_factory=dict)
    scale_factor: float = math.nan
    by: str = "segment"
    shadow_price: float = math.nan
    n_customers: int = 0
    negative_rclv: int = 0
    lowest_rclv: float = math.nan
    unfunded_segments: tuple[str, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What a reader of the allocation should know, as :func:`ccnb.budget` says it."""
        notes = []
        if self.negative_rclv:
            notes.append(
                f"{self.negative_rclv} customers have negative rCLV (lowest "
                f"{self.lowest_rclv:.2f}); treated as 0: spend adds no value for them"
            )
        notes.extend(self.unfunded_segments)
        if self.strategy == "customer_centric" and self.budget > 0 and self.shadow_price < 1:
            notes.append(
                f"the last unit of budget adds {self.shadow_price:.3g} in value (< 1): the "
                "budget is larger than the break-even budget, so its last part loses money"
            )
        return tuple(notes)


def _base(frame: pd.DataFrame, max_lift: float) -> np.ndarray:
    return np.maximum(frame["rclv"].to_numpy(dtype=np.float64), 0.0) * max_lift


def allocate_partition(frame: pd.DataFrame, plan: AllocationPlan) -> pd.DataFrame:
    """Give some of the base's customers their spend under the whole base's plan.

    Parameters
    ----------
    frame : pandas.DataFrame
        Customers with ``customer_id`` and ``rclv`` (other columns passed through).
    plan : AllocationPlan
        The whole base's plan.

    Returns
    -------
    pandas.DataFrame
        `frame` plus ``spend``, ``added_value`` and ``marginal_value``, as in an
        :class:`ccnb.budget.Allocation`'s table.
    """
    base = _base(frame, plan.max_lift)
    curve = plan.curve
    if plan.strategy == "customer_focused":
        spend = np.full(len(frame), plan.spend_per_head)
    elif plan.strategy == "tiered":
        per_head = frame[plan.by].map(plan.tiers).astype("float64").fillna(0.0)
        spend = per_head.to_numpy() * plan.scale_factor
    elif plan.budget == 0:
        spend = np.zeros(len(frame))
    else:
        lo, hi = plan.levels
        at_hi = curve.inverse_marginal(base, hi)
        spend = at_hi + plan.weight * (curve.inverse_marginal(base, lo) - at_hi)
    table = frame.copy()
    table["spend"] = spend
    table["added_value"] = curve.value(base, spend)
    table["marginal_value"] = curve.marginal(base, spend)
    return table


def _partition_stats(batches, *, curve: ResponseCurve, max_lift: float):
    for frame in batches:
        rclv = frame["rclv"].to_numpy(dtype=np.float64)
        base = np.maximum(rclv, 0.0) * max_lift
        first_unit = curve.marginal(base[base > 0], 0.0)
        finite = first_unit[np.isfinite(first_unit)]
        yield pd.DataFrame(
            {
                "customers": [len(frame)],
                "not_finite": [int((~np.isfinite(rclv)).sum())],
                "negative": [int((rclv < 0).sum())],
                "lowest": [float(rclv.min()) if len(rclv) else math.inf],
                "fundable": [int((base > 0).sum())],
                "first_unit": [float(finite.max()) if finite.size else -math.inf],
                "any_first_unit": [float(first_unit.max()) if first_unit.size else -math.inf],
            }
        )


def _spend_at(batches, *, curve: ResponseCurve, max_lift: float, levels: Sequence[float]):
    for frame in batches:
        base = _base(frame, max_lift)
        spend = [float(curve.inverse_marginal(base, level).sum()) for level in levels]
        yield pd.DataFrame({"level": np.arange(len(levels)), "spend": spend})


def plan_allocation_on_spark(
    customers,
    *,
    strategy: str,
    budget: float,
    curve: ResponseCurve,
    max_lift: float,
) -> AllocationPlan:
    """Plan an allocation of a Spark table of customers; they never reach the driver.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        One row per customer: ``customer_id`` and ``rclv``.
    strategy : {"customer_centric", "customer_focused"}
        The allocation.
    budget : float
        Total budget, >= 0.
    curve : ResponseCurve
        Response curve.
    max_lift : float
        Share of a customer's rCLV that spending can add at saturation (> 0).

    Returns
    -------
    AllocationPlan
        Customer-centric: the shadow price searched as :func:`ccnb.budget.customer_centric`
        searches it, each trial one pass over the customers.

    Raises
    ------
    ValueError
        If a column is missing, rCLV is missing or infinite, the options are invalid, there
        are no customers, or (customer-centric, budget > 0) no customer has a positive rCLV.
    """
    from pyspark.sql import functions as F

    from ccnb.budget import _check_allocation_options

    require_columns(customers, ("customer_id", "rclv"), what="customers")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    _check_allocation_options(budget=budget, curve=curve, max_lift=max_lift)
    rclv = customers.select(F.col("rclv").cast("double").alias("rclv")).cache()
    try:
        stats = rclv.mapInPandas(
            partial(_partition_stats, curve=curve, max_lift=max_lift),
            "customers long, not_finite long, negative long, lowest double, fundable long, "
            "first_unit double, any_first_unit double",
        ).toPandas()
        n = int(stats["customers"].sum())
        if n == 0:
            raise ValueError("customers is empty: there is nobody to allocate a budget to")
        ids = customers.agg(F.countDistinct("customer_id")).first()[0]
        require_unique_ids(n, int(ids), what="customers")
        if stats["not_finite"].sum():
            raise ValueError(
                f"rclv is missing or infinite for {int(stats['not_finite'].sum())} customers; "
                "fill it (0 for customers the model cannot score) or drop them"
            )
        plan = AllocationPlan(
            strategy=strategy,
            budget=float(budget),
            curve=curve,
            max_lift=float(max_lift),
            n_customers=n,
            negative_rclv=int(stats["negative"].sum()),
            lowest_rclv=float(stats["lowest"].min()),
        )
        if strategy == "customer_focused":
            return replace(plan, spend_per_head=budget / n)
        if budget == 0:
            largest = stats["any_first_unit"].max()
            return replace(plan, shadow_price=max(float(largest), 0.0))
        start = _search_start(
            fundable=int(stats["fundable"].sum()), first_unit=float(stats["first_unit"].max())
        )

        def total_spends(levels: Sequence[float]) -> np.ndarray:
            spends = rclv.mapInPandas(
                partial(_spend_at, curve=curve, max_lift=max_lift, levels=list(levels)),
                "level long, spend double",
            )
            sums = spends.groupBy("level").agg(F.sum("spend").alias("spend")).toPandas()
            return sums.set_index("level")["spend"].reindex(range(len(levels))).to_numpy()

        lo, hi = shadow_price_bracket(
            lambda level: total_spends([level])[0],
            budget=budget,
            start=start,
            bracket=narrowed_bracket(total_spends, budget=budget, start=start),
        )
    finally:
        rclv.unpersist()
    weight = budget_weight(lo, hi, budget=budget)
    return replace(
        plan,
        levels=(lo.level, hi.level),
        weight=weight,
        shadow_price=hi.level - weight * (hi.level - lo.level),
    )


@dataclass(frozen=True)
class PartitionedAllocation:
    """What the budget report shows of an allocation made where the customers are.

    Attributes
    ----------
    plan : AllocationPlan
        The plan it was made with (shadow price, notes).
    by_group : pandas.DataFrame
        One row per group: ``customers``, ``funded`` (customers with spend > 0),
        ``spend``, ``added_value``, ``rclv`` (summed, negatives as given) and
        ``spend_per_head``.
    output : str
        Where the customers' allocation was written (parquet).
    group_by : tuple of str
        The columns `by_group` totals by.
    """

    plan: AllocationPlan
    by_group: pd.DataFrame
    output: str
    group_by: tuple[str, ...] = ("segment",)

    @property
    def added_value(self) -> float:
        """Total value the spend adds."""
        return float(self.by_group["added_value"].sum())


def _spark_allocation(batches, *, plan: AllocationPlan):
    for frame in batches:
        table = allocate_partition(frame, plan)
        # PySpark 4.0's Arrow converter does not take pandas 3's text columns
        text = table.select_dtypes(include=["str", "category"]).columns
        yield table.astype(dict.fromkeys(text, object))


def allocate_on_spark(
    customers, plan: AllocationPlan, *, output: str, group_by: Sequence[str] = ("segment",)
) -> PartitionedAllocation:
    """Allocate a Spark table of customers on the executors; the driver gets totals only.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The base planned with `plan` (``customer_id``, ``rclv`` and the `group_by` columns).
    plan : AllocationPlan
        From :func:`plan_allocation_on_spark`.
    output : str
        Folder (a path or URI the executors can write) for the customers' allocation as
        parquet (their columns plus ``spend``, ``added_value``, ``marginal_value``), sorted
        by ``customer_id`` across the files in name order; replaced.
    group_by : sequence of str, default ("segment",)
        Columns to total by.

    Returns
    -------
    PartitionedAllocation
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    group_by = list(group_by)
    require_columns(customers, ("customer_id", "rclv", *group_by), what="customers")
    columns = list(dict.fromkeys(["customer_id", "rclv", *group_by]))
    source = customers.select(*columns)
    schema = T.StructType(
        [
            *source.schema.fields,
            *(T.StructField(name, T.DoubleType()) for name in ("spend", "added_value")),
            T.StructField("marginal_value", T.DoubleType()),
        ]
    )
    # in customer order, as the in-memory allocation's rows: the export streams the files
    source.mapInPandas(partial(_spark_allocation, plan=plan), schema).orderBy(
        "customer_id"
    ).write.mode("overwrite").parquet(output)
    written = customers.sparkSession.read.parquet(output)
    by_group = (
        written.groupBy(*group_by)
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum((F.col("spend") > 0).cast("long")).alias("funded"),
            F.sum("spend").alias("spend"),
            F.sum("added_value").alias("added_value"),
            F.sum("rclv").alias("rclv"),
        )
        .toPandas()
        .sort_values(group_by, ignore_index=True)
    )
    by_group["spend_per_head"] = by_group["spend"] / by_group["customers"]
    return PartitionedAllocation(
        plan=plan, by_group=by_group, output=output, group_by=tuple(group_by)
    )


def tiers_from_totals(
    centric: PartitionedAllocation, *, round_to: float | None = 5
) -> pd.DataFrame:
    """:func:`ccnb.budget.tiers_from_optimum` of an optimum allocated on the executors.

    Parameters
    ----------
    centric : PartitionedAllocation
        The customer-centric allocation, totalled by one segment column.
    round_to : float or None, default 5
        Rounding step, as :func:`ccnb.budget.tiers_from_optimum` takes it (see
        :func:`ccnb.budget.tier_rounding_step` for a base where 5 rounds every tier to 0).

    Returns
    -------
    pandas.DataFrame
        :func:`ccnb.budget.tiers_from_optimum`'s table.
    """
    from ccnb.budget import _check_round_to, _tiers_table

    _check_round_to(round_to)
    (by,) = centric.group_by
    totals = centric.by_group.dropna(subset=[by]).set_index(by)
    tiers = pd.DataFrame(
        {
            "customers": totals["customers"].astype("int64"),
            "funded_customers": totals["funded"],
            "mean_spend": totals["spend"] / totals["customers"],
        }
    )
    return _tiers_table(tiers, round_to=round_to)


def plan_tiered(
    sizes: PartitionedAllocation,
    *,
    budget: float,
    spend_per_head: Mapping[str, float] | pd.Series,
    curve: ResponseCurve,
    max_lift: float,
) -> AllocationPlan:
    """Plan :func:`ccnb.budget.tiered` from the segment sizes of an allocation's totals.

    Parameters
    ----------
    sizes : PartitionedAllocation
        Any allocation of the same customers totalled by the segment column (its
        ``customers`` by segment, and its plan's negative-rCLV count, are what is used).
    budget, spend_per_head, curve, max_lift
        As :func:`ccnb.budget.tiered` takes them.

    Returns
    -------
    AllocationPlan
        ``tiers`` and the ``scale_factor`` that spends `budget`.

    Raises
    ------
    ValueError
        If a per-head amount is negative or no customer is in a segment with a positive one.
    """
    from ccnb.budget import _check_allocation_options

    _check_allocation_options(budget=budget, curve=curve, max_lift=max_lift)
    per_head = {key: float(value) for key, value in dict(spend_per_head).items()}
    negative = {key: value for key, value in per_head.items() if not value >= 0}
    if negative:
        raise ValueError(f"spend_per_head must be >= 0; got {negative}")
    (by,) = sizes.group_by
    counts = sizes.by_group.set_index(by)["customers"]
    notes = []
    for segment, size in counts.items():
        if pd.isna(segment):
            notes.append(f"{int(size)} customers have no {by}: 0 spend")
        elif segment not in per_head:
            notes.append(
                f"segment {segment!r} ({int(size)} customers) has no spend_per_head: 0 spend"
            )
    known = counts[[segment in per_head for segment in counts.index]]
    total_weight = float(sum(per_head[segment] * size for segment, size in known.items()))
    if total_weight <= 0:
        raise ValueError(
            f"no customer is in a segment with a positive spend_per_head; segments in the "
            f"data are {list(counts.index)}, spend_per_head has {per_head}"
        )
    return replace(
        sizes.plan,
        strategy="tiered",
        budget=float(budget),
        curve=curve,
        max_lift=float(max_lift),
        levels=(math.nan, math.nan),
        weight=math.nan,
        spend_per_head=math.nan,
        shadow_price=math.nan,
        tiers=per_head,
        scale_factor=budget / total_weight,
        by=by,
        unfunded_segments=tuple(notes),
    )


# --------------------------------------------------------------------------- sensitivity

#: a shadow price of the sensitivity grid is searched until its bracket is this narrow (log)
GRID_PRICE_WIDTH = 1e-12


def _grid_bases(frame: pd.DataFrame, cells: Sequence[tuple[ResponseCurve, float]]):
    rclv = np.maximum(frame["rclv"].to_numpy(dtype=np.float64), 0.0)
    return [rclv * max_lift for _, max_lift in cells]


def _grid_first_units(batches, *, cells: Sequence[tuple[ResponseCurve, float]]):
    for frame in batches:
        rows = []
        for index, base in enumerate(_grid_bases(frame, cells)):
            first_unit = cells[index][0].marginal(base[base > 0], 0.0)
            finite = first_unit[np.isfinite(first_unit)]
            rows.append(
                (
                    index,
                    len(base),
                    int((base > 0).sum()),
                    float(finite.max()) if finite.size else -math.inf,
                    float(first_unit.max()) if first_unit.size else -math.inf,
                )
            )
        yield pd.DataFrame(
            rows, columns=["cell", "customers", "fundable", "first_unit", "any_first_unit"]
        )


def _grid_spends(batches, *, cells, requests: Mapping[int, tuple[int, Sequence[float]]]):
    for frame in batches:
        bases = _grid_bases(frame, cells)
        rows = [
            (problem, position, float(cells[cell][0].inverse_marginal(bases[cell], level).sum()))
            for problem, (cell, levels) in requests.items()
            for position, level in enumerate(levels)
        ]
        yield pd.DataFrame(rows, columns=["problem", "position", "spend"])


def _grid_values(batches, *, cells, solved: Mapping[int, tuple]):
    for frame in batches:
        bases = _grid_bases(frame, cells)
        rows = []
        for problem, (cell, even_spend, lo, hi, weight) in solved.items():
            curve, base = cells[cell][0], bases[cell]
            if math.isnan(lo):  # a budget of 0: nothing spent
                spend = np.zeros_like(base)
            else:
                at_hi = curve.inverse_marginal(base, hi)
                spend = at_hi + weight * (curve.inverse_marginal(base, lo) - at_hi)
            rows.append(
                (
                    problem,
                    float(curve.value(base, even_spend).sum()),
                    float(curve.value(base, spend).sum()),
                )
            )
        yield pd.DataFrame(rows, columns=["problem", "focused_value", "centric_value"])


def _solve_grid(rclv, *, cells, problems, stats: pd.DataFrame) -> dict[int, tuple]:
    """Each grid problem's ``(cell, even spend, lo, hi, weight)``; lo is NaN for budget 0."""
    searched = {
        problem: _search_start(
            fundable=int(stats.loc[cell, "fundable"]),
            first_unit=float(stats.loc[cell, "first_unit"]),
        )
        for problem, (cell, grid_budget) in enumerate(problems)
        if grid_budget > 0
    }
    order = list(searched)

    def total_spends(requests: Mapping[int, Sequence[float]]) -> dict[int, np.ndarray]:
        asked = {
            order[index]: (problems[order[index]][0], list(levels))
            for index, levels in requests.items()
        }
        sums = _summed(
            rclv,
            partial(_grid_spends, cells=cells, requests=asked),
            "problem long, position long, spend double",
            ["problem", "position"],
        )["spend"]
        return {
            index: sums.loc[order[index]].reindex(range(len(levels))).to_numpy()
            for index, levels in requests.items()
        }

    brackets = narrowed_brackets(
        total_spends,
        budgets=[problems[problem][1] for problem in order],
        starts=[searched[problem] for problem in order],
        width=GRID_PRICE_WIDTH,
    )
    found = dict(zip(order, brackets, strict=True))
    solved = {}
    for problem, (cell, grid_budget) in enumerate(problems):
        even_spend = grid_budget / int(stats.loc[cell, "customers"])
        if problem not in found:  # a budget of 0: nothing to search
            solved[problem] = (cell, even_spend, math.nan, math.nan, math.nan)
            continue
        (lo, total_lo), (hi, total_hi) = found[problem]
        weight = budget_weight(
            _Trial(lo, None, total_lo - grid_budget),
            _Trial(hi, None, total_hi - grid_budget),
            budget=grid_budget,
        )
        solved[problem] = (cell, even_spend, lo, hi, weight)
    return solved


def _search_start(*, fundable: int, first_unit: float) -> float:
    """The first shadow price tried: the most a first unit is worth (1 when none is finite).

    Raises when no customer can be funded (every rCLV 0), as the in-memory allocator does.
    """
    if not fundable:
        raise ValueError(
            "every customer has rCLV 0, so no spend adds value and there is no optimal "
            "allocation; check the CLV model output or use the customer-focused split"
        )
    return first_unit if math.isfinite(first_unit) and first_unit > 0 else 1.0


def _summed(frame, function: Callable, schema: str, keys: Sequence[str]) -> pd.DataFrame:
    """The partitions' rows of ``function`` summed by ``keys`` on the driver (few rows)."""
    return frame.mapInPandas(function, schema).toPandas().groupby(list(keys)).sum()


def sensitivity_on_spark(
    customers,
    *,
    budget: float,
    max_lifts: Iterable[float],
    spend_scales: Iterable[float],
    budgets: Iterable[float] | None = None,
    curve: str | Callable[[float], ResponseCurve] = "exponential",
) -> pd.DataFrame:
    """:func:`ccnb.budget.sensitivity` of a Spark table of customers, summed by its partitions.

    Every grid point's shadow price is searched as :func:`plan_allocation_on_spark` searches
    one, all points in the same passes over the customers (`narrowed_brackets`), down to a
    bracket `GRID_PRICE_WIDTH` wide in log; one more pass sums each point's added values
    with the spend interpolated inside its bracket to spend the budget exactly.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        One row per customer with ``customer_id`` and ``rclv``.
    budget, max_lifts, spend_scales, budgets, curve
        As :func:`ccnb.budget.sensitivity` takes them.

    Returns
    -------
    pandas.DataFrame
        :func:`ccnb.budget.sensitivity`'s grid: the same values to about 1e-12 relative
        (the shadow price to the bracket's width).
    """
    from pyspark.sql import functions as F

    from ccnb.budget import (
        _check_allocation_options,
        _check_budget,
        _curve_family,
        _sensitivity_row,
    )

    require_columns(customers, ("customer_id", "rclv"), what="customers")
    make_curve = _curve_family(curve)
    grid_budgets = sorted({float(budget), *(float(value) for value in budgets or ())})
    for value in grid_budgets:
        _check_budget(value)
    spend_scales, max_lifts = list(spend_scales), list(max_lifts)
    cells = [
        (make_curve(spend_scale), max_lift)
        for spend_scale in spend_scales
        for max_lift in max_lifts
    ]
    for response, max_lift in cells:
        _check_allocation_options(budget=0.0, curve=response, max_lift=max_lift)
    rclv = customers.select(F.col("rclv").cast("double").alias("rclv")).cache()
    try:
        stats = (
            rclv.mapInPandas(
                partial(_grid_first_units, cells=cells),
                "cell long, customers long, fundable long, first_unit double, "
                "any_first_unit double",
            )
            .toPandas()
            .groupby("cell")
            .agg(
                customers=("customers", "sum"),
                fundable=("fundable", "sum"),
                first_unit=("first_unit", "max"),
                any_first_unit=("any_first_unit", "max"),
            )
        )
        if not stats["customers"].iloc[0]:
            raise ValueError("customers is empty: there is nobody to allocate a budget to")
        problems = [(cell, value) for cell in range(len(cells)) for value in grid_budgets]
        solved = _solve_grid(rclv, cells=cells, problems=problems, stats=stats)
        values = _summed(
            rclv,
            partial(_grid_values, cells=cells, solved=solved),
            "problem long, focused_value double, centric_value double",
            ["problem"],
        )
    finally:
        rclv.unpersist()
    rows = []
    for problem, (cell, grid_budget) in enumerate(problems):
        max_lift = cells[cell][1]
        _, _, lo, hi, weight = solved[problem]
        shadow_price = (
            max(float(stats.loc[cell, "any_first_unit"]), 0.0)
            if math.isnan(lo)
            else hi - weight * (hi - lo)
        )
        rows.append(
            _sensitivity_row(
                max_lift=max_lift,
                spend_scale=spend_scales[cell // len(max_lifts)],
                budget=grid_budget,
                focused_value=float(values.loc[problem, "focused_value"]),
                centric_value=float(values.loc[problem, "centric_value"]),
                shadow_price=shadow_price,
            )
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- totals


def ranked_by_rclv(customers):
    """A Spark table of customers with ``decile``, as :func:`ccnb.budget.allocation_by_decile`.

    Customers are ranked by rCLV (negatives as 0), highest first, ties by ``customer_id``
    (the order of the in-memory table), and cut into ten groups of equal size: decile
    ``position * 10 div customers + 1``. The rank is one ordered window over every
    customer (one Spark task), as the audit's ranking of buyers.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    require_columns(customers, ("customer_id", "rclv"), what="customers")
    count = customers.count()
    clipped = F.greatest(F.col("rclv").cast("double"), F.lit(0.0))
    order = Window.orderBy(clipped.desc(), F.col("customer_id").asc())
    return (
        customers.withColumn("_position", F.row_number().over(order) - 1)
        .withColumn("decile", F.expr(f"_position * 10 div {count} + 1"))
        .drop("_position")
    )


_TOTALS_SCHEMA = (
    "strategy string, {by} string, decile long, customers long, funded long, spend double, "
    "added_value double, rclv double, equity double, rclv_min double, rclv_max double"
)


def _plan_totals(batches, *, plans: Mapping[str, AllocationPlan], by: str):
    for frame in batches:
        clipped = np.maximum(frame["rclv"].to_numpy(dtype=np.float64), 0.0)
        groups = pd.DataFrame(
            {
                by: frame[by].astype(object),
                "decile": frame["decile"].to_numpy(),
                "rclv": frame["rclv"].to_numpy(dtype=np.float64),
                "equity": clipped,
            }
        )
        for strategy, plan in plans.items():
            allocated = allocate_partition(frame[["customer_id", "rclv", by]], plan)
            totals = (
                groups.assign(
                    funded=(allocated["spend"] > 0).to_numpy(dtype=np.int64),
                    spend=allocated["spend"].to_numpy(),
                    added_value=allocated["added_value"].to_numpy(),
                )
                .groupby([by, "decile"], dropna=False)
                .agg(
                    customers=("rclv", "size"),
                    funded=("funded", "sum"),
                    spend=("spend", "sum"),
                    added_value=("added_value", "sum"),
                    rclv=("rclv", "sum"),
                    equity=("equity", "sum"),
                    rclv_min=("equity", "min"),
                    rclv_max=("equity", "max"),
                )
                .reset_index()
            )
            totals.insert(0, "strategy", strategy)
            yield totals.astype({"strategy": object, by: object})


def plan_totals_on_spark(
    customers, plans: Mapping[str, AllocationPlan], *, by: str = "segment"
) -> pd.DataFrame:
    """Several plans of one Spark table of customers, totalled by segment and rCLV decile.

    One pass over the customers: each partition gives its customers their spend under each
    plan (`allocate_partition`) and sums by segment and decile; the driver gets those sums.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        One row per customer: ``customer_id``, ``rclv``, the `by` column and ``decile``
        (:func:`ranked_by_rclv`).
    plans : mapping of str to AllocationPlan
        Strategy name -> a plan of these customers.
    by : str, default "segment"
        The segment column.

    Returns
    -------
    pandas.DataFrame
        One row per strategy, segment and decile (in that order): ``customers``, ``funded``
        (spend > 0), ``spend``, ``added_value``, ``rclv`` (summed as given), ``equity``
        (rCLV summed with negatives as 0) and ``rclv_min``, ``rclv_max`` (negatives as 0).
    """
    require_columns(customers, ("customer_id", "rclv", by, "decile"), what="customers")
    source = customers.select(
        "customer_id", customers["rclv"].cast("double").alias("rclv"), by, "decile"
    )
    sums = source.mapInPandas(
        partial(_plan_totals, plans=dict(plans), by=by), _TOTALS_SCHEMA.format(by=by)
    ).toPandas()
    keys = ["strategy", by, "decile"]
    totals = sums.groupby(keys, dropna=False, sort=False).agg(
        customers=("customers", "sum"),
        funded=("funded", "sum"),
        spend=("spend", "sum"),
        added_value=("added_value", "sum"),
        rclv=("rclv", "sum"),
        equity=("equity", "sum"),
        rclv_min=("rclv_min", "min"),
        rclv_max=("rclv_max", "max"),
    )
    order = {strategy: position for position, strategy in enumerate(plans)}
    totals = totals.reset_index()
    totals["_order"] = totals["strategy"].map(order)
    return totals.sort_values(["_order", by, "decile"], ignore_index=True).drop(columns="_order")


def _strategy_totals(totals: pd.DataFrame, strategy: str) -> pd.DataFrame:
    chosen = totals[totals["strategy"] == strategy]
    if chosen.empty:
        raise ValueError(f"no totals for strategy {strategy!r}")
    return chosen


def comparison_of_totals(
    totals: pd.DataFrame, strategies: Mapping[str, str], *, budget: float
) -> pd.DataFrame:
    """:func:`ccnb.budget.compare` from :func:`plan_totals_on_spark`'s totals.

    Parameters
    ----------
    totals : pandas.DataFrame
        From :func:`plan_totals_on_spark`.
    strategies : mapping of str to str
        Name in the table -> the strategy's name in `totals`, in the table's order.
    budget : float
        As :func:`ccnb.budget.compare` takes it.
    """
    from ccnb.budget import _comparison

    sums = {}
    for name, strategy in strategies.items():
        chosen = _strategy_totals(totals, strategy)
        sums[name] = {
            "customers": int(chosen["customers"].sum()),
            "customers_reached": int(chosen["funded"].sum()),
            "spend": float(chosen["spend"].sum()),
            "added_value": float(chosen["added_value"].sum()),
        }
    return _comparison(sums, budget=budget)


def centric_gain_of_totals(totals: pd.DataFrame, *, focused: str, centric: str) -> pd.Series:
    """:func:`ccnb.budget.centric_gain` of two strategies in `plan_totals_on_spark`'s totals."""
    from ccnb.budget import _spent_alike_gain

    chosen = [_strategy_totals(totals, strategy) for strategy in (focused, centric)]
    return _spent_alike_gain(
        spends=tuple(float(table["spend"].sum()) for table in chosen),
        values=tuple(float(table["added_value"].sum()) for table in chosen),
    )


def deciles_of_totals(totals: pd.DataFrame, strategies: Mapping[str, str]) -> pd.DataFrame:
    """:func:`ccnb.budget.allocation_by_decile` from `plan_totals_on_spark`'s totals.

    Parameters
    ----------
    totals : pandas.DataFrame
        From :func:`plan_totals_on_spark`.
    strategies : mapping of str to str
        Name in the table -> the strategy's name in `totals`.
    """
    from ccnb.budget import _decile_table

    first = _strategy_totals(totals, next(iter(strategies.values())))
    summary = first.groupby("decile").agg(
        customers=("customers", "sum"),
        rclv_min=("rclv_min", "min"),
        rclv_max=("rclv_max", "max"),
        equity=("equity", "sum"),
    )
    by_strategy = {
        name: _strategy_totals(totals, strategy).groupby("decile")[["spend", "added_value"]].sum()
        for name, strategy in strategies.items()
    }
    return _decile_table(summary, by_strategy)


# --------------------------------------------------------------------------- test plan


def _tier_moments(batches, *, plan: AllocationPlan, by: str, outcome: str, expected: str, pool):
    for frame in batches:
        allocated = allocate_partition(frame[["customer_id", "rclv", by]], plan)
        treated = (allocated["spend"] > 0).to_numpy()
        rclv = frame["rclv"].to_numpy(dtype=np.float64)
        added = allocated["added_value"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):  # rCLV <= 0: no relative lift
            relative = np.where(rclv > 0, added / rclv, 0.0)
        tiers = pd.DataFrame(
            {
                "tier": frame[by].astype(object).to_numpy(),
                "outcome": frame[outcome].to_numpy(dtype=np.float64),
                "effect": frame[expected].to_numpy(dtype=np.float64) * relative,
            }
        )[treated]
        if pool is not None:
            pooled = tiers[tiers["effect"] > 0].assign(tier=pool)
            tiers = pd.concat([tiers, pooled], ignore_index=True)
        grouped = tiers.groupby("tier", sort=False, dropna=False)
        moments = grouped.agg(
            customers=("outcome", "size"),
            mean=("outcome", "mean"),
            effect=("effect", "sum"),
        )
        centred = tiers["outcome"] - tiers["tier"].map(moments["mean"]).to_numpy()
        moments["m2"] = (centred**2).groupby(tiers["tier"].to_numpy(), dropna=False).sum()
        yield moments.reset_index().astype({"tier": object})


def _combined_moments(moments: pd.DataFrame) -> pd.DataFrame:
    """Each tier's count, mean, ``ddof=1`` deviation and mean effect from the partitions'.

    Chan et al.'s pairwise update: the squared deviations about each part's own mean plus
    the parts' spread about the whole mean.
    """
    rows = []
    for tier, parts in moments.groupby("tier", sort=False, dropna=False):
        count = int(parts["customers"].sum())
        mean = float((parts["customers"] * parts["mean"]).sum() / count)
        m2 = float(parts["m2"].sum() + (parts["customers"] * (parts["mean"] - mean) ** 2).sum())
        rows.append(
            {
                "tier": tier,
                "customers": count,
                "mean_revenue": mean,
                "sd_revenue": math.sqrt(m2 / (count - 1)) if count > 1 else math.nan,
                "mean_effect": float(parts["effect"].sum()) / count,
            }
        )
    return pd.DataFrame(rows)


def test_plan_on_spark(
    customers,
    plan: AllocationPlan,
    *,
    outcome: str,
    expected: str,
    by: str = "segment",
    alpha: float = 0.05,
    power: float = 0.8,
    holdout_share: float | None = None,
    pool: str | None = None,
) -> pd.DataFrame:
    """:func:`ccnb.budget.test_plan` of the customers a plan spends on, from partition sums.

    Each partition gives its customers their spend under `plan`, keeps those it spends on,
    and sums each tier's outcome moments and the plan's expected effect, ``expected *
    added_value / rclv`` (0 where rCLV <= 0), as the analysis' ``test_customers`` makes it;
    the driver combines the moments and plans the test.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The plan's customers: ``customer_id``, ``rclv``, `by`, `outcome` and `expected`.
    plan : AllocationPlan
        The plan tested.
    outcome : str
        Column of the outcome per customer (revenue in the test window).
    expected : str
        Column of the expected outcome without the plan's spend.
    by, alpha, power, holdout_share, pool
        As :func:`ccnb.budget.test_plan` takes them (``effect`` given, so the pool holds
        the customers with a positive effect).

    Returns
    -------
    pandas.DataFrame
        :func:`ccnb.budget.test_plan`'s table.
    """
    from ccnb.budget import _check_test_options, _plan_of_tiers

    _check_test_options(alpha=alpha, power=power, holdout_share=holdout_share)
    require_columns(customers, ("customer_id", "rclv", by, outcome, expected), what="customers")
    source = customers.select(
        "customer_id",
        customers["rclv"].cast("double").alias("rclv"),
        by,
        customers[outcome].cast("double").alias(outcome),
        customers[expected].cast("double").alias(expected),
    )
    moments = source.mapInPandas(
        partial(_tier_moments, plan=plan, by=by, outcome=outcome, expected=expected, pool=pool),
        "tier string, customers long, mean double, effect double, m2 double",
    ).toPandas()
    stats = _combined_moments(moments).rename(columns={"tier": by})
    return _plan_of_tiers(
        stats,
        tier_column=by,
        ordered=True,
        pool=pool,
        lift=None,
        alpha=alpha,
        power=power,
        holdout_share=holdout_share,
    )


test_plan_on_spark.__test__ = False  # a planning function, not a test


def assign_holdout_on_spark(customers, *, holdout_share: float, seed: int, by: str = "segment"):
    """:func:`ccnb.budget.assign_holdout` of a Spark table of customers, drawn by Spark.

    The same keys (`ccnb.budget.holdout_key`: an MD5 every engine computes alike) and the
    same rule: in each stratum the ``round(n * holdout_share)`` smallest keys (ties by
    ``customer_id``) are held out, so the split is the in-memory one.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        One row per customer with ``customer_id`` and `by`.
    holdout_share, seed, by
        As :func:`ccnb.budget.assign_holdout` takes them.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id``, `by` and ``group`` ("treatment" or "holdout"), unordered.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from ccnb.budget import HOLDOUT_KEY_DIGITS, _check_probability

    _check_probability("holdout_share", holdout_share)
    require_columns(customers, ("customer_id", by), what="customers")
    salted = F.concat(F.lit(f"{seed}:holdout:"), F.col("customer_id").cast("string"))
    key = F.substring(F.md5(salted), 1, HOLDOUT_KEY_DIGITS)
    stratum = Window.partitionBy(by)
    rank = F.row_number().over(stratum.orderBy(key, F.col("customer_id")))
    size = F.count(F.lit(1)).over(stratum)
    held = rank <= F.floor(size * F.lit(float(holdout_share)) + F.lit(0.5))
    return customers.select(
        "customer_id", by, F.when(held, "holdout").otherwise("treatment").alias("group")
    )


def break_even_on_spark(customers, *, curve: ResponseCurve, max_lift: float) -> float:
    """:func:`ccnb.budget.break_even_budget` of a Spark table of customers: one pass.

    The optimal allocation's total at shadow price 1, summed by the partitions.
    """
    from pyspark.sql import functions as F

    from ccnb.budget import _check_allocation_options

    require_columns(customers, ("customer_id", "rclv"), what="customers")
    _check_allocation_options(budget=0.0, curve=curve, max_lift=max_lift)
    rclv = customers.select(F.col("rclv").cast("double").alias("rclv"))
    spends = rclv.mapInPandas(
        partial(_spend_at, curve=curve, max_lift=max_lift, levels=[1.0]),
        "level long, spend double",
    ).toPandas()
    return float(spends["spend"].sum())


def _funded(batches, *, plan: AllocationPlan, columns: Sequence[str]):
    for frame in batches:
        allocated = allocate_partition(frame[["customer_id", "rclv", plan.by]], plan)
        kept = frame.loc[(allocated["spend"] > 0).to_numpy(), list(columns)]
        text = kept.select_dtypes(include=["str", "category"]).columns
        yield kept.astype(dict.fromkeys(text, object))


def funded_on_spark(customers, plan: AllocationPlan, *, columns: Sequence[str]):
    """The customers of a Spark table that `plan` spends on (spend > 0), as a Spark table.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The plan's customers: ``customer_id``, ``rclv``, the plan's segment column and
        `columns`.
    plan : AllocationPlan
        The plan.
    columns : sequence of str
        The columns kept.

    Returns
    -------
    pyspark.sql.DataFrame
        `columns` of the funded customers (lazy: each partition allocates its own).
    """
    needed = list(dict.fromkeys(["customer_id", "rclv", plan.by, *columns]))
    require_columns(customers, needed, what="customers")
    source = customers.select(*needed)
    schema = source.select(*columns).schema
    return source.mapInPandas(partial(_funded, plan=plan, columns=list(columns)), schema)

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import pandas as pd

from ccnb._checks import require_columns, require_unique_ids
from ccnb._response import (
    ResponseCurve,
    budget_weight,
    narrowed_bracket,
    shadow_price_bracket,
)

__all__ = [
    "STRATEGIES",
    "AllocationPlan",
    "PartitionedAllocation",
    "allocate_on_spark",
    "allocate_partition",
    "plan_allocation_on_spark",
    "plan_tiered",
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
        if not stats["fundable"].sum():
            raise ValueError(
                "every customer has rCLV 0, so no spend adds value and there is no optimal "
                "allocation; check the CLV model output or use the customer-focused split"
            )
        start = float(stats["first_unit"].max())
        start = start if math.isfinite(start) and start > 0 else 1.0

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
        parquet (their columns plus ``spend``, ``added_value``, ``marginal_value``); replaced.
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
    source.mapInPandas(partial(_spark_allocation, plan=plan), schema).write.mode(
        "overwrite"
    ).parquet(output)
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

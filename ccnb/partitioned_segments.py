"""RFM scores and segments a partition of customers at a time, where the customers are.

A customer's RFM scores rank them against the whole base, but only through a few numbers of
that base: each score's edges, the values a customer must exceed to reach scores 2, 3...
(:func:`ccnb.rfm.score_edges`, exact order statistics). The driver computes those once
(`plan_segments_on_spark`, or `plan_segments` for a table in memory); each partition then
scores and segments its own customers with the same rules as :func:`ccnb.rfm.score` and
:func:`ccnb.rfm.segment` (`segment_partition`), and `segment_on_spark` runs that on the
executors, writes the customers' segments as parquet and brings back only what the
segmentation report shows: the segment summary with exact medians, the frequency score's
ranges and the R x F corner. Definitions in docs/methodology.md, "Segments in partitions".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccnb import rfm
from ccnb._checks import require_columns, require_unique_ids
from ccnb.order_statistics import DEFAULT_ACCURACY, order_statistics_on_spark

__all__ = [
    "PartitionedSegments",
    "SegmentPlan",
    "plan_segments",
    "plan_segments_on_spark",
    "read_segments",
    "segment_on_spark",
    "segment_partition",
]

#: the text columns of a partition's segments (categorical in pandas, strings in parquet)
TEXT_COLUMNS = ("rfm_cell", "segment", "segment_description", "tactic")


@dataclass(frozen=True)
class SegmentPlan:
    """What every partition needs to score and segment its customers as the whole base.

    Attributes
    ----------
    bins : int
        Score scale.
    scheme : ccnb.rfm.SegmentScheme
        The segment rules, resolved.
    edges : mapping of str to tuple of float
        ``{"R": ..., "F": ..., "M": ...}``: the whole base's :func:`ccnb.rfm.score_edges`.
    n_customers : int
        Customers in the base.
    """

    bins: int
    scheme: rfm.SegmentScheme
    edges: Mapping[str, tuple[float, ...]]
    n_customers: int


def plan_segments(
    summary: pd.DataFrame,
    *,
    bins: int = 5,
    scheme: str | rfm.SegmentScheme | Sequence[Mapping[str, Any]] = "value_tiers",
) -> SegmentPlan:
    """Plan from a customer summary held in memory (the edges :func:`ccnb.rfm.score` uses).

    Parameters
    ----------
    summary : pandas.DataFrame
        The whole base, as :func:`ccnb.rfm.score` takes it.
    bins : int, default 5
        Score scale.
    scheme : str, SegmentScheme or list of dict, default "value_tiers"
        As :func:`ccnb.rfm.segment` takes it.

    Returns
    -------
    SegmentPlan
    """
    bins = rfm.check_score_inputs(summary, bins=bins)
    edges = {
        key: tuple(rfm.score_edges(rfm.worst_first(summary, key), bins=bins))
        for key in rfm.SCORE_COLUMNS
    }
    return SegmentPlan(
        bins=bins,
        scheme=rfm.resolve_scheme(scheme, bins=bins),
        edges=edges,
        n_customers=len(summary),
    )


def plan_segments_on_spark(
    customers,
    *,
    bins: int = 5,
    scheme: str | rfm.SegmentScheme | Sequence[Mapping[str, Any]] = "value_tiers",
    accuracy: int = DEFAULT_ACCURACY,
) -> SegmentPlan:
    """Plan from a Spark table of customers: the edges as exact order statistics.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The whole base: ``customer_id``, ``days_since_last``, ``orders``, ``revenue``.
    bins : int, default 5
        Score scale.
    scheme : str, SegmentScheme or list of dict, default "value_tiers"
        As :func:`ccnb.rfm.segment` takes it.
    accuracy : int, optional
        Passed to :func:`ccnb.order_statistics.order_statistics_on_spark`; never changes
        the edges.

    Returns
    -------
    SegmentPlan
        Equal to :func:`plan_segments` of the same customers in memory.

    Raises
    ------
    ValueError
        If a column is missing, has missing values, a customer id repeats or there are no
        customers (the checks of :func:`ccnb.rfm.score`).
    """
    from pyspark.sql import functions as F

    require_columns(customers, ("customer_id", *rfm.RFM_INPUTS), what="customers")
    scheme = rfm.resolve_scheme(scheme, bins=bins)
    counts = customers.agg(
        F.count(F.lit(1)).alias("n"),
        F.countDistinct("customer_id").alias("ids"),
        *(F.sum(F.col(name).isNull().cast("long")).alias(name) for name in rfm.RFM_INPUTS),
    ).first()
    n = int(counts["n"])
    if n == 0:
        raise ValueError("customers has no rows; RFM scores need at least one customer")
    require_unique_ids(
        n,
        int(counts["ids"]),
        what="customers",
        hint="Aggregate transactions with ccnb.summary first.",
    )
    missing = {name: int(counts[name]) for name in rfm.RFM_INPUTS if counts[name]}
    if missing:
        raise ValueError(f"customers has missing values: {missing}")
    # rfm.worst_first's values, the three scores stacked so that one pass orders them all
    worst_first = {
        "R": -F.col(rfm.SCORE_INPUT["R"]),
        **{key: F.col(rfm.SCORE_INPUT[key]) for key in ("F", "M")},
    }
    stacked = _stacked(customers, worst_first, keep=[])

    def wanted(n_rows: int) -> list[int]:
        return [int(p) for p in rfm.edge_positions(n_rows, bins=bins) if p >= 0]

    at = order_statistics_on_spark(
        stacked, value="value", by=["name"], positions=wanted, accuracy=accuracy
    )
    edges = {}
    for key in rfm.SCORE_COLUMNS:
        rows = at[at["name"] == key]
        values = dict(zip(rows["position"], rows["value"], strict=True))
        edges[key] = tuple(
            values[int(p)] if p >= 0 else -np.inf for p in rfm.edge_positions(n, bins=bins)
        )
    return SegmentPlan(bins=bins, scheme=scheme, edges=edges, n_customers=n)


def _stacked(table, values: Mapping[str, Any], *, keep: list[str]):
    """One row per row of `table` and value: ``keep``, ``name`` (the value's), ``value``."""
    from pyspark.sql import functions as F

    pairs = [
        F.struct(F.lit(name).alias("name"), column.cast("double").alias("value"))
        for name, column in values.items()
    ]
    return table.select(*keep, F.explode(F.array(*pairs)).alias("_pair")).select(
        *keep, "_pair.name", "_pair.value"
    )


def segment_partition(frame: pd.DataFrame, plan: SegmentPlan) -> pd.DataFrame:
    """Score and segment some of the base's customers as the whole base would be.

    Parameters
    ----------
    frame : pandas.DataFrame
        Customers (``customer_id``, ``days_since_last``, ``orders``, ``revenue``).
    plan : SegmentPlan
        The whole base's plan.

    Returns
    -------
    pandas.DataFrame
        :func:`ccnb.rfm.segment` of :func:`ccnb.rfm.score`'s columns, for these customers:
        the rows the whole base's table has for them.
    """
    scores = rfm.score_by_edges(frame, edges=plan.edges, bins=plan.bins)
    return rfm.segment(scores, scheme=plan.scheme, bins=plan.bins)


@dataclass(frozen=True)
class PartitionedSegments:
    """What the segmentation report shows of a base segmented where its customers are.

    Attributes
    ----------
    summary : pandas.DataFrame
        :func:`ccnb.rfm.segment_summary`'s table; medians exact.
    recency : pandas.DataFrame
        :func:`ccnb.rfm.segment_recency`: lapsed and recent customers by segment.
    frequency_ranges : pandas.DataFrame
        :func:`ccnb.rfm.score_ranges` of F.
    corner : pandas.Series
        :func:`ccnb.rfm.corner_share`.
    grid : pandas.DataFrame
        :func:`ccnb.rfm.score_grid`: customers and net revenue of each R x F cell.
    concentration : pandas.DataFrame
        :func:`ccnb.rfm.concentration_curve` at `ccnb.rfm.CONCENTRATION_SHARES` of the
        customers (``customer_share`` 0.001 ... 0.009, 0.01, 0.02 ... 1, ``revenue_share``),
        from (0, 0).
    top_share : float
        :func:`ccnb.rfm.top_share`: the best customers' share of net revenue.
    output : str
        Where the customers' segments were written (parquet; :func:`read_segments`).
    plan : SegmentPlan
        The plan the base was segmented by.
    """

    summary: pd.DataFrame
    recency: pd.DataFrame
    frequency_ranges: pd.DataFrame
    corner: pd.Series
    grid: pd.DataFrame
    concentration: pd.DataFrame
    top_share: float
    output: str
    plan: SegmentPlan


def _spark_segments(batches, *, plan: SegmentPlan):
    for frame in batches:
        segments = segment_partition(frame, plan)
        # PySpark 4.0's Arrow converter takes neither categoricals nor pandas 3's text
        yield segments.astype(dict.fromkeys(TEXT_COLUMNS, object))


def segment_on_spark(
    customers,
    plan: SegmentPlan,
    *,
    output: str,
    lapsed_after_days: int,
    recent_days: int,
    corner_score: int = 4,
    top: float = 0.2,
) -> PartitionedSegments:
    """Segment a Spark table of customers on the executors; the driver gets aggregates only.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The base planned with `plan`.
    plan : SegmentPlan
        From :func:`plan_segments_on_spark`.
    output : str
        Folder (a path or URI the executors can write) for the customers' segments as
        parquet, one row per customer with :func:`ccnb.rfm.segment`'s columns; replaced.
    lapsed_after_days, recent_days : int
        As :func:`ccnb.rfm.segment_recency` takes them.
    corner_score : int, default 4
        The R x F corner holds customers with both scores at least this
        (:func:`ccnb.rfm.corner_share`).
    top : float, default 0.2
        Share of customers, best first, whose share of revenue `top_share` gives
        (:func:`ccnb.rfm.top_share`).

    Returns
    -------
    PartitionedSegments
    """
    from functools import partial

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    source = {column.name: column.dataType for column in customers.schema.fields}
    schema = T.StructType(
        [
            *(T.StructField(name, source[name]) for name in ("customer_id", *rfm.RFM_INPUTS)),
            *(T.StructField(name, T.LongType()) for name in rfm.SCORE_COLUMNS),
            T.StructField("rfm_cell", T.StringType()),
            T.StructField("rfm_score", T.LongType()),
            *(T.StructField(name, T.StringType()) for name in TEXT_COLUMNS[1:]),
        ]
    )
    inputs = customers.select("customer_id", *rfm.RFM_INPUTS)
    inputs.mapInPandas(partial(_spark_segments, plan=plan), schema).write.mode("overwrite").parquet(
        output
    )
    segments = customers.sparkSession.read.parquet(output)

    names = plan.scheme.segment_names
    totals = (
        segments.groupBy("segment")
        .agg(F.count(F.lit(1)).alias("customers"), F.sum("revenue").alias("revenue"))
        .toPandas()
        .set_index("segment")
        .reindex(names)
    )
    middle = order_statistics_on_spark(
        _stacked(segments, {name: F.col(name) for name in rfm.RFM_INPUTS}, keep=["segment"]),
        value="value",
        by=["segment", "name"],
        positions=lambda n: [(n - 1) // 2, n // 2],
    )
    # the mean of the two middle values (one value twice for an odd count), as pandas
    medians = (
        middle.groupby(["segment", "name"])["value"]
        .mean()
        .unstack("name")
        .reindex(index=names, columns=list(rfm.RFM_INPUTS))
        .to_numpy(np.float64)
    )
    summary = rfm._summary_table(
        names,
        plan.scheme.segment_text,
        customers=totals["customers"].fillna(0).to_numpy(np.int64),
        revenue=totals["revenue"].fillna(0.0).to_numpy(np.float64),
        medians=medians,
    )
    lapsed = (F.col("days_since_last") >= lapsed_after_days) | (F.col("orders") < 1)
    recent = (F.col("days_since_last") <= recent_days) & (F.col("orders") >= 1)
    counts = (
        segments.groupBy("segment")
        .agg(
            F.sum(lapsed.cast("long")).alias("lapsed"),
            F.sum(recent.cast("long")).alias("recent"),
            F.sum((lapsed & (F.col("orders") >= 2)).cast("long")).alias("lapsed_repeat_buyers"),
        )
        .toPandas()
        .set_index("segment")
        .reindex(names)
    )
    recency = rfm._recency_table(
        pd.DataFrame(
            {
                "customers": summary["customers"].to_numpy(),
                "median_days_since_last": summary["median_days_since_last"].to_numpy(),
                **{name: counts[name].to_numpy() for name in counts.columns},
            },
            index=pd.Index(names),
        )
    )
    # the R x F grid's cells: the grid, the F ranges and the corner all come from them
    cells = (
        segments.groupBy("R", "F")
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum("revenue").alias("revenue"),
            F.min("orders").alias("low"),
            F.max("orders").alias("high"),
        )
        .toPandas()
        .astype({"R": "int64", "F": "int64", "customers": "int64", "revenue": "float64"})
    )
    ranges = cells.groupby("F").agg(
        customers=("customers", "sum"), low=("low", "min"), high=("high", "max")
    )
    corner = cells[(cells["R"] >= corner_score) & (cells["F"] >= corner_score)]
    shares = rfm.CONCENTRATION_SHARES
    curve = _concentration(segments, shares=[*shares, top], n_customers=plan.n_customers)
    return PartitionedSegments(
        concentration=pd.DataFrame({"customer_share": shares, "revenue_share": curve[:-1]}),
        top_share=float(curve[-1]),
        summary=summary,
        recency=recency,
        frequency_ranges=rfm._ranges_table(ranges, bins=plan.bins),
        corner=rfm._corner_series(
            corner_score,
            customers=int(corner["customers"].sum()),
            revenue=float(corner["revenue"].sum()),
            all_customers=plan.n_customers,
            all_revenue=float(cells["revenue"].sum()),
        ),
        grid=rfm._grid_table(cells.set_index(["R", "F"])[["customers", "revenue"]], bins=plan.bins),
        output=output,
        plan=plan,
    )


def _concentration(segments, *, shares: Sequence[float], n_customers: int) -> np.ndarray:
    """The revenue concentration curve (:func:`ccnb.rfm.top_share`) at each of `shares`.

    With revenue counted from 0 and sorted best first, the curve at ``t`` is the sum of the
    best ``b = floor(t * n)`` values plus ``t * n - b`` of the next one, over the total. The
    best ``b`` add up to the sum of the values above the ``b``-th largest ``e`` plus ``e``
    for each of the ``b`` that are not above it (ties with ``e`` are worth ``e`` whichever of
    them counts): two order statistics and two sums a share, all in two passes.
    """
    from pyspark.sql import functions as F

    shares = [float(t) for t in shares]
    outside = [t for t in shares if not 0 < t <= 1]
    if outside:
        raise ValueError(f"shares of customers must be in (0, 1], got {outside}")
    n = n_customers
    best = [math.floor(t * n) for t in shares]
    clipped = segments.select(F.greatest(F.col("revenue").cast("double"), F.lit(0.0)).alias("v"))
    wanted = sorted({p for b in best for p in (n - b, n - b - 1) if 0 <= p < n})
    at = order_statistics_on_spark(clipped, value="v", positions=lambda _: wanted)
    value_at = dict(zip(at["position"], at["value"], strict=True))
    edges = [value_at.get(n - b, np.inf) for b in best]
    sums = clipped.agg(
        F.sum("v").alias("total"),
        *(F.sum(F.when(F.col("v") > edge, F.col("v")).otherwise(0.0)) for edge in edges),
        *(F.sum((F.col("v") > edge).cast("long")) for edge in edges),
    ).first()
    total = sums[0]
    if not total or total <= 0:
        raise ValueError(f"revenue concentration needs positive total revenue; got {total:g}")
    curve = []
    for k, (t, b, edge) in enumerate(zip(shares, best, edges, strict=True)):
        above, n_above = sums[1 + k], sums[1 + len(shares) + k]
        best_sum = above + (b - n_above) * edge if b else 0.0
        curve.append((best_sum + (t * n - b) * value_at.get(n - b - 1, 0.0)) / total)
    return np.array(curve, dtype=np.float64)


def read_segments(
    segmented: PartitionedSegments,
    *,
    session=None,
    columns: Sequence[str] | None = None,
    customer_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The customers' segments the executors wrote, as :func:`ccnb.rfm.segment` gives them.

    Parameters
    ----------
    segmented : PartitionedSegments
        From :func:`segment_on_spark`.
    session : pyspark.sql.SparkSession, optional
        Read with Spark (any path or URI its executors wrote to); without it the output is
        read with Arrow, so it must be a local path.
    columns : sequence of str, optional
        Only these columns (with ``customer_id``, which is always read), e.g. the segment of
        each customer without the scores and texts.
    customer_ids : sequence of str, optional
        Only these customers (e.g. a survey's respondents); the others are not read.

    Returns
    -------
    pandas.DataFrame
        One row per customer sorted by ``customer_id``, with the scores, cells and texts as
        the whole base segmented in memory has them (categorical text columns included).
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if session is None:
        schema = pq.ParquetDataset(segmented.output).schema
    else:
        written = session.read.parquet(segmented.output)
        schema = written.limit(0).toArrow().schema
    empty = schema.empty_table().to_pandas()[["customer_id", *rfm.RFM_INPUTS]]
    dtypes = segment_partition(empty, segmented.plan).dtypes.to_dict()
    names = list(dtypes) if columns is None else ["customer_id", *columns]
    names = list(dict.fromkeys(names))
    if session is None:
        filters = None if customer_ids is None else [("customer_id", "in", list(customer_ids))]
        written = pq.read_table(segmented.output, columns=names, filters=filters)
    else:
        written = written.select(*names)
        if customer_ids is not None:
            wanted = session.createDataFrame(
                [(value,) for value in dict.fromkeys(customer_ids)],
                schema=written.select("customer_id").schema,
            )
            written = written.join(wanted, on="customer_id", how="inner")
        written = written.toArrow()
    dtypes = {name: dtypes[name] for name in names}
    # the texts (segment, description, tactic) become categories in Arrow: a million
    # customers' descriptions as strings would take hundreds of MB on their way to pandas
    for name, dtype in dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            position = written.schema.get_field_index(name)
            encoded = pc.dictionary_encode(written.column(name))
            written = written.set_column(position, name, encoded)
    frame = written.to_pandas()
    for name, dtype in dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            # in the plan's order: Arrow's dictionary keeps the order of first appearance, and
            # `astype` leaves an unordered categorical as it is when only the order differs
            frame[name] = frame[name].cat.set_categories(dtype.categories, ordered=dtype.ordered)
    return frame.astype(dtypes).sort_values("customer_id", ignore_index=True)

"""The whole base at a glance from the predictions Spark's executors wrote: no customer comes back.

`prediction_summary_on_spark` gives what :func:`ccnb.clv.prediction_summary` gives, and
`histograms_on_spark` the P(alive) and residual CLV histograms of
:mod:`ccnb.clv.histograms`, for the customers' table `ccnb.clv.partitioned.predict_on_spark`
writes: sums and counts in the engine, the median and the 99th percentile from exact order
statistics (:mod:`ccnb.order_statistics`) interpolated as numpy does, and each partition's
bin counts made with numpy's rule on edges fixed beforehand. Definitions in
docs/methodology.md, "Distributions of P(alive) and residual CLV".
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from ccnb.clv.histograms import (
    Histogram,
    bin_counts,
    histogram_from_counts,
    p_alive_edges,
    rclv_edges,
)
from ccnb.clv.prediction import UNITS_PER_MONTH, _monthly_discount, margin_columns
from ccnb.clv.retention import (
    scenario_factors,
    scenario_table,
    scenario_values,
    survival_if_alive,
)
from ccnb.order_statistics import numpy_position, numpy_quantile, order_statistics_on_spark

__all__ = [
    "histograms_on_spark",
    "prediction_summary_on_spark",
    "rclv_spread_on_spark",
    "retention_scenarios_on_spark",
]


def _positions(n: int, quantiles: tuple[float, ...]) -> list[int]:
    wanted = set()
    for quantile in quantiles:
        below = math.floor(numpy_position(n, quantile))
        wanted |= {below, min(below + 1, n - 1)}
    return sorted(wanted)


def _quantiles_on_spark(table, column: str, quantiles: tuple[float, ...]) -> dict[float, float]:
    """``numpy.quantile(values, q)`` for each q, from the two order statistics around it."""
    found = order_statistics_on_spark(
        table, value=column, positions=lambda n: _positions(n, quantiles)
    )
    n = int(found["n"].iloc[0])
    value_at = dict(zip(found["position"], found["value"], strict=True))
    return {quantile: numpy_quantile(value_at.__getitem__, n, quantile) for quantile in quantiles}


def _median_on_spark(table, column: str) -> float:
    """``numpy.median``: the middle value, or the mean of the two middle ones."""
    found = order_statistics_on_spark(
        table, value=column, positions=lambda n: sorted({(n - 1) // 2, n // 2})
    )
    values = found["value"].to_numpy()
    return float(values[0]) if len(values) == 1 else float((values[0] + values[1]) / 2)


def _present(table, column: str):
    from pyspark.sql import functions as F

    return table.where(F.col(column).isNotNull() & ~F.isnan(column))


def rclv_spread_on_spark(predicted) -> dict[str, float]:
    """`ccnb.clv.histograms.rclv_spread` of the ``rclv`` column of a Spark table.

    Parameters
    ----------
    predicted : pyspark.sql.DataFrame
        The customers' predictions (``rclv``); missing values are left out.

    Returns
    -------
    dict of str to float
    """
    from pyspark.sql import functions as F

    values = _present(predicted, "rclv")
    count, smallest, largest, min_positive, positive = values.agg(
        F.count("rclv"),
        F.min("rclv"),
        F.max("rclv"),
        F.min(F.when(F.col("rclv") > 0, F.col("rclv"))),
        F.count(F.when(F.col("rclv") > 0, 1)),
    ).first()
    if not count:
        raise ValueError("rclv_histogram needs at least one customer with an rclv value")
    return {
        "count": int(count),
        "min": float(smallest),
        "max": float(largest),
        "min_positive": np.nan if min_positive is None else float(min_positive),
        "positive": int(positive),
        "median": _median_on_spark(values, "rclv"),
        "q99": _quantiles_on_spark(values, "rclv", (0.99,))[0.99],
    }


def _partition_counts(batches, *, edges: dict[str, tuple[np.ndarray, bool]]):
    """One partition's customers per bin of each column, as (column, bin, customers) rows."""
    totals = {
        name: np.zeros(len(bounds) - 1, dtype=np.int64) for name, (bounds, _) in edges.items()
    }
    for batch in batches:
        for name, (bounds, log) in edges.items():
            totals[name] += bin_counts(batch[name].to_numpy(dtype=float), bounds, log=log)
    yield pd.DataFrame(
        {
            "column": [name for name, counts in totals.items() for _ in counts],
            "bin": [k for counts in totals.values() for k in range(len(counts))],
            "customers": np.concatenate(list(totals.values())),
        }
    )


def histograms_on_spark(
    predicted, *, p_alive_bins: int = 20, rclv_bins: int = 40, log: bool | None = None
) -> tuple[Histogram, Histogram]:
    """The P(alive) and residual CLV histograms of a Spark table of predicted customers.

    Equal to `ccnb.clv.p_alive_histogram` and `ccnb.clv.rclv_histogram` of the same customers:
    the residual CLV's edges come from its spread (`rclv_spread_on_spark`), then every
    partition counts its customers in both sets of bins and the driver adds the counts.

    Parameters
    ----------
    predicted : pyspark.sql.DataFrame
        The customers' predictions (``p_alive``, ``rclv``).
    p_alive_bins, rclv_bins : int
        Numbers of bins.
    log : bool, optional
        As `ccnb.clv.rclv_histogram`'s.

    Returns
    -------
    tuple of Histogram
        P(alive)'s, then residual CLV's.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    rclv_bounds, rclv_log = rclv_edges(rclv_spread_on_spark(predicted), bins=rclv_bins, log=log)
    edges = {"p_alive": (p_alive_edges(bins=p_alive_bins), False), "rclv": (rclv_bounds, rclv_log)}
    schema = T.StructType(
        [
            T.StructField("column", T.StringType()),
            T.StructField("bin", T.IntegerType()),
            T.StructField("customers", T.LongType()),
        ]
    )
    counted = (
        predicted.select("p_alive", "rclv")
        .mapInPandas(partial(_partition_counts, edges=edges), schema)
        .groupBy("column", "bin")
        .agg(F.sum("customers").alias("customers"))
        .toPandas()
    )
    below = 0
    if rclv_log:
        below = _present(predicted, "rclv").where(F.col("rclv") < float(rclv_bounds[0])).count()
    histograms = []
    for name, (bounds, scale_is_log) in edges.items():
        counts = (
            counted[counted["column"] == name]
            .set_index("bin")["customers"]
            .reindex(range(len(bounds) - 1), fill_value=0)
        )
        histograms.append(
            histogram_from_counts(
                counts.to_numpy(), bounds, log=scale_is_log, below=below if name == "rclv" else 0
            )
        )
    return histograms[0], histograms[1]


def prediction_summary_on_spark(predicted, *, alive_threshold: float = 0.5) -> pd.Series:
    """`ccnb.clv.prediction_summary` of a Spark table of predicted customers.

    Parameters
    ----------
    predicted : pyspark.sql.DataFrame
        The customers' predictions (``rclv``, ``rclv_low``, ``p_alive``, ``p_no_purchase``).
    alive_threshold : float, default 0.5
        A customer counts as likely alive with P(alive) at or above this.

    Returns
    -------
    pandas.Series
        The same entries as `ccnb.clv.prediction_summary`; means and shares are sums in the
        engine (equal to pandas' to rounding), the median exact.
    """
    from pyspark.sql import functions as F

    def share(condition):
        return F.avg(F.when(condition, 1.0).otherwise(0.0))

    row = predicted.agg(
        F.count(F.lit(1)).alias("customers"),
        F.avg("rclv").alias("rclv_mean"),
        F.min("rclv").alias("rclv_min"),
        F.max("rclv").alias("rclv_max"),
        F.avg("p_alive").alias("p_alive_mean"),
        share(F.col("p_alive") >= alive_threshold).alias("alive_share"),
        share(F.col("rclv_low") <= 0).alias("low_zero_share"),
        share(F.col("p_no_purchase") > 0.5).alias("likely_none_share"),
    ).first()
    return pd.Series(
        {
            "customers": int(row["customers"]),
            "rclv_mean": float(row["rclv_mean"]),
            "rclv_min": float(row["rclv_min"]),
            "rclv_median": _median_on_spark(_present(predicted, "rclv"), "rclv"),
            "rclv_max": float(row["rclv_max"]),
            "p_alive_mean": float(row["p_alive_mean"]),
            "model_churn": 1 - float(row["p_alive_mean"]),
            "alive_threshold": alive_threshold,
            "alive_share": float(row["alive_share"]),
            "low_zero_share": float(row["low_zero_share"]),
            "likely_none_share": float(row["likely_none_share"]),
        },
        dtype=object,
    )


def retention_scenarios_on_spark(
    predicted,
    purchases,
    *,
    equity: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
    changes,
) -> pd.DataFrame:
    """`ccnb.clv.retention_scenarios_of_patterns` of the executors' predictions, in Spark.

    The customers are summed per (frequency, T) pattern in Spark. The driver reads each
    pattern's summed P(alive) and frequency and T (three numbers per pattern) to find each
    change's hazard factor from the survival a year on; each partition of patterns then
    computes its monthly survival and its equity under every factor (`ccnb.clv.retention.
    scenario_values`), and the driver adds the partitions' values. No pattern's monthly
    margins come back.

    Parameters
    ----------
    predicted : pyspark.sql.DataFrame
        The customers' predictions as `ccnb.clv.partitioned.predict_on_spark` writes them
        (``frequency``, ``T``, ``p_alive`` and the monthly margins).
    purchases : FittedModel
        The purchase model the predictions were made with.
    equity, discount_rate_annual, horizon_months, time_unit, changes
        As for `ccnb.clv.retention_scenarios_of_patterns`.

    Returns
    -------
    pandas.DataFrame
        As `ccnb.clv.retention_scenarios`.
    """
    from pyspark.sql import functions as F

    from ccnb.engine import spark_pandas

    months = margin_columns(horizon_months)
    sums = predicted.groupBy("frequency", "T").agg(
        *(F.sum(F.col(name).cast("double")).alias(name) for name in ["p_alive", *months])
    )
    sums = sums.cache()
    try:
        weights = spark_pandas(sums.select("frequency", "T", "p_alive"))
        month = UNITS_PER_MONTH[time_unit]
        a_year = survival_if_alive(
            purchases,
            weights["frequency"].to_numpy(float),
            weights["T"].to_numpy(float),
            [12 * month],
        )[:, 0]
        factors = scenario_factors(weights["p_alive"].to_numpy(float), a_year, changes=changes)
        del weights, a_year
        values = (
            sums.mapInPandas(
                partial(
                    _partition_values,
                    purchases=purchases,
                    middles=(np.arange(int(horizon_months)) + 0.5) * month,
                    discount=_monthly_discount(horizon_months, discount_rate_annual),
                    months=months,
                    factors=factors["hazard_factor"].to_numpy(float),
                ),
                "scenario long, value double",
            )
            .groupBy("scenario")
            .agg(F.sum("value").alias("value"))
            .toPandas()
            .set_index("scenario")["value"]
            .reindex(range(len(factors)), fill_value=0.0)
        )
    finally:
        sums.unpersist()
    return scenario_table(factors, values.to_numpy(float), equity=equity)


def _partition_values(batches, *, purchases, middles, discount, months, factors):
    """One partition's equity under each hazard factor, as (scenario, value) rows."""
    values = np.zeros(len(factors))
    for batch in batches:
        if batch.empty:
            continue
        survival = survival_if_alive(
            purchases, batch["frequency"].to_numpy(float), batch["T"].to_numpy(float), middles
        )
        values += scenario_values(survival, batch[months].to_numpy(float) * discount, factors)
    yield pd.DataFrame({"scenario": np.arange(len(factors)), "value": values})

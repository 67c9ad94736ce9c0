"""Predictions a partition of customers at a time, where the customers are.

A client too big for one machine keeps its customers in the engine. The driver plans the
prediction once (`plan_predictions`: the fits' parameter draws, and which of them are valid
for every customer, checked on the distinct purchase patterns, or left to the partitions:
`predict_on_spark` then predicts again without a draw any partition found invalid); each
partition of customers is predicted on its own under those same draws (`predict_partition`)
and gives back its customers' table and, per group and draw, its totals; adding the
partitions' totals (`combine_partitions`) gives customer equity and CLV by group with the
intervals of :func:`ccnb.clv.predict`. `predict_on_spark` runs the partitions as a Spark job
and writes the customers' table as parquet from the executors, so the driver never holds a
customer.
Definitions in docs/methodology.md, "Predictions in partitions".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd

from ccnb.clv.activation import CRM_COLUMNS
from ccnb.clv.cuts import UNCERTAINTY, equity_from_totals, total_bounds
from ccnb.clv.fitting import _require_columns
from ccnb.clv.prediction import (
    _check_options,
    _clv_inputs,
    _customer_table,
    _deciles,
    _draw_sums,
    _Draws,
    _is_valid_draw,
    _monthly_margin,
    _parameter_draws,
    _ParameterDraws,
    _point_predictions,
    _rclv_draws,
    _settings,
    expected_purchases,
    margin_columns,
)
from ccnb.clv.predictive import OWN_RANDOMNESS_STREAM, _spend_model_mean
from ccnb.clv.results import CustomerEquity, FittedModel, Predictions
from ccnb.order_statistics import order_statistics_on_spark

__all__ = [
    "PARTITION_CUSTOMERS",
    "PartitionedPredictions",
    "PredictionPlan",
    "activation_on_spark",
    "combine_partitions",
    "customer_table_from_partitions",
    "expected_purchases_on_spark",
    "invalid_draws",
    "plan_predictions",
    "predict_on_spark",
    "predict_partition",
    "predictions_from_partitions",
    "spark_partition_of_customer",
]

#: customers per partition that `predict_on_spark` aims at: a partition's two kinds of draws
#: then take 160 MB (100,000 customers x 200 draws x 2 x float32) on its executor
PARTITION_CUSTOMERS = 100_000

#: the per-customer columns of a partition's table (`ccnb.clv.predict`'s, without the decile)
CUSTOMER_COLUMNS = (
    "p_alive",
    "p_no_purchase",
    "expected_purchases",
    "purchases_low",
    "purchases_high",
    "expected_spend",
    "rclv",
    "rclv_low",
    "rclv_high",
    "rclv_param_low",
    "rclv_param_high",
)


#: the customer's inputs a partition's table keeps: the pattern survival depends on
PATTERN_COLUMNS = ("frequency", "T")

#: a partition's totals per group: ``draw`` -1 carries the customers and their summed rCLV,
#: draws 0.. carry the realised and the expected rCLV summed under that draw
TOTAL_COLUMNS = ("draw", "n_customers", "rclv_sum", "rclv_draw_sum", "rclv_expected_draw_sum")


@dataclass(frozen=True)
class PredictionPlan:
    """What every partition needs, made once on the driver (see :func:`plan_predictions`).

    Attributes
    ----------
    purchases, spend : FittedModel
        The fitted models (``spend`` None: every purchase is worth ``mean_spend``).
    parameters : ccnb.clv.prediction._ParameterDraws
        The valid parameter sets only, in the order :func:`ccnb.clv.predict` draws them.
    mean_spend : float
        Value of a purchase at the estimates: the spend model's mean, else the mean
        ``monetary_value`` of the whole base's repeat buyers.
    new_customer_value : float
        A new customer's value at the estimates; ``new_customer_draws`` per valid draw.
    group_by : tuple of str
        Columns of the customers' table the totals are kept by.
    settings : dict
        The options, as in ``Predictions.settings``.
    """

    purchases: FittedModel
    spend: FittedModel | None
    parameters: _ParameterDraws
    mean_spend: float
    new_customer_value: float
    new_customer_draws: np.ndarray
    group_by: tuple[str, ...]
    settings: dict

    @property
    def n_draws(self) -> int:
        """Valid parameter draws every partition uses."""
        return len(self.parameters)

    def without_draws(self, draws) -> PredictionPlan:
        """The plan without the given draws (positions among its parameter sets).

        For draws a partition found invalid for one of its customers (NaN totals from
        :func:`predict_partition`); the draws left keep their order.
        """
        keep = np.ones(self.n_draws, dtype=bool)
        keep[np.asarray(draws, dtype=int)] = False
        return replace(
            self,
            parameters=self.parameters.subset(keep),
            new_customer_draws=self.new_customer_draws[keep],
            settings={**self.settings, "n_draws": int(keep.sum())},
        )


def plan_predictions(
    patterns: pd.DataFrame | None,
    *,
    purchases: FittedModel,
    spend: FittedModel | None = None,
    mean_observed_spend: float | None = None,
    gross_margin: float,
    discount_rate_annual: float,
    horizon_months: int,
    time_unit: str,
    group_by=(),
    n_draws: int = 200,
    seed: int = 0,
    interval: float = 0.9,
) -> PredictionPlan:
    """The parameter draws every partition uses, with the ones invalid anywhere dropped.

    :func:`ccnb.clv.predict` drops a draw whose rCLV is negative or not finite for any
    customer. A customer's rCLV under a draw is its expected spend (positive and finite
    whenever the spend model's mean is) times its purchase path's discounted sum, which
    depends only on the customer's (frequency, recency, T): checking the distinct patterns
    is checking every customer, without the customers.

    Checking the patterns evaluates each distinct pattern under every draw on the driver,
    about as much work as the partitions' own expectations. Without patterns only a new
    customer's value is checked here, and the partitions check their customers: a draw
    invalid for a customer (a parameter past a singularity of the model, which the draws
    from the fits' asymptotic normal rarely reach) makes that partition's totals NaN for the
    draw, and the prediction is made again without it (:func:`predict_on_spark` does so).

    Parameters
    ----------
    patterns : pandas.DataFrame or None
        ``frequency``, ``recency``, ``T`` of every distinct pattern in the base (repeats are
        fine), e.g. the engine's ``SELECT DISTINCT``; None leaves the check to the partitions
        (see above).
    purchases, spend : FittedModel
        As in :func:`ccnb.clv.predict`.
    mean_observed_spend : float, optional
        Without a spend model, required: the mean ``monetary_value`` of the base's repeat
        buyers with positive spend (what :func:`ccnb.clv.predict` uses).
    gross_margin, discount_rate_annual, horizon_months, time_unit, n_draws, seed, interval
        As in :func:`ccnb.clv.predict`.
    group_by : str or sequence of str
        Columns of the customers' table to total by (e.g. ``"segment"``); none: one total.

    Returns
    -------
    PredictionPlan
    """
    _check_options(gross_margin=gross_margin, interval=interval)
    if spend is None and mean_observed_spend is None:
        raise ValueError("without a spend model, give mean_observed_spend (the base's)")
    if patterns is None:  # a new customer's value only; the partitions check their customers
        patterns = pd.DataFrame({name: np.empty(0) for name in ("frequency", "recency", "T")})
    _require_columns(patterns, ["frequency", "recency", "T"], "plan_predictions")
    inputs = _clv_inputs(
        *(patterns[name].to_numpy(float) for name in ("frequency", "recency", "T")),
        gross_margin=gross_margin,
        discount_rate_annual=discount_rate_annual,
        horizon_months=horizon_months,
        time_unit=time_unit,
    )
    mean_spend = mean_observed_spend
    if spend is not None:
        mean_spend = _spend_model_mean(tuple(spend.params_[name] for name in ("p", "q", "v")))
    parameters = _parameter_draws(purchases, spend, n_draws=n_draws, seed=seed)
    valid = np.zeros(len(parameters), dtype=bool)
    new_customer = np.empty(len(parameters))
    for d, (fitter, sums) in enumerate(_draw_sums(inputs, purchases, parameters)):
        mean_d = mean_spend if spend is None else _spend_model_mean(parameters.spend[d])
        new_customer[d] = inputs.new_customer_value(fitter, mean_d)
        # each pattern's value at a purchase worth the mean: its sign and finiteness are
        # every customer's of that pattern
        values = inputs.rclv(sums, np.full(len(patterns), mean_d))
        valid[d] = _is_valid_draw(values, new_customer[d])
    group_by = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    return PredictionPlan(
        purchases=purchases,
        spend=spend,
        parameters=parameters.subset(valid),
        mean_spend=float(mean_spend),
        new_customer_value=float(inputs.new_customer_value(purchases.fitter, mean_spend)),
        new_customer_draws=new_customer[valid],
        group_by=group_by,
        settings=_settings(
            purchases,
            spend,
            gross_margin=gross_margin,
            discount_rate_annual=discount_rate_annual,
            horizon_months=horizon_months,
            time_unit=time_unit,
            interval=interval,
            n_draws_requested=n_draws,
            n_draws=valid.sum(),
            seed=seed,
        ),
    )


def predict_partition(
    customers: pd.DataFrame, plan: PredictionPlan, *, stream: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One partition's customers predicted under the plan's draws, and its totals per group.

    Each customer's own randomness is drawn from the generator seeded with the plan's seed
    and ``stream``, customers in ``customer_id`` order: the same partition (same customers,
    same stream) gives the same draws wherever it runs.

    Parameters
    ----------
    customers : pandas.DataFrame
        The partition's summary rows: ``customer_id``, ``frequency``, ``recency``, ``T``,
        ``monetary_value`` (with a spend model) and the plan's ``group_by`` columns.
    plan : PredictionPlan
        From :func:`plan_predictions`.
    stream : int
        This partition's number (a different one per partition).

    Returns
    -------
    table : pandas.DataFrame
        ``customer_id``, the columns of :func:`ccnb.clv.predict`'s table but the decile (which
        ranks the whole base), each customer's monthly margins
        (:func:`ccnb.clv.margin_columns`), ``frequency`` and ``T`` (``PATTERN_COLUMNS``) and
        the ``group_by`` columns, in ``customer_id`` order.
    totals : pandas.DataFrame
        The ``group_by`` columns and ``draw``, ``n_customers``, ``rclv_sum``,
        ``rclv_draw_sum``, ``rclv_expected_draw_sum`` (see ``TOTAL_COLUMNS``). A draw that
        is invalid for one of the partition's customers (possible only under a plan made
        without patterns) has NaN sums, and the table's bounds are made without it: predict
        again under ``plan.without_draws``.
    """
    _require_columns(customers, ["customer_id", *plan.group_by], "predict_partition")
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    settings = plan.settings
    point = _point_predictions(
        customers,
        purchases=plan.purchases,
        spend=plan.spend,
        mean_spend=plan.mean_spend,
        gross_margin=settings["gross_margin"],
        discount_rate_annual=settings["discount_rate_annual"],
        horizon_months=settings["horizon_months"],
        time_unit=settings["time_unit"],
    )
    draws = _rclv_draws(
        point,
        plan.purchases,
        plan.spend,
        parameters=plan.parameters,
        own_rng=np.random.default_rng([settings["seed"], OWN_RANDOMNESS_STREAM, stream]),
        folder=None,
    )
    table = _customer_table(point, draws, settings["interval"])
    margins = _monthly_margin(
        settings["gross_margin"] * point.expected_spend, point.monthly, point.inputs.row_of_customer
    )
    for month, column in enumerate(margin_columns(settings["horizon_months"])):
        table[column] = margins[:, month]
    for column in PATTERN_COLUMNS:  # what the retention scenarios group the customers by
        table[column] = customers[column].to_numpy(float)
    for column in plan.group_by:
        table[column] = customers[column].to_numpy()
    realised, expected = np.asarray(draws.predictive), np.asarray(draws.parameter)
    totals = _group_totals(
        table, realised, expected, plan.group_by, kept=draws.kept, n_draws=plan.n_draws
    )
    return table, totals


def _group_totals(table, realised, expected, group_by, *, kept, n_draws) -> pd.DataFrame:
    """Per group: the point totals (draw -1), then each draw's realised and expected sums.

    ``realised`` and ``expected`` hold the ``kept`` draws (positions among ``n_draws``); a
    draw not kept (invalid for one of the partition's customers) sums to NaN.
    """
    keys = [table[column] for column in group_by] or [np.zeros(len(table), dtype=int)]
    rclv = table["rclv"].to_numpy()

    def sums(draws: np.ndarray, members: np.ndarray) -> np.ndarray:
        by_draw = np.full(n_draws, np.nan)
        by_draw[kept] = draws[:, members].sum(axis=1, dtype=float)
        return np.r_[0.0, by_draw]

    frames = []
    for key, members in table.groupby(keys, dropna=False, sort=True).indices.items():
        frame = pd.DataFrame(
            {
                "draw": np.arange(-1, n_draws),
                "n_customers": [len(members)] + [0] * n_draws,
                "rclv_sum": [float(rclv[members].sum())] + [0.0] * n_draws,
                "rclv_draw_sum": sums(realised, members),
                "rclv_expected_draw_sum": sums(expected, members),
            }
        )
        values = key if isinstance(key, tuple) else (key,)
        for column, value in zip(group_by, values, strict=False):
            frame[column] = value
        frames.append(frame)
    columns = [*group_by, *TOTAL_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


@dataclass(frozen=True)
class PartitionedPredictions:
    """Per-group totals of partitioned predictions (see :func:`combine_partitions`).

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per group (``group_by`` columns, sorted; NaN is a group): ``n_customers``,
        ``rclv_sum``.
    rclv_draws, rclv_parameter_draws : numpy.ndarray
        Each group's realised and expected rCLV summed under each draw (groups x draws), as
        the sums of ``Predictions.rclv_draws`` and ``rclv_parameter_draws`` over its members.
    top_decile_share : float
        Share of the summed rCLV held by the top 10% of customers by rCLV.
    new_customer_value : float
        A new customer's value (``new_customer_draws`` per draw).
    group_by : tuple of str
        The plan's group columns.
    settings : dict
        The plan's settings.
    """

    groups: pd.DataFrame
    rclv_draws: np.ndarray
    rclv_parameter_draws: np.ndarray
    top_decile_share: float
    new_customer_value: float
    new_customer_draws: np.ndarray
    group_by: tuple[str, ...]
    settings: dict

    def _draws(self, uncertainty: str) -> np.ndarray:
        if uncertainty not in UNCERTAINTY:
            raise ValueError(f"uncertainty must be one of {UNCERTAINTY}, got {uncertainty!r}")
        return self.rclv_draws if uncertainty == "predictive" else self.rclv_parameter_draws

    def customer_equity(self, *, uncertainty: str = "predictive") -> CustomerEquity:
        """Summed rCLV with its interval, as :func:`ccnb.clv.customer_equity` (no new customers)."""
        return equity_from_totals(
            float(self.groups["rclv_sum"].sum()),
            self._draws(uncertainty).sum(axis=0),
            top_decile_share=self.top_decile_share,
            n_customers=int(self.groups["n_customers"].sum()),
            interval=self.settings["interval"],
            uncertainty=uncertainty,
        )

    def clv_by_group(self, *, uncertainty: str = "predictive") -> pd.DataFrame:
        """Mean and total rCLV per group with intervals, as :func:`ccnb.clv.clv_by`.

        A group's median needs every member's value at once, which partitions do not give:
        its columns are not here (the engine's percentile gives the median point).
        """
        draws = self._draws(uncertainty)
        frame = self.groups.copy()
        n = frame["n_customers"].to_numpy()
        frame["rclv_mean"] = frame["rclv_sum"] / n
        total = frame["rclv_sum"].sum()
        frame["share_of_equity"] = frame["rclv_sum"] / total if total > 0 else np.nan
        if draws.shape[1] > 0:
            interval = self.settings["interval"]
            bounds = [
                total_bounds(sums, n_customers=count, interval=interval)
                for sums, count in zip(draws, n, strict=True)
            ]
            frame = frame.join(pd.DataFrame(bounds, index=frame.index))
        columns = [*self.group_by, "n_customers"]
        for name in ("rclv_mean", "rclv_sum"):
            columns += [name, f"{name}_low", f"{name}_high"]
        return frame.reindex(columns=[*columns, "share_of_equity"])


def invalid_draws(totals: pd.DataFrame) -> np.ndarray:
    """The draws some partition found invalid for one of its customers (NaN sums), sorted.

    Parameters
    ----------
    totals : pandas.DataFrame
        Partitions' totals (:func:`predict_partition`'s), before or after adding them up.

    Returns
    -------
    numpy.ndarray
        Draw positions among the plan's, for :meth:`PredictionPlan.without_draws`.
    """
    sums = totals[["rclv_draw_sum", "rclv_expected_draw_sum"]]
    invalid = (totals["draw"] >= 0) & sums.isna().any(axis=1)
    return np.unique(totals.loc[invalid, "draw"].to_numpy(int))


def combine_partitions(
    plan: PredictionPlan, totals: pd.DataFrame, *, top_decile_share: float
) -> PartitionedPredictions:
    """Add the partitions' totals (:func:`predict_partition`'s, concatenated) per group.

    Parameters
    ----------
    plan : PredictionPlan
        The plan the partitions ran.
    totals : pandas.DataFrame
        Every partition's totals, in any order.
    top_decile_share : float
        The base's (it ranks every customer: the engine's, or
        :func:`ccnb.clv.cuts.top_decile_share` of the concatenated tables).

    Returns
    -------
    PartitionedPredictions

    Raises
    ------
    ValueError
        If a draw is invalid in a partition (see :func:`invalid_draws`).
    """
    invalid = invalid_draws(totals)
    if len(invalid):
        raise ValueError(
            f"draws {invalid.tolist()} are invalid for some customers: predict every partition "
            "again under plan.without_draws(those draws)"
        )
    keys = list(plan.group_by) or [np.zeros(len(totals), dtype=int)]
    summed = totals.groupby([*keys, totals["draw"]], dropna=False, sort=True)[
        ["n_customers", "rclv_sum", "rclv_draw_sum", "rclv_expected_draw_sum"]
    ].sum()
    by_draw = summed.unstack("draw")
    groups = by_draw[[("n_customers", -1), ("rclv_sum", -1)]]
    groups.columns = ["n_customers", "rclv_sum"]
    groups = groups.astype({"n_customers": int}).reset_index()
    if not plan.group_by:
        groups = groups.drop(columns=groups.columns[0])
    draw_columns = list(range(plan.n_draws))
    return PartitionedPredictions(
        groups=groups,
        rclv_draws=by_draw["rclv_draw_sum"].reindex(columns=draw_columns).to_numpy(float),
        rclv_parameter_draws=by_draw["rclv_expected_draw_sum"]
        .reindex(columns=draw_columns)
        .to_numpy(float),
        top_decile_share=float(top_decile_share),
        new_customer_value=plan.new_customer_value,
        new_customer_draws=plan.new_customer_draws,
        group_by=plan.group_by,
        settings=plan.settings,
    )


def _spark_rows(frame: pd.DataFrame, *, plan: PredictionPlan, columns: list[str]) -> pd.DataFrame:
    """One Spark partition's output: its customers and its totals in one frame (``kind``)."""
    stream = int(frame["_partition"].iloc[0])
    table, totals = predict_partition(frame.drop(columns="_partition"), plan, stream=stream)
    rows = pd.concat(
        [table.assign(kind="customer"), totals.assign(kind="total")], ignore_index=True
    )
    rows = rows.reindex(columns=columns)
    # pandas 3 keeps text in Arrow-backed columns, which PySpark 4.0's converter cannot take
    text = rows.select_dtypes(include="str").columns
    return rows.astype(dict.fromkeys(text, object))


def spark_partition_of_customer(partitions: int):
    """The Spark column of each customer's partition: a hash of ``customer_id``, 0 to n - 1."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col("customer_id")), F.lit(partitions))


def predict_on_spark(
    customers, plan: PredictionPlan, *, output: str, partitions: int | None = None
) -> PartitionedPredictions:
    """Predict a Spark table of customers on the executors; the customers never reach the driver.

    The customers are split into ``partitions`` by a hash of ``customer_id`` (each partition
    its own stream of own randomness); each is predicted with :func:`predict_partition` in a
    pandas UDF (``applyInPandas``). The customers' table is written by the executors as
    parquet to ``output/kind=customer`` (read it back with Spark, or a row group at a time
    with pyarrow); the totals (groups x draws rows per partition) to ``output/kind=total``
    and added up on the driver. The top decile's edge is the k-th largest rCLV
    (k = ceil(customers / 10)), an exact order statistic (:mod:`ccnb.order_statistics`).
    Under a plan made without patterns, a draw a partition found invalid is dropped and every
    partition predicted again (once: a draw's validity does not depend on the customers' own
    randomness); the result's settings say the draws used.

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        The base's summary, as :func:`predict_partition` takes it.
    plan : PredictionPlan
        From :func:`plan_predictions` on the same base's patterns, or without patterns.
    output : str
        Folder (a path or URI the executors can write) for the parquet output; replaced.
    partitions : int, optional
        Partitions of customers; default one per `PARTITION_CUSTOMERS` customers.

    Returns
    -------
    PartitionedPredictions
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    n_customers = customers.count()
    partitions = partitions or max(1, math.ceil(n_customers / PARTITION_CUSTOMERS))
    source = {column.name: column.dataType for column in customers.schema.fields}
    schema = T.StructType(
        [
            T.StructField("customer_id", source["customer_id"]),
            *(T.StructField(name, T.DoubleType()) for name in CUSTOMER_COLUMNS),
            *(
                T.StructField(name, T.FloatType())
                for name in margin_columns(plan.settings["horizon_months"])
            ),
            *(T.StructField(name, T.DoubleType()) for name in PATTERN_COLUMNS),
            *(T.StructField(name, source[name]) for name in plan.group_by),
            T.StructField("draw", T.IntegerType()),
            T.StructField("n_customers", T.LongType()),
            *(T.StructField(name, T.DoubleType()) for name in TOTAL_COLUMNS[2:]),
            T.StructField("kind", T.StringType()),
        ]
    )
    needed = ["customer_id", "frequency", "recency", "T", *plan.group_by]
    if plan.spend is not None:
        needed.append("monetary_value")
    partitioned = customers.select(*dict.fromkeys(needed)).withColumn(
        "_partition", spark_partition_of_customer(partitions)
    )
    # a partition's NaN sum (an invalid draw) arrives as null, which Spark's sum skips
    unsummable = F.col("rclv_draw_sum").isNull() | F.isnan("rclv_draw_sum")
    for attempt in range(2):
        rows = partitioned.groupBy("_partition").applyInPandas(
            partial(_spark_rows, plan=plan, columns=schema.fieldNames()), schema
        )
        rows.write.mode("overwrite").partitionBy("kind").parquet(output)
        written = customers.sparkSession.read.parquet(output)
        totals = (
            written.where(F.col("kind") == "total")
            .groupBy(*plan.group_by, "draw")
            .agg(
                *(F.sum(name).alias(name) for name in TOTAL_COLUMNS[1:]),
                F.max(unsummable.cast("int")).alias("_invalid"),
            )
            .toPandas()
        )
        invalid_here = totals.pop("_invalid").to_numpy() == 1
        totals.loc[invalid_here, ["rclv_draw_sum", "rclv_expected_draw_sum"]] = np.nan
        invalid = invalid_draws(totals)
        if not len(invalid):
            break
        if attempt:
            raise RuntimeError(f"draws {invalid.tolist()} stayed invalid without them")
        plan = plan.without_draws(invalid)
    predicted = written.where(F.col("kind") == "customer")
    k = math.ceil(n_customers / 10)
    # the k-th largest rCLV, exactly, without sorting the customers on one executor
    (edge,) = order_statistics_on_spark(predicted, value="rclv", positions=lambda n: [n - k])[
        "value"
    ]
    top, total = predicted.agg(
        F.sum(F.when(F.col("rclv") >= edge, F.col("rclv")).otherwise(0.0)), F.sum("rclv")
    ).first()
    share = top / total if total and total > 0 else np.nan
    return combine_partitions(plan, totals, top_decile_share=share)


def customer_table_from_partitions(table: pd.DataFrame) -> pd.DataFrame:
    """Every customer's values from the partitions' tables, ranked into deciles.

    The per-customer table of :func:`predictions_from_partitions`, without the monthly
    margins: what a per-customer export needs, read from a dozen columns of the
    partitions' tables rather than all of them.

    Parameters
    ----------
    table : pandas.DataFrame
        Every customer's row of the partitions' tables: ``customer_id`` and
        :data:`CUSTOMER_COLUMNS`, in any order; other columns are ignored.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, :data:`CUSTOMER_COLUMNS` and ``decile`` (1 highest rCLV, ranked over
        every customer of ``table``), in ``customer_id`` order: :func:`ccnb.clv.predict`'s
        table.
    """
    return _ranked_customers(table)[1]


def _ranked_customers(table: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """The order that sorts ``table`` by customer, and its customer columns so sorted."""
    _require_columns(table, ["customer_id", *CUSTOMER_COLUMNS], "the partitions' table")
    # the customers' order taken column by column: no copy of the whole table at once
    order = table["customer_id"].argsort(kind="stable").to_numpy()
    customers = table[["customer_id", *CUSTOMER_COLUMNS]].iloc[order].reset_index(drop=True)
    if customers["customer_id"].duplicated().any():
        raise ValueError("a customer has several rows in the partitions' table")
    customers["decile"] = _deciles(customers["rclv"].to_numpy())
    return order, customers


def activation_on_spark(predicted, *, output: str) -> None:
    """Write the CRM export's table of the partitions' customers with Spark, ranked and sorted.

    :func:`ccnb.clv.activation_table`'s rows, made where the customers are: each customer's
    decile from nine exact order statistics of the rCLV (a customer is in a decile after
    ``d`` when their rCLV is below the ``ceil(d n / 10)``-th largest of the ``n``, which is
    the decile of their rank), and the rows sorted by Spark, highest rCLV first, then by
    ``customer_id``.

    Parameters
    ----------
    predicted : pyspark.sql.DataFrame
        The partitions' tables (:func:`predict_on_spark`'s output read back, grouped by
        segment): ``customer_id``, ``segment`` and :data:`CUSTOMER_COLUMNS`, one row per
        customer.
    output : str
        Folder (a path or URI the executors write) for the table as parquet, replaced: its
        part files in name order are the sorted rows (`ccnb.table_files.table_files_in`).
    """
    from pyspark.sql import functions as F

    edges = order_statistics_on_spark(
        predicted, value="rclv", positions=lambda n: [n - _decile_rank(d, n) for d in range(1, 10)]
    )["value"]
    decile = F.lit(1)
    for edge in edges:
        decile = decile + (F.col("rclv") < F.lit(float(edge))).cast("int")
    table = predicted.withColumn("decile", decile.cast("long")).select(*CRM_COLUMNS)
    table.orderBy(F.desc("rclv"), F.asc("customer_id")).write.parquet(output, mode="overwrite")


def _decile_rank(decile: int, n: int) -> int:
    """How many of ``n`` customers are above one in a decile after ``decile``, at least."""
    return -(-decile * n // 10)


def predictions_from_partitions(table: pd.DataFrame, run: PartitionedPredictions) -> Predictions:
    """The whole base's per-customer predictions from the partitions' tables, without draws.

    Every value of a customer (P(alive), expected purchases and spend, rCLV, its bounds from
    the customer's own draws, the monthly margins) is the partition's; the decile ranks the
    whole base, so it is given here. Group totals and their intervals are the partitions'
    (:class:`PartitionedPredictions`): the result has no draws.

    Parameters
    ----------
    table : pandas.DataFrame
        Every customer's row of the partitions' tables (:func:`predict_partition`'s, e.g.
        read back from :func:`predict_on_spark`'s output): ``customer_id``, the prediction
        columns and the monthly margins (:func:`margin_columns`), in any order.
    run : PartitionedPredictions
        The partitions' totals: their settings (the draws used) and a new customer's value
        become the result's.

    Returns
    -------
    Predictions
        As :func:`ccnb.clv.predict` gives it, in ``customer_id`` order, without draws.
    """
    margins = margin_columns(run.settings["horizon_months"])
    _require_columns(table, margins, "the partitions' table")
    order, customers = _ranked_customers(table)
    monthly_margin = np.empty((len(table), len(margins)), dtype=np.float32)
    for month, column in enumerate(margins):
        monthly_margin[:, month] = table[column].to_numpy(np.float32)[order]
    nothing = _Draws.empty(len(customers))
    return Predictions(
        table=customers,
        rclv_draws=nothing.predictive,
        rclv_parameter_draws=nothing.parameter,
        monthly_margin=monthly_margin,
        new_customer_value=run.new_customer_value,
        new_customer_draws=run.new_customer_draws,
        settings=dict(run.settings),
    )


def _expected_purchases_of(batches, *, purchases: FittedModel, periods: float):
    for frame in batches:
        values = expected_purchases(purchases, frame, periods=periods)
        yield pd.DataFrame(
            {
                "customer_id": frame["customer_id"].astype(object).to_numpy(),
                "expected_purchases": values.to_numpy(dtype=np.float64),
            }
        )


def expected_purchases_on_spark(inputs, *, purchases: FittedModel, periods: float):
    """:func:`ccnb.clv.expected_purchases` of a Spark table of customers, by its partitions.

    Parameters
    ----------
    inputs : pyspark.sql.DataFrame
        ``customer_id``, ``frequency``, ``recency`` and ``T`` in the model's time unit.
    purchases : FittedModel
        Purchase model.
    periods : float
        Horizon in model time units.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` and ``expected_purchases`` (lazy: each partition computes its own).
    """
    if periods < 0:
        raise ValueError(f"periods must be >= 0, got {periods}")
    columns = ["customer_id", "frequency", "recency", "T"]
    return inputs.select(*columns).mapInPandas(
        partial(_expected_purchases_of, purchases=purchases, periods=float(periods)),
        "customer_id string, expected_purchases double",
    )

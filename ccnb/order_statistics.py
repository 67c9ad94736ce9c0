"""Exact order statistics of a Spark column, without bringing its rows to the driver.

The k-th smallest of a hundred million values is what an RFM score's edge or a segment's
median is. Spark's ``percentile_approx`` is close but not exact, its exact ``percentile``
holds every distinct value of a group on one executor, and a global sort moves every row.
`order_statistics_on_spark` takes two passes over the data instead: the approximate
percentiles bracket each wanted position (Spark guarantees their rank to within ``n /
accuracy``), then one aggregate counts the values below each bracket and returns the distinct
values inside it with their counts, from which the driver reads the exact value. A bracket
that misses its position (the guarantee broken) is widened to the whole group and read again,
so the answer is exact either way. Definitions in docs/methodology.md, "Segments in
partitions".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_ACCURACY", "order_statistics_on_spark", "quantile_of_counts"]

#: ``percentile_approx``'s accuracy: a bracket holds about ``6 n / accuracy`` values
#: (60,000 of a hundred million customers)
DEFAULT_ACCURACY = 10_000


def numpy_position(n: int, quantile: float) -> float:
    """The position numpy gives ``quantile`` among ``n`` sorted values (method ``linear``).

    ``(n - 1) * quantile``, as numpy computes it (its general Hyndman-Fan formula gives the
    same number in exact arithmetic, not always in floating point).
    """
    return (n - 1) * quantile


def numpy_lerp(low: float, high: float, weight: float) -> float:
    """The interpolation numpy makes between two neighbours (exact at both ends)."""
    difference = high - low
    return high - difference * (1 - weight) if weight >= 0.5 else low + difference * weight


def numpy_quantile(value_at: Callable[[int], float], n: int, quantile: float) -> float:
    """``numpy.quantile`` of ``n`` sorted values read through ``value_at(position)``.

    The two order statistics around the quantile's position, interpolated as numpy does;
    ``value_at`` is asked for those two positions only.
    """
    index = numpy_position(n, quantile)
    below = math.floor(index)
    return numpy_lerp(value_at(below), value_at(min(below + 1, n - 1)), index - below)


def quantile_of_counts(values, counts, *, quantile: float) -> float:
    """``numpy.quantile(numpy.repeat(values, counts), quantile)``, without repeating the values.

    For a base held as distinct values and how many customers share each (e.g.
    `ccnb.summary.customer_patterns`): the two order statistics around the quantile's
    position are read off the cumulative counts.

    Parameters
    ----------
    values : array-like
        Distinct (or not) values, in any order, without NaN.
    counts : array-like
        How many times each value occurs (whole numbers >= 0, at least one > 0).
    quantile : float
        In [0, 1].

    Returns
    -------
    float
    """
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    values, ends = values[order], np.cumsum(counts[order])
    n = int(ends[-1]) if len(ends) else 0
    if n == 0:
        raise ValueError("quantile_of_counts needs at least one counted value")

    def value_at(position: int) -> float:
        return float(values[np.searchsorted(ends, position, side="right")])

    return numpy_quantile(value_at, n, quantile)


def order_statistics_on_spark(
    table,
    *,
    value: str,
    positions: Callable[[int], Sequence[int]],
    by: Sequence[str] = (),
    accuracy: int = DEFAULT_ACCURACY,
) -> pd.DataFrame:
    """The values at given positions of each group's ascending order, exactly.

    Parameters
    ----------
    table : pyspark.sql.DataFrame
        The rows; ``value`` must have no nulls.
    value : str
        The numeric column to order (compared as double).
    positions : callable
        Given a group's row count ``n``, the 0-based positions wanted (each 0..n - 1), e.g.
        ``lambda n: [(n - 1) // 2, n // 2]`` for the two values a median averages.
    by : sequence of str, optional
        Group columns; without them the whole table is one group.
    accuracy : int, default `DEFAULT_ACCURACY`
        ``percentile_approx``'s accuracy for the brackets. It changes how much comes back to
        the driver, never the answer.

    Returns
    -------
    pandas.DataFrame
        One row per group and position: the group columns, ``n`` (the group's rows),
        ``position`` and ``value`` (float64).
    """
    from pyspark.sql import functions as F

    by = list(by)
    rows = table.select(*by, F.col(value).cast("double").alias("_value"))
    sizes = rows.groupBy(*by).count().toPandas().rename(columns={"count": "n"})
    targets = _targets(sizes, positions=positions, by=by)
    if targets.empty:
        return targets.assign(value=np.float64(0.0)).iloc[:0]
    brackets = _brackets(rows, targets, by=by, accuracy=accuracy)
    values, missed = _read_brackets(rows, brackets, by=by)
    if missed.any():
        wide = brackets[missed].assign(low=-np.inf, high=np.inf)
        values[missed] = _read_brackets(rows, wide, by=by)[0]
    return targets.assign(value=values)


def _targets(sizes: pd.DataFrame, *, positions, by: list[str]) -> pd.DataFrame:
    wanted = []
    for group in sizes.itertuples(index=False):
        keys = dict(zip([*by, "n"], group, strict=True))
        for position in positions(int(keys["n"])):
            if not 0 <= position < keys["n"]:
                raise ValueError(f"position {position} is outside a group of {keys['n']} rows")
            wanted.append({**keys, "position": int(position)})
    return pd.DataFrame(wanted, columns=[*by, "n", "position"]).astype({"n": "int64"})


def _brackets(rows, targets: pd.DataFrame, *, by: list[str], accuracy: int) -> pd.DataFrame:
    """Each target's [low, high]: percentiles 3 / accuracy either side of its position."""
    from pyspark.sql import functions as F

    margin = 3.0 / accuracy
    share = (targets["position"] + 0.5) / targets["n"]
    low_share = np.clip(share - margin, 0.0, 1.0)
    high_share = np.clip(share + margin, 0.0, 1.0)
    shares = sorted({*low_share.round(12), *high_share.round(12)})
    approx = (
        rows.groupBy(*by)
        .agg(F.percentile_approx("_value", shares, accuracy).alias("_at"))
        .toPandas()
    )
    at = {
        tuple(row[:-1]): dict(zip(shares, row[-1], strict=True))
        for row in approx.itertuples(index=False)
    }
    columns = [targets[name].tolist() for name in by]
    keys = [tuple(column[i] for column in columns) for i in range(len(targets))]
    brackets = targets.copy()
    brackets["low"] = [at[key][s] for key, s in zip(keys, low_share.round(12), strict=True)]
    brackets["high"] = [at[key][s] for key, s in zip(keys, high_share.round(12), strict=True)]
    return brackets


def _read_brackets(rows, brackets: pd.DataFrame, *, by: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each target's exact value where its bracket holds it, and which brackets missed."""
    if by:
        counted = _counted_in_groups(rows, brackets, by=by)
    else:
        counted = _counted_in_table(rows, brackets)
    values = np.full(len(brackets), np.nan)
    for target, group in counted.groupby("_target"):
        below = int(group.loc[group["side"] == -1, "count"].sum())
        held = group[group["side"] == 0].sort_values("at")
        # cumulative[i]: how many values are at most the i-th distinct value held
        cumulative = below + held["count"].cumsum().to_numpy()
        position = int(brackets["position"].iloc[target])
        if below <= position < below + held["count"].sum():
            first_past = np.searchsorted(cumulative, position, side="right")
            values[target] = held["at"].to_numpy()[first_past]
    return values, np.isnan(values)


def _counted_in_groups(rows, brackets: pd.DataFrame, *, by: list[str]) -> pd.DataFrame:
    """Per target (``_target``): its rows below its bracket (``side`` -1) and each value in it."""
    from pyspark.sql import functions as F

    table = brackets[[*by, "low", "high"]].assign(_target=np.arange(len(brackets)))
    targets = F.broadcast(rows.sparkSession.createDataFrame(table))
    joined = rows.join(targets, on=by, how="inner")
    inside = (F.col("_value") >= F.col("low")) & (F.col("_value") <= F.col("high"))
    return (
        joined.groupBy(
            "_target",
            F.when(F.col("_value") < F.col("low"), -1).when(inside, 0).otherwise(1).alias("side"),
            F.when(inside, F.col("_value")).alias("at"),
        )
        .count()
        .toPandas()
    )


def _counted_in_table(rows, brackets: pd.DataFrame) -> pd.DataFrame:
    """`_counted_in_groups` for a whole table: one pass, no row repeated per target.

    The brackets' ends cut the values into intervals (Spark ML's ``Bucketizer``: a binary
    search per row); one aggregate counts the rows of each interval and returns the distinct
    values of the intervals some bracket covers. A target's rows below are those of the
    intervals under its bracket's low end.
    """
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    lows = brackets["low"].to_numpy(dtype=float)
    # a bracket holds its high end: the intervals it covers end just above it
    ends = np.nextafter(brackets["high"].to_numpy(dtype=float), np.inf)
    # 0 cuts too: Bucketizer wants three splits at least, and an extra cut changes no count
    cuts = np.unique(np.concatenate([lows, ends, [0.0]]))
    splits = np.concatenate([[-np.inf], cuts[np.isfinite(cuts)], [np.inf]])
    starts, stops = splits[:-1], splits[1:]  # interval k: [starts[k], stops[k])
    covered = np.zeros(len(starts), dtype=bool)
    for low, end in zip(lows, ends, strict=True):
        covered |= (starts >= low) & (stops <= end)
    interval = F.col("_interval").cast("int")
    counted = (
        Bucketizer(
            splits=splits.tolist(), inputCol="_value", outputCol="_interval", handleInvalid="keep"
        )
        .transform(rows)
        .groupBy(
            interval.alias("interval"),
            F.when(interval.isin(np.flatnonzero(covered).tolist()), F.col("_value")).alias("at"),
        )
        .count()
        .toPandas()
    )
    in_interval = counted.groupby("interval")["count"].sum()
    in_interval = in_interval.reindex(range(len(starts)), fill_value=0).to_numpy()
    below_interval = np.concatenate([[0], np.cumsum(in_interval)])
    held = counted[counted["at"].notna()]
    frames = []
    for target, (low, end) in enumerate(zip(lows, ends, strict=True)):
        below = below_interval[np.searchsorted(starts, low)] if np.isfinite(low) else 0
        inside = held[(held["at"] >= low) & (held["at"] < end)]
        frames.append(pd.DataFrame({"_target": [target], "side": [-1], "count": [below]}))
        frames.append(inside.assign(_target=target, side=0)[["_target", "side", "at", "count"]])
    return pd.concat(frames, ignore_index=True)

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

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_ACCURACY", "order_statistics_on_spark"]

#: ``percentile_approx``'s accuracy: a bracket holds about ``6 n / accuracy`` values
#: (60,000 of a hundred million customers)
DEFAULT_ACCURACY = 10_000


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
    from pyspark.sql import functions as F

    table = brackets[[*by, "low", "high"]].assign(_target=np.arange(len(brackets)))
    targets = F.broadcast(rows.sparkSession.createDataFrame(table))
    joined = rows.join(targets, on=by, how="inner") if by else rows.crossJoin(targets)
    inside = (F.col("_value") >= F.col("low")) & (F.col("_value") <= F.col("high"))
    counted = (
        joined.groupBy(
            "_target",
            F.when(F.col("_value") < F.col("low"), -1).when(inside, 0).otherwise(1).alias("side"),
            F.when(inside, F.col("_value")).alias("at"),
        )
        .count()
        .toPandas()
    )
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

"""The budget's sensitivity grid: in memory on the driver, or summed by Spark's partitions.

``budget.sensitivity`` solves each grid point on numpy arrays of every customer's rCLV;
``partitioned_budget.sensitivity_on_spark`` leaves the customers in Spark (local[2]) and
searches every point's shadow price in the same passes over the partitions. Both run on the
same generated base (skewed rCLV, 15% at zero) with the analysis' default grid around the big
client's assumptions (5 lifts x 5 spend scales, budget 200,000); the script prints each
time, the ratio and the largest relative difference between the two grids.

Usage: budget_grid.py [--customers N]   (run from this folder: it shares local_spark)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from predict_at_scale import local_spark

#: the params' default grid around the big client's max_lift 0.2 and spend scale 20
GRID = {
    "budget": 200_000.0,
    "max_lifts": [0.05, 0.1, 0.2, 0.4, 0.6],
    "spend_scales": [5.0, 10.0, 20.0, 40.0, 80.0],
}


def customers(count: int) -> pd.DataFrame:
    """A base as the budget sees it: gamma-distributed rCLV, 15% of customers at zero."""
    rng = np.random.default_rng(1)
    rclv = rng.gamma(0.6, 120.0, count)
    rclv[rng.random(count) < 0.15] = 0.0
    return pd.DataFrame({"customer_id": [f"c{i:09d}" for i in range(count)], "rclv": rclv})


def main() -> None:
    from ccnb import budget, partitioned_budget

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=700_000)
    count = parser.parse_args().customers
    base = customers(count)
    start = time.perf_counter()
    in_memory = budget.sensitivity(base, **GRID)
    memory_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "customers.parquet"
        base.to_parquet(path, index=False)
        session = local_spark()
        start = time.perf_counter()
        on_spark = partitioned_budget.sensitivity_on_spark(session.read.parquet(str(path)), **GRID)
        spark_seconds = time.perf_counter() - start
    gap = max(
        float(np.max(np.abs(on_spark[column] / in_memory[column] - 1)))
        for column in ("focused_value", "centric_value", "shadow_price")
    )
    print(
        f"sensitivity grid of {len(in_memory)} points, {count:,} customers: in memory "
        f"{memory_seconds:.1f} s, on Spark's partitions {spark_seconds:.1f} s "
        f"({spark_seconds / memory_seconds:.1f}x); largest relative difference {gap:.1e}"
    )


if __name__ == "__main__":
    main()

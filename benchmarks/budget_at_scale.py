"""The big client's customer-centric budget allocation: on the driver, or on Spark's executors.

``run_all.py --only spark-predict`` runs this twice after the prediction, each in its own
process so that each peak memory is that run's own, on the customers' rCLV that Spark's
executors predicted: ``driver`` reads every customer into pandas and runs
``budget.customer_centric`` as the analysis does; ``spark`` keeps them in Spark (local[2]) and
runs ``partitioned_budget.plan_allocation_on_spark`` and ``allocate_on_spark``: the driver
searches the shadow price over the partitions' sums and gets the totals by segment back.

Usage: budget_at_scale.py {driver,spark} PREDICTIONS_DIR WORK_DIR RESULT.json
(run from this folder: it shares predict_at_scale.py's recorder)
"""

from __future__ import annotations

import sys
from pathlib import Path

from predict_at_scale import local_spark, run_where

COLUMNS = ["customer_id", "rclv", "segment"]
#: the params' defaults (budget.max_lift, budget.spend_scale) and the big client's budget
OPTIONS = {"budget": 200_000.0, "max_lift": 0.2}
SPEND_SCALE = 20.0


def on_driver(predictions: Path, work: Path) -> dict:
    import pandas as pd

    from ccnb import budget

    customers = pd.read_parquet(predictions, columns=COLUMNS)
    curve = budget.ExponentialResponse(spend_scale=SPEND_SCALE)
    allocation = budget.customer_centric(customers, curve=curve, **OPTIONS)
    allocation.table.to_parquet(work / "allocation.parquet", index=False)
    by_segment = allocation.table.groupby("segment")[["spend", "added_value"]].sum()
    return {"shadow_price": allocation.shadow_price, "totals": _rounded(by_segment)}


def on_spark(predictions: Path, work: Path) -> dict:
    from ccnb import budget, partitioned_budget

    session = local_spark()
    customers = session.read.parquet(str(predictions)).select(*COLUMNS)
    curve = budget.ExponentialResponse(spend_scale=SPEND_SCALE)
    plan = partitioned_budget.plan_allocation_on_spark(
        customers, strategy="customer_centric", curve=curve, **OPTIONS
    )
    result = partitioned_budget.allocate_on_spark(customers, plan, output=str(work / "out"))
    by_segment = result.by_group.set_index("segment")[["spend", "added_value"]]
    return {"shadow_price": plan.shadow_price, "totals": _rounded(by_segment)}


def _rounded(by_segment) -> dict:
    # totals to a cent: the two sum the same spends in different orders
    return {str(key): [round(v, 2) for v in row] for key, row in by_segment.iterrows()}


if __name__ == "__main__":
    run_where(sys.argv[1:], on_driver=on_driver, on_spark=on_spark)

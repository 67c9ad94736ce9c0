"""The big client's RFM segments: on the driver, or on Spark's executors.

``run_all.py --only spark-predict`` runs this twice after the prediction, each in its own
process so that each peak memory is that run's own: ``driver`` reads every customer into
pandas and runs ``rfm.score``, ``rfm.segment``, ``rfm.segment_summary`` and
``rfm.segment_recency`` as the analysis does; ``spark`` keeps the customers in Spark
(local[2]) and runs ``partitioned_segments.plan_segments_on_spark`` and
``segment_on_spark``: the driver gets the score edges and the segmentation page's tables
back, the executors write the customers' segments.

Usage: segments_at_scale.py {driver,spark} SUMMARY.parquet WORK_DIR RESULT.json
(run from this folder's scripts: it shares predict_at_scale.py's runner)
"""

from __future__ import annotations

import sys
from pathlib import Path

from predict_at_scale import local_spark, run_where

COLUMNS = ["customer_id", "days_since_last", "orders", "revenue"]
#: the demo params' churn window and early repeat window
RECENCY = {"lapsed_after_days": 365, "recent_days": 90}


def on_driver(summary_path: Path, work: Path) -> dict:
    import pandas as pd

    from ccnb import rfm

    summary = pd.read_parquet(summary_path, columns=COLUMNS)
    scheme = rfm.resolve_scheme("value_tiers", bins=5)
    segments = rfm.segment(rfm.score(summary), scheme=scheme)
    segments.to_parquet(work / "segments.parquet", index=False)
    table = rfm.segment_summary(segments, scheme=scheme)
    rfm.segment_recency(segments, **RECENCY)
    return {"customers": table["customers"].tolist(), "medians": _medians(table)}


def on_spark(summary_path: Path, work: Path) -> dict:
    from ccnb import partitioned_segments, rfm

    session = local_spark()
    customers = session.read.parquet(str(summary_path)).select(*COLUMNS)
    scheme = rfm.resolve_scheme("value_tiers", bins=5)
    plan = partitioned_segments.plan_segments_on_spark(customers, scheme=scheme)
    result = partitioned_segments.segment_on_spark(
        customers, plan, output=str(work / "out"), **RECENCY
    )
    return {"customers": result.summary["customers"].tolist(), "medians": _medians(result.summary)}


def _medians(table) -> list:
    columns = ["median_days_since_last", "median_orders", "median_revenue"]
    return table[columns].fillna(-1.0).to_numpy().round(6).tolist()


if __name__ == "__main__":
    run_where(sys.argv[1:], on_driver=on_driver, on_spark=on_spark)
